/*
 * Bisecting a batch call that failed as a whole (Lambda's
 * BisectBatchOnFunctionError), for handlers with handle_batch.
 *
 * A batch handler that throws on one bad record fails every record of the
 * call with it. With `retry.bisect`, a call of two or more records whose
 * results are all the same failure is taken back (the records' outputs are
 * discarded through `reset`) and each half is called again, the first half
 * first, recursively: a record that fails alone has its own failure, the
 * others have the results of the smallest call that did not fail as a whole.
 * At most 2n - 1 calls for n records; order within each half is kept, so an
 * ordered lane's records still run in order.
 *
 * No lock, no allocation beyond the stack: the dispatcher calls it from a
 * worker with the chunk it holds.
 */
#ifndef KF_BISECT_H
#define KF_BISECT_H

#include "kfleet/handler.h"

#include <stddef.h>

/* Calls the batch handler on the records idx[0..k) and writes results[j] for
 * idx[j]. */
typedef void(kf_bisect_call_fn)(void *arg, const size_t *idx, size_t k, kf_result *results);

/* Discards what the records idx[0..k) emitted in a call that is taken back. */
typedef void(kf_bisect_reset_fn)(void *arg, const size_t *idx, size_t k);

typedef struct kf_bisect_stats {
    size_t calls;  /* handler calls made */
    size_t splits; /* calls taken back and halved */
} kf_bisect_stats;

/* True when every one of results[0..k) is the same failure (k >= 2). */
int kf_bisect_failed_whole(const kf_result *results, size_t k);

/* Runs the records idx[0..n) as described above; n <= the caller's chunk.
 * Fills results[0..n) and adds to *st. */
void kf_bisect_run(const size_t *idx, size_t n, kf_result *results, kf_bisect_call_fn *call,
                   kf_bisect_reset_fn *reset, void *arg, kf_bisect_stats *st);

#endif
