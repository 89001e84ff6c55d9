#include "consumer/group_view.h"

#include "common/clock.h"
#include "common/kafka_conf.h"

#include <librdkafka/rdkafka.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What is left of the deadline, at least 1 ms (a call given 0 would not
 * send at all). */
static int left_ms(int64_t deadline)
{
    int64_t left = deadline - kf_now_ms();
    return left > 1 ? (int)(left > 3600000 ? 3600000 : left) : 1;
}

/* The first failure wins: it is the one that explains the others. */
static void fail(char *err, size_t errlen, int *rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(char *err, size_t errlen, int *rc, const char *fmt, ...)
{
    if (*rc == 0 && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    *rc = -1;
}

/* A consumer that never joins: group.id `group` (NULL: none). */
static rd_kafka_t *client(const kf_config *cfg, const kf_mapping_config *m, const char *group,
                          bool read_committed, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char where[128], cid[300];
    snprintf(where, sizeof where, "mappings[%s].consumer", m->name);
    snprintf(cid, sizeof cid, "kfleet-status-%s", m->name);
    if (kf_kafka_conf_set(conf, "bootstrap.servers", cfg->brokers, "kafka.brokers", err, errlen) ||
        kf_kafka_conf_apply(conf, &cfg->kafka, "kafka.properties", err, errlen) ||
        kf_kafka_conf_apply(conf, &m->consumer, where, err, errlen) ||
        kf_kafka_conf_set(conf, "client.id", cid, NULL, err, errlen) ||
        kf_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, err, errlen) ||
        kf_kafka_conf_set(conf, "isolation.level",
                          read_committed ? "read_committed" : "read_uncommitted", NULL, err,
                          errlen) ||
        (group && kf_kafka_conf_set(conf, "group.id", group, NULL, err, errlen))) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    kf_kafka_conf_forward_logs(conf);
    char e[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!rk) {
        snprintf(err, errlen, "cannot create a Kafka client: %s", e);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

void kf_group_view_clear(kf_group_view *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->nparts; i++)
        free(v->parts[i].topic);
    free(v->parts);
    for (size_t i = 0; i < v->nmembers; i++) {
        kf_group_member *mb = &v->members[i];
        free(mb->member_id);
        free(mb->client_id);
        free(mb->host);
        for (size_t j = 0; j < mb->nassigned; j++)
            free(mb->assigned[j].topic);
        free(mb->assigned);
    }
    free(v->members);
    for (size_t i = 0; i < v->nmissing; i++)
        free(v->missing[i]);
    free(v->missing);
    memset(v, 0, sizeof *v);
}

/* True when the cluster's topic t is one of the mapping's. */
static bool wanted(const kf_mapping_config *m, const regex_t *re, const char *t)
{
    for (size_t i = 0; i < m->topic_count; i++) {
        if (m->topics[i][0] == '^') {
            /* librdkafka leaves no internal topic out of a pattern either. */
            if (regexec(&re[i], t, 0, NULL, 0) == 0) return true;
        } else if (!strcmp(m->topics[i], t)) {
            return true;
        }
    }
    return false;
}

static int by_tp(const void *a, const void *b)
{
    const kf_group_partition *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* The mapping's partitions from the cluster's metadata. */
static int partitions(rd_kafka_t *rk, const kf_config *cfg, const kf_mapping_config *m,
                      int64_t deadline, kf_group_view *v, char *err, size_t errlen)
{
    regex_t *re = calloc(m->topic_count, sizeof *re);
    bool *compiled = calloc(m->topic_count, sizeof *compiled);
    int rc = 0;
    if (!re || !compiled) {
        fail(err, errlen, &rc, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < m->topic_count; i++) {
        if (m->topics[i][0] != '^') continue;
        if (regcomp(&re[i], m->topics[i], REG_EXTENDED | REG_NOSUB) != 0) {
            fail(err, errlen, &rc, "topic pattern %s: not a regular expression", m->topics[i]);
            goto out;
        }
        compiled[i] = true;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, left_ms(deadline));
    if (e) {
        fail(err, errlen, &rc, "kafka %s: no metadata: %s", cfg->brokers, rd_kafka_err2str(e));
        goto out;
    }
    size_t n = 0;
    for (int t = 0; t < md->topic_cnt; t++)
        if (!md->topics[t].err && wanted(m, re, md->topics[t].topic))
            n += (size_t)md->topics[t].partition_cnt;
    v->parts = calloc(n ? n : 1, sizeof *v->parts);
    v->missing = calloc(m->topic_count ? m->topic_count : 1, sizeof *v->missing);
    if (!v->parts || !v->missing) {
        rd_kafka_metadata_destroy(md);
        fail(err, errlen, &rc, "out of memory");
        goto out;
    }
    for (int t = 0; t < md->topic_cnt; t++) {
        const rd_kafka_metadata_topic_t *mt = &md->topics[t];
        if (mt->err || !wanted(m, re, mt->topic)) continue;
        for (int p = 0; p < mt->partition_cnt && rc == 0; p++) {
            kf_group_partition *gp = &v->parts[v->nparts];
            *gp = (kf_group_partition){.partition = mt->partitions[p].id,
                                       .committed = -1,
                                       .start = -1,
                                       .end = -1,
                                       .high = -1,
                                       .lag = -1,
                                       .member = -1};
            if (!(gp->topic = strdup(mt->topic)))
                fail(err, errlen, &rc, "out of memory");
            else
                v->nparts++;
        }
    }
    for (size_t i = 0; i < m->topic_count && rc == 0; i++) {
        bool pattern = m->topics[i][0] == '^', found = false;
        for (int t = 0; t < md->topic_cnt && !found; t++)
            found = !md->topics[t].err &&
                    (pattern ? regexec(&re[i], md->topics[t].topic, 0, NULL, 0) == 0
                             : !strcmp(md->topics[t].topic, m->topics[i]));
        if (!found && (v->missing[v->nmissing] = strdup(m->topics[i]))) v->nmissing++;
    }
    rd_kafka_metadata_destroy(md);
    qsort(v->parts, v->nparts, sizeof *v->parts, by_tp);
out:
    for (size_t i = 0; re && compiled && i < m->topic_count; i++)
        if (compiled[i]) regfree(&re[i]);
    free(re);
    free(compiled);
    return rc;
}

static void committed(rd_kafka_t *rk, const char *group, int64_t deadline, kf_group_view *v,
                      char *err, size_t errlen, int *rc)
{
    if (!v->nparts) return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)v->nparts);
    for (size_t i = 0; i < v->nparts; i++)
        rd_kafka_topic_partition_list_add(l, v->parts[i].topic, v->parts[i].partition);
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, left_ms(deadline));
    if (e) {
        fail(err, errlen, rc, "kafka: group %s's committed offsets: %s", group,
             rd_kafka_err2str(e));
    } else {
        for (size_t i = 0; i < v->nparts; i++) {
            kf_group_partition *gp = &v->parts[i];
            const rd_kafka_topic_partition_t *tp =
                rd_kafka_topic_partition_list_find(l, gp->topic, gp->partition);
            if (!tp) continue;
            if (tp->err) {
                snprintf(gp->err, sizeof gp->err, "committed offset: %s",
                         rd_kafka_err2str(tp->err));
                fail(err, errlen, rc, "kafka: %s[%d]: committed offset: %s", tp->topic,
                     tp->partition, rd_kafka_err2str(tp->err));
            } else if (tp->offset >= 0) {
                gp->committed = tp->offset;
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Start and high watermark from `rk`, and the end from `rc_rk` (the
 * read_committed client; NULL: the end is the high watermark). */
static void watermarks(rd_kafka_t *rk, rd_kafka_t *rc_rk, int64_t deadline, kf_group_view *v,
                       char *err, size_t errlen, int *rc)
{
    for (size_t i = 0; i < v->nparts; i++) {
        kf_group_partition *gp = &v->parts[i];
        int64_t lo, hi;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, gp->topic, gp->partition, &lo,
                                                                 &hi, left_ms(deadline));
        if (!e && rc_rk) {
            int64_t lo2, lso;
            e = rd_kafka_query_watermark_offsets(rc_rk, gp->topic, gp->partition, &lo2, &lso,
                                                 left_ms(deadline));
            if (!e) gp->end = lso;
        } else if (!e) {
            gp->end = hi;
        }
        if (e) {
            snprintf(gp->err, sizeof gp->err, "watermarks: %s", rd_kafka_err2str(e));
            fail(err, errlen, rc, "kafka: %s[%d]: watermarks: %s", gp->topic, gp->partition,
                 rd_kafka_err2str(e));
            continue;
        }
        gp->start = lo;
        gp->high = hi;
    }
}

static void lags(const kf_mapping_config *m, kf_group_view *v)
{
    for (size_t i = 0; i < v->nparts; i++) {
        kf_group_partition *gp = &v->parts[i];
        if (gp->end < 0) continue;
        int64_t from = gp->committed;
        if (from < 0)
            from = m->starting_position == KF_START_LATEST ? gp->end : gp->start;
        else if (gp->start >= 0 && from < gp->start)
            from = gp->start; /* retention passed it: the group starts over at the start */
        gp->lag = from >= 0 && gp->end > from ? gp->end - from : 0;
    }
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static int by_first_tp(const void *a, const void *b)
{
    const kf_group_member *x = a, *y = b;
    if (!x->nassigned || !y->nassigned) return (int)!x->nassigned - (int)!y->nassigned;
    int c = strcmp(x->assigned[0].topic, y->assigned[0].topic);
    if (c) return c;
    return (x->assigned[0].partition > y->assigned[0].partition) -
           (x->assigned[0].partition < y->assigned[0].partition);
}

static int by_assigned_tp(const void *a, const void *b)
{
    const kf_group_tp *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* One member of a group description into mb; false when out of memory. */
static bool member_of(const rd_kafka_MemberDescription_t *md, kf_group_member *mb)
{
    mb->member_id = dup_or_empty(rd_kafka_MemberDescription_consumer_id(md));
    mb->client_id = dup_or_empty(rd_kafka_MemberDescription_client_id(md));
    mb->host = dup_or_empty(rd_kafka_MemberDescription_host(md));
    if (!mb->member_id || !mb->client_id || !mb->host) return false;
    const rd_kafka_MemberAssignment_t *as = rd_kafka_MemberDescription_assignment(md);
    const rd_kafka_topic_partition_list_t *tps =
        as ? rd_kafka_MemberAssignment_partitions(as) : NULL;
    if (!tps || tps->cnt == 0) return true;
    mb->assigned = calloc((size_t)tps->cnt, sizeof *mb->assigned);
    if (!mb->assigned) return false;
    for (int j = 0; j < tps->cnt; j++) {
        if (!(mb->assigned[j].topic = strdup(tps->elems[j].topic))) return false;
        mb->assigned[j].partition = tps->elems[j].partition;
        mb->nassigned++;
    }
    qsort(mb->assigned, mb->nassigned, sizeof *mb->assigned, by_assigned_tp);
    return true;
}

/* The group's state and members (DescribeConsumerGroups). */
static void members(rd_kafka_t *rk, const char *group, int64_t deadline, kf_group_view *v,
                    char *err, size_t errlen, int *rc)
{
    snprintf(v->state, sizeof v->state, "Unknown");
    char e[512];
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    if (!q || !o || rd_kafka_AdminOptions_set_request_timeout(o, left_ms(deadline), e, sizeof e)) {
        fail(err, errlen, rc, "kafka: describing group %s: cannot set up the request", group);
        goto out;
    }
    const char *groups[1] = {group};
    rd_kafka_DescribeConsumerGroups(rk, groups, 1, o, q);
    /* The request's own timeout answers first; the extra second only
     * guards against an answer that never comes. */
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, left_ms(deadline) + 1000);
    const rd_kafka_DescribeConsumerGroups_result_t *res =
        ev ? rd_kafka_event_DescribeConsumerGroups_result(ev) : NULL;
    if (!ev || !res || rd_kafka_event_error(ev)) {
        fail(err, errlen, rc, "kafka: describing group %s: %s", group,
             !ev    ? "no answer"
             : !res ? "unexpected answer"
                    : rd_kafka_event_error_string(ev));
        if (ev) rd_kafka_event_destroy(ev);
        goto out;
    }
    size_t ng = 0;
    const rd_kafka_ConsumerGroupDescription_t **gs =
        rd_kafka_DescribeConsumerGroups_result_groups(res, &ng);
    const rd_kafka_error_t *ge = ng == 1 ? rd_kafka_ConsumerGroupDescription_error(gs[0]) : NULL;
    if (ng != 1 || ge) {
        fail(err, errlen, rc, "kafka: describing group %s: %s", group,
             ge ? rd_kafka_error_string(ge) : "no description");
        rd_kafka_event_destroy(ev);
        goto out;
    }
    snprintf(v->state, sizeof v->state, "%s",
             rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(gs[0])));
    size_t nm = rd_kafka_ConsumerGroupDescription_member_count(gs[0]);
    v->members = calloc(nm ? nm : 1, sizeof *v->members);
    for (size_t i = 0; v->members && i < nm; i++) {
        v->nmembers++;
        if (!member_of(rd_kafka_ConsumerGroupDescription_member(gs[0], (int)i), &v->members[i])) {
            fail(err, errlen, rc, "out of memory");
            break;
        }
    }
    rd_kafka_event_destroy(ev);
    qsort(v->members, v->nmembers, sizeof *v->members, by_first_tp);
    /* Which member holds each partition. */
    for (size_t i = 0; i < v->nmembers; i++)
        for (size_t j = 0; j < v->members[i].nassigned; j++)
            for (size_t k = 0; k < v->nparts; k++)
                if (v->parts[k].partition == v->members[i].assigned[j].partition &&
                    !strcmp(v->parts[k].topic, v->members[i].assigned[j].topic))
                    v->parts[k].member = (int)i;
out:
    if (o) rd_kafka_AdminOptions_destroy(o);
    if (q) rd_kafka_queue_destroy(q);
}

int kf_group_view_read(const kf_config *cfg, const kf_mapping_config *m, int timeout_ms,
                       kf_group_view *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    snprintf(out->state, sizeof out->state, "Unknown");
    out->last_stable = m->exactly_once;
    int64_t deadline = kf_now_ms() + timeout_ms;
    int rc = 0;
    rd_kafka_t *rk = client(cfg, m, m->group_id, false, err, errlen);
    rd_kafka_t *rc_rk = rk && m->exactly_once ? client(cfg, m, NULL, true, err, errlen) : NULL;
    if (!rk || (m->exactly_once && !rc_rk)) {
        rc = -1;
        goto out;
    }
    if (partitions(rk, cfg, m, deadline, out, err, errlen) != 0) {
        rc = -1;
        goto out;
    }
    committed(rk, m->group_id, deadline, out, err, errlen, &rc);
    watermarks(rk, rc_rk, deadline, out, err, errlen, &rc);
    lags(m, out);
    members(rk, m->group_id, deadline, out, err, errlen, &rc);
out:
    /* Never subscribed: closing leaves no group and commits nothing. */
    if (rc_rk) rd_kafka_destroy(rc_rk);
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    return rc;
}
