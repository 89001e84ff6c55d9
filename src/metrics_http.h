/*
 * The metrics and health endpoint (libmicrohttpd, its own thread):
 *   GET /metrics  Prometheus text: per-mapping counters, gauges and histograms
 *                 (src/metrics_text.h)
 *   GET /healthz  200 "ok" while the daemon runs (liveness)
 *   GET /readyz   200 when every mapping has partitions assigned, else 503
 *   GET /status   the status page (src/status_page.html): one self-contained
 *                 HTML document that polls /status.json every 2 s
 *   GET /status.json  per-mapping counters, lag per partition, the
 *                 exactly-once window and the latest failures (src/status_json.h)
 */
#ifndef KF_METRICS_HTTP_H
#define KF_METRICS_HTTP_H

#include "src/fleet.h"

#include <stddef.h>

typedef struct kf_metrics_http kf_metrics_http;

/* listen is "host:port". The fleet must outlive the server. */
kf_metrics_http *kf_metrics_http_start(const char *listen, kf_fleet *f, char *err, size_t errlen);
void kf_metrics_http_stop(kf_metrics_http *h);

#endif
