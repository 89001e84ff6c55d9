/*
 * Trimming the runs (eos/state.c): those that end below the committed offset
 * are dropped, one that straddles it is kept whole (its offsets below it
 * count for nothing), and the watermark (base) raised, never lowered, fenced
 * by the
 * epoch, alone (kf_eos_state_trim) or riding on a completion
 * (kf_eos_part.trim); a record below the watermark counts as done.
 *
 * Against a real redis-server per test case, emptied before each test
 * (support/eos_fixture.h).
 */
#include "tests/unit/support/eos_batch.h"
#include "tests/unit/support/eos_fixture.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_trim_drops_marks_below_watermark)
{
    int64_t e;
    kf_eos_state *c = state_assigned(1, &e);
    complete_marks(c, e, 0, 10);
    ck_assert_int_eq(nmarked(0), 10);

    char err[512];
    int fenced = -1;
    ck_assert_int_eq(kf_eos_state_trim(c, "t", 0, e, 6, &fenced, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(fenced, 0);
    ck_assert_int_eq(nmarked(0), 4); /* 6..9 */
    char runs[128];
    runs_str(0, runs, sizeof runs); /* 0..9 straddles 6: kept whole */
    ck_assert_str_eq(runs, "0/9/a");
    ck_assert_int_eq(rget_num(BASE(0)), 6);

    /* The watermark never goes back. */
    ck_assert_int_eq(kf_eos_state_trim(c, "t", 0, e, 3, &fenced, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(rget_num(BASE(0)), 6);
    ck_assert_int_eq(nmarked(0), 4);

    /* Fenced: nothing trimmed. */
    ck_assert_int_eq(kf_eos_state_trim(c, "t", 0, e + 1, 9, &fenced, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_int_eq(fenced, 1);
    ck_assert_int_eq(nmarked(0), 4);
    ck_assert_int_eq(rget_num(BASE(0)), 6);

    /* A record below the watermark is done and committed: not written. */
    ck_assert_int_eq(complete_rpush(c, "a", e, 2, "L", "late"), KF_EOS_SKIPPED);
    ck_assert_int_eq(rinteger("EXISTS L"), 0);

    kf_eos_assigned a;
    ck_assert_int_eq(kf_eos_state_assign(c, "t", 0, &a, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(a.base, 6);
    ck_assert_uint_eq(a.nruns, 1);
    ck_assert_int_eq(a.runs[0].from, 6);
    ck_assert_int_eq(a.runs[0].to, 9);
    ck_assert_str_eq(a.runs[0].sink, "a");
    kf_eos_assigned_free(&a);
    kf_eos_state_destroy(c);
}
END_TEST

START_TEST(test_trim_rides_on_complete)
{
    int64_t e;
    kf_eos_state *c = state_assigned(1, &e);
    complete_marks(c, e, 0, 5);
    ck_assert_int_eq(nmarked(0), 5);

    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 5, "RPUSH", "L", "v5");
    int st[1];
    complete1(c, "a", &b, 0, e, 3, st);
    ck_assert_int_eq(st[0], KF_EOS_APPLIED);
    ck_assert_int_eq(nmarked(0), 3); /* 3, 4, 5 */
    char runs[128];
    runs_str(0, runs, sizeof runs); /* 5 merged in, the run starting at base */
    ck_assert_str_eq(runs, "3/5/a");
    ck_assert_int_eq(rget_num(BASE(0)), 3);
    ck_assert_int_eq(rinteger("LLEN L"), 1);

    /* A trim with no items still rides (a part with nitems = 0). */
    memset(&b, 0, sizeof b);
    complete1(c, "a", &b, 0, e, 5, st);
    ck_assert_int_eq(nmarked(0), 1);
    runs_str(0, runs, sizeof runs);
    ck_assert_str_eq(runs, "3/5/a");
    ck_assert_int_eq(rget_num(BASE(0)), 5);
    kf_eos_state_destroy(c);
}
END_TEST

static Suite *eos_state_trim_suite(void)
{
    Suite *s = suite_create("eos_state_trim");
    TCase *tc = tcase_create("redis");
    eos_fixture_add(tc);
    tcase_add_test(tc, test_trim_drops_marks_below_watermark);
    tcase_add_test(tc, test_trim_rides_on_complete);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(eos_state_trim_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
