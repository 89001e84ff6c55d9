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

/* Writes a label value into out as the text format wants it: backslash,
 * double quote and newline escaped. Names kfleet validates never need it;
 * topic names from a regex subscription are the broker's, and cost nothing
 * to escape. Stops short of `end`; returns where it stopped (a NUL there). */
static char *escape(char *out, char *end, const char *s)
{
    for (const char *c = s; *c && out + 2 < end; c++) {
        if (*c == '\\' || *c == '"' || *c == '\n') {
            *out++ = '\\';
            *out++ = *c == '\n' ? 'n' : *c;
        } else {
            *out++ = *c;
        }
    }
    *out = '\0';
    return out;
}

/* A series' labels, without braces: mapping="m", plus name="value" when
 * name is set. Formatted once per series, so that a histogram's lines are
 * one formatting call each. */
typedef struct labels {
    char s[1200]; /* names are at most 128 characters, topics 249: escaped, twice that */
} labels;

static const char *series_labels(labels *l, const char *mapping, const char *name,
                                 const char *value)
{
    char *end = l->s + sizeof l->s - 2; /* room for the closing quote */
    char *at = escape(l->s + snprintf(l->s, sizeof l->s, "mapping=\""), end, mapping);
    if (name) {
        int n = snprintf(at, (size_t)(end - at), "\",%s=\"", name);
        if (n > 0 && n < end - at) at = escape(at + n, end, value);
    }
    at[0] = '"';
    at[1] = '\0';
    return l->s;
}

/* A histogram family's `le` values, formatted once per family. */
typedef struct le_text {
    char v[KF_HIST_MAX_BOUNDS + 1][24];
} le_text;

static void format_le(le_text *t, const kf_hist_bounds *b)
{
    for (size_t i = 0; i < b->n; i++)
        snprintf(t->v[i], sizeof t->v[i], "%.9g", (double)b->le[i] * b->unit);
    snprintf(t->v[b->n], sizeof t->v[b->n], "+Inf");
}

/* One histogram: its cumulative buckets, sum and count. */
static void histogram(buf *b, const char *name, const char *lbl, const kf_histogram *h,
                      const kf_hist_bounds *bounds, const le_text *le)
{
    kf_hist_snapshot s;
    kf_hist_read(h, bounds, &s);
    for (size_t i = 0; i <= bounds->n; i++)
        put(b, "kfleet_%s_bucket{%s,le=\"%s\"} %llu\n", name, lbl, le->v[i],
            (unsigned long long)s.cumulative[i]);
    if (bounds->unit == 1)
        put(b, "kfleet_%s_sum{%s} %llu\n", name, lbl, (unsigned long long)s.sum);
    else
        put(b, "kfleet_%s_sum{%s} %.9f\n", name, lbl, (double)s.sum * bounds->unit);
    put(b, "kfleet_%s_count{%s} %llu\n", name, lbl, (unsigned long long)s.count);
}

/* One partition gauge: a line per partition whose value is known. */
static void partition_lines(buf *b, const kf_metric_family *fam, const char *mapping,
                            const kf_partition_row *rows, size_t n)
{
    labels l;
    for (size_t r = 0; r < n; r++) {
        int64_t v = *(const int64_t *)((const char *)&rows[r] + fam->offset);
        if (v < 0) continue;
        put(b, "kfleet_%s{%s,partition=\"%d\"} %lld\n", fam->name,
            series_labels(&l, mapping, "topic", rows[r].topic), (int)rows[r].partition,
            (long long)v);
    }
}

/* The samples of one family for one mapping (le: the family's bucket
 * bounds as text, for a histogram). */
static void samples(buf *b, const kf_metric_family *fam, const kf_metrics_view *v,
                    const kf_partition_row *rows, size_t nrows, const le_text *le)
{
    const kf_mapping_config *mc = v->config;
    const kf_metrics *m = v->metrics;
    size_t sinks = mc->sink_count < KF_METRICS_MAX_SINKS ? mc->sink_count : KF_METRICS_MAX_SINKS;
    labels l;
    switch (fam->kind) {
    case KF_METRIC_COUNTER:
    case KF_METRIC_GAUGE:
    case KF_METRIC_GAUGE64:
        put(b, "kfleet_%s{%s} %lld\n", fam->name, series_labels(&l, mc->name, NULL, NULL),
            (long long)kf_metric_value(m, fam, 0));
        break;
    case KF_METRIC_SINK_COUNTER:
    case KF_METRIC_SINK_GAUGE:
        for (size_t s = 0; s < sinks; s++)
            put(b, "kfleet_%s{%s} %lld\n", fam->name,
                series_labels(&l, mc->name, "sink", mc->sinks[s].name),
                (long long)kf_metric_value(m, fam, s));
        break;
    case KF_METRIC_HISTOGRAM:
        histogram(b, fam->name, series_labels(&l, mc->name, NULL, NULL),
                  kf_metric_histogram(m, fam, 0), fam->bounds, le);
        break;
    case KF_METRIC_SINK_HISTOGRAM:
        for (size_t s = 0; s < sinks; s++)
            histogram(b, fam->name, series_labels(&l, mc->name, "sink", mc->sinks[s].name),
                      kf_metric_histogram(m, fam, s), fam->bounds, le);
        break;
    case KF_METRIC_LABELED_HISTOGRAM:
        for (size_t i = 0; i < fam->nvalues; i++)
            histogram(b, fam->name, series_labels(&l, mc->name, fam->label, fam->values[i]),
                      kf_metric_histogram(m, fam, i), fam->bounds, le);
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
        le_text le;
        if (fam->bounds) format_le(&le, fam->bounds);
        for (size_t i = 0; i < n; i++)
            samples(&b, fam, &views[i], rows[i], nrows[i], &le);
    }
    put(&b, "# HELP kfleet_" INIT_NAME " " INIT_HELP "\n# TYPE kfleet_" INIT_NAME " gauge\n");
    for (size_t i = 0; i < n; i++) {
        labels l;
        put(&b, "kfleet_" INIT_NAME "{%s} %.6f\n",
            series_labels(&l, views[i].config->name, NULL, NULL), views[i].handler_init_seconds);
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
