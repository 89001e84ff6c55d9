/*
 * A cache of record buffers between the thread that makes records (the
 * consumer) and the threads that finish them (workers, sink callbacks).
 *
 * Why: every record is allocated on the consumer thread and freed on another.
 * With glibc that free lands in the consumer's arena under its lock, so the
 * consumer's next malloc contends with every worker's free: in a busy fleet
 * malloc/free would be a third of the profile. Finished buffers instead go back
 * on a lock-free list that the consumer takes whole and reuses: no malloc and
 * no cross-thread free per record in the steady state.
 *
 * Threads: kf_rec_pool_get is called by ONE thread (the taker); put from any
 * thread. The taker takes the returned list with one atomic exchange, never
 * one node at a time, so the push/take pair has no ABA problem.
 *
 * Bounds: buffers above KF_REC_POOL_MAX_BYTES are never kept (a 1 MiB record
 * is freed when it is done); the taker keeps at most KF_REC_POOL_KEEP spare
 * buffers (or what kf_rec_pool_set_keep says) and frees the rest. Buffers
 * returned while the taker does not take (a paused consumer) are bounded by
 * the records that existed: the in-flight limit.
 */
#ifndef KF_RECORD_POOL_H
#define KF_RECORD_POOL_H

#include <stddef.h>

#define KF_REC_POOL_MAX_BYTES 4096
#define KF_REC_POOL_KEEP      2048

typedef struct kf_rec_pool kf_rec_pool;

kf_rec_pool *kf_rec_pool_new(void);

/* How many spare buffers the taker keeps (default KF_REC_POOL_KEEP). A
 * bound near the most records alive at once costs no memory beyond that
 * peak and stops the pool from freeing buffers only to allocate them again
 * when the in-flight window refills. Taker only. */
void kf_rec_pool_set_keep(kf_rec_pool *p, size_t keep);

/* Frees every cached buffer. Every buffer got from the pool must have been
 * put back (or freed) first. Accepts NULL. */
void kf_rec_pool_destroy(kf_rec_pool *p);

/* A buffer of at least `size` bytes aligned to `align` (a power of two, at
 * least alignof(void *), and the SAME on every call for one pool: a reused
 * buffer keeps the alignment it was made with); *capacity receives its
 * usable size, which goes back with it to kf_rec_pool_put. NULL when out of
 * memory. Taker only. */
void *kf_rec_pool_get(kf_rec_pool *p, size_t size, size_t align, size_t *capacity);

/* Gives a buffer back (any thread). A buffer too big to keep is freed. */
void kf_rec_pool_put(kf_rec_pool *p, void *buf, size_t capacity);

#endif
