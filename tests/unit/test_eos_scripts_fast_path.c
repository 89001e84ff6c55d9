/*
 * The uniform fast path of kf_eos_state_complete (eos/lua/complete_uniform.lua): when every
 * part is uniform the lean script runs (seen by its SHA1 in the slow log),
 * with a constant number of commands per part, and does what the generic
 * script does: the same statuses and state on success, on WRONGTYPE and on
 * replays, written in the same order and cut at the same places.
 *
 * Against a real redis-server per test case, emptied before each test
 * (support/eos_fixture.h).
 */
#include "tests/unit/support/eos_batch.h"
#include "tests/unit/support/eos_compare.h"
#include "tests/unit/support/eos_fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 300 uniform RPUSH records over 2 parts: the uniform script runs (its SHA1
 * in the slow log), with O(1) commands per part, and leaves exactly the
 * state and statuses the generic script leaves for the same input under
 * another prefix. */
START_TEST(test_uniform_fast_path)
{
    kf_eos_state *ca = state_at(eos_server()->port, "A"), *cb = state_at(eos_server()->port, "B");
    kf_eos_state_set_fast_path(ca, 0);
    for (int32_t p = 0; p < 2; p++)
        ck_assert_int_eq(assign(ca, p), assign(cb, p));
    static batch b[2][2]; /* [prefix][part] */
    memset(b, 0, sizeof b);
    for (int p = 0; p < 2; p++) {
        add_n(&b[0][p], 1000 * (p + 1), 150, "RPUSH", p ? "A:L1" : "A:L0", p ? "p1-v" : "p0-v");
        add_n(&b[1][p], 1000 * (p + 1), 150, "RPUSH", p ? "B:L1" : "B:L0", p ? "p1-v" : "p0-v");
    }
    static int st[2][300];
    char err[512] = "";
    slowlog_on();
    for (int x = 0; x < 2; x++) {
        kf_eos_part parts[2] = {part_of(&b[x][0], 0, 1, 900), part_of(&b[x][1], 1, 1, -1)};
        freeReplyObject(rcmd("CONFIG RESETSTAT"));
        ck_assert_int_eq(kf_eos_state_complete(x ? cb : ca, "s", parts, 2, st[x], err, sizeof err),
                         KF_STATUS_OK);
        ck_assert_int_eq(scripts_ran(), x ? RAN_UNIFORM : RAN_COMPLETE);
        /* The same commands either way: one write, read of the runs and ZADD
         * per part, and part 0's trim (ZREMRANGEBYSCORE). */
        ASSERT_CALLS({"evalsha", 1}, {"rpush", 2}, {"zrangebyscore", 2}, {"zadd", 2},
                     {"zremrangebyscore", 1}, {"zmscore", 0});
    }
    for (int i = 0; i < 300; i++) {
        ck_assert_msg(st[1][i] == KF_EOS_APPLIED, "item %d: status %d", i, st[1][i]);
        ck_assert_int_eq(st[0][i], st[1][i]);
    }
    assert_list_of("B:L0", &b[1][0]);
    assert_list_of("B:L1", &b[1][1]);
    /* Each part's 150 offsets are ONE run. */
    for (int p = 0; p < 2; p++) {
        redisReply *r = rcmd("ZRANGE {B:g:t:%d}:runs 0 -1 WITHSCORES", p);
        char want[64];
        snprintf(want, sizeof want, "%d/%d/s", 1000 * (p + 1), 1000 * (p + 1) + 149);
        ck_assert_int_eq(r->elements, 2);
        ck_assert_str_eq(r->element[0]->str, want);
        ck_assert_int_eq(atoi(r->element[1]->str), 1000 * (p + 1) + 149);
        freeReplyObject(r);
    }
    char *ga = dump_state("A"), *gb = dump_state("B");
    assert_same_state(ga, gb, "300 RPUSH");
    ck_assert_msg(strstr(gb, "{g:t:0}:base string: 900\n"), "base 900 missing");
    free(ga);
    free(gb);
    kf_eos_state_destroy(ca);
    kf_eos_state_destroy(cb);
}
END_TEST

/* WRONGTYPE on a uniform part (999 items: two write calls, 998 + 1 values as
 * the generic script cuts them, both fail):
 * every item of it is an error, nothing marked; the other part applies. */
START_TEST(test_uniform_wrongtype)
{
    int64_t e[2];
    kf_eos_state *c = state_assigned_bad_S(2, e);
    static batch b[2];
    memset(b, 0, sizeof b);
    for (int i = 0; i < 999; i++)
        add(&b[0], i, "RPUSH", "S", "x");
    add(&b[1], 10, "RPUSH", "L", "a");
    add(&b[1], 11, "RPUSH", "L", "b");
    add(&b[1], 12, "RPUSH", "L", "c");
    kf_eos_part parts[2] = {part_of(&b[0], 0, e[0], -1), part_of(&b[1], 1, e[1], -1)};
    static int st[1002];
    char err[512] = "";
    slowlog_on();
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    ck_assert_int_eq(kf_eos_state_complete(c, "a", parts, 2, st, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(scripts_ran(), RAN_UNIFORM);
    assert_st_all(st, 0, 999, KF_EOS_ERROR, "");
    assert_st_all(st, 999, 1002, KF_EOS_APPLIED, "");
    ck_assert_msg(strncmp(err, "WRONGTYPE", 9) == 0, "err: %s", err);
    /* 998 + 1 values, then L; part 1's ZADD only. */
    ASSERT_CALLS({"rpush", 3}, {"zadd", 1});
    ck_assert_int_eq(rinteger("EXISTS %s", RUNS(0)), 0);
    redisReply *r = rcmd("GET S");
    ck_assert_str_eq(r->str, "str");
    freeReplyObject(r);
    assert_list_of("L", &b[1]);
    ck_assert_int_eq(nmarked(1), 3);
    kf_eos_state_destroy(c);
}
END_TEST

/* A uniform call replayed: all SKIPPED by one read of the runs per part, no write
 * and no mark; then half replayed, half new (the script's slow path): only
 * the new ones are written, in order. */
START_TEST(test_uniform_replay)
{
    int64_t e[2];
    kf_eos_state *c = state_assigned(2, e);
    static batch b[2];
    memset(b, 0, sizeof b);
    static char v[40][16];
    for (int i = 0; i < 40; i++)
        snprintf(v[i], sizeof v[i], "v%d", i);
    for (int i = 0; i < 20; i++) {
        add(&b[0], 2 * i, "HSET", "H", v[i]); /* writes replaced below */
        add(&b[1], 100 + i, "lpush", "Q", v[i]);
    }
    kf_eos_part parts[2] = {part_of(&b[0], 0, e[0], -1), part_of(&b[1], 1, e[1], -1)};
    /* HSET's add() takes one value: make the writes "HSET H f v" by hand. */
    static const char *hargv[20][4];
    static kf_eos_write hw[20];
    for (int i = 0; i < 20; i++) {
        hargv[i][0] = "HSET", hargv[i][1] = "H", hargv[i][2] = v[i % 7], hargv[i][3] = v[i];
        hw[i] = (kf_eos_write){.argc = 4, .argv = hargv[i]};
        b[0].items[i].writes = &hw[i];
    }
    static int st[40];
    char err[512] = "";
    slowlog_on();
    ck_assert_int_eq(kf_eos_state_complete(c, "a", parts, 2, st, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(scripts_ran(), RAN_UNIFORM);
    assert_st_all(st, 0, 40, KF_EOS_APPLIED, "");
    ck_assert_int_eq(rinteger("HLEN H"), 7);
    char h[16];
    hget("H", "v6", h, sizeof h); /* fields v6 at items 6 and 13: the later wins */
    ck_assert_str_eq(h, "v13");
    ck_assert_int_eq(rinteger("LLEN Q"), 20);

    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    ck_assert_int_eq(kf_eos_state_complete(c, "a", parts, 2, st, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(scripts_ran(), RAN_UNIFORM);
    assert_st_all(st, 0, 40, KF_EOS_SKIPPED, "replay");
    ASSERT_CALLS({"zrangebyscore", 2}, {"hset", 0}, {"lpush", 0}, {"zadd", 0});
    ck_assert_int_eq(rinteger("LLEN Q"), 20);

    /* Part 1 again: its 20 done records, then 999 new ones after a gap of
     * 31 offsets (one mask still spans it), written in two
     * calls cut where the generic script cuts a run (998 values), in
     * order. */
    memset(&b[1], 0, sizeof b[1]);
    for (int i = 0; i < 20; i++)
        add(&b[1], 100 + i, "lpush", "Q", "old");
    add_n(&b[1], 150, 999, "lpush", "Q", "w");
    parts[1] = part_of(&b[1], 1, e[1], -1);
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    static int st2[1019];
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &parts[1], 1, st2, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_int_eq(scripts_ran(), RAN_UNIFORM);
    assert_st_all(st2, 0, 20, KF_EOS_SKIPPED, "done");
    assert_st_all(st2, 20, 1019, KF_EOS_APPLIED, "new");
    /* One read of the runs; the offsets applied are one run, not adjacent
     * to 100..119: one ZADD, no ZREM. */
    ASSERT_CALLS({"lpush", 2}, {"zrangebyscore", 1}, {"zadd", 1}, {"zrem", 0});
    ck_assert_int_eq(rinteger("LLEN Q"), 1019);
    redisReply *r = rcmd("LRANGE Q 0 999");
    ck_assert_str_eq(r->element[0]->str, "w998"); /* LPUSH: the last first */
    ck_assert_str_eq(r->element[998]->str, "w0");
    ck_assert_str_eq(r->element[999]->str, "v19");
    freeReplyObject(r);
    ck_assert_int_eq(nmarked(1), 1019);
    char runs[256];
    runs_str(1, runs, sizeof runs);
    ck_assert_str_eq(runs, "100/119/a 150/1148/a");
    kf_eos_state_destroy(c);
}
END_TEST

static Suite *eos_scripts_fast_path_suite(void)
{
    Suite *s = suite_create("eos_scripts_fast_path");
    TCase *tc = tcase_create("redis");
    eos_fixture_add(tc);
    tcase_add_test(tc, test_uniform_fast_path);
    tcase_add_test(tc, test_uniform_wrongtype);
    tcase_add_test(tc, test_uniform_replay);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(eos_scripts_fast_path_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
