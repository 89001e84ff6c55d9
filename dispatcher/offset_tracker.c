/*
 * The tracker is a growable ring of (offset, done) in dispatch order. The head
 * is always the lowest record not yet done, so the watermark is read in O(1);
 * marking done is O(1) for contiguous offsets (the slot is offset - head's
 * offset) and a binary search over the ring otherwise, O(log in-flight).
 */
#include "dispatcher/offset_tracker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct slot {
    int64_t offset;
    bool done;
} slot;

struct kf_tracker {
    pthread_mutex_t lock;
    slot *ring;
    size_t cap;   /* power of two */
    size_t head;  /* index of the oldest slot */
    size_t count; /* slots in use; ring[head] is not done when count > 0 */
    size_t pending;
    /* -1 before the first add. Written under the lock by the adding thread;
     * atomic so that kf_tracker_last reads it without the lock. */
    _Atomic int64_t last_added;
};

kf_tracker *kf_tracker_new(void)
{
    kf_tracker *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cap = 1024;
    t->ring = malloc(t->cap * sizeof *t->ring);
    if (!t->ring) {
        free(t);
        return NULL;
    }
    t->last_added = -1;
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

void kf_tracker_destroy(kf_tracker *t)
{
    if (!t) return;
    pthread_mutex_destroy(&t->lock);
    free(t->ring);
    free(t);
}

static slot *at(kf_tracker *t, size_t i)
{
    return &t->ring[(t->head + i) & (t->cap - 1)];
}

static int grow(kf_tracker *t)
{
    slot *n = malloc(t->cap * 2 * sizeof *n);
    if (!n) return -1;
    for (size_t i = 0; i < t->count; i++)
        n[i] = *at(t, i);
    free(t->ring);
    t->ring = n;
    t->cap *= 2;
    t->head = 0;
    return 0;
}

/* Adds one offset; the caller holds the lock. */
static int add_locked(kf_tracker *t, int64_t offset)
{
    if (offset <= t->last_added || (t->count == t->cap && grow(t) != 0)) return -1;
    slot *s = at(t, t->count++);
    s->offset = offset;
    s->done = false;
    t->last_added = offset;
    t->pending++;
    return 0;
}

int kf_tracker_add(kf_tracker *t, int64_t offset)
{
    pthread_mutex_lock(&t->lock);
    int rc = add_locked(t, offset);
    pthread_mutex_unlock(&t->lock);
    return rc;
}

size_t kf_tracker_add_many(kf_tracker *t, const int64_t *offsets, size_t n)
{
    size_t i = 0;
    pthread_mutex_lock(&t->lock);
    while (i < n && add_locked(t, offsets[i]) == 0)
        i++;
    pthread_mutex_unlock(&t->lock);
    return i;
}

/* Marks one offset; the caller holds the lock and advances the head. */
static int mark_locked(kf_tracker *t, int64_t offset)
{
    /* Offsets are usually contiguous (gaps only from compaction or
     * transaction markers): try the slot they would have first. */
    if (t->count > 0 && offset >= at(t, 0)->offset) {
        uint64_t guess = (uint64_t)(offset - at(t, 0)->offset);
        if (guess < t->count && at(t, guess)->offset == offset) {
            slot *s = at(t, guess);
            if (s->done) return -1;
            s->done = true;
            t->pending--;
            return 0;
        }
    }
    size_t lo = 0, hi = t->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (at(t, mid)->offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < t->count && at(t, lo)->offset == offset && !at(t, lo)->done) {
        at(t, lo)->done = true;
        t->pending--;
        return 0;
    }
    return -1;
}

/* Keeps the invariant: the head is the lowest record not yet done. */
static void advance_locked(kf_tracker *t)
{
    while (t->count > 0 && at(t, 0)->done) {
        t->head = (t->head + 1) & (t->cap - 1);
        t->count--;
    }
}

int kf_tracker_done(kf_tracker *t, int64_t offset)
{
    pthread_mutex_lock(&t->lock);
    int rc = mark_locked(t, offset);
    if (rc == 0) advance_locked(t);
    pthread_mutex_unlock(&t->lock);
    return rc;
}

size_t kf_tracker_done_many(kf_tracker *t, const int64_t *offsets, size_t n)
{
    size_t marked = 0;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < n; i++)
        if (mark_locked(t, offsets[i]) == 0) marked++;
    advance_locked(t);
    pthread_mutex_unlock(&t->lock);
    return marked;
}

int64_t kf_tracker_watermark(kf_tracker *t)
{
    pthread_mutex_lock(&t->lock);
    int64_t wm = t->count > 0 ? at(t, 0)->offset : (t->last_added < 0 ? -1 : t->last_added + 1);
    pthread_mutex_unlock(&t->lock);
    return wm;
}

int64_t kf_tracker_last(kf_tracker *t)
{
    return atomic_load_explicit(&t->last_added, memory_order_relaxed);
}

size_t kf_tracker_pending(kf_tracker *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = t->pending;
    pthread_mutex_unlock(&t->lock);
    return n;
}

void kf_tracker_reset(kf_tracker *t)
{
    pthread_mutex_lock(&t->lock);
    t->head = t->count = t->pending = 0;
    t->last_added = -1;
    pthread_mutex_unlock(&t->lock);
}
