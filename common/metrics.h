/*
 * Counters, gauges and histograms of one mapping, and the registry that names
 * them for export. Updated with relaxed atomics from any thread (histograms:
 * common/histogram.h); read by the progress line, the summary and the
 * /metrics endpoint. A field joins /metrics by a row in kf_metric_families
 * (metrics.c); the renderer knows no field by name.
 */
#ifndef KF_METRICS_H
#define KF_METRICS_H

#include "common/histogram.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define KF_METRICS_MAX_SINKS 32

struct kf_partition_gauges;
struct kf_failure_log;

/* The exactly-once state scripts (eos/state.h), label `call` of
 * kfleet_redis_call_duration_seconds. */
typedef enum kf_redis_call {
    KF_REDIS_CALL_ASSIGN,
    KF_REDIS_CALL_COMPLETE,
    KF_REDIS_CALL_TRIM,
    KF_REDIS_CALL_CLAIM,
    KF_REDIS_CALL_PARK,
    KF_REDIS_CALL_COUNT
} kf_redis_call;

/* The transactional producer's blocking calls (eos/txn.h), label `call` of
 * kfleet_kafka_call_duration_seconds. */
typedef enum kf_kafka_call {
    KF_KAFKA_CALL_INIT,         /* init_transactions */
    KF_KAFKA_CALL_SEND_OFFSETS, /* send_offsets_to_transaction */
    KF_KAFKA_CALL_COMMIT,       /* commit_transaction */
    KF_KAFKA_CALL_ABORT,        /* abort_transaction */
    KF_KAFKA_CALL_COUNT
} kf_kafka_call;

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
    atomic_uint_fast64_t fences;          /* exactly-once: partitions found fenced */
    atomic_int fenced;                    /* gauge: fenced now, waiting to be taken anew */
    atomic_int_fast64_t uncommitted;      /* gauge: dispatched above the committed offsets */
    atomic_int_fast64_t marks_held;       /* gauge: exactly-once marks loaded, in memory */

    /* Histograms; their bounds are in their registry rows (metrics.c). */
    kf_histogram handler_duration; /* seconds per handler call */
    kf_histogram handler_batch;    /* records per handle_batch call */
    kf_histogram batch_records;    /* records per batch the consumer dispatches */
    kf_histogram produce_to_done;  /* seconds from a record's Kafka timestamp to done */
    kf_histogram commit_duration;  /* seconds per offset commit or transaction */
    kf_histogram redis_calls[KF_REDIS_CALL_COUNT];
    kf_histogram kafka_calls[KF_KAFKA_CALL_COUNT];
    kf_histogram sink_flush[KF_METRICS_MAX_SINKS]; /* seconds per worker flush of a sink */

    /* Lag per partition, published by the consumer (common/partition_gauges.h);
     * owned by the mapping, NULL when nobody publishes. */
    struct kf_partition_gauges *partitions;

    /* The latest failures, for /status (common/failure_log.h); owned by the
     * mapping, NULL when nobody reads them. */
    struct kf_failure_log *failures;
} kf_metrics;

typedef enum kf_metric_kind {
    KF_METRIC_COUNTER,           /* atomic_uint_fast64_t, one line per mapping */
    KF_METRIC_GAUGE,             /* atomic_int, one line per mapping */
    KF_METRIC_GAUGE64,           /* atomic_int_fast64_t, one line per mapping */
    KF_METRIC_SINK_COUNTER,      /* atomic_uint_fast64_t[KF_METRICS_MAX_SINKS], one line per sink */
    KF_METRIC_SINK_GAUGE,        /* atomic_int[KF_METRICS_MAX_SINKS], one line per sink */
    KF_METRIC_HISTOGRAM,         /* kf_histogram, one per mapping */
    KF_METRIC_SINK_HISTOGRAM,    /* kf_histogram[KF_METRICS_MAX_SINKS], one per sink */
    KF_METRIC_LABELED_HISTOGRAM, /* kf_histogram[nvalues], one per value of `label` */
    KF_METRIC_PARTITION_GAUGE,   /* an int64_t of kf_partition_row, one line per partition
                                  * (kf_metrics.partitions); -1 is left out */
} kf_metric_kind;

/* One exported family: kfleet_<name>, its HELP text, and where its value
 * lives in kf_metrics (or, for a partition gauge, in kf_partition_row). */
typedef struct kf_metric_family {
    const char *name;
    const char *help;
    kf_metric_kind kind;
    size_t offset;
    const kf_hist_bounds *bounds; /* histograms */
    const char *label;            /* labeled histograms: the label's name */
    const char *const *values;    /* ... and its values, by index */
    size_t nvalues;
} kf_metric_family;

/* Every family of kf_metrics, in export order; kf_metric_family_count rows. */
extern const kf_metric_family kf_metric_families[];
extern const size_t kf_metric_family_count;

/* The value of family f in m (sink: the sink's index, ignored otherwise);
 * counters and gauges only. */
int64_t kf_metric_value(const kf_metrics *m, const kf_metric_family *f, size_t sink);

/* Histogram i of family f in m (the sink's index, or the label value's; 0
 * for one per mapping). */
const kf_histogram *kf_metric_histogram(const kf_metrics *m, const kf_metric_family *f, size_t i);

/* The Prometheus TYPE of f: "counter", "gauge" or "histogram". */
const char *kf_metric_type(const kf_metric_family *f);

/* Observations: a duration in nanoseconds into a histogram of seconds, a
 * count of records into one of records. */
#define KF_METRIC_TIME(m, field, ns) kf_hist_observe(&(m)->field, &kf_hist_seconds, (ns))
#define KF_METRIC_SIZE(m, field, n)  kf_hist_observe(&(m)->field, &kf_hist_records, (n))

#define KF_METRIC_ADD(m, field, n) atomic_fetch_add_explicit(&(m)->field, (n), memory_order_relaxed)
#define KF_METRIC_GET(m, field)    atomic_load_explicit(&(m)->field, memory_order_relaxed)

#endif
