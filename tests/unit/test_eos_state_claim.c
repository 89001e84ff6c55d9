/*
 * Business-key dedupe (kf_eos_state_claim, eos/state.c): the first offset
 * to claim a key holds it for the window; a replay of that offset is not a
 * duplicate, another offset is; fenced by the epoch; the key is free again
 * once the window has passed.
 *
 * Against a real redis-server per test case, emptied before each test
 * (support/eos_fixture.h).
 */
#include "common/clock.h"
#include "tests/unit/support/eos_batch.h"
#include "tests/unit/support/eos_fixture.h"
#include "tests/unit/support/wait.h"

#include <check.h>
#include <stdbool.h>
#include <stdlib.h>

START_TEST(test_claim_dedupes_within_window)
{
    int64_t e;
    kf_eos_state *c = state_assigned(1, &e);
    char err[512];
    int dup[4], fenced = -1;

    const char *k1[3] = {"k1", "k2", "k\0x"};
    size_t l1[3] = {2, 2, 3};
    int64_t o1[3] = {1, 2, 3};
    ck_assert_int_eq(
        kf_eos_state_claim(c, "t", 0, e, k1, l1, o1, 3, 60000, dup, &fenced, err, sizeof err),
        KF_STATUS_OK);
    ck_assert_int_eq(fenced, 0);
    ASSERT_ST(dup, 0, 0, 0);
    ck_assert_int_eq(rinteger("EXISTS %b", TAG ":bk:k\0x", sizeof(TAG ":bk:k\0x") - 1), 1);
    long long ttl = rinteger("PTTL " TAG ":bk:k1");
    ck_assert_msg(ttl > 0 && ttl <= 60000, "PTTL %lld", ttl);

    /* Replay of the same record, then a producer-side duplicate, then two
     * records with one key in the same call. */
    const char *k2[4] = {"k1", "k2", "n", "n"};
    int64_t o2[4] = {1, 9, 4, 5};
    ck_assert_int_eq(
        kf_eos_state_claim(c, "t", 0, e, k2, NULL, o2, 4, 60000, dup, &fenced, err, sizeof err),
        KF_STATUS_OK);
    ASSERT_ST(dup, 0, 1, 0, 1);

    /* Fenced: nothing written. */
    const char *k3[1] = {"z"};
    int64_t o3[1] = {7};
    ck_assert_int_eq(
        kf_eos_state_claim(c, "t", 0, e - 1, k3, NULL, o3, 1, 60000, dup, &fenced, err, sizeof err),
        KF_STATUS_OK);
    ck_assert_int_eq(fenced, 1);
    ck_assert_int_eq(rinteger("EXISTS " TAG ":bk:z"), 0);

    /* After the window the key is free again. */
    const char *k4[1] = {"w"};
    int64_t o4[1] = {10}, o5[1] = {11};
    ck_assert_int_eq(
        kf_eos_state_claim(c, "t", 0, e, k4, NULL, o4, 1, 100, dup, &fenced, err, sizeof err),
        KF_STATUS_OK);
    ck_assert_int_eq(dup[0], 0);
    ck_assert_int_eq(
        kf_eos_state_claim(c, "t", 0, e, k4, NULL, o5, 1, 100, dup, &fenced, err, sizeof err),
        KF_STATUS_OK);
    ck_assert_int_eq(dup[0], 1);
    bool freed = false;
    for (int64_t end = kf_now_ms() + 5000; !freed && kf_now_ms() < end; kf_test_pause_ms(20)) {
        ck_assert_int_eq(
            kf_eos_state_claim(c, "t", 0, e, k4, NULL, o5, 1, 100, dup, &fenced, err, sizeof err),
            KF_STATUS_OK);
        freed = dup[0] == 0;
    }
    ck_assert_msg(freed, "the marker did not expire after its 100 ms window");

    ck_assert_int_eq(
        kf_eos_state_claim(c, "t", 0, e, k4, NULL, o5, 1, 0, dup, &fenced, err, sizeof err),
        KF_STATUS_FAIL);
    kf_eos_state_destroy(c);
}
END_TEST

static Suite *eos_state_claim_suite(void)
{
    Suite *s = suite_create("eos_state_claim");
    TCase *tc = tcase_create("redis");
    eos_fixture_add(tc);
    tcase_add_test(tc, test_claim_dedupes_within_window);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(eos_state_claim_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
