/*
 * The latest failures of one mapping, for the /status page: a ring of the
 * last KF_FAILURE_LOG_SIZE events an operator acts on (a record
 * dead-lettered or parked, a sink's circuit breaker opening, a partition
 * found fenced), each with its wall-clock time, where it happened and why.
 * The counters on /metrics say how many; this says which ones.
 *
 * Cost: an event is one mutex and a few bounded string copies, no
 * allocation; they happen per failed record, never per good one. A storm of
 * failures overwrites the oldest entries, so memory stays fixed.
 *
 * Threads: any thread adds (workers, sink callbacks); the /status.json
 * renderer copies. The ring's lock is a leaf: nothing else is locked or
 * called while it is held, so it can be taken under any other lock.
 *
 * Ownership: the mapping creates and destroys the log; kf_metrics points to
 * it (NULL: nothing is kept, and adding is a no-op, as in unit tests).
 */
#ifndef KF_FAILURE_LOG_H
#define KF_FAILURE_LOG_H

#include "common/partition_gauges.h"

#include <stddef.h>
#include <stdint.h>

#define KF_FAILURE_LOG_SIZE   20
#define KF_FAILURE_SINK_MAX   128 /* sink names are at most 128 characters */
#define KF_FAILURE_REASON_MAX 256 /* longer reasons are cut, with "..." */

typedef enum kf_failure_kind {
    KF_FAILURE_DEAD_LETTER,  /* a record written to the on-failure topic */
    KF_FAILURE_PARKED,       /* a record that failed for good parked its key */
    KF_FAILURE_BREAKER_OPEN, /* a sink's circuit breaker opened */
    KF_FAILURE_FENCED,       /* an exactly-once partition found fenced */
    KF_FAILURE_KIND_COUNT
} kf_failure_kind;

typedef struct kf_failure_event {
    uint64_t seq;    /* 1 for the mapping's first event, then one more each */
    int64_t time_ms; /* wall clock, milliseconds since the epoch */
    kf_failure_kind kind;
    char topic[KF_TOPIC_MAX];       /* "" for a sink's event */
    int32_t partition;              /* -1 for a sink's event */
    int64_t offset;                 /* -1 when no one record is meant */
    char sink[KF_FAILURE_SINK_MAX]; /* the breaker's sink; "" otherwise */
    char reason[KF_FAILURE_REASON_MAX];
} kf_failure_event;

typedef struct kf_failure_log kf_failure_log;

/* NULL when out of memory. */
kf_failure_log *kf_failure_log_new(void);
void kf_failure_log_destroy(kf_failure_log *log);

/* A record's event (dead letter, park, fence). log NULL: nothing happens;
 * NULL strings count as "". */
void kf_failure_log_record(kf_failure_log *log, kf_failure_kind kind, const char *topic,
                           int32_t partition, int64_t offset, const char *reason);

/* A sink's event (its breaker opened). log NULL: nothing happens. */
void kf_failure_log_sink(kf_failure_log *log, kf_failure_kind kind, const char *sink,
                         const char *reason);

/* Copies the events, newest first, into out[0..KF_FAILURE_LOG_SIZE) and
 * returns how many there are; *total is every event added since the log was
 * made (more than the count once the ring has wrapped). */
size_t kf_failure_log_copy(kf_failure_log *log, kf_failure_event *out, uint64_t *total);

/* "dead_letter", "parked", "breaker_open", "fenced". */
const char *kf_failure_kind_name(kf_failure_kind kind);

#endif
