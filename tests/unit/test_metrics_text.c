/*
 * The /metrics text (src/metrics_text.h) for metrics made up here, without a
 * fleet: every family an operator or a dashboard relies on is still in the
 * registry (a family that disappears fails here first); each family has HELP
 * and TYPE lines before its samples, counters end in _total, histograms are
 * cumulative buckets ending in le="+Inf" equal to _count, with _sum in
 * seconds; partition gauges show one line per partition whose value is
 * known; label values are escaped.
 */
#include "common/metrics.h"
#include "common/partition_gauges.h"
#include "src/metrics_text.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every family kfleet exports (without "kfleet_"), old and new: dashboards
 * and alerts outside the repository use these names. */
static const char *const FAMILIES[] = {
    "records_in_total",
    "records_done_total",
    "records_filtered_total",
    "records_replayed_total",
    "records_duplicate_total",
    "records_failed_total",
    "records_crashed_total",
    "retries_total",
    "handler_calls_total",
    "batch_bisections_total",
    "commits_total",
    "commit_errors_total",
    "rebalances_total",
    "rewinds_total",
    "retakes_total",
    "stalls_total",
    "workers_added_total",
    "workers_retired_total",
    "prefetch_nudges_total",
    "sink_outputs_total",
    "sink_errors_total",
    "sink_breaker_opens_total",
    "sink_breaker_probes_total",
    "sink_breaker_state",
    "inflight_records",
    "assigned_partitions",
    "paused_partitions",
    "stalled_partitions",
    "dead_partitions",
    "worker_threads",
    "fences_total",
    "fenced_partitions",
    "uncommitted_records",
    "eos_marks_held",
    "handler_duration_seconds",
    "handler_batch_records",
    "batch_records",
    "produce_to_done_seconds",
    "commit_duration_seconds",
    "redis_call_duration_seconds",
    "kafka_call_duration_seconds",
    "sink_flush_duration_seconds",
    "partition_lag_records",
    "partition_end_offset",
    "partition_committed_offset",
};

static const kf_metric_family *family(const char *name)
{
    for (size_t k = 0; k < kf_metric_family_count; k++)
        if (strcmp(kf_metric_families[k].name, name) == 0) return &kf_metric_families[k];
    return NULL;
}

/* A mapping "orders" with sinks "out" and "cache", its metrics and text. */
static kf_sink_config sinks[2] = {{.name = "out"}, {.name = "cache"}};
static kf_mapping_config mc = {.name = "orders", .sinks = sinks, .sink_count = 2};
static kf_metrics *m;
static char *text;

static void setup(void)
{
    m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    text = NULL;
}

static void teardown(void)
{
    kf_partition_gauges_destroy(m->partitions);
    free(m);
    free(text);
}

static void render(void)
{
    kf_metrics_view v = {.config = &mc, .metrics = m, .handler_init_seconds = 0.25};
    size_t len = 0;
    free(text);
    text = kf_metrics_text(&v, 1, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(strlen(text), len);
}

/* The value of the sample line that starts with `prefix` (name and
 * labels), or -1 when there is none. */
static double sample(const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, prefix, n) == 0 && l[n] == ' ') return atof(l + n + 1);
    return -1;
}

START_TEST(test_families_are_kept)
{
    for (size_t i = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++)
        ck_assert_msg(family(FAMILIES[i]) != NULL, "family kfleet_%s is gone", FAMILIES[i]);
}
END_TEST

/* Prometheus naming: counters end in _total, histograms name their unit,
 * names are [a-z_]; every family has a HELP and a TYPE line. */
START_TEST(test_naming_and_headers)
{
    render();
    for (size_t k = 0; k < kf_metric_family_count; k++) {
        const kf_metric_family *f = &kf_metric_families[k];
        size_t n = strlen(f->name);
        ck_assert_uint_eq(strspn(f->name, "abcdefghijklmnopqrstuvwxyz_"), n);
        const char *type = kf_metric_type(f);
        int total = n > 6 && strcmp(f->name + n - 6, "_total") == 0;
        ck_assert_msg(total == !strcmp(type, "counter"), "%s: _total iff a counter", f->name);
        if (!strcmp(type, "histogram"))
            ck_assert_msg(strstr(f->name, "_seconds") || strstr(f->name, "_records"),
                          "%s: a histogram names its unit", f->name);
        char want[256];
        snprintf(want, sizeof want, "# HELP kfleet_%s %s\n# TYPE kfleet_%s %s\n", f->name, f->help,
                 f->name, type);
        ck_assert_msg(strstr(text, want), "no HELP/TYPE for %s", f->name);
    }
    ck_assert(strstr(text, "kfleet_handler_init_seconds{mapping=\"orders\"} 0.250000\n"));
}
END_TEST

/* Every sample line belongs to the family whose TYPE line came last, with
 * the histogram suffixes only on histograms. */
START_TEST(test_samples_follow_their_family)
{
    KF_METRIC_TIME(m, handler_duration, 1500);
    render();
    char fam[128] = "", type[32] = "";
    char *copy = strdup(text), *save = NULL;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (sscanf(l, "# TYPE %127s %31s", fam, type) == 2) continue;
        if (l[0] == '#') continue;
        size_t n = strcspn(l, "{ ");
        char name[160];
        snprintf(name, sizeof name, "%.*s", (int)n, l);
        int hist = !strcmp(type, "histogram");
        int good = !hist && !strcmp(name, fam);
        const char *suffix = name + strlen(fam);
        if (hist && !strncmp(name, fam, strlen(fam)))
            good =
                !strcmp(suffix, "_bucket") || !strcmp(suffix, "_sum") || !strcmp(suffix, "_count");
        ck_assert_msg(good, "sample %s under TYPE %s %s", name, fam, type);
        ck_assert_msg(strstr(l, "{mapping=\"orders\""), "no mapping label: %s", l);
    }
    free(copy);
}
END_TEST

START_TEST(test_histogram_buckets)
{
    /* 0.5 ms, 3 ms, 3 ms, 2 minutes. */
    int64_t ns[] = {500000, 3000000, 3000000, 120000000000LL};
    for (size_t i = 0; i < 4; i++)
        KF_METRIC_TIME(m, commit_duration, ns[i]);
    render();
    const char *name = "kfleet_commit_duration_seconds";
    char p[256];
    double prev = 0;
    for (size_t i = 0; i < kf_hist_seconds.n; i++) {
        snprintf(p, sizeof p, "%s_bucket{mapping=\"orders\",le=\"%.9g\"}", name,
                 (double)kf_hist_seconds.le[i] * 1e-9);
        double v = sample(p);
        ck_assert_msg(v >= prev, "%s: %g after %g: not cumulative", p, v, prev);
        prev = v;
    }
    ck_assert(sample("kfleet_commit_duration_seconds_bucket{mapping=\"orders\",le=\"0.0005\"}") ==
              1);
    ck_assert(sample("kfleet_commit_duration_seconds_bucket{mapping=\"orders\",le=\"0.0025\"}") ==
              1);
    ck_assert(sample("kfleet_commit_duration_seconds_bucket{mapping=\"orders\",le=\"0.005\"}") ==
              3);
    ck_assert(sample("kfleet_commit_duration_seconds_bucket{mapping=\"orders\",le=\"60\"}") == 3);
    ck_assert(sample("kfleet_commit_duration_seconds_bucket{mapping=\"orders\",le=\"+Inf\"}") == 4);
    ck_assert(sample("kfleet_commit_duration_seconds_count{mapping=\"orders\"}") == 4);
    double sum = sample("kfleet_commit_duration_seconds_sum{mapping=\"orders\"}");
    ck_assert_double_eq_tol(sum, 120.0065, 1e-9);
    /* Sizes are whole records. */
    KF_METRIC_SIZE(m, batch_records, 500);
    render();
    ck_assert(sample("kfleet_batch_records_bucket{mapping=\"orders\",le=\"250\"}") == 0);
    ck_assert(sample("kfleet_batch_records_bucket{mapping=\"orders\",le=\"500\"}") == 1);
    ck_assert(strstr(text, "kfleet_batch_records_sum{mapping=\"orders\"} 500\n"));
}
END_TEST

START_TEST(test_labeled_and_sink_histograms)
{
    KF_METRIC_TIME(m, redis_calls[KF_REDIS_CALL_COMPLETE], 200000);
    KF_METRIC_TIME(m, kafka_calls[KF_KAFKA_CALL_COMMIT], 5000000);
    KF_METRIC_TIME(m, sink_flush[1], 100000);
    render();
    ck_assert(sample("kfleet_redis_call_duration_seconds_count{mapping=\"orders\",call="
                     "\"complete\"}") == 1);
    ck_assert(sample("kfleet_redis_call_duration_seconds_count{mapping=\"orders\",call="
                     "\"assign\"}") == 0);
    ck_assert(sample("kfleet_kafka_call_duration_seconds_count{mapping=\"orders\",call="
                     "\"commit_transaction\"}") == 1);
    ck_assert(sample("kfleet_kafka_call_duration_seconds_bucket{mapping=\"orders\",call="
                     "\"send_offsets_to_transaction\",le=\"+Inf\"}") == 0);
    ck_assert(sample("kfleet_sink_flush_duration_seconds_count{mapping=\"orders\",sink="
                     "\"cache\"}") == 1);
    ck_assert(sample("kfleet_sink_flush_duration_seconds_count{mapping=\"orders\",sink="
                     "\"out\"}") == 0);
}
END_TEST

START_TEST(test_partition_gauges)
{
    render();
    ck_assert_ptr_null(strstr(text, "kfleet_partition_lag_records{")); /* no table: no lines */
    m->partitions = kf_partition_gauges_new();
    kf_partition_row rows[3] = {
        {.topic = "in", .partition = 0, .end = 150, .committed = 100, .lag = 50},
        {.topic = "in", .partition = 1, .end = -1, .committed = 7, .lag = -1},
        {.topic = "we\"ird\\", .partition = 2, .end = 3, .committed = 3, .lag = 0},
    };
    ck_assert_int_eq(kf_partition_gauges_publish(m->partitions, rows, 3), 0);
    render();
    ck_assert(
        sample("kfleet_partition_lag_records{mapping=\"orders\",topic=\"in\",partition=\"0\"}") ==
        50);
    ck_assert(
        sample("kfleet_partition_end_offset{mapping=\"orders\",topic=\"in\",partition=\"0\"}") ==
        150);
    ck_assert(sample("kfleet_partition_committed_offset{mapping=\"orders\",topic=\"in\","
                     "partition=\"1\"}") == 7);
    /* Unknown values are left out, not shown as -1. */
    ck_assert(
        sample("kfleet_partition_lag_records{mapping=\"orders\",topic=\"in\",partition=\"1\"}") ==
        -1);
    ck_assert_ptr_null(strstr(text, "} -1\n"));
    ck_assert(sample("kfleet_partition_lag_records{mapping=\"orders\",topic=\"we\\\"ird\\\\\","
                     "partition=\"2\"}") == 0);
    /* A revoke publishes fewer rows: the others leave. */
    ck_assert_int_eq(kf_partition_gauges_publish(m->partitions, rows, 1), 0);
    render();
    ck_assert_ptr_null(strstr(text, "partition=\"2\""));
}
END_TEST

START_TEST(test_counters_and_gauges_keep_their_lines)
{
    KF_METRIC_ADD(m, records_failed, 3);
    KF_METRIC_ADD(m, retries, 9);
    KF_METRIC_ADD(m, outputs[1], 4);
    atomic_store(&m->uncommitted, 120);
    atomic_store(&m->stalled, 2);
    render();
    ck_assert(sample("kfleet_records_failed_total{mapping=\"orders\"}") == 3);
    ck_assert(sample("kfleet_retries_total{mapping=\"orders\"}") == 9);
    ck_assert(sample("kfleet_sink_outputs_total{mapping=\"orders\",sink=\"cache\"}") == 4);
    ck_assert(sample("kfleet_sink_outputs_total{mapping=\"orders\",sink=\"out\"}") == 0);
    ck_assert(sample("kfleet_uncommitted_records{mapping=\"orders\"}") == 120);
    ck_assert(sample("kfleet_stalled_partitions{mapping=\"orders\"}") == 2);
}
END_TEST

static Suite *metrics_text_suite(void)
{
    Suite *s = suite_create("metrics_text");
    TCase *tc = tcase_create("text");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_families_are_kept);
    tcase_add_test(tc, test_naming_and_headers);
    tcase_add_test(tc, test_samples_follow_their_family);
    tcase_add_test(tc, test_histogram_buckets);
    tcase_add_test(tc, test_labeled_and_sink_histograms);
    tcase_add_test(tc, test_partition_gauges);
    tcase_add_test(tc, test_counters_and_gauges_keep_their_lines);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(metrics_text_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
