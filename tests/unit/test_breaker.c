/*
 * The circuit breaker's state machine (dispatcher/breaker.h) with explicit
 * times: when it opens, how its probe wait grows and is capped, what closes
 * it, and which answers it ignores. The dispatcher's use of it (holding the
 * mapping, one probe at a time) is tested in test_dispatcher.c.
 */
#include "dispatcher/breaker.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static kf_breaker *make(int failures, int probe_ms, int max_probe_ms)
{
    kf_breaker_config c = {
        .failures = failures, .probe_ms = probe_ms, .max_probe_ms = max_probe_ms};
    kf_breaker *b = kf_breaker_new(&c);
    ck_assert_ptr_nonnull(b);
    return b;
}

START_TEST(test_off_when_failures_is_zero)
{
    kf_breaker_config c = {.failures = 0, .probe_ms = 10, .max_probe_ms = 10};
    ck_assert_ptr_null(kf_breaker_new(&c));
}
END_TEST

START_TEST(test_opens_after_failures_in_a_row)
{
    kf_breaker *b = make(3, 100, 1000);
    ck_assert_int_eq(kf_breaker_answer(b, true, "503", 0), KF_BREAKER_SAME);
    ck_assert_int_eq(kf_breaker_answer(b, true, "503", 1), KF_BREAKER_SAME);
    /* A success in between starts the count again. */
    ck_assert_int_eq(kf_breaker_answer(b, false, NULL, 2), KF_BREAKER_SAME);
    ck_assert_int_eq(kf_breaker_answer(b, true, "503", 3), KF_BREAKER_SAME);
    ck_assert_int_eq(kf_breaker_answer(b, true, "503", 4), KF_BREAKER_SAME);
    ck_assert_int_eq(kf_breaker_state_of(b), KF_BREAKER_CLOSED);
    ck_assert_int_eq(kf_breaker_due(b), -1);
    ck_assert_int_eq(kf_breaker_answer(b, true, "http 503 from x", 5), KF_BREAKER_OPENED);
    ck_assert_int_eq(kf_breaker_state_of(b), KF_BREAKER_OPEN);
    ck_assert_int_eq(kf_breaker_due(b), 105);
    ck_assert_int_eq(kf_breaker_opened_ms(b), 5);
    char why[64];
    kf_breaker_last_why(b, why, sizeof why);
    ck_assert_str_eq(why, "http 503 from x");
    kf_breaker_free(b);
}
END_TEST

START_TEST(test_probe_wait_doubles_up_to_max)
{
    kf_breaker *b = make(1, 100, 350);
    ck_assert_int_eq(kf_breaker_answer(b, true, "down", 0), KF_BREAKER_OPENED);
    ck_assert(!kf_breaker_start_probe(b, 99)); /* not due yet */
    int64_t now = 100, want[] = {200, 350, 350};
    for (int i = 0; i < 3; i++) {
        ck_assert(kf_breaker_start_probe(b, now));
        ck_assert_int_eq(kf_breaker_state_of(b), KF_BREAKER_PROBING);
        ck_assert(!kf_breaker_start_probe(b, now)); /* one probe at a time */
        ck_assert_int_eq(kf_breaker_due(b), -1);
        ck_assert_int_eq(kf_breaker_answer(b, true, "still down", now + 1), KF_BREAKER_REOPENED);
        ck_assert_int_eq(kf_breaker_wait_ms(b), want[i]);
        ck_assert_int_eq(kf_breaker_due(b), now + 1 + want[i]);
        now = kf_breaker_due(b);
    }
    ck_assert(kf_breaker_start_probe(b, now));
    ck_assert_int_eq(kf_breaker_answer(b, false, NULL, now + 1), KF_BREAKER_RECLOSED);
    ck_assert_int_eq(kf_breaker_state_of(b), KF_BREAKER_CLOSED);
    /* Closed again, it opens again after `failures`, with the first wait. */
    ck_assert_int_eq(kf_breaker_answer(b, true, "down", 2000), KF_BREAKER_OPENED);
    ck_assert_int_eq(kf_breaker_due(b), 2100);
    kf_breaker_free(b);
}
END_TEST

START_TEST(test_open_ignores_late_answers)
{
    kf_breaker *b = make(2, 100, 1000);
    kf_breaker_answer(b, true, "a", 0);
    ck_assert_int_eq(kf_breaker_answer(b, true, "b", 0), KF_BREAKER_OPENED);
    /* Writes made before it opened answer late: neither closes it. */
    ck_assert_int_eq(kf_breaker_answer(b, false, NULL, 10), KF_BREAKER_SAME);
    ck_assert_int_eq(kf_breaker_answer(b, true, "c", 10), KF_BREAKER_SAME);
    ck_assert_int_eq(kf_breaker_state_of(b), KF_BREAKER_OPEN);
    ck_assert_int_eq(kf_breaker_due(b), 100);
    kf_breaker_free(b);
}
END_TEST

START_TEST(test_void_probe_is_due_at_once)
{
    kf_breaker *b = make(1, 100, 1000);
    kf_breaker_answer(b, true, "down", 0);
    ck_assert(kf_breaker_start_probe(b, 100));
    ck_assert(kf_breaker_probe_void(b, 150));
    ck_assert_int_eq(kf_breaker_state_of(b), KF_BREAKER_OPEN);
    ck_assert_int_eq(kf_breaker_due(b), 150);
    ck_assert_int_eq(kf_breaker_wait_ms(b), 100); /* unchanged */
    ck_assert(!kf_breaker_probe_void(b, 160));    /* not probing: nothing */
    ck_assert_int_eq(kf_breaker_due(b), 150);
    kf_breaker_free(b);
}
END_TEST

static Suite *breaker_suite(void)
{
    Suite *s = suite_create("breaker");
    TCase *tc = tcase_create("state");
    tcase_add_test(tc, test_off_when_failures_is_zero);
    tcase_add_test(tc, test_opens_after_failures_in_a_row);
    tcase_add_test(tc, test_probe_wait_doubles_up_to_max);
    tcase_add_test(tc, test_open_ignores_late_answers);
    tcase_add_test(tc, test_void_probe_is_due_at_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(breaker_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
