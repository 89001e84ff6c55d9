/*
 * Counters of one mapping. Updated with relaxed atomics from any thread; read
 * by the progress line, the summary and the /metrics endpoint.
 */
#ifndef KF_METRICS_H
#define KF_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#define KF_METRICS_MAX_SINKS 32

typedef struct kf_metrics {
    atomic_uint_fast64_t records_in;        /* dispatched to the dispatcher */
    atomic_uint_fast64_t records_done;      /* completed: effects acknowledged */
    atomic_uint_fast64_t records_filtered;  /* done without invoking the handler */
    atomic_uint_fast64_t records_replayed;  /* exactly-once: replays every sink already had */
    atomic_uint_fast64_t records_duplicate; /* business key seen within the window */
    atomic_uint_fast64_t records_failed;    /* written to the on-failure topic */
    atomic_uint_fast64_t retries;           /* re-runs after KF_RETRY or a sink error */
    atomic_uint_fast64_t handler_calls;
    atomic_uint_fast64_t outputs[KF_METRICS_MAX_SINKS]; /* acknowledged per sink */
    atomic_uint_fast64_t sink_errors[KF_METRICS_MAX_SINKS];
    atomic_uint_fast64_t commits;
    atomic_uint_fast64_t commit_errors;
    atomic_uint_fast64_t rebalances;
    atomic_uint_fast64_t rewinds; /* exactly-once: transactions of unknown outcome rewound */
    atomic_uint_fast64_t retakes; /* exactly-once: partitions taken anew after a fence or rewind */
    atomic_uint_fast64_t stalls;  /* partitions the stall watchdog found stuck */
    atomic_int_fast64_t inflight; /* gauge */
    atomic_int paused;            /* gauge: partitions paused by backpressure */
    atomic_int assigned;          /* gauge: partitions assigned */
    atomic_int stalled;           /* gauge: partitions the watchdog finds stuck now */
    atomic_int dead;              /* gauge: fenced or rewinding, waiting to be taken anew */
} kf_metrics;

#define KF_METRIC_ADD(m, field, n) atomic_fetch_add_explicit(&(m)->field, (n), memory_order_relaxed)
#define KF_METRIC_GET(m, field)    atomic_load_explicit(&(m)->field, memory_order_relaxed)

#endif
