#include "src/metrics_text.h"

#include "common/partition_gauges.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The one family whose value is not in kf_metrics: the handler's. */
#define INIT_NAME "handler_init_seconds"
#define INIT_HELP "Handler init time (the cold start)."

typedef struct buf {
    char *p;
    size_t len, cap;
    bool oom;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...)
{
    while (!b->oom) {
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
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* A label value as the text format wants it: backslash, double quote and
 * newline escaped. Names kfleet validates never need it; topic names from
 * a regex subscription are the broker's, and cost nothing to escape. */
static void put_value(buf *b, const char *s)
{
    for (const char *c = s; *c; c++) {
        if (*c == '\\' || *c == '"')
            put(b, "\\%c", *c);
        else if (*c == '\n')
            put(b, "\\n");
        else
            put(b, "%c", *c);
    }
}

/* `{mapping="m"` plus `,<name>="<value>"` when name is set; the caller
 * closes the brace or adds more labels. */
static void open_labels(buf *b, const char *mapping, const char *name, const char *value)
{
    put(b, "{mapping=\"");
    put_value(b, mapping);
    put(b, "\"");
    if (name) {
        put(b, ",%s=\"", name);
        put_value(b, value);
        put(b, "\"");
    }
}

/* One histogram: its cumulative buckets, sum and count. */
static void histogram(buf *b, const char *name, const char *mapping, const char *label,
                      const char *value, const kf_histogram *h, const kf_hist_bounds *bounds)
{
    kf_hist_snapshot s;
    kf_hist_read(h, bounds, &s);
    for (size_t i = 0; i <= bounds->n; i++) {
        put(b, "kfleet_%s_bucket", name);
        open_labels(b, mapping, label, value);
        if (i < bounds->n)
            put(b, ",le=\"%.9g\"} %llu\n", (double)bounds->le[i] * bounds->unit,
                (unsigned long long)s.cumulative[i]);
        else
            put(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)s.cumulative[i]);
    }
    put(b, "kfleet_%s_sum", name);
    open_labels(b, mapping, label, value);
    if (bounds->unit == 1)
        put(b, "} %llu\n", (unsigned long long)s.sum);
    else
        put(b, "} %.9f\n", (double)s.sum * bounds->unit);
    put(b, "kfleet_%s_count", name);
    open_labels(b, mapping, label, value);
    put(b, "} %llu\n", (unsigned long long)s.count);
}

/* One partition gauge: a line per partition whose value is known. */
static void partition_lines(buf *b, const kf_metric_family *fam, const char *mapping,
                            const kf_partition_row *rows, size_t n)
{
    for (size_t r = 0; r < n; r++) {
        int64_t v = *(const int64_t *)((const char *)&rows[r] + fam->offset);
        if (v < 0) continue;
        put(b, "kfleet_%s", fam->name);
        open_labels(b, mapping, "topic", rows[r].topic);
        put(b, ",partition=\"%d\"} %lld\n", (int)rows[r].partition, (long long)v);
    }
}

/* The samples of one family for one mapping. */
static void samples(buf *b, const kf_metric_family *fam, const kf_metrics_view *v,
                    const kf_partition_row *rows, size_t nrows)
{
    const kf_mapping_config *mc = v->config;
    const kf_metrics *m = v->metrics;
    size_t sinks = mc->sink_count < KF_METRICS_MAX_SINKS ? mc->sink_count : KF_METRICS_MAX_SINKS;
    switch (fam->kind) {
    case KF_METRIC_COUNTER:
    case KF_METRIC_GAUGE:
    case KF_METRIC_GAUGE64:
        put(b, "kfleet_%s", fam->name);
        open_labels(b, mc->name, NULL, NULL);
        put(b, "} %lld\n", (long long)kf_metric_value(m, fam, 0));
        break;
    case KF_METRIC_SINK_COUNTER:
    case KF_METRIC_SINK_GAUGE:
        for (size_t s = 0; s < sinks; s++) {
            put(b, "kfleet_%s", fam->name);
            open_labels(b, mc->name, "sink", mc->sinks[s].name);
            put(b, "} %lld\n", (long long)kf_metric_value(m, fam, s));
        }
        break;
    case KF_METRIC_HISTOGRAM:
        histogram(b, fam->name, mc->name, NULL, NULL, kf_metric_histogram(m, fam, 0), fam->bounds);
        break;
    case KF_METRIC_SINK_HISTOGRAM:
        for (size_t s = 0; s < sinks; s++)
            histogram(b, fam->name, mc->name, "sink", mc->sinks[s].name,
                      kf_metric_histogram(m, fam, s), fam->bounds);
        break;
    case KF_METRIC_LABELED_HISTOGRAM:
        for (size_t i = 0; i < fam->nvalues; i++)
            histogram(b, fam->name, mc->name, fam->label, fam->values[i],
                      kf_metric_histogram(m, fam, i), fam->bounds);
        break;
    case KF_METRIC_PARTITION_GAUGE:
        partition_lines(b, fam, mc->name, rows, nrows);
        break;
    }
}

char *kf_metrics_text(const kf_metrics_view *views, size_t n, size_t *len)
{
    buf b = {.p = malloc(16384), .cap = 16384};
    kf_partition_row **rows = calloc(n + 1, sizeof *rows);
    size_t *nrows = calloc(n + 1, sizeof *nrows);
    if (!b.p || !rows || !nrows) b.oom = true;
    /* One copy of each mapping's partition table, so that its three
     * families show the same rows. */
    for (size_t i = 0; !b.oom && i < n; i++)
        if (views[i].metrics->partitions &&
            kf_partition_gauges_copy(views[i].metrics->partitions, &rows[i], &nrows[i]) != 0)
            b.oom = true;
    if (!b.oom) b.p[0] = '\0';
    for (size_t k = 0; !b.oom && k < kf_metric_family_count; k++) {
        const kf_metric_family *fam = &kf_metric_families[k];
        put(&b, "# HELP kfleet_%s %s\n# TYPE kfleet_%s %s\n", fam->name, fam->help, fam->name,
            kf_metric_type(fam));
        for (size_t i = 0; i < n; i++)
            samples(&b, fam, &views[i], rows[i], nrows[i]);
    }
    put(&b, "# HELP kfleet_" INIT_NAME " " INIT_HELP "\n# TYPE kfleet_" INIT_NAME " gauge\n");
    for (size_t i = 0; i < n; i++) {
        put(&b, "kfleet_" INIT_NAME);
        open_labels(&b, views[i].config->name, NULL, NULL);
        put(&b, "} %.6f\n", views[i].handler_init_seconds);
    }
    for (size_t i = 0; rows && i < n; i++)
        free(rows[i]);
    free(rows);
    free(nrows);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

/* The labels of a family's samples, as the reference names them. */
static void reference_labels(FILE *out, const kf_metric_family *f)
{
    fputs("`mapping`", out);
    switch (f->kind) {
    case KF_METRIC_SINK_COUNTER:
    case KF_METRIC_SINK_GAUGE:
    case KF_METRIC_SINK_HISTOGRAM:
        fputs(", `sink`", out);
        break;
    case KF_METRIC_LABELED_HISTOGRAM:
        fprintf(out, ", `%s` (", f->label);
        for (size_t i = 0; i < f->nvalues; i++)
            fprintf(out, "%s`%s`", i ? ", " : "", f->values[i]);
        fputs(")", out);
        break;
    case KF_METRIC_PARTITION_GAUGE:
        fputs(", `topic`, `partition`", out);
        break;
    case KF_METRIC_COUNTER:
    case KF_METRIC_GAUGE:
    case KF_METRIC_GAUGE64:
    case KF_METRIC_HISTOGRAM:
        break;
    }
    if (f->bounds) fputs(", `le`", out);
}

int kf_metrics_reference(FILE *out)
{
    fputs("| family | type | labels | meaning |\n|---|---|---|---|\n", out);
    for (size_t k = 0; k < kf_metric_family_count; k++) {
        const kf_metric_family *f = &kf_metric_families[k];
        fprintf(out, "| `kfleet_%s` | %s | ", f->name, kf_metric_type(f));
        reference_labels(out, f);
        fprintf(out, " | %s |\n", f->help);
    }
    fputs("| `kfleet_" INIT_NAME "` | gauge | `mapping` | " INIT_HELP " |\n", out);
    return ferror(out) ? -1 : 0;
}
