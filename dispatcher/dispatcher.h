/*
 * The dispatcher: a pool of worker threads that run a mapping's handler on
 * records in the order the mapping's ordering mode demands, hand the outputs
 * to the sinks, and mark a record done in its partition's offset tracker once
 * every sink has acknowledged it (or it was filtered, or dead-lettered).
 *
 * Shape for exactly-once: the step before handlers run is prepare() per
 * record and the business-key dedupe per chunk (dispatcher.c); the
 * completion after the sinks acknowledge is completion.c's; offsets are
 * committed only from the tracker, which only completion advances.
 *
 * Threads: the consumer thread calls submit, drop_partition, inflight, pool
 * and the waits; workers run inside;
 * sinks acknowledge from any thread. Lock order: dispatcher lock, then a
 * tracker's lock (never the reverse); no sink call is made under the
 * dispatcher lock.
 */
#ifndef KF_DISPATCHER_H
#define KF_DISPATCHER_H

#include "config/config.h"
#include "dispatcher/filter.h"
#include "common/metrics.h"
#include "dispatcher/record.h"
#include "handlers/loader.h"
#include "sinks/sink.h"

typedef struct kf_dispatcher kf_dispatcher;

typedef struct kf_dispatcher_env {
    const kf_mapping_config *mapping;
    const kf_loaded_handler *handler;
    kf_sink **sinks; /* the mapping's sinks, in config order */
    size_t sink_count;
    kf_sink *dead_letter;    /* kafka sink on on_failure.topic, NULL when none */
    const kf_filter *filter; /* NULL: every record goes to the handler */
    kf_metrics *metrics;
    /* Exactly-once: Kafka outputs (the mapping's Kafka sinks and, when set,
     * dead_letter_topic instead of dead_letter) are staged on the record's
     * partition for the consumer's next transaction; Redis and HTTP sinks
     * get the partition's epoch; sinks marked done at assignment are
     * skipped on a replay. */
    int exactly_once;
    int staged_kafka;              /* stage Kafka outputs (a transaction exists) */
    const char *dead_letter_topic; /* staged on-failure topic, NULL when none */
    const char *redis_url;         /* the state Redis (business-key dedupe) */
    const char *redis_key_prefix;
    /* Autoscaled pool: how long the pool must have had an idle worker before
     * one retires; 0 means KF_DISPATCHER_RETIRE_MS. */
    int retire_ms;
} kf_dispatcher_env;

/* The default of kf_dispatcher_env.retire_ms. */
#define KF_DISPATCHER_RETIRE_MS 5000

/* Starts mapping->concurrency.threads_min workers; with threads_min below
 * threads, adds workers up to threads while records wait and every worker is
 * busy, and retires idle ones down to threads_min (dispatcher.c). The env and
 * everything it points to must outlive the dispatcher. NULL with err on
 * failure. */
kf_dispatcher *kf_dispatcher_new(const kf_dispatcher_env *env, char *err, size_t errlen);

/* Takes ownership of recs[0..n). Each record's offset must already be added to
 * its partition's tracker. */
void kf_dispatcher_submit(kf_dispatcher *d, kf_rec **recs, size_t n);

/* The record buffer pool for kf_rec_new_in: only one thread (the consumer)
 * may take from it. It lives as long as the dispatcher. */
struct kf_rec_pool *kf_dispatcher_pool(kf_dispatcher *d);

/* A sink's circuit breaker is open (dispatcher/breaker.h): the mapping runs
 * one probe record at a time, and the consumer pauses its partitions. */
bool kf_dispatcher_held(const kf_dispatcher *d);

/* Records submitted and not yet done or dropped. */
int64_t kf_dispatcher_inflight(const kf_dispatcher *d);

/* Waits until fewer than `limit` records are in flight, up to timeout_ms
 * (the consumer's backpressure). */
void kf_dispatcher_wait_below(kf_dispatcher *d, int64_t limit, int timeout_ms);

/* Drops the queued, not yet running records of p (after p->revoked is set):
 * they are neither done nor committed, so the next owner reads them again. */
size_t kf_dispatcher_drop_partition(kf_dispatcher *d, kf_partition *p);

/* Waits until p has nothing in flight (p == NULL: the whole dispatcher), up to
 * timeout_ms. Returns 0 when idle, -1 on timeout. */
int kf_dispatcher_wait_idle(kf_dispatcher *d, const kf_partition *p, int timeout_ms);

/* Stops and joins the workers; queued records are dropped. Accepts NULL. */
void kf_dispatcher_destroy(kf_dispatcher *d);

#endif
