/*
 * What kf_eos_state_complete and kf_eos_state_claim cost inside Redis (INFO
 * commandstats): one script call whatever the number of parts, items or
 * keys, and in it a constant number of commands per part (one write per
 * run, one ZRANGEBYSCORE reading the sink's runs, one ZADD adding the new
 * ones), cut into more only where one command would carry too many
 * arguments.
 *
 * Against a real redis-server per test case, emptied before each test
 * (support/eos_fixture.h).
 */
#include "tests/unit/support/eos_batch.h"
#include "tests/unit/support/eos_fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_one_call_for_many_parts_and_keys)
{
    int64_t e[3];
    kf_eos_state *c = state_assigned(3, e);
    static batch b[3];
    memset(b, 0, sizeof b);
    for (int i = 0; i < 500; i++) {
        char v[32];
        snprintf(v, sizeof v, "v%d", i);
        add(&b[i % 3], 1000 + i, "RPUSH", "L", v);
    }
    kf_eos_part parts[3];
    for (int p = 0; p < 3; p++)
        parts[p] = part_of(&b[p], p, e[p], 900);

    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    static int st[500];
    char err[512];
    ck_assert_int_eq(kf_eos_state_complete(c, "a", parts, 3, st, err, sizeof err), KF_STATUS_OK);
    assert_st_all(st, 0, 500, KF_EOS_APPLIED, "");
    /* One RPUSH per part (each part's items are one run on L), one read of
     * the runs and one ZADD per part: not one per record; the trim to 900
     * adds a ZREMRANGEBYSCORE per part. */
    ASSERT_CALLS({"evalsha", 1}, {"eval", 0}, {"rpush", 3}, {"zrangebyscore", 3}, {"zadd", 3},
                 {"zremrangebyscore", 3}, {"zmscore", 0}, {"zscore", 0});
    ck_assert_int_eq(rinteger("LLEN L"), 500);

    /* claim: one call for 500 keys too. */
    static const char *keys[500];
    static char kbuf[500][16];
    static int64_t offs[500];
    static int dup[500];
    for (int i = 0; i < 500; i++) {
        snprintf(kbuf[i], sizeof kbuf[i], "key%d", i);
        keys[i] = kbuf[i];
        offs[i] = 1000 + i;
    }
    int fenced;
    ck_assert_int_eq(kf_eos_state_claim(c, "t", 0, e[0], keys, NULL, offs, 500, 60000, dup, &fenced,
                                        err, sizeof err),
                     KF_STATUS_OK);
    ASSERT_CALLS({"evalsha", 2});
    kf_eos_state_destroy(c);
}
END_TEST

/* 200 single-RPUSH records of one part on one list: a constant number of
 * Redis commands inside the script (one RPUSH, one ZRANGEBYSCORE, one ZADD),
 * not three per record; the values land in item order, and the marks are ONE
 * run. */
START_TEST(test_complete_o1_per_part)
{
    int64_t e;
    kf_eos_state *c = state_assigned(1, &e);
    static batch b;
    memset(&b, 0, sizeof b);
    add_n(&b, 100, 200, "RPUSH", "L", "v");
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    static int st[200];
    complete1(c, "a", &b, 0, e, -1, st);
    assert_st_all(st, 0, 200, KF_EOS_APPLIED, "");
    ASSERT_CALLS({"evalsha", 1}, {"rpush", 1}, {"zrangebyscore", 1}, {"zadd", 1}, {"zscore", 0});
    assert_list_of("L", &b);
    ck_assert_int_eq(nmarked(0), 200);
    char runs[128];
    runs_str(0, runs, sizeof runs);
    ck_assert_str_eq(runs, "100/299/a");
    ck_assert(marked(0, 100, "a") && marked(0, 299, "a"));

    /* Replayed: all SKIPPED by the one read of the runs; no write and no
     * ZADD. */
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    complete1(c, "a", &b, 0, e, -1, st);
    assert_st_all(st, 0, 200, KF_EOS_SKIPPED, "replay");
    ASSERT_CALLS({"zrangebyscore", 1}, {"rpush", 0}, {"zadd", 0});
    ck_assert_int_eq(rinteger("LLEN L"), 200);
    kf_eos_state_destroy(c);
}
END_TEST

/* More items than one call may carry (1000 values): the write is split,
 * order stays whole, and the marks are one run whatever the count. */
START_TEST(test_complete_split_large_part)
{
    int64_t e;
    kf_eos_state *c = state_assigned(1, &e);
    static batch b;
    memset(&b, 0, sizeof b);
    enum { N = 1100 };
    add_n(&b, 0, N, "RPUSH", "L", "v");
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    static int st[N + 1];
    complete1(c, "a", &b, 0, e, -1, st);
    assert_st_all(st, 0, N, KF_EOS_APPLIED, "");
    assert_list_of("L", &b);
    ck_assert_int_eq(nmarked(0), N);
    /* 1100 values: 2 RPUSH; one read of the runs, one ZADD. */
    ASSERT_CALLS({"rpush", 2}, {"zrangebyscore", 1}, {"zadd", 1});
    ck_assert_int_eq(nruns(0), 1);

    /* Replayed with one new record after: every offset of the run is seen,
     * and the new one merges into it (one ZREM, one ZADD). */
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    memset(&b, 0, sizeof b);
    for (int i = 0; i < N; i++)
        add(&b, i, "RPUSH", "L", i == 1050 ? "again" : "x");
    add(&b, N, "RPUSH", "L", "new");
    complete1(c, "a", &b, 0, e, -1, st);
    assert_st_all(st, 0, N, KF_EOS_SKIPPED, "replay");
    ck_assert_int_eq(st[N], KF_EOS_APPLIED);
    ck_assert_int_eq(rinteger("LLEN L"), N + 1);
    ASSERT_CALLS({"rpush", 1}, {"zrangebyscore", 1}, {"zrem", 1}, {"zadd", 1});
    char runs[64];
    runs_str(0, runs, sizeof runs);
    ck_assert_str_eq(runs, "0/1100/a");
    kf_eos_state_destroy(c);
}
END_TEST

static Suite *eos_state_round_trips_suite(void)
{
    Suite *s = suite_create("eos_state_round_trips");
    TCase *tc = tcase_create("redis");
    eos_fixture_add(tc);
    tcase_add_test(tc, test_one_call_for_many_parts_and_keys);
    tcase_add_test(tc, test_complete_o1_per_part);
    tcase_add_test(tc, test_complete_split_large_part);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(eos_state_round_trips_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
