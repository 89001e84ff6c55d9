#include "eos/txn.h"

#include "common/kafka_conf.h"
#include "common/clock.h"
#include "common/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Predecessors fenced recently, so that a rebalance handing over many
 * partitions of one dead process fences it once. */
#define FENCE_MEMORY   8
#define FENCE_AGAIN_MS 60000

struct kf_txn {
    rd_kafka_conf_t *tmpl; /* every (re)created producer starts from a copy */
    rd_kafka_t *rk;
    int ready;   /* init_transactions succeeded for rk */
    int call_ms; /* how long one transactional call may take */
    char name[128];
    char id[512];                 /* transactional.id */
    atomic_int failed_deliveries; /* in the running transaction */
    char first_failure[256];
    struct {
        char id[512];
        int64_t at_ms;
    } fenced[FENCE_MEMORY];
    size_t next_fenced;
    kf_metrics *metrics; /* the env's, or NULL */
};

static const char *C = "sink.kafka.txn";

/* Times one blocking call from t0 (kf_now_ns) into kafka_calls[call]. */
static void timed(const kf_txn *t, kf_kafka_call call, int64_t t0)
{
    if (t->metrics) KF_METRIC_TIME(t->metrics, kafka_calls[call], kf_now_ns() - t0);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    kf_txn *t = opaque;
    if (!m->err) return;
    if (atomic_fetch_add(&t->failed_deliveries, 1) == 0)
        snprintf(t->first_failure, sizeof t->first_failure, "%s", rd_kafka_err2str(m->err));
}

/* An integer property of conf, or `dflt` when unset or not a number. */
static int conf_int(rd_kafka_conf_t *conf, const char *name, int dflt)
{
    char buf[64];
    size_t sz = sizeof buf;
    if (rd_kafka_conf_get(conf, name, buf, &sz) != RD_KAFKA_CONF_OK) return dflt;
    int v = atoi(buf);
    return v > 0 ? v : dflt;
}

kf_txn *kf_txn_new(const kf_txn_env *env, char *err, size_t errlen)
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
    size_t sz = sizeof t->id;
    if (rd_kafka_conf_get(conf, "transactional.id", t->id, &sz) != RD_KAFKA_CONF_OK)
        snprintf(t->id, sizeof t->id, "%.*s", (int)sizeof t->id - 1, txn_id);
    /* A call may take as long as the broker lets a transaction live: past
     * that the broker aborts it anyway. */
    t->call_ms = conf_int(conf, "transaction.timeout.ms", 10000);
    t->metrics = env->metrics;
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

const char *kf_txn_id(const kf_txn *t)
{
    return t->id;
}

/* Replaces the producer: the next kf_txn_ready takes a new epoch, which also
 * settles whatever the old producer left open on the broker. */
static void replace(kf_txn *t, const char *why)
{
    kf_warn(C, "%s: %s; replacing the producer (a new epoch)", t->name, why);
    if (t->rk) rd_kafka_destroy(t->rk);
    char rkerr[512];
    t->rk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_dup(t->tmpl), rkerr, sizeof rkerr);
    t->ready = 0;
    if (!t->rk) kf_error(C, "%s: cannot recreate the producer: %s", t->name, rkerr);
}

int kf_txn_ready(kf_txn *t, char *err, size_t errlen)
{
    if (t->ready) return 0;
    if (!t->rk) replace(t, "no producer");
    if (!t->rk) {
        snprintf(err, errlen, "no producer");
        return -1;
    }
    int64_t t0 = kf_now_ns();
    rd_kafka_error_t *e = rd_kafka_init_transactions(t->rk, t->call_ms);
    timed(t, KF_KAFKA_CALL_INIT, t0);
    if (e) {
        snprintf(err, errlen, "init_transactions: %s", rd_kafka_error_string(e));
        /* A timed-out init may be resumed by calling it again; anything else
         * leaves the producer unusable. */
        int again = rd_kafka_error_is_retriable(e) && !rd_kafka_error_is_fatal(e);
        rd_kafka_error_destroy(e);
        if (!again) replace(t, err);
        return -1;
    }
    t->ready = 1;
    return 0;
}

/* A failure before any commit was sent: nothing of this transaction can
 * become visible. Aborts it (or, when that fails, replaces the producer, whose
 * new epoch aborts it on the broker). Takes e. */
static kf_status failed_before_commit(kf_txn *t, rd_kafka_error_t *e, const char *what, char *err,
                                      size_t errlen)
{
    if (e) {
        snprintf(err, errlen, "%s: %s", what, rd_kafka_error_string(e));
        int fatal = rd_kafka_error_is_fatal(e);
        rd_kafka_error_destroy(e);
        if (fatal) {
            replace(t, err);
            return KF_STATUS_RETRY;
        }
    }
    int64_t t0 = kf_now_ns();
    rd_kafka_error_t *ae = rd_kafka_abort_transaction(t->rk, t->call_ms);
    timed(t, KF_KAFKA_CALL_ABORT, t0);
    if (!ae) return KF_STATUS_RETRY;
    char why[512];
    snprintf(why, sizeof why, "abort after %s failed: %s", what, rd_kafka_error_string(ae));
    rd_kafka_error_destroy(ae);
    replace(t, why);
    return KF_STATUS_RETRY;
}

/* commit_transaction failed. When librdkafka asks for an abort, the commit
 * was refused before it was sent (a delivery failed), and a successful abort
 * proves nothing became visible. Any other failure (a timeout above all)
 * leaves the outcome unknown. Takes e. */
static kf_status failed_commit(kf_txn *t, rd_kafka_error_t *e, char *err, size_t errlen)
{
    snprintf(err, errlen, "commit_transaction: %s", rd_kafka_error_string(e));
    int abortable = rd_kafka_error_txn_requires_abort(e);
    rd_kafka_error_destroy(e);
    if (abortable) return failed_before_commit(t, NULL, "commit_transaction", err, errlen);
    /* librdkafka 2.0.2: a timed-out EndTxn is retried under the same epoch (eos/txn.h).
     * A late one could end a later transaction of that epoch, so the commit is
     * never called again: a new producer (a new epoch) settles it instead. */
    replace(t, err);
    return KF_STATUS_FENCED;
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
    if (kf_txn_ready(t, err, sizeof err) != 0)
        kf_warn(C, "%s: %s (retried at the first commit)", t->name, err);
    for (size_t i = 0; i < n && t->rk; i++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(t->rk, topics[i], NULL);
        const rd_kafka_metadata_t *md = NULL;
        if (rkt && rd_kafka_metadata(t->rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
            rd_kafka_metadata_destroy(md);
        if (rkt) rd_kafka_topic_destroy(rkt);
    }
}

kf_status kf_txn_run(kf_txn *t, const kf_txn_msg *msgs, size_t n,
                     const rd_kafka_topic_partition_list_t *offsets, rd_kafka_t *consumer,
                     char *err, size_t errlen)
{
    if (n == 0 && (!offsets || offsets->cnt == 0)) return KF_STATUS_OK;
    if (kf_txn_ready(t, err, errlen) != 0) return KF_STATUS_RETRY;
    atomic_store(&t->failed_deliveries, 0);
    rd_kafka_error_t *e = rd_kafka_begin_transaction(t->rk);
    if (e) {
        snprintf(err, errlen, "begin_transaction: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        replace(t, err); /* a state error: the producer is not what we think */
        return KF_STATUS_RETRY;
    }
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t pe = produce(t, &msgs[i]);
        if (pe) {
            char what[300];
            snprintf(what, sizeof what, "produce to %s: %s", msgs[i].topic, rd_kafka_err2str(pe));
            snprintf(err, errlen, "%s", what);
            return failed_before_commit(t, NULL, what, err, errlen);
        }
    }
    if (offsets && offsets->cnt) {
        rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(consumer);
        int64_t t0 = kf_now_ns();
        e = rd_kafka_send_offsets_to_transaction(t->rk, offsets, cgmd, t->call_ms);
        timed(t, KF_KAFKA_CALL_SEND_OFFSETS, t0);
        rd_kafka_consumer_group_metadata_destroy(cgmd);
        if (e) return failed_before_commit(t, e, "send_offsets_to_transaction", err, errlen);
    }
    int64_t t0 = kf_now_ns();
    e = rd_kafka_commit_transaction(t->rk, t->call_ms);
    timed(t, KF_KAFKA_CALL_COMMIT, t0);
    if (e) return failed_commit(t, e, err, errlen);
    /* commit_transaction fails (abortable) when any delivery failed, so a
     * commit that succeeded delivered everything. */
    return KF_STATUS_OK;
}

int kf_txn_fence(kf_txn *t, const char *other_id, char *err, size_t errlen)
{
    if (!other_id || !*other_id || strcmp(other_id, t->id) == 0) return 0;
    int64_t now = kf_now_ms();
    for (size_t i = 0; i < FENCE_MEMORY; i++)
        if (t->fenced[i].at_ms && now - t->fenced[i].at_ms < FENCE_AGAIN_MS &&
            strcmp(t->fenced[i].id, other_id) == 0)
            return 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(t->tmpl);
    char cid[300];
    snprintf(cid, sizeof cid, "%s-fence", t->name);
    if (kf_kafka_conf_set(conf, "transactional.id", other_id, NULL, err, errlen) ||
        kf_kafka_conf_set(conf, "client.id", cid, NULL, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    char rkerr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof rkerr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "fencing %s: %s", other_id, rkerr);
        return -1;
    }
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, t->call_ms);
    int rc = 0;
    if (e) {
        snprintf(err, errlen, "fencing %s: init_transactions: %s", other_id,
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        rc = -1;
    } else {
        size_t i = t->next_fenced++ % FENCE_MEMORY;
        snprintf(t->fenced[i].id, sizeof t->fenced[i].id, "%s", other_id);
        t->fenced[i].at_ms = now;
        kf_info(C, "%s: fenced the previous owner's producer %s (its open transaction is aborted)",
                t->name, other_id);
    }
    rd_kafka_destroy(rk);
    return rc;
}

void kf_txn_destroy(kf_txn *t)
{
    if (!t) return;
    if (t->rk) rd_kafka_destroy(t->rk);
    if (t->tmpl) rd_kafka_conf_destroy(t->tmpl);
    free(t);
}
