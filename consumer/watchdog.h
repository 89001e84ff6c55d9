/*
 * The stall watchdog: an assigned partition that has records to read and has
 * had nothing in flight and nothing done for longer than the mapping's
 * stall_timeout_ms is stalled. The consumer logs it at warn with its state,
 * counts it (kfleet_stalls_total, kfleet_stalled_partitions) and recovers it
 * where the cause is known, so that an operator never has to guess why a
 * group stopped.
 *
 * What the watchdog reads of librdkafka comes from its statistics (the fetch
 * position, the log end and last stable offset, the fetch queue), because
 * the application position cannot tell a stall from an idle partition whose
 * log ends in transaction markers or aborted records.
 *
 * kf_wd_judge is the decision alone, without librdkafka, so that a unit test
 * can walk it through every state. Threads: consumer thread only.
 */
#ifndef KF_WATCHDOG_H
#define KF_WATCHDOG_H

#include "dispatcher/partition.h"

#include <stdbool.h>
#include <stdint.h>

/* Why a partition is stalled, and so what the consumer does about it. */
typedef enum kf_stall {
    KF_STALL_NONE = 0,
    KF_STALL_DEAD,         /* fenced or rewinding, and not yet taken anew */
    KF_STALL_WINDOW,       /* exactly-once window full: waiting for a commit */
    KF_STALL_BACKPRESSURE, /* paused by backpressure with nothing in flight: resume */
    KF_STALL_UPSTREAM_TXN, /* read_committed: an open transaction holds the stable offset */
    KF_STALL_NOT_FETCHING, /* records to read, none arriving, not held by kfleet: resume, seek */
    KF_STALL_SINK_DOWN,    /* a sink's circuit breaker is open: its probes decide */
} kf_stall;

/* One partition as the watchdog sees it at a check. Offsets are -1 when not
 * known. */
typedef struct kf_wd_input {
    int64_t now_ms;
    int64_t bound_ms;         /* stall_timeout_ms (> 0) */
    int64_t last_progress;    /* when anything moved (kf_wd_progress) */
    int inflight;             /* records of it dispatched and not done */
    int64_t committed;        /* the committed offset kfleet knows */
    int64_t next_offset;      /* librdkafka's fetch position */
    int64_t hi_offset;        /* the log end */
    int64_t ls_offset;        /* the last stable offset */
    int64_t fetchq_cnt;       /* fetched and not yet consumed */
    bool read_committed;      /* isolation.level */
    bool dead;                /* fenced or rewinding */
    bool paused;              /* the mapping is paused by backpressure */
    bool sink_down;           /* a sink's circuit breaker holds the mapping */
    bool throttled;           /* the mapping is at its in-flight limit */
    bool window_full;         /* the exactly-once window holds the consumer back */
    int64_t mapping_inflight; /* records of the whole mapping in flight */
} kf_wd_input;

/* The verdict for one partition: KF_STALL_NONE while it moves, idles with
 * nothing to read, or has not been still for bound_ms. */
kf_stall kf_wd_judge(const kf_wd_input *in);

/* A sentence for the log: what the state is and what kfleet does. */
const char *kf_wd_describe(kf_stall s);

/* Records what moved in p since the last call (the tracker's last and
 * watermark offsets, the committed offset, records in flight) and returns
 * when it last moved. Call at every check. */
int64_t kf_wd_progress(kf_partition *p, int64_t now_ms);

/*
 * Reads librdkafka's statistics JSON (stats_cb) and keeps, for each
 * partition of `parts` it names, the fetch position, log end, last stable
 * offset, fetch queue count and committed offset in p->wd (the last ones
 * also make the lag of /metrics, consumer/gauges.h). Partitions it does not
 * name keep what they had.
 */
void kf_wd_read_stats(kf_partition *const *parts, size_t n, const char *json, int64_t now_ms);

#endif
