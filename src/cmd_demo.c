/*
 * `kfleet demo`: the main job on an embedded Kafka. librdkafka's in-process
 * mock cluster stands in for the broker (it listens on loopback, so the
 * daemon's consumer and producers talk to it as to any broker); a producer
 * thread writes demo orders, one in a thousand a poison pill that the
 * uppercase handler refuses, so the on-failure topic gets some too. The
 * fleet runs the config (config/examples/demo.json by default) until every
 * record is done, printing a progress line, then a summary.
 */
#include "src/cli.h"
#include "src/fleet.h"
#include "common/clock.h"
#include "common/log.h"
#include "sinks/sink.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct demo {
    rd_kafka_t *producer;
    const char *topic;
    long records;
    atomic_long produced;
    atomic_int failed;
    int64_t started_ms;
    kf_totals last;
    int tty;
    volatile int done;
} demo;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    demo *d = opaque;
    if (m->err) atomic_fetch_add(&d->failed, 1);
}

/* The embedded broker's host client logs its own connection churn at start
 * and stop; none of it is news to a demo user. */
static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

static void *produce_main(void *arg)
{
    demo *d = arg;
    char key[32], value[160];
    for (long i = 0; i < d->records; i++) {
        snprintf(key, sizeof key, "customer-%ld", i % 100);
        int n = i % 1000 == 999 ? snprintf(value, sizeof value, "POISON not json %ld", i)
                                : snprintf(value, sizeof value,
                                           "{\"id\":%ld,\"name\":\"order-%ld\",\"customer\":\"%s\","
                                           "\"amount\":%ld}",
                                           i, i, key, (i * 37) % 1000);
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                d->producer, RD_KAFKA_V_TOPIC(d->topic), RD_KAFKA_V_KEY(key, strlen(key)),
                RD_KAFKA_V_VALUE(value, (size_t)n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
            rd_kafka_poll(d->producer, 10);
        }
        atomic_fetch_add(&d->produced, 1);
        rd_kafka_poll(d->producer, 0);
    }
    rd_kafka_flush(d->producer, 30000);
    return NULL;
}

static void tick(kf_fleet *f, void *arg)
{
    demo *d = arg;
    kf_totals t;
    kf_fleet_totals(f, &t);
    double secs = (kf_now_ms() - d->started_ms) / 1000.0;
    fprintf(stdout, "%sproduced %ld  in %llu  done %llu  out %llu  failed %llu  %.0f rec/s%s",
            d->tty ? "\r" : "", atomic_load(&d->produced), (unsigned long long)t.in,
            (unsigned long long)t.done, (unsigned long long)t.outputs, (unsigned long long)t.failed,
            (double)(t.done - d->last.done), d->tty ? "   " : "\n");
    (void)secs;
    fflush(stdout);
    d->last = t;
    if ((long)t.done >= d->records) d->done = 1;
}

/* Creates every topic the config names on the mock cluster. */
static void create_topics(rd_kafka_mock_cluster_t *mc, const kf_config *cfg)
{
    for (size_t i = 0; i < cfg->mapping_count; i++) {
        const kf_mapping_config *m = &cfg->mappings[i];
        for (size_t t = 0; t < m->topic_count; t++)
            rd_kafka_mock_topic_create(mc, m->topics[t], 8, 1);
        for (size_t s = 0; s < m->sink_count; s++)
            if (kf_sink_type_caps(m->sinks[s].type) & KF_SINK_CAP_TRANSACTIONAL)
                rd_kafka_mock_topic_create(mc, m->sinks[s].topic, 8, 1);
        if (m->on_failure.topic) rd_kafka_mock_topic_create(mc, m->on_failure.topic, 1, 1);
    }
}

/* Reads the command line into *config and d. Returns 0, or KF_EXIT_USAGE
 * after saying what is wrong. */
static int parse_args(int argc, char **argv, const char **config, demo *d)
{
    for (int i = 0; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
            *config = argv[++i];
        else if (!strcmp(argv[i], "--records") && i + 1 < argc)
            d->records = atol(argv[++i]);
        else {
            fprintf(stderr, "kfleet demo: unknown or incomplete option \"%s\"\n", argv[i]);
            return KF_EXIT_USAGE;
        }
    }
    if (d->records < 1) {
        fprintf(stderr, "kfleet demo: --records must be at least 1\n");
        return KF_EXIT_USAGE;
    }
    return 0;
}

/* The embedded broker: a producer hosting librdkafka's mock cluster, whose
 * address goes to KFLEET_BROKERS for the config to read (KFLEET_REDIS gets a
 * local default). Returns the host, or NULL after saying why. */
static rd_kafka_t *start_embedded_kafka(demo *d, rd_kafka_mock_cluster_t **mc)
{
    char err[1024];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    rd_kafka_conf_set_opaque(conf, d);
    rd_kafka_t *host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!host) {
        fprintf(stderr, "kfleet demo: %s\n", err);
        return NULL;
    }
    *mc = rd_kafka_mock_cluster_new(host, 1);
    setenv("KFLEET_BROKERS", rd_kafka_mock_cluster_bootstraps(*mc), 1);
    if (!getenv("KFLEET_REDIS")) setenv("KFLEET_REDIS", "redis://127.0.0.1:6379/0", 0);
    return host;
}

static void print_summary(const kf_totals *t, double secs)
{
    printf("\nsummary: records in %llu, done %llu, outputs %llu, failed (dead-lettered) %llu, "
           "filtered %llu, retries %llu\n",
           (unsigned long long)t->in, (unsigned long long)t->done, (unsigned long long)t->outputs,
           (unsigned long long)t->failed, (unsigned long long)t->filtered,
           (unsigned long long)t->retries);
    printf("summary: %.2f s, %.0f records/s end to end\n", secs, secs > 0 ? t->done / secs : 0.0);
}

int kf_cmd_demo(int argc, char **argv)
{
    const char *config = "config/examples/demo.json";
    demo d = {.records = 200000, .tty = isatty(STDOUT_FILENO)};
    if (parse_args(argc, argv, &config, &d) != 0) return KF_EXIT_USAGE;
    kf_fleet_block_signals();

    /* The embedded broker first: the config reads its address from the env. */
    rd_kafka_mock_cluster_t *mc = NULL;
    rd_kafka_t *host = start_embedded_kafka(&d, &mc);
    if (!host) return KF_EXIT_RUNTIME;
    const char *brokers = rd_kafka_mock_cluster_bootstraps(mc);
    kf_config *cfg = kf_cli_load_config(config);
    if (!cfg) {
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(host);
        return KF_EXIT_USAGE;
    }
    create_topics(mc, cfg);
    rd_kafka_brokers_add(host, brokers);
    d.producer = host;
    d.topic = cfg->mappings[0].topics[0];
    printf("kfleet demo: embedded Kafka at %s, %ld records into %s\n", brokers, d.records, d.topic);
    fflush(stdout);

    int rc = KF_EXIT_OK;
    char err[1024];
    kf_fleet *f = kf_fleet_start(cfg, err, sizeof err);
    if (!f) {
        fprintf(stderr, "kfleet demo: cannot start: %s\n", err);
        rc = KF_EXIT_USAGE;
        goto out;
    }
    d.started_ms = kf_now_ms();
    pthread_t prod;
    pthread_create(&prod, NULL, produce_main, &d);
    kf_fleet_wait(f, &d.done, tick, &d);
    pthread_join(prod, NULL);
    kf_totals t;
    kf_fleet_totals(f, &t);
    double secs = (kf_now_ms() - d.started_ms) / 1000.0;
    kf_fleet_finish(f);
    if (d.tty) fputc('\n', stdout);
    print_summary(&t, secs);
    if ((long)t.done < d.records || atomic_load(&d.failed)) rc = KF_EXIT_RUNTIME;
out:
    kf_config_destroy(cfg);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(host);
    return rc;
}
