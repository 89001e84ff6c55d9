#include "dispatcher/record_pool.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

/* A cached buffer's first bytes while it is in the pool. */
typedef struct node {
    struct node *next;
    size_t capacity;
} node;

struct kf_rec_pool {
    _Atomic(node *) returned; /* pushed by any thread, taken whole */
    node *spare;              /* the taker's */
    size_t nspare;
    size_t keep; /* the most spares kept */
};

/* Sizes are rounded up so that records of slightly different sizes share
 * buffers. */
#define ROUND 256

kf_rec_pool *kf_rec_pool_new(void)
{
    kf_rec_pool *p = calloc(1, sizeof(kf_rec_pool));
    if (p) p->keep = KF_REC_POOL_KEEP;
    return p;
}

void kf_rec_pool_set_keep(kf_rec_pool *p, size_t keep)
{
    p->keep = keep;
}

static void free_list(node *n)
{
    while (n) {
        node *next = n->next;
        free(n);
        n = next;
    }
}

void kf_rec_pool_destroy(kf_rec_pool *p)
{
    if (!p) return;
    free_list(atomic_exchange(&p->returned, NULL));
    free_list(p->spare);
    free(p);
}

/* Moves the returned buffers to the spares, freeing beyond the bound. */
static void take_returned(kf_rec_pool *p)
{
    node *n = atomic_exchange_explicit(&p->returned, NULL, memory_order_acquire);
    while (n) {
        node *next = n->next;
        if (p->nspare < p->keep) {
            n->next = p->spare;
            p->spare = n;
            p->nspare++;
        } else {
            free(n);
        }
        n = next;
    }
}

void *kf_rec_pool_get(kf_rec_pool *p, size_t size, size_t align, size_t *capacity)
{
    if (size < sizeof(node)) size = sizeof(node); /* a put stores a node in it */
    size_t want = (size + ROUND - 1) & ~(size_t)(ROUND - 1);
    if (want <= KF_REC_POOL_MAX_BYTES) {
        if (!p->spare) take_returned(p);
        /* The first spare that fits; one that does not is freed (a change
         * of record sizes replaces the cache over time). */
        while (p->spare) {
            node *n = p->spare;
            p->spare = n->next;
            p->nspare--;
            /* The next buffer was last written on another core: start
             * bringing it over while this one is filled. */
            if (p->spare) __builtin_prefetch(p->spare, 1);
            if (n->capacity >= want) {
                *capacity = n->capacity;
                return n;
            }
            free(n);
        }
    }
    void *buf = aligned_alloc(align, (want + align - 1) & ~(align - 1));
    if (buf) *capacity = want;
    return buf;
}

void kf_rec_pool_put(kf_rec_pool *p, void *buf, size_t capacity)
{
    if (!buf) return;
    if (!p || capacity > KF_REC_POOL_MAX_BYTES) {
        free(buf);
        return;
    }
    node *n = buf;
    n->capacity = capacity;
    n->next = atomic_load_explicit(&p->returned, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&p->returned, &n->next, n, memory_order_release,
                                                  memory_order_relaxed)) {
    }
}
