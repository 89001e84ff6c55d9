#include "sinks/kafka_txn.h"

#include "src/kafka_conf.h"
#include "src/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TXN_TIMEOUT_MS 30000

struct kf_txn {
    rd_kafka_conf_t *tmpl; /* every (re)created producer starts from a copy */
    rd_kafka_t *rk;
    int ready; /* init_transactions succeeded */
    char name[128];
    atomic_int failed_deliveries; /* in the running transaction */
    char first_failure[256];
};

static const char *C = "sink.kafka.txn";

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    kf_txn *t = opaque;
    if (!m->err) return;
    if (atomic_fetch_add(&t->failed_deliveries, 1) == 0)
        snprintf(t->first_failure, sizeof t->first_failure, "%s", rd_kafka_err2str(m->err));
}

kf_txn *kf_txn_new(const kf_sink_env *env, char *err, size_t errlen)
{
    kf_txn *t = calloc(1, sizeof *t);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!t) goto fail;
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char txn_id[512];
    snprintf(txn_id, sizeof txn_id, "kfleet-%s-%s-%s-%d-%08lx", env->group_id, env->mapping, host,
             (int)getpid(), (unsigned long)(ts.tv_nsec ^ ts.tv_sec) & 0xffffffffUL);
    snprintf(t->name, sizeof t->name, "kfleet-%s-txn", env->mapping);
    const char *defaults[][2] = {
        {"client.id", t->name},
        {"transactional.id", txn_id},
        {"transaction.timeout.ms", "10000"},
        {"linger.ms", "5"},
        /* AddOffsetsToTxn answers CONCURRENT_TRANSACTIONS right after a
         * commit; librdkafka's default 100 ms backoff would add that to
         * every transaction. */
        {"retry.backoff.ms", "10"},
    };
    for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++)
        if (kf_kafka_conf_set(conf, defaults[i][0], defaults[i][1], NULL, err, errlen)) goto fail;
    if (kf_kafka_conf_set(conf, "bootstrap.servers", env->brokers, "kafka.brokers", err, errlen) ||
        kf_kafka_conf_apply(conf, env->kafka, "kafka.properties", err, errlen) ||
        kf_kafka_conf_apply(conf, env->producer, "producer", err, errlen))
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, t);
    kf_kafka_conf_forward_logs(conf);
    char rkerr[512];
    t->rk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_dup(conf), rkerr, sizeof rkerr);
    if (!t->rk) {
        snprintf(err, errlen, "transactional producer: %s", rkerr);
        goto fail;
    }
    t->tmpl = conf;
    return t;
fail:
    if (!t) snprintf(err, errlen, "out of memory");
    rd_kafka_conf_destroy(conf);
    free(t);
    return NULL;
}

/* Replaces a producer that raised a fatal error (fenced, or its state lost). */
static void recreate(kf_txn *t)
{
    if (t->rk) rd_kafka_destroy(t->rk);
    char rkerr[512];
    t->rk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_dup(t->tmpl), rkerr, sizeof rkerr);
    t->ready = 0;
    if (!t->rk) kf_error(C, "%s: cannot recreate the producer: %s", t->name, rkerr);
}

/* Classifies a transactional error: abort, recreate, or (retriable) the
 * caller may call again. Fills err. */
static int classify(kf_txn *t, rd_kafka_error_t *e, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, rd_kafka_error_string(e));
    int rc;
    if (rd_kafka_error_is_fatal(e)) {
        kf_warn(C, "%s: fatal: %s; recreating the producer", t->name, err);
        rd_kafka_error_destroy(e);
        recreate(t);
        return KF_TXN_FATAL;
    }
    if (rd_kafka_error_txn_requires_abort(e)) {
        rd_kafka_error_destroy(e);
        rd_kafka_error_t *ae = rd_kafka_abort_transaction(t->rk, TXN_TIMEOUT_MS);
        if (ae) {
            kf_warn(C, "%s: abort failed (%s); recreating the producer", t->name,
                    rd_kafka_error_string(ae));
            rd_kafka_error_destroy(ae);
            recreate(t);
            return KF_TXN_FATAL;
        }
        return KF_TXN_ABORTED;
    }
    rc = rd_kafka_error_is_retriable(e) ? -1 : KF_TXN_FATAL;
    rd_kafka_error_destroy(e);
    if (rc == KF_TXN_FATAL) recreate(t);
    return rc;
}

/* Calls op until it succeeds or fails for good (retriable errors repeat). */
#define TXN_CALL(t, expr, what, err, errlen)                                                       \
    do {                                                                                           \
        int tries_ = 0;                                                                            \
        for (;;) {                                                                                 \
            rd_kafka_error_t *e_ = (expr);                                                         \
            if (!e_) break;                                                                        \
            int rc_ = classify(t, e_, what, err, errlen);                                          \
            if (rc_ >= 0) return rc_;                                                              \
            if (++tries_ >= 5) {                                                                   \
                rd_kafka_error_t *ae_ = rd_kafka_abort_transaction(t->rk, TXN_TIMEOUT_MS);         \
                if (ae_) {                                                                         \
                    rd_kafka_error_destroy(ae_);                                                   \
                    recreate(t);                                                                   \
                    return KF_TXN_FATAL;                                                           \
                }                                                                                  \
                return KF_TXN_ABORTED;                                                             \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static int init(kf_txn *t, char *err, size_t errlen)
{
    if (!t->rk) recreate(t);
    if (!t->rk) {
        snprintf(err, errlen, "no producer");
        return KF_TXN_FATAL;
    }
    rd_kafka_error_t *e = rd_kafka_init_transactions(t->rk, TXN_TIMEOUT_MS);
    if (e) {
        snprintf(err, errlen, "init_transactions: %s", rd_kafka_error_string(e));
        int fatal = rd_kafka_error_is_fatal(e);
        rd_kafka_error_destroy(e);
        if (fatal) recreate(t);
        return KF_TXN_FATAL;
    }
    t->ready = 1;
    return KF_TXN_OK;
}

static int produce(kf_txn *t, const kf_txn_msg *m)
{
    rd_kafka_headers_t *hs = NULL;
    if (m->header_count) {
        hs = rd_kafka_headers_new(m->header_count);
        for (size_t i = 0; i < m->header_count; i++)
            rd_kafka_header_add(hs, m->headers[i].name, -1, m->headers[i].value,
                                m->headers[i].value ? (ssize_t)m->headers[i].value_len : -1);
    }
    for (int tries = 0;; tries++) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            t->rk, RD_KAFKA_V_TOPIC(m->topic), RD_KAFKA_V_KEY(m->key, m->key_len),
            RD_KAFKA_V_VALUE((void *)m->value, m->value_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(hs ? rd_kafka_headers_copy(hs) : NULL), RD_KAFKA_V_END);
        if (!e) break;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries > 5000) {
            if (hs) rd_kafka_headers_destroy(hs);
            return e;
        }
        rd_kafka_poll(t->rk, 1); /* let deliveries drain the queue */
    }
    if (hs) rd_kafka_headers_destroy(hs);
    return 0;
}

void kf_txn_warmup(kf_txn *t, const char *const *topics, size_t n)
{
    char err[512];
    if (!t->ready && init(t, err, sizeof err) != KF_TXN_OK)
        kf_warn(C, "%s: init_transactions: %s (retried at the first commit)", t->name, err);
    for (size_t i = 0; i < n && t->rk; i++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(t->rk, topics[i], NULL);
        const rd_kafka_metadata_t *md = NULL;
        if (rkt && rd_kafka_metadata(t->rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
            rd_kafka_metadata_destroy(md);
        if (rkt) rd_kafka_topic_destroy(rkt);
    }
}

int kf_txn_run(kf_txn *t, const kf_txn_msg *msgs, size_t n,
               const rd_kafka_topic_partition_list_t *offsets, rd_kafka_t *consumer, char *err,
               size_t errlen)
{
    if (n == 0 && (!offsets || offsets->cnt == 0)) return KF_TXN_OK;
    if (!t->ready && init(t, err, errlen) != KF_TXN_OK) return KF_TXN_FATAL;
    atomic_store(&t->failed_deliveries, 0);
    TXN_CALL(t, rd_kafka_begin_transaction(t->rk), "begin_transaction", err, errlen);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = produce(t, &msgs[i]);
        if (e) {
            snprintf(err, errlen, "produce to %s: %s", msgs[i].topic, rd_kafka_err2str(e));
            rd_kafka_error_t *ae = rd_kafka_abort_transaction(t->rk, TXN_TIMEOUT_MS);
            if (ae) {
                rd_kafka_error_destroy(ae);
                recreate(t);
                return KF_TXN_FATAL;
            }
            return KF_TXN_ABORTED;
        }
    }
    if (offsets && offsets->cnt) {
        rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(consumer);
        rd_kafka_error_t *e =
            rd_kafka_send_offsets_to_transaction(t->rk, offsets, cgmd, TXN_TIMEOUT_MS);
        rd_kafka_consumer_group_metadata_destroy(cgmd);
        if (e) {
            int rc = classify(t, e, "send_offsets_to_transaction", err, errlen);
            if (rc < 0) { /* retriable but the offsets are part of this attempt: abort */
                rd_kafka_error_t *ae = rd_kafka_abort_transaction(t->rk, TXN_TIMEOUT_MS);
                if (ae) {
                    rd_kafka_error_destroy(ae);
                    recreate(t);
                    return KF_TXN_FATAL;
                }
                rc = KF_TXN_ABORTED;
            }
            return rc;
        }
    }
    TXN_CALL(t, rd_kafka_commit_transaction(t->rk, TXN_TIMEOUT_MS), "commit_transaction", err,
             errlen);
    /* commit_transaction fails (abortable) when any delivery failed, so a
     * commit that succeeded delivered everything. */
    return KF_TXN_OK;
}

void kf_txn_destroy(kf_txn *t)
{
    if (!t) return;
    if (t->rk) rd_kafka_destroy(t->rk);
    if (t->tmpl) rd_kafka_conf_destroy(t->tmpl);
    free(t);
}
