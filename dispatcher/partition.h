/*
 * One assigned topic-partition, shared by the consumer thread (which creates
 * it at assignment and commits its watermark) and every record in flight from
 * it (which hold a counted reference). It outlives its assignment while
 * records still point at it.
 *
 * Exactly-once state (set by the consumer thread at assignment, before any
 * record of the partition is dispatched, and read-only afterwards except for
 * the atomics): the owner's epoch, the sinks already done for each offset
 * above the committed watermark (so a replay skips them without asking
 * Redis), and the Kafka outputs staged for the next transaction.
 */
#ifndef KF_PARTITION_H
#define KF_PARTITION_H

#include "dispatcher/offset_tracker.h"
#include "dispatcher/parked.h"
#include "kfleet/handler.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One Kafka output waiting for its record's transaction (exactly-once). */
typedef struct kf_staged {
    struct kf_staged *next;
    int64_t offset;    /* the input record's */
    unsigned seq;      /* order among the record's outputs */
    const char *topic; /* borrowed from the mapping's config */
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    kf_header *headers;
    size_t header_count;
} kf_staged;

typedef struct kf_partition {
    /* Read by workers for every record: kept apart from the counters below,
     * which the consumer and the workers write all the time (false sharing
     * costs more than the counting itself). */
    char *topic;
    int32_t partition;
    kf_tracker *tracker;
    atomic_bool revoked;  /* set on revoke: queued records are dropped */
    int64_t committed;    /* last committed offset; consumer thread only */
    int64_t retake_at;    /* fenced: when the consumer may take it anew; consumer only */
    int64_t first_offset; /* the first offset dispatched here, -1 before; consumer only */
    int ref_credit;       /* references bought ahead for records; consumer only */
    int64_t assigned_ms;  /* when it was assigned; consumer only */
    bool app_paused;      /* kfleet paused it in librdkafka; consumer only */
    /* `kfleet redrive` (consumer/redrive.c); consumer only. */
    int64_t redrive_hw; /* the end when first read: later dead letters are not taken; -1 unknown */
    bool redrive_end;   /* nothing more is taken from it */

    /* The stall watchdog's view (consumer thread only: consumer/watchdog.c).
     * Offsets are -1 when not known. */
    struct {
        int64_t last_progress_ms; /* when anything of it last moved */
        int64_t seen_last, seen_wm, seen_committed;
        int64_t next_offset, hi_offset, ls_offset, fetchq_cnt; /* librdkafka's statistics */
        int64_t stats_ms;                                      /* when those were read, 0 never */
        int stall;                                             /* the kf_stall it is in, 0 none */
        int64_t warned_ms;
        /* Also from the statistics: the group's committed offset as librdkafka
         * last fetched or committed it (the lag of consumer/gauges.h). */
        int64_t committed_offset;
    } wd;

    /* exactly-once */
    int64_t epoch;            /* 0 until assigned (or not exactly-once) */
    atomic_bool ready;        /* the assign script ran */
    atomic_bool fenced;       /* this object is dead: drop its records, never commit
                               * it; the consumer takes the partition anew */
    atomic_int retake;        /* why it is dead: KF_RETAKE_* bits (kf_partition_retake) */
    atomic_int_fast64_t trim; /* committed offset, for the completion scripts */
    /* The crash ledger (eos/crash_ledger.h): records that crashed the
     * process under an earlier owner, sorted by offset. Set like the done
     * marks, by the consumer before any record is dispatched; owned. */
    struct kf_crash_entry *crash;
    size_t ncrash;
    /* on_failure mode "park": the keys parked in this partition (parked.h). */
    kf_parked parked;
    uint32_t *done_mask; /* open addressing: offsets[i] -> done_mask[i] */
    int64_t *done_offsets;
    size_t done_cap; /* power of two, 0 when empty */
    size_t done_used;

    /* Written by the consumer (per record, per run) and by the workers (per
     * chunk): their own cache line. */
    _Alignas(64) atomic_int inflight; /* records dispatched and not yet done or dropped */
    atomic_int refs;

    _Alignas(64) pthread_mutex_t stage_lock; /* workers stage, the consumer takes */
    kf_staged *staged;                       /* unordered; sorted when taken */
} kf_partition;

/* Why a partition object is taken anew (bits of kf_partition.retake). */
enum {
    /* A newer owner exists (a stale epoch was refused), or Redis lost the
     * epoch: a rebalance may be coming that takes the partition away, so
     * the consumer waits a little before taking it anew. */
    KF_RETAKE_FENCED = 1,
    /* A transaction's outcome is unknown: the partition goes back to its
     * committed offset at once. */
    KF_RETAKE_REWIND = 2,
};

kf_partition *kf_partition_new(const char *topic, int32_t partition);

/* Marks p dead for `why` (a KF_RETAKE_* bit): its records are dropped, it is
 * never committed, and the consumer takes the partition anew. Any thread.
 * Returns the bits set before (0: this call killed it). */
int kf_partition_retake(kf_partition *p, int why);
void kf_partition_ref(kf_partition *p);

/* A reference for a new record, taken from a credit of references bought in
 * blocks, so that the creating thread does not write the shared count for
 * every record. Only ONE thread may create records of a partition this way
 * (the consumer), and that thread's owner reference must be dropped with
 * kf_partition_release, which gives back the unused credit. */
void kf_partition_ref_record(kf_partition *p);

/* The owner's kf_partition_unref: also returns the unused record credit. */
void kf_partition_release(kf_partition *p);
void kf_partition_unref(kf_partition *p);
/* Drops n references at once (a chunk's records). */
void kf_partition_unref_n(kf_partition *p, int n);

/* Records that `sink` (an index < 32) is done for `offset`. Consumer thread,
 * before the partition's records are dispatched. */
int kf_partition_mark_done(kf_partition *p, int64_t offset, int sink);

/* kf_partition_mark_done for every offset of from..to (a run loaded at
 * assignment). Same thread rule. */
int kf_partition_mark_done_run(kf_partition *p, int64_t from, int64_t to, int sink);

/* The sinks done for `offset` as a bit mask (0 when none). Any thread. */
uint32_t kf_partition_done_mask(const kf_partition *p, int64_t offset);

/* What the crash ledger says of `offset`: how many times a call of that
 * record alone crashed the process (*sig: the last signal, "" unknown), and
 * whether it was in a batch call that crashed (then it must run alone so the
 * next crash names it). Returns the crash count; 0 with *suspect false for
 * an offset the ledger does not name. Any thread. */
int64_t kf_partition_crashes(const kf_partition *p, int64_t offset, bool *suspect,
                             const char **sig);

/* Copies one output into a staged entry; NULL when out of memory. */
kf_staged *kf_staged_new(int64_t offset, unsigned seq, const char *topic, const void *key,
                         size_t key_len, const void *value, size_t value_len,
                         const kf_header *headers, size_t header_count);
void kf_staged_free_list(kf_staged *s);

/* Adds staged outputs (a list) to the partition. Any thread. */
void kf_partition_stage(kf_partition *p, kf_staged *list);

/* Takes the staged outputs of offsets below `below`, sorted by (offset,
 * seq); the others stay. */
kf_staged *kf_partition_take_staged(kf_partition *p, int64_t below);

#endif
