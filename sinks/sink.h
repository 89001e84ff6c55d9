/*
 * The sink interface: where handler outputs go.
 *
 * A sink is opened once per mapping. Worker threads write outputs to it through
 * a per-worker state (`kf_sink_worker`), so a sink that needs a connection per
 * thread (Redis, HTTP) keeps it there and needs no lock on the hot path.
 *
 * Completion contract: every message handed to kf_sink_write is acknowledged
 * exactly once through msg->ack, with KF_STATUS_OK, KF_STATUS_RETRY (transient:
 * the dispatcher retries the record) or KF_STATUS_FAIL (permanent: the record
 * goes to the on-failure destination). The ack may come during write, during
 * flush, or later from another thread (Kafka delivery reports). After
 * kf_sink_flush returns, every message written by that worker before it has
 * been acknowledged or will be without further calls from the worker.
 *
 * Ownership: kf_sink_write copies what it keeps of the message; the caller's
 * buffers may be freed as soon as write returns.
 */
#ifndef KF_SINK_H
#define KF_SINK_H

#include "common/metrics.h"
#include "common/status.h"
#include "config/config.h"
#include "config/table.h"
#include "kfleet/handler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The ids kf_sinks_init (sinks/registry.h) gives the built-in sink types, in
 * kf_sink_config.type. Types registered later get the ids after these. */
enum {
    KF_SINK_KAFKA = 0,
    KF_SINK_REDIS,
    KF_SINK_HTTP,
    KF_SINK_STDOUT,
    KF_SINK_NULL,
    KF_SINK_BUILTIN_COUNT,
};

/* The Redis sink's `command` (kf_sink_config.command). */
typedef enum kf_redis_command {
    KF_REDIS_RPUSH = 0, /* RPUSH key value */
    KF_REDIS_XADD,      /* XADD key * key <k> value <v> */
    KF_REDIS_SET,       /* SET <key prefix><record key> value */
    KF_REDIS_HSET,      /* HSET key <record key> value */
} kf_redis_command;

/*
 * Capability flags: what the rest of kfleet knows of a sink type, instead of
 * its name.
 *
 * KF_SINK_CAP_MARKS: with exactly-once, the sink marks each record done for
 * itself in the state Redis (eos/marks.h) when its effect is complete, so a
 * replay skips it there.
 * KF_SINK_CAP_TRANSACTIONAL: the sink's outputs are Kafka records for the
 * topic in its config's `topic`; with exactly-once the mapping's Kafka
 * transaction carries them (with the offsets) instead of the sink.
 */
#define KF_SINK_CAP_MARKS         1u
#define KF_SINK_CAP_TRANSACTIONAL 2u

/* Called once per message; `why` is a sentence for logs (NULL when ok). */
typedef void(kf_ack_fn)(void *opaque, kf_status status, const char *why);

typedef struct kf_sink_msg {
    /* Where the input record came from: the exactly-once marks key on it. */
    const char *src_topic;
    int32_t src_partition;
    int64_t src_offset;
    /* The record's identity for receivers (the HTTP Idempotency-Key and
     * X-Kfleet-Source, stdout's fields); NULL id_topic: src_*. Only a
     * redriven record has one of its own: the source record it was before
     * it was dead-lettered (dispatcher/origin.h), while src_* stays the dead
     * letter's, which its marks key on. kf_sink_msg_id picks the one. */
    const char *id_topic;
    int32_t id_partition;
    int64_t id_offset;
    unsigned seq; /* the n-th output (0-based) of this record to this sink */

    const void *key; /* NULL for a null key */
    size_t key_len;
    const void *value;
    size_t value_len;
    const kf_header *headers;
    size_t header_count;

    kf_ack_fn *ack;
    void *ack_opaque;

    /* Exactly-once (env->exactly_once): the partition owner's epoch and its
     * committed offset (-1 none), for the fenced completion script of
     * eos/state.h. eos_epoch is 0 when not exactly-once. */
    int64_t eos_epoch;
    int64_t eos_trim;
    /* Exactly-once: no earlier attempt of this record was written to any
     * sink in this epoch and the assign loaded no mark of its offset, so no
     * mark of it can exist: the completion script need not look for one. */
    bool eos_fresh;
} kf_sink_msg;

/* The identity receivers see (id_*, or src_* when id_topic is NULL). */
static inline void kf_sink_msg_id(const kf_sink_msg *m, const char **topic, int32_t *partition,
                                  int64_t *offset)
{
    *topic = m->id_topic ? m->id_topic : m->src_topic ? m->src_topic : "";
    *partition = m->id_topic ? m->id_partition : m->src_partition;
    *offset = m->id_topic ? m->id_offset : m->src_offset;
}

/* What every sink of a mapping may need beyond its own config. */
typedef struct kf_sink_env {
    const char *mapping;      /* mapping name, for logs and client ids */
    const char *group_id;     /* consumer group: the exactly-once marks and idempotency keys */
    /* The group HTTP Idempotency-Keys name when it is not group_id (NULL):
     * a parked key's release keeps its marks apart, its keys the mapping's. */
    const char *idempotency_group;
    const char *brokers;      /* kafka.brokers */
    const kf_props *kafka;    /* kafka.properties */
    const kf_props *producer; /* the mapping's producer properties (override kafka) */
    const char *redis_url;    /* the top-level redis.url */
    int threads;              /* how many workers will call kf_sink_worker_open */
    /* Exactly-once: sinks that need marks (redis, http) keep them in the
     * state Redis (redis_url) under redis_key_prefix, see eos/state.h. */
    int exactly_once;
    const char *redis_key_prefix;
    /* The mapping's metrics (borrowed, outlive the sink; NULL: none): the
     * marks' round trips to the state Redis are timed there. */
    kf_metrics *metrics;
} kf_sink_env;

typedef struct kf_sink kf_sink;
typedef struct kf_sink_worker kf_sink_worker;

/* Opens a sink from its config. Returns NULL with a sentence in err. */
kf_sink *kf_sink_open(const kf_sink_config *cfg, const kf_sink_env *env, char *err, size_t errlen);

/* Per-thread state; `worker_id` is 0..threads-1. NULL with err on failure. */
kf_sink_worker *kf_sink_worker_open(kf_sink *s, int worker_id, char *err, size_t errlen);
void kf_sink_worker_close(kf_sink_worker *w);

/* Hands one message to the sink; see the completion contract above. */
void kf_sink_write(kf_sink_worker *w, const kf_sink_msg *msg);

/* Sends what this worker has buffered and collects the replies. */
void kf_sink_flush(kf_sink_worker *w);

/* True when the sink's type does its sending at flush (Redis, HTTP, stdout),
 * false when flush does nothing (a Kafka sink sends asynchronously). */
bool kf_sink_flushes(const kf_sink *s);

/* Waits up to timeout_ms for every outstanding ack (Kafka). 0 when all done. */
int kf_sink_drain(kf_sink *s, int timeout_ms);

/* Closes the sink. Every worker state must be closed first. Accepts NULL. */
void kf_sink_close(kf_sink *s);

const kf_sink_config *kf_sink_config_of(const kf_sink *s);

/* The capability flags of an open sink, and of a registered type (0 for an
 * unknown one). */
unsigned kf_sink_caps(const kf_sink *s);
unsigned kf_sink_type_caps(kf_sink_type t);

/* Opens the sink a mapping's dead letters go to without a transaction: a
 * Kafka producer to `topic`, named "on_failure". NULL with err on failure. */
kf_sink *kf_sink_open_dead_letter(const char *topic, const kf_sink_env *env, char *err,
                                  size_t errlen);

/* -------- for sink implementations -------- */

typedef struct kf_sink_ops {
    const char *type; /* the config's "type" */
    unsigned caps;    /* KF_SINK_CAP_* */
    /* The type's own config keys beside name and type, landing in
     * kf_sink_config's slots (config/table.h); its doc says what the sink
     * does, for `kfleet config reference`. */
    const kf_cfg_table *config;
    int (*open)(kf_sink *s, const kf_sink_config *cfg, const kf_sink_env *env, void **self,
                char *err, size_t errlen);
    /* May be NULL when the sink needs no per-thread state. */
    int (*worker_open)(void *self, int worker_id, void **ws, char *err, size_t errlen);
    void (*worker_close)(void *self, void *ws);
    void (*write)(void *self, void *ws, const kf_sink_msg *msg);
    /* May be NULL when write acks at once. */
    void (*flush)(void *self, void *ws);
    /* May be NULL when nothing can be outstanding after flush. */
    int (*drain)(void *self, int timeout_ms);
    void (*close)(void *self);
} kf_sink_ops;

extern const kf_sink_ops kf_sink_kafka_ops;
extern const kf_sink_ops kf_sink_redis_ops;
extern const kf_sink_ops kf_sink_http_ops;
extern const kf_sink_ops kf_sink_stdout_ops;
extern const kf_sink_ops kf_sink_null_ops;

#endif /* KF_SINK_H */
