/*
 * Per-partition offset tracker: which dispatched records are done, and the
 * contiguous watermark that may be committed.
 *
 * Offsets are added in ascending order by the consumer thread when a record is
 * dispatched; they complete in any order from any thread. The watermark is the
 * offset of the lowest record not yet done (or one past the last added record
 * when all are done): committing it never skips a record that is unfinished.
 * Memory is O(records in flight), never O(records seen).
 *
 * Threads: every function takes the tracker's own mutex; safe from any thread.
 */
#ifndef KF_OFFSET_TRACKER_H
#define KF_OFFSET_TRACKER_H

#include <stddef.h>
#include <stdint.h>

typedef struct kf_tracker kf_tracker;

kf_tracker *kf_tracker_new(void);
void kf_tracker_destroy(kf_tracker *t);

/* Registers a dispatched offset. Returns -1 if it is not above the last one
 * added (the caller must kf_tracker_reset after a rewind). */
int kf_tracker_add(kf_tracker *t, int64_t offset);

/* Adds offsets[0..n) in order under one lock; stops at the first one that
 * is not above the last added and returns how many were added. */
size_t kf_tracker_add_many(kf_tracker *t, const int64_t *offsets, size_t n);

/* Marks an added offset done. Returns -1 if it was never added (or already
 * dropped below the watermark). */
int kf_tracker_done(kf_tracker *t, int64_t offset);

/* Marks n added offsets done under one lock (any order). Returns how many
 * were found and marked. */
size_t kf_tracker_done_many(kf_tracker *t, const int64_t *offsets, size_t n);

/* The offset to commit: all added records below it are done. -1 when nothing
 * was ever added. */
int64_t kf_tracker_watermark(kf_tracker *t);

/* The last offset added, -1 before the first. */
int64_t kf_tracker_last(kf_tracker *t);

/* Records added and not yet done. */
size_t kf_tracker_pending(kf_tracker *t);

/* Forgets everything (after a seek back). */
void kf_tracker_reset(kf_tracker *t);

#endif
