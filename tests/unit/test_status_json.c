/*
 * /status.json (src/status_json.h) for metrics made up here, without a
 * fleet: it parses as JSON; every counter and gauge family of the registry
 * is under "metrics" (or each sink) by its /metrics name; partitions carry
 * null for what is not known; the latest failures come newest first with
 * null where they do not apply; names that need escaping come out escaped.
 */
#include "common/failure_log.h"
#include "common/metrics.h"
#include "common/partition_gauges.h"
#include "sinks/registry.h"
#include "sinks/sink.h"
#include "src/status_json.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static char *topics[] = {"orders"};
static kf_sink_config sinks[2] = {{.name = "out", .type = KF_SINK_KAFKA},
                                  {.name = "cache", .type = KF_SINK_REDIS}};
static kf_mapping_config mc = {.name = "orders",
                               .topics = topics,
                               .topic_count = 1,
                               .group_id = "orders-fleet",
                               .exactly_once = true,
                               .on_failure = {.mode = KF_ON_FAILURE_PARK, .topic = "orders.dlq"},
                               .sinks = sinks,
                               .sink_count = 2};
static kf_metrics *m;
static cJSON *doc;

static void setup(void)
{
    m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    doc = NULL;
}

static void teardown(void)
{
    kf_partition_gauges_destroy(m->partitions);
    kf_failure_log_destroy(m->failures);
    free(m);
    cJSON_Delete(doc);
}

/* Renders, parses, and returns the one mapping's object. */
static const cJSON *render(void)
{
    kf_metrics_view v = {.config = &mc, .metrics = m, .handler_init_seconds = 0.5};
    size_t len = 0;
    char *text = kf_status_json(&v, 1, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(strlen(text), len);
    cJSON_Delete(doc);
    doc = cJSON_Parse(text);
    ck_assert_msg(doc != NULL, "not JSON: %s", text);
    free(text);
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(doc, "version")));
    ck_assert(cJSON_GetObjectItem(doc, "now_ms")->valuedouble > 1.6e12);
    const cJSON *maps = cJSON_GetObjectItem(doc, "mappings");
    ck_assert_int_eq(cJSON_GetArraySize(maps), 1);
    return cJSON_GetArrayItem(maps, 0);
}

static double num(const cJSON *o, const char *name)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);
    ck_assert_msg(cJSON_IsNumber(x), "%s is not a number", name);
    return x->valuedouble;
}

START_TEST(test_mapping_and_registry_families)
{
    KF_METRIC_ADD(m, records_done, 1234);
    KF_METRIC_ADD(m, records_failed, 2);
    atomic_store(&m->uncommitted, 77);
    atomic_store(&m->marks_held, 5);
    atomic_store(&m->parked_keys, 1);
    KF_METRIC_ADD(m, outputs[1], 9);
    atomic_store(&m->breaker_state[1], 1);
    const cJSON *mp = render();
    ck_assert_str_eq(cJSON_GetObjectItem(mp, "name")->valuestring, "orders");
    ck_assert_str_eq(cJSON_GetObjectItem(mp, "group_id")->valuestring, "orders-fleet");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(mp, "exactly_once")));
    ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(mp, "topics"), 0)->valuestring,
                     "orders");
    const cJSON *of = cJSON_GetObjectItem(mp, "on_failure");
    ck_assert_str_eq(cJSON_GetObjectItem(of, "mode")->valuestring, "park");
    ck_assert_str_eq(cJSON_GetObjectItem(of, "topic")->valuestring, "orders.dlq");
    ck_assert_double_eq(num(mp, "handler_init_seconds"), 0.5);

    const cJSON *x = cJSON_GetObjectItem(mp, "metrics");
    const cJSON *s = cJSON_GetObjectItem(mp, "sinks");
    ck_assert_int_eq(cJSON_GetArraySize(s), 2);
    for (size_t k = 0; k < kf_metric_family_count; k++) {
        const kf_metric_family *f = &kf_metric_families[k];
        if (f->kind == KF_METRIC_COUNTER || f->kind == KF_METRIC_GAUGE ||
            f->kind == KF_METRIC_GAUGE64)
            num(x, f->name);
        if (f->kind == KF_METRIC_SINK_COUNTER || f->kind == KF_METRIC_SINK_GAUGE) {
            num(cJSON_GetArrayItem(s, 0), f->name);
            num(cJSON_GetArrayItem(s, 1), f->name);
            ck_assert_ptr_null(cJSON_GetObjectItem(x, f->name));
        }
    }
    ck_assert_double_eq(num(x, "records_done_total"), 1234);
    ck_assert_double_eq(num(x, "records_failed_total"), 2);
    ck_assert_double_eq(num(x, "uncommitted_records"), 77);
    ck_assert_double_eq(num(x, "eos_marks_held"), 5);
    ck_assert_double_eq(num(x, "parked_keys"), 1);
    const cJSON *cache = cJSON_GetArrayItem(s, 1);
    ck_assert_str_eq(cJSON_GetObjectItem(cache, "name")->valuestring, "cache");
    ck_assert_str_eq(cJSON_GetObjectItem(cache, "type")->valuestring, "redis");
    ck_assert_double_eq(num(cache, "sink_outputs_total"), 9);
    ck_assert_double_eq(num(cache, "sink_breaker_state"), 1);
    ck_assert_double_eq(num(cJSON_GetArrayItem(s, 0), "sink_breaker_state"), 0);
    /* No table and no log: empty, not missing. */
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(mp, "partitions")), 0);
    const cJSON *f = cJSON_GetObjectItem(mp, "failures");
    ck_assert_double_eq(num(f, "total"), 0);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(f, "latest")), 0);
}
END_TEST

START_TEST(test_partitions)
{
    m->partitions = kf_partition_gauges_new();
    kf_partition_row rows[2] = {
        {.topic = "orders", .partition = 0, .end = 150, .committed = 100, .lag = 50},
        {.topic = "we\"ird\\", .partition = 1, .end = -1, .committed = 7, .lag = -1},
    };
    ck_assert_int_eq(kf_partition_gauges_publish(m->partitions, rows, 2), 0);
    const cJSON *p = cJSON_GetObjectItem(render(), "partitions");
    ck_assert_int_eq(cJSON_GetArraySize(p), 2);
    const cJSON *p0 = cJSON_GetArrayItem(p, 0), *p1 = cJSON_GetArrayItem(p, 1);
    ck_assert_str_eq(cJSON_GetObjectItem(p0, "topic")->valuestring, "orders");
    ck_assert_double_eq(num(p0, "partition"), 0);
    ck_assert_double_eq(num(p0, "end"), 150);
    ck_assert_double_eq(num(p0, "committed"), 100);
    ck_assert_double_eq(num(p0, "lag"), 50);
    ck_assert_str_eq(cJSON_GetObjectItem(p1, "topic")->valuestring, "we\"ird\\");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(p1, "end")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(p1, "lag")));
    ck_assert_double_eq(num(p1, "committed"), 7);
}
END_TEST

START_TEST(test_failures)
{
    m->failures = kf_failure_log_new();
    kf_failure_log_record(m->failures, KF_FAILURE_DEAD_LETTER, "orders", 2, 1041,
                          "handler returned KF_FAIL: <b>\"bad\"</b>");
    kf_failure_log_sink(m->failures, KF_FAILURE_BREAKER_OPEN, "cache", "redis down");
    const cJSON *f = cJSON_GetObjectItem(render(), "failures");
    ck_assert_double_eq(num(f, "total"), 2);
    const cJSON *latest = cJSON_GetObjectItem(f, "latest");
    ck_assert_int_eq(cJSON_GetArraySize(latest), 2);
    const cJSON *b = cJSON_GetArrayItem(latest, 0), *d = cJSON_GetArrayItem(latest, 1);
    ck_assert_str_eq(cJSON_GetObjectItem(b, "kind")->valuestring, "breaker_open");
    ck_assert_str_eq(cJSON_GetObjectItem(b, "sink")->valuestring, "cache");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(b, "topic")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(b, "partition")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(b, "offset")));
    ck_assert_double_eq(num(b, "seq"), 2);
    ck_assert_str_eq(cJSON_GetObjectItem(d, "kind")->valuestring, "dead_letter");
    ck_assert_str_eq(cJSON_GetObjectItem(d, "topic")->valuestring, "orders");
    ck_assert_double_eq(num(d, "partition"), 2);
    ck_assert_double_eq(num(d, "offset"), 1041);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(d, "sink")));
    ck_assert_str_eq(cJSON_GetObjectItem(d, "reason")->valuestring,
                     "handler returned KF_FAIL: <b>\"bad\"</b>");
    ck_assert(num(d, "time_ms") > 1.6e12);
}
END_TEST

static Suite *status_json_suite(void)
{
    Suite *s = suite_create("status_json");
    TCase *tc = tcase_create("json");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_mapping_and_registry_families);
    tcase_add_test(tc, test_partitions);
    tcase_add_test(tc, test_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    kf_sinks_init(); /* the built-in sink types' names */
    SRunner *sr = srunner_create(status_json_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
