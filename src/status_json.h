/*
 * /status.json: what the /status page shows, as one JSON document the page
 * fetches every 2 s. It is made from the same registry as /metrics
 * (common/metrics.h), so a family added there shows up here too:
 *
 *   { "version": "0.1.0", "now_ms": <wall clock>,
 *     "mappings": [ {
 *       "name", "topics": [...], "group_id", "exactly_once": bool,
 *       "on_failure": { "mode": "dead_letter" | "park", "topic": "..." | null },
 *       "handler_init_seconds",
 *       "metrics":    { "<family>": value, ... }   every counter and gauge of
 *                                                 the mapping, by family name
 *                                                 without "kfleet_"
 *       "sinks":      [ { "name", "type", "<family>": value, ... } ]
 *                                                 every per-sink counter and gauge
 *       "partitions": [ { "topic", "partition", "end", "committed", "lag" } ]
 *                                                 assigned partitions; null
 *                                                 where not known yet
 *       "failures":   { "total": n, "latest": [ { "seq", "time_ms", "kind",
 *                       "topic", "partition", "offset", "sink", "reason" } ] }
 *                                                 newest first (common/failure_log.h);
 *                                                 null where it does not apply
 *     } ] }
 *
 * Counters are totals: the page turns two samples into rates, dividing by
 * the difference of now_ms. Separate from the HTTP server so that a unit
 * test can render metrics it made up.
 */
#ifndef KF_STATUS_JSON_H
#define KF_STATUS_JSON_H

#include "src/metrics_text.h"

#include <stddef.h>

/* The document for views[0..n): a NUL-terminated text the caller frees,
 * *len its length; NULL when out of memory. Any thread. */
char *kf_status_json(const kf_metrics_view *views, size_t n, size_t *len);

#endif
