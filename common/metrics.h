/*
 * Counters of one mapping, and the registry that names them for export.
 * Updated with relaxed atomics from any thread; read by the progress line,
 * the summary and the /metrics endpoint. A field joins /metrics by a row in
 * kf_metric_families (metrics.c); the renderer knows no field by name.
 */
#ifndef KF_METRICS_H
#define KF_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define KF_METRICS_MAX_SINKS 32

typedef struct kf_metrics {
    atomic_uint_fast64_t records_in;        /* dispatched to the dispatcher */
    atomic_uint_fast64_t records_done;      /* completed: effects acknowledged */
    atomic_uint_fast64_t records_filtered;  /* done without invoking the handler */
    atomic_uint_fast64_t records_replayed;  /* exactly-once: replays every sink already had */
    atomic_uint_fast64_t records_duplicate; /* business key seen within the window */
    atomic_uint_fast64_t records_failed;    /* written to the on-failure topic */
    atomic_uint_fast64_t records_crashed;   /* sent on for crashing the process max_crashes times */
    atomic_uint_fast64_t records_parked;    /* put in the parked store (on_failure mode park) */
    atomic_uint_fast64_t retries;           /* re-runs after KF_RETRY or a sink error */
    atomic_uint_fast64_t handler_calls;
    atomic_uint_fast64_t batch_bisections; /* batch calls failed as a whole and halved */
    atomic_uint_fast64_t outputs[KF_METRICS_MAX_SINKS]; /* acknowledged per sink */
    atomic_uint_fast64_t sink_errors[KF_METRICS_MAX_SINKS];
    atomic_uint_fast64_t breaker_opens[KF_METRICS_MAX_SINKS]; /* closed -> open */
    atomic_uint_fast64_t breaker_probes[KF_METRICS_MAX_SINKS];
    atomic_int breaker_state[KF_METRICS_MAX_SINKS]; /* gauge: kf_breaker_state */
    atomic_uint_fast64_t commits;
    atomic_uint_fast64_t commit_errors;
    atomic_uint_fast64_t rebalances;
    atomic_uint_fast64_t rewinds; /* exactly-once: transactions of unknown outcome rewound */
    atomic_uint_fast64_t retakes; /* exactly-once: partitions taken anew after a fence or rewind */
    atomic_uint_fast64_t stalls;  /* partitions the stall watchdog found stuck */
    atomic_uint_fast64_t workers_added;   /* autoscaled pool: workers started above min */
    atomic_uint_fast64_t workers_retired; /* autoscaled pool: idle workers stopped */
    atomic_uint_fast64_t prefetch_nudges; /* consumer: librdkafka's fetcher woken (prefetch.h) */
    atomic_int_fast64_t inflight;         /* gauge */
    atomic_int paused;                    /* gauge: partitions paused by backpressure */
    atomic_int assigned;                  /* gauge: partitions assigned */
    atomic_int stalled;                   /* gauge: partitions the watchdog finds stuck now */
    atomic_int dead;                      /* gauge: fenced or rewinding, waiting to be taken anew */
    atomic_int parked_keys;               /* gauge: keys parked in the assigned partitions */
    atomic_int_fast64_t parked_records;   /* gauge: their records in the parked store */
    atomic_int worker_threads;            /* gauge: worker threads running now */
} kf_metrics;

typedef enum kf_metric_kind {
    KF_METRIC_COUNTER,      /* atomic_uint_fast64_t, one line per mapping */
    KF_METRIC_GAUGE,        /* atomic_int, one line per mapping */
    KF_METRIC_GAUGE64,      /* atomic_int_fast64_t, one line per mapping */
    KF_METRIC_SINK_COUNTER, /* atomic_uint_fast64_t[KF_METRICS_MAX_SINKS], one line per sink */
    KF_METRIC_SINK_GAUGE,   /* atomic_int[KF_METRICS_MAX_SINKS], one line per sink */
} kf_metric_kind;

/* One exported family: kfleet_<name>, its HELP text, and where its value
 * lives in kf_metrics. */
typedef struct kf_metric_family {
    const char *name;
    const char *help;
    kf_metric_kind kind;
    size_t offset;
} kf_metric_family;

/* Every family of kf_metrics, in export order; kf_metric_family_count rows. */
extern const kf_metric_family kf_metric_families[];
extern const size_t kf_metric_family_count;

/* The value of family f in m (sink: the sink's index, ignored otherwise). */
int64_t kf_metric_value(const kf_metrics *m, const kf_metric_family *f, size_t sink);

#define KF_METRIC_ADD(m, field, n) atomic_fetch_add_explicit(&(m)->field, (n), memory_order_relaxed)
#define KF_METRIC_GET(m, field)    atomic_load_explicit(&(m)->field, memory_order_relaxed)

#endif
