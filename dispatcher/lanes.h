/*
 * Ordering lanes: the scheduling structure under the dispatcher.
 *
 * A lane is a FIFO of records that must not run concurrently and must run in
 * order. What shares a lane depends on the ordering mode:
 *   partition  - one lane per topic-partition;
 *   key        - one lane per (topic-partition, key hash): keys run in parallel;
 *   unordered  - one shared lane that many workers take from at once; records
 *                being retried get a lane of their own so they wait alone.
 * A worker takes records from runnable lanes; an ordered lane it took from is
 * "running" (held) until the worker releases it, so no other worker can take
 * the next record of that lane meanwhile. A lane with a retry pending is
 * "delayed" until its ready time. Empty lanes are let go (a bounded number
 * kept for reuse), so memory follows the records in flight, not the number of
 * keys ever seen.
 *
 * Threads: none of these functions lock. The dispatcher calls every one of
 * them under its own mutex.
 */
#ifndef KF_LANES_H
#define KF_LANES_H

#include "config/config.h"
#include "dispatcher/record.h"

#include <stddef.h>
#include <stdint.h>

typedef struct kf_lane kf_lane;
typedef struct kf_lanes kf_lanes;

kf_lanes *kf_lanes_new(kf_ordering mode);

/* Frees every lane; queued records go to `drop`. */
void kf_lanes_destroy(kf_lanes *ls, void (*drop)(kf_rec *r, void *arg), void *arg);

/* Appends r to the tail of its lane. Returns -1 on allocation failure. */
int kf_lanes_push(kf_lanes *ls, kf_rec *r);

/* Puts recs[0..n) (one lane's records, in their order) back at the head of
 * their lane and delays the lane until ready_at_ms. The lane may be held by
 * the calling worker; it becomes runnable at ready_at once released. */
int kf_lanes_requeue(kf_lanes *ls, kf_rec **recs, size_t n, int64_t ready_at_ms);

/* Takes up to `budget` records, lane by lane in FIFO order of runnable lanes,
 * holding each ordered lane it takes from. Records keep r->lane set. Lanes
 * whose delay is over (ready_at <= now_ms) become runnable first. */
size_t kf_lanes_take(kf_lanes *ls, int64_t now_ms, size_t budget, kf_rec **out);

/* Releases a lane taken by kf_lanes_take (each distinct lane once). */
void kf_lanes_release(kf_lanes *ls, kf_lane *lane, int64_t now_ms);

/* Records queued (not taken). */
size_t kf_lanes_queued(const kf_lanes *ls);

/* True when some lane is runnable now. */
int kf_lanes_runnable(const kf_lanes *ls);

/* The earliest ready time of a delayed lane, or -1 when none is delayed. */
int64_t kf_lanes_next_due(const kf_lanes *ls);

/* Removes every queued (not taken) record of partition p, handing each to
 * `drop`. Returns how many. */
size_t kf_lanes_drop_partition(kf_lanes *ls, const kf_partition *p,
                               void (*drop)(kf_rec *r, void *arg), void *arg);

#endif
