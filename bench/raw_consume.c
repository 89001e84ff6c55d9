/*
 * raw_consume — the benchmark's ceiling: a plain librdkafka consumer that
 * polls and discards, nothing else.
 *
 * It subscribes to --topic in a fresh consumer group (so it starts at the
 * beginning, like kfleet with "starting_position": "earliest"), with the same
 * queued.min.messages tuning kfleet sets by default (librdkafka 2.0.2 stalls
 * for a second whenever its prefetch queue reaches the default), no commits,
 * and counts records until --count are seen. Then it prints
 *
 *     raw_consume: done records=<n> bytes=<b> seconds=<s> records_per_s=<r>
 *
 * (seconds from main() to the last record), closes the consumer and exits 0.
 * bench/run.sh takes the time it sees that line as the moment every record
 * was processed, so the close (leaving the group) is not counted. Exit 1 when
 * --timeout passes first or the consumer fails; 2 on bad usage.
 *
 * Threads: one; everything runs on the polling thread.
 */
#include "tests/tools/lib/tool_util.h"

#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROPS 32

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: raw_consume --topic T --count N [options]\n"
                 "\n"
                 "Consumes T from the beginning in a fresh group, discarding records,\n"
                 "until N records were seen; prints the time it took.\n"
                 "\n"
                 "  -b, --brokers LIST   bootstrap servers (default $KFLEET_BROKERS)\n"
                 "  -t, --topic T        topic (required)\n"
                 "  -n, --count N        records to wait for (required)\n"
                 "  -g, --group G        consumer group (default raw-consume-<pid>)\n"
                 "  -X NAME=VALUE        extra librdkafka property (repeatable)\n"
                 "      --timeout S      give up after S seconds (default 600)\n"
                 "  -h, --help           this text\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'n'},
        {"group", required_argument, NULL, 'g'},
        {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    double t0 = tool_now_s();
    const char *brokers = getenv("KFLEET_BROKERS");
    const char *topic = NULL;
    long long count = -1;
    double timeout_s = 600;
    char group[128];
    snprintf(group, sizeof group, "raw-consume-%d", (int)getpid());
    const char *names[MAX_PROPS], *values[MAX_PROPS];
    int nprops = 0;
    int c;
    while ((c = getopt_long(argc, argv, "b:t:n:g:X:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            brokers = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 'n':
            count = strtoll(optarg, NULL, 10);
            break;
        case 'g':
            snprintf(group, sizeof group, "%s", optarg);
            break;
        case 'T':
            timeout_s = strtod(optarg, NULL);
            break;
        case 'X': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || nprops >= MAX_PROPS) {
                fprintf(stderr, "raw_consume: -X wants NAME=VALUE, got %s\n", optarg);
                return 2;
            }
            *eq = '\0';
            names[nprops] = optarg;
            values[nprops++] = eq + 1;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!brokers || !topic || count < 0 || timeout_s <= 0 || optind < argc) {
        usage(stderr);
        return 2;
    }

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The same prefetch tuning kfleet applies by default; no commits at all. */
    if (tool_conf_set(conf, "bootstrap.servers", brokers) ||
        tool_conf_set(conf, "group.id", group) ||
        tool_conf_set(conf, "auto.offset.reset", "earliest") ||
        tool_conf_set(conf, "enable.auto.commit", "false") ||
        tool_conf_set(conf, "enable.auto.offset.store", "false") ||
        /* librdkafka 2.0.2: a prefetch queue at queued.min.messages stalls fetching a second. */
        tool_conf_set(conf, "queued.min.messages", "1000000"))
        return 2;
    for (int i = 0; i < nprops; i++)
        if (tool_conf_set(conf, names[i], values[i])) return 2;

    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "raw_consume: %s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e) {
        fprintf(stderr, "raw_consume: subscribe %s: %s\n", topic, rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    long long seen = 0, bytes = 0;
    int rc = 0;
    double deadline = t0 + timeout_s;
    while (seen < count) {
        if (g_stop || tool_now_s() > deadline) {
            fprintf(stderr, "raw_consume: %s after %lld of %lld records\n",
                    g_stop ? "interrupted" : "timed out", seen, count);
            rc = 1;
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "raw_consume: %s\n", rd_kafka_message_errstr(m));
        } else {
            seen++;
            bytes += (long long)m->len;
        }
        rd_kafka_message_destroy(m);
    }
    if (rc == 0) {
        double secs = tool_now_s() - t0;
        printf("raw_consume: done records=%lld bytes=%lld seconds=%.3f records_per_s=%.0f\n", seen,
               bytes, secs, secs > 0 ? (double)seen / secs : 0.0);
        fflush(stdout);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
