/*
 * Unit tests for the ordering lanes (dispatcher/lanes.c), the structure that
 * decides which records may run at the same time and in what order.
 *
 * The lanes make no calls of their own and take the time as an argument, so
 * the tests play the dispatcher's part by hand: "takers" stand for worker
 * threads, and a simulated clock drives retry delays. What would break:
 *   - a key (or partition) taken by two takers at once, or out of order;
 *   - a retried record taken before its delay, or never again;
 *   - a requeue that loses or reorders records;
 *   - drop_partition removing the wrong records or leaving dangling ones;
 *   - lanes kept after they empty (memory growing with every key ever seen).
 * The model test at the end runs thousands of random operations against a
 * plain-array model of the same rules and checks every answer.
 */
#include "dispatcher/lanes.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
/* From libasan (its header, sanitizer/allocator_interface.h, is not
 * installed here); mallinfo2 does not see ASan's allocator. */
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t heap_in_use(void)
{
    return __sanitizer_get_current_allocated_bytes();
}
#else
#include <malloc.h>
static size_t heap_in_use(void)
{
    return mallinfo2().uordblks;
}
#endif

/* ---- helpers ------------------------------------------------------------ */

static kf_partition *P[2];

static void setup(void)
{
    P[0] = kf_partition_new("t", 0);
    P[1] = kf_partition_new("t", 1);
    ck_assert_ptr_nonnull(P[0]);
    ck_assert_ptr_nonnull(P[1]);
}

static void teardown(void)
{
    kf_partition_unref(P[0]);
    kf_partition_unref(P[1]);
}

/* A record of partition p with `key` (NULL for a null key); `id` goes in the
 * offset so tests can tell records apart. */
static kf_rec *mk(int p, const char *key, int64_t id)
{
    kf_rec *r = kf_rec_new(P[p], id, 0, key, key ? strlen(key) : 0, "v", 1, NULL, 0);
    ck_assert_ptr_nonnull(r);
    return r;
}

static kf_rec *push(kf_lanes *ls, int p, const char *key, int64_t id)
{
    kf_rec *r = mk(p, key, id);
    ck_assert_int_eq(kf_lanes_push(ls, r), 0);
    return r;
}

static int64_t id_of(const kf_rec *r)
{
    return r->view.offset;
}

/* Asserts the taken records are exactly `want` ids, in order. */
#define ASSERT_IDS(out, n, ...)                                                                    \
    do {                                                                                           \
        const int64_t want_[] = {__VA_ARGS__};                                                     \
        size_t nw_ = sizeof want_ / sizeof *want_;                                                 \
        ck_assert_uint_eq((n), nw_);                                                               \
        for (size_t i_ = 0; i_ < nw_; i_++)                                                        \
            ck_assert_msg(id_of((out)[i_]) == want_[i_], "record %zu: id %lld, want %lld", i_,     \
                          (long long)id_of((out)[i_]), (long long)want_[i_]);                      \
    } while (0)

static void free_all(kf_rec **recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kf_rec_free(recs[i]);
}

static void drop_free(kf_rec *r, void *arg)
{
    size_t *count = arg;
    if (count) (*count)++;
    kf_rec_free(r);
}

/* ---- key mode ----------------------------------------------------------- */

START_TEST(test_key_same_key_serialised_in_order)
{
    kf_lanes *ls = kf_lanes_new(KF_ORDER_KEY);
    kf_rec *out[16];
    push(ls, 0, "a", 1);
    push(ls, 0, "a", 2);
    push(ls, 0, "a", 3);
    ck_assert_uint_eq(kf_lanes_queued(ls), 3);
    ck_assert(kf_lanes_runnable(ls));

    /* Worker 1 takes the first record: the lane is now held. */
    size_t n = kf_lanes_take(ls, 0, 1, out);
    ASSERT_IDS(out, n, 1);
    kf_lane *lane = out[0]->lane;
    ck_assert_ptr_nonnull(lane);
    kf_rec *first = out[0];

    /* Worker 2 must get nothing of key a while worker 1 holds it, even as
     * more records of the key arrive. */
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 16, out), 0);
    push(ls, 0, "a", 4);
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 16, out), 0);
    ck_assert(!kf_lanes_runnable(ls));
    ck_assert_uint_eq(kf_lanes_queued(ls), 3);

    kf_lanes_release(ls, lane, 0);
    kf_rec_free(first);
    ck_assert(kf_lanes_runnable(ls));
    n = kf_lanes_take(ls, 0, 16, out);
    ASSERT_IDS(out, n, 2, 3, 4);
    ck_assert_ptr_eq(out[0]->lane, out[2]->lane);
    ck_assert_uint_eq(kf_lanes_queued(ls), 0);
    kf_lanes_release(ls, out[0]->lane, 0);
    free_all(out, n);
    ck_assert(!kf_lanes_runnable(ls));
    kf_lanes_destroy(ls, drop_free, NULL);
}
END_TEST

START_TEST(test_key_different_keys_in_parallel)
{
    kf_lanes *ls = kf_lanes_new(KF_ORDER_KEY);
    kf_rec *w1[4], *w2[4], *w3[4], *w4[4];
    push(ls, 0, "a", 1);
    push(ls, 0, "b", 2);
    push(ls, 1, "a", 3); /* same key, other partition: its own lane */
    push(ls, 0, NULL, 4);

    /* Four workers each take one record, all held at the same time. */
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 1, w1), 1);
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 1, w2), 1);
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 1, w3), 1);
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 1, w4), 1);
    ASSERT_IDS(w1, 1, 1);
    ASSERT_IDS(w2, 1, 2);
    ASSERT_IDS(w3, 1, 3);
    ASSERT_IDS(w4, 1, 4);
    ck_assert_ptr_ne(w1[0]->lane, w2[0]->lane);
    ck_assert_ptr_ne(w1[0]->lane, w3[0]->lane);

    /* A second record of key "b" waits for its own lane only. */
    push(ls, 0, "b", 5);
    push(ls, 0, "c", 6);
    kf_rec *w5[4];
    size_t n = kf_lanes_take(ls, 0, 4, w5);
    ASSERT_IDS(w5, n, 6);
    kf_lanes_release(ls, w2[0]->lane, 0);
    kf_rec *w6[4];
    n = kf_lanes_take(ls, 0, 4, w6);
    ASSERT_IDS(w6, n, 5);

    kf_lanes_release(ls, w1[0]->lane, 0);
    kf_lanes_release(ls, w3[0]->lane, 0);
    kf_lanes_release(ls, w4[0]->lane, 0);
    kf_lanes_release(ls, w5[0]->lane, 0);
    kf_lanes_release(ls, w6[0]->lane, 0);
    kf_rec *all[] = {w1[0], w2[0], w3[0], w4[0], w5[0], w6[0]};
    free_all(all, 6);
    ck_assert_uint_eq(kf_lanes_queued(ls), 0);
    kf_lanes_destroy(ls, drop_free, NULL);
}
END_TEST

START_TEST(test_key_chunk_spans_lanes_in_order)
{
    /* A bigger budget takes whole lanes one after another, each contiguous
     * and in order, and holds every lane it took from. */
    kf_lanes *ls = kf_lanes_new(KF_ORDER_KEY);
    kf_rec *out[16];
    push(ls, 0, "a", 1);
    push(ls, 0, "b", 2);
    push(ls, 0, "a", 3);
    push(ls, 0, "c", 4);
    push(ls, 0, "b", 5);
    push(ls, 0, "c", 6);
    size_t n = kf_lanes_take(ls, 0, 5, out);
    ASSERT_IDS(out, n, 1, 3, 2, 5, 4);
    /* c's lane was taken from (4), so 6 is held back with it. */
    kf_rec *other[4];
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 4, other), 0);
    ck_assert_uint_eq(kf_lanes_queued(ls), 1);
    kf_lanes_release(ls, out[0]->lane, 0);
    kf_lanes_release(ls, out[2]->lane, 0);
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 4, other), 0);
    kf_lanes_release(ls, out[4]->lane, 0);
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 4, other), 1);
    ASSERT_IDS(other, 1, 6);
    kf_lanes_release(ls, other[0]->lane, 0);
    free_all(out, n);
    free_all(other, 1);
    kf_lanes_destroy(ls, drop_free, NULL);
}
END_TEST

/* ---- partition and unordered modes ---------------------------------------- */

START_TEST(test_partition_mode_serialises_partition)
{
    kf_lanes *ls = kf_lanes_new(KF_ORDER_PARTITION);
    kf_rec *a[4], *b[4], *c[4];
    push(ls, 0, "a", 1);
    push(ls, 0, "b", 2); /* other key, same partition: same lane */
    push(ls, 1, "a", 3);
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 1, a), 1);
    ASSERT_IDS(a, 1, 1);
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 1, b), 1);
    ASSERT_IDS(b, 1, 3);                              /* partition 1 runs in parallel */
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 4, c), 0); /* 2 waits for partition 0 */
    kf_lanes_release(ls, a[0]->lane, 0);
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 4, c), 1);
    ASSERT_IDS(c, 1, 2);
    ck_assert_ptr_eq(c[0]->lane, a[0]->lane);
    kf_lanes_release(ls, b[0]->lane, 0);
    kf_lanes_release(ls, c[0]->lane, 0);
    kf_rec *all[] = {a[0], b[0], c[0]};
    free_all(all, 3);
    kf_lanes_destroy(ls, drop_free, NULL);
}
END_TEST

START_TEST(test_unordered_shared_lane)
{
    kf_lanes *ls = kf_lanes_new(KF_ORDER_UNORDERED);
    kf_rec *w1[4], *w2[4], *w3[4], *w4[4];
    for (int i = 1; i <= 5; i++)
        push(ls, i % 2, "same", i);
    /* Several takers at once, same key and partition: nothing is held. */
    size_t n1 = kf_lanes_take(ls, 0, 2, w1);
    size_t n2 = kf_lanes_take(ls, 0, 2, w2);
    size_t n3 = kf_lanes_take(ls, 0, 2, w3);
    ASSERT_IDS(w1, n1, 1, 2);
    ASSERT_IDS(w2, n2, 3, 4);
    ASSERT_IDS(w3, n3, 5);
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 2, w4), 0);
    ck_assert(!kf_lanes_runnable(ls));
    /* Releasing the shared lane is harmless, even several times. */
    kf_lanes_release(ls, w1[0]->lane, 0);
    kf_lanes_release(ls, w2[0]->lane, 0);
    push(ls, 0, "same", 6);
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 2, w4), 1);
    ASSERT_IDS(w4, 1, 6);
    kf_lanes_release(ls, w3[0]->lane, 0);
    kf_lanes_release(ls, w4[0]->lane, 0);
    free_all(w1, n1);
    free_all(w2, n2);
    free_all(w3, n3);
    free_all(w4, 1);
    kf_lanes_destroy(ls, drop_free, NULL);
}
END_TEST

/* ---- requeue and delays ------------------------------------------------ */

START_TEST(test_requeue_puts_back_in_order_and_delays)
{
    kf_lanes *ls = kf_lanes_new(KF_ORDER_KEY);
    kf_rec *out[8];
    push(ls, 0, "a", 1);
    push(ls, 0, "a", 2);
    push(ls, 0, "a", 3);
    size_t n = kf_lanes_take(ls, 0, 8, out);
    ASSERT_IDS(out, n, 1, 2, 3);
    kf_lane *lane = out[0]->lane;

    /* 1 failed; 2 goes back with it (it was behind 1); 3 is dropped by the
     * test as if done. Meanwhile 4 arrives. */
    kf_rec *back[] = {out[0], out[1]};
    ck_assert_int_eq(kf_lanes_requeue(ls, back, 2, 1000), 0);
    kf_rec_free(out[2]);
    push(ls, 0, "a", 4);
    ck_assert_uint_eq(kf_lanes_queued(ls), 3);
    kf_lanes_release(ls, lane, 10);

    /* Not before ready_at, and the key's later record waits behind it. */
    ck_assert(!kf_lanes_runnable(ls));
    ck_assert_int_eq(kf_lanes_next_due(ls), 1000);
    ck_assert_uint_eq(kf_lanes_take(ls, 10, 8, out), 0);
    ck_assert_uint_eq(kf_lanes_take(ls, 999, 8, out), 0);
    /* Other keys are not held up. */
    push(ls, 0, "b", 9);
    n = kf_lanes_take(ls, 999, 8, out);
    ASSERT_IDS(out, n, 9);
    kf_lanes_release(ls, out[0]->lane, 999);
    kf_rec_free(out[0]);

    n = kf_lanes_take(ls, 1000, 8, out);
    ASSERT_IDS(out, n, 1, 2, 4);
    ck_assert_int_eq(kf_lanes_next_due(ls), -1);
    kf_lanes_release(ls, out[0]->lane, 1000);
    free_all(out, n);
    kf_lanes_destroy(ls, drop_free, NULL);
}
END_TEST

START_TEST(test_requeue_earlier_delay_does_not_shorten)
{
    /* Two requeues of the same lane: the later ready time wins. */
    kf_lanes *ls = kf_lanes_new(KF_ORDER_KEY);
    kf_rec *out[8];
    push(ls, 0, "a", 1);
    push(ls, 0, "a", 2);
    size_t n = kf_lanes_take(ls, 0, 8, out);
    ASSERT_IDS(out, n, 1, 2);
    ck_assert_int_eq(kf_lanes_requeue(ls, &out[1], 1, 500), 0);
    ck_assert_int_eq(kf_lanes_requeue(ls, &out[0], 1, 200), 0);
    kf_lanes_release(ls, out[0]->lane, 0);
    ck_assert_uint_eq(kf_lanes_take(ls, 499, 8, out), 0);
    n = kf_lanes_take(ls, 500, 8, out);
    ASSERT_IDS(out, n, 1, 2);
    kf_lanes_release(ls, out[0]->lane, 500);
    free_all(out, n);
    kf_lanes_destroy(ls, drop_free, NULL);
}
END_TEST

START_TEST(test_requeue_into_runnable_lane_waits)
{
    /* The lane still has queued records and sits in the run queue when one
     * of its taken records is requeued (the worker took only part of it):
     * nothing of it may be taken before the delay. */
    kf_lanes *ls = kf_lanes_new(KF_ORDER_KEY);
    kf_rec *out[8];
    push(ls, 0, "a", 1);
    push(ls, 0, "a", 2);
    size_t n = kf_lanes_take(ls, 0, 1, out);
    ASSERT_IDS(out, n, 1);
    kf_rec *first = out[0];
    kf_lanes_release(ls, first->lane, 0); /* runnable again: 2 is queued */
    ck_assert(kf_lanes_runnable(ls));
    ck_assert_int_eq(kf_lanes_requeue(ls, &first, 1, 300), 0);
    ck_assert_uint_eq(kf_lanes_take(ls, 100, 8, out), 0);
    ck_assert_uint_eq(kf_lanes_take(ls, 299, 8, out), 0);
    ck_assert_int_eq(kf_lanes_next_due(ls), 300);
    n = kf_lanes_take(ls, 300, 8, out);
    ASSERT_IDS(out, n, 1, 2);
    kf_lanes_release(ls, out[0]->lane, 300);
    free_all(out, n);
    kf_lanes_destroy(ls, drop_free, NULL);
}
END_TEST

START_TEST(test_requeue_partition_mode_keeps_lane_order)
{
    kf_lanes *ls = kf_lanes_new(KF_ORDER_PARTITION);
    kf_rec *out[8];
    for (int i = 1; i <= 4; i++)
        push(ls, 0, i % 2 ? "x" : "y", i);
    size_t n = kf_lanes_take(ls, 0, 2, out);
    ASSERT_IDS(out, n, 1, 2);
    ck_assert_int_eq(kf_lanes_requeue(ls, out, 2, 50), 0);
    kf_lanes_release(ls, out[0]->lane, 0);
    ck_assert_uint_eq(kf_lanes_take(ls, 49, 8, out), 0);
    n = kf_lanes_take(ls, 50, 8, out);
    ASSERT_IDS(out, n, 1, 2, 3, 4);
    kf_lanes_release(ls, out[0]->lane, 50);
    free_all(out, n);
    kf_lanes_destroy(ls, drop_free, NULL);
}
END_TEST

START_TEST(test_requeue_unordered_waits_alone)
{
    /* A retried unordered record waits in a lane of its own: it is not taken
     * early, and it does not hold up the shared lane. */
    kf_lanes *ls = kf_lanes_new(KF_ORDER_UNORDERED);
    kf_rec *out[8], *more[8];
    push(ls, 0, "k", 1);
    push(ls, 0, "k", 2);
    size_t n = kf_lanes_take(ls, 0, 8, out);
    ASSERT_IDS(out, n, 1, 2);
    kf_lane *shared = out[0]->lane;
    ck_assert_int_eq(kf_lanes_requeue(ls, &out[0], 1, 100), 0);
    ck_assert_ptr_ne(out[0]->lane, shared);
    kf_lanes_release(ls, shared, 0);
    kf_rec_free(out[1]);

    push(ls, 0, "k", 3);
    n = kf_lanes_take(ls, 50, 8, more);
    ASSERT_IDS(more, n, 3);
    kf_rec_free(more[0]);
    ck_assert_int_eq(kf_lanes_next_due(ls), 100);
    ck_assert_uint_eq(kf_lanes_take(ls, 99, 8, more), 0);
    n = kf_lanes_take(ls, 100, 8, more);
    ASSERT_IDS(more, n, 1);
    /* Retried again while its own lane is held, then that lane is released
     * (as a worker does: it remembers the lanes it took before requeueing). */
    kf_lane *held = more[0]->lane;
    ck_assert_int_eq(kf_lanes_requeue(ls, more, 1, 200), 0);
    kf_lanes_release(ls, held, 100);
    ck_assert_uint_eq(kf_lanes_take(ls, 150, 8, out), 0);
    n = kf_lanes_take(ls, 200, 8, out);
    ASSERT_IDS(out, n, 1);
    kf_lanes_release(ls, out[0]->lane, 200);
    kf_rec_free(out[0]);
    ck_assert_uint_eq(kf_lanes_queued(ls), 0);
    ck_assert_int_eq(kf_lanes_next_due(ls), -1);
    kf_lanes_destroy(ls, drop_free, NULL);
}
END_TEST

/*
 * A record whose lane was released, and freed because it was empty, after
 * the record was taken gets a lane anew when it is requeued: it must not
 * use the freed one (ASan: heap-use-after-free; without ASan the lane would
 * be reused after free and freed twice). The dispatcher requeues so when a
 * sink acks after the worker released the lane (the Kafka sink acks from
 * its poll thread); see test_dispatcher.c's
 * test_async_sink_retry_after_release.
 */
START_TEST(test_requeue_after_lane_released_and_freed)
{
    kf_lanes *ls = kf_lanes_new(KF_ORDER_KEY);
    kf_rec *out[8];
    push(ls, 0, "a", 1);
    size_t n = kf_lanes_take(ls, 0, 8, out);
    ASSERT_IDS(out, n, 1);
    kf_rec *r = out[0];
    kf_lanes_release(ls, r->lane, 0); /* empty: the lane is freed here */
    /* The write to the sink fails later; the record goes back. */
    ck_assert_int_eq(kf_lanes_requeue(ls, &r, 1, 10), 0);
    push(ls, 0, "a", 2);
    ck_assert_uint_eq(kf_lanes_take(ls, 5, 8, out), 0);
    n = kf_lanes_take(ls, 10, 8, out);
    ASSERT_IDS(out, n, 1, 2);
    kf_lanes_release(ls, out[0]->lane, 10);
    free_all(out, n);
    kf_lanes_destroy(ls, drop_free, NULL);
}
END_TEST

/* ---- drop_partition ------------------------------------------------------ */

typedef struct dropped {
    int64_t ids[64];
    const kf_partition *parts[64];
    size_t n;
} dropped;

static void record_drop(kf_rec *r, void *arg)
{
    dropped *d = arg;
    d->ids[d->n] = id_of(r);
    d->parts[d->n] = r->part;
    d->n++;
    kf_rec_free(r);
}

static int has_id(const dropped *d, int64_t id)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->ids[i] == id) return 1;
    return 0;
}

START_TEST(test_drop_partition_key_mode)
{
    kf_lanes *ls = kf_lanes_new(KF_ORDER_KEY);
    kf_rec *held[4], *out[16];
    push(ls, 0, "a", 1);
    push(ls, 0, "a", 2);
    push(ls, 0, "b", 3);
    push(ls, 1, "a", 4);
    push(ls, 1, "c", 5);
    push(ls, 0, "d", 6);
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 1, held), 1);
    ASSERT_IDS(held, 1, 1); /* running: not dropped */
    /* One of partition 0's lanes is delayed, with a retry waiting. */
    kf_rec *d6 = NULL;
    {
        kf_rec *t[4];
        ck_assert_uint_eq(kf_lanes_take(ls, 0, 1, t), 1);     /* 3, lane b */
        ck_assert_uint_eq(kf_lanes_take(ls, 0, 1, t + 1), 1); /* 4 */
        ck_assert_uint_eq(kf_lanes_take(ls, 0, 1, t + 2), 1); /* 5 */
        ck_assert_uint_eq(kf_lanes_take(ls, 0, 1, t + 3), 1); /* 6, lane d */
        ASSERT_IDS(t, 4, 3, 4, 5, 6);
        ck_assert_int_eq(kf_lanes_requeue(ls, &t[0], 1, 500), 0); /* 3 back, delayed */
        kf_lanes_release(ls, t[0]->lane, 0);
        kf_lanes_requeue(ls, &t[1], 1, 500); /* 4 back too (partition 1) */
        kf_lanes_release(ls, t[1]->lane, 0);
        kf_lanes_release(ls, t[2]->lane, 0);
        kf_rec_free(t[2]);
        d6 = t[3];
        kf_lanes_release(ls, d6->lane, 0);
        kf_rec_free(d6);
    }
    push(ls, 1, "c", 7);
    ck_assert_uint_eq(kf_lanes_queued(ls), 4); /* 2, 3 of p0; 4, 7 of p1 */

    dropped d = {.n = 0};
    size_t n = kf_lanes_drop_partition(ls, P[0], record_drop, &d);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(d.n, 2);
    ck_assert(has_id(&d, 2));
    ck_assert(has_id(&d, 3));
    for (size_t i = 0; i < d.n; i++)
        ck_assert_ptr_eq(d.parts[i], P[0]);
    ck_assert_uint_eq(kf_lanes_queued(ls), 2);

    /* Partition 1 is untouched and keeps its order and delay. */
    n = kf_lanes_take(ls, 0, 16, out);
    ASSERT_IDS(out, n, 7);
    kf_lanes_release(ls, out[0]->lane, 0);
    kf_rec_free(out[0]);
    n = kf_lanes_take(ls, 500, 16, out);
    ASSERT_IDS(out, n, 4);
    kf_lanes_release(ls, out[0]->lane, 500);
    kf_rec_free(out[0]);

    /* The held record's lane lives on and can take new records. */
    kf_lanes_release(ls, held[0]->lane, 500);
    kf_rec_free(held[0]);
    push(ls, 0, "a", 8);
    push(ls, 0, "b", 9);
    n = kf_lanes_take(ls, 500, 16, out);
    ASSERT_IDS(out, n, 8, 9);
    kf_lanes_release(ls, out[0]->lane, 500);
    kf_lanes_release(ls, out[1]->lane, 500);
    free_all(out, n);
    ck_assert_uint_eq(kf_lanes_queued(ls), 0);
    kf_lanes_destroy(ls, drop_free, NULL);
}
END_TEST

START_TEST(test_drop_partition_unordered_keeps_others_in_order)
{
    kf_lanes *ls = kf_lanes_new(KF_ORDER_UNORDERED);
    kf_rec *out[16];
    for (int i = 1; i <= 6; i++)
        push(ls, i <= 3 ? i % 2 : 0, "k", i); /* p: 1 0 1 0 0 0 */
    dropped d = {.n = 0};
    ck_assert_uint_eq(kf_lanes_drop_partition(ls, P[0], record_drop, &d), 4);
    ck_assert_uint_eq(d.n, 4);
    ck_assert_uint_eq(kf_lanes_queued(ls), 2);
    /* The shared lane's tail was dropped: appending must still work. */
    push(ls, 1, "k", 7);
    size_t n = kf_lanes_take(ls, 0, 16, out);
    ASSERT_IDS(out, n, 1, 3, 7);
    free_all(out, n);

    /* A retried record of the dropped partition, waiting in its own lane. */
    push(ls, 0, "k", 8);
    n = kf_lanes_take(ls, 0, 16, out);
    ASSERT_IDS(out, n, 8);
    ck_assert_int_eq(kf_lanes_requeue(ls, out, 1, 100), 0);
    d.n = 0;
    ck_assert_uint_eq(kf_lanes_drop_partition(ls, P[0], record_drop, &d), 1);
    ck_assert_uint_eq(d.n, 1);
    ck_assert_int_eq(d.ids[0], 8);
    ck_assert_uint_eq(kf_lanes_take(ls, 1000, 16, out), 0);
    ck_assert_uint_eq(kf_lanes_queued(ls), 0);
    kf_lanes_destroy(ls, drop_free, NULL);
}
END_TEST

/*
 * In unordered mode a record retried from its own retry lane is requeued
 * into that lane while the worker still holds it (the dispatcher requeues
 * from the chunk it runs). A held retry lane is in no list and not hashed,
 * yet kf_lanes_drop_partition must drop its record too: one that survived
 * the revoke would run again once released, although its partition
 * belongs to another consumer now.
 */
START_TEST(test_drop_partition_sees_held_retry_lane)
{
    kf_lanes *ls = kf_lanes_new(KF_ORDER_UNORDERED);
    kf_rec *out[4];
    push(ls, 0, "k", 1);
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 4, out), 1);
    ck_assert_int_eq(kf_lanes_requeue(ls, out, 1, 10), 0); /* first retry */
    ck_assert_uint_eq(kf_lanes_take(ls, 10, 4, out), 1);   /* its lane is held now */
    kf_lane *retry_lane = out[0]->lane;
    ck_assert_int_eq(kf_lanes_requeue(ls, out, 1, 20), 0); /* second retry, lane held */
    ck_assert_uint_eq(kf_lanes_queued(ls), 1);

    dropped d = {.n = 0};
    size_t n = kf_lanes_drop_partition(ls, P[0], record_drop, &d);
    kf_lanes_release(ls, retry_lane, 10);
    size_t again = kf_lanes_take(ls, 20, 4, out);
    if (again) {
        kf_lanes_release(ls, out[0]->lane, 20);
        kf_rec_free(out[0]);
    }
    ck_assert_msg(n == 1, "drop_partition dropped %zu of 1 queued record", n);
    ck_assert_uint_eq(again, 0);
    kf_lanes_destroy(ls, drop_free, NULL);
}
END_TEST

/* ---- budget, destroy, memory ---------------------------------------------- */

START_TEST(test_budget_respected)
{
    kf_lanes *ls = kf_lanes_new(KF_ORDER_KEY);
    kf_rec *out[32];
    char key[16];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        push(ls, 0, key, i);
    }
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 0, out), 0);
    ck_assert_uint_eq(kf_lanes_queued(ls), 10);
    size_t n = kf_lanes_take(ls, 0, 3, out);
    ASSERT_IDS(out, n, 0, 1, 2);
    size_t m = kf_lanes_take(ls, 0, 4, out + n);
    ck_assert_uint_eq(m, 4);
    n += m;
    m = kf_lanes_take(ls, 0, 32, out + n);
    ck_assert_uint_eq(m, 3);
    n += m;
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(id_of(out[i]), (int64_t)i);
        kf_lanes_release(ls, out[i]->lane, 0);
    }
    free_all(out, n);

    /* Within one lane, the budget cuts the lane; the rest stays behind the
     * hold. */
    for (int i = 0; i < 5; i++)
        push(ls, 0, "one", 100 + i);
    n = kf_lanes_take(ls, 0, 2, out);
    ASSERT_IDS(out, n, 100, 101);
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 32, out + n), 0);
    kf_lanes_release(ls, out[0]->lane, 0);
    m = kf_lanes_take(ls, 0, 32, out + n);
    ck_assert_uint_eq(m, 3);
    ASSERT_IDS(out + n, m, 102, 103, 104);
    kf_lanes_release(ls, out[n]->lane, 0);
    free_all(out, n + m);

    /* Unordered: the shared lane gives exactly the budget per take. */
    kf_lanes *u = kf_lanes_new(KF_ORDER_UNORDERED);
    for (int i = 0; i < 10; i++) {
        kf_rec *r = mk(0, "x", i);
        ck_assert_int_eq(kf_lanes_push(u, r), 0);
    }
    n = kf_lanes_take(u, 0, 4, out);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(kf_lanes_queued(u), 6);
    free_all(out, n);
    kf_lanes_destroy(u, drop_free, NULL);
    kf_lanes_destroy(ls, drop_free, NULL);
}
END_TEST

START_TEST(test_destroy_hands_queued_records_to_drop)
{
    size_t count = 0;
    kf_lanes *ls = kf_lanes_new(KF_ORDER_KEY);
    kf_rec *out[8];
    push(ls, 0, "a", 1);
    push(ls, 0, "a", 2);
    push(ls, 0, "b", 3);
    push(ls, 1, "c", 4);
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 1, out), 1); /* 1 held: the test's */
    kf_rec *t[2];
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 1, t), 1); /* 3 */
    ck_assert_int_eq(kf_lanes_requeue(ls, t, 1, 1000), 0);
    kf_lanes_release(ls, t[0]->lane, 0); /* 3 delayed */
    kf_lanes_release(ls, out[0]->lane, 0);
    kf_rec_free(out[0]);
    /* Queued: 2 (runq), 3 (delayed), 4 (runq). Every one reaches drop once;
     * ASan reports any lane or record left behind. */
    kf_lanes_destroy(ls, drop_free, &count);
    ck_assert_uint_eq(count, 3);

    count = 0;
    ls = kf_lanes_new(KF_ORDER_UNORDERED);
    push(ls, 0, "a", 1);
    push(ls, 0, "a", 2);
    ck_assert_uint_eq(kf_lanes_take(ls, 0, 1, t), 1);
    ck_assert_int_eq(kf_lanes_requeue(ls, t, 1, 1000), 0); /* own retry lane */
    kf_lanes_destroy(ls, drop_free, &count);
    ck_assert_uint_eq(count, 2);
    kf_lanes_destroy(NULL, drop_free, NULL);
}
END_TEST

START_TEST(test_lanes_freed_when_empty)
{
    /* 20000 distinct keys through push/take/release (and some through a
     * retry delay): live memory must not grow with the number of keys seen. */
    kf_lanes *ls = kf_lanes_new(KF_ORDER_KEY);
    kf_lanes *un = kf_lanes_new(KF_ORDER_UNORDERED);
    kf_rec *out[4];
    char key[32];
    /* Warm up allocator caches before measuring. */
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "warm-%d", i);
        kf_rec *r = push(ls, 0, key, i);
        ck_assert_uint_eq(kf_lanes_take(ls, 0, 4, out), 1);
        kf_lanes_release(ls, r->lane, 0);
        kf_rec_free(r);
    }
    size_t before = heap_in_use();
    int64_t now = 0;
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        kf_rec *r = push(ls, i % 2, key, i);
        ck_assert_uint_eq(kf_lanes_take(ls, now, 4, out), 1);
        if (i % 3 == 0) { /* one retry, then done */
            ck_assert_int_eq(kf_lanes_requeue(ls, &r, 1, now + 5), 0);
            kf_lanes_release(ls, r->lane, now);
            now += 5;
            ck_assert_uint_eq(kf_lanes_take(ls, now, 4, out), 1);
        }
        kf_lanes_release(ls, r->lane, now);
        kf_rec_free(r);
        if (i % 5 == 0) { /* a record dropped while queued */
            push(ls, 0, key, i);
            ck_assert_uint_eq(kf_lanes_drop_partition(ls, P[0], drop_free, NULL), 1);
            ck_assert_uint_eq(kf_lanes_take(ls, now, 4, out), 0); /* frees the empty lane */
        }
        /* Unordered retry lanes come and go too. */
        kf_rec *u = push(un, 0, "u", i);
        ck_assert_uint_eq(kf_lanes_take(un, now, 4, out), 1);
        ck_assert_int_eq(kf_lanes_requeue(un, &u, 1, now + 1), 0);
        ck_assert_uint_eq(kf_lanes_take(un, now + 1, 4, out), 1);
        kf_lanes_release(un, u->lane, now + 1);
        kf_rec_free(u);
    }
    size_t after = heap_in_use();
    ck_assert_uint_eq(kf_lanes_queued(ls), 0);
    ck_assert_msg(after < before + 64 * 1024, "live heap grew by %zu bytes over 20000 keys",
                  after - before);
    kf_lanes_destroy(ls, drop_free, NULL);
    kf_lanes_destroy(un, drop_free, NULL);
}
END_TEST

/* ---- the model test -------------------------------------------------------- */

/*
 * A plain model of the lane rules: per lane a FIFO of record ids, a holder
 * and a ready time; per (partition, key) the sequence number of the last
 * record processed successfully. Takers take with random budgets, process
 * their chunk lane by lane (each record succeeds with probability 0.8; on a
 * failure the rest of that lane's chunk goes back with a random delay, as the
 * dispatcher does), and release. The clock moves at random. Checked on every
 * step:
 *   - take returns exactly min(budget, records runnable in the model);
 *   - each record taken is the head of its lane's model FIFO and its lane is
 *     not held by another taker and not delayed;
 *   - successes per key come in sequence order with no gap or repeat;
 *   - the queued count agrees.
 * Partitions are dropped now and then. At the end everything drains.
 */
enum { M_PARTS = 2, M_KEYS = 12, M_TAKERS = 4, M_MAXQ = 4096, M_RECS = 40000 };

typedef struct mrec {
    kf_rec *r;
    int part, key, seq;
    int state; /* 0 queued, 1 taken, 2 done, 3 dropped */
} mrec;

typedef struct mlane {
    int q[M_MAXQ];
    int n;
    int holder; /* taker index or -1 */
    int64_t ready_at;
} mlane;

typedef struct mtaker {
    kf_rec *chunk[16];
    size_t n;
} mtaker;

typedef struct model {
    kf_ordering mode;
    kf_lanes *ls;
    mrec *recs;
    int nrecs;
    mlane lanes[M_PARTS * M_KEYS];
    mtaker takers[M_TAKERS];
    int next_seq[M_PARTS][M_KEYS];
    int last_ok[M_PARTS][M_KEYS];
    int64_t now;
    size_t queued;
    uint64_t rng;
} model;

static uint64_t mrand(model *m)
{
    uint64_t z = (m->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int lane_of(const model *m, int part, int key)
{
    return m->mode == KF_ORDER_KEY ? part * M_KEYS + key : part;
}

static mlane *mlane_of_rec(model *m, const kf_rec *r)
{
    const mrec *x = &m->recs[id_of(r)];
    return &m->lanes[lane_of(m, x->part, x->key)];
}

static void m_push(model *m)
{
    int part = (int)(mrand(m) % M_PARTS), key = (int)(mrand(m) % M_KEYS);
    mlane *l = &m->lanes[lane_of(m, part, key)];
    if (l->n >= M_MAXQ - 16 || m->nrecs >= M_RECS) return;
    char name[16];
    snprintf(name, sizeof name, "key%d", key);
    int id = m->nrecs++;
    mrec *x = &m->recs[id];
    x->r = mk(part, name, id);
    x->part = part;
    x->key = key;
    x->seq = m->next_seq[part][key]++;
    x->state = 0;
    ck_assert_int_eq(kf_lanes_push(m->ls, x->r), 0);
    l->q[l->n++] = id;
    m->queued++;
}

static size_t m_runnable(const model *m)
{
    size_t avail = 0;
    for (size_t i = 0; i < sizeof m->lanes / sizeof *m->lanes; i++) {
        const mlane *l = &m->lanes[i];
        if (l->n > 0 && l->holder < 0 && l->ready_at <= m->now) avail += (size_t)l->n;
    }
    return avail;
}

static void m_take(model *m, int t)
{
    mtaker *tk = &m->takers[t];
    if (tk->n) return; /* busy */
    size_t budget = 1 + (size_t)(mrand(m) % 8);
    size_t avail = m_runnable(m);
    size_t want = avail < budget ? avail : budget;
    size_t n = kf_lanes_take(m->ls, m->now, budget, tk->chunk);
    ck_assert_msg(n == want, "take at %lld with budget %zu: got %zu, model has %zu runnable",
                  (long long)m->now, budget, n, avail);
    for (size_t i = 0; i < n; i++) {
        kf_rec *r = tk->chunk[i];
        mrec *x = &m->recs[id_of(r)];
        mlane *l = mlane_of_rec(m, r);
        ck_assert_int_eq(x->state, 0);
        ck_assert_msg(l->holder < 0 || l->holder == t, "lane held by taker %d taken by %d",
                      l->holder, t);
        ck_assert_msg(l->ready_at <= m->now, "taken at %lld, lane delayed until %lld",
                      (long long)m->now, (long long)l->ready_at);
        ck_assert_msg(l->n > 0 && l->q[0] == id_of(r), "record %lld is not its lane's head",
                      (long long)id_of(r));
        memmove(l->q, l->q + 1, sizeof *l->q * (size_t)--l->n);
        l->holder = t;
        x->state = 1;
        m->queued--;
    }
    tk->n = n;
}

static void m_finish(model *m, int t, int always_ok)
{
    mtaker *tk = &m->takers[t];
    if (!tk->n) return;
    kf_lane *held[16];
    mlane *mheld[16];
    size_t nheld = 0;
    for (size_t i = 0; i < tk->n; i++) {
        if (nheld == 0 || held[nheld - 1] != tk->chunk[i]->lane) {
            held[nheld] = tk->chunk[i]->lane;
            mheld[nheld++] = mlane_of_rec(m, tk->chunk[i]);
        }
    }
    size_t i = 0;
    while (i < tk->n) {
        kf_lane *lane = tk->chunk[i]->lane;
        size_t end = i;
        while (end < tk->n && tk->chunk[end]->lane == lane)
            end++;
        for (; i < end; i++) {
            kf_rec *r = tk->chunk[i];
            mrec *x = &m->recs[id_of(r)];
            if (!always_ok && mrand(m) % 5 == 0) {
                /* Fails: it and the rest of its lane's chunk go back. */
                int64_t ready = m->now + (int64_t)(mrand(m) % 40);
                mlane *l = mlane_of_rec(m, r);
                size_t k = end - i;
                ck_assert_int_eq(kf_lanes_requeue(m->ls, &tk->chunk[i], k, ready), 0);
                memmove(l->q + k, l->q, sizeof *l->q * (size_t)l->n);
                for (size_t j = 0; j < k; j++) {
                    l->q[j] = (int)id_of(tk->chunk[i + j]);
                    m->recs[id_of(tk->chunk[i + j])].state = 0;
                }
                l->n += (int)k;
                if (ready > l->ready_at) l->ready_at = ready;
                m->queued += k;
                i = end;
                break;
            }
            /* Success: the next in sequence for its key, skipping only dropped. */
            int *last = &m->last_ok[x->part][x->key];
            for (int s = *last + 1; s < x->seq; s++) {
                int found_dropped = 0;
                for (int j = 0; j < m->nrecs; j++)
                    if (m->recs[j].part == x->part && m->recs[j].key == x->key &&
                        m->recs[j].seq == s)
                        found_dropped = m->recs[j].state == 3;
                ck_assert_msg(found_dropped, "key%d/p%d: seq %d succeeded before seq %d", x->key,
                              x->part, x->seq, s);
            }
            ck_assert_msg(x->seq > *last, "key%d/p%d: seq %d succeeded after %d", x->key, x->part,
                          x->seq, *last);
            *last = x->seq;
            x->state = 2;
            kf_rec_free(r);
            x->r = NULL;
        }
    }
    if (mrand(m) % 4 == 0) m->now += (int64_t)(mrand(m) % 5); /* release a bit later */
    for (size_t h = 0; h < nheld; h++) {
        kf_lanes_release(m->ls, held[h], m->now);
        mheld[h]->holder = -1;
        if (mheld[h]->n == 0 && mheld[h]->ready_at <= m->now) mheld[h]->ready_at = 0;
    }
    tk->n = 0;
}

static void m_drop_cb(kf_rec *r, void *arg)
{
    model *m = arg;
    mrec *x = &m->recs[id_of(r)];
    ck_assert_int_eq(x->state, 0);
    ck_assert_ptr_eq(r->part, P[x->part]);
    x->state = 3;
    x->r = NULL;
    kf_rec_free(r);
}

static void m_drop(model *m)
{
    int part = (int)(mrand(m) % M_PARTS);
    size_t expect = 0;
    for (size_t i = 0; i < sizeof m->lanes / sizeof *m->lanes; i++) {
        mlane *l = &m->lanes[i];
        int keep = 0;
        for (int j = 0; j < l->n; j++) {
            if (m->recs[l->q[j]].part == part)
                expect++;
            else
                l->q[keep++] = l->q[j];
        }
        l->n = keep;
    }
    size_t n = kf_lanes_drop_partition(m->ls, P[part], m_drop_cb, m);
    ck_assert_uint_eq(n, expect);
    m->queued -= n;
}

static void run_model(kf_ordering mode, uint64_t seed, int ops)
{
    model *m = calloc(1, sizeof *m);
    m->mode = mode;
    m->ls = kf_lanes_new(mode);
    m->recs = calloc(M_RECS, sizeof *m->recs);
    m->rng = seed;
    for (size_t i = 0; i < sizeof m->lanes / sizeof *m->lanes; i++)
        m->lanes[i].holder = -1;
    for (int p = 0; p < M_PARTS; p++)
        for (int k = 0; k < M_KEYS; k++)
            m->last_ok[p][k] = -1;

    for (int op = 0; op < ops; op++) {
        unsigned c = (unsigned)(mrand(m) % 100);
        if (c < 38)
            m_push(m);
        else if (c < 68)
            m_take(m, (int)(mrand(m) % M_TAKERS));
        else if (c < 96)
            m_finish(m, (int)(mrand(m) % M_TAKERS), 0);
        else if (c < 99)
            m->now += 1 + (int64_t)(mrand(m) % 20);
        else if (mrand(m) % 4 == 0)
            m_drop(m);
        ck_assert_uint_eq(kf_lanes_queued(m->ls), m->queued);
    }
    /* Drain: everything comes out, in order, within a bounded number of steps. */
    int steps = 0;
    while (m->queued > 0 || m->takers[0].n || m->takers[1].n || m->takers[2].n || m->takers[3].n) {
        ck_assert_msg(++steps < 100000, "lanes did not drain: %zu queued", m->queued);
        for (int t = 0; t < M_TAKERS; t++)
            m_finish(m, t, 1);
        for (int t = 0; t < M_TAKERS; t++)
            m_take(m, t);
        if (m_runnable(m) == 0) m->now += 7;
    }
    for (int i = 0; i < m->nrecs; i++)
        ck_assert_int_ge(m->recs[i].state, 2);
    for (int p = 0; p < M_PARTS; p++)
        for (int k = 0; k < M_KEYS; k++) {
            /* The last record of each key succeeded (or was dropped). */
            int s = m->next_seq[p][k] - 1;
            if (s >= 0 && m->last_ok[p][k] != s) {
                int dropped_tail = 0;
                for (int i = 0; i < m->nrecs; i++)
                    if (m->recs[i].part == p && m->recs[i].key == k && m->recs[i].seq == s)
                        dropped_tail = m->recs[i].state == 3;
                ck_assert(dropped_tail);
            }
        }
    /* Lanes emptied by a drop while delayed are freed once due. */
    kf_rec *none[8];
    m->now += 1000;
    ck_assert_uint_eq(kf_lanes_take(m->ls, m->now, 8, none), 0);
    ck_assert_uint_eq(kf_lanes_queued(m->ls), 0);
    ck_assert(!kf_lanes_runnable(m->ls));
    ck_assert_int_eq(kf_lanes_next_due(m->ls), -1);
    size_t left = 0;
    kf_lanes_destroy(m->ls, drop_free, &left);
    ck_assert_uint_eq(left, 0);
    free(m->recs);
    free(m);
}

START_TEST(test_model_key_mode)
{
    run_model(KF_ORDER_KEY, 1 + (uint64_t)_i, 20000);
}
END_TEST

START_TEST(test_model_partition_mode)
{
    run_model(KF_ORDER_PARTITION, 100 + (uint64_t)_i, 20000);
}
END_TEST

static Suite *lanes_suite(void)
{
    Suite *s = suite_create("lanes");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_key_same_key_serialised_in_order);
    tcase_add_test(tc, test_key_different_keys_in_parallel);
    tcase_add_test(tc, test_key_chunk_spans_lanes_in_order);
    tcase_add_test(tc, test_partition_mode_serialises_partition);
    tcase_add_test(tc, test_unordered_shared_lane);
    tcase_add_test(tc, test_requeue_puts_back_in_order_and_delays);
    tcase_add_test(tc, test_requeue_earlier_delay_does_not_shorten);
    tcase_add_test(tc, test_requeue_into_runnable_lane_waits);
    tcase_add_test(tc, test_requeue_partition_mode_keeps_lane_order);
    tcase_add_test(tc, test_requeue_unordered_waits_alone);
    tcase_add_test(tc, test_requeue_after_lane_released_and_freed);
    tcase_add_test(tc, test_drop_partition_key_mode);
    tcase_add_test(tc, test_drop_partition_unordered_keeps_others_in_order);
    tcase_add_test(tc, test_drop_partition_sees_held_retry_lane);
    tcase_add_test(tc, test_budget_respected);
    tcase_add_test(tc, test_destroy_hands_queued_records_to_drop);
    tcase_add_test(tc, test_lanes_freed_when_empty);
    suite_add_tcase(s, tc);

    TCase *tm = tcase_create("model");
    tcase_set_timeout(tm, 120);
    tcase_add_checked_fixture(tm, setup, teardown);
    tcase_add_loop_test(tm, test_model_key_mode, 0, 3);
    tcase_add_loop_test(tm, test_model_partition_mode, 0, 3);
    suite_add_tcase(s, tm);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(lanes_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
