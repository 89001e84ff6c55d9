/*
 * The lock-free histogram (common/histogram.h): which bucket a value lands
 * in (bounds are inclusive, negatives count as 0, past the last bound is
 * +Inf), cumulative readings whose +Inf bucket is the count, the sum, the
 * thread-private buffer and its merge, the built-in bounds, counts that
 * stay exact while threads observe at once, and the sampler that times every
 * slow call but one fast call in KF_HIST_SAMPLE_EVERY, each standing for the
 * calls it skipped.
 */
#include "common/histogram.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const kf_hist_bounds small = {.n = 3, .le = {10, 100, 1000}, .unit = 1};

START_TEST(test_bucket_bounds_are_inclusive)
{
    ck_assert_uint_eq(kf_hist_bucket(&small, 0), 0);
    ck_assert_uint_eq(kf_hist_bucket(&small, 10), 0);
    ck_assert_uint_eq(kf_hist_bucket(&small, 11), 1);
    ck_assert_uint_eq(kf_hist_bucket(&small, 100), 1);
    ck_assert_uint_eq(kf_hist_bucket(&small, 101), 2);
    ck_assert_uint_eq(kf_hist_bucket(&small, 1000), 2);
    ck_assert_uint_eq(kf_hist_bucket(&small, 1001), 3); /* +Inf */
    ck_assert_uint_eq(kf_hist_bucket(&small, INT64_MAX), 3);
}
END_TEST

START_TEST(test_read_is_cumulative_and_counts)
{
    kf_histogram h;
    memset(&h, 0, sizeof h);
    int64_t vs[] = {5, 10, 50, 500, 5000, -7};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++)
        kf_hist_observe(&h, &small, vs[i]);
    kf_hist_snapshot s;
    kf_hist_read(&h, &small, &s);
    ck_assert_uint_eq(s.cumulative[0], 3); /* 5, 10 and -7 (as 0) */
    ck_assert_uint_eq(s.cumulative[1], 4);
    ck_assert_uint_eq(s.cumulative[2], 5);
    ck_assert_uint_eq(s.cumulative[3], 6); /* +Inf: everything */
    ck_assert_uint_eq(s.count, 6);
    ck_assert_uint_eq(s.sum, 5 + 10 + 50 + 500 + 5000); /* a negative adds 0 */
}
END_TEST

START_TEST(test_local_merge_adds_and_clears)
{
    kf_histogram h;
    memset(&h, 0, sizeof h);
    kf_hist_observe(&h, &small, 1);
    kf_hist_local l = {0};
    kf_hist_merge(&h, &small, &l); /* empty: nothing */
    for (int i = 0; i < 100; i++)
        kf_hist_local_add(&l, &small, i);
    ck_assert_uint_eq(l.count, 100);
    kf_hist_merge(&h, &small, &l);
    ck_assert_uint_eq(l.count, 0);
    ck_assert_uint_eq(l.sum, 0);
    for (size_t i = 0; i <= small.n; i++)
        ck_assert_uint_eq(l.bucket[i], 0);
    kf_hist_snapshot s;
    kf_hist_read(&h, &small, &s);
    ck_assert_uint_eq(s.cumulative[0], 1 + 11); /* 1, then 0..10 */
    ck_assert_uint_eq(s.cumulative[1], 1 + 100);
    ck_assert_uint_eq(s.count, 101);
    ck_assert_uint_eq(s.sum, 1 + 99 * 100 / 2);
}
END_TEST

/* The built-in bounds increase strictly and fit the array; durations run
 * from a microsecond to a minute, sizes cover batch.max_records. */
START_TEST(test_builtin_bounds)
{
    const kf_hist_bounds *all[] = {&kf_hist_seconds, &kf_hist_records};
    for (size_t k = 0; k < 2; k++) {
        const kf_hist_bounds *b = all[k];
        ck_assert(b->n >= 1 && b->n <= KF_HIST_MAX_BOUNDS);
        for (size_t i = 1; i < b->n; i++)
            ck_assert_int_lt(b->le[i - 1], b->le[i]);
    }
    ck_assert_int_eq(kf_hist_seconds.le[0], 1000);
    ck_assert_int_eq(kf_hist_seconds.le[kf_hist_seconds.n - 1], 60LL * 1000000000);
    ck_assert(kf_hist_seconds.unit == 1e-9);
    ck_assert_int_eq(kf_hist_records.le[0], 1);
    ck_assert_int_eq(kf_hist_records.le[kf_hist_records.n - 1], 10000);
    /* 2.5 ms lands in its own bound, 2.5 ms + 1 ns in the next. */
    size_t b25 = kf_hist_bucket(&kf_hist_seconds, 2500000);
    ck_assert_int_eq(kf_hist_seconds.le[b25], 2500000);
    ck_assert_uint_eq(kf_hist_bucket(&kf_hist_seconds, 2500001), b25 + 1);
}
END_TEST

/* Slow calls are all timed; fast ones one in KF_HIST_SAMPLE_EVERY, weighted
 * so that the count is every call up to the last timed one. */
START_TEST(test_sampler)
{
    kf_hist_sampler smp = {0};
    kf_hist_local l = {0};
    int timed = 0;
    for (int i = 0; i < 10; i++) { /* slow: 500 >= 100 */
        ck_assert(kf_hist_sampler_due(&smp));
        kf_hist_sampler_add(&smp, &l, &small, 500, 100);
        timed++;
    }
    ck_assert_uint_eq(l.count, 10);
    ck_assert_uint_eq(l.sum, 5000);
    /* Fast from here: the first fast call is timed, then one in 16. */
    int calls = 0;
    for (int i = 0; i < 16 * 5 + 1; i++) {
        calls++;
        if (kf_hist_sampler_due(&smp)) {
            kf_hist_sampler_add(&smp, &l, &small, 7, 100);
            timed++;
        }
    }
    ck_assert_int_eq(timed, 10 + 6);
    ck_assert_uint_eq(l.count, 10 + 81); /* every call: the 81st was timed */
    ck_assert_uint_eq(l.bucket[0], 81);  /* 7 <= 10 */
    ck_assert_uint_eq(l.sum, 5000 + 81 * 7);
    /* A slow call among fast ones brings back timing every call. */
    for (int i = 0; i < KF_HIST_SAMPLE_EVERY - 1; i++)
        ck_assert(!kf_hist_sampler_due(&smp));
    ck_assert(kf_hist_sampler_due(&smp));
    kf_hist_sampler_add(&smp, &l, &small, 5000, 100);
    ck_assert_uint_eq(l.bucket[3], 16); /* it stands for the 15 skipped too */
    ck_assert(kf_hist_sampler_due(&smp));
}
END_TEST

#define THREADS 4
#define EACH    200000

static kf_histogram shared;

static void *observer(void *arg)
{
    long id = (long)arg;
    kf_hist_local l = {0};
    for (int i = 0; i < EACH; i++) {
        int64_t v = (i + id) % 2000;
        if (i % 2)
            kf_hist_observe(&shared, &small, v);
        else
            kf_hist_local_add(&l, &small, v);
        if (i % 256 == 0) kf_hist_merge(&shared, &small, &l);
    }
    kf_hist_merge(&shared, &small, &l);
    return NULL;
}

START_TEST(test_concurrent_counts_are_exact)
{
    memset(&shared, 0, sizeof shared);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, observer, (void *)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    kf_hist_snapshot s;
    kf_hist_read(&shared, &small, &s);
    ck_assert_uint_eq(s.count, (uint64_t)THREADS * EACH);
    /* Each thread's values run over 0..1999 evenly (EACH is a multiple of
     * 2000): 11 of 2000 are <= 10, 101 <= 100, 1001 <= 1000. */
    uint64_t rounds = (uint64_t)THREADS * EACH / 2000;
    ck_assert_uint_eq(s.cumulative[0], rounds * 11);
    ck_assert_uint_eq(s.cumulative[1], rounds * 101);
    ck_assert_uint_eq(s.cumulative[2], rounds * 1001);
    ck_assert_uint_eq(s.sum, rounds * (1999 * 2000 / 2));
}
END_TEST

static Suite *histogram_suite(void)
{
    Suite *s = suite_create("histogram");
    TCase *tc = tcase_create("observe");
    tcase_add_test(tc, test_bucket_bounds_are_inclusive);
    tcase_add_test(tc, test_read_is_cumulative_and_counts);
    tcase_add_test(tc, test_local_merge_adds_and_clears);
    tcase_add_test(tc, test_builtin_bounds);
    tcase_add_test(tc, test_concurrent_counts_are_exact);
    tcase_add_test(tc, test_sampler);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(histogram_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
