#include "src/metrics_http.h"

#include "common/metrics.h"
#include "src/metrics_text.h"
#include "src/status_json.h"
#include "src/status_page.h" /* generated from src/status_page.html */

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kf_metrics_http {
    struct MHD_Daemon *mhd;
    kf_fleet *fleet;
};

/* Renders /metrics or /status.json (both take the same views) from the
 * fleet's mappings. */
static char *render(kf_fleet *f, char *(*text_of)(const kf_metrics_view *, size_t, size_t *),
                    size_t *len)
{
    size_t n = kf_fleet_count(f);
    kf_metrics_view *views = calloc(n + 1, sizeof *views);
    if (!views) return NULL;
    for (size_t i = 0; i < n; i++) {
        kf_mapping *mp = kf_fleet_mapping(f, i);
        views[i] = (kf_metrics_view){
            .config = kf_mapping_config_of(mp),
            .metrics = kf_mapping_metrics(mp),
            .handler_init_seconds = kf_mapping_handler_init_us(mp) / 1e6,
        };
    }
    char *text = text_of(views, n, len);
    free(views);
    return text;
}

/* Queues a response; mode says who owns body (MHD frees a MUST_FREE one). */
static enum MHD_Result respond(struct MHD_Connection *conn, unsigned code, void *body, size_t len,
                               enum MHD_ResponseMemoryMode mode, const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE) free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    /* The page polls: neither it nor its data may come from a cache. */
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, char *body, size_t len,
                             const char *type)
{
    return respond(conn, code, body, len, MHD_RESPMEM_MUST_FREE, type);
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
        char *body = render(h->fleet, kf_metrics_text, &len);
        if (!body) return MHD_NO;
        return reply(conn, 200, body, len, "text/plain; version=0.0.4");
    }
    if (!strcmp(url, "/status"))
        return respond(conn, 200, (void *)status_page, STATUS_PAGE_LEN, MHD_RESPMEM_PERSISTENT,
                       "text/html; charset=utf-8");
    if (!strcmp(url, "/status.json")) {
        size_t len = 0;
        char *body = render(h->fleet, kf_status_json, &len);
        if (!body) return MHD_NO;
        return reply(conn, 200, body, len, "application/json");
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
