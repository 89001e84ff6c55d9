#include "common/metrics.h"

#include "common/partition_gauges.h"

#define ROW(n, h, k, field)                                                                        \
    {                                                                                              \
        .name = n, .help = h, .kind = k, .offset = offsetof(kf_metrics, field)                     \
    }
#define HIST(n, h, k, field, b)                                                                    \
    {                                                                                              \
        .name = n, .help = h, .kind = k, .offset = offsetof(kf_metrics, field), .bounds = &b       \
    }
#define CALLS(n, h, field, names)                                                                  \
    {                                                                                              \
        .name = n, .help = h, .kind = KF_METRIC_LABELED_HISTOGRAM,                                 \
        .offset = offsetof(kf_metrics, field), .bounds = &kf_hist_seconds, .label = "call",        \
        .values = names, .nvalues = sizeof names / sizeof names[0]                                 \
    }
#define PART(n, h, field)                                                                          \
    {                                                                                              \
        .name = n, .help = h, .kind = KF_METRIC_PARTITION_GAUGE,                                   \
        .offset = offsetof(kf_partition_row, field)                                                \
    }

/* Label values, by kf_redis_call and kf_kafka_call. */
static const char *const REDIS_CALLS[KF_REDIS_CALL_COUNT] = {
    [KF_REDIS_CALL_ASSIGN] = "assign", [KF_REDIS_CALL_COMPLETE] = "complete",
    [KF_REDIS_CALL_TRIM] = "trim",     [KF_REDIS_CALL_CLAIM] = "claim",
    [KF_REDIS_CALL_PARK] = "park",
};
static const char *const KAFKA_CALLS[KF_KAFKA_CALL_COUNT] = {
    [KF_KAFKA_CALL_INIT] = "init_transactions",
    [KF_KAFKA_CALL_SEND_OFFSETS] = "send_offsets_to_transaction",
    [KF_KAFKA_CALL_COMMIT] = "commit_transaction",
    [KF_KAFKA_CALL_ABORT] = "abort_transaction",
};

const kf_metric_family kf_metric_families[] = {
    ROW("records_in_total", "Records read from Kafka and dispatched.", KF_METRIC_COUNTER,
        records_in),
    ROW("records_done_total", "Records whose effects are complete.", KF_METRIC_COUNTER,
        records_done),
    ROW("records_filtered_total", "Records filtered out before the handler.", KF_METRIC_COUNTER,
        records_filtered),
    ROW("records_replayed_total",
        "Exactly-once replays that every sink already had (no handler call).", KF_METRIC_COUNTER,
        records_replayed),
    ROW("records_duplicate_total", "Records skipped as business-key duplicates (idempotency.key).",
        KF_METRIC_COUNTER, records_duplicate),
    ROW("records_failed_total", "Records sent to the on-failure topic.", KF_METRIC_COUNTER,
        records_failed),
    ROW("records_crashed_total",
        "Records sent to the on-failure topic because the handler crashed the process on them "
        "retry.max_crashes times.",
        KF_METRIC_COUNTER, records_crashed),
    ROW("records_parked_total",
        "Records put in the parked store (on_failure mode park): each one that failed for good, "
        "and each later record of its key.",
        KF_METRIC_COUNTER, records_parked),
    ROW("retries_total", "Record attempts retried.", KF_METRIC_COUNTER, retries),
    ROW("handler_calls_total", "Handler invocations.", KF_METRIC_COUNTER, handler_calls),
    ROW("batch_bisections_total",
        "Batch handler calls whose records all failed alike, split in halves (retry.bisect).",
        KF_METRIC_COUNTER, batch_bisections),
    ROW("commits_total", "Offset commits accepted by the broker.", KF_METRIC_COUNTER, commits),
    ROW("commit_errors_total", "Offset commits refused.", KF_METRIC_COUNTER, commit_errors),
    ROW("rebalances_total", "Rebalance events.", KF_METRIC_COUNTER, rebalances),
    ROW("rewinds_total",
        "Exactly-once transactions whose commit did not finish: producer replaced, partitions "
        "rewound to their committed offsets.",
        KF_METRIC_COUNTER, rewinds),
    ROW("retakes_total", "Exactly-once partitions taken anew after a fence or a rewind.",
        KF_METRIC_COUNTER, retakes),
    ROW("stalls_total",
        "Times the stall watchdog found an assigned partition with lag and no progress.",
        KF_METRIC_COUNTER, stalls),
    ROW("workers_added_total",
        "Worker threads added because records waited while every worker was busy.",
        KF_METRIC_COUNTER, workers_added),
    ROW("workers_retired_total", "Worker threads retired after the pool had idle workers.",
        KF_METRIC_COUNTER, workers_retired),
    ROW("prefetch_nudges_total",
        "Times the consumer woke librdkafka's fetcher: its prefetch queue ran low while records "
        "waited on the broker.",
        KF_METRIC_COUNTER, prefetch_nudges),
    ROW("sink_outputs_total", "Outputs acknowledged by a sink.", KF_METRIC_SINK_COUNTER, outputs),
    ROW("sink_errors_total", "Sink writes that failed.", KF_METRIC_SINK_COUNTER, sink_errors),
    ROW("sink_breaker_opens_total",
        "Times a sink's circuit breaker opened: consecutive transient failures across records.",
        KF_METRIC_SINK_COUNTER, breaker_opens),
    ROW("sink_breaker_probes_total", "Records let through an open circuit breaker as a probe.",
        KF_METRIC_SINK_COUNTER, breaker_probes),
    ROW("sink_breaker_state",
        "A sink's circuit breaker: 0 closed, 1 open (partitions paused), 2 a probe is out.",
        KF_METRIC_SINK_GAUGE, breaker_state),
    ROW("inflight_records", "Records dispatched and not yet done.", KF_METRIC_GAUGE64, inflight),
    ROW("assigned_partitions", "Partitions assigned.", KF_METRIC_GAUGE, assigned),
    ROW("paused_partitions", "Partitions paused by backpressure.", KF_METRIC_GAUGE, paused),
    ROW("stalled_partitions",
        "Assigned partitions with lag and nothing in flight or done for longer than the watchdog "
        "bound.",
        KF_METRIC_GAUGE, stalled),
    ROW("dead_partitions", "Exactly-once partitions fenced or rewinding, to be taken anew.",
        KF_METRIC_GAUGE, dead),
    ROW("parked_keys", "Keys parked in the assigned partitions (on_failure mode park).",
        KF_METRIC_GAUGE, parked_keys),
    ROW("parked_records", "Records of the parked keys in the parked store, as last read.",
        KF_METRIC_GAUGE64, parked_records),
    ROW("worker_threads",
        "Worker threads running (concurrency.threads, or between its min and max).",
        KF_METRIC_GAUGE, worker_threads),
    ROW("fences_total",
        "Exactly-once partitions whose epoch a newer owner had taken: their records were "
        "refused and dropped.",
        KF_METRIC_COUNTER, fences),
    ROW("fenced_partitions", "Exactly-once partitions fenced now, waiting to be taken anew.",
        KF_METRIC_GAUGE, fenced),
    ROW("uncommitted_records",
        "Records dispatched above the committed offsets: what a crash would replay (with "
        "exactly_once, the window of marks and staged outputs).",
        KF_METRIC_GAUGE64, uncommitted),
    ROW("eos_marks_held",
        "Exactly-once done marks loaded at assignment and held in memory (offsets above the "
        "committed watermark that a replay skips).",
        KF_METRIC_GAUGE64, marks_held),
    HIST("handler_duration_seconds",
         "Handler call duration, per handle call and per handle_batch call. Calls under 5 us "
         "are timed one in 16, each timed call counting for the calls it stands for.",
         KF_METRIC_HISTOGRAM, handler_duration, kf_hist_seconds),
    HIST("handler_batch_records", "Records per handle_batch call (batch handlers only).",
         KF_METRIC_HISTOGRAM, handler_batch, kf_hist_records),
    HIST("batch_records",
         "Records per batch the consumer dispatches (batch.max_records, max_bytes, window_ms).",
         KF_METRIC_HISTOGRAM, batch_records, kf_hist_records),
    HIST("produce_to_done_seconds",
         "From a record's Kafka timestamp to done (effects complete, filtered or dead-lettered); "
         "records without a timestamp are left out. Millisecond resolution.",
         KF_METRIC_HISTOGRAM, produce_to_done, kf_hist_seconds),
    HIST("commit_duration_seconds",
         "Commit duration: an offset commit until the broker's answer, or a whole exactly-once "
         "transaction (staged outputs, offsets, commit). Failed commits included.",
         KF_METRIC_HISTOGRAM, commit_duration, kf_hist_seconds),
    CALLS("redis_call_duration_seconds",
          "Round trips of the exactly-once state scripts in Redis, by script.", redis_calls,
          REDIS_CALLS),
    CALLS("kafka_call_duration_seconds",
          "Blocking calls of the exactly-once transactional producer, by call.", kafka_calls,
          KAFKA_CALLS),
    HIST("sink_flush_duration_seconds",
         "A worker's flush of its outputs to a sink, per chunk that wrote to it: a Redis round "
         "trip (the exactly-once script or a pipeline), HTTP requests, stdout. Kafka sinks send "
         "asynchronously and have none.",
         KF_METRIC_SINK_HISTOGRAM, sink_flush, kf_hist_seconds),
    PART("partition_lag_records",
         "Records of an assigned partition not yet committed: its end offset minus the group's "
         "committed offset.",
         lag),
    PART("partition_end_offset",
         "An assigned partition's end: the high watermark, or with exactly_once "
         "(read_committed) the last stable offset.",
         end),
    PART("partition_committed_offset", "An assigned partition's committed offset.", committed),
};

const size_t kf_metric_family_count = sizeof kf_metric_families / sizeof kf_metric_families[0];

int64_t kf_metric_value(const kf_metrics *m, const kf_metric_family *f, size_t sink)
{
    const char *at = (const char *)m + f->offset;
    switch (f->kind) {
    case KF_METRIC_COUNTER:
        return (int64_t)atomic_load_explicit((const atomic_uint_fast64_t *)at,
                                             memory_order_relaxed);
    case KF_METRIC_GAUGE:
        return atomic_load_explicit((const atomic_int *)at, memory_order_relaxed);
    case KF_METRIC_GAUGE64:
        return atomic_load_explicit((const atomic_int_fast64_t *)at, memory_order_relaxed);
    case KF_METRIC_SINK_COUNTER:
        return (int64_t)atomic_load_explicit((const atomic_uint_fast64_t *)at + sink,
                                             memory_order_relaxed);
    case KF_METRIC_SINK_GAUGE:
        return atomic_load_explicit((const atomic_int *)at + sink, memory_order_relaxed);
    case KF_METRIC_HISTOGRAM:
    case KF_METRIC_SINK_HISTOGRAM:
    case KF_METRIC_LABELED_HISTOGRAM:
    case KF_METRIC_PARTITION_GAUGE:
        break;
    }
    return 0;
}

const kf_histogram *kf_metric_histogram(const kf_metrics *m, const kf_metric_family *f, size_t i)
{
    return (const kf_histogram *)((const char *)m + f->offset) + i;
}

const char *kf_metric_type(const kf_metric_family *f)
{
    switch (f->kind) {
    case KF_METRIC_COUNTER:
    case KF_METRIC_SINK_COUNTER:
        return "counter";
    case KF_METRIC_HISTOGRAM:
    case KF_METRIC_SINK_HISTOGRAM:
    case KF_METRIC_LABELED_HISTOGRAM:
        return "histogram";
    case KF_METRIC_GAUGE:
    case KF_METRIC_GAUGE64:
    case KF_METRIC_SINK_GAUGE:
    case KF_METRIC_PARTITION_GAUGE:
        break;
    }
    return "gauge";
}
