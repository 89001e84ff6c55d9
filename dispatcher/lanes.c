#include "dispatcher/lanes.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum where { NOWHERE = 0, IN_RUNQ, IN_DELAYED };

struct kf_lane {
    const kf_partition *part; /* identity (ordered lanes) */
    uint64_t hash;            /* identity (key mode) */
    kf_rec *head, *tail;
    size_t n;
    bool running; /* held by a worker */
    bool hashed;  /* in the table (ordered lanes) */
    bool shared;  /* the unordered FIFO: never held */
    enum where where;
    int64_t ready_at;
    kf_lane *list_next; /* runq or delayed link */
    kf_lane *hnext;     /* hash chain */
};

struct kf_lanes {
    kf_ordering mode;
    kf_lane **buckets;
    size_t nbuckets, nlanes;
    kf_lane *runq_head, *runq_tail;
    kf_lane *delayed; /* unsorted; scanned when a worker looks for work */
    size_t ndelayed;
    kf_lane *shared; /* unordered mode */
    size_t queued;
    /* Lanes come and go with keys (a key lane lives while it has records),
     * so emptied lanes are kept for reuse rather than freed: the consumer
     * makes them and a worker empties them, so a free per lane would be a
     * cross-thread malloc/free pair for most records in key mode. */
    kf_lane *spare; /* linked through hnext */
    size_t nspare;
};

/* The most emptied lanes kept for reuse. */
#define SPARE_LANES 4096

static kf_lane *lane_alloc(kf_lanes *ls)
{
    kf_lane *l = ls->spare;
    if (!l) return calloc(1, sizeof *l);
    ls->spare = l->hnext;
    ls->nspare--;
    memset(l, 0, sizeof *l);
    return l;
}

static void lane_free(kf_lanes *ls, kf_lane *l)
{
    if (ls->nspare >= SPARE_LANES) {
        free(l);
        return;
    }
    l->hnext = ls->spare;
    ls->spare = l;
    ls->nspare++;
}

static size_t bucket_of(const kf_lanes *ls, const kf_partition *p, uint64_t h)
{
    uint64_t x = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull ^ h;
    x ^= x >> 29;
    return (size_t)(x & (ls->nbuckets - 1));
}

kf_lanes *kf_lanes_new(kf_ordering mode)
{
    kf_lanes *ls = calloc(1, sizeof *ls);
    if (!ls) return NULL;
    ls->mode = mode;
    ls->nbuckets = 1024;
    ls->buckets = calloc(ls->nbuckets, sizeof *ls->buckets);
    ls->shared = calloc(1, sizeof *ls->shared);
    if (!ls->buckets || !ls->shared) {
        free(ls->buckets);
        free(ls->shared);
        free(ls);
        return NULL;
    }
    ls->shared->shared = true;
    return ls;
}

static void runq_push(kf_lanes *ls, kf_lane *l)
{
    l->where = IN_RUNQ;
    l->list_next = NULL;
    if (ls->runq_tail)
        ls->runq_tail->list_next = l;
    else
        ls->runq_head = l;
    ls->runq_tail = l;
}

static kf_lane *runq_pop(kf_lanes *ls)
{
    kf_lane *l = ls->runq_head;
    if (!l) return NULL;
    ls->runq_head = l->list_next;
    if (!ls->runq_head) ls->runq_tail = NULL;
    l->where = NOWHERE;
    l->list_next = NULL;
    return l;
}

static void unhash(kf_lanes *ls, kf_lane *l)
{
    kf_lane **pp = &ls->buckets[bucket_of(ls, l->part, l->hash)];
    while (*pp && *pp != l)
        pp = &(*pp)->hnext;
    if (*pp) *pp = l->hnext;
    l->hashed = false;
    ls->nlanes--;
}

/* A lane that is empty, not held and in no list is garbage. */
static void maybe_free(kf_lanes *ls, kf_lane *l)
{
    if (l->shared || l->n || l->running || l->where != NOWHERE) return;
    if (l->hashed) unhash(ls, l);
    lane_free(ls, l);
}

static void grow(kf_lanes *ls)
{
    size_t nb = ls->nbuckets * 2;
    kf_lane **b = calloc(nb, sizeof *b);
    if (!b) return; /* keep the longer chains */
    kf_lane **old = ls->buckets;
    size_t oldn = ls->nbuckets;
    ls->buckets = b;
    ls->nbuckets = nb;
    for (size_t i = 0; i < oldn; i++) {
        for (kf_lane *l = old[i], *next; l; l = next) {
            next = l->hnext;
            size_t k = bucket_of(ls, l->part, l->hash);
            l->hnext = b[k];
            b[k] = l;
        }
    }
    free(old);
}

/* Finds or creates the lane a record belongs to; NULL on allocation failure. */
static kf_lane *lane_for(kf_lanes *ls, const kf_rec *r, bool for_retry)
{
    if (ls->mode == KF_ORDER_UNORDERED) {
        if (!for_retry) return ls->shared;
        return lane_alloc(ls); /* a retried record waits alone */
    }
    uint64_t h = ls->mode == KF_ORDER_KEY ? r->key_hash : 0;
    size_t k = bucket_of(ls, r->part, h);
    for (kf_lane *l = ls->buckets[k]; l; l = l->hnext)
        if (l->part == r->part && l->hash == h) return l;
    kf_lane *l = lane_alloc(ls);
    if (!l) return NULL;
    l->part = r->part;
    l->hash = h;
    l->hashed = true;
    l->hnext = ls->buckets[k];
    ls->buckets[k] = l;
    if (++ls->nlanes > ls->nbuckets) grow(ls);
    return l;
}

int kf_lanes_push(kf_lanes *ls, kf_rec *r)
{
    kf_lane *l = lane_for(ls, r, false);
    if (!l) return -1;
    r->next = NULL;
    r->lane = l;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
    l->n++;
    ls->queued++;
    if (!l->running && l->where == NOWHERE) runq_push(ls, l);
    return 0;
}

/* Inserts r into l keeping offset order: an ordered lane holds one
 * partition's records sorted by offset, so retries put back one at a time
 * (acks arrive in any order) still come out in order. */
static void insert_sorted(kf_lane *l, kf_rec *r)
{
    kf_rec **pp = &l->head, *prev = NULL;
    while (*pp && (*pp)->view.offset < r->view.offset) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    r->next = *pp;
    *pp = r;
    if (!r->next) l->tail = r;
    (void)prev;
    l->n++;
}

int kf_lanes_requeue(kf_lanes *ls, kf_rec **recs, size_t n, int64_t ready_at_ms)
{
    if (n == 0) return 0;
    /* r->lane may be stale (the lane was released and let go since the record
     * was taken): find the lane by identity. An unordered record gets a lane
     * of its own, so it waits alone. */
    kf_lane *l = lane_for(ls, recs[0], true);
    if (!l) return -1;
    for (size_t i = 0; i < n; i++) {
        recs[i]->lane = l;
        if (ls->mode == KF_ORDER_UNORDERED) {
            recs[i]->next = NULL;
            if (l->tail)
                l->tail->next = recs[i];
            else
                l->head = recs[i];
            l->tail = recs[i];
            l->n++;
        } else {
            insert_sorted(l, recs[i]);
        }
        ls->queued++;
    }
    if (ready_at_ms > l->ready_at) l->ready_at = ready_at_ms;
    if (l->where == IN_RUNQ) {
        /* Leave it in the runq: a worker that pops it early re-delays it. */
    } else if (!l->running && l->where == NOWHERE) {
        l->where = IN_DELAYED;
        l->list_next = ls->delayed;
        ls->delayed = l;
        ls->ndelayed++;
    }
    return 0;
}

static void promote_due(kf_lanes *ls, int64_t now)
{
    kf_lane **pp = &ls->delayed;
    while (*pp) {
        kf_lane *l = *pp;
        if (l->ready_at <= now) {
            *pp = l->list_next;
            ls->ndelayed--;
            l->where = NOWHERE;
            if (l->n)
                runq_push(ls, l);
            else
                maybe_free(ls, l);
        } else {
            pp = &l->list_next;
        }
    }
}

size_t kf_lanes_take(kf_lanes *ls, int64_t now_ms, size_t budget, kf_rec **out)
{
    if (ls->ndelayed) promote_due(ls, now_ms);
    size_t got = 0;
    while (got < budget) {
        kf_lane *l = runq_pop(ls);
        if (!l) break;
        if (l->n == 0) {
            maybe_free(ls, l);
            continue;
        }
        if (l->ready_at > now_ms) { /* requeued while runnable: wait its turn */
            l->where = IN_DELAYED;
            l->list_next = ls->delayed;
            ls->delayed = l;
            ls->ndelayed++;
            continue;
        }
        while (got < budget && l->n) {
            kf_rec *r = l->head;
            l->head = r->next;
            if (!l->head) l->tail = NULL;
            l->n--;
            ls->queued--;
            r->next = NULL;
            out[got++] = r;
        }
        if (l->shared) {
            if (l->n) runq_push(ls, l); /* others may take the rest now */
        } else {
            l->running = true;
        }
    }
    return got;
}

void kf_lanes_release(kf_lanes *ls, kf_lane *l, int64_t now_ms)
{
    if (l->shared) return;
    l->running = false;
    if (l->where != NOWHERE) return;
    if (l->n == 0) {
        maybe_free(ls, l);
    } else if (l->ready_at > now_ms) {
        l->where = IN_DELAYED;
        l->list_next = ls->delayed;
        ls->delayed = l;
        ls->ndelayed++;
    } else {
        runq_push(ls, l);
    }
}

size_t kf_lanes_queued(const kf_lanes *ls)
{
    return ls->queued;
}

int kf_lanes_runnable(const kf_lanes *ls)
{
    return ls->runq_head != NULL;
}

int64_t kf_lanes_next_due(const kf_lanes *ls)
{
    int64_t due = -1;
    for (const kf_lane *l = ls->delayed; l; l = l->list_next)
        if (due < 0 || l->ready_at < due) due = l->ready_at;
    return due;
}

static size_t drop_from(kf_lanes *ls, kf_lane *l, const kf_partition *p,
                        void (*drop)(kf_rec *, void *), void *arg)
{
    size_t dropped = 0;
    kf_rec **pp = &l->head, *last = NULL;
    while (*pp) {
        kf_rec *r = *pp;
        if (!p || r->part == p) {
            *pp = r->next;
            l->n--;
            ls->queued--;
            dropped++;
            drop(r, arg);
        } else {
            last = r;
            pp = &r->next;
        }
    }
    l->tail = last;
    return dropped;
}

size_t kf_lanes_drop_partition(kf_lanes *ls, const kf_partition *p,
                               void (*drop)(kf_rec *r, void *arg), void *arg)
{
    size_t n = drop_from(ls, ls->shared, p, drop, arg);
    for (size_t i = 0; i < ls->nbuckets; i++)
        for (kf_lane *l = ls->buckets[i]; l; l = l->hnext)
            if (!p || l->part == p) n += drop_from(ls, l, p, drop, arg);
    /* Unordered retry lanes live only in the lists. Emptied lanes stay linked
     * and are let go (lane_free) when a worker pops them. */
    for (kf_lane *l = ls->delayed; l; l = l->list_next)
        if (!l->hashed && !l->shared) n += drop_from(ls, l, p, drop, arg);
    for (kf_lane *l = ls->runq_head; l; l = l->list_next)
        if (!l->hashed && !l->shared) n += drop_from(ls, l, p, drop, arg);
    return n;
}

void kf_lanes_destroy(kf_lanes *ls, void (*drop)(kf_rec *r, void *arg), void *arg)
{
    if (!ls) return;
    kf_lanes_drop_partition(ls, NULL, drop, arg);
    /* Free list-only lanes, then hashed ones. */
    for (kf_lane *l = ls->delayed, *n; l; l = n) {
        n = l->list_next;
        if (!l->hashed && !l->shared) free(l);
    }
    for (kf_lane *l = ls->runq_head, *n; l; l = n) {
        n = l->list_next;
        if (!l->hashed && !l->shared) free(l);
    }
    for (size_t i = 0; i < ls->nbuckets; i++) {
        for (kf_lane *l = ls->buckets[i], *n; l; l = n) {
            n = l->hnext;
            free(l);
        }
    }
    for (kf_lane *l = ls->spare, *n; l; l = n) {
        n = l->hnext;
        free(l);
    }
    free(ls->buckets);
    free(ls->shared);
    free(ls);
}
