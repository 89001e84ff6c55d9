/*
 * bench_latency — end-to-end latency probe: produce to visible in the sink.
 *
 * The main thread produces to --topic at a fixed --rate for --warmup-seconds
 * plus --seconds, stamping each record's value with the time it is handed to
 * librdkafka:
 *
 *     {"id":<n>,"ts_us":<CLOCK_MONOTONIC us>,"pad":"xxx..."}   (--value-size bytes)
 *
 * and a reader thread watches the sink of the pipeline under test:
 *   --redis-list KEY   BLPOP (wakes on the first push) then LPOP KEY 1000 until
 *                      empty; the list is drained as it is read
 *   --kafka TOPIC      every partition assigned from the beginning,
 *                      isolation.level=read_committed, fetch.wait.max.ms=10;
 *                      production starts once every partition was fetched to
 *                      its end (at most 10 s), so the fetcher's start-up is
 *                      not measured
 *   --floor            the probe's own floor: the --kafka reader above reads
 *                      the input topic itself, so nothing but produce ->
 *                      broker -> consume is measured (no pipeline runs; the
 *                      producer is not transactional, so read_committed adds
 *                      nothing)
 * and takes, for each output, now - ts_us. Producer and reader are one
 * process, so both stamps come from the same monotonic clock.
 *
 * Records of the warm-up are read but left out of the figures (JIT, caches,
 * first transactions). The run ends when every record was seen, or
 * --drain-timeout seconds after the last one was produced. One JSON line on
 * stdout:
 *
 *     {"produced":N,"measured":M,"seen":S,"missing":L,"duplicates":D,
 *      "p50_ms":..,"p99_ms":..,"p999_ms":..,"max_ms":..,"mean_ms":..,"send_rate":..}
 *
 * (percentiles by nearest rank over the measured records that were seen).
 * Exit 0 when nothing is missing or duplicated, 1 otherwise or on a failure,
 * 2 on bad usage.
 *
 * Threads: the reader thread owns its Redis context or Kafka consumer; the
 * two threads share only the atomics below and the per-id arrays, where the
 * producer writes nothing after start.
 */
#include "tests/tools/lib/tool_util.h"

#include "common/redis.h"

#include <getopt.h>
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct opts {
    const char *brokers;
    const char *topic;
    const char *redis_url;
    const char *redis_list;
    const char *kafka_out;
    double rate;
    double seconds;
    double warmup_s;
    double drain_timeout_s;
    int value_size;
    int keys;
} opts;

static opts O;
static long long g_total;  /* ids 0 .. g_total-1 */
static long long g_warmup; /* ids below this are the warm-up */
static uint8_t *g_seen;    /* per id: times seen (saturating) */
static int64_t *g_lat_us;  /* per id: latency of the first sighting */
static atomic_llong g_unique;
static atomic_llong g_dups;
static atomic_int g_producer_done;
static atomic_int g_reader_failed;
static atomic_int g_reader_ready;
static double g_produced_at; /* monotonic s when the last record was produced */

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Records one output value seen at `now`; unparseable values are ignored. */
static void observe(const char *v, size_t len, int64_t now)
{
    char buf[96];
    size_t n = len < sizeof buf - 1 ? len : sizeof buf - 1;
    memcpy(buf, v, n);
    buf[n] = '\0';
    long long id, ts;
    const char *p = strstr(buf, "\"id\":"), *q = strstr(buf, "\"ts_us\":");
    if (!p || !q || sscanf(p + 5, "%lld", &id) != 1 || sscanf(q + 8, "%lld", &ts) != 1) return;
    if (id < 0 || id >= g_total) return;
    if (g_seen[id]) {
        atomic_fetch_add(&g_dups, 1);
        if (g_seen[id] < 255) g_seen[id]++;
        return;
    }
    g_seen[id] = 1;
    g_lat_us[id] = now - ts;
    atomic_fetch_add(&g_unique, 1);
}

/* True while the reader should keep going. */
static int reading(void)
{
    if (atomic_load(&g_unique) >= g_total) return 0;
    if (atomic_load(&g_producer_done) && tool_now_s() > g_produced_at + O.drain_timeout_s) return 0;
    return 1;
}

static void *redis_reader(void *arg)
{
    (void)arg;
    kf_redis_url u;
    char err[512];
    if (kf_redis_url_parse(O.redis_url, &u, err, sizeof err)) {
        fprintf(stderr, "bench_latency: %s\n", err);
        atomic_store(&g_reader_failed, 1);
        atomic_store(&g_reader_ready, 1);
        return NULL;
    }
    redisContext *c = kf_redis_connect(&u, 5000, 5000, err, sizeof err);
    kf_redis_url_free(&u);
    if (!c) {
        fprintf(stderr, "bench_latency: %s\n", err);
        atomic_store(&g_reader_failed, 1);
        atomic_store(&g_reader_ready, 1);
        return NULL;
    }
    atomic_store(&g_reader_ready, 1);
    while (reading()) {
        redisReply *r = redisCommand(c, "BLPOP %s 0.1", O.redis_list);
        int64_t now = mono_us();
        if (!r) {
            fprintf(stderr, "bench_latency: BLPOP: %s\n", c->errstr);
            atomic_store(&g_reader_failed, 1);
            break;
        }
        int got = r->type == REDIS_REPLY_ARRAY && r->elements == 2;
        if (got) observe(r->element[1]->str, r->element[1]->len, now);
        freeReplyObject(r);
        /* Drain what else is there; one timestamp per reply. */
        while (got) {
            r = redisCommand(c, "LPOP %s 1000", O.redis_list);
            now = mono_us();
            if (!r) {
                fprintf(stderr, "bench_latency: LPOP: %s\n", c->errstr);
                atomic_store(&g_reader_failed, 1);
                break;
            }
            got = r->type == REDIS_REPLY_ARRAY && r->elements > 0;
            for (size_t i = 0; got && i < r->elements; i++)
                if (r->element[i]->type == REDIS_REPLY_STRING)
                    observe(r->element[i]->str, r->element[i]->len, now);
            freeReplyObject(r);
        }
        if (atomic_load(&g_reader_failed)) break;
    }
    redisFree(c);
    return NULL;
}

static void *kafka_reader(void *arg)
{
    (void)arg;
    char err[512], group[64];
    snprintf(group, sizeof group, "bench-latency-%d", (int)getpid());
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = NULL;
    if (!tool_conf_set(conf, "bootstrap.servers", O.brokers) &&
        !tool_conf_set(conf, "group.id", group) &&
        !tool_conf_set(conf, "enable.auto.commit", "false") &&
        !tool_conf_set(conf, "isolation.level", "read_committed") &&
        !tool_conf_set(conf, "fetch.wait.max.ms", "10") &&
        !tool_conf_set(conf, "enable.partition.eof", "true")) {
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
        if (!rk) fprintf(stderr, "bench_latency: %s\n", err);
    } else {
        rd_kafka_conf_destroy(conf);
    }
    rd_kafka_topic_partition_list_t *l =
        rk ? tool_partitions(rk, O.kafka_out, RD_KAFKA_OFFSET_BEGINNING, 30) : NULL;
    if (!l || rd_kafka_assign(rk, l)) {
        fprintf(stderr, "bench_latency: cannot read topic %s\n", O.kafka_out);
        atomic_store(&g_reader_failed, 1);
        atomic_store(&g_reader_ready, 1);
        if (l) rd_kafka_topic_partition_list_destroy(l);
        if (rk) rd_kafka_destroy(rk);
        return NULL;
    }
    int parts = l->cnt;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_poll_set_consumer(rk);
    /* Ready once every partition was fetched to its end (or after 10 s):
     * a fetcher that is still starting (offset lookup, a first fetch error
     * and its 500 ms backoff) would otherwise be measured as latency. */
    uint8_t *eof = calloc((size_t)parts, 1);
    int at_end = 0;
    for (double until = tool_now_s() + 10; eof && at_end < parts && tool_now_s() < until;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 10);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && m->partition >= 0 &&
            m->partition < parts && !eof[m->partition]) {
            eof[m->partition] = 1;
            at_end++;
        }
        rd_kafka_message_destroy(m);
    }
    free(eof);
    atomic_store(&g_reader_ready, 1);
    while (reading()) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 10);
        if (!m) continue;
        int64_t now = mono_us();
        if (!m->err && m->payload)
            observe(m->payload, m->len, now);
        else if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            fprintf(stderr, "bench_latency: %s\n", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return NULL;
}

/* Builds record `id`'s value stamped with ts; returns its length. */
static size_t make_value(char *buf, size_t cap, long long id, int64_t ts)
{
    int hl = snprintf(buf, cap, "{\"id\":%lld,\"ts_us\":%lld,\"pad\":\"", id, (long long)ts);
    size_t len = (size_t)hl;
    while (len + 2 < (size_t)O.value_size && len + 3 < cap)
        buf[len++] = 'x';
    memcpy(buf + len, "\"}", 2);
    return len + 2;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(const int64_t *sorted, long long n, double p)
{
    if (n <= 0) return -1;
    long long rank = (long long)ceil(p * (double)n);
    if (rank < 1) rank = 1;
    return (double)sorted[rank - 1] / 1000.0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bench_latency -t TOPIC (--redis-list KEY | --kafka OUT | --floor) [options]\n"
            "\n"
            "  -b, --brokers LIST        bootstrap servers (default $KFLEET_BROKERS)\n"
            "  -t, --topic T             input topic of the pipeline (must exist)\n"
            "      --redis-list KEY      sink: a Redis list (drained while read)\n"
            "      --redis URL           its Redis (default $KFLEET_REDIS)\n"
            "      --kafka OUT           sink: a Kafka topic, read_committed\n"
            "      --floor               no pipeline: read the input topic back (the floor)\n"
            "      --rate R              records/s (default 10000)\n"
            "      --seconds S           measured seconds (default 30)\n"
            "      --warmup-seconds W    unmeasured seconds first (default 2)\n"
            "      --drain-timeout S     wait for stragglers (default 30)\n"
            "      --value-size B        value bytes (default 100)\n"
            "      --keys K              key \"k<id %% K>\" (default 100)\n");
}

int main(int argc, char **argv)
{
    enum {
        O_REDIS_LIST = 256,
        O_REDIS,
        O_KAFKA,
        O_RATE,
        O_SECONDS,
        O_WARMUP,
        O_DRAIN,
        O_VSIZE,
        O_FLOOR
    };
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"redis-list", required_argument, NULL, O_REDIS_LIST},
        {"redis", required_argument, NULL, O_REDIS},
        {"kafka", required_argument, NULL, O_KAFKA},
        {"floor", no_argument, NULL, O_FLOOR},
        {"rate", required_argument, NULL, O_RATE},
        {"seconds", required_argument, NULL, O_SECONDS},
        {"warmup-seconds", required_argument, NULL, O_WARMUP},
        {"drain-timeout", required_argument, NULL, O_DRAIN},
        {"value-size", required_argument, NULL, O_VSIZE},
        {"keys", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    O = (opts){.brokers = getenv("KFLEET_BROKERS"),
               .redis_url = getenv("KFLEET_REDIS"),
               .rate = 10000,
               .seconds = 30,
               .warmup_s = 2,
               .drain_timeout_s = 30,
               .value_size = 100,
               .keys = 100};
    int c, floor_run = 0;
    while ((c = getopt_long(argc, argv, "b:t:k:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            O.brokers = optarg;
            break;
        case 't':
            O.topic = optarg;
            break;
        case O_REDIS_LIST:
            O.redis_list = optarg;
            break;
        case O_REDIS:
            O.redis_url = optarg;
            break;
        case O_KAFKA:
            O.kafka_out = optarg;
            break;
        case O_FLOOR:
            floor_run = 1;
            break;
        case O_RATE:
            O.rate = strtod(optarg, NULL);
            break;
        case O_SECONDS:
            O.seconds = strtod(optarg, NULL);
            break;
        case O_WARMUP:
            O.warmup_s = strtod(optarg, NULL);
            break;
        case O_DRAIN:
            O.drain_timeout_s = strtod(optarg, NULL);
            break;
        case O_VSIZE:
            O.value_size = atoi(optarg);
            break;
        case 'k':
            O.keys = atoi(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (floor_run) {
        if (O.redis_list || O.kafka_out) {
            usage(stderr);
            return 2;
        }
        O.kafka_out = O.topic;
    }
    if (!O.brokers || !O.topic || !!O.redis_list == !!O.kafka_out ||
        (O.redis_list && !O.redis_url) || O.rate <= 0 || O.seconds <= 0 || O.warmup_s < 0 ||
        O.value_size < 0 || O.value_size > 4096 || O.keys < 1 || optind < argc) {
        usage(stderr);
        return 2;
    }
    g_warmup = (long long)(O.rate * O.warmup_s);
    g_total = g_warmup + (long long)(O.rate * O.seconds);
    g_seen = calloc((size_t)g_total, 1);
    g_lat_us = calloc((size_t)g_total, sizeof *g_lat_us);
    if (!g_seen || !g_lat_us) return 1;

    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* linger.ms=1: a small batching delay, the same for every contender. */
    if (tool_conf_set(conf, "bootstrap.servers", O.brokers) ||
        tool_conf_set(conf, "enable.idempotence", "true") || tool_conf_set(conf, "acks", "all") ||
        tool_conf_set(conf, "linger.ms", "1") ||
        tool_conf_set(conf, "partitioner", "murmur2_random"))
        return 2;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "bench_latency: %s\n", err);
        return 1;
    }

    pthread_t reader;
    if (pthread_create(&reader, NULL, O.redis_list ? redis_reader : kafka_reader, NULL)) return 1;
    while (!atomic_load(&g_reader_ready))
        usleep(1000);

    char val[4200], key[32];
    int64_t start = mono_us();
    long long failed = 0;
    for (long long id = 0; id < g_total && !atomic_load(&g_reader_failed); id++) {
        int64_t due = start + (int64_t)((double)id * 1e6 / O.rate);
        int64_t now = mono_us();
        if (due > now) {
            rd_kafka_poll(rk, 0);
            struct timespec ts = {.tv_sec = due / 1000000, .tv_nsec = (due % 1000000) * 1000};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
        int klen = snprintf(key, sizeof key, "k%lld", id % O.keys);
        size_t vlen = make_value(val, sizeof val, id, mono_us());
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(O.topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_KEY(key, (size_t)klen), RD_KAFKA_V_VALUE(val, vlen),
                    RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        if (e) failed++;
    }
    double send_s = (double)(mono_us() - start) / 1e6;
    rd_kafka_flush(rk, 60000);
    g_produced_at = tool_now_s();
    atomic_store(&g_producer_done, 1);
    pthread_join(reader, NULL);
    rd_kafka_destroy(rk);

    long long measured = g_total - g_warmup, n = 0;
    int64_t *lat = malloc(sizeof *lat * (size_t)(measured > 0 ? measured : 1));
    double sum = 0;
    for (long long id = g_warmup; lat && id < g_total; id++)
        if (g_seen[id]) {
            lat[n++] = g_lat_us[id];
            sum += (double)g_lat_us[id];
        }
    if (lat) qsort(lat, (size_t)n, sizeof *lat, cmp_i64);
    long long missing = g_total - atomic_load(&g_unique);
    long long dups = atomic_load(&g_dups);
    printf("{\"produced\":%lld,\"produce_failed\":%lld,\"measured\":%lld,\"seen\":%lld,"
           "\"missing\":%lld,\"duplicates\":%lld,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"p999_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f,\"send_rate\":%.0f}\n",
           g_total, failed, measured, n, missing, dups, pct_ms(lat, n, 0.50), pct_ms(lat, n, 0.99),
           pct_ms(lat, n, 0.999), n ? (double)lat[n - 1] / 1000.0 : -1.0,
           n ? sum / (double)n / 1000.0 : -1.0, send_s > 0 ? (double)g_total / send_s : 0.0);
    free(lat);
    free(g_seen);
    free(g_lat_us);
    return (missing || dups || failed || atomic_load(&g_reader_failed)) ? 1 : 0;
}
