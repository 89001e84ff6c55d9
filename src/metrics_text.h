/*
 * The Prometheus text exposition (format 0.0.4) of a fleet's metrics: every
 * family of the registry (common/metrics.h), in its order, each with HELP
 * and TYPE lines and one sample per mapping (and sink, label value or
 * partition); histograms as cumulative _bucket{le=...} lines ending in
 * le="+Inf", then _sum and _count. Then kfleet_handler_init_seconds.
 *
 * Separate from the HTTP server so that a unit test can render metrics it
 * made up, without a fleet. kf_metrics_reference documents the same
 * families (`kfleet metrics reference`, the README's Metrics table).
 */
#ifndef KF_METRICS_TEXT_H
#define KF_METRICS_TEXT_H

#include "common/metrics.h"
#include "config/config.h"

#include <stddef.h>
#include <stdio.h>

/* One mapping as /metrics shows it; everything is borrowed for the call. */
typedef struct kf_metrics_view {
    const kf_mapping_config *config; /* its name and its sinks' names label the samples */
    const kf_metrics *metrics;
    double handler_init_seconds;
} kf_metrics_view;

/* The exposition of views[0..n): a NUL-terminated text the caller frees,
 * *len its length; NULL when out of memory. Any thread: it reads the
 * metrics with relaxed loads and copies the partition tables. */
char *kf_metrics_text(const kf_metrics_view *views, size_t n, size_t *len);

/* A Markdown table of every family /metrics shows: name, type, labels and
 * meaning, in export order. Returns 0, or -1 on a write error. */
int kf_metrics_reference(FILE *out);

#endif
