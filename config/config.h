/*
 * kfleet configuration: a JSON file, validated whole at start-up.
 *
 * Every error names the JSON path and what was expected, e.g.
 *   mappings[0].batch.max_records: expected an integer 1..10000, got "lots"
 * Unknown keys are errors. `${VAR}` in any string expands from the
 * environment (an unset variable is an error naming the path).
 *
 * Ownership: kf_config_load_* returns a tree the caller frees with
 * kf_config_destroy; every string in it is owned by the tree.
 */
#ifndef KF_CONFIG_H
#define KF_CONFIG_H

#include "common/props.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum kf_ordering {
    KF_ORDER_PARTITION = 0, /* one record of a partition at a time, in order */
    KF_ORDER_KEY,           /* per key within a partition; keys run in parallel */
    KF_ORDER_UNORDERED,     /* no ordering at all */
} kf_ordering;

typedef enum kf_start {
    KF_START_EARLIEST = 0,
    KF_START_LATEST,
    KF_START_TIMESTAMP, /* start_timestamp_ms */
} kf_start;

/* A sink type's id: the one config/sink_types.h gave the type when it
 * registered (sinks/sink.h names the built-in ones). */
typedef int kf_sink_type;

/*
 * One entry of a mapping's "sinks". `name` and `type` are every sink's; the
 * other fields are slots the sink types' own keys land in (each type's table,
 * registered through config/sink_types.h, says which it fills). A type leaves
 * the slots it does not name zero.
 */
/* A sink's circuit breaker (dispatcher/breaker.h). failures 0: none. */
typedef struct kf_breaker_config {
    int failures;     /* consecutive transient failures that open it, default 5 */
    int probe_ms;     /* the first wait before a probe, default 500 */
    int max_probe_ms; /* the longest wait between probes, default 10000 */
} kf_breaker_config;

typedef struct kf_sink_config {
    char *name;
    kf_sink_type type;
    char *topic;      /* a Kafka topic */
    char *key;        /* a Redis key or key prefix */
    char *url;        /* an endpoint; NULL: the sink's default */
    int command;      /* an index into the type's own list of commands */
    int timeout_ms;   /* 0: the sink's default */
    kf_props headers; /* name -> value */
    kf_breaker_config breaker;
} kf_sink_config;

/* The mapping's JSON objects, one struct each, named as in the file. */
typedef struct kf_handler_ref {
    char *path;        /* handler.path, as written in the file */
    char *config_json; /* handler.config serialised; "{}" when absent */
} kf_handler_ref;

typedef struct kf_batch_config {
    int max_records;   /* 1..10000, default 500 */
    int64_t max_bytes; /* 1..67108864, default 6291456 */
    int window_ms;     /* 0..300000, default 20 */
} kf_batch_config;

typedef struct kf_concurrency_config {
    /* Worker threads: `threads` is the most the pool runs (what sinks are
     * told at open), `threads_min` the fewest. Equal for a fixed pool (an
     * integer in the config); threads.min and threads.max otherwise, where
     * the dispatcher adds and retires workers between them. */
    int threads;      /* 1..1024, default 8 */
    int threads_min;  /* 1..threads */
    int max_inflight; /* max_inflight_records, default 10000 */
} kf_concurrency_config;

typedef struct kf_retry_config {
    int max_attempts;          /* 1..1000, default 5 */
    int backoff_ms;            /* default 100 */
    int max_backoff_ms;        /* default 10000 */
    int64_t max_record_age_ms; /* -1 = no limit (default) */
    int max_crashes;           /* process crashes on a record before on_failure, default 3 */
    bool bisect;               /* split batch calls that fail as a whole */
} kf_retry_config;

typedef enum kf_on_failure_mode {
    KF_ON_FAILURE_DEAD_LETTER = 0, /* to `topic` (required) */
    KF_ON_FAILURE_PARK,            /* park the record's key in Redis (eos/park.h); `topic`
                                    * optional: where `kfleet parked drop` sends them */
} kf_on_failure_mode;

typedef struct kf_on_failure_config {
    kf_on_failure_mode mode;
    char *topic; /* NULL (dead_letter mode): retry forever, log loudly */
} kf_on_failure_config;

/* Business-key dedupe (exactly-once only). One of the two names the key: a
 * header, or a JSON field (dotted path) of the value. */
typedef struct kf_idempotency_config {
    char *key_header;
    char *key_json;
    int64_t window_ms; /* default 3600000 */
} kf_idempotency_config;

/* `kfleet redrive` (src/cmd_redrive.c): a mapping that reads its own
 * on-failure topic back and runs each dead letter again (consumer/redrive.h).
 * Never from a config file: the command builds it; the strings are its. */
typedef struct kf_redrive_opts {
    const char *group;                /* the consumer group: "<group_id>.redrive" */
    const char *const *source_topics; /* the mapping's own topics */
    size_t source_topic_count;
    int64_t since_ms; /* dead letters written before it are passed over; INT64_MIN: none */
    int64_t until_ms; /* those written after it are left for later; INT64_MAX: none */
    long limit;       /* at most this many taken; 0: no limit */
} kf_redrive_opts;

typedef struct kf_mapping_config {
    char *name;
    char **topics;
    size_t topic_count;
    char *group_id; /* default: "kfleet-<name>" */

    kf_start starting_position; /* default earliest */
    int64_t start_timestamp_ms; /* for KF_START_TIMESTAMP */

    kf_handler_ref handler;
    kf_batch_config batch;
    kf_ordering ordering; /* default key */
    kf_concurrency_config concurrency;
    bool exactly_once; /* default false */
    kf_retry_config retry;
    kf_on_failure_config on_failure;
    kf_idempotency_config idempotency;

    kf_sink_config *sinks;
    size_t sink_count;

    char *filters_json; /* "filters" array serialised, NULL when absent */

    int commit_interval_ms; /* default 1000, or 100 with exactly_once (transactions) */
    int revoke_timeout_ms;  /* default 10000: wait for in-flight on revoke */
    int stall_timeout_ms;   /* default 30000, 0 off: the stall watchdog's bound */

    kf_props consumer; /* per-mapping librdkafka consumer properties */
    kf_props producer; /* per-mapping librdkafka producer properties */

    const kf_redrive_opts *redrive; /* NULL but in `kfleet redrive` */
} kf_mapping_config;

typedef struct kf_config {
    char *path; /* the file it came from, or the origin given */
    char *dir;  /* the file's directory, for relative paths */

    char *brokers;  /* kafka.brokers, required */
    kf_props kafka; /* kafka.properties: every client */

    char *redis_url;        /* redis.url, default redis://127.0.0.1:6379/0 */
    char *redis_key_prefix; /* redis.key_prefix, default "kfleet" */

    char *metrics_listen; /* metrics.listen, NULL = no endpoint */

    char *log_level;         /* log.level: debug|info|warn|error, default info */
    int shutdown_timeout_ms; /* shutdown_timeout_ms, default 30000 */

    kf_mapping_config *mappings;
    size_t mapping_count;
} kf_config;

/* The topic failed records are written to as they fail: on_failure.topic in
 * dead_letter mode, NULL when there is none or the mapping parks instead. */
static inline const char *kf_dead_letter_topic(const kf_mapping_config *m)
{
    return m->on_failure.mode == KF_ON_FAILURE_DEAD_LETTER ? m->on_failure.topic : NULL;
}

/* Loads and validates a file. Returns 0, or -1 with the message in err. */
int kf_config_load_file(const char *path, kf_config **out, char *err, size_t errlen);

/* Same from a string; `origin` names it in messages. */
int kf_config_load_string(const char *json, const char *origin, kf_config **out, char *err,
                          size_t errlen);

void kf_config_destroy(kf_config *cfg);

/* The sink of a mapping with that name, or NULL. */
const kf_sink_config *kf_config_find_sink(const kf_mapping_config *m, const char *name);

/* The registered name of a sink type ("kafka"), or "unknown". */
const char *kf_sink_type_name(kf_sink_type t);

#endif /* KF_CONFIG_H */
