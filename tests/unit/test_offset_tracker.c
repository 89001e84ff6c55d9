/*
 * Unit tests for the per-partition offset tracker (dispatcher/offset_tracker.c).
 *
 * The tracker's one promise is that the watermark it reports is safe to
 * commit: every added offset below it is done, and it is as high as that
 * allows. Each test below breaks if the tracker commits past an unfinished
 * record (data loss after a restart) or stalls below a finished prefix
 * (endless replays), in a different situation: out-of-order completion,
 * transaction-marker gaps, bad calls, ring growth, reset, and many threads.
 */
#include "dispatcher/offset_tracker.h"

#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

/* Seeded so a failure replays the same way. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void shuffle(int64_t *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rnd() % i);
        int64_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

START_TEST(test_empty_tracker)
{
    kf_tracker *t = kf_tracker_new();
    ck_assert_ptr_nonnull(t);
    /* Nothing added: there is nothing to commit, and -1 says so. */
    ck_assert_int_eq(kf_tracker_watermark(t), -1);
    ck_assert_uint_eq(kf_tracker_pending(t), 0);
    ck_assert_int_eq(kf_tracker_done(t, 0), -1);
    kf_tracker_destroy(t);
    kf_tracker_destroy(NULL); /* accepts NULL */
}
END_TEST

START_TEST(test_out_of_order_completion)
{
    kf_tracker *t = kf_tracker_new();
    for (int64_t o = 100; o < 110; o++)
        ck_assert_int_eq(kf_tracker_add(t, o), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), 100);
    ck_assert_uint_eq(kf_tracker_pending(t), 10);

    /* Later records finish first: the watermark must stay at the lowest
     * unfinished one (committing 104 would lose 100 on a crash). */
    ck_assert_int_eq(kf_tracker_done(t, 103), 0);
    ck_assert_int_eq(kf_tracker_done(t, 101), 0);
    ck_assert_int_eq(kf_tracker_done(t, 102), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), 100);
    ck_assert_uint_eq(kf_tracker_pending(t), 7);

    /* The gap fills: it jumps over everything already done. */
    ck_assert_int_eq(kf_tracker_done(t, 100), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), 104);

    ck_assert_int_eq(kf_tracker_done(t, 109), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), 104);
    for (int64_t o = 108; o >= 105; o--) {
        ck_assert_int_eq(kf_tracker_done(t, o), 0);
        ck_assert_int_eq(kf_tracker_watermark(t), 104);
    }
    ck_assert_int_eq(kf_tracker_done(t, 104), 0);
    /* All done: one past the last added, the offset Kafka expects. */
    ck_assert_int_eq(kf_tracker_watermark(t), 110);
    ck_assert_uint_eq(kf_tracker_pending(t), 0);
    kf_tracker_destroy(t);
}
END_TEST

START_TEST(test_gaps_in_offsets)
{
    /* Transaction markers and compaction leave holes: 5, 9, 12 are the only
     * records. The watermark goes from record to record, never to a hole. */
    kf_tracker *t = kf_tracker_new();
    ck_assert_int_eq(kf_tracker_add(t, 5), 0);
    ck_assert_int_eq(kf_tracker_add(t, 9), 0);
    ck_assert_int_eq(kf_tracker_add(t, 12), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), 5);

    ck_assert_int_eq(kf_tracker_done(t, 9), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), 5);
    ck_assert_int_eq(kf_tracker_done(t, 5), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), 12); /* not 6, not 10 */
    ck_assert_uint_eq(kf_tracker_pending(t), 1);
    ck_assert_int_eq(kf_tracker_done(t, 12), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), 13);
    ck_assert_uint_eq(kf_tracker_pending(t), 0);

    /* The next record after a gap. */
    ck_assert_int_eq(kf_tracker_add(t, 20), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), 20);
    ck_assert_int_eq(kf_tracker_done(t, 20), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), 21);
    kf_tracker_destroy(t);
}
END_TEST

START_TEST(test_done_unknown_offset)
{
    kf_tracker *t = kf_tracker_new();
    ck_assert_int_eq(kf_tracker_add(t, 5), 0);
    ck_assert_int_eq(kf_tracker_add(t, 9), 0);
    ck_assert_int_eq(kf_tracker_add(t, 12), 0);

    /* Holes, below the first, above the last: never added. */
    ck_assert_int_eq(kf_tracker_done(t, 7), -1);
    ck_assert_int_eq(kf_tracker_done(t, 4), -1);
    ck_assert_int_eq(kf_tracker_done(t, 13), -1);
    ck_assert_int_eq(kf_tracker_done(t, -1), -1);
    ck_assert_int_eq(kf_tracker_done(t, INT64_MAX), -1);
    /* ... and they changed nothing. */
    ck_assert_uint_eq(kf_tracker_pending(t), 3);
    ck_assert_int_eq(kf_tracker_watermark(t), 5);
    kf_tracker_destroy(t);
}
END_TEST

START_TEST(test_double_done)
{
    kf_tracker *t = kf_tracker_new();
    for (int64_t o = 0; o < 4; o++)
        kf_tracker_add(t, o);

    /* Done twice while still above the watermark. */
    ck_assert_int_eq(kf_tracker_done(t, 2), 0);
    ck_assert_int_eq(kf_tracker_done(t, 2), -1);
    ck_assert_uint_eq(kf_tracker_pending(t), 3); /* counted once */

    /* Done twice after it dropped below the watermark. */
    ck_assert_int_eq(kf_tracker_done(t, 0), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), 1);
    ck_assert_int_eq(kf_tracker_done(t, 0), -1);
    ck_assert_uint_eq(kf_tracker_pending(t), 2);

    /* A second done must not complete some other record. */
    ck_assert_int_eq(kf_tracker_watermark(t), 1);
    ck_assert_int_eq(kf_tracker_done(t, 1), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), 3);
    ck_assert_int_eq(kf_tracker_done(t, 3), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), 4);
    ck_assert_uint_eq(kf_tracker_pending(t), 0);
    kf_tracker_destroy(t);
}
END_TEST

START_TEST(test_growth_past_1024)
{
    /* 5000 in flight with the first unfinished: the ring must grow (it
     * starts at 1024) without losing or reordering a slot. */
    enum { N = 5000 };
    kf_tracker *t = kf_tracker_new();
    for (int64_t o = 0; o < N; o++)
        ck_assert_int_eq(kf_tracker_add(t, o * 3), 0);
    ck_assert_uint_eq(kf_tracker_pending(t), N);

    int64_t *order = malloc(sizeof *order * (N - 1));
    for (int64_t i = 1; i < N; i++)
        order[i - 1] = i * 3;
    rng_state = 1;
    shuffle(order, N - 1);
    for (int64_t i = 0; i < N - 1; i++) {
        ck_assert_int_eq(kf_tracker_done(t, order[i]), 0);
        ck_assert_int_eq(kf_tracker_watermark(t), 0);
    }
    ck_assert_uint_eq(kf_tracker_pending(t), 1);
    ck_assert_int_eq(kf_tracker_done(t, 0), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), (N - 1) * 3 + 1);
    ck_assert_uint_eq(kf_tracker_pending(t), 0);
    free(order);
    kf_tracker_destroy(t);
}
END_TEST

START_TEST(test_growth_while_wrapped)
{
    /* Grow while the ring wraps around its end (head in the middle): a grow
     * that copied slots by raw index instead of from the head would scramble
     * the order and the binary search would miss offsets. */
    kf_tracker *t = kf_tracker_new();
    int64_t next = 0;
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(kf_tracker_add(t, next++), 0);
    for (int64_t o = 0; o < 700; o++)
        ck_assert_int_eq(kf_tracker_done(t, o), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), 700);
    /* 300 in use from slot 700; 2000 more wrap and force two doublings. */
    for (int i = 0; i < 2000; i++)
        ck_assert_int_eq(kf_tracker_add(t, next++), 0);
    ck_assert_uint_eq(kf_tracker_pending(t), 2300);
    /* Finish from the top down, checking the watermark never moves early. */
    for (int64_t o = next - 1; o > 700; o--) {
        ck_assert_int_eq(kf_tracker_done(t, o), 0);
        ck_assert_int_eq(kf_tracker_watermark(t), 700);
    }
    ck_assert_int_eq(kf_tracker_done(t, 700), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), next);
    ck_assert_uint_eq(kf_tracker_pending(t), 0);
    kf_tracker_destroy(t);
}
END_TEST

START_TEST(test_reset)
{
    kf_tracker *t = kf_tracker_new();
    for (int64_t o = 50; o < 60; o++)
        kf_tracker_add(t, o);
    kf_tracker_done(t, 55);
    kf_tracker_done(t, 50);
    ck_assert_int_eq(kf_tracker_watermark(t), 51);

    /* After a seek back the tracker starts over: nothing to commit, nothing
     * pending, and lower offsets may be added again. */
    kf_tracker_reset(t);
    ck_assert_int_eq(kf_tracker_watermark(t), -1);
    ck_assert_uint_eq(kf_tracker_pending(t), 0);
    ck_assert_int_eq(kf_tracker_done(t, 51), -1); /* the old records are gone */
    ck_assert_int_eq(kf_tracker_add(t, 10), 0);
    ck_assert_int_eq(kf_tracker_add(t, 11), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), 10);
    ck_assert_int_eq(kf_tracker_done(t, 11), 0);
    ck_assert_int_eq(kf_tracker_done(t, 10), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), 12);
    kf_tracker_destroy(t);
}
END_TEST

START_TEST(test_add_non_ascending_refused)
{
    kf_tracker *t = kf_tracker_new();
    ck_assert_int_eq(kf_tracker_add(t, 10), 0);
    ck_assert_int_eq(kf_tracker_add(t, 10), -1); /* duplicate */
    ck_assert_int_eq(kf_tracker_add(t, 9), -1);  /* rewind without reset */
    ck_assert_uint_eq(kf_tracker_pending(t), 1);
    ck_assert_int_eq(kf_tracker_add(t, 11), 0);

    /* Still refused once everything is done and the ring is empty. */
    kf_tracker_done(t, 10);
    kf_tracker_done(t, 11);
    ck_assert_int_eq(kf_tracker_add(t, 11), -1);
    ck_assert_int_eq(kf_tracker_add(t, 3), -1);
    ck_assert_int_eq(kf_tracker_watermark(t), 12);
    ck_assert_uint_eq(kf_tracker_pending(t), 0);
    kf_tracker_destroy(t);
}
END_TEST

/*
 * A random model check: offsets with random gaps, completed in random order,
 * with adds interleaved. After every step the watermark must equal the
 * smallest added offset not yet done (or last+1 when none is left).
 */
START_TEST(test_random_against_model)
{
    enum { N = 20000 };
    int64_t *offs = malloc(sizeof *offs * N);
    char *done = calloc(N, 1);
    kf_tracker *t = kf_tracker_new();
    rng_state = 42;
    size_t added = 0, lowest = 0, ndone = 0;
    int64_t next = 7;
    while (ndone < N) {
        if (added < N && (added == ndone || rnd() % 3 != 0)) {
            next += 1 + (int64_t)(rnd() % 4); /* gaps of 0..3 */
            offs[added] = next;
            ck_assert_int_eq(kf_tracker_add(t, next), 0);
            added++;
        } else {
            /* Finish a random unfinished one among the first 64 in flight. */
            size_t span = added - lowest < 64 ? added - lowest : 64;
            size_t i = lowest + (size_t)(rnd() % span);
            while (done[i])
                i = i + 1 < added ? i + 1 : lowest;
            ck_assert_int_eq(kf_tracker_done(t, offs[i]), 0);
            done[i] = 1;
            ndone++;
            while (lowest < added && done[lowest])
                lowest++;
        }
        int64_t want = lowest < added ? offs[lowest] : offs[added - 1] + 1;
        ck_assert_int_eq(kf_tracker_watermark(t), want);
        ck_assert_uint_eq(kf_tracker_pending(t), added - ndone);
    }
    free(offs);
    free(done);
    kf_tracker_destroy(t);
}
END_TEST

/* ---- kf_tracker_done_many ---------------------------------------------- */

START_TEST(test_done_many_out_of_order)
{
    kf_tracker *t = kf_tracker_new();
    for (int64_t o = 100; o < 120; o++)
        ck_assert_int_eq(kf_tracker_add(t, o), 0);

    /* Later records of a chunk, in any order: the watermark stays. */
    int64_t a[] = {105, 103, 101, 104, 119};
    ck_assert_uint_eq(kf_tracker_done_many(t, a, 5), 5);
    ck_assert_int_eq(kf_tracker_watermark(t), 100);
    ck_assert_uint_eq(kf_tracker_pending(t), 15);

    /* The gap fills, with the lowest last in the batch: it jumps over
     * everything done, to the first one not done (106). */
    int64_t b[] = {102, 100};
    ck_assert_uint_eq(kf_tracker_done_many(t, b, 2), 2);
    ck_assert_int_eq(kf_tracker_watermark(t), 106);
    ck_assert_uint_eq(kf_tracker_pending(t), 13);

    /* The rest, descending, in one batch: one past the last. */
    int64_t c[13];
    for (int i = 0; i < 13; i++)
        c[i] = 118 - i; /* 118 .. 106 */
    ck_assert_uint_eq(kf_tracker_done_many(t, c, 13), 13);
    ck_assert_int_eq(kf_tracker_watermark(t), 120);
    ck_assert_uint_eq(kf_tracker_pending(t), 0);

    /* Nothing to do. */
    ck_assert_uint_eq(kf_tracker_done_many(t, c, 0), 0);
    ck_assert_uint_eq(kf_tracker_done_many(t, NULL, 0), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), 120);
    kf_tracker_destroy(t);
}
END_TEST

START_TEST(test_done_many_ignores_duplicates_and_unknown)
{
    kf_tracker *t = kf_tracker_new();
    /* On an empty tracker nothing is marked and nothing changes. */
    int64_t none[] = {0, 1, 5};
    ck_assert_uint_eq(kf_tracker_done_many(t, none, 3), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), -1);

    ck_assert_int_eq(kf_tracker_add(t, 5), 0);
    ck_assert_int_eq(kf_tracker_add(t, 9), 0);
    ck_assert_int_eq(kf_tracker_add(t, 12), 0);
    ck_assert_int_eq(kf_tracker_add(t, 20), 0);

    /* 9 twice, holes, below, above, extremes: only 9 and 12 count. */
    int64_t a[] = {9, 9, 7, 4, 13, -1, INT64_MAX, 12, INT64_MIN, 12};
    ck_assert_uint_eq(kf_tracker_done_many(t, a, 10), 2);
    ck_assert_uint_eq(kf_tracker_pending(t), 2);
    ck_assert_int_eq(kf_tracker_watermark(t), 5);

    /* 9 is done already; 5 is new (once, though given twice). */
    int64_t b[] = {5, 9, 5};
    ck_assert_uint_eq(kf_tracker_done_many(t, b, 3), 1);
    ck_assert_int_eq(kf_tracker_watermark(t), 20); /* over the done 9 and 12 */
    ck_assert_uint_eq(kf_tracker_pending(t), 1);

    /* Below the watermark now: ignored, and not taken for 20. */
    int64_t c[] = {5, 12, 9};
    ck_assert_uint_eq(kf_tracker_done_many(t, c, 3), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), 20);
    ck_assert_uint_eq(kf_tracker_pending(t), 1);

    int64_t d[] = {21, 20, 20};
    ck_assert_uint_eq(kf_tracker_done_many(t, d, 3), 1);
    ck_assert_int_eq(kf_tracker_watermark(t), 21);
    ck_assert_uint_eq(kf_tracker_pending(t), 0);
    kf_tracker_destroy(t);
}
END_TEST

/*
 * kf_tracker_done_many must be exactly n calls of kf_tracker_done: the same
 * count marked and the same watermark and pending count after every batch.
 * Two trackers get the same adds (with gaps, enough to grow and wrap the
 * ring), then the same random batches (in-flight offsets in any order,
 * duplicates, holes, offsets already done or below the watermark): one
 * through done_many, the other one offset at a time.
 */
START_TEST(test_done_many_matches_single)
{
    enum { ROUNDS = 1000, MAXB = 64 };
    rng_state = 2024;
    int64_t *offs = malloc(sizeof *offs * 4096);
    for (int round = 0; round < ROUNDS; round++) {
        kf_tracker *a = kf_tracker_new(), *b = kf_tracker_new();
        /* Most rounds small; every 50th big enough to grow the ring. */
        size_t total = round % 50 == 0 ? 1500 + (size_t)(rnd() % 2500) : 1 + (size_t)(rnd() % 200);
        size_t added = 0;
        int64_t next = (int64_t)(rnd() % 1000);
        while (added < total || kf_tracker_pending(b) > 0) {
            /* Add a few (consumer side). */
            size_t k = added < total ? (size_t)(rnd() % 40) : 0;
            for (size_t i = 0; i < k && added < total; i++) {
                next += 1 + (int64_t)(rnd() % 3);
                offs[added++] = next;
                ck_assert_int_eq(kf_tracker_add(a, next), 0);
                ck_assert_int_eq(kf_tracker_add(b, next), 0);
            }
            if (added == 0) continue;
            /* One batch, mostly from a window above the watermark. */
            int64_t batch[MAXB];
            size_t n = (size_t)(rnd() % (MAXB + 1));
            int64_t wm = kf_tracker_watermark(b);
            for (size_t i = 0; i < n; i++) {
                uint64_t kind = rnd() % 10;
                if (kind < 7) /* an added offset, likely still in flight */
                    batch[i] = offs[added - 1 - (size_t)(rnd() % (added < 128 ? added : 128))];
                else if (kind == 7 && i > 0) /* a duplicate within the batch */
                    batch[i] = batch[rnd() % i];
                else if (kind == 8) /* anything near: a hole, or below */
                    batch[i] = wm - 5 + (int64_t)(rnd() % 20);
                else /* beyond the last added */
                    batch[i] = next + 1 + (int64_t)(rnd() % 5);
            }
            size_t want = 0;
            for (size_t i = 0; i < n; i++)
                want += kf_tracker_done(b, batch[i]) == 0;
            ck_assert_uint_eq(kf_tracker_done_many(a, batch, n), want);
            ck_assert_int_eq(kf_tracker_watermark(a), kf_tracker_watermark(b));
            ck_assert_uint_eq(kf_tracker_pending(a), kf_tracker_pending(b));
            /* Once everything is added, make sure it drains: finish the
             * lowest in flight too. */
            if (added == total && kf_tracker_pending(b) > 0) {
                int64_t lo = kf_tracker_watermark(b);
                ck_assert_int_eq(kf_tracker_done(b, lo), 0);
                ck_assert_uint_eq(kf_tracker_done_many(a, &lo, 1), 1);
                ck_assert_int_eq(kf_tracker_watermark(a), kf_tracker_watermark(b));
            }
        }
        ck_assert_int_eq(kf_tracker_watermark(a), offs[total - 1] + 1);
        ck_assert_uint_eq(kf_tracker_pending(a), 0);
        kf_tracker_destroy(a);
        kf_tracker_destroy(b);
    }
    free(offs);
}
END_TEST

/* ---- concurrency -------------------------------------------------------- */

enum { CONC_N = 100000, CONC_THREADS = 4 };

typedef struct conc_arg {
    kf_tracker *t;
    int id;
    atomic_int *failures;
} conc_arg;

static void *conc_worker(void *p)
{
    conc_arg *a = p;
    /* Thread k finishes offsets k, k+4, ... from the top down, so the four
     * threads race over the same region of the ring all the time. */
    for (int64_t o = CONC_N - CONC_THREADS + a->id; o >= 0; o -= CONC_THREADS)
        if (kf_tracker_done(a->t, o) != 0) atomic_fetch_add(a->failures, 1);
    return NULL;
}

typedef struct reader_arg {
    kf_tracker *t;
    atomic_int *stop;
    atomic_int *backwards;
} reader_arg;

static void *conc_reader(void *p)
{
    reader_arg *a = p;
    int64_t last = -1;
    while (!atomic_load(a->stop)) {
        int64_t w = kf_tracker_watermark(a->t);
        if (w < last) atomic_fetch_add(a->backwards, 1);
        last = w;
    }
    return NULL;
}

/* Runs the race: CONC_THREADS workers finish every offset with `worker`
 * while a reader checks the watermark never moves back; then all is done. */
static void run_race(void *(*worker)(void *))
{
    kf_tracker *t = kf_tracker_new();
    for (int64_t o = 0; o < CONC_N; o++)
        ck_assert_int_eq(kf_tracker_add(t, o), 0);

    atomic_int failures = 0, stop = 0, backwards = 0;
    pthread_t th[CONC_THREADS], rd;
    conc_arg args[CONC_THREADS];
    reader_arg ra = {t, &stop, &backwards};
    ck_assert_int_eq(pthread_create(&rd, NULL, conc_reader, &ra), 0);
    for (int i = 0; i < CONC_THREADS; i++) {
        args[i] = (conc_arg){t, i, &failures};
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < CONC_THREADS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&stop, 1);
    pthread_join(rd, NULL);

    ck_assert_int_eq(atomic_load(&failures), 0);
    ck_assert_int_eq(atomic_load(&backwards), 0); /* a watermark never moves back */
    ck_assert_int_eq(kf_tracker_watermark(t), CONC_N);
    ck_assert_uint_eq(kf_tracker_pending(t), 0);
    kf_tracker_destroy(t);
}

START_TEST(test_concurrent_done)
{
    run_race(conc_worker);
}
END_TEST

/* The same race in batches, as workers finish chunks: thread k finishes
 * its offsets top down, 32 at a time. */
static void *conc_worker_many(void *p)
{
    conc_arg *a = p;
    int64_t batch[32];
    size_t n = 0;
    for (int64_t o = CONC_N - CONC_THREADS + a->id; o >= 0; o -= CONC_THREADS) {
        batch[n++] = o;
        if (n == 32 || o < CONC_THREADS) {
            if (kf_tracker_done_many(a->t, batch, n) != n) atomic_fetch_add(a->failures, 1);
            n = 0;
        }
    }
    return NULL;
}

START_TEST(test_concurrent_done_many)
{
    run_race(conc_worker_many);
}
END_TEST

/* Adds from one thread (the consumer) while others complete (the workers). */
typedef struct feed_arg {
    kf_tracker *t;
    atomic_llong *added_upto; /* offsets < this are added */
} feed_arg;

static void *feeder(void *p)
{
    feed_arg *a = p;
    for (int64_t o = 0; o < CONC_N; o++) {
        if (kf_tracker_add(a->t, o) != 0) abort();
        atomic_store(a->added_upto, o + 1);
    }
    return NULL;
}

typedef struct finisher_arg {
    kf_tracker *t;
    atomic_llong *added_upto;
    int id;
    atomic_int *failures;
} finisher_arg;

static void *finisher(void *p)
{
    finisher_arg *a = p;
    for (int64_t o = a->id; o < CONC_N; o += CONC_THREADS) {
        while (atomic_load(a->added_upto) <= o)
            sched_yield();
        if (kf_tracker_done(a->t, o) != 0) atomic_fetch_add(a->failures, 1);
    }
    return NULL;
}

START_TEST(test_concurrent_add_and_done)
{
    kf_tracker *t = kf_tracker_new();
    atomic_llong added_upto = 0;
    atomic_int failures = 0;
    feed_arg fa = {t, &added_upto};
    finisher_arg args[CONC_THREADS];
    pthread_t f, th[CONC_THREADS];
    ck_assert_int_eq(pthread_create(&f, NULL, feeder, &fa), 0);
    for (int i = 0; i < CONC_THREADS; i++) {
        args[i] = (finisher_arg){t, &added_upto, i, &failures};
        ck_assert_int_eq(pthread_create(&th[i], NULL, finisher, &args[i]), 0);
    }
    pthread_join(f, NULL);
    for (int i = 0; i < CONC_THREADS; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(atomic_load(&failures), 0);
    ck_assert_int_eq(kf_tracker_watermark(t), CONC_N);
    ck_assert_uint_eq(kf_tracker_pending(t), 0);
    kf_tracker_destroy(t);
}
END_TEST

static Suite *tracker_suite(void)
{
    Suite *s = suite_create("offset_tracker");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_empty_tracker);
    tcase_add_test(tc, test_out_of_order_completion);
    tcase_add_test(tc, test_gaps_in_offsets);
    tcase_add_test(tc, test_done_unknown_offset);
    tcase_add_test(tc, test_double_done);
    tcase_add_test(tc, test_growth_past_1024);
    tcase_add_test(tc, test_growth_while_wrapped);
    tcase_add_test(tc, test_reset);
    tcase_add_test(tc, test_add_non_ascending_refused);
    tcase_add_test(tc, test_random_against_model);
    tcase_add_test(tc, test_done_many_out_of_order);
    tcase_add_test(tc, test_done_many_ignores_duplicates_and_unknown);
    tcase_add_test(tc, test_done_many_matches_single);
    tcase_add_test(tc, test_concurrent_done);
    tcase_add_test(tc, test_concurrent_done_many);
    tcase_add_test(tc, test_concurrent_add_and_done);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tracker_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
