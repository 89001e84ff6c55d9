#include "src/mapping.h"

#include "consumer/consumer.h"
#include "dispatcher/dispatcher.h"
#include "dispatcher/filter.h"
#include "eos/state.h"
#include "eos/txn.h"
#include "sinks/sink.h"
#include "common/log.h"
#include "common/failure_log.h"
#include "common/partition_gauges.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct kf_mapping {
    const kf_config *cfg;
    const kf_mapping_config *m;
    kf_metrics metrics;
    kf_loaded_handler *handler;
    kf_sink **sinks;
    size_t sink_count;
    kf_sink *dlq;
    kf_filter *filter;
    kf_dispatcher *d;
    kf_consumer *consumer;
    kf_consumer_eos eos; /* exactly-once: the consumer's Redis and transaction */
    pthread_t thread;
    int thread_started;
    atomic_int stop;
    atomic_int loop_done;
};

static const char *C = "mapping";

void kf_mapping_handler_path(const kf_config *cfg, const kf_mapping_config *m, char *out,
                             size_t outlen)
{
    const char *p = m->handler.path;
    if (p[0] != '/' && access(p, F_OK) != 0 && cfg->dir)
        snprintf(out, outlen, "%s/%s", cfg->dir, p);
    else
        snprintf(out, outlen, "%s", p);
}

kf_loaded_handler *kf_mapping_load_handler(const kf_config *cfg, const kf_mapping_config *m,
                                           char *err, size_t errlen)
{
    char path[4096];
    kf_mapping_handler_path(cfg, m, path, sizeof path);
    char e[1024];
    kf_loaded_handler *h = kf_handler_load(path, m->handler.config_json, e, sizeof e);
    if (!h) snprintf(err, errlen, "mapping %s: %s", m->name, e);
    return h;
}

static void *consumer_main(void *arg)
{
    kf_mapping *mp = arg;
    kf_consumer_run(mp->consumer, &mp->stop);
    atomic_store(&mp->loop_done, 1);
    return NULL;
}

static void teardown(kf_mapping *mp)
{
    /* Records may hold the consumer's messages: the dispatcher drops them
     * between the consumer's close and its destroy (consumer.h). */
    kf_consumer_close(mp->consumer);
    kf_dispatcher_destroy(mp->d);
    kf_consumer_destroy(mp->consumer);
    kf_txn_destroy(mp->eos.txn);
    kf_eos_state_destroy(mp->eos.state);
    for (size_t i = 0; i < mp->sink_count; i++)
        kf_sink_close(mp->sinks[i]);
    kf_sink_close(mp->dlq);
    kf_filter_destroy(mp->filter);
    kf_handler_unload(mp->handler);
    kf_partition_gauges_destroy(mp->metrics.partitions);
    kf_failure_log_destroy(mp->metrics.failures);
    free(mp->sinks);
    free(mp);
}

static kf_sink_env sink_env(const kf_config *cfg, const kf_mapping_config *m, kf_metrics *metrics)
{
    return (kf_sink_env){
        .metrics = metrics,
        .mapping = m->name,
        .group_id = m->group_id,
        .brokers = cfg->brokers,
        .kafka = &cfg->kafka,
        .producer = &m->producer,
        .redis_url = cfg->redis_url,
        .threads = m->concurrency.threads,
        .exactly_once = m->exactly_once,
        .redis_key_prefix = cfg->redis_key_prefix,
    };
}

/* Exactly-once: the partitions' Redis state and, with any Kafka output, the
 * transactional producer that carries them all (the dead letters included)
 * with the offsets. */
static int open_eos(kf_mapping *mp, const kf_sink_env *env, char *err, size_t errlen)
{
    const kf_config *cfg = mp->cfg;
    const kf_mapping_config *m = mp->m;
    char e[1024];
    int kafka_outputs = kf_dead_letter_topic(m) != NULL;
    for (size_t i = 0; i < m->sink_count; i++)
        kafka_outputs |= (kf_sink_type_caps(m->sinks[i].type) & KF_SINK_CAP_TRANSACTIONAL) != 0;
    mp->eos.state =
        kf_eos_state_new(cfg->redis_url, cfg->redis_key_prefix, m->group_id, e, sizeof e);
    if (!mp->eos.state) {
        snprintf(err, errlen, "mapping %s: redis: %s", m->name, e);
        return -1;
    }
    kf_eos_state_set_metrics(mp->eos.state, &mp->metrics);
    kf_txn_env tenv = {.mapping = env->mapping,
                       .group_id = env->group_id,
                       .brokers = env->brokers,
                       .kafka = env->kafka,
                       .producer = env->producer,
                       .metrics = &mp->metrics};
    if (kafka_outputs && !(mp->eos.txn = kf_txn_new(&tenv, e, sizeof e))) {
        snprintf(err, errlen, "mapping %s: %s", m->name, e);
        return -1;
    }
    return 0;
}

/* The mapping's sinks, and the dead-letter sink when no transaction carries
 * the dead letters. */
static int open_sinks(kf_mapping *mp, const kf_sink_env *env, char *err, size_t errlen)
{
    const kf_mapping_config *m = mp->m;
    char e[1024];
    mp->sinks = calloc(m->sink_count, sizeof *mp->sinks);
    if (!mp->sinks) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < m->sink_count; i++) {
        mp->sinks[i] = kf_sink_open(&m->sinks[i], env, e, sizeof e);
        if (!mp->sinks[i]) {
            snprintf(err, errlen, "mapping %s: %s", m->name, e); /* e names the sink */
            return -1;
        }
        mp->sink_count++;
    }
    if (kf_dead_letter_topic(m) && !mp->eos.txn) {
        mp->dlq = kf_sink_open_dead_letter(kf_dead_letter_topic(m), env, e, sizeof e);
        if (!mp->dlq) {
            snprintf(err, errlen, "mapping %s: on_failure: %s", m->name, e);
            return -1;
        }
    }
    return 0;
}

static int open_filter(kf_mapping *mp, char *err, size_t errlen)
{
    const kf_mapping_config *m = mp->m;
    if (!m->filters_json) return 0;
    char where[256];
    snprintf(where, sizeof where, "mapping %s: filters", m->name);
    mp->filter = kf_filter_new(m->filters_json, where, err, errlen);
    return mp->filter ? 0 : -1;
}

static int start_dispatcher(kf_mapping *mp, char *err, size_t errlen)
{
    const kf_mapping_config *m = mp->m;
    char e[1024];
    kf_dispatcher_env denv = {
        .mapping = m,
        .handler = mp->handler,
        .sinks = mp->sinks,
        .sink_count = mp->sink_count,
        .dead_letter = mp->dlq,
        .filter = mp->filter,
        .metrics = &mp->metrics,
        .exactly_once = m->exactly_once,
        .staged_kafka = mp->eos.txn != NULL,
        .dead_letter_topic = mp->eos.txn ? kf_dead_letter_topic(m) : NULL,
        .redis_url = mp->cfg->redis_url,
        .redis_key_prefix = mp->cfg->redis_key_prefix,
    };
    mp->d = kf_dispatcher_new(&denv, e, sizeof e);
    if (!mp->d) {
        snprintf(err, errlen, "mapping %s: %s", m->name, e);
        return -1;
    }
    return 0;
}

/* The consumer and the thread that owns it. */
static int start_consumer(kf_mapping *mp, char *err, size_t errlen)
{
    const kf_mapping_config *m = mp->m;
    mp->consumer = kf_consumer_new(mp->cfg, m, mp->d, &mp->metrics,
                                   m->exactly_once ? &mp->eos : NULL, err, errlen);
    if (!mp->consumer) return -1;
    if (pthread_create(&mp->thread, NULL, consumer_main, mp) != 0) {
        snprintf(err, errlen, "mapping %s: cannot start the consumer thread", m->name);
        return -1;
    }
    mp->thread_started = 1;
    return 0;
}

static const char *ordering_name(kf_ordering o)
{
    return o == KF_ORDER_KEY ? "key" : o == KF_ORDER_PARTITION ? "partition" : "unordered";
}

kf_mapping *kf_mapping_start(const kf_config *cfg, const kf_mapping_config *m, char *err,
                             size_t errlen)
{
    kf_mapping *mp = calloc(1, sizeof *mp);
    if (!mp) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    mp->cfg = cfg;
    mp->m = m;
    /* Lag per partition is worth its statistics, and the latest failures
     * their copies, only when the metrics listener shows them. */
    if (cfg->metrics_listen && (!(mp->metrics.partitions = kf_partition_gauges_new()) ||
                                !(mp->metrics.failures = kf_failure_log_new()))) {
        kf_partition_gauges_destroy(mp->metrics.partitions);
        snprintf(err, errlen, "out of memory");
        free(mp);
        return NULL;
    }
    kf_sink_env env = sink_env(cfg, m, &mp->metrics);
    if (!(mp->handler = kf_mapping_load_handler(cfg, m, err, errlen)) ||
        (m->exactly_once && open_eos(mp, &env, err, errlen) != 0) ||
        open_sinks(mp, &env, err, errlen) != 0 || open_filter(mp, err, errlen) != 0 ||
        start_dispatcher(mp, err, errlen) != 0 || start_consumer(mp, err, errlen) != 0) {
        teardown(mp);
        return NULL;
    }
    char threads[32];
    if (m->concurrency.threads_min < m->concurrency.threads)
        snprintf(threads, sizeof threads, "%d..%d", m->concurrency.threads_min,
                 m->concurrency.threads);
    else
        snprintf(threads, sizeof threads, "%d", m->concurrency.threads);
    kf_info(C, "mapping %s: started (group %s, %s thread(s), ordering %s, handler %s)", m->name,
            m->group_id, threads, ordering_name(m->ordering), kf_handler_name(mp->handler));
    return mp;
}

void kf_mapping_stop(kf_mapping *mp)
{
    if (mp) atomic_store(&mp->stop, 1);
}

int kf_mapping_finish(kf_mapping *mp, int deadline_ms)
{
    if (!mp) return 0;
    atomic_store(&mp->stop, 1);
    if (mp->thread_started) pthread_join(mp->thread, NULL);
    int64_t deadline = kf_now_ms() + deadline_ms;
    /* Finish what is in flight, then make sure the sinks' outstanding
     * deliveries are acknowledged, then commit what completed. */
    int rc = kf_dispatcher_wait_idle(mp->d, NULL, deadline_ms);
    for (size_t i = 0; i < mp->sink_count; i++) {
        int64_t left = deadline - kf_now_ms();
        kf_sink_drain(mp->sinks[i], left > 1000 ? (int)left : 1000);
    }
    if (mp->dlq) kf_sink_drain(mp->dlq, 1000);
    if (rc != 0) {
        int64_t left = deadline - kf_now_ms();
        rc = kf_dispatcher_wait_idle(mp->d, NULL, left > 0 ? (int)left : 0);
    }
    if (rc != 0)
        kf_warn(C,
                "mapping %s: %lld record(s) still in flight at the shutdown deadline; they "
                "are not committed and will be redelivered",
                mp->m->name, (long long)kf_dispatcher_inflight(mp->d));
    /* A few seconds of retries: enough for an aborted transaction or a
     * coordinator moving, not worth a whole shutdown_timeout_ms when the
     * group has already given the partitions to someone else. */
    int64_t left = deadline - kf_now_ms();
    if (left > 5000) left = 5000;
    if (kf_consumer_commit_sync(mp->consumer, left > 2000 ? (int)left : 2000) != 0) {
        kf_warn(C,
                "mapping %s: final commit failed; the next owner redoes the records done since "
                "the last commit",
                mp->m->name);
        rc = -1;
    }
    kf_info(C, "mapping %s: stopped", mp->m->name);
    teardown(mp);
    return rc;
}

kf_metrics *kf_mapping_metrics(kf_mapping *mp)
{
    return &mp->metrics;
}

const kf_mapping_config *kf_mapping_config_of(const kf_mapping *mp)
{
    return mp->m;
}

long kf_mapping_handler_init_us(const kf_mapping *mp)
{
    return kf_handler_init_us(mp->handler);
}

const kf_redrive_progress *kf_mapping_redrive_progress(const kf_mapping *mp)
{
    return kf_consumer_redrive_progress(mp->consumer);
}
