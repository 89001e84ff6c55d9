/*
 * A record in flight: one Kafka message plus the state the dispatcher keeps
 * while it is processed. Its key and value are either copied into the
 * record's buffer or point into a message the record holds (`hold`, opaque
 * here: the dispatcher never calls librdkafka; `hold_release` frees it with
 * the record, on whichever thread that is).
 *
 * Ownership: the dispatcher owns a kf_rec from kf_dispatcher_submit until the
 * record is done or dropped, then frees it with kf_rec_free. `part` is a
 * counted reference released by kf_rec_free.
 */
#ifndef KF_RECORD_H
#define KF_RECORD_H

#include "common/clock.h"
#include "dispatcher/partition.h"
#include "kfleet/handler.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kf_lane;
struct kf_origin;
struct kf_output;

/* Every kf_rec starts at a multiple of this (a cache line). */
#define KF_REC_ALIGN 64

struct kf_dispatcher;
struct kf_rec_pool;

typedef struct kf_rec {
    kf_record view; /* what the handler sees; points into this allocation */
    kf_partition *part;
    uint64_t key_hash;
    size_t bytes; /* key + value + headers, for batch.max_bytes */

    struct kf_rec *next;          /* lane queue link; under the dispatcher lock */
    struct kf_lane *lane;         /* the lane while queued or running */
    struct kf_dispatcher *owner;  /* set by kf_dispatcher_submit: where acks go */
    struct kf_rec_pool *pool;     /* where the buffer goes back, NULL: malloc'd */
    void *hold;                   /* the message key and value point into, or NULL */
    void (*hold_release)(void *); /* frees `hold`; its owner outlives the record */
    size_t capacity;              /* the buffer's size */

    /* Outputs captured during the handler call (freed after they are written). */
    struct kf_output *outputs;
    struct kf_output **outputs_tail;

    /* Exactly-once: Kafka outputs of this attempt, handed to the partition's
     * staging only when the record is done (a retried attempt stages
     * nothing). Freed with the outputs. */
    struct kf_staged *staged;

    /* Completion: acks outstanding, plus one guard held by the worker. */
    atomic_int pending;
    atomic_int worst; /* the worst kf_status seen */
    _Atomic(char *) why;
    bool eos_written;    /* an attempt wrote to the sinks: marks of it may exist */
    bool to_dead_letter; /* next run skips the handler and writes the DLQ */
    bool to_park;        /* next run skips the handler and parks it (eos/park.h) */
    bool in_dead_letter; /* the outstanding write is the DLQ write */
    char *fail_reason;   /* why it is headed to the DLQ (owned) */
    int waits;           /* consecutive tries a sink's dependency was down: they set
                          * the backoff and are not attempts (completion.c) */

    /* Sinks (bit = index, the first 32) that accepted every output of the
     * record in one attempt: a dead letter names them (kfleet.sinks.done)
     * so that a redrive does not apply them twice. `tried` holds the sinks
     * the current attempt wrote to (set by the worker), `refused` those
     * whose ack was not OK; kf_completion_acked folds them into sinks_ok. */
    uint32_t tried;
    atomic_uint refused;
    uint32_t sinks_ok;

    struct kf_origin *origin; /* a redriven record's first identity (origin.h); owned; or NULL */
    bool passed_over;         /* done without a handler call: a redrive does not take it */
} kf_rec;

/* Copies one message. `hdrs` may be NULL. Returns NULL on allocation failure. */
kf_rec *kf_rec_new(kf_partition *part, int64_t offset, int64_t timestamp_ms, const void *key,
                   size_t key_len, const void *value, size_t value_len, const kf_header *hdrs,
                   size_t header_count);

/* The same, with the buffer from `pool` (NULL: aligned_alloc). Only the
 * pool's taker thread may call it. */
kf_rec *kf_rec_new_in(struct kf_rec_pool *pool, kf_partition *part, int64_t offset,
                      int64_t timestamp_ms, const void *key, size_t key_len, const void *value,
                      size_t value_len, const kf_header *hdrs, size_t header_count);

/* kf_rec_new_in without copying key and value: the view points into
 * `hold`, released with `release` when the record is freed. */
kf_rec *kf_rec_new_held(struct kf_rec_pool *pool, kf_partition *part, int64_t offset,
                        int64_t timestamp_ms, const void *key, size_t key_len, const void *value,
                        size_t value_len, const kf_header *hdrs, size_t header_count, void *hold,
                        void (*release)(void *));

/* Frees the record, its outputs and its partition reference; the buffer goes
 * back to its pool when it has one. Any thread. */
void kf_rec_free(kf_rec *r);

/* kf_rec_free without dropping the partition reference: the caller drops
 * the references of many records at once (kf_partition_unref_n). */
void kf_rec_release(kf_rec *r);

/* What the handler sees of the record: its view, or a redriven record's
 * first identity with the current attempt number. */
const kf_record *kf_rec_handler_view(kf_rec *r);

/* Frees the captured outputs only (staged ones wait for the record's end). */
void kf_rec_free_outputs(kf_rec *r);

/* Frees captured outputs and staged Kafka outputs (after a retry or once
 * written). */
void kf_rec_clear_outputs(kf_rec *r);

/* The end of the run of records of one partition that starts at recs[i]:
 * the first j > i whose record belongs to another partition, at most i + max
 * and at most n. Batches come in such runs, and per-partition work (tracker
 * locks, counters) is done once per run. */
size_t kf_rec_run_end(kf_rec *const *recs, size_t n, size_t i, size_t max);

/* FNV-1a of the key (0 for a null key). */
uint64_t kf_key_hash(const void *key, size_t len);

#endif
