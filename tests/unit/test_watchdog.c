/*
 * Unit tests for the stall watchdog's decision (consumer/watchdog.c).
 *
 * The watchdog must name every stall whose cause it can know, and must never
 * call an idle partition stalled: a false alarm every stall_timeout_ms on a
 * quiet topic would teach operators to ignore it. The tests walk the
 * decision through each state, including the two ways an idle partition's
 * log can end past the last record a consumer sees (a transaction marker,
 * aborted records), and read the statistics JSON the way librdkafka 2.0.2
 * writes it.
 */
#include "consumer/watchdog.h"

#include <check.h>
#include <string.h>
#include <stdlib.h>

#define BOUND 30000

/* A partition still for longer than the bound, with nothing in flight,
 * fetched up to the end of a 100-record log and committed there. */
static kf_wd_input idle(void)
{
    return (kf_wd_input){
        .now_ms = 100000,
        .bound_ms = BOUND,
        .last_progress = 100000 - BOUND - 1,
        .committed = 100,
        .next_offset = 100,
        .hi_offset = 100,
        .ls_offset = 100,
        .read_committed = true,
    };
}

START_TEST(test_idle_is_not_stalled)
{
    kf_wd_input in = idle();
    ck_assert_int_eq(kf_wd_judge(&in), KF_STALL_NONE);

    /* The log ends in a commit marker the consumer never sees. */
    in.hi_offset = in.ls_offset = 101;
    in.next_offset = 101;
    ck_assert_int_eq(kf_wd_judge(&in), KF_STALL_NONE);

    /* ...or in 500 aborted records: fetched past, never delivered. */
    in.hi_offset = in.ls_offset = in.next_offset = 601;
    ck_assert_int_eq(kf_wd_judge(&in), KF_STALL_NONE);
}
END_TEST

START_TEST(test_not_before_the_bound_nor_while_in_flight)
{
    kf_wd_input in = idle();
    in.hi_offset = in.ls_offset = 200; /* 100 records to read */
    in.last_progress = in.now_ms - BOUND + 1;
    ck_assert_int_eq(kf_wd_judge(&in), KF_STALL_NONE);
    in.last_progress = in.now_ms - BOUND - 1;
    in.inflight = 1; /* a slow record or a hung sink is not this watchdog's stall */
    ck_assert_int_eq(kf_wd_judge(&in), KF_STALL_NONE);
    in.inflight = 0;
    ck_assert_int_eq(kf_wd_judge(&in), KF_STALL_NOT_FETCHING);
}
END_TEST

START_TEST(test_causes)
{
    kf_wd_input in = idle();
    in.hi_offset = in.ls_offset = 200;

    in.dead = true;
    ck_assert_int_eq(kf_wd_judge(&in), KF_STALL_DEAD);
    in.dead = false;

    in.window_full = in.throttled = true;
    ck_assert_int_eq(kf_wd_judge(&in), KF_STALL_WINDOW);
    in.window_full = false;

    /* At the in-flight limit because of other partitions: its turn comes. */
    in.mapping_inflight = 10000;
    ck_assert_int_eq(kf_wd_judge(&in), KF_STALL_NONE);
    in.throttled = false;

    /* Paused by backpressure: waiting while others drain, stuck once
     * nothing at all is in flight. */
    in.paused = true;
    ck_assert_int_eq(kf_wd_judge(&in), KF_STALL_NONE);
    in.mapping_inflight = 0;
    ck_assert_int_eq(kf_wd_judge(&in), KF_STALL_BACKPRESSURE);
    /* Paused because a sink's breaker is open: reported, not resumed (the
     * breaker's probes decide). */
    in.sink_down = true;
    ck_assert_int_eq(kf_wd_judge(&in), KF_STALL_SINK_DOWN);
    ck_assert_ptr_nonnull(strstr(kf_wd_describe(KF_STALL_SINK_DOWN), "breaker"));
    in.sink_down = false;
    in.paused = false;

    /* Fetched and queued behind other partitions' records: its turn comes. */
    in.fetchq_cnt = 5;
    ck_assert_int_eq(kf_wd_judge(&in), KF_STALL_NONE);
    in.fetchq_cnt = 0;

    ck_assert_int_eq(kf_wd_judge(&in), KF_STALL_NOT_FETCHING);
}
END_TEST

START_TEST(test_upstream_transaction)
{
    kf_wd_input in = idle();
    /* read_committed: everything up to the last stable offset is read; an
     * open transaction holds it below the log end. */
    in.hi_offset = 300;
    in.ls_offset = 100;
    ck_assert_int_eq(kf_wd_judge(&in), KF_STALL_UPSTREAM_TXN);
    /* read_uncommitted readers are not held by it. */
    in.read_committed = false;
    ck_assert_int_eq(kf_wd_judge(&in), KF_STALL_NOT_FETCHING);
}
END_TEST

START_TEST(test_never_fetched)
{
    /* Assigned, and not one fetch since: the end and position are unknown.
     * (What a pause racing the assignment's fetch start leaves behind.) */
    kf_wd_input in = idle();
    in.next_offset = in.hi_offset = in.ls_offset = -1;
    in.committed = -1;
    ck_assert_int_eq(kf_wd_judge(&in), KF_STALL_NOT_FETCHING);
    ck_assert_ptr_nonnull(kf_wd_describe(KF_STALL_NOT_FETCHING));
}
END_TEST

START_TEST(test_read_stats)
{
    kf_partition *p = kf_partition_new("orders", 3);
    kf_partition *q = kf_partition_new("orders", 4);
    ck_assert_int_eq(p->wd.next_offset, -1);
    const char *json =
        "{\"name\":\"c\",\"topics\":{\"orders\":{\"topic\":\"orders\",\"partitions\":{"
        "\"3\":{\"partition\":3,\"fetch_state\":\"active\",\"next_offset\":120,"
        "\"hi_offset\":150,\"ls_offset\":140,\"fetchq_cnt\":7},"
        "\"4\":{\"partition\":4,\"next_offset\":-1001,\"hi_offset\":-1001,"
        "\"ls_offset\":-1001,\"fetchq_cnt\":0},"
        "\"-1\":{\"partition\":-1}}}}}";
    kf_partition *parts[] = {p, q};
    kf_wd_read_stats(parts, 2, json, 42);
    ck_assert_int_eq(p->wd.next_offset, 120);
    ck_assert_int_eq(p->wd.hi_offset, 150);
    ck_assert_int_eq(p->wd.ls_offset, 140);
    ck_assert_int_eq(p->wd.fetchq_cnt, 7);
    ck_assert_int_eq(p->wd.stats_ms, 42);
    ck_assert_int_eq(q->wd.next_offset, -1); /* -1001: not known */
    ck_assert_int_eq(q->wd.hi_offset, -1);

    /* Garbage leaves what was known. */
    kf_wd_read_stats(parts, 2, "{not json", 43);
    ck_assert_int_eq(p->wd.next_offset, 120);
    kf_partition_release(p);
    kf_partition_release(q);
}
END_TEST

START_TEST(test_progress)
{
    kf_partition *p = kf_partition_new("t", 0);
    ck_assert_int_eq(kf_wd_progress(p, 1000), 1000); /* the first look starts the clock */
    ck_assert_int_eq(kf_wd_progress(p, 2000), 1000);
    int64_t off = 5;
    kf_tracker_add_many(p->tracker, &off, 1);
    ck_assert_int_eq(kf_wd_progress(p, 3000), 3000); /* dispatched */
    ck_assert_int_eq(kf_wd_progress(p, 4000), 3000);
    kf_tracker_done(p->tracker, 5);
    ck_assert_int_eq(kf_wd_progress(p, 5000), 5000); /* done */
    p->committed = 6;
    ck_assert_int_eq(kf_wd_progress(p, 6000), 6000); /* committed */
    atomic_store(&p->inflight, 1);
    ck_assert_int_eq(kf_wd_progress(p, 7000), 7000); /* in flight counts as moving */
    atomic_store(&p->inflight, 0);
    kf_partition_release(p);
}
END_TEST

static Suite *watchdog_suite(void)
{
    Suite *s = suite_create("watchdog");
    TCase *tc = tcase_create("judge");
    tcase_add_test(tc, test_idle_is_not_stalled);
    tcase_add_test(tc, test_not_before_the_bound_nor_while_in_flight);
    tcase_add_test(tc, test_causes);
    tcase_add_test(tc, test_upstream_transaction);
    tcase_add_test(tc, test_never_fetched);
    tcase_add_test(tc, test_read_stats);
    tcase_add_test(tc, test_progress);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(watchdog_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
