/*
 * The Kafka sink: one idempotent producer per sink, shared by all workers
 * (rd_kafka_t is thread-safe). write enqueues the message; its delivery
 * report acks it later, from the sink's poll thread:
 *
 *   delivered                                         KF_STATUS_OK
 *   too large, invalid record, bad topic name         KF_STATUS_FAIL
 *   anything else (timeouts, transport, unknown topic KF_STATUS_RETRY
 *   or partition, topic not authorised, not enough
 *   replicas, purged on close or fatal error)
 *
 * A topic that refuses every write (its ACL, too few in-sync replicas) is
 * the sink being down, not the record's failure: the record waits and the
 * sink's circuit breaker (dispatcher/breaker.h) pauses the mapping.
 *
 * Configuration, later overriding earlier: kfleet's defaults
 * (enable.idempotence=true so per-partition order holds across librdkafka's
 * internal retries, acks=all, linger.ms=5, client.id=kfleet-<mapping>-<sink>),
 * then bootstrap.servers = kafka.brokers, then kafka.properties, then the
 * mapping's producer properties.
 *
 * A full local queue (QUEUE_FULL) is backpressure: write waits with growing
 * sleeps (1..100 ms) for up to 5 s, then acks KF_STATUS_RETRY.
 *
 * Fatal errors (an idempotent producer can raise one, e.g. on an out of order
 * sequence): the poll thread logs it, swaps in a new producer built from the
 * same configuration, gives the old one a few seconds to report what is in
 * flight, purges the rest (acked KF_STATUS_RETRY) and destroys it. Messages
 * written meanwhile are KF_STATUS_RETRY.
 *
 * Threads and locks: `lock` guards the rk pointer; writers and drain hold it
 * shared, only the poll thread takes it exclusively (to swap rk) and it is
 * the only thread that changes rk, so it reads rk without the lock. Delivery
 * reports run on the poll thread (or, during close and retirement, on the
 * thread closing), never on a worker. `idle_lock` only pairs with `idle`.
 */
#include "sinks/sink.h"
#include "sinks/sink_priv.h"
#include "common/kafka_conf.h"
#include "common/clock.h"
#include "common/log.h"
#include "config/validate.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUEUE_FULL_WAIT_MS 5000
#define RETIRE_FLUSH_MS    5000 /* a fatally failed producer's grace period */
#define CLOSE_FLUSH_MS     2000
#define PURGE_WAIT_MS      5000

typedef struct kafka_sink {
    const kf_sink_config *cfg; /* the sink's own config copy; outlives this state */
    rd_kafka_conf_t *tmpl;     /* what every (re)created producer starts from */
    pthread_rwlock_t lock;
    rd_kafka_t *rk;
    pthread_t poller;
    bool poller_started;
    atomic_bool stop;
    atomic_long outstanding; /* enqueued, not yet acked */
    bool offsets_expected;   /* acks != 0: a delivery report carries an offset */
    pthread_mutex_t idle_lock;
    pthread_cond_t idle; /* broadcast when outstanding drops to 0 */
} kafka_sink;

/* The per-message opaque: who to ack. */
typedef struct dr_ctx {
    kf_ack_fn *ack;
    void *opaque;
} dr_ctx;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void one_done(kafka_sink *ks)
{
    if (atomic_fetch_sub(&ks->outstanding, 1) == 1) {
        pthread_mutex_lock(&ks->idle_lock);
        pthread_cond_broadcast(&ks->idle);
        pthread_mutex_unlock(&ks->idle_lock);
    }
}

static kf_status status_of(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return KF_STATUS_OK;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        return KF_STATUS_FAIL;
    default:
        return KF_STATUS_RETRY;
    }
}

/* Delivery report: runs on whichever thread polls the producer. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    kafka_sink *ks = opaque;
    dr_ctx *d = m->_private;
    if (m->err) {
        char why[512];
        snprintf(why, sizeof why, "kafka sink %s: delivery to %s failed: %s", ks->cfg->name,
                 ks->cfg->topic, rd_kafka_err2str(m->err));
        d->ack(d->opaque, status_of(m->err), why);
    } else if (m->offset < 0 && ks->offsets_expected) {
        /* librdkafka 2.0.2: a DUPLICATE_SEQUENCE_NUMBER retry is reported delivered, offset -1.
         * Right after a topic is created the broker was seen not to have such
         * records. At-least-once prefers a possible duplicate to a loss. */
        char why[512];
        snprintf(why, sizeof why,
                 "kafka sink %s: delivery to %s acknowledged without an offset (possibly lost)",
                 ks->cfg->name, ks->cfg->topic);
        d->ack(d->opaque, KF_STATUS_RETRY, why);
    } else {
        d->ack(d->opaque, KF_STATUS_OK, NULL);
    }
    free(d);
    one_done(ks);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kafka_sink *ks = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512] = "";
        rd_kafka_fatal_error(rk, why, sizeof why);
        kf_error("sink.kafka", "sink %s: FATAL producer error: %s", ks->cfg->name, why);
    } else if (err == RD_KAFKA_RESP_ERR__TRANSPORT) {
        /* librdkafka's own log line already says which broker and why. */
        kf_debug("sink.kafka", "sink %s: %s", ks->cfg->name, reason);
    } else {
        kf_warn("sink.kafka", "sink %s: %s: %s", ks->cfg->name, rd_kafka_err2name(err), reason);
    }
}

static rd_kafka_t *new_producer(kafka_sink *ks, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(ks->tmpl);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!rk) rd_kafka_conf_destroy(conf); /* rd_kafka_new owns it only on success */
    return rk;
}

/* Lets a producer report what it can within flush_ms, purges the rest (those
 * acks are RETRY) and destroys it. Serves callbacks on the calling thread. */
static void retire(kafka_sink *ks, rd_kafka_t *rk, int flush_ms)
{
    rd_kafka_flush(rk, flush_ms);
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    int64_t deadline = kf_now_ms() + PURGE_WAIT_MS;
    while (rd_kafka_outq_len(rk) > 0 && kf_now_ms() < deadline)
        rd_kafka_poll(rk, 50);
    if (rd_kafka_outq_len(rk) > 0)
        kf_error("sink.kafka", "sink %s: %d message(s) left unreported at producer shutdown",
                 ks->cfg->name, rd_kafka_outq_len(rk));
    rd_kafka_destroy(rk);
}

/* Poll thread, after the producer raised a fatal error. */
static void recreate(kafka_sink *ks, int64_t *next_try)
{
    char why[512] = "", err[512];
    rd_kafka_fatal_error(ks->rk, why, sizeof why);
    rd_kafka_t *fresh = new_producer(ks, err, sizeof err);
    if (!fresh) {
        kf_error("sink.kafka",
                 "sink %s: cannot recreate the producer after a fatal error: %s; "
                 "retrying in 1 s, writes are retried meanwhile",
                 ks->cfg->name, err);
        *next_try = kf_now_ms() + 1000;
        return;
    }
    pthread_rwlock_wrlock(&ks->lock);
    rd_kafka_t *old = ks->rk;
    ks->rk = fresh;
    pthread_rwlock_unlock(&ks->lock);
    kf_error("sink.kafka",
             "sink %s: producer failed fatally (%s): replaced it with a new "
             "producer; messages it did not deliver will be retried",
             ks->cfg->name, why);
    retire(ks, old, RETIRE_FLUSH_MS);
}

static void *poll_main(void *arg)
{
    kafka_sink *ks = arg;
    int64_t next_try = 0;
    while (!atomic_load(&ks->stop)) {
        rd_kafka_poll(ks->rk, 100);
        if (rd_kafka_fatal_error(ks->rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR &&
            kf_now_ms() >= next_try)
            recreate(ks, &next_try);
    }
    return NULL;
}

static void kafka_close(void *self);

static int kafka_open(kf_sink *s, const kf_sink_config *cfg, const kf_sink_env *env, void **self,
                      char *err, size_t errlen)
{
    (void)s;
    if (!cfg->topic || !cfg->topic[0]) {
        snprintf(err, errlen, "a kafka sink needs a \"topic\"");
        return -1;
    }
    kafka_sink *ks = calloc(1, sizeof *ks);
    if (!ks) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ks->cfg = cfg;
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    /* Workers take the lock shared all the time; let the swap get in. */
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&ks->lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&ks->idle_lock, NULL);
    /* kafka_drain's deadline is on the monotonic clock: a step of the wall
     * clock must not stretch a shutdown. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ks->idle, &ca);
    pthread_condattr_destroy(&ca);

    const char *mapping = env && env->mapping ? env->mapping : "";
    char client_id[512], where[300];
    snprintf(client_id, sizeof client_id, "kfleet-%s-%s", mapping, cfg->name);
    snprintf(where, sizeof where, "mappings[%s].producer", mapping);
    rd_kafka_conf_t *conf = ks->tmpl = rd_kafka_conf_new();
    if (kf_kafka_conf_set(conf, "client.id", client_id, NULL, err, errlen) ||
        kf_kafka_conf_set(conf, "enable.idempotence", "true", NULL, err, errlen) ||
        kf_kafka_conf_set(conf, "acks", "all", NULL, err, errlen) ||
        kf_kafka_conf_set(conf, "linger.ms", "5", NULL, err, errlen) ||
        (env && env->brokers &&
         kf_kafka_conf_set(conf, "bootstrap.servers", env->brokers, "kafka.brokers", err,
                           errlen)) ||
        (env && kf_kafka_conf_apply(conf, env->kafka, "kafka.properties", err, errlen)) ||
        (env && kf_kafka_conf_apply(conf, env->producer, where, err, errlen)))
        goto fail;
    char acks[16];
    size_t acks_len = sizeof acks;
    ks->offsets_expected = rd_kafka_conf_get(conf, "acks", acks, &acks_len) != RD_KAFKA_CONF_OK ||
                           strcmp(acks, "0") != 0;
    rd_kafka_conf_set_opaque(conf, ks);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    kf_kafka_conf_forward_logs(conf);

    char why[512];
    if (!(ks->rk = new_producer(ks, why, sizeof why))) {
        snprintf(err, errlen, "cannot create the producer: %s", why);
        goto fail;
    }
    if (pthread_create(&ks->poller, NULL, poll_main, ks) != 0) {
        snprintf(err, errlen, "cannot start the poll thread");
        goto fail;
    }
    ks->poller_started = true;
    *self = ks;
    return 0;
fail:
    kafka_close(ks);
    return -1;
}

static void kafka_write(void *self, void *ws, const kf_sink_msg *msg)
{
    (void)ws;
    kafka_sink *ks = self;
    dr_ctx *d = malloc(sizeof *d);
    if (!d) {
        msg->ack(msg->ack_opaque, KF_STATUS_RETRY, "kafka sink: out of memory");
        return;
    }
    d->ack = msg->ack;
    d->opaque = msg->ack_opaque;

    rd_kafka_vu_t vu[6];
    size_t n = 0;
    vu[n].vtype = RD_KAFKA_VTYPE_TOPIC;
    vu[n++].u.cstr = ks->cfg->topic;
    vu[n].vtype = RD_KAFKA_VTYPE_KEY;
    vu[n].u.mem.ptr = (void *)msg->key;
    vu[n++].u.mem.size = msg->key ? msg->key_len : 0;
    vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[n].u.mem.ptr = (void *)msg->value;
    vu[n++].u.mem.size = msg->value ? msg->value_len : 0;
    vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
    vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vu[n++].u.ptr = d;
    rd_kafka_headers_t *hdrs = NULL;
    if (msg->header_count > 0) {
        hdrs = rd_kafka_headers_new(msg->header_count);
        for (size_t i = 0; i < msg->header_count; i++) {
            const kf_header *h = &msg->headers[i];
            rd_kafka_header_add(hdrs, h->name, -1, h->value, h->value ? (ssize_t)h->value_len : 0);
        }
        vu[n].vtype = RD_KAFKA_VTYPE_HEADERS;
        vu[n++].u.headers = hdrs; /* librdkafka owns them once produce succeeds */
    }

    atomic_fetch_add(&ks->outstanding, 1); /* before: the report may beat us back */
    int waited = 0, pause = 1;
    rd_kafka_resp_err_t code;
    char why[512];
    for (;;) {
        pthread_rwlock_rdlock(&ks->lock);
        rd_kafka_error_t *e = rd_kafka_produceva(ks->rk, vu, n);
        pthread_rwlock_unlock(&ks->lock);
        if (!e) return;
        code = rd_kafka_error_code(e);
        snprintf(why, sizeof why, "kafka sink %s: cannot produce to %s: %s", ks->cfg->name,
                 ks->cfg->topic, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        if (code != RD_KAFKA_RESP_ERR__QUEUE_FULL || waited >= QUEUE_FULL_WAIT_MS) break;
        /* Backpressure: the poll thread drains delivery reports meanwhile. */
        sleep_ms(pause);
        waited += pause;
        pause = pause * 2 > 100 ? 100 : pause * 2;
    }
    if (hdrs) rd_kafka_headers_destroy(hdrs);
    free(d);
    one_done(ks);
    msg->ack(msg->ack_opaque, status_of(code), why);
}

/* Waits for every outstanding ack (of this and any retired producer). */
static int kafka_drain(void *self, int timeout_ms)
{
    kafka_sink *ks = self;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&ks->idle_lock);
    int rc = 0;
    while (atomic_load(&ks->outstanding) > 0 && rc == 0)
        rc = pthread_cond_timedwait(&ks->idle, &ks->idle_lock, &dl);
    pthread_mutex_unlock(&ks->idle_lock);
    return atomic_load(&ks->outstanding) > 0 ? -1 : 0;
}

static void kafka_close(void *self)
{
    kafka_sink *ks = self;
    if (!ks) return;
    atomic_store(&ks->stop, true);
    if (ks->poller_started) {
        /* librdkafka 2.0.2: its waits end at CLOCK_REALTIME deadlines (issue #2145).
         * After the wall clock stepped back by D an idle producer's
         * rd_kafka_poll(rk, 100) sleeps D (cnd_timedwait), and so would the
         * join with it: the poller is woken here. */
        pthread_rwlock_rdlock(&ks->lock);
        rd_kafka_queue_t *q = ks->rk ? rd_kafka_queue_get_main(ks->rk) : NULL;
        pthread_rwlock_unlock(&ks->lock);
        if (q) {
            rd_kafka_queue_yield(q);
            rd_kafka_queue_destroy(q);
        }
        pthread_join(ks->poller, NULL);
    }
    if (ks->rk) retire(ks, ks->rk, CLOSE_FLUSH_MS);
    long left = atomic_load(&ks->outstanding);
    if (left > 0)
        kf_error("sink.kafka", "sink %s: closed with %ld message(s) never acknowledged",
                 ks->cfg->name, left);
    if (ks->tmpl) rd_kafka_conf_destroy(ks->tmpl);
    pthread_rwlock_destroy(&ks->lock);
    pthread_mutex_destroy(&ks->idle_lock);
    pthread_cond_destroy(&ks->idle);
    free(ks);
}

int kf_sink_kafka_test_fatal(kf_sink *s, const char *reason)
{
    if (kf_sink_ops_of(s) != &kf_sink_kafka_ops) return -1;
    kafka_sink *ks = kf_sink_self(s);
    pthread_rwlock_rdlock(&ks->lock);
    rd_kafka_test_fatal_error(ks->rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, reason);
    pthread_rwlock_unlock(&ks->lock);
    return 0;
}

static const kf_cfg_key CONFIG_KEYS[] = {
    {.name = "topic",
     .kind = KF_CFG_STRING,
     .flags = KF_CFG_REQUIRED,
     .at = offsetof(kf_sink_config, topic),
     .valid = kf_cfg_valid_topic,
     .expected = KF_CFG_TOPIC_EXPECTED,
     .range_doc = "topic name",
     .doc = "the topic each output is produced to (record key and value as emitted)"},
};

static const kf_cfg_table CONFIG = {
    .doc = "produces to a Kafka topic; with `exactly_once` the outputs go through the "
           "mapping's Kafka transaction, with the input offsets",
    .keys = CONFIG_KEYS,
    .count = KF_CFG_COUNT(CONFIG_KEYS),
};

const kf_sink_ops kf_sink_kafka_ops = {
    .type = "kafka",
    .caps = KF_SINK_CAP_TRANSACTIONAL,
    .config = &CONFIG,
    .open = kafka_open,
    .write = kafka_write,
    .drain = kafka_drain,
    .close = kafka_close,
};
