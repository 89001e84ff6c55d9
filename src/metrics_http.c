#include "src/metrics_http.h"

#include "sinks/sink.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kf_metrics_http {
    struct MHD_Daemon *mhd;
    kf_fleet *fleet;
};

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n) * 2;
        char *p = realloc(b->p, cap);
        if (!p) return;
        b->p = p;
        b->cap = cap;
    }
}

/* One counter family: a HELP/TYPE header and a line per mapping. `off` is the
 * counter's offset in kf_metrics. */
static void counter(buf *b, kf_fleet *f, const char *name, const char *help, size_t off)
{
    put(b, "# HELP kfleet_%s %s\n# TYPE kfleet_%s counter\n", name, help, name);
    for (size_t i = 0; i < kf_fleet_count(f); i++) {
        kf_mapping *mp = kf_fleet_mapping(f, i);
        atomic_uint_fast64_t *c = (atomic_uint_fast64_t *)((char *)kf_mapping_metrics(mp) + off);
        put(b, "kfleet_%s{mapping=\"%s\"} %llu\n", name, kf_mapping_config_of(mp)->name,
            (unsigned long long)atomic_load_explicit(c, memory_order_relaxed));
    }
}

#define COUNTER(name, help, field) counter(&b, f, name, help, offsetof(kf_metrics, field))

/* One gauge family of an atomic_int field of kf_metrics. */
static void gauge(buf *b, kf_fleet *f, const char *name, const char *help, size_t off)
{
    put(b, "# HELP kfleet_%s %s\n# TYPE kfleet_%s gauge\n", name, help, name);
    for (size_t i = 0; i < kf_fleet_count(f); i++) {
        kf_mapping *mp = kf_fleet_mapping(f, i);
        atomic_int *g = (atomic_int *)((char *)kf_mapping_metrics(mp) + off);
        put(b, "kfleet_%s{mapping=\"%s\"} %d\n", name, kf_mapping_config_of(mp)->name,
            atomic_load_explicit(g, memory_order_relaxed));
    }
}

#define GAUGE(name, help, field) gauge(&b, f, name, help, offsetof(kf_metrics, field))

static char *render(kf_fleet *f, size_t *len)
{
    buf b = {.p = malloc(4096), .cap = 4096};
    if (!b.p) return NULL;
    b.p[0] = '\0';
    size_t n = kf_fleet_count(f);
    COUNTER("records_in_total", "Records read from Kafka and dispatched.", records_in);
    COUNTER("records_done_total", "Records whose effects are complete.", records_done);
    COUNTER("records_filtered_total", "Records filtered out before the handler.", records_filtered);
    COUNTER("records_replayed_total",
            "Exactly-once replays that every sink already had (no handler call).",
            records_replayed);
    COUNTER("records_duplicate_total",
            "Records skipped as business-key duplicates (idempotency.key).", records_duplicate);
    COUNTER("records_failed_total", "Records sent to the on-failure topic.", records_failed);
    COUNTER("retries_total", "Record attempts retried.", retries);
    COUNTER("handler_calls_total", "Handler invocations.", handler_calls);
    COUNTER("commits_total", "Offset commits accepted by the broker.", commits);
    COUNTER("commit_errors_total", "Offset commits refused.", commit_errors);
    COUNTER("rebalances_total", "Rebalance events.", rebalances);
    COUNTER("rewinds_total",
            "Exactly-once transactions whose commit did not finish: producer replaced, "
            "partitions rewound to their committed offsets.",
            rewinds);
    COUNTER("retakes_total", "Exactly-once partitions taken anew after a fence or a rewind.",
            retakes);
    COUNTER("stalls_total",
            "Times the stall watchdog found an assigned partition with lag and no progress.",
            stalls);
    put(&b, "# HELP kfleet_sink_outputs_total Outputs acknowledged by a sink.\n"
            "# TYPE kfleet_sink_outputs_total counter\n");
    for (size_t i = 0; i < n; i++) {
        const kf_mapping_config *mc = kf_mapping_config_of(kf_fleet_mapping(f, i));
        kf_metrics *m = kf_mapping_metrics(kf_fleet_mapping(f, i));
        for (size_t s = 0; s < mc->sink_count && s < KF_METRICS_MAX_SINKS; s++)
            put(&b, "kfleet_sink_outputs_total{mapping=\"%s\",sink=\"%s\"} %llu\n", mc->name,
                mc->sinks[s].name, (unsigned long long)KF_METRIC_GET(m, outputs[s]));
    }
    put(&b, "# HELP kfleet_sink_errors_total Sink writes that failed.\n"
            "# TYPE kfleet_sink_errors_total counter\n");
    for (size_t i = 0; i < n; i++) {
        const kf_mapping_config *mc = kf_mapping_config_of(kf_fleet_mapping(f, i));
        kf_metrics *m = kf_mapping_metrics(kf_fleet_mapping(f, i));
        for (size_t s = 0; s < mc->sink_count && s < KF_METRICS_MAX_SINKS; s++)
            put(&b, "kfleet_sink_errors_total{mapping=\"%s\",sink=\"%s\"} %llu\n", mc->name,
                mc->sinks[s].name, (unsigned long long)KF_METRIC_GET(m, sink_errors[s]));
    }
    put(&b, "# HELP kfleet_inflight_records Records dispatched and not yet done.\n"
            "# TYPE kfleet_inflight_records gauge\n");
    for (size_t i = 0; i < n; i++)
        put(&b, "kfleet_inflight_records{mapping=\"%s\"} %lld\n",
            kf_mapping_config_of(kf_fleet_mapping(f, i))->name,
            (long long)KF_METRIC_GET(kf_mapping_metrics(kf_fleet_mapping(f, i)), inflight));
    put(&b, "# HELP kfleet_assigned_partitions Partitions assigned.\n"
            "# TYPE kfleet_assigned_partitions gauge\n");
    for (size_t i = 0; i < n; i++)
        put(&b, "kfleet_assigned_partitions{mapping=\"%s\"} %d\n",
            kf_mapping_config_of(kf_fleet_mapping(f, i))->name,
            atomic_load(&kf_mapping_metrics(kf_fleet_mapping(f, i))->assigned));
    GAUGE("paused_partitions", "Partitions paused by backpressure.", paused);
    GAUGE("stalled_partitions",
          "Assigned partitions with lag and nothing in flight or done for longer than the "
          "watchdog bound.",
          stalled);
    GAUGE("dead_partitions", "Exactly-once partitions fenced or rewinding, to be taken anew.",
          dead);
    put(&b, "# HELP kfleet_handler_init_seconds Handler init time (the cold start).\n"
            "# TYPE kfleet_handler_init_seconds gauge\n");
    for (size_t i = 0; i < n; i++)
        put(&b, "kfleet_handler_init_seconds{mapping=\"%s\"} %.6f\n",
            kf_mapping_config_of(kf_fleet_mapping(f, i))->name,
            kf_mapping_handler_init_us(kf_fleet_mapping(f, i)) / 1e6);
    *len = b.len;
    return b.p;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, char *body, size_t len,
                             const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_size;
    (void)con_cls;
    kf_metrics_http *h = cls;
    if (strcmp(method, "GET") != 0) return reply(conn, 405, strdup("GET only\n"), 9, "text/plain");
    if (!strcmp(url, "/metrics")) {
        size_t len = 0;
        char *body = render(h->fleet, &len);
        if (!body) return MHD_NO;
        return reply(conn, 200, body, len, "text/plain; version=0.0.4");
    }
    if (!strcmp(url, "/healthz")) return reply(conn, 200, strdup("ok\n"), 3, "text/plain");
    if (!strcmp(url, "/readyz")) {
        int ready = 1;
        for (size_t i = 0; i < kf_fleet_count(h->fleet); i++)
            if (atomic_load(&kf_mapping_metrics(kf_fleet_mapping(h->fleet, i))->assigned) <= 0)
                ready = 0;
        return ready ? reply(conn, 200, strdup("ready\n"), 6, "text/plain")
                     : reply(conn, 503, strdup("no partitions assigned\n"), 23, "text/plain");
    }
    return reply(conn, 404, strdup("not found\n"), 10, "text/plain");
}

kf_metrics_http *kf_metrics_http_start(const char *listen, kf_fleet *f, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof host) {
        snprintf(err, errlen, "metrics.listen: expected host:port, got \"%s\"", listen);
        return NULL;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    int port = atoi(colon + 1);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || port < 0 || port > 65535) {
        snprintf(err, errlen, "metrics.listen: expected an IPv4 address and port, got \"%s\"",
                 listen);
        return NULL;
    }
    kf_metrics_http *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->fleet = f;
    h->mhd =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL, on_request, h,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
    if (!h->mhd) {
        snprintf(err, errlen, "metrics.listen: cannot listen on %s (port in use?)", listen);
        free(h);
        return NULL;
    }
    return h;
}

void kf_metrics_http_stop(kf_metrics_http *h)
{
    if (!h) return;
    MHD_stop_daemon(h->mhd);
    free(h);
}
