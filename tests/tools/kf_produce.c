/*
 * kf_produce — writes numbered test records to a Kafka topic for kfleet's
 * integration tests and benchmarks.
 *
 * It creates the topic when it is missing (replication 1, --partitions P; an
 * existing topic is fine), then produces --count records with ids
 * --start-id .. --start-id+count-1 and waits for every delivery report.
 * Exit status: 0 when every record was delivered, 1 on any delivery or admin
 * failure, 2 on bad usage.
 *
 * Record layout (what kf_verify expects back):
 *   key   "k<id % K>"            (--keys K; --keys 0 gives null keys)
 *   value {"id":<id>,"key":"k..","seq":<id / K>,"name":"item-<id>",
 *          ["mark":"POISON"|"RETRY",] "pad":"xxx"} padded to --value-size
 * `seq` is the record's sequence number within its key; it grows with the id,
 * so runs that continue with a higher --start-id keep every key's sequence
 * increasing. With --value-bytes N the value is instead N raw bytes: "#<id>#"
 * followed by a byte pattern derived from the id (tool_raw_fill, which
 * kf_verify checks against), or only the pattern when N is too small for the
 * header. --null-values produces null values.
 *
 * The producer is idempotent (no duplicates from its own retries, so a
 * duplicate seen downstream is kfleet's) and uses partitioner=murmur2_random,
 * the Java client's default, so keys land where a Java producer puts them.
 */
#include "tests/tools/lib/tool_util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROPS 64

/* Values at least this large need the 2 MB message limits on topic and producer. */
#define BIG_VALUE_BYTES (512 * 1024)

typedef struct opts {
    const char *brokers;
    const char *topic;
    long long count;
    long long start_id;
    int partitions;
    long long keys;
    long long value_size;  /* pad JSON values to this many bytes; 0 = no pad */
    long long value_bytes; /* -1 = JSON values; otherwise raw values of this size */
    int null_values;
    long long poison_every;
    long long retry_every;
    double rate; /* records/s; 0 = as fast as possible */
    int create_only;
    int hold_txn;
    int commit_on_usr1;
    int quiet;
    const char *prop_names[MAX_PROPS];
    const char *prop_values[MAX_PROPS];
    int prop_count;
    const char *topic_cfg_names[MAX_PROPS];
    const char *topic_cfg_values[MAX_PROPS];
    int topic_cfg_count;
} opts;

static long long g_delivered;
static volatile sig_atomic_t g_usr1;

static void on_usr1(int sig)
{
    (void)sig;
    g_usr1 = 1;
}
static long long g_failed;
static char g_first_error[512];

static void usage(FILE *out)
{
    fprintf(out, "usage: kf_produce --topic T [options]\n"
                 "\n"
                 "Creates topic T if missing and produces numbered JSON test records.\n"
                 "\n"
                 "  -b, --brokers LIST      bootstrap servers (default $KFLEET_BROKERS)\n"
                 "  -t, --topic T           topic to create and write (required)\n"
                 "  -n, --count N           records to produce (default 1000)\n"
                 "  -s, --start-id ID       first record id (default 0)\n"
                 "  -p, --partitions P      partitions when creating the topic (default 8)\n"
                 "  -k, --keys K            key is \"k<id %% K>\" (default 100; 0 = null keys)\n"
                 "      --value-size B      pad each JSON value to B bytes (default: no padding)\n"
                 "      --value-bytes N     raw values of exactly N bytes instead of JSON\n"
                 "      --null-values       null values instead of JSON\n"
                 "      --poison-every M    add \"mark\":\"POISON\" to records with id %% M == 0\n"
                 "      --retry-every M     add \"mark\":\"RETRY\" to records with id %% M == 0\n"
                 "                          (POISON wins when both apply)\n"
                 "      --rate R            at most R records/s (default: unlimited)\n"
                 "      --create-only       create the topic and exit\n"
                 "      --hold-transaction  produce inside a transaction (needs -X\n"
                 "                          transactional.id=..), print \"holding\" and\n"
                 "                          never commit: wait until killed (an open\n"
                 "                          transaction upstream, for tests)\n"
                 "      --commit-on-usr1    like --hold-transaction, but commit on SIGUSR1,\n"
                 "                          print \"committed\" and exit (records that\n"
                 "                          become visible at once, for bench/)\n"
                 "  -X  NAME=VALUE          extra librdkafka producer property (repeatable)\n"
                 "      --topic-config N=V  topic config when creating (repeatable)\n"
                 "  -q, --quiet             print only the final count line\n"
                 "  -h, --help              this text\n"
                 "\n"
                 "Prints \"produced=<n> failed=<f> topic=<T>\" and exits 0 only if every\n"
                 "record was delivered.\n");
}

static int parse_ll(const char *s, long long min, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min) return -1;
    *out = v;
    return 0;
}

static int split_prop(const char *arg, const char **names, const char **values, int *count)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || *count >= MAX_PROPS) return -1;
    names[*count] = strndup(arg, (size_t)(eq - arg));
    values[*count] = eq + 1;
    (*count)++;
    return 0;
}

/* Where each acknowledged record landed, to check the broker kept it. */
typedef struct landed {
    long long id;
    int32_t partition;
    int64_t offset;
} landed;
static landed *g_landed;
static int g_created; /* this run created the topic */
static size_t g_nlanded, g_caplanded;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (g_failed++ == 0)
            snprintf(g_first_error, sizeof(g_first_error), "%s", rd_kafka_err2str(m->err));
        return;
    }
    g_delivered++;
    if (g_nlanded == g_caplanded) {
        size_t cap = g_caplanded ? g_caplanded * 2 : 4096;
        landed *n = realloc(g_landed, cap * sizeof *n);
        if (!n) return;
        g_landed = n;
        g_caplanded = cap;
    }
    g_landed[g_nlanded++] = (landed){(long long)(intptr_t)m->_private, m->partition, m->offset};
}

/* Creates the topic; an existing topic counts as success. */
static int create_topic(rd_kafka_t *rk, const opts *o)
{
    char err[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(o->topic, o->partitions, 1, err, sizeof(err));
    if (!nt) {
        fprintf(stderr, "kf_produce: topic %s: %s\n", o->topic, err);
        return -1;
    }
    for (int i = 0; i < o->topic_cfg_count; i++) {
        if (rd_kafka_NewTopic_set_config(nt, o->topic_cfg_names[i], o->topic_cfg_values[i])) {
            fprintf(stderr, "kf_produce: topic config %s rejected\n", o->topic_cfg_names[i]);
            rd_kafka_NewTopic_destroy(nt);
            return -1;
        }
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, 30000, err, sizeof(err));
    rd_kafka_AdminOptions_set_request_timeout(ao, 30000, err, sizeof(err));
    rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    int rc = -1;
    if (!ev) {
        fprintf(stderr, "kf_produce: CreateTopics %s: no answer in 60 s\n", o->topic);
    } else if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "kf_produce: CreateTopics %s: %s\n", o->topic,
                rd_kafka_event_error_string(ev));
    } else {
        size_t n = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rc = 0;
        for (size_t i = 0; i < n; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
            if (!e) g_created = 1;
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                fprintf(stderr, "kf_produce: CreateTopics %s: %s\n", o->topic,
                        rd_kafka_topic_result_error_string(res[i]));
                rc = -1;
            }
        }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

/*
 * Waits until the topic's metadata lists every partition with a leader, so
 * the first records do not race the broker's metadata propagation.
 */
static int wait_topic_ready(rd_kafka_t *rk, const char *topic, int timeout_s)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    double deadline = tool_now_s() + timeout_s;
    int ok = 0;
    while (!ok && tool_now_s() < deadline) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0) {
                ok = 1;
                for (int i = 0; i < md->topics[0].partition_cnt; i++)
                    if (md->topics[0].partitions[i].leader < 0 || md->topics[0].partitions[i].err)
                        ok = 0;
            }
            rd_kafka_metadata_destroy(md);
        }
        if (!ok) usleep(100 * 1000);
    }
    rd_kafka_topic_destroy(rkt);
    if (!ok) fprintf(stderr, "kf_produce: topic %s has no leaders after %d s\n", topic, timeout_s);
    return ok ? 0 : -1;
}

/* Builds the JSON value of record `id` into buf; returns its length. */
static size_t json_value(char *buf, size_t cap, const opts *o, long long id)
{
    char key[32] = "";
    long long seq = id;
    if (o->keys > 0) {
        snprintf(key, sizeof(key), "k%lld", id % o->keys);
        seq = id / o->keys;
    }
    const char *mark = NULL;
    if (o->poison_every > 0 && id % o->poison_every == 0)
        mark = "POISON";
    else if (o->retry_every > 0 && id % o->retry_every == 0)
        mark = "RETRY";
    char head[256];
    int hl =
        snprintf(head, sizeof(head),
                 "{\"id\":%lld,\"key\":\"%s\",\"seq\":%lld,\"name\":\"item-%lld\",%s%s%s"
                 "\"pad\":\"",
                 id, key, seq, id, mark ? "\"mark\":\"" : "", mark ? mark : "", mark ? "\"," : "");
    size_t base = (size_t)hl + 2; /* closing quote and brace */
    size_t pad =
        o->value_size > 0 && (size_t)o->value_size > base ? (size_t)o->value_size - base : 0;
    if (base + pad + 1 > cap) pad = cap - base - 1;
    memcpy(buf, head, (size_t)hl);
    memset(buf + hl, 'x', pad);
    memcpy(buf + hl + pad, "\"}", 2);
    return (size_t)hl + pad + 2;
}

static int parse_args(int argc, char **argv, opts *o)
{
    enum {
        O_VALUE_SIZE = 256,
        O_VALUE_BYTES,
        O_NULL_VALUES,
        O_POISON,
        O_RETRY,
        O_RATE,
        O_CREATE_ONLY,
        O_TOPIC_CONFIG,
        O_HOLD_TXN,
        O_COMMIT_USR1
    };
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'n'},
        {"start-id", required_argument, NULL, 's'},
        {"partitions", required_argument, NULL, 'p'},
        {"keys", required_argument, NULL, 'k'},
        {"value-size", required_argument, NULL, O_VALUE_SIZE},
        {"value-bytes", required_argument, NULL, O_VALUE_BYTES},
        {"null-values", no_argument, NULL, O_NULL_VALUES},
        {"poison-every", required_argument, NULL, O_POISON},
        {"retry-every", required_argument, NULL, O_RETRY},
        {"rate", required_argument, NULL, O_RATE},
        {"create-only", no_argument, NULL, O_CREATE_ONLY},
        {"hold-transaction", no_argument, NULL, O_HOLD_TXN},
        {"commit-on-usr1", no_argument, NULL, O_COMMIT_USR1},
        {"topic-config", required_argument, NULL, O_TOPIC_CONFIG},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->brokers = getenv("KFLEET_BROKERS");
    o->count = 1000;
    o->partitions = 8;
    o->keys = 100;
    o->value_bytes = -1;
    int c;
    long long v;
    while ((c = getopt_long(argc, argv, "b:t:n:s:p:k:X:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            o->brokers = optarg;
            break;
        case 't':
            o->topic = optarg;
            break;
        case 'n':
            if (parse_ll(optarg, 0, &o->count)) goto bad;
            break;
        case 's':
            if (parse_ll(optarg, 0, &o->start_id)) goto bad;
            break;
        case 'p':
            if (parse_ll(optarg, 1, &v) || v > 100000) goto bad;
            o->partitions = (int)v;
            break;
        case 'k':
            if (parse_ll(optarg, 0, &o->keys)) goto bad;
            break;
        case O_VALUE_SIZE:
            if (parse_ll(optarg, 0, &o->value_size) || o->value_size > 64 * 1024 * 1024) goto bad;
            break;
        case O_VALUE_BYTES:
            if (parse_ll(optarg, 0, &o->value_bytes) || o->value_bytes > 64 * 1024 * 1024) goto bad;
            break;
        case O_NULL_VALUES:
            o->null_values = 1;
            break;
        case O_POISON:
            if (parse_ll(optarg, 1, &o->poison_every)) goto bad;
            break;
        case O_RETRY:
            if (parse_ll(optarg, 1, &o->retry_every)) goto bad;
            break;
        case O_RATE:
            o->rate = strtod(optarg, NULL);
            if (o->rate <= 0) goto bad;
            break;
        case O_CREATE_ONLY:
            o->create_only = 1;
            break;
        case O_HOLD_TXN:
            o->hold_txn = 1;
            break;
        case O_COMMIT_USR1:
            o->hold_txn = o->commit_on_usr1 = 1;
            break;
        case 'X':
            if (split_prop(optarg, o->prop_names, o->prop_values, &o->prop_count)) goto bad;
            break;
        case O_TOPIC_CONFIG:
            if (split_prop(optarg, o->topic_cfg_names, o->topic_cfg_values, &o->topic_cfg_count))
                goto bad;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kf_produce: unexpected argument %s\n", argv[optind]);
        return -1;
    }
    if (!o->topic || !o->brokers || !*o->brokers) {
        fprintf(stderr, "kf_produce: --topic and --brokers (or $KFLEET_BROKERS) are required\n");
        return -1;
    }
    return 0;
bad:
    fprintf(stderr, "kf_produce: bad value for option: %s\n", optarg);
    return -1;
}

/* Queues the record with this id (its key and value follow from the id). */
static void produce_id(rd_kafka_t *rk, const opts *o, char *buf, size_t cap, long long id)
{
    char key[32];
    size_t klen = 0;
    if (o->keys > 0) klen = (size_t)snprintf(key, sizeof(key), "k%lld", id % o->keys);
    void *val = NULL;
    size_t vlen = 0;
    if (!o->null_values) {
        if (o->value_bytes >= 0) {
            vlen = (size_t)o->value_bytes;
            tool_raw_fill((unsigned char *)buf, vlen, id);
        } else {
            vlen = json_value(buf, cap, o, id);
        }
        val = buf;
    }
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(klen ? key : NULL, klen), RD_KAFKA_V_VALUE(val, vlen),
            RD_KAFKA_V_OPAQUE((void *)(intptr_t)id), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 100);
            continue;
        }
        if (e) {
            fprintf(stderr, "kf_produce: produce id %lld: %s\n", id, rd_kafka_err2str(e));
            g_failed++;
        }
        break;
    }
    rd_kafka_poll(rk, 0);
}

/*
 * Produces again the acknowledged records the broker no longer has; returns
 * how many (0 when none, -1 when the watermarks cannot be read). Only for a
 * topic this run created, so each partition holds exactly what was
 * acknowledged here: a partition with fewer records than acknowledgements
 * lost the ones acknowledged at or above its high watermark, or acknowledged
 * without an offset (librdkafka reports a DUPLICATE_SEQUENCE_NUMBER retry as
 * delivered, offset -1, although the first attempt may not have landed).
 */
static long long reproduce_lost(rd_kafka_t *rk, const opts *o, char *buf, size_t cap)
{
    enum { MAXP = 1024 };
    static int64_t hi[MAXP], acked[MAXP];
    int np = o->partitions > 0 && o->partitions <= MAXP ? o->partitions : MAXP;
    for (int p = 0; p < np; p++)
        acked[p] = 0;
    for (size_t i = 0; i < g_nlanded; i++)
        if (g_landed[i].partition >= 0 && g_landed[i].partition < np)
            acked[g_landed[i].partition]++;
    long long lost = 0;
    for (int p = 0; p < np; p++) {
        if (!acked[p]) continue;
        int64_t lo;
        if (rd_kafka_query_watermark_offsets(rk, o->topic, p, &lo, &hi[p], 10000)) return -1;
        int64_t missing = acked[p] - hi[p];
        for (size_t i = 0; missing > 0 && i < g_nlanded; i++) {
            landed *l = &g_landed[i];
            /* librdkafka 2.0.2: a DUPLICATE_SEQUENCE_NUMBER retry is reported delivered, offset -1.
             * Such a record may not have landed, like one at or above hi[p]. */
            if (l->partition != p || (l->offset >= 0 && l->offset < hi[p])) continue;
            l->partition = -1; /* no longer counted: its new delivery lands anew */
            produce_id(rk, o, buf, cap, l->id);
            missing--;
            lost++;
        }
    }
    return lost;
}

int main(int argc, char **argv)
{
    opts o;
    if (parse_args(argc, argv, &o)) return 2;

    int big = o.value_bytes >= BIG_VALUE_BYTES || o.value_size >= BIG_VALUE_BYTES;
    if (big && o.topic_cfg_count < MAX_PROPS) {
        o.topic_cfg_names[o.topic_cfg_count] = "max.message.bytes";
        o.topic_cfg_values[o.topic_cfg_count++] = "2000000";
    }

    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (tool_conf_set(conf, "bootstrap.servers", o.brokers) ||
        tool_conf_set(conf, "enable.idempotence", "true") || tool_conf_set(conf, "acks", "all") ||
        tool_conf_set(conf, "partitioner", "murmur2_random") ||
        tool_conf_set(conf, "linger.ms", "5") ||
        tool_conf_set(conf, "message.timeout.ms", "120000") ||
        (big && tool_conf_set(conf, "message.max.bytes", "2000000")))
        return 2;
    for (int i = 0; i < o.prop_count; i++)
        if (tool_conf_set(conf, o.prop_names[i], o.prop_values[i])) return 2;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "kf_produce: %s\n", err);
        return 1;
    }

    if (create_topic(rk, &o) || wait_topic_ready(rk, o.topic, 60)) {
        rd_kafka_destroy(rk);
        return 1;
    }
    if (o.create_only) {
        if (!o.quiet) printf("created topic=%s partitions=%d\n", o.topic, o.partitions);
        rd_kafka_destroy(rk);
        return 0;
    }

    size_t cap = 512 + (size_t)(o.value_size > 0 ? o.value_size : 0);
    if (o.value_bytes >= 0 && (size_t)o.value_bytes + 1 > cap) cap = (size_t)o.value_bytes + 1;
    char *buf = malloc(cap);
    if (!buf) return 1;

    if (o.commit_on_usr1) signal(SIGUSR1, on_usr1);
    if (o.hold_txn) {
        rd_kafka_error_t *te = rd_kafka_init_transactions(rk, 30000);
        if (!te) te = rd_kafka_begin_transaction(rk);
        if (te) {
            fprintf(stderr, "kf_produce: transaction: %s\n", rd_kafka_error_string(te));
            return 1;
        }
    }
    double start = tool_now_s();
    for (long long i = 0; i < o.count; i++) {
        if (o.rate > 0) {
            double due = start + (double)i / o.rate;
            double t = tool_now_s();
            if (due > t) usleep((useconds_t)((due - t) * 1e6));
        }
        produce_id(rk, &o, buf, cap, o.start_id + i);
        if (!o.quiet && (i + 1) % 100000 == 0)
            fprintf(stderr, "kf_produce: queued %lld/%lld\n", i + 1, o.count);
    }
    rd_kafka_resp_err_t fe = rd_kafka_flush(rk, 180000);
    if (o.hold_txn) {
        printf("holding a transaction: produced=%lld failed=%lld topic=%s\n", g_delivered, g_failed,
               o.topic);
        fflush(stdout);
        while (!o.commit_on_usr1 || !g_usr1)
            usleep(1000);
        rd_kafka_error_t *te = fe ? NULL : rd_kafka_commit_transaction(rk, 60000);
        if (fe || te) {
            fprintf(stderr, "kf_produce: commit: %s\n",
                    te ? rd_kafka_error_string(te) : rd_kafka_err2str(fe));
            if (te) rd_kafka_error_destroy(te);
            free(buf);
            rd_kafka_destroy(rk);
            return 1;
        }
        printf("committed: produced=%lld failed=%lld topic=%s\n", g_delivered, g_failed, o.topic);
        fflush(stdout);
        free(buf);
        rd_kafka_destroy(rk);
        return g_failed ? 1 : 0;
    }
    /* A broker may acknowledge records to a partition created a moment ago
     * and lose them within the next second (seen with Kafka 3.9 KRaft, one
     * node): an acknowledged offset at or above the partition's high
     * watermark is gone. For a topic this run created, watch the watermarks
     * for 2 s after the last delivery and produce lost records again. */
    for (double until = tool_now_s() + 2.0; g_created && !fe && tool_now_s() < until;) {
        long long again = reproduce_lost(rk, &o, buf, cap);
        if (again > 0) {
            fprintf(stderr,
                    "kf_produce: the broker lost %lld acknowledged record(s); producing them "
                    "again\n",
                    again);
            g_delivered -= again;
            fe = rd_kafka_flush(rk, 180000);
            until = tool_now_s() + 2.0;
        } else {
            usleep(200 * 1000);
        }
    }
    if (fe) fprintf(stderr, "kf_produce: flush: %s\n", rd_kafka_err2str(fe));
    long long undelivered = o.count - g_delivered - g_failed;
    double secs = tool_now_s() - start;
    if (g_failed) fprintf(stderr, "kf_produce: first delivery error: %s\n", g_first_error);
    printf("produced=%lld failed=%lld topic=%s seconds=%.2f\n", g_delivered,
           g_failed + (undelivered > 0 ? undelivered : 0), o.topic, secs);
    free(buf);
    rd_kafka_destroy(rk);
    return (g_failed || undelivered || fe) ? 1 : 0;
}
