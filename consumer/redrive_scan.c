#include "consumer/redrive_scan.h"

#include "common/clock.h"
#include "common/kafka_conf.h"
#include "consumer/redrive.h"
#include "dispatcher/dead_letter.h"
#include "dispatcher/partition.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

static rd_kafka_t *open_consumer(const kf_config *cfg, const kf_mapping_config *m, char *err,
                                 size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char where[128];
    snprintf(where, sizeof where, "mappings[%s].consumer", m->name);
    if (kf_kafka_conf_set(conf, "bootstrap.servers", cfg->brokers, "kafka.brokers", err, errlen) ||
        kf_kafka_conf_apply(conf, &cfg->kafka, "kafka.properties", err, errlen) ||
        kf_kafka_conf_apply(conf, &m->consumer, where, err, errlen) ||
        kf_kafka_conf_set(conf, "group.id", m->redrive->group, NULL, err, errlen) ||
        kf_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, err, errlen) ||
        kf_kafka_conf_set(conf, "enable.partition.eof", "true", NULL, err, errlen) ||
        kf_kafka_conf_set(conf, "auto.offset.reset", "earliest", NULL, err, errlen) ||
        kf_kafka_conf_set(conf, "isolation.level",
                          m->exactly_once ? "read_committed" : "read_uncommitted", NULL, err,
                          errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    kf_kafka_conf_forward_logs(conf);
    char e[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!rk) {
        snprintf(err, errlen, "cannot create a consumer: %s", e);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* The on-failure topic's partitions, at the group's committed offsets. */
static rd_kafka_topic_partition_list_t *partitions(rd_kafka_t *rk, const char *topic,
                                                   const char *group, int timeout_ms, char *err,
                                                   size_t errlen)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e =
        rkt ? rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) : RD_KAFKA_RESP_ERR__INVALID_ARG;
    if (rkt) rd_kafka_topic_destroy(rkt);
    if (e || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
        snprintf(err, errlen, "on-failure topic %s: %s", topic,
                 e                    ? rd_kafka_err2str(e)
                 : md->topic_cnt != 1 ? "no metadata"
                 : md->topics[0].err  ? rd_kafka_err2str(md->topics[0].err)
                                      : "no partitions");
        if (md) rd_kafka_metadata_destroy(md);
        return NULL;
    }
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(l, topic, md->topics[0].partitions[i].id);
    rd_kafka_metadata_destroy(md);
    e = rd_kafka_committed(rk, l, timeout_ms);
    if (e) {
        snprintf(err, errlen, "group %s's committed offsets: %s", group, rd_kafka_err2str(e));
        rd_kafka_topic_partition_list_destroy(l);
        return NULL;
    }
    return l;
}

static void print_taken(FILE *out, const rd_kafka_message_t *msg, const kf_header *h, size_t n)
{
    kf_dead_letter_source s;
    char err[128];
    if (kf_dead_letter_parse(h, n, &s, err, sizeof err) != 0) return;
    fprintf(out,
            "would redrive %.*s[%d]@%lld (dead letter %s[%d]@%lld, %d attempt(s), error: %.*s; "
            "sinks done: %.*s)\n",
            (int)s.topic.len, s.topic.p, s.partition, (long long)s.offset,
            rd_kafka_topic_name(msg->rkt), msg->partition, (long long)msg->offset, s.attempts,
            (int)s.error.len, s.error.p ? s.error.p : "",
            (int)(s.sinks_done.len ? s.sinks_done.len : 4),
            s.sinks_done.len ? s.sinks_done.p : "none");
}

int kf_redrive_topic_partitions(const kf_config *cfg, const kf_mapping_config *m, int timeout_ms,
                                char *err, size_t errlen)
{
    rd_kafka_t *rk = open_consumer(cfg, m, err, errlen);
    if (!rk) return -1;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, m->topics[0], NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e =
        rkt ? rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) : RD_KAFKA_RESP_ERR__INVALID_ARG;
    int n = -1;
    if (e) {
        snprintf(err, errlen, "on-failure topic %s: %s", m->topics[0], rd_kafka_err2str(e));
    } else if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
        n = 0;
        snprintf(err, errlen, "on-failure topic %s does not exist (%s)", m->topics[0],
                 md->topic_cnt == 1 && md->topics[0].err ? rd_kafka_err2str(md->topics[0].err)
                                                         : "no partitions");
    } else {
        n = md->topics[0].partition_cnt;
    }
    if (md) rd_kafka_metadata_destroy(md);
    if (rkt) rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return n;
}

int kf_redrive_scan(const kf_config *cfg, const kf_mapping_config *m, FILE *out, int timeout_ms,
                    kf_redrive_scan_totals *t, char *err, size_t errlen)
{
    *t = (kf_redrive_scan_totals){0};
    rd_kafka_t *rk = open_consumer(cfg, m, err, errlen);
    if (!rk) return -1;
    int rc = -1;
    kf_redrive *rd = kf_redrive_new(m);
    rd_kafka_topic_partition_list_t *l =
        partitions(rk, m->topics[0], m->redrive->group, timeout_ms, err, errlen);
    kf_partition **parts = l ? calloc((size_t)l->cnt, sizeof *parts) : NULL;
    if (!rd || !l || !parts) {
        if (l && (!rd || !parts)) snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (int i = 0; i < l->cnt; i++)
        if (!(parts[i] = kf_partition_new(l->elems[i].topic, l->elems[i].partition))) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, l);
    if (e) {
        snprintf(err, errlen, "cannot assign %s: %s", m->topics[0], rd_kafka_err2str(e));
        goto out;
    }
    int64_t quiet_until = kf_now_ms() + timeout_ms;
    for (;;) {
        int open = 0;
        for (int i = 0; i < l->cnt; i++)
            open += !parts[i]->redrive_end;
        if (!open) break;
        if (kf_now_ms() > quiet_until) {
            snprintf(err, errlen, "%d partition(s) of %s did not reach their end within %d ms",
                     open, m->topics[0], timeout_ms);
            goto out;
        }
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 200);
        if (!msg) continue;
        quiet_until = kf_now_ms() + timeout_ms;
        kf_partition *p = NULL;
        for (int i = 0; i < l->cnt && msg->rkt; i++)
            if (parts[i]->partition == msg->partition) p = parts[i];
        if (p && msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            kf_redrive_eof(rd, p, msg->offset);
        } else if (p && !msg->err) {
            kf_header hs[64];
            size_t nh = 0;
            rd_kafka_headers_t *hdrs = NULL;
            if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
                for (size_t i = 0; i < rd_kafka_header_cnt(hdrs) && nh < 64; i++) {
                    const void *v;
                    if (rd_kafka_header_get_all(hdrs, i, &hs[nh].name, &v, &hs[nh].value_len))
                        break;
                    hs[nh++].value = v;
                }
            rd_kafka_timestamp_type_t tstype;
            int64_t ts = rd_kafka_message_timestamp(msg, &tstype);
            if (kf_redrive_judge(rd, rk, p, msg->offset, ts, hs, nh) == KF_REDRIVE_TAKE)
                print_taken(out, msg, hs, nh);
        }
        rd_kafka_message_destroy(msg);
    }
    const kf_redrive_progress *pr = kf_redrive_progress_of(rd);
    t->read = atomic_load(&pr->read);
    t->taken = atomic_load(&pr->taken);
    t->passed = atomic_load(&pr->passed);
    rc = 0;
out:
    for (int i = 0; parts && i < l->cnt; i++)
        if (parts[i]) kf_partition_unref(parts[i]);
    free(parts);
    if (l) rd_kafka_topic_partition_list_destroy(l);
    kf_redrive_destroy(rd);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
