/*
 * The uniform and the generic completion scripts (eos/lua/complete.lua and complete_uniform.lua)
 * compared on 300 random inputs: each runs under key prefix A with the generic script forced and
 * under prefix B letting kf_eos_state_complete choose, and both must give the same statuses, error,
 * state and commands run inside Redis; the uniform script must run exactly when every part is
 * uniform.
 *
 * Against a real redis-server per test case, emptied before each test
 * (support/eos_fixture.h).
 */
#include "tests/unit/support/eos_compare.h"
#include "tests/unit/support/eos_fixture.h"

#include <check.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { DI = 2000, DW = 2100, DA = 8 };

/* One randomized complete() input, with write keys as suffixes. */
static struct dcase {
    const char *sink;
    size_t nparts;
    int32_t partition[3];
    int64_t epoch[3], trim[3];
    size_t pfirst[3], pn[3];
    size_t nitems, nwrites;
    int64_t off[DI];
    size_t wfirst[DI], nw[DI];
    int argc[DW];
    char argv[DW][DA][48]; /* argv[w][1] is the key's suffix */
    bool uniform;          /* what complete() must choose */
} D;

/* D under one key prefix P ("P:<suffix>" write keys, state "{P:g:t:n}"). */
typedef struct dmat {
    kf_eos_item items[DI];
    kf_eos_write writes[DW];
    const char *argv[DW][DA];
    char key[DW][96];
    kf_eos_part parts[3];
} dmat;

static void materialize(dmat *m, const char *P)
{
    for (size_t w = 0; w < D.nwrites; w++) {
        int kn = snprintf(m->key[w], sizeof m->key[w], "%s:%s", P, D.argv[w][1]);
        if (kn < 0 || (size_t)kn >= sizeof m->key[w]) ck_abort_msg("write key too long");
        for (int j = 0; j < D.argc[w]; j++)
            m->argv[w][j] = j == 1 ? m->key[w] : D.argv[w][j];
        m->writes[w] = (kf_eos_write){.argc = D.argc[w], .argv = m->argv[w]};
    }
    for (size_t i = 0; i < D.nitems; i++)
        m->items[i] = (kf_eos_item){
            .offset = D.off[i], .writes = &m->writes[D.wfirst[i]], .nwrites = D.nw[i]};
    for (size_t p = 0; p < D.nparts; p++)
        m->parts[p] = (kf_eos_part){.topic = "t",
                                    .partition = D.partition[p],
                                    .epoch = D.epoch[p],
                                    .trim = D.trim[p],
                                    .items = &m->items[D.pfirst[p]],
                                    .nitems = D.pn[p]};
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* Adds one write to the last item of D. */
static size_t dwrite(const char *cmd, const char *key, int argc)
{
    CHECK(D.nwrites < DW && argc <= DA, "dwrite: too many writes");
    size_t w = D.nwrites++;
    D.argc[w] = argc;
    snprintf(D.argv[w][0], sizeof D.argv[w][0], "%s", cmd);
    snprintf(D.argv[w][1], sizeof D.argv[w][1], "%s", key);
    D.nw[D.nitems - 1]++;
    return w;
}

/* Fills the values of write w for its command (fields from a small pool,
 * so that HSET repeats and HDEL finds them). */
static void dvalues(size_t w, int round, size_t i)
{
    const char *cmd = D.argv[w][0];
    bool hash = strcasecmp(cmd, "HSET") == 0, hdel = strcasecmp(cmd, "HDEL") == 0,
         sadd = strcasecmp(cmd, "SADD") == 0;
    for (int j = 2; j < D.argc[w]; j++) {
        char *v = D.argv[w][j];
        if (hash && j % 2 == 0)
            snprintf(v, sizeof D.argv[w][j], "f%u", rnd(10));
        else if (hdel)
            snprintf(v, sizeof D.argv[w][j], "f%u", rnd(10));
        else if (sadd)
            snprintf(v, sizeof D.argv[w][j], "m%u", rnd(30));
        else
            snprintf(v, sizeof D.argv[w][j], "r%di%zuj%d", round, i, j);
    }
}

/* A random input; D.uniform says whether every part is uniform. */
static void gen_case(int round)
{
    static const char *const CMDS[] = {"RPUSH", "rpush", "LPUSH", "SADD", "HDEL", "HSET"};
    memset(&D, 0, sizeof D);
    D.sink = rnd(4) == 0 ? "h/x" : "s";
    D.nparts = 1 + rnd(3);
    int32_t pick[4] = {0, 1, 2, 3};
    for (int j = 3; j > 0; j--) {
        int k = (int)rnd((uint32_t)j + 1);
        int32_t t = pick[j];
        pick[j] = pick[k];
        pick[k] = t;
    }
    D.uniform = true;
    bool big_done = false;
    for (size_t p = 0; p < D.nparts; p++) {
        /* Partitions 0..2 are assigned once (epoch 1); 3 never is. */
        D.partition[p] = pick[p];
        D.epoch[p] = rnd(8) == 0 ? 2 : 1;
        D.trim[p] = rnd(3) == 0 ? -1 : (int64_t)rnd(60);
        /* Sizes around the cuts of the writes (998 / m values per call)
         * and of the checks and marks (1000 arguments per call). */
        bool big = !big_done && rnd(20) == 0, medium = !big && rnd(10) == 0;
        big_done = big_done || big;
        size_t n = big           ? (rnd(2) ? 995 + rnd(10) : 1050 + rnd(100))
                   : medium      ? (rnd(2) ? 245 + rnd(10) : 495 + rnd(10))
                   : rnd(4) == 0 ? rnd(3)
                                 : rnd(40);
        const char *cmd = CMDS[rnd(6)];
        bool hset = strcmp(cmd, "HSET") == 0;
        int argc = hset ? (rnd(3) ? 4 : 6) : (rnd(4) ? 3 : 4);
        char key[8];
        int kidx = (int)rnd(3);
        snprintf(key, sizeof key, "k%d", kidx);
        /* 0: uniform; else one item (pi) breaks it: 1 its offset repeats
         * the previous one, 2 another key, 3 two writes, 4 a mark only,
         * 5 another argc, 6 another spelling, 7 SET; 8 the whole part is
         * SET k v (not mergeable); 9 its offset lies 100 past the previous
         * one (more than one mask may span). */
        int perturb = n >= 2 && rnd(4) == 0 ? 1 + (int)rnd(9) : 0;
        size_t pi = n >= 2 ? 1 + rnd((uint32_t)n - 1) : 0;
        if (perturb) D.uniform = false;
        D.pfirst[p] = D.nitems;
        D.pn[p] = n;
        int64_t off = rnd(50);
        for (size_t i = 0; i < n; i++) {
            if (i > 0 && !(perturb == 1 && i == pi))
                off += 1 + (rnd(4) == 0 ? rnd(5) : 0) + (perturb == 9 && i == pi ? 100 : 0);
            CHECK(D.nitems < DI, "gen_case: too many items");
            size_t it = D.nitems++;
            D.off[it] = off;
            D.wfirst[it] = D.nwrites;
            bool here = i == pi;
            if (perturb == 4 && here) continue; /* a mark only */
            if (perturb == 8 || (perturb == 7 && here)) {
                size_t w = dwrite("SET", key, 3);
                snprintf(D.argv[w][2], sizeof D.argv[w][2], "s%di%zu", round, i);
                continue;
            }
            char k2[8], c2[8];
            snprintf(k2, sizeof k2, "k%d", (kidx + 1) % 3);
            snprintf(c2, sizeof c2, "%s", cmd);
            if (perturb == 6 && here) c2[0] ^= 0x20; /* rpush -> Rpush */
            int a = perturb == 5 && here ? argc + (hset ? 2 : 1) : argc;
            size_t w = dwrite(c2, perturb == 2 && here ? k2 : key, a);
            dvalues(w, round, i);
            if (perturb == 3 && here) {
                w = dwrite("RPUSH", "k9", 3);
                dvalues(w, round, i);
            }
        }
    }
}

/* The state before the call, the same under both prefixes: epochs (by
 * assign), some runs (this sink's and another's), a base, and write
 * keys of various types (a string makes every write to it fail). */
static void gen_state(kf_eos_state *ca, kf_eos_state *cb)
{
    freeReplyObject(rcmd("FLUSHALL"));
    for (int32_t p = 0; p < 3; p++) {
        ck_assert_int_eq(assign(ca, p), 1);
        ck_assert_int_eq(assign(cb, p), 1);
    }
    static const char *argv[2 + 2 * 3000];
    static size_t len[2 + 2 * 3000];
    static char mem[3000][48], score[3000][16];
    for (int32_t p = 0; p < 4; p++) {
        int density = (int)rnd(6); /* 0..2: no marks; 3: sparse; 4, 5: dense */
        size_t n = 0;
        /* Per sink (0: this one, 1: another), the run being built. */
        int from[2] = {-1, -1}, to[2] = {-1, -1};
        for (int off = 0; off <= 3000 && density >= 3; off++) {
            bool end = off == 3000;
            bool on[2] = {!end && rnd(density == 3 ? 8 : 2) == 0, !end && rnd(10) == 0};
            for (int k = 0; k < 2; k++) {
                if (on[k] && from[k] >= 0 && to[k] == off - 1) {
                    to[k] = off;
                    continue;
                }
                if (from[k] >= 0) {
                    snprintf(score[n], sizeof score[n], "%d", to[k]);
                    snprintf(mem[n], sizeof mem[n], "%d/%d/%s", from[k], to[k],
                             k ? "other" : D.sink);
                    n++;
                    from[k] = -1;
                }
                if (on[k]) from[k] = to[k] = off;
            }
        }
        int64_t base = rnd(3) == 0 ? (int64_t)rnd(40) : -1;
        for (int x = 0; x < 2; x++) {
            const char *P = x ? "B" : "A";
            char dk[64];
            snprintf(dk, sizeof dk, "{%s:g:t:%d}:runs", P, p);
            if (n) {
                argv[0] = "ZADD", argv[1] = dk;
                for (size_t i = 0; i < n; i++)
                    argv[2 + 2 * i] = score[i], argv[3 + 2 * i] = mem[i];
                for (size_t i = 0; i < 2 + 2 * n; i++)
                    len[i] = strlen(argv[i]);
                redisReply *r = rcmd_argv((int)(2 + 2 * n), argv, len);
                ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "ZADD runs");
                freeReplyObject(r);
            }
            if (base >= 0)
                freeReplyObject(rcmd("SET {%s:g:t:%d}:base %lld", P, p, (long long)base));
        }
    }
    for (int k = 0; k < 3; k++) {
        int type = (int)rnd(8);
        for (int x = 0; x < 2; x++) {
            const char *P = x ? "B" : "A";
            if (type == 0)
                freeReplyObject(rcmd("SET %s:k%d str", P, k));
            else if (type == 1)
                freeReplyObject(rcmd("HSET %s:k%d f1 a f3 b f5 c f7 d", P, k));
            else if (type == 2)
                freeReplyObject(rcmd("RPUSH %s:k%d old1 old2", P, k));
            else if (type == 3)
                freeReplyObject(rcmd("SADD %s:k%d m1 m2", P, k));
        }
    }
}

/* Random inputs (replays, records below base, fenced and never-assigned
 * partitions, empty parts, HSET with repeated fields, WRONGTYPE keys, parts
 * over 1000 values, and non-uniform parts of every kind), each run under
 * prefix A with the generic script forced and under prefix B letting
 * complete() choose: the same statuses and error, the same resulting state
 * (every list, hash, set, string, done marks with scores, base, epoch), and
 * the same commands run inside Redis (as many calls of each), and the
 * uniform script ran exactly when every part was uniform. */
START_TEST(test_uniform_differential)
{
    kf_eos_state *ca = state_at(eos_server()->port, "A"), *cb = state_at(eos_server()->port, "B");
    kf_eos_state_set_fast_path(ca, 0);
    static dmat ma, mb;
    static int sa[DI], sb[DI];
    int fast = 0, generic = 0, fast_skipped = 0, fast_below = 0, fast_error = 0, fast_fenced = 0,
        fast_big = 0, fast_slow = 0;
    slowlog_on();
    for (int round = 0; round < 300; round++) {
        gen_case(round);
        gen_state(ca, cb);
        materialize(&ma, "A");
        materialize(&mb, "B");
        char ea[512] = "", eb[512] = "";
        for (size_t i = 0; i < D.nitems; i++)
            sa[i] = sb[i] = -1;
        scripts_ran();
        freeReplyObject(rcmd("CONFIG RESETSTAT"));
        int ra = kf_eos_state_complete(ca, D.sink, ma.parts, D.nparts, sa, ea, sizeof ea);
        ck_assert_msg(ra == KF_STATUS_OK, "round %d: generic: %d %s", round, ra, ea);
        char *na = call_counts();
        ck_assert_int_eq(scripts_ran(), RAN_COMPLETE);
        freeReplyObject(rcmd("CONFIG RESETSTAT"));
        int rb = kf_eos_state_complete(cb, D.sink, mb.parts, D.nparts, sb, eb, sizeof eb);
        ck_assert_msg(rb == KF_STATUS_OK, "round %d: uniform: %d %s", round, rb, eb);
        char *nb = call_counts();
        /* The same commands too: the same checks, writes and marks, cut
         * into calls at the same places. */
        ck_assert_msg(strcmp(na, nb) == 0,
                      "round %d: commands differ:\n  generic: %.400s\n  uniform: %.400s", round, na,
                      nb);
        free(na);
        free(nb);
        int ran = scripts_ran();
        ck_assert_msg(ran == (D.uniform ? RAN_UNIFORM : RAN_COMPLETE),
                      "round %d: ran %d, uniform %d", round, ran, D.uniform);
        for (size_t i = 0; i < D.nitems; i++)
            CHECK(sa[i] == sb[i], "round %d item %zu (offset %" PRId64 "): %d vs %d", round, i,
                  D.off[i], sa[i], sb[i]);
        ck_assert_msg(strcmp(ea, eb) == 0, "round %d: err \"%s\" vs \"%s\"", round, ea, eb);
        char *ga = dump_state("A"), *gb = dump_state("B");
        char what[32];
        snprintf(what, sizeof what, "round %d", round);
        assert_same_state(ga, gb, what);
        free(ga);
        free(gb);

        if (!D.uniform) {
            generic++;
            continue;
        }
        fast++;
        bool skipped = false, error = false, fenced = false;
        for (size_t i = 0; i < D.nitems; i++) {
            skipped = skipped || sb[i] == KF_EOS_SKIPPED;
            error = error || sb[i] == KF_EOS_ERROR;
            fenced = fenced || sb[i] == KF_EOS_FENCED;
        }
        for (size_t p = 0; p < D.nparts; p++) {
            size_t f = D.pfirst[p], n = D.pn[p];
            bool below = false, done = false, applied = false;
            for (size_t i = f; i < f + n; i++) {
                below = below || (sb[i] == KF_EOS_SKIPPED && D.off[i] < D.trim[p]);
                done = done || (sb[i] == KF_EOS_SKIPPED && D.off[i] >= D.trim[p]);
                applied = applied || sb[i] == KF_EOS_APPLIED;
            }
            fast_below += below;
            fast_slow += done && applied; /* the script's path with done items */
            fast_big += n > 1000 && applied;
        }
        fast_skipped += skipped;
        fast_error += error;
        fast_fenced += fenced;
    }
    /* The rounds covered every branch of the uniform script. */
    ck_assert_msg(fast > 50 && generic > 20, "fast %d generic %d", fast, generic);
    ck_assert_msg(fast_skipped && fast_below && fast_error && fast_fenced && fast_big && fast_slow,
                  "skipped %d below %d error %d fenced %d big %d slow %d", fast_skipped, fast_below,
                  fast_error, fast_fenced, fast_big, fast_slow);
    kf_eos_state_destroy(ca);
    kf_eos_state_destroy(cb);
}
END_TEST

static Suite *eos_scripts_differential_suite(void)
{
    Suite *s = suite_create("eos_scripts_differential");
    TCase *tc = tcase_create("redis");
    eos_fixture_add(tc);
    tcase_add_test(tc, test_uniform_differential);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(eos_scripts_differential_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
