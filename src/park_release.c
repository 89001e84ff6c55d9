#include "src/park_release.h"

#include "common/clock.h"
#include "common/kafka_conf.h"
#include "common/log.h"
#include "common/status.h"
#include "common/traceparent.h"
#include "consumer/eos.h"
#include "dispatcher/backoff.h"
#include "dispatcher/dead_letter.h"
#include "dispatcher/emitter.h"
#include "dispatcher/partition.h"
#include "dispatcher/record.h"
#include "eos/park.h"
#include "eos/state.h"
#include "eos/txn.h"
#include "sinks/sink.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *C = "park";

/* Everything one release holds. */
typedef struct rel {
    const kf_config *cfg;
    const kf_mapping_config *m;
    kf_loaded_handler *h;
    const char *topic;
    int32_t partition;
    const char *field;
    size_t field_len;
    kf_release_mode mode;
    const atomic_int *stop;
    char group[600];
    kf_eos_state *store; /* the mapping's namespace: the parked store */
    kf_eos_state *state; /* the key's namespace: epoch and marks of the release */
    kf_txn *txn;         /* NULL when nothing goes to Kafka */
    rd_kafka_t *live;    /* group.id: the mapping's (what the fleet committed) */
    rd_kafka_t *prog;    /* group.id: the key's (what the release committed) */
    kf_partition *p;     /* the key's namespace: epoch, marks */
    kf_sink **sinks;     /* per mapping sink; NULL for a Kafka (transactional) one */
    kf_sink_worker **ws;
    const char **names;
    bool kafka;        /* some output goes through the transaction */
    kf_props producer; /* the mapping's, with a transactional.id of its own when it sets one */
    char txn_id[700];
    const char *dlq; /* drop: where to */
} rel;

void kf_park_release_group(const kf_mapping_config *m, const char *field, size_t field_len,
                           char *out, size_t outlen)
{
    snprintf(out, outlen, "%s.park.%016" PRIx64, m->group_id, kf_key_hash(field, field_len));
}

static rd_kafka_t *client(const kf_config *cfg, const kf_mapping_config *m, const char *group,
                          char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kf_kafka_conf_set(conf, "bootstrap.servers", cfg->brokers, "kafka.brokers", err, errlen) ||
        kf_kafka_conf_apply(conf, &cfg->kafka, "kafka.properties", err, errlen) ||
        kf_kafka_conf_apply(conf, &m->consumer, "consumer", err, errlen) ||
        kf_kafka_conf_set(conf, "group.id", group, NULL, err, errlen) ||
        kf_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    kf_kafka_conf_forward_logs(conf);
    char e[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "cannot create a Kafka client: %s", e);
    }
    return rk;
}

/* The group's committed offset for the partition (-1 none). */
static int committed(rel *r, rd_kafka_t *rk, int64_t *off, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, r->topic, r->partition);
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, 10000);
    if (!e) e = l->elems[0].err;
    *off = l->elems[0].offset >= 0 ? l->elems[0].offset : -1;
    rd_kafka_topic_partition_list_destroy(l);
    if (e) snprintf(err, errlen, "committed offsets: %s", rd_kafka_err2str(e));
    return e ? -1 : 0;
}

static void teardown(rel *r)
{
    for (size_t s = 0; r->sinks && s < r->m->sink_count; s++) {
        if (r->ws && r->ws[s]) kf_sink_worker_close(r->ws[s]);
        if (r->sinks[s]) kf_sink_close(r->sinks[s]);
    }
    free(r->sinks);
    free(r->ws);
    free(r->names);
    kf_partition_unref(r->p);
    kf_txn_destroy(r->txn);
    if (r->live) rd_kafka_destroy(r->live);
    if (r->prog) rd_kafka_destroy(r->prog);
    kf_eos_state_destroy(r->state);
    kf_eos_state_destroy(r->store);
    if (r->producer.values != r->m->producer.values) free(r->producer.values);
}

static int setup(rel *r, char *err, size_t errlen)
{
    const kf_config *cfg = r->cfg;
    const kf_mapping_config *m = r->m;
    char e[1024];
    kf_park_release_group(m, r->field, r->field_len, r->group, sizeof r->group);
    r->dlq = r->mode == KF_RELEASE_DROP ? m->on_failure.topic : NULL;
    for (size_t s = 0; r->mode == KF_RELEASE_RETRY && s < m->sink_count; s++)
        r->kafka |= (kf_sink_type_caps(m->sinks[s].type) & KF_SINK_CAP_TRANSACTIONAL) != 0;
    if (r->dlq) r->kafka = true;
    r->store = kf_eos_state_new(cfg->redis_url, cfg->redis_key_prefix, m->group_id, e, sizeof e);
    r->state = kf_eos_state_new(cfg->redis_url, cfg->redis_key_prefix, r->group, e, sizeof e);
    if (!r->store || !r->state) {
        snprintf(err, errlen, "redis: %.900s", e);
        return -1;
    }
    if (!(r->live = client(cfg, m, m->group_id, err, errlen)) ||
        !(r->prog = client(cfg, m, r->group, err, errlen)))
        return -1;
    if (r->kafka) {
        /* A transactional.id the user set is the fleet's: sharing it would
         * fence the fleet's producer. */
        r->producer = m->producer;
        for (size_t i = 0; i < m->producer.count; i++)
            if (!strcmp(m->producer.names[i], "transactional.id")) {
                snprintf(r->txn_id, sizeof r->txn_id, "%s.%s", m->producer.values[i],
                         r->group + strlen(m->group_id) + 1);
                if (!(r->producer.values = calloc(m->producer.count, sizeof(char *)))) {
                    snprintf(err, errlen, "out of memory");
                    return -1;
                }
                memcpy(r->producer.values, m->producer.values, m->producer.count * sizeof(char *));
                r->producer.values[i] = r->txn_id;
            }
        kf_txn_env tenv = {.mapping = m->name,
                           .group_id = r->group,
                           .brokers = cfg->brokers,
                           .kafka = &cfg->kafka,
                           .producer = &r->producer};
        if (!(r->txn = kf_txn_new(&tenv, e, sizeof e))) {
            snprintf(err, errlen, "kafka producer: %.900s", e);
            return -1;
        }
    }
    /* The key's own epoch (fencing an earlier release of it) and marks. */
    if (!(r->p = kf_partition_new(r->topic, r->partition))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    kf_consumer_eos eos = {.state = r->state, .txn = r->txn};
    if (kf_consumer_eos_assign(&eos, m, r->p, r->stop) != 0) {
        snprintf(err, errlen, "stopped before the release's state was assigned");
        return -1;
    }
    if (r->mode != KF_RELEASE_RETRY) return 0;
    r->sinks = calloc(m->sink_count ? m->sink_count : 1, sizeof *r->sinks);
    r->ws = calloc(m->sink_count ? m->sink_count : 1, sizeof *r->ws);
    r->names = calloc(m->sink_count ? m->sink_count : 1, sizeof *r->names);
    if (!r->sinks || !r->ws || !r->names) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    kf_sink_env env = {.mapping = m->name,
                       .group_id = r->group,
                       .idempotency_group = m->group_id,
                       .brokers = cfg->brokers,
                       .kafka = &cfg->kafka,
                       .producer = &m->producer,
                       .redis_url = cfg->redis_url,
                       .threads = 1,
                       .exactly_once = 1,
                       .redis_key_prefix = cfg->redis_key_prefix};
    for (size_t s = 0; s < m->sink_count; s++) {
        r->names[s] = m->sinks[s].name;
        if (kf_sink_type_caps(m->sinks[s].type) & KF_SINK_CAP_TRANSACTIONAL) continue;
        if (!(r->sinks[s] = kf_sink_open(&m->sinks[s], &env, e, sizeof e)) ||
            !(r->ws[s] = kf_sink_worker_open(r->sinks[s], 0, e, sizeof e))) {
            snprintf(err, errlen, "%s", e);
            return -1;
        }
    }
    return 0;
}

/* The worst ack of one record's writes. */
typedef struct acks {
    int worst;
    char why[512];
} acks;

static void on_ack(void *opaque, kf_status st, const char *why)
{
    acks *a = opaque;
    if ((int)st > a->worst) {
        a->worst = (int)st;
        snprintf(a->why, sizeof a->why, "%s", why ? why : "sink error");
    }
}

static void pause_ms(const rel *r, int attempt)
{
    int64_t ms = kf_backoff_ms(attempt, r->m->retry.backoff_ms, r->m->retry.max_backoff_ms,
                               kf_backoff_random());
    for (int64_t t = 0; t < ms && !atomic_load(r->stop); t += 50)
        usleep(50000);
}

/* Commits `msgs` with the key's progress past `offset` in one transaction,
 * until it is known to have committed. Returns 0, or -1 when stopped. */
static int commit(rel *r, const kf_txn_msg *msgs, size_t n, int64_t offset, int64_t *prog)
{
    char err[1024];
    for (int attempt = 1;; attempt++) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, r->topic, r->partition)->offset = offset + 1;
        kf_status st = kf_txn_run(r->txn, msgs, n, l, r->prog, err, sizeof err);
        rd_kafka_topic_partition_list_destroy(l);
        if (st == KF_STATUS_OK) {
            *prog = offset + 1;
            return 0;
        }
        /* An unknown outcome: what the group committed says. */
        int64_t c = -1;
        if (st == KF_STATUS_FENCED && committed(r, r->prog, &c, err, sizeof err) == 0 &&
            c > offset) {
            *prog = c;
            return 0;
        }
        kf_log_rec(KF_LOG_WARN, C,
                   &(kf_log_fields){.mapping = r->m->name,
                                    .topic = r->topic,
                                    .partition = r->partition,
                                    .offset = offset},
                   "%s[%d]@%lld: transaction not committed (%s); retrying", r->topic, r->partition,
                   (long long)offset, err);
        if (atomic_load(r->stop)) return -1;
        pause_ms(r, attempt);
    }
}

static uint32_t done_before(const rel *r, const kf_park_entry *e)
{
    kf_header_text names = {.p = e->sinks_done, .len = e->sinks_done_len};
    uint32_t done = kf_partition_done_mask(r->p, e->offset);
    for (size_t s = 0; s < r->m->sink_count && s < 32; s++)
        if (kf_dead_letter_names_have(names, r->m->sinks[s].name)) done |= 1u << s;
    return done;
}

/* Runs the handler on rec until KF_OK, within retry.max_attempts. */
static kf_result run_handler(rel *r, kf_rec *rec)
{
    kf_result res = KF_FAIL;
    for (int attempt = 1; attempt <= r->m->retry.max_attempts; attempt++) {
        rec->view.attempt = attempt;
        kf_rec_clear_outputs(rec);
        kf_rec_emitter em;
        kf_rec_emitter_init(&em, rec, r->names, r->m->sink_count);
        if (kf_handler_has_batch(r->h)) {
            const kf_record *v = &rec->view;
            kf_emitter *eb = &em.base;
            kf_handler_call_batch(r->h, &v, &eb, 1, &res);
        } else {
            res = kf_handler_call(r->h, &rec->view, &em.base);
        }
        if (res != KF_RETRY || atomic_load(r->stop)) break;
        if (attempt < r->m->retry.max_attempts) pause_ms(r, attempt);
    }
    return res;
}

/* retry: one record through the handler and the sinks it has not reached.
 * Returns 0 when its effect is complete, 1 when it stopped (why). */
static int retry_one(rel *r, const kf_park_entry *e, int64_t *prog, kf_release_result *res)
{
    uint32_t done = done_before(r, e);
    bool kafka_due = r->kafka && e->offset >= *prog, due = kafka_due;
    for (size_t s = 0; s < r->m->sink_count; s++)
        if (r->sinks[s] && (s >= 32 || !(done & (1u << s)))) due = true;
    if (!due) {
        res->skipped++;
        return 0;
    }
    for (int round = 1;; round++) {
        kf_rec *rec = kf_rec_new(r->p, e->offset, e->timestamp_ms, e->key, e->key_len, e->value,
                                 e->value_len, e->headers, e->header_count);
        if (!rec) {
            snprintf(res->why, sizeof res->why, "out of memory");
            return 1;
        }
        kf_result hr = run_handler(r, rec);
        if (hr != KF_OK) {
            snprintf(res->why, sizeof res->why,
                     "%s[%d]@%lld failed again (%s): the key stays parked from it on", r->topic,
                     r->partition, (long long)e->offset,
                     hr == KF_RETRY ? "KF_RETRY on every attempt" : "handler returned KF_FAIL");
            kf_rec_free(rec);
            return 1;
        }
        acks a = {.worst = KF_STATUS_OK};
        unsigned seq[32] = {0};
        size_t nmsg = 0, cap = 0;
        kf_txn_msg *msgs = NULL;
        for (kf_output *o = rec->outputs; o; o = o->next) {
            size_t from = o->sink < 0 ? 0 : (size_t)o->sink;
            size_t to = o->sink < 0 ? r->m->sink_count : from + 1;
            for (size_t s = from; s < to; s++) {
                unsigned n = s < 32 ? seq[s]++ : 0;
                if (!r->sinks[s]) { /* a Kafka output: in the transaction */
                    if (!kafka_due) continue;
                    if (nmsg == cap) {
                        cap = cap ? cap * 2 : 8;
                        kf_txn_msg *g = realloc(msgs, cap * sizeof *g);
                        if (!g) {
                            free(msgs);
                            kf_rec_free(rec);
                            snprintf(res->why, sizeof res->why, "out of memory");
                            return 1;
                        }
                        msgs = g;
                    }
                    msgs[nmsg++] = (kf_txn_msg){.topic = r->m->sinks[s].topic,
                                                .key = o->key,
                                                .key_len = o->key_len,
                                                .value = o->value,
                                                .value_len = o->value_len,
                                                .headers = o->headers,
                                                .header_count = o->header_count};
                    continue;
                }
                if (s < 32 && (done & (1u << s))) continue;
                kf_sink_msg msg = {.src_topic = r->topic,
                                   .src_partition = r->partition,
                                   .src_offset = e->offset,
                                   .seq = n,
                                   .key = o->key,
                                   .key_len = o->key_len,
                                   .value = o->value,
                                   .value_len = o->value_len,
                                   .headers = o->headers,
                                   .header_count = o->header_count,
                                   .ack = on_ack,
                                   .ack_opaque = &a,
                                   .eos_epoch = r->p->epoch,
                                   .eos_trim = -1};
                kf_sink_write(r->ws[s], &msg);
            }
        }
        for (size_t s = 0; s < r->m->sink_count; s++)
            if (r->ws[s]) {
                kf_sink_flush(r->ws[s]);
                kf_sink_drain(r->sinks[s], 30000);
            }
        if (a.worst == KF_STATUS_OK && kafka_due && commit(r, msgs, nmsg, e->offset, prog) != 0) {
            a.worst = KF_STATUS_RETRY;
            snprintf(a.why, sizeof a.why, "stopped before its transaction committed");
        }
        free(msgs);
        kf_rec_free(rec);
        if (a.worst == KF_STATUS_OK) return 0;
        if (a.worst == KF_STATUS_FENCED || a.worst == KF_STATUS_FAIL || atomic_load(r->stop)) {
            snprintf(res->why, sizeof res->why, "%s[%d]@%lld: %s%s", r->topic, r->partition,
                     (long long)e->offset, a.why,
                     a.worst == KF_STATUS_FENCED ? " (another release of this key took over)"
                                                 : ": the key stays parked from it on");
            return 1;
        }
        char trace[KF_TRACE_ID_LEN + 1];
        kf_trace_id_of(e->headers, e->header_count, trace);
        kf_log_rec(KF_LOG_WARN, C,
                   &(kf_log_fields){.mapping = r->m->name,
                                    .topic = r->topic,
                                    .partition = r->partition,
                                    .offset = e->offset,
                                    .trace_id = trace},
                   "%s[%d]@%lld: %s; trying again", r->topic, r->partition, (long long)e->offset,
                   a.why);
        pause_ms(r, round);
    }
}

/* drop: the record as a dead letter (with a topic), in the transaction. */
static int drop_one(rel *r, const kf_park_entry *e, int64_t *prog, kf_release_result *res)
{
    if (!r->dlq || e->offset < *prog) {
        res->skipped += r->dlq ? 1 : 0;
        return 0;
    }
    kf_record v = {.struct_size = sizeof v,
                   .topic = r->topic,
                   .partition = r->partition,
                   .offset = e->offset,
                   .timestamp_ms = e->timestamp_ms,
                   .key = e->key,
                   .key_len = e->key_len,
                   .value = e->value,
                   .value_len = e->value_len,
                   .headers = e->headers,
                   .header_count = e->header_count};
    char why[1200], done[1024];
    snprintf(why, sizeof why, "%.*s%sdropped from the park by `kfleet parked drop`",
             (int)e->error_len, e->error, e->error_len ? "; " : "");
    snprintf(done, sizeof done, "%.*s", (int)e->sinks_done_len, e->sinks_done);
    /* The handler is not loaded to drop: its file's name stands for it. */
    const char *path = r->m->handler.path, *base = strrchr(path, '/');
    char handler[256];
    snprintf(handler, sizeof handler, "%s", base ? base + 1 : path);
    char *dot = strrchr(handler, '.');
    if (dot && !strcmp(dot, ".so")) *dot = '\0';
    kf_dead_letter_info info = {.why = why,
                                .attempts = e->attempts,
                                .handler = handler,
                                .mapping = r->m->name,
                                .sinks_done = done};
    kf_dead_letter dl;
    kf_dead_letter_build(&dl, &v, &info);
    if (!dl.headers) {
        snprintf(res->why, sizeof res->why, "out of memory");
        return 1;
    }
    kf_txn_msg msg = {.topic = r->dlq,
                      .key = e->key,
                      .key_len = e->key_len,
                      .value = e->value,
                      .value_len = e->value_len,
                      .headers = dl.headers,
                      .header_count = dl.count};
    int rc = commit(r, &msg, 1, e->offset, prog);
    kf_dead_letter_free(&dl);
    if (rc != 0) {
        snprintf(res->why, sizeof res->why, "stopped before its transaction committed");
        return 1;
    }
    return 0;
}

/* Waits until the fleet has committed past `offset`. */
static int wait_committed(rel *r, int64_t offset, int64_t *live, int wait_ms, char *why,
                          size_t whylen)
{
    int64_t until = kf_now_ms() + wait_ms;
    char err[512];
    while (*live <= offset) {
        if (kf_now_ms() >= until || atomic_load(r->stop)) {
            snprintf(why, whylen,
                     "%s[%d]@%lld is not committed by the fleet yet (its committed offset is "
                     "%lld): the fleet might still replay it; run this again in a moment",
                     r->topic, r->partition, (long long)offset, (long long)*live);
            return -1;
        }
        usleep(200000);
        if (committed(r, r->live, live, err, sizeof err) != 0)
            kf_debug(C, "%s[%d]: %s", r->topic, r->partition, err);
    }
    return 0;
}

int kf_park_release(const kf_config *cfg, const kf_mapping_config *m, kf_loaded_handler *h,
                    const char *topic, int32_t partition, const char *field, size_t field_len,
                    kf_release_mode mode, int wait_ms, const atomic_int *stop,
                    kf_release_result *res)
{
    memset(res, 0, sizeof *res);
    rel r = {.cfg = cfg,
             .m = m,
             .h = h,
             .topic = topic,
             .partition = partition,
             .field = field,
             .field_len = field_len,
             .mode = mode,
             .stop = stop};
    char err[1024] = "";
    int64_t live = -1, prog = -1;
    if (setup(&r, err, sizeof err) != 0 || committed(&r, r.live, &live, err, sizeof err) != 0 ||
        committed(&r, r.prog, &prog, err, sizeof err) != 0) {
        snprintf(res->why, sizeof res->why, "%s", err);
        teardown(&r);
        return -1;
    }
    int rc = 0;
    int64_t last = -1;
    while (rc == 0 && !res->key_released) {
        char **ent;
        size_t *lens, n;
        if (kf_park_head(r.store, topic, partition, field, field_len, 32, &ent, &lens, &n, err,
                         sizeof err) != KF_STATUS_OK) {
            snprintf(res->why, sizeof res->why, "%s", err);
            rc = 1;
            break;
        }
        if (n == 0) res->key_released = true;
        for (size_t i = 0; i < n && rc == 0 && !res->key_released; i++) {
            kf_park_entry e;
            if (kf_park_entry_decode(ent[i], lens[i], &e) != 0) {
                snprintf(res->why, sizeof res->why, "%s[%d]: a parked record cannot be read", topic,
                         partition);
                rc = 1;
                break;
            }
            if (wait_committed(&r, e.offset, &live, wait_ms, res->why, sizeof res->why) != 0 ||
                (mode == KF_RELEASE_RETRY ? retry_one(&r, &e, &prog, res)
                                          : drop_one(&r, &e, &prog, res)) != 0) {
                rc = 1;
            } else {
                int answer = 2;
                if (kf_park_take(r.store, topic, partition, field, field_len, e.offset, 1, &answer,
                                 err, sizeof err) != KF_STATUS_OK) {
                    snprintf(res->why, sizeof res->why, "%s", err);
                    rc = 1;
                } else if (answer == 2) {
                    snprintf(res->why, sizeof res->why,
                             "%s[%d]@%lld was taken by another release of this key", topic,
                             partition, (long long)e.offset);
                    rc = 1;
                } else {
                    res->released++;
                    last = e.offset;
                    res->key_released = answer == 1;
                }
            }
            kf_park_entry_clear(&e);
        }
        for (size_t i = 0; i < n; i++)
            free(ent[i]);
        free(ent);
        free(lens);
    }
    /* The key's marks are needed no longer below what was taken. */
    if (last >= 0) {
        int fenced = 0;
        kf_eos_state_release(r.state, topic, partition, r.p->epoch, last + 1,
                             r.txn ? kf_txn_id(r.txn) : NULL, &fenced, err, sizeof err);
    }
    teardown(&r);
    return rc;
}
