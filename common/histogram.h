/*
 * A Prometheus histogram with fixed bucket bounds, lock-free: observations
 * are relaxed atomic adds (one to the bucket, one to the sum), never a lock
 * or an allocation, so any thread may observe on a hot path. A zeroed
 * kf_histogram is an empty one (kf_metrics is calloc'd), which is why the
 * bounds are not stored in it: the caller passes them at every observation
 * and the exporter passes the same ones (the metric registry names them per
 * family, common/metrics.c).
 *
 * Values are integers in the bounds' unit (nanoseconds for durations,
 * records for sizes); `unit` converts them to the exported base unit.
 * Buckets are stored one count each, not cumulative; kf_hist_read sums them
 * into Prometheus' cumulative `le` buckets, so _count always equals the
 * +Inf bucket of the same reading. The sum is read apart from the buckets
 * and may be a few observations ahead or behind them.
 *
 * Per-record observations go through a kf_hist_local first: a plain,
 * thread-private array filled with no atomics at all and merged into the
 * shared histogram once per chunk or batch (kf_hist_merge: one atomic add
 * per non-empty bucket), so that workers do not contend on one cache line
 * per record. Durations of calls too fast to time each one go through a
 * kf_hist_sampler.
 */
#ifndef KF_HISTOGRAM_H
#define KF_HISTOGRAM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define KF_HIST_MAX_BOUNDS 24

/* Upper bounds (inclusive, increasing) of the finite buckets; the last
 * bucket, +Inf, is implied. */
typedef struct kf_hist_bounds {
    size_t n;
    int64_t le[KF_HIST_MAX_BOUNDS];
    double unit; /* one value step in the exported unit: 1e-9 for ns -> seconds */
} kf_hist_bounds;

/* Durations: nanoseconds observed, seconds exported; 1 us .. 60 s in 1-2.5-5 steps. */
extern const kf_hist_bounds kf_hist_seconds;
/* Sizes: records observed and exported; 1 .. 10000 (batch.max_records' range). */
extern const kf_hist_bounds kf_hist_records;

typedef struct kf_histogram {
    atomic_uint_fast64_t bucket[KF_HIST_MAX_BOUNDS + 1]; /* bucket[b->n] is +Inf */
    atomic_uint_fast64_t sum;                            /* in value units */
} kf_histogram;

/* A thread's own observations, not yet merged. Zero it before use (or let
 * kf_hist_merge clear it). */
typedef struct kf_hist_local {
    uint64_t bucket[KF_HIST_MAX_BOUNDS + 1];
    uint64_t sum;
    uint64_t count;
} kf_hist_local;

/* What kf_hist_read saw: cumulative[i] counts observations <= b->le[i]
 * (cumulative[b->n]: all of them, = count). */
typedef struct kf_hist_snapshot {
    uint64_t cumulative[KF_HIST_MAX_BOUNDS + 1];
    uint64_t count;
    uint64_t sum; /* in value units */
} kf_hist_snapshot;

/* The bucket of v: the first i with v <= b->le[i], or b->n (+Inf). A
 * negative v counts as 0 (a clock that stepped back). */
static inline size_t kf_hist_bucket(const kf_hist_bounds *b, int64_t v)
{
    size_t lo = 0, hi = b->n; /* the answer is in [lo, hi] */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v <= b->le[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* One observation: two relaxed atomic adds. Any thread. */
static inline void kf_hist_observe(kf_histogram *h, const kf_hist_bounds *b, int64_t v)
{
    if (v < 0) v = 0;
    atomic_fetch_add_explicit(&h->bucket[kf_hist_bucket(b, v)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, (uint_fast64_t)v, memory_order_relaxed);
}

/* n observations of v >= 0 into a thread's own buffer, in bucket i (which
 * the caller found with kf_hist_bucket: a run of equal values searches
 * once). No atomics. */
static inline void kf_hist_local_add_in(kf_hist_local *l, size_t i, int64_t v, uint64_t n)
{
    l->bucket[i] += n;
    l->sum += (uint64_t)v * n;
    l->count += n;
}

/* One observation into a thread's own buffer: no atomics. */
static inline void kf_hist_local_add(kf_hist_local *l, const kf_hist_bounds *b, int64_t v)
{
    if (v < 0) v = 0;
    kf_hist_local_add_in(l, kf_hist_bucket(b, v), v, 1);
}

/*
 * Times a share of a fast operation's calls, so that the two clock reads of
 * a timing (about 45 ns here) stay a small part of what they measure: every
 * call while the timed ones take at least `slow`, else one call in
 * KF_HIST_SAMPLE_EVERY. A timed call is observed with the weight of the calls
 * it stands for (itself and those not timed since the previous timed one),
 * so count and sum are those of every call but the last few untimed ones,
 * and the buckets an unbiased estimate. One per thread; zeroed to start
 * (the first call is timed).
 */
#define KF_HIST_SAMPLE_EVERY 16

typedef struct kf_hist_sampler {
    uint32_t skip;    /* calls still to leave untimed */
    uint32_t untimed; /* calls left untimed since the last timed one */
} kf_hist_sampler;

/* Whether to time this call. */
static inline int kf_hist_sampler_due(kf_hist_sampler *s)
{
    if (!s->skip) return 1;
    s->skip--;
    s->untimed++;
    return 0;
}

/* Observes a timed call that took v (value units) into l. */
static inline void kf_hist_sampler_add(kf_hist_sampler *s, kf_hist_local *l,
                                       const kf_hist_bounds *b, int64_t v, int64_t slow)
{
    if (v < 0) v = 0;
    kf_hist_local_add_in(l, kf_hist_bucket(b, v), v, (uint64_t)s->untimed + 1);
    s->untimed = 0;
    s->skip = v < slow ? KF_HIST_SAMPLE_EVERY - 1 : 0;
}

/* Adds l's observations to h (one atomic add per non-empty bucket) and
 * clears l. Nothing to do when l is empty. Any thread. */
void kf_hist_merge(kf_histogram *h, const kf_hist_bounds *b, kf_hist_local *l);

/* Reads h (relaxed loads; observations may land meanwhile). */
void kf_hist_read(const kf_histogram *h, const kf_hist_bounds *b, kf_hist_snapshot *out);

#endif
