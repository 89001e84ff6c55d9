/*
 * Unit tests for the record buffer pool (dispatcher/record_pool.c) and the
 * records made from it (kf_rec_new_in / kf_rec_free in dispatcher/record.c).
 *
 * The pool's promises, each broken by some test below:
 *   - a buffer put back is handed out again by a later get that it fits
 *     (the point of the pool: no malloc per record in the steady state);
 *   - every buffer it hands out is aligned as asked (records carry a sink
 *     index in the low bits of their address, see completion.c) and really
 *     has the capacity it reports (we write all of it; ASan checks);
 *   - buffers above KF_REC_POOL_MAX_BYTES are never kept, and the taker keeps
 *     at most KF_REC_POOL_KEEP spares;
 *   - with one taker and many putters no buffer is ever held by two threads
 *     at once, and nothing leaks (ASan's leak check at exit).
 *
 * "Cached or fresh?" is told apart by capacity, never by comparing with a
 * freed pointer (the allocator may hand the same address out again): the
 * tests put buffers of a larger capacity than the gets ask for, so a get
 * served from the cache reports that larger capacity and a fresh allocation
 * the request rounded up to 256.
 */
#include "dispatcher/partition.h"
#include "dispatcher/record.h"
#include "dispatcher/record_pool.h"

#include <check.h>
#include <pthread.h>
#include <search.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Seeded so a failure replays the same way. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static bool aligned(const void *p, size_t a)
{
    return ((uintptr_t)p & (a - 1)) == 0;
}

/* A buffer the test makes itself, to put into the pool (as kf_rec_free does
 * with a record's buffer). */
static void *own_buffer(size_t cap)
{
    void *b = aligned_alloc(64, cap);
    ck_assert_ptr_nonnull(b);
    memset(b, 0xA5, cap);
    return b;
}

/* ---- single thread -------------------------------------------------------- */

START_TEST(test_put_buffer_is_reused)
{
    kf_rec_pool *p = kf_rec_pool_new();
    ck_assert_ptr_nonnull(p);
    size_t cap = 0;
    void *a = kf_rec_pool_get(p, 300, 64, &cap);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_ge(cap, 300);
    ck_assert_uint_eq(cap % 256, 0); /* sizes are rounded up to 256 */
    memset(a, 1, cap);
    kf_rec_pool_put(p, a, cap);

    /* The next get that fits gets the same buffer, with its capacity. */
    size_t cap2 = 0;
    void *b = kf_rec_pool_get(p, 200, 64, &cap2);
    ck_assert_ptr_eq(b, a);
    ck_assert_uint_eq(cap2, cap);
    memset(b, 2, cap2);

    /* Two out, two back: both come back, whatever the order. */
    size_t cap3 = 0;
    void *c = kf_rec_pool_get(p, 100, 64, &cap3);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_ne(c, b);
    kf_rec_pool_put(p, b, cap2);
    kf_rec_pool_put(p, c, cap3);
    size_t k1 = 0, k2 = 0;
    void *x = kf_rec_pool_get(p, 100, 64, &k1);
    void *y = kf_rec_pool_get(p, 100, 64, &k2);
    ck_assert_ptr_ne(x, y);
    ck_assert((x == b && y == c) || (x == c && y == b));
    kf_rec_pool_put(p, x, k1);
    kf_rec_pool_put(p, y, k2);
    kf_rec_pool_destroy(p); /* frees the cached ones (ASan: no leak) */
    kf_rec_pool_destroy(NULL);
}
END_TEST

START_TEST(test_rounding_and_capacity)
{
    kf_rec_pool *p = kf_rec_pool_new();
    static const size_t sizes[] = {1, 16, 255, 256, 257, 511, 512, 1000, 4095, 4096, 4097, 10000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t cap = 0;
        unsigned char *b = kf_rec_pool_get(p, sizes[i], 64, &cap);
        ck_assert_ptr_nonnull(b);
        ck_assert_uint_eq(cap, (sizes[i] + 255) / 256 * 256);
        memset(b, 0x5A, cap); /* all of it is ours (ASan) */
        kf_rec_pool_put(p, b, cap);
        /* Hand back a small one too. The sizes ascend, so a cached buffer
         * that serves the next ask has exactly its rounded size. */
        size_t c2 = 0;
        b = kf_rec_pool_get(p, 1, 64, &c2);
        memset(b, 0x5B, c2);
        kf_rec_pool_put(p, b, c2);
    }
    kf_rec_pool_destroy(p);
}
END_TEST

START_TEST(test_alignment_fresh_and_reused)
{
    kf_rec_pool *p = kf_rec_pool_new();
    enum { N = 64 };
    void *bufs[N];
    size_t caps[N];
    rng_state = 7;
    /* Fresh ones, of every size class including those above the limit. */
    for (int i = 0; i < N; i++) {
        size_t size = 1 + (size_t)(rnd() % (KF_REC_POOL_MAX_BYTES + 2000));
        bufs[i] = kf_rec_pool_get(p, size, 64, &caps[i]);
        ck_assert_ptr_nonnull(bufs[i]);
        ck_assert_msg(aligned(bufs[i], 64), "fresh buffer %p not aligned to 64", bufs[i]);
        ck_assert_uint_ge(caps[i], size);
        memset(bufs[i], i, caps[i]);
    }
    for (int i = 0; i < N; i++)
        kf_rec_pool_put(p, bufs[i], caps[i]);
    /* Reused ones: small asks, served from the cache. */
    int reused = 0;
    for (int i = 0; i < N; i++) {
        bufs[i] = kf_rec_pool_get(p, 64, 64, &caps[i]);
        ck_assert_msg(aligned(bufs[i], 64), "reused buffer %p not aligned to 64", bufs[i]);
        ck_assert_uint_ge(caps[i], 64);
        reused += caps[i] > 256; /* bigger than asked: it came from the cache */
        memset(bufs[i], i, caps[i]);
    }
    ck_assert_int_gt(reused, 0);
    for (int i = 0; i < N; i++)
        kf_rec_pool_put(p, bufs[i], caps[i]);
    kf_rec_pool_destroy(p);
}
END_TEST

START_TEST(test_too_big_not_cached)
{
    kf_rec_pool *p = kf_rec_pool_new();
    /* A buffer above the limit is freed on put, not kept: a small get after
     * it is a fresh small buffer, not the big one. */
    size_t big = KF_REC_POOL_MAX_BYTES * 2;
    kf_rec_pool_put(p, own_buffer(big), big);
    size_t cap = 0;
    void *b = kf_rec_pool_get(p, 100, 64, &cap);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(cap, 256);
    kf_rec_pool_put(p, b, cap);
    b = kf_rec_pool_get(p, 100, 64, &cap); /* the 256 one, now cached */
    ck_assert_uint_eq(cap, 256);

    /* Just above the limit: not kept either. */
    size_t over = KF_REC_POOL_MAX_BYTES + 256;
    kf_rec_pool_put(p, own_buffer(over), over);
    size_t c2 = 0;
    void *b2 = kf_rec_pool_get(p, 100, 64, &c2);
    ck_assert_uint_eq(c2, 256);
    kf_rec_pool_put(p, b2, c2);
    kf_rec_pool_put(p, b, cap);

    /* Exactly at the limit: kept. */
    kf_rec_pool_destroy(p);
    p = kf_rec_pool_new();
    void *lim = own_buffer(KF_REC_POOL_MAX_BYTES);
    kf_rec_pool_put(p, lim, KF_REC_POOL_MAX_BYTES);
    void *got = kf_rec_pool_get(p, 100, 64, &cap);
    ck_assert_ptr_eq(got, lim);
    ck_assert_uint_eq(cap, KF_REC_POOL_MAX_BYTES);

    /* A get above the limit never takes from the cache (and what it gets is
     * not kept when it comes back). */
    kf_rec_pool_put(p, got, cap);
    size_t bigcap = 0;
    void *bg = kf_rec_pool_get(p, KF_REC_POOL_MAX_BYTES + 1, 64, &bigcap);
    ck_assert_ptr_nonnull(bg);
    ck_assert_ptr_ne(bg, lim); /* lim is still cached, not freed: a safe compare */
    ck_assert_uint_eq(bigcap, KF_REC_POOL_MAX_BYTES + 256);
    memset(bg, 3, bigcap);
    kf_rec_pool_put(p, bg, bigcap);
    got = kf_rec_pool_get(p, 100, 64, &cap);
    ck_assert_ptr_eq(got, lim);
    size_t c3 = 0;
    void *fresh = kf_rec_pool_get(p, 100, 64, &c3);
    ck_assert_uint_eq(c3, 256); /* not the big one */
    kf_rec_pool_put(p, fresh, c3);
    kf_rec_pool_put(p, got, cap);
    kf_rec_pool_destroy(p);
}
END_TEST

START_TEST(test_spare_too_small_is_replaced)
{
    kf_rec_pool *p = kf_rec_pool_new();
    kf_rec_pool_put(p, own_buffer(256), 256);
    /* The cached 256 does not fit 1000: a fresh 1024 (the 256 is freed). */
    size_t cap = 0;
    void *b = kf_rec_pool_get(p, 1000, 64, &cap);
    ck_assert_uint_eq(cap, 1024);
    memset(b, 1, cap);
    kf_rec_pool_put(p, b, cap);
    /* A bigger buffer serves a smaller ask. */
    size_t c2 = 0;
    void *b2 = kf_rec_pool_get(p, 10, 64, &c2);
    ck_assert_ptr_eq(b2, b);
    ck_assert_uint_eq(c2, 1024);
    kf_rec_pool_put(p, b2, c2);
    kf_rec_pool_destroy(p);
}
END_TEST

START_TEST(test_put_edge_cases)
{
    kf_rec_pool *p = kf_rec_pool_new();
    kf_rec_pool_put(p, NULL, 256);                 /* nothing to give back */
    kf_rec_pool_put(NULL, own_buffer(512), 512);   /* no pool: freed (ASan: no leak) */
    kf_rec_pool_put(NULL, own_buffer(8192), 8192); /* same */
    size_t cap = 0;
    void *b = kf_rec_pool_get(p, 1, 64, &cap);
    ck_assert_uint_eq(cap, 256); /* nothing was cached */
    kf_rec_pool_put(p, b, cap);
    kf_rec_pool_destroy(p);
}
END_TEST

START_TEST(test_destroy_frees_both_lists)
{
    /* At destroy, buffers wait in both places: the taker's spares and the
     * returned list not yet taken. Both must be freed (ASan's leak check at
     * exit fails the test if either is dropped). */
    kf_rec_pool *p = kf_rec_pool_new();
    for (int i = 0; i < 3; i++)
        kf_rec_pool_put(p, own_buffer(512), 512);
    size_t cap = 0;
    void *b = kf_rec_pool_get(p, 100, 64, &cap); /* takes all 3: 2 spares left */
    ck_assert_uint_eq(cap, 512);
    kf_rec_pool_put(p, b, cap);                 /* returned, not taken */
    kf_rec_pool_put(p, own_buffer(1024), 1024); /* returned, not taken */
    kf_rec_pool_destroy(p);
}
END_TEST

/* Puts `n` buffers of 512 bytes, then gets 200-byte buffers until one comes
 * fresh (capacity 256) and returns how many came from the cache (512). The
 * gotten buffers are handed back at the end. */
static size_t count_cached(kf_rec_pool *p, size_t n_put, size_t max_gets)
{
    for (size_t i = 0; i < n_put; i++)
        kf_rec_pool_put(p, own_buffer(512), 512);
    void **got = calloc(max_gets, sizeof *got);
    size_t *caps = calloc(max_gets, sizeof *caps);
    size_t cached = 0, n = 0;
    while (n < max_gets) {
        got[n] = kf_rec_pool_get(p, 200, 64, &caps[n]);
        ck_assert_ptr_nonnull(got[n]);
        n++;
        if (caps[n - 1] != 512) {
            ck_assert_uint_eq(caps[n - 1], 256);
            break;
        }
        cached++;
    }
    for (size_t i = 0; i < n; i++)
        kf_rec_pool_put(p, got[i], caps[i]);
    free(got);
    free(caps);
    return cached;
}

START_TEST(test_keep_bound)
{
    kf_rec_pool *p = kf_rec_pool_new();
    /* KEEP + 100 come back: the taker keeps KEEP and frees the other 100
     * (ASan would report them if they were dropped without a free). */
    ck_assert_uint_eq(count_cached(p, KF_REC_POOL_KEEP + 100, KF_REC_POOL_KEEP + 200),
                      KF_REC_POOL_KEEP);
    kf_rec_pool_destroy(p);

    /* Fewer than KEEP: all kept. */
    p = kf_rec_pool_new();
    ck_assert_uint_eq(count_cached(p, 10, 100), 10);
    kf_rec_pool_destroy(p);
}
END_TEST

START_TEST(test_keep_bound_set)
{
    /* kf_rec_pool_set_keep moves the bound both ways (the dispatcher sets it
     * to the records that can be alive at once). */
    kf_rec_pool *p = kf_rec_pool_new();
    kf_rec_pool_set_keep(p, KF_REC_POOL_KEEP * 4);
    ck_assert_uint_eq(count_cached(p, KF_REC_POOL_KEEP * 3, KF_REC_POOL_KEEP * 4),
                      KF_REC_POOL_KEEP * 3);
    kf_rec_pool_destroy(p);

    p = kf_rec_pool_new();
    kf_rec_pool_set_keep(p, 7);
    ck_assert_uint_eq(count_cached(p, 100, 200), 7);
    kf_rec_pool_destroy(p);
}
END_TEST

START_TEST(test_keep_bound_counts_what_was_taken)
{
    /* The bound counts spares the taker holds now, not what it ever took:
     * after one take at the bound and the spares used up, a second batch of
     * returns is kept again. */
    kf_rec_pool *p = kf_rec_pool_new();
    for (size_t i = 0; i < KF_REC_POOL_KEEP + 100; i++)
        kf_rec_pool_put(p, own_buffer(512), 512);
    size_t cap = 0;
    void *one = kf_rec_pool_get(p, 200, 64, &cap); /* takes: KEEP - 1 spares left */
    ck_assert_uint_eq(cap, 512);
    kf_rec_pool_put(p, one, cap); /* returned, not yet taken */
    /* KEEP - 1 spares, then the 1 + 50 returned ones once the spares run
     * out: KEEP + 50 in all before a fresh allocation. */
    ck_assert_uint_eq(count_cached(p, 50, KF_REC_POOL_KEEP + 200), KF_REC_POOL_KEEP + 50);
    kf_rec_pool_destroy(p);
}
END_TEST

/* ---- one taker, many putters ------------------------------------------------ */

enum { STRESS_OPS = 200000, STRESS_PUTTERS = 4, QCAP = 256 };

typedef struct held {
    uint64_t *buf;
    size_t cap;
    uint64_t id;
} held;

typedef struct queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    held items[QCAP];
    size_t head, n;
    bool closed;
} queue;

static struct {
    kf_rec_pool *pool;
    queue q[STRESS_PUTTERS];
    pthread_mutex_t set_mu; /* guards `inuse` */
    void *inuse;            /* tsearch tree of the buffers handed out */
    atomic_int bad_pattern, twice, bad_align;
} S;

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return x < y ? -1 : x > y;
}

static void fill(uint64_t *b, size_t cap, uint64_t id)
{
    for (size_t i = 0; i < cap / 8; i++)
        b[i] = id ^ (i * 0x9E3779B97F4A7C15ull);
}

static bool intact(const uint64_t *b, size_t cap, uint64_t id)
{
    for (size_t i = 0; i < cap / 8; i++)
        if (b[i] != (id ^ (i * 0x9E3779B97F4A7C15ull))) return false;
    return true;
}

/* A buffer the pool just handed out must not be held by anyone. */
static void claim(void *b)
{
    pthread_mutex_lock(&S.set_mu);
    if (tfind(b, &S.inuse, cmp_ptr))
        atomic_fetch_add(&S.twice, 1);
    else
        tsearch(b, &S.inuse, cmp_ptr);
    pthread_mutex_unlock(&S.set_mu);
}

static void release(void *b)
{
    pthread_mutex_lock(&S.set_mu);
    tdelete(b, &S.inuse, cmp_ptr);
    pthread_mutex_unlock(&S.set_mu);
}

/* Checks the taker's pattern, writes its own and checks it, gives back. */
static void finish(held h, uint64_t mark)
{
    if (!intact(h.buf, h.cap, h.id)) atomic_fetch_add(&S.bad_pattern, 1);
    fill(h.buf, h.cap, h.id ^ mark);
    if (!intact(h.buf, h.cap, h.id ^ mark)) atomic_fetch_add(&S.bad_pattern, 1);
    release(h.buf);
    kf_rec_pool_put(S.pool, h.buf, h.cap);
}

static void *putter(void *arg)
{
    queue *q = arg;
    uint64_t mark = ((uint64_t)(q - S.q) + 1) << 56;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (q->n == 0 && !q->closed)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->n == 0) {
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
        held h = q->items[q->head];
        q->head = (q->head + 1) % QCAP;
        q->n--;
        pthread_cond_broadcast(&q->cv); /* room for the taker */
        pthread_mutex_unlock(&q->mu);
        finish(h, mark);
    }
}

static void hand_over(queue *q, held h)
{
    pthread_mutex_lock(&q->mu);
    while (q->n == QCAP)
        pthread_cond_wait(&q->cv, &q->mu);
    q->items[(q->head + q->n) % QCAP] = h;
    q->n++;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

START_TEST(test_one_taker_many_putters)
{
    memset(&S, 0, sizeof S);
    S.pool = kf_rec_pool_new();
    ck_assert_ptr_nonnull(S.pool);
    pthread_mutex_init(&S.set_mu, NULL);
    pthread_t th[STRESS_PUTTERS];
    for (int i = 0; i < STRESS_PUTTERS; i++) {
        pthread_mutex_init(&S.q[i].mu, NULL);
        pthread_cond_init(&S.q[i].cv, NULL);
        ck_assert_int_eq(pthread_create(&th[i], NULL, putter, &S.q[i]), 0);
    }
    rng_state = 99;
    for (uint64_t id = 1; id <= STRESS_OPS; id++) {
        /* Mostly record-sized; one in 16 above the limit (never cached). */
        size_t size = rnd() % 16 == 0 ? KF_REC_POOL_MAX_BYTES + 1 + (size_t)(rnd() % 4000)
                                      : 16 + (size_t)(rnd() % (KF_REC_POOL_MAX_BYTES - 16));
        held h = {.id = id};
        h.buf = kf_rec_pool_get(S.pool, size, 64, &h.cap);
        ck_assert_ptr_nonnull(h.buf);
        if (!aligned(h.buf, 64) || h.cap < size) atomic_fetch_add(&S.bad_align, 1);
        claim(h.buf);
        fill(h.buf, h.cap, id);
        if (id % 7 == 0)
            finish(h, 0x5A5A000000000000ull); /* the taker gives back too */
        else
            hand_over(&S.q[id % STRESS_PUTTERS], h);
    }
    for (int i = 0; i < STRESS_PUTTERS; i++) {
        pthread_mutex_lock(&S.q[i].mu);
        S.q[i].closed = true;
        pthread_cond_broadcast(&S.q[i].cv);
        pthread_mutex_unlock(&S.q[i].mu);
    }
    for (int i = 0; i < STRESS_PUTTERS; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(atomic_load(&S.twice), 0);
    ck_assert_int_eq(atomic_load(&S.bad_pattern), 0);
    ck_assert_int_eq(atomic_load(&S.bad_align), 0);
    ck_assert_ptr_null(S.inuse); /* every buffer came back */
    /* Every buffer is back in the pool or freed: destroy frees the cached
     * ones, ASan's leak check at exit finds any other. */
    kf_rec_pool_destroy(S.pool);
    for (int i = 0; i < STRESS_PUTTERS; i++) {
        pthread_mutex_destroy(&S.q[i].mu);
        pthread_cond_destroy(&S.q[i].cv);
    }
    pthread_mutex_destroy(&S.set_mu);
}
END_TEST

/* ---- records from a pool ---------------------------------------------------- */

static kf_partition *part;

static void rec_setup(void)
{
    part = kf_partition_new("in", 3);
    ck_assert_ptr_nonnull(part);
}

static void rec_teardown(void)
{
    /* Every record let go of its partition reference. */
    /* (1: the owner's; plus references bought ahead for records) */
    ck_assert_int_eq(atomic_load(&part->refs), 1 + part->ref_credit);
    kf_partition_release(part); /* the owner: returns the record credit */
}

/* What a record was made from, to check its view against. */
typedef struct src {
    int64_t offset;
    char key[80];
    size_t key_len;
    bool null_key;
    char value[6000];
    size_t value_len;
    bool null_value;
    char hname[6][48];
    char hval[6][40];
    kf_header h[6];
    size_t nh;
} src;

static void make_src(src *s, int64_t offset, size_t max_value)
{
    memset(s, 0, sizeof *s);
    s->offset = offset;
    s->null_key = rnd() % 10 == 0;
    s->key_len = s->null_key ? 0 : (size_t)(rnd() % sizeof s->key);
    for (size_t i = 0; i < s->key_len; i++)
        s->key[i] = (char)('a' + (offset + (int64_t)i) % 26);
    s->null_value = rnd() % 10 == 0;
    s->value_len = s->null_value ? 0 : (size_t)(rnd() % (max_value + 1));
    for (size_t i = 0; i < s->value_len; i++)
        s->value[i] = (char)(offset * 7 + (int64_t)i * 13);
    s->nh = (size_t)(rnd() % 7);
    for (size_t i = 0; i < s->nh; i++) {
        snprintf(s->hname[i], sizeof s->hname[i], "h%zu-%lld", i, (long long)(offset % 1000));
        s->h[i].name = s->hname[i];
        if (rnd() % 5 == 0) {
            s->h[i].value = NULL; /* a null header value stays null */
            s->h[i].value_len = 0;
        } else {
            size_t n = (size_t)(rnd() % sizeof s->hval[i]);
            for (size_t k = 0; k < n; k++)
                s->hval[i][k] = (char)(offset + (int64_t)(k * i));
            s->h[i].value = s->hval[i];
            s->h[i].value_len = n;
        }
    }
}

static kf_rec *make_rec(kf_rec_pool *pool, const src *s)
{
    kf_rec *r = kf_rec_new_in(pool, part, s->offset, s->offset * 10, s->null_key ? NULL : s->key,
                              s->key_len, s->null_value ? NULL : s->value, s->value_len,
                              s->nh ? s->h : NULL, s->nh);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* The record's view equals its source, and its fresh state is clean (a
 * reused buffer must not leak the previous record's state). */
static bool same_view(const kf_rec *r, const src *s)
{
    const kf_record *v = &r->view;
    if (v->offset != s->offset || v->timestamp_ms != s->offset * 10 || v->partition != 3 ||
        strcmp(v->topic, "in") || v->attempt != 1 || v->struct_size != sizeof(kf_record))
        return false;
    if (s->null_key ? v->key != NULL
                    : (!v->key || v->key_len != s->key_len || memcmp(v->key, s->key, s->key_len)))
        return false;
    if (s->null_value ? v->value != NULL
                      : (!v->value || v->value_len != s->value_len ||
                         memcmp(v->value, s->value, s->value_len)))
        return false;
    if (v->header_count != s->nh) return false;
    for (size_t i = 0; i < s->nh; i++) {
        const kf_header *h = &v->headers[i];
        if (strcmp(h->name, s->h[i].name) || h->value_len != s->h[i].value_len) return false;
        if (!s->h[i].value ? h->value != NULL
                           : (!h->value || memcmp(h->value, s->h[i].value, h->value_len)))
            return false;
    }
    /* Everything the record points at lies inside its buffer. */
    const char *lo = (const char *)(r + 1), *hi = (const char *)r + r->capacity;
    if (v->key && ((const char *)v->key < lo || (const char *)v->key + v->key_len > hi))
        return false;
    if (v->value && ((const char *)v->value < lo || (const char *)v->value + v->value_len > hi))
        return false;
    return r->key_hash == kf_key_hash(s->null_key ? NULL : s->key, s->key_len) && r->part == part &&
           !r->outputs && r->outputs_tail == &r->outputs && !r->staged &&
           atomic_load(&r->pending) == 0 && atomic_load(&r->worst) == 0 && !atomic_load(&r->why) &&
           !r->to_dead_letter && !r->in_dead_letter && !r->fail_reason && !r->owner && !r->next &&
           !r->lane;
}

START_TEST(test_record_buffer_reused)
{
    kf_rec_pool *pool = kf_rec_pool_new();
    rng_state = 3;
    kf_header h[] = {{"first", "1111", 4}, {"second", NULL, 0}, {"third", "33", 2}};
    char big[1500];
    memset(big, 'B', sizeof big);
    kf_rec *r = kf_rec_new_in(pool, part, 10, 100, "a-long-ish-key", 14, big, sizeof big, h, 3);
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_eq(r->pool, pool);
    ck_assert_msg(aligned(r, KF_REC_ALIGN), "record %p not aligned", (void *)r);
    ck_assert_uint_ge(r->capacity, sizeof(kf_rec) + r->bytes);
    ck_assert_uint_eq(r->capacity % 256, 0);
    ck_assert_int_eq(atomic_load(&part->refs) - part->ref_credit, 2); /* owner + record */
    kf_rec *first = r;
    size_t first_cap = r->capacity;
    /* Dirty its state as a dispatcher would, to see none of it survive. */
    r->to_dead_letter = true;
    atomic_store(&r->pending, 3);
    atomic_store(&r->worst, 2);
    kf_rec_free(r);
    ck_assert_int_eq(atomic_load(&part->refs) - part->ref_credit, 1);

    /* Smaller, different: same buffer, and a view of the new record only. */
    kf_header h2[] = {{"x", "y", 1}};
    r = kf_rec_new_in(pool, part, 11, 110, "k", 1, "small", 5, h2, 1);
    ck_assert_ptr_eq(r, first);
    ck_assert_uint_eq(r->capacity, first_cap);
    ck_assert_int_eq(r->view.offset, 11);
    ck_assert_int_eq(r->view.timestamp_ms, 110);
    ck_assert_uint_eq(r->view.key_len, 1);
    ck_assert_int_eq(memcmp(r->view.key, "k", 1), 0);
    ck_assert_uint_eq(r->view.value_len, 5);
    ck_assert_int_eq(memcmp(r->view.value, "small", 5), 0);
    ck_assert_uint_eq(r->view.header_count, 1);
    ck_assert_str_eq(r->view.headers[0].name, "x");
    ck_assert_uint_eq(r->view.headers[0].value_len, 1);
    ck_assert_int_eq(memcmp(r->view.headers[0].value, "y", 1), 0);
    ck_assert(!r->to_dead_letter);
    ck_assert_int_eq(atomic_load(&r->pending), 0);
    ck_assert_int_eq(atomic_load(&r->worst), 0);
    kf_rec_free(r);

    /* Null key and value after a record that had both. */
    r = kf_rec_new_in(pool, part, 12, 120, NULL, 0, NULL, 0, NULL, 0);
    ck_assert_ptr_eq(r, first);
    ck_assert_ptr_null(r->view.key);
    ck_assert_ptr_null(r->view.value);
    ck_assert_uint_eq(r->view.header_count, 0);
    ck_assert(r->key_hash == 0);
    kf_rec_free(r);

    /* Without a pool: aligned too, freed with free. */
    r = kf_rec_new_in(NULL, part, 13, 130, "k", 1, "v", 1, NULL, 0);
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_null(r->pool);
    ck_assert(aligned(r, KF_REC_ALIGN));
    kf_rec_free(r);
    r = kf_rec_new(part, 14, 140, "k", 1, "v", 1, NULL, 0);
    ck_assert(aligned(r, KF_REC_ALIGN));
    kf_rec_free(r);
    kf_rec_pool_destroy(pool);
}
END_TEST

START_TEST(test_record_views_after_reuse_random)
{
    /* Records of random shapes, several alive at once, made and freed in a
     * ring: every one is aligned, its view matches what it was made from
     * when made AND when freed (no later record wrote into it), and buffers
     * do get reused. */
    enum { ROUNDS = 3000, LIVE = 8 };
    kf_rec_pool *pool = kf_rec_pool_new();
    rng_state = 11;
    static src srcs[LIVE];
    kf_rec *live[LIVE] = {0};
    int cached = 0;
    for (int64_t i = 0; i < ROUNDS; i++) {
        int slot = (int)(i % LIVE);
        if (live[slot]) {
            ck_assert_msg(same_view(live[slot], &srcs[slot]), "record %lld changed while held",
                          (long long)srcs[slot].offset);
            kf_rec_free(live[slot]);
        }
        /* Mostly pool-sized; some above the limit (not cached). */
        make_src(&srcs[slot], i, rnd() % 8 == 0 ? 5500 : 2500);
        kf_rec *r = make_rec(pool, &srcs[slot]);
        ck_assert_msg(aligned(r, KF_REC_ALIGN), "record %lld at %p", (long long)i, (void *)r);
        ck_assert_ptr_eq(r->pool, pool);
        ck_assert_uint_ge(r->capacity, sizeof(kf_rec) + r->bytes);
        ck_assert_msg(same_view(r, &srcs[slot]), "record %lld: wrong view", (long long)i);
        /* A capacity above what it asked for: it is a reused buffer. */
        size_t want = (sizeof(kf_rec) + r->bytes + 255) / 256 * 256;
        cached += r->capacity > want;
        live[slot] = r;
    }
    for (int i = 0; i < LIVE; i++) {
        ck_assert(same_view(live[i], &srcs[i]));
        kf_rec_free(live[i]);
    }
    ck_assert_int_gt(cached, 0);
    kf_rec_pool_destroy(pool);
}
END_TEST

/* Records made by one thread and freed by others (as workers do). */
enum { XREC_N = 40000, XREC_THREADS = 4 };

typedef struct xq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    kf_rec *items[QCAP];
    size_t head, n;
    bool closed;
    atomic_int *bad;
} xq;

/* A record's value says which offset it is: "v<offset>" padded to a length
 * that depends on the offset. */
static size_t xvalue(int64_t off, char *buf, size_t cap)
{
    size_t len = 8 + (size_t)(off * 37 % 1800);
    if (len > cap) len = cap;
    int n = snprintf(buf, cap, "v%lld|", (long long)off);
    for (size_t i = (size_t)n; i < len; i++)
        buf[i] = (char)('A' + (off + (int64_t)i) % 23);
    return len;
}

static void *xfreer(void *arg)
{
    xq *q = arg;
    char expect[2048];
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (q->n == 0 && !q->closed)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->n == 0) {
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
        kf_rec *r = q->items[q->head];
        q->head = (q->head + 1) % QCAP;
        q->n--;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        size_t len = xvalue(r->view.offset, expect, sizeof expect);
        if (r->view.value_len != len || memcmp(r->view.value, expect, len) ||
            !aligned(r, KF_REC_ALIGN))
            atomic_fetch_add(q->bad, 1);
        kf_rec_free(r);
    }
}

START_TEST(test_records_freed_on_other_threads)
{
    kf_rec_pool *pool = kf_rec_pool_new();
    atomic_int bad = 0;
    static xq qs[XREC_THREADS];
    pthread_t th[XREC_THREADS];
    for (int i = 0; i < XREC_THREADS; i++) {
        memset(&qs[i], 0, sizeof qs[i]);
        pthread_mutex_init(&qs[i].mu, NULL);
        pthread_cond_init(&qs[i].cv, NULL);
        qs[i].bad = &bad;
        ck_assert_int_eq(pthread_create(&th[i], NULL, xfreer, &qs[i]), 0);
    }
    char value[2048];
    for (int64_t off = 0; off < XREC_N; off++) {
        size_t len = xvalue(off, value, sizeof value);
        kf_rec *r = kf_rec_new_in(pool, part, off, 0, "k", 1, value, len, NULL, 0);
        ck_assert_ptr_nonnull(r);
        xq *q = &qs[off % XREC_THREADS];
        pthread_mutex_lock(&q->mu);
        while (q->n == QCAP)
            pthread_cond_wait(&q->cv, &q->mu);
        q->items[(q->head + q->n) % QCAP] = r;
        q->n++;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
    }
    for (int i = 0; i < XREC_THREADS; i++) {
        pthread_mutex_lock(&qs[i].mu);
        qs[i].closed = true;
        pthread_cond_broadcast(&qs[i].cv);
        pthread_mutex_unlock(&qs[i].mu);
    }
    for (int i = 0; i < XREC_THREADS; i++) {
        pthread_join(th[i], NULL);
        pthread_mutex_destroy(&qs[i].mu);
        pthread_cond_destroy(&qs[i].cv);
    }
    ck_assert_int_eq(atomic_load(&bad), 0);
    kf_rec_pool_destroy(pool);
}
END_TEST

static Suite *pool_suite(void)
{
    Suite *s = suite_create("record_pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_put_buffer_is_reused);
    tcase_add_test(tc, test_rounding_and_capacity);
    tcase_add_test(tc, test_alignment_fresh_and_reused);
    tcase_add_test(tc, test_too_big_not_cached);
    tcase_add_test(tc, test_spare_too_small_is_replaced);
    tcase_add_test(tc, test_put_edge_cases);
    tcase_add_test(tc, test_destroy_frees_both_lists);
    tcase_add_test(tc, test_keep_bound);
    tcase_add_test(tc, test_keep_bound_counts_what_was_taken);
    tcase_add_test(tc, test_keep_bound_set);
    tcase_add_test(tc, test_one_taker_many_putters);
    suite_add_tcase(s, tc);

    TCase *tr = tcase_create("records");
    tcase_set_timeout(tr, 120);
    tcase_add_checked_fixture(tr, rec_setup, rec_teardown);
    tcase_add_test(tr, test_record_buffer_reused);
    tcase_add_test(tr, test_record_views_after_reuse_random);
    tcase_add_test(tr, test_records_freed_on_other_threads);
    suite_add_tcase(s, tr);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pool_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
