/*
 * The marks as runs (eos/README.md, "The state"): a completion records the
 * offsets it applied for a sink as runs "<from>/<to>/<sink>" in T:runs,
 * merged with the runs they touch; "already done" is read from the runs; the
 * trim drops the runs that end below the watermark and keeps the one that
 * straddles it whole; assignment returns them (from the watermark on) and fills the partition's
 * done masks; an older kfleet's one-mark-per-record T:done is turned into runs at assignment.
 *
 * Against a real redis-server per test case, emptied before each test
 * (support/eos_fixture.h).
 */
#include "config/config.h"
#include "consumer/eos.h"
#include "dispatcher/partition.h"
#include "tests/unit/support/eos_batch.h"
#include "tests/unit/support/eos_compare.h"
#include "tests/unit/support/eos_fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Adds marks-only items at offsets first .. first + n - 1. */
static void add_marks(batch *b, int64_t first, int n)
{
    for (int i = 0; i < n; i++)
        add(b, first + i, NULL, NULL, NULL);
}

static void assert_runs(int32_t partition, const char *want)
{
    char got[1024];
    runs_str(partition, got, sizeof got);
    ck_assert_msg(strcmp(got, want) == 0, "runs of partition %d: \"%s\", want \"%s\"", partition,
                  got, want);
}

/* Contiguous chunks merge into one run; a chunk that fills a gap merges the
 * runs on both sides (one ZREM, one ZADD). */
START_TEST(test_runs_merge)
{
    int64_t e;
    kf_eos_state *c = state_assigned(1, &e);
    static batch b;
    static int st[BATCH_MAX];
    memset(&b, 0, sizeof b);
    add_n(&b, 0, 10, "RPUSH", "L", "a");
    complete1(c, "s", &b, 0, e, -1, st);
    assert_runs(0, "0/9/s");

    memset(&b, 0, sizeof b);
    add_n(&b, 10, 10, "RPUSH", "L", "b");
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    complete1(c, "s", &b, 0, e, -1, st);
    assert_st_all(st, 0, 10, KF_EOS_APPLIED, "");
    ASSERT_CALLS({"zrangebyscore", 1}, {"zrem", 1}, {"zadd", 1});
    assert_runs(0, "0/19/s");

    memset(&b, 0, sizeof b);
    add_n(&b, 30, 10, "RPUSH", "L", "d");
    complete1(c, "s", &b, 0, e, -1, st);
    assert_runs(0, "0/19/s 30/39/s");

    /* Another sink's runs stay apart. */
    memset(&b, 0, sizeof b);
    add_marks(&b, 20, 10);
    complete1(c, "other", &b, 0, e, -1, st);
    assert_runs(0, "0/19/s 20/29/other 30/39/s");

    memset(&b, 0, sizeof b);
    add_n(&b, 20, 10, "RPUSH", "L", "c");
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    complete1(c, "s", &b, 0, e, -1, st);
    assert_st_all(st, 0, 10, KF_EOS_APPLIED, "");
    ASSERT_CALLS({"zrangebyscore", 1}, {"zrem", 1}, {"zadd", 1});
    assert_runs(0, "20/29/other 0/39/s");
    ck_assert_int_eq(rinteger("LLEN L"), 40);
    kf_eos_state_destroy(c);
}
END_TEST

/* A chunk with gaps (filtered records, another worker's keys): ONE masked
 * run "<from>/<to>:<mask>/<sink>" (bit o % 8 of byte o / 8 - from / 8); the
 * uniform and the generic script write the same member, and a later chunk
 * that fills the gaps and replays some offsets writes only the gaps. */
START_TEST(test_runs_gaps_in_chunk)
{
    for (int generic = 0; generic < 2; generic++) {
        freeReplyObject(rcmd("FLUSHALL"));
        int64_t e;
        kf_eos_state *c = state_assigned(1, &e);
        kf_eos_state_set_fast_path(c, !generic);
        static batch b;
        static int st[BATCH_MAX];
        memset(&b, 0, sizeof b);
        const int64_t first[] = {0, 1, 2, 5, 6, 9};
        for (size_t i = 0; i < 6; i++)
            add(&b, first[i], "RPUSH", "L", "x");
        complete1(c, "s", &b, 0, e, -1, st);
        assert_st_all(st, 0, 6, KF_EOS_APPLIED, "");
        /* 0, 1, 2, 5, 6 in byte 0 (0x67), 9 in byte 1 (0x02). */
        assert_runs(0, "0/9:6702/s");
        ck_assert(marked(0, 5, "s") && !marked(0, 4, "s") && !marked(0, 8, "s"));

        /* The gaps, and a replay of 5..6 and 9 around them: only the gaps
         * are written. */
        memset(&b, 0, sizeof b);
        for (int64_t o = 3; o <= 10; o++)
            add(&b, o, "RPUSH", "L", "y");
        complete1(c, "s", &b, 0, e, -1, st);
        ASSERT_ST(st, KF_EOS_APPLIED, KF_EOS_APPLIED, KF_EOS_SKIPPED, KF_EOS_SKIPPED,
                  KF_EOS_APPLIED, KF_EOS_APPLIED, KF_EOS_SKIPPED, KF_EOS_APPLIED);
        /* 3, 4, 7 in byte 0 (0x98), 8 and 10 in byte 1 (0x05). */
        assert_runs(0, "0/9:6702/s 3/10:9805/s");
        ck_assert_int_eq(nmarked(0), 11);
        ck_assert_int_eq(rinteger("LLEN L"), 11);
        /* A trim at 4 keeps both (they end above it); below 4 counts for
         * nothing. */
        char err[256];
        int fenced;
        ck_assert_int_eq(kf_eos_state_trim(c, "t", 0, e, 4, &fenced, err, sizeof err),
                         KF_STATUS_OK);
        assert_runs(0, "0/9:6702/s 3/10:9805/s");
        ck_assert_int_eq(nmarked(0), 7);
        kf_eos_state_destroy(c);
    }
}
END_TEST

/* The trim drops the runs that end below the watermark and keeps the one
 * that straddles it whole (one ZREMRANGEBYSCORE, no scan of the others); a
 * record below the watermark is SKIPPED without a run; a run merged with a
 * straddling one starts at the watermark. */
START_TEST(test_runs_straddling_trim)
{
    int64_t e;
    kf_eos_state *c = state_assigned(1, &e);
    complete_marks(c, e, 0, 10);
    complete_marks(c, e, 20, 10);
    assert_runs(0, "0/9/a 20/29/a");
    char err[512];
    int fenced;
    ck_assert_int_eq(kf_eos_state_trim(c, "t", 0, e, 5, &fenced, err, sizeof err), KF_STATUS_OK);
    assert_runs(0, "0/9/a 20/29/a");
    ck_assert_int_eq(nmarked(0), 15);
    ck_assert_int_eq(kf_eos_state_trim(c, "t", 0, e, 15, &fenced, err, sizeof err), KF_STATUS_OK);
    assert_runs(0, "20/29/a");
    ck_assert_int_eq(kf_eos_state_trim(c, "t", 0, e, 25, &fenced, err, sizeof err), KF_STATUS_OK);
    assert_runs(0, "20/29/a");
    ck_assert_int_eq(nmarked(0), 5);
    ck_assert_int_eq(complete_rpush(c, "a", e, 30, "L", "next"), KF_EOS_APPLIED);
    assert_runs(0, "25/30/a");
    ck_assert_int_eq(rinteger("DEL L"), 1);
    /* At the end exactly: the run ends at 29, so 30 drops it all. */
    ck_assert_int_eq(kf_eos_state_trim(c, "t", 0, e, 31, &fenced, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(rinteger("EXISTS %s", RUNS(0)), 0);
    ck_assert_int_eq(complete_rpush(c, "a", e, 12, "L", "late"), KF_EOS_SKIPPED);
    ck_assert_int_eq(rinteger("EXISTS L"), 0);
    kf_eos_state_destroy(c);
}
END_TEST

/* A retried completion after an ambiguous reply (the first call applied,
 * its reply lost): the same call again applies nothing twice; a retry that
 * carries more (the next flush joined it) applies only the new records. */
START_TEST(test_runs_retry_after_ambiguous_reply)
{
    for (int generic = 0; generic < 2; generic++) {
        freeReplyObject(rcmd("FLUSHALL"));
        int64_t e;
        kf_eos_state *c = state_assigned(1, &e);
        kf_eos_state_set_fast_path(c, !generic);
        static batch b;
        static int st[BATCH_MAX];
        memset(&b, 0, sizeof b);
        add_n(&b, 100, 50, "RPUSH", "L", "v");
        complete1(c, "s", &b, 0, e, -1, st);
        assert_st_all(st, 0, 50, KF_EOS_APPLIED, "first");
        complete1(c, "s", &b, 0, e, -1, st);
        assert_st_all(st, 0, 50, KF_EOS_SKIPPED, "retry");
        ck_assert_int_eq(rinteger("LLEN L"), 50);

        add_n(&b, 150, 25, "RPUSH", "L", "w");
        complete1(c, "s", &b, 0, e, -1, st);
        assert_st_all(st, 0, 50, KF_EOS_SKIPPED, "retry, old");
        assert_st_all(st, 50, 75, KF_EOS_APPLIED, "retry, new");
        ck_assert_int_eq(rinteger("LLEN L"), 75);
        assert_runs(0, "100/174/s");
        kf_eos_state_destroy(c);
    }
}
END_TEST

/* Several workers of one partition (one connection each, the same epoch)
 * complete their chunks out of order: the runs merge into one, and a worker
 * whose chunk overlaps what others did writes only what is missing. */
START_TEST(test_runs_out_of_order_workers)
{
    int64_t e;
    kf_eos_state *w[3] = {state_assigned(1, &e), state_new(), state_new()};
    static batch b[3];
    static int st[BATCH_MAX];
    for (int i = 0; i < 3; i++)
        memset(&b[i], 0, sizeof b[i]);
    add_n(&b[0], 0, 100, "RPUSH", "L", "a");
    add_n(&b[1], 100, 100, "RPUSH", "L", "b");
    add_n(&b[2], 200, 100, "RPUSH", "L", "c");
    complete1(w[2], "s", &b[2], 0, e, -1, st);
    assert_st_all(st, 0, 100, KF_EOS_APPLIED, "w2");
    complete1(w[0], "s", &b[0], 0, e, -1, st);
    assert_st_all(st, 0, 100, KF_EOS_APPLIED, "w0");
    assert_runs(0, "0/99/s 200/299/s");
    complete1(w[1], "s", &b[1], 0, e, -1, st);
    assert_st_all(st, 0, 100, KF_EOS_APPLIED, "w1");
    assert_runs(0, "0/299/s");

    /* A chunk 250..349 (a replay overlapping w2's): 300.. only. */
    memset(&b[2], 0, sizeof b[2]);
    add_n(&b[2], 250, 100, "RPUSH", "L", "d");
    complete1(w[2], "s", &b[2], 0, e, -1, st);
    assert_st_all(st, 0, 50, KF_EOS_SKIPPED, "overlap");
    assert_st_all(st, 50, 100, KF_EOS_APPLIED, "new");
    assert_runs(0, "0/349/s");
    ck_assert_int_eq(rinteger("LLEN L"), 350);

    /* Key ordering: two workers share a partition's offsets 400..499 by
     * key, completing in either order: two masked runs; a replay of
     * 400..499 (a third worker's retry) writes nothing. */
    for (int i = 0; i < 3; i++)
        memset(&b[i], 0, sizeof b[i]);
    for (int64_t o = 400; o < 500; o++)
        add(&b[o % 3 == 0 ? 0 : 1], o, "RPUSH", "L", "k");
    add_n(&b[2], 400, 100, "RPUSH", "L", "again");
    complete1(w[1], "s", &b[1], 0, e, -1, st);
    complete1(w[0], "s", &b[0], 0, e, -1, st);
    ck_assert_int_eq(nruns(0), 3);
    ck_assert_int_eq(nmarked(0), 450);
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    complete1(w[2], "s", &b[2], 0, e, -1, st);
    assert_st_all(st, 0, 100, KF_EOS_SKIPPED, "replay");
    ASSERT_CALLS({"rpush", 0}, {"zadd", 0});
    ck_assert_int_eq(rinteger("LLEN L"), 450);

    /* A masked replay against the masked runs (worker 1's keys again, and
     * 501 new): the mask meets worker 1's run, only 501 is written. */
    memset(&b[2], 0, sizeof b[2]);
    for (int64_t o = 401; o < 500; o += 3)
        add(&b[2], o, "RPUSH", "L", "again");
    add(&b[2], 501, "RPUSH", "L", "new");
    complete1(w[2], "s", &b[2], 0, e, -1, st);
    assert_st_all(st, 0, b[2].n - 1, KF_EOS_SKIPPED, "masked replay");
    ck_assert_int_eq(st[b[2].n - 1], KF_EOS_APPLIED);
    ck_assert_int_eq(rinteger("LLEN L"), 451);
    for (int i = 0; i < 3; i++)
        kf_eos_state_destroy(w[i]);
}
END_TEST

static void set_fresh(batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        b->items[i].fresh = true;
}

/* Fresh items (kf_eos_item.fresh: the caller knows no mark of them exists)
 * do what the same items do when not fresh, under another prefix: the same
 * statuses, lists and runs. A fresh masked part reads no runs (no
 * ZRANGEBYSCORE: in key ordering that read, and meets() over every other
 * worker's masks, cost more than the writes); a fresh run still reads the
 * runs it touches, to merge with them. A part that starts below the base is
 * not taken as fresh. */
START_TEST(test_runs_fresh)
{
    kf_eos_state *c[2] = {state_at(eos_server()->port, "A"), state_at(eos_server()->port, "B")};
    int64_t e[2] = {assign(c[0], 0), assign(c[1], 0)};
    static batch b[2][4]; /* [prefix][call] */
    memset(b, 0, sizeof b);
    const char *L[2] = {"A:L", "B:L"};
    for (int x = 0; x < 2; x++) {
        /* Key ordering: two workers share 0..299 by key; then a run 300..399
         * that merges with nothing masked; then 400..449 that merges with it. */
        for (int64_t o = 0; o < 300; o++)
            add(&b[x][o % 3 == 0 ? 0 : 1], o, "RPUSH", L[x], o % 3 ? "k1" : "k0");
        add_n(&b[x][2], 300, 100, "RPUSH", L[x], "r");
        add_n(&b[x][3], 400, 50, "RPUSH", L[x], "s");
    }
    static int st[2][4][BATCH_MAX];
    static const long long reads[4] = {0, 0, 1, 1};
    for (int i = 0; i < 4; i++) {
        for (int x = 0; x < 2; x++) {
            if (x) set_fresh(&b[x][i]);
            freeReplyObject(rcmd("CONFIG RESETSTAT"));
            complete1(c[x], "s", &b[x][i], 0, e[x], -1, st[x][i]);
            assert_st_all(st[x][i], 0, b[x][i].n, KF_EOS_APPLIED, "fresh or not");
            if (x) ASSERT_CALLS({"zrangebyscore", reads[i]});
        }
    }
    char *ga = dump_state("A"), *gb = dump_state("B");
    assert_same_state(ga, gb, "fresh against not fresh");
    free(ga);
    free(gb);
    /* Two masked members (one per worker) and one run 300..449. */
    ck_assert_int_eq(rinteger("ZCARD {B:g:t:0}:runs"), 3);
    redisReply *r = rcmd("ZSCORE {B:g:t:0}:runs 300/449/s");
    ck_assert_msg(r->type == REDIS_REPLY_STRING && atoi(r->str) == 449, "run 300/449 missing");
    freeReplyObject(r);

    /* Fresh, yet below the base (the watermark passed it): skipped as the
     * base says, nothing written. */
    static batch late;
    memset(&late, 0, sizeof late);
    add_n(&late, 100, 10, "RPUSH", "B:L", "late");
    set_fresh(&late);
    int lst[10];
    complete1(c[1], "s", &late, 0, e[1], 450, lst);
    assert_st_all(lst, 0, 10, KF_EOS_SKIPPED, "fresh below the base");
    ck_assert_int_eq(rinteger("LLEN B:L"), 450);
    kf_eos_state_destroy(c[0]);
    kf_eos_state_destroy(c[1]);
}
END_TEST

/* Assignment returns the runs and the consumer fills the partition's done
 * masks from them (above the watermark only): a replay is skipped without a
 * lookup. */
START_TEST(test_runs_fill_masks_at_assign)
{
    int64_t e;
    kf_eos_state *c = state_assigned(1, &e);
    static batch b;
    static int st[BATCH_MAX];
    memset(&b, 0, sizeof b);
    add_marks(&b, 0, 20);
    complete1(c, "cache", &b, 0, e, 5, st);
    memset(&b, 0, sizeof b);
    add_marks(&b, 30, 5);
    complete1(c, "hook", &b, 0, e, -1, st);
    add_marks(&b, 35, 1);
    complete1(c, "gone", &b, 0, e, -1, st); /* a sink no longer configured */

    kf_sink_config sinks[2] = {{.name = "hook"}, {.name = "cache"}};
    kf_mapping_config m = {.name = "m", .sinks = sinks, .sink_count = 2};
    kf_consumer_eos ce = {.state = c};
    kf_partition *p = kf_partition_new("t", 0);
    atomic_int stop = 0;
    ck_assert_int_eq(kf_consumer_eos_assign(&ce, &m, p, &stop), 0);
    ck_assert_int_gt(p->epoch, e);
    ck_assert_int_eq(atomic_load(&p->trim), 5);
    for (int64_t o = 0; o < 40; o++) {
        uint32_t want = 0;
        if (o >= 5 && o < 20) want |= 1u << 1;
        if (o >= 30 && o < 35) want |= 1u << 0;
        ck_assert_msg(kf_partition_done_mask(p, o) == want, "offset %lld: mask %u, want %u",
                      (long long)o, kf_partition_done_mask(p, o), want);
    }
    kf_partition_release(p);
    kf_eos_state_destroy(c);
}
END_TEST

/* Upgrading: a Redis holding the one-mark-per-record T:done of an older
 * kfleet. Assignment turns its marks at or above base into runs (merged with
 * any runs already there) and deletes it; a worker upgraded mid-stream then
 * skips what the old format marked and writes only the rest. */
START_TEST(test_runs_upgrade_from_done_set)
{
    kf_eos_state *c = state_new();
    ck_assert_int_eq(assign(c, 0), 1);
    /* The old owner's state: epoch 1, base 4, marks of sinks s and h/x. */
    freeReplyObject(rcmd("SET %s 4", BASE(0)));
    freeReplyObject(rcmd("ZADD %s 2 2/s 5 5/s 6 6/s 7 7/s 9 9/s 5 5/h/x 12 12/s", DONE(0)));
    freeReplyObject(rcmd("ZADD %s 13 13/13/s", RUNS(0)));
    freeReplyObject(rcmd("RPUSH L old5 old6 old7 old9 old12 old13"));

    kf_eos_assigned a;
    char err[512];
    ck_assert_int_eq(kf_eos_state_assign(c, "t", 0, &a, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(a.epoch, 2);
    ck_assert_int_eq(a.base, 4);
    ck_assert_uint_eq(a.nruns, 4);
    ck_assert_int_eq(rinteger("EXISTS %s", DONE(0)), 0);
    assert_runs(0, "5/5/h/x 5/7/s 9/9/s 12/13/s");
    kf_eos_assigned_free(&a);

    /* The upgraded worker replays 4..14. */
    static batch b;
    static int st[BATCH_MAX];
    memset(&b, 0, sizeof b);
    for (int64_t o = 4; o <= 14; o++) {
        static char v[16][8];
        snprintf(v[o], sizeof v[o], "new%d", (int)o);
        add(&b, o, "RPUSH", "L", v[o]);
    }
    complete1(c, "s", &b, 0, 2, -1, st);
    ASSERT_ST(st, KF_EOS_APPLIED, KF_EOS_SKIPPED, KF_EOS_SKIPPED, KF_EOS_SKIPPED, KF_EOS_APPLIED,
              KF_EOS_SKIPPED, KF_EOS_APPLIED, KF_EOS_APPLIED, KF_EOS_SKIPPED, KF_EOS_SKIPPED,
              KF_EOS_APPLIED);
    static const char *const want[] = {"old5", "old6", "old7",  "old9",  "old12", "old13",
                                       "new4", "new8", "new10", "new11", "new14"};
    assert_list("L", want, 11);
    /* 4, 8, 10, 11 and 14 applied: one masked run. */
    assert_runs(0, "5/5/h/x 5/7/s 9/9/s 12/13/s 4/14:104d/s");

    /* Without T:done, assignment leaves the members as they are and
     * returns the masked one as its runs: 4, 8, 10..11, 14. */
    ck_assert_int_eq(kf_eos_state_assign(c, "t", 0, &a, err, sizeof err), KF_STATUS_OK);
    ck_assert_uint_eq(a.nruns, 8);
    ck_assert_int_eq(a.runs[6].from, 10);
    ck_assert_int_eq(a.runs[6].to, 11);
    kf_eos_assigned_free(&a);
    assert_runs(0, "5/5/h/x 5/7/s 9/9/s 12/13/s 4/14:104d/s");
    kf_eos_state_destroy(c);
}
END_TEST

static Suite *eos_state_runs_suite(void)
{
    Suite *s = suite_create("eos_state_runs");
    TCase *tc = tcase_create("redis");
    eos_fixture_add(tc);
    tcase_add_test(tc, test_runs_merge);
    tcase_add_test(tc, test_runs_gaps_in_chunk);
    tcase_add_test(tc, test_runs_straddling_trim);
    tcase_add_test(tc, test_runs_retry_after_ambiguous_reply);
    tcase_add_test(tc, test_runs_out_of_order_workers);
    tcase_add_test(tc, test_runs_fresh);
    tcase_add_test(tc, test_runs_fill_masks_at_assign);
    tcase_add_test(tc, test_runs_upgrade_from_done_set);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(eos_state_runs_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
