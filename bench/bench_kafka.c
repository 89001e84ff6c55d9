/*
 * bench_kafka — the Kafka chores of bench/run.sh, done with librdkafka so the
 * harness needs no JVM tool on its hot path.
 *
 *   bench_kafka watch  -t TOPIC -g GROUP -n N [--interval-ms 20] [--timeout S]
 *       Polls GROUP's committed offsets on every partition of TOPIC until they
 *       add up to N, then prints "watch: committed=<sum>" and exits 0. With
 *       exactly-once (kfleet's transactional Kafka sink, Kafka Streams'
 *       exactly_once_v2) offsets commit in the same transaction as the
 *       outputs, so this is the moment the last output is visible to a
 *       read_committed reader. The OffsetFetch asks for stable offsets, so a
 *       pending transaction is never counted early.
 *   bench_kafka count  -t TOPIC [--read-committed] [--timeout S]
 *       Reads TOPIC from the beginning to the end of every partition and
 *       prints "count: records=<n>" (with --read-committed, what a
 *       read_committed reader sees).
 *   bench_kafka delete --prefix P
 *       Deletes every topic whose name starts with P (the harness's own).
 *
 * Common: -b BROKERS (default $KFLEET_BROKERS). Exit 0 on success, 1 on a
 * failure or timeout, 2 on bad usage.
 */
#include "tests/tools/lib/tool_util.h"

#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct opts {
    const char *cmd;
    const char *brokers;
    const char *topic;
    const char *group;
    const char *prefix;
    long long count;
    int interval_ms;
    double timeout_s;
    int read_committed;
} opts;

/* A consumer handle; group may be NULL (then a throwaway one, never joined). */
static rd_kafka_t *new_consumer(const opts *o, const char *group, int read_committed)
{
    char err[512], g[64];
    if (!group) {
        snprintf(g, sizeof g, "bench-kafka-%d", (int)getpid());
        group = g;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (tool_conf_set(conf, "bootstrap.servers", o->brokers) ||
        tool_conf_set(conf, "group.id", group) ||
        tool_conf_set(conf, "enable.auto.commit", "false") ||
        tool_conf_set(conf, "enable.partition.eof", "true") ||
        tool_conf_set(conf, "isolation.level",
                      read_committed ? "read_committed" : "read_uncommitted")) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) fprintf(stderr, "bench_kafka: %s\n", err);
    return rk;
}

static int cmd_watch(const opts *o)
{
    double deadline = tool_now_s() + o->timeout_s;
    rd_kafka_t *rk = new_consumer(o, o->group, 1);
    if (!rk) return 1;
    rd_kafka_topic_partition_list_t *l =
        tool_partitions(rk, o->topic, RD_KAFKA_OFFSET_INVALID, deadline - tool_now_s());
    int rc = 1;
    long long sum = 0;
    while (l && tool_now_s() < deadline) {
        for (int i = 0; i < l->cnt; i++)
            l->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, 5000);
        if (!e) {
            sum = 0;
            for (int i = 0; i < l->cnt; i++)
                if (!l->elems[i].err && l->elems[i].offset > 0) sum += l->elems[i].offset;
            if (sum >= o->count) {
                rc = 0;
                break;
            }
        }
        usleep((useconds_t)o->interval_ms * 1000);
    }
    if (rc == 0) {
        printf("watch: committed=%lld\n", sum);
        fflush(stdout);
    } else if (l) {
        fprintf(stderr, "bench_kafka: watch timed out: group %s committed %lld of %lld on %s\n",
                o->group, sum, o->count, o->topic);
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return rc;
}

static int cmd_count(const opts *o)
{
    double deadline = tool_now_s() + o->timeout_s;
    rd_kafka_t *rk = new_consumer(o, NULL, o->read_committed);
    if (!rk) return 1;
    rd_kafka_topic_partition_list_t *l =
        tool_partitions(rk, o->topic, RD_KAFKA_OFFSET_BEGINNING, deadline - tool_now_s());
    if (!l) {
        rd_kafka_destroy(rk);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, l);
    int parts = l->cnt, eof = 0, rc = 1;
    char *at_eof = calloc((size_t)parts + 1, 1);
    long long n = 0;
    while (!e && at_eof && tool_now_s() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < parts && !at_eof[m->partition]) {
                at_eof[m->partition] = 1;
                eof++;
            }
        } else if (m->err) {
            fprintf(stderr, "bench_kafka: %s\n", rd_kafka_message_errstr(m));
        } else {
            n++;
            /* A record after an EOF (more arrived) reopens that partition. */
            if (m->partition >= 0 && m->partition < parts && at_eof[m->partition]) {
                at_eof[m->partition] = 0;
                eof--;
            }
        }
        rd_kafka_message_destroy(m);
        if (eof == parts) {
            rc = 0;
            break;
        }
    }
    if (e) fprintf(stderr, "bench_kafka: assign: %s\n", rd_kafka_err2str(e));
    if (rc == 0)
        printf("count: records=%lld\n", n);
    else
        fprintf(stderr, "bench_kafka: count of %s timed out at %lld records\n", o->topic, n);
    free(at_eof);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

static int cmd_delete(const opts *o)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (tool_conf_set(conf, "bootstrap.servers", o->brokers)) return 2;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "bench_kafka: %s\n", err);
        return 1;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
    if (e) {
        fprintf(stderr, "bench_kafka: metadata: %s\n", rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
        return 1;
    }
    size_t plen = strlen(o->prefix), n = 0;
    rd_kafka_DeleteTopic_t **del = calloc((size_t)md->topic_cnt + 1, sizeof *del);
    for (int i = 0; del && i < md->topic_cnt; i++)
        if (!strncmp(md->topics[i].topic, o->prefix, plen))
            del[n++] = rd_kafka_DeleteTopic_new(md->topics[i].topic);
    rd_kafka_metadata_destroy(md);
    int rc = del ? 0 : 1;
    if (n) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_DeleteTopics(rk, del, n, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
        if (!ev || rd_kafka_event_error(ev)) {
            fprintf(stderr, "bench_kafka: DeleteTopics: %s\n",
                    ev ? rd_kafka_event_error_string(ev) : "no answer in 60 s");
            rc = 1;
        }
        if (ev) rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_DeleteTopic_destroy_array(del, n);
    }
    free(del);
    if (rc == 0) printf("delete: topics=%zu\n", n);
    rd_kafka_destroy(rk);
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: bench_kafka watch  -t TOPIC -g GROUP -n N [--interval-ms MS]\n"
                 "       bench_kafka count  -t TOPIC [--read-committed]\n"
                 "       bench_kafka delete --prefix P\n"
                 "common: -b BROKERS (default $KFLEET_BROKERS), --timeout S (default 600)\n");
}

int main(int argc, char **argv)
{
    enum { O_INTERVAL = 256, O_TIMEOUT, O_RC, O_PREFIX };
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"group", required_argument, NULL, 'g'},
        {"count", required_argument, NULL, 'n'},
        {"interval-ms", required_argument, NULL, O_INTERVAL},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"read-committed", no_argument, NULL, O_RC},
        {"prefix", required_argument, NULL, O_PREFIX},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opts o = {
        .brokers = getenv("KFLEET_BROKERS"), .count = -1, .interval_ms = 20, .timeout_s = 600};
    if (argc < 2 || argv[1][0] == '-') {
        usage(argc > 1 && !strcmp(argv[1], "--help") ? stdout : stderr);
        return argc > 1 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    o.cmd = argv[1];
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "b:t:g:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            o.brokers = optarg;
            break;
        case 't':
            o.topic = optarg;
            break;
        case 'g':
            o.group = optarg;
            break;
        case 'n':
            o.count = strtoll(optarg, NULL, 10);
            break;
        case O_INTERVAL:
            o.interval_ms = atoi(optarg);
            break;
        case O_TIMEOUT:
            o.timeout_s = strtod(optarg, NULL);
            break;
        case O_RC:
            o.read_committed = 1;
            break;
        case O_PREFIX:
            o.prefix = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!o.brokers || optind < argc || o.interval_ms < 1 || o.timeout_s <= 0) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(o.cmd, "watch") && o.topic && o.group && o.count >= 0) return cmd_watch(&o);
    if (!strcmp(o.cmd, "count") && o.topic) return cmd_count(&o);
    if (!strcmp(o.cmd, "delete") && o.prefix && *o.prefix) return cmd_delete(&o);
    usage(stderr);
    return 2;
}
