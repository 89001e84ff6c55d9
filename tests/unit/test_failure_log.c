/*
 * The latest failures (common/failure_log.h): events come back newest first
 * with what was given; the ring keeps the last KF_FAILURE_LOG_SIZE while the
 * total counts them all; long strings are cut, not overrun; a NULL log takes
 * events as no-ops; threads adding at once lose no count.
 */
#include "common/failure_log.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static kf_failure_log *log_;
static kf_failure_event ev[KF_FAILURE_LOG_SIZE];

static void setup(void)
{
    log_ = kf_failure_log_new();
    ck_assert_ptr_nonnull(log_);
}

static void teardown(void)
{
    kf_failure_log_destroy(log_);
}

START_TEST(test_empty)
{
    uint64_t total = 99;
    ck_assert_uint_eq(kf_failure_log_copy(log_, ev, &total), 0);
    ck_assert_uint_eq(total, 0);
}
END_TEST

START_TEST(test_events_newest_first)
{
    kf_failure_log_record(log_, KF_FAILURE_DEAD_LETTER, "orders", 3, 41,
                          "handler returned KF_FAIL");
    kf_failure_log_sink(log_, KF_FAILURE_BREAKER_OPEN, "hook", "http 503");
    kf_failure_log_record(log_, KF_FAILURE_FENCED, "orders", 1, 7, NULL);
    uint64_t total = 0;
    ck_assert_uint_eq(kf_failure_log_copy(log_, ev, &total), 3);
    ck_assert_uint_eq(total, 3);
    ck_assert_int_eq(ev[0].kind, KF_FAILURE_FENCED);
    ck_assert_uint_eq(ev[0].seq, 3);
    ck_assert_str_eq(ev[0].reason, "");
    ck_assert_int_eq(ev[1].kind, KF_FAILURE_BREAKER_OPEN);
    ck_assert_str_eq(ev[1].sink, "hook");
    ck_assert_str_eq(ev[1].topic, "");
    ck_assert_int_eq(ev[1].partition, -1);
    ck_assert_int_eq(ev[1].offset, -1);
    ck_assert_int_eq(ev[2].kind, KF_FAILURE_DEAD_LETTER);
    ck_assert_str_eq(ev[2].topic, "orders");
    ck_assert_int_eq(ev[2].partition, 3);
    ck_assert_int_eq(ev[2].offset, 41);
    ck_assert_str_eq(ev[2].sink, "");
    ck_assert_str_eq(ev[2].reason, "handler returned KF_FAIL");
    ck_assert_int_gt(ev[2].time_ms, 1600000000000LL); /* the wall clock, in ms */
    ck_assert_int_le(ev[2].time_ms, ev[0].time_ms);
    ck_assert_str_eq(kf_failure_kind_name(ev[2].kind), "dead_letter");
    ck_assert_str_eq(kf_failure_kind_name(KF_FAILURE_PARKED), "parked");
    ck_assert_str_eq(kf_failure_kind_name(ev[1].kind), "breaker_open");
    ck_assert_str_eq(kf_failure_kind_name(ev[0].kind), "fenced");
}
END_TEST

START_TEST(test_ring_keeps_the_latest)
{
    int n = 3 * KF_FAILURE_LOG_SIZE + 5;
    for (int i = 0; i < n; i++)
        kf_failure_log_record(log_, KF_FAILURE_PARKED, "t", 0, i, "parked");
    uint64_t total = 0;
    ck_assert_uint_eq(kf_failure_log_copy(log_, ev, &total), KF_FAILURE_LOG_SIZE);
    ck_assert_uint_eq(total, (uint64_t)n);
    for (int i = 0; i < KF_FAILURE_LOG_SIZE; i++) {
        ck_assert_int_eq(ev[i].offset, n - 1 - i);
        ck_assert_uint_eq(ev[i].seq, (uint64_t)(n - i));
    }
}
END_TEST

START_TEST(test_long_strings_are_cut)
{
    char topic[1000], reason[2000];
    memset(topic, 't', sizeof topic - 1);
    topic[sizeof topic - 1] = '\0';
    memset(reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = '\0';
    kf_failure_log_record(log_, KF_FAILURE_DEAD_LETTER, topic, 0, 0, reason);
    kf_failure_log_sink(log_, KF_FAILURE_BREAKER_OPEN, reason, reason);
    uint64_t total = 0;
    ck_assert_uint_eq(kf_failure_log_copy(log_, ev, &total), 2);
    ck_assert_uint_eq(strlen(ev[1].topic), KF_TOPIC_MAX - 1);
    ck_assert_uint_eq(strlen(ev[1].reason), KF_FAILURE_REASON_MAX - 1);
    ck_assert_str_eq(ev[1].reason + KF_FAILURE_REASON_MAX - 4, "...");
    ck_assert_uint_eq(strlen(ev[0].sink), KF_FAILURE_SINK_MAX - 1);
    /* Exactly the capacity less one fits without a cut. */
    reason[KF_FAILURE_REASON_MAX - 1] = '\0';
    kf_failure_log_record(log_, KF_FAILURE_DEAD_LETTER, "t", 0, 0, reason);
    kf_failure_log_copy(log_, ev, &total);
    ck_assert_str_eq(ev[0].reason, reason);
}
END_TEST

START_TEST(test_null_log_is_a_no_op)
{
    kf_failure_log_record(NULL, KF_FAILURE_DEAD_LETTER, "t", 0, 0, "x");
    kf_failure_log_sink(NULL, KF_FAILURE_BREAKER_OPEN, "s", "x");
    kf_failure_log_destroy(NULL);
}
END_TEST

#define THREADS 4
#define EACH    5000

static void *adder(void *arg)
{
    (void)arg;
    for (int i = 0; i < EACH; i++)
        kf_failure_log_record(log_, KF_FAILURE_DEAD_LETTER, "t", 0, i, "x");
    return NULL;
}

START_TEST(test_threads_lose_no_count)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, adder, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    uint64_t total = 0;
    ck_assert_uint_eq(kf_failure_log_copy(log_, ev, &total), KF_FAILURE_LOG_SIZE);
    ck_assert_uint_eq(total, THREADS * EACH);
    for (int i = 1; i < KF_FAILURE_LOG_SIZE; i++)
        ck_assert_uint_eq(ev[i].seq + 1, ev[i - 1].seq);
}
END_TEST

static Suite *failure_log_suite(void)
{
    Suite *s = suite_create("failure_log");
    TCase *tc = tcase_create("ring");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_events_newest_first);
    tcase_add_test(tc, test_ring_keeps_the_latest);
    tcase_add_test(tc, test_long_strings_are_cut);
    tcase_add_test(tc, test_null_log_is_a_no_op);
    tcase_add_test(tc, test_threads_lose_no_count);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(failure_log_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
