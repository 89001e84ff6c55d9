/*
 * Unit tests for retry backoff (dispatcher/backoff.c).
 *
 * The contract (backoff.h): for attempt n the ceiling is
 * min(max_ms, base_ms * 2^(n-1)) and the delay is uniform in
 * [ceiling/2, ceiling]. These tests fail if a retry could come back sooner
 * than half the ceiling (hammering a sick downstream), later than the cap
 * (a record stuck for hours), go negative or overflow for absurd attempt
 * numbers, stop growing, or lose its jitter (every record retrying in the
 * same millisecond).
 */
#include "dispatcher/backoff.h"

#include <check.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int64_t ceiling_of(int attempt, int64_t base, int64_t max)
{
    /* Overflow-safe: once doubling would pass max, the answer is max. */
    int64_t c = base;
    for (int i = 1; i < attempt && c < max; i++)
        c = c > max / 2 ? max : c * 2;
    return c < max ? c : max;
}

/* A few fixed "random" values that stress the edges of a modulo. */
static const uint64_t EDGE_RND[] = {0,
                                    1,
                                    2,
                                    3,
                                    99,
                                    4999,
                                    5000,
                                    5001,
                                    UINT32_MAX,
                                    UINT64_MAX,
                                    UINT64_MAX - 1,
                                    1ull << 63,
                                    12345678901ull};

START_TEST(test_bounds_attempts_1_to_30)
{
    const int64_t base = 100, max = 10000;
    for (int a = 1; a <= 30; a++) {
        int64_t c = ceiling_of(a, base, max);
        for (size_t i = 0; i < sizeof EDGE_RND / sizeof *EDGE_RND; i++) {
            int64_t d = kf_backoff_ms(a, base, max, EDGE_RND[i]);
            ck_assert_msg(d >= c / 2 && d <= c, "attempt %d rnd %llu: %lld not in [%lld, %lld]", a,
                          (unsigned long long)EDGE_RND[i], (long long)d, (long long)(c / 2),
                          (long long)c);
        }
        for (int i = 0; i < 500; i++) {
            int64_t d = kf_backoff_ms(a, base, max, kf_backoff_random());
            ck_assert_msg(d >= c / 2 && d <= c, "attempt %d: %lld not in [%lld, %lld]", a,
                          (long long)d, (long long)(c / 2), (long long)c);
        }
    }
}
END_TEST

START_TEST(test_capped_at_max)
{
    /* 100 * 2^7 = 12800 > 10000: from attempt 8 on the cap rules. */
    for (int a = 8; a <= 40; a++) {
        int64_t hi = 0;
        for (int i = 0; i < 2000; i++) {
            int64_t d = kf_backoff_ms(a, 100, 10000, kf_backoff_random());
            ck_assert_int_le(d, 10000);
            ck_assert_int_ge(d, 5000);
            if (d > hi) hi = d;
        }
        ck_assert_int_ge(hi, 9500); /* the cap is reached, not some lower plateau */
    }
    /* max below base: base wins (the config forbids it, the function copes). */
    for (int i = 0; i < 100; i++) {
        int64_t d = kf_backoff_ms(3, 400, 100, kf_backoff_random());
        ck_assert_int_ge(d, 200);
        ck_assert_int_le(d, 400);
    }
}
END_TEST

START_TEST(test_grows_exponentially)
{
    /* Observed [min, max] per attempt must double until the cap. 4000 draws
     * make hitting within 3% of each end a certainty for a uniform draw. */
    const int64_t base = 50, max = 1 << 20;
    int64_t prev_lo = 0, prev_hi = 0;
    for (int a = 1; a <= 15; a++) {
        int64_t lo = INT64_MAX, hi = 0;
        for (int i = 0; i < 4000; i++) {
            int64_t d = kf_backoff_ms(a, base, max, kf_backoff_random());
            if (d < lo) lo = d;
            if (d > hi) hi = d;
        }
        int64_t c = base << (a - 1);
        ck_assert_int_ge(lo, c / 2);
        ck_assert_int_le(hi, c);
        ck_assert_int_le(lo, c / 2 + (c / 2) * 3 / 100 + 1);
        ck_assert_int_ge(hi, c - (c / 2) * 3 / 100 - 1);
        if (a > 1) {
            ck_assert_int_gt(lo, prev_lo);
            ck_assert_int_gt(hi, prev_hi);
            /* Doubling, give or take the rounding of ceiling/2. */
            ck_assert_int_ge(hi, 2 * prev_hi - 2 * (c / 100) - 2);
        }
        prev_lo = lo;
        prev_hi = hi;
    }
}
END_TEST

START_TEST(test_huge_and_odd_attempts)
{
    const int attempts[] = {31, 62, 63, 64, 100, 1000, 1 << 20, INT_MAX};
    for (size_t i = 0; i < sizeof attempts / sizeof *attempts; i++) {
        for (size_t j = 0; j < sizeof EDGE_RND / sizeof *EDGE_RND; j++) {
            int64_t d = kf_backoff_ms(attempts[i], 100, 3600000, EDGE_RND[j]);
            ck_assert_int_ge(d, 1800000);
            ck_assert_int_le(d, 3600000);
        }
    }
    /* Attempt 0 or negative counts as the first retry; base 0 as 1 ms. */
    for (int i = 0; i < 200; i++) {
        int64_t d0 = kf_backoff_ms(0, 100, 1000, kf_backoff_random());
        int64_t dn = kf_backoff_ms(INT_MIN, 100, 1000, kf_backoff_random());
        ck_assert(d0 >= 50 && d0 <= 100);
        ck_assert(dn >= 50 && dn <= 100);
        int64_t z = kf_backoff_ms(5, 0, 0, kf_backoff_random());
        ck_assert(z >= 0 && z <= 1);
    }
}
END_TEST

/*
 * With a max near INT64_MAX the doubling ceiling must not overflow (signed
 * overflow is undefined behaviour: UBSan aborts; otherwise the ceiling, and
 * the delay with it, wraps negative). A validated config keeps
 * max_backoff_ms <= 3600000, but the function takes int64_t bounds and
 * promises a delay in [ceiling/2, ceiling] for all of them.
 */
START_TEST(test_no_overflow_with_huge_max)
{
    for (int a = 1; a <= 200; a++) {
        int64_t c = ceiling_of(a, 1000, INT64_MAX);
        for (size_t j = 0; j < sizeof EDGE_RND / sizeof *EDGE_RND; j++) {
            int64_t d = kf_backoff_ms(a, 1000, INT64_MAX, EDGE_RND[j]);
            ck_assert_msg(d >= c / 2 && d <= c, "attempt %d: %lld not in [%lld, %lld]", a,
                          (long long)d, (long long)(c / 2), (long long)c);
        }
    }
}
END_TEST

START_TEST(test_jitter_covers_the_whole_range)
{
    /* A tiny range shows every value is reachable and nothing else is:
     * ceiling 4 -> {2, 3, 4}. */
    int seen[8] = {0};
    for (uint64_t r = 0; r < 300; r++) {
        int64_t d = kf_backoff_ms(1, 4, 4, r);
        ck_assert(d >= 2 && d <= 4);
        seen[d]++;
    }
    ck_assert_int_gt(seen[2], 0);
    ck_assert_int_gt(seen[3], 0);
    ck_assert_int_gt(seen[4], 0);
}
END_TEST

START_TEST(test_jitter_spreads)
{
    /* Many records retrying at once must not all come back together. */
    enum { N = 4000 };
    static char hit[1601];
    memset(hit, 0, sizeof hit);
    double sum = 0;
    int distinct = 0;
    int64_t first = kf_backoff_ms(5, 100, 10000, kf_backoff_random());
    int all_equal = 1;
    for (int i = 0; i < N; i++) {
        int64_t d = kf_backoff_ms(5, 100, 10000, kf_backoff_random()); /* [800, 1600] */
        if (d != first) all_equal = 0;
        if (!hit[d]++) distinct++;
        sum += (double)d;
    }
    ck_assert(!all_equal);
    ck_assert_int_gt(distinct, 600); /* 801 possible values, 4000 draws */
    double mean = sum / N;
    ck_assert_msg(mean > 1170 && mean < 1230, "mean %.1f, want about 1200", mean);
}
END_TEST

START_TEST(test_random_source_bits)
{
    /* Every bit of the random source flips about half the time: a source with
     * stuck low bits would make `rnd % range` collapse for small ranges. */
    enum { N = 20000 };
    int ones[64] = {0};
    uint64_t prev = kf_backoff_random();
    int repeats = 0;
    for (int i = 0; i < N; i++) {
        uint64_t r = kf_backoff_random();
        if (r == prev) repeats++;
        prev = r;
        for (int b = 0; b < 64; b++)
            ones[b] += (int)((r >> b) & 1);
    }
    ck_assert_int_eq(repeats, 0);
    for (int b = 0; b < 64; b++)
        ck_assert_msg(ones[b] > N * 45 / 100 && ones[b] < N * 55 / 100, "bit %d set %d/%d", b,
                      ones[b], N);
}
END_TEST

/* ---- thread safety of the random source --------------------------------- */

enum { RT_THREADS = 4, RT_N = 20000 };

static void *draw_many(void *p)
{
    uint64_t *out = p;
    for (int i = 0; i < RT_N; i++)
        out[i] = kf_backoff_random();
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(test_random_source_threads)
{
    /* Four threads drawing at once never get the same value twice (a racy
     * state update would hand two threads the same draw). */
    uint64_t *all = malloc(sizeof *all * RT_THREADS * RT_N);
    pthread_t th[RT_THREADS];
    for (int i = 0; i < RT_THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, draw_many, all + (size_t)i * RT_N), 0);
    for (int i = 0; i < RT_THREADS; i++)
        pthread_join(th[i], NULL);
    qsort(all, (size_t)RT_THREADS * RT_N, sizeof *all, cmp_u64);
    for (size_t i = 1; i < (size_t)RT_THREADS * RT_N; i++)
        ck_assert(all[i] != all[i - 1]);
    free(all);
}
END_TEST

static Suite *backoff_suite(void)
{
    Suite *s = suite_create("backoff");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_bounds_attempts_1_to_30);
    tcase_add_test(tc, test_capped_at_max);
    tcase_add_test(tc, test_grows_exponentially);
    tcase_add_test(tc, test_huge_and_odd_attempts);
    tcase_add_test(tc, test_no_overflow_with_huge_max);
    tcase_add_test(tc, test_jitter_covers_the_whole_range);
    tcase_add_test(tc, test_jitter_spreads);
    tcase_add_test(tc, test_random_source_bits);
    tcase_add_test(tc, test_random_source_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(backoff_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
