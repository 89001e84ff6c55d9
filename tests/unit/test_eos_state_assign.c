/*
 * Who owns a partition in the exactly-once state (eos/state.c): assignment
 * raises the epoch (the fencing token) and returns the runs and the trim
 * watermark (and turns the one-mark-per-record T:done of an older kfleet
 * into runs); the holder record names the owner (a transactional.id)
 * and the holder it replaced, until that owner's clean release.
 *
 * Against a real redis-server per test case, emptied before each test
 * (support/eos_fixture.h).
 */
#include "tests/unit/support/eos_batch.h"
#include "tests/unit/support/eos_fixture.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_assign_epoch_and_done)
{
    kf_eos_state *c = state_new();
    char tag[128];
    kf_eos_state_tag(c, "t", 0, tag, sizeof tag);
    ck_assert_str_eq(tag, TAG);

    kf_eos_assigned a;
    char err[512];
    ck_assert_int_eq(kf_eos_state_assign(c, "t", 0, &a, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(a.epoch, 1);
    ck_assert_int_eq(a.base, -1);
    ck_assert_uint_eq(a.nruns, 0);
    kf_eos_assigned_free(&a);

    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 5, "RPUSH", "L", "v5");
    add(&b, 6, "RPUSH", "L", "v6");
    int st[2];
    complete1(c, "a", &b, 0, 1, -1, st);
    ASSERT_ST(st, KF_EOS_APPLIED, KF_EOS_APPLIED);
    /* A mark only (e.g. HTTP after its 2xx). */
    ck_assert_int_eq(complete_rpush(c, "hook/x", 1, 5, NULL, NULL), KF_EOS_APPLIED);

    ck_assert_int_eq(kf_eos_state_assign(c, "t", 0, &a, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(a.epoch, 2);
    ck_assert_int_eq(a.base, -1);
    /* In order of the run's last offset: hook/x 5..5, then a 5..6. */
    ck_assert_uint_eq(a.nruns, 2);
    ck_assert_int_eq(a.runs[0].from, 5);
    ck_assert_int_eq(a.runs[0].to, 5);
    ck_assert_str_eq(a.runs[0].sink, "hook/x");
    ck_assert_int_eq(a.runs[1].from, 5);
    ck_assert_int_eq(a.runs[1].to, 6);
    ck_assert_str_eq(a.runs[1].sink, "a");
    kf_eos_assigned_free(&a);
    ck_assert_ptr_null(a.mem);
    kf_eos_assigned_free(NULL);

    ck_assert_int_eq(rget_num(EPOCH(0)), 2);
    ck_assert_int_eq(rinteger("LLEN L"), 2);
    /* Another partition has its own epoch. */
    ck_assert_int_eq(assign(c, 1), 1);
    kf_eos_state_destroy(c);
    kf_eos_state_destroy(NULL);
}
END_TEST

/* The holder record: assign names the owner (a transactional.id) and says
 * whom it replaces; only that owner's clean release clears it, fenced by
 * the epoch like every other write. */
START_TEST(test_owner_hand_over)
{
    kf_eos_state *c = state_new();
    kf_eos_assigned a;
    char err[512];
    ck_assert_int_eq(kf_eos_state_assign_owned(c, "t", 0, "txn-A", &a, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_str_eq(a.prev_owner, "");
    int64_t ea = a.epoch;
    kf_eos_assigned_free(&a);

    /* A takes B's place without releasing: B learns it was A. */
    ck_assert_int_eq(kf_eos_state_assign_owned(c, "t", 0, "txn-B", &a, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_str_eq(a.prev_owner, "txn-A");
    int64_t eb = a.epoch;
    ck_assert_int_gt(eb, ea);
    kf_eos_assigned_free(&a);

    /* The zombie A cannot release what B holds: stale epoch, and not its. */
    int fenced = 0;
    ck_assert_int_eq(kf_eos_state_release(c, "t", 0, ea, -1, "txn-A", &fenced, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_int_eq(fenced, 1);
    ck_assert_int_eq(kf_eos_state_release(c, "t", 0, eb, -1, "txn-A", &fenced, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_int_eq(fenced, 0);
    ck_assert_int_eq(rinteger("EXISTS {kft:g:t:0}:owner"), 1);

    /* B hands over cleanly: the next owner finds nobody to fence. */
    ck_assert_int_eq(kf_eos_state_release(c, "t", 0, eb, -1, "txn-B", &fenced, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_int_eq(rinteger("EXISTS {kft:g:t:0}:owner"), 0);
    ck_assert_int_eq(kf_eos_state_assign_owned(c, "t", 0, "txn-C", &a, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_str_eq(a.prev_owner, "");
    kf_eos_assigned_free(&a);

    /* A mapping without a transaction records nobody and leaves the holder. */
    ck_assert_int_eq(kf_eos_state_assign(c, "t", 0, &a, err, sizeof err), KF_STATUS_OK);
    ck_assert_str_eq(a.prev_owner, "txn-C");
    kf_eos_assigned_free(&a);
    kf_eos_state_destroy(c);
}
END_TEST

static Suite *eos_state_assign_suite(void)
{
    Suite *s = suite_create("eos_state_assign");
    TCase *tc = tcase_create("redis");
    eos_fixture_add(tc);
    tcase_add_test(tc, test_assign_epoch_and_done);
    tcase_add_test(tc, test_owner_hand_over);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(eos_state_assign_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
