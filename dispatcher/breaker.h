/*
 * A sink's circuit breaker: tells a sink that is down from records that fail.
 *
 * Closed, it counts the sink's transient failures (KF_STATUS_RETRY answers:
 * a 5xx, a timeout, a connection refused, a Kafka topic that refuses
 * writes) in a row, across records; any other answer resets the count (a
 * 4xx is the record's failure: the sink answered). At `failures` in a row it
 * opens: the dispatcher runs no record of the mapping and the consumer
 * pauses its partitions, so no record spends an attempt or hammers the sink.
 * Open, it waits `probe_ms`, then lets one record through as a probe; the
 * probe's answer from this sink closes it, or opens it again for twice the
 * wait, up to `max_probe_ms`. A probe that never reached this sink (its
 * handler emitted nothing there, it was filtered, its partition was revoked)
 * says nothing: the breaker is due again at once.
 *
 * Threads: answers come from any thread (a sink acks from a worker's write
 * or flush, or from librdkafka's delivery reports); the rest from workers
 * under the dispatcher's lock. The breaker's own lock guards its state; an
 * answer to a closed breaker with nothing counted takes no lock.
 */
#ifndef KF_BREAKER_H
#define KF_BREAKER_H

#include "config/config.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum kf_breaker_state {
    KF_BREAKER_CLOSED = 0,
    KF_BREAKER_OPEN = 1,    /* waiting until the probe is due */
    KF_BREAKER_PROBING = 2, /* one record is out as the probe */
} kf_breaker_state;

/* What an answer or a probe changed, for the caller's log line and metrics. */
typedef enum kf_breaker_change {
    KF_BREAKER_SAME = 0,
    KF_BREAKER_OPENED,   /* closed -> open */
    KF_BREAKER_REOPENED, /* probing -> open, the wait doubled */
    KF_BREAKER_RECLOSED, /* probing -> closed */
} kf_breaker_change;

typedef struct kf_breaker kf_breaker;

/* NULL when cfg->failures is 0 (no breaker) or out of memory: the caller
 * tells them apart by cfg. */
kf_breaker *kf_breaker_new(const kf_breaker_config *cfg);
void kf_breaker_free(kf_breaker *b);

/* One answer of the sink: `transient` for KF_STATUS_RETRY. `why` (may be
 * NULL) is kept as the last failure's reason. */
kf_breaker_change kf_breaker_answer(kf_breaker *b, bool transient, const char *why, int64_t now_ms);

kf_breaker_state kf_breaker_state_of(kf_breaker *b);

/* An open breaker's probe time (kf_now_ms); -1 unless open. */
int64_t kf_breaker_due(kf_breaker *b);

/* Open and due at now_ms: it becomes probing and returns true. */
bool kf_breaker_start_probe(kf_breaker *b, int64_t now_ms);

/* The probe ran without writing to this sink (or its write was fenced): a
 * probing breaker is open again and due at once, its wait unchanged. True
 * when it was probing. */
bool kf_breaker_probe_void(kf_breaker *b, int64_t now_ms);

/* For log lines: the current wait between probes, when it last opened, and
 * the last failure's reason (copied into buf). */
int64_t kf_breaker_wait_ms(kf_breaker *b);
int64_t kf_breaker_opened_ms(kf_breaker *b);
void kf_breaker_last_why(kf_breaker *b, char *buf, size_t len);

#endif
