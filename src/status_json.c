#include "src/status_json.h"

#include "common/clock.h"
#include "common/failure_log.h"
#include "common/partition_gauges.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A number, or null for -1 (not known, or not applicable). */
static cJSON *number_or_null(int64_t v)
{
    return v < 0 ? cJSON_CreateNull() : cJSON_CreateNumber((double)v);
}

static cJSON *string_or_null(const char *s)
{
    return s && s[0] ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* Every counter and gauge family of one kind class (per mapping, or per
 * sink with sink index s) into obj, named as on /metrics without "kfleet_". */
static void families(cJSON *obj, const kf_metrics *m, bool per_sink, size_t s)
{
    for (size_t k = 0; k < kf_metric_family_count; k++) {
        const kf_metric_family *f = &kf_metric_families[k];
        bool sink_kind = f->kind == KF_METRIC_SINK_COUNTER || f->kind == KF_METRIC_SINK_GAUGE;
        bool mapping_kind = f->kind == KF_METRIC_COUNTER || f->kind == KF_METRIC_GAUGE ||
                            f->kind == KF_METRIC_GAUGE64;
        if (per_sink ? sink_kind : mapping_kind)
            cJSON_AddNumberToObject(obj, f->name, (double)kf_metric_value(m, f, s));
    }
}

static cJSON *sinks(const kf_mapping_config *mc, const kf_metrics *m)
{
    cJSON *arr = cJSON_CreateArray();
    size_t n = mc->sink_count < KF_METRICS_MAX_SINKS ? mc->sink_count : KF_METRICS_MAX_SINKS;
    for (size_t s = 0; arr && s < n; s++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", mc->sinks[s].name);
        cJSON_AddStringToObject(o, "type", kf_sink_type_name(mc->sinks[s].type));
        families(o, m, true, s);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

/* Sets *oom when the table could not be copied. */
static cJSON *partitions(const kf_metrics *m, bool *oom)
{
    cJSON *arr = cJSON_CreateArray();
    kf_partition_row *rows = NULL;
    size_t n = 0;
    if (m->partitions && kf_partition_gauges_copy(m->partitions, &rows, &n) != 0) *oom = true;
    for (size_t r = 0; arr && r < n; r++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "topic", rows[r].topic);
        cJSON_AddNumberToObject(o, "partition", rows[r].partition);
        cJSON_AddItemToObject(o, "end", number_or_null(rows[r].end));
        cJSON_AddItemToObject(o, "committed", number_or_null(rows[r].committed));
        cJSON_AddItemToObject(o, "lag", number_or_null(rows[r].lag));
        cJSON_AddItemToArray(arr, o);
    }
    free(rows);
    return arr;
}

static cJSON *failures(const kf_metrics *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *latest = cJSON_AddArrayToObject(o, "latest");
    uint64_t total = 0;
    if (m->failures) {
        /* About 14 KB: on the heap rather than the HTTP thread's stack. */
        kf_failure_event *ev = malloc(KF_FAILURE_LOG_SIZE * sizeof *ev);
        size_t n = ev ? kf_failure_log_copy(m->failures, ev, &total) : 0;
        for (size_t i = 0; latest && i < n; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "seq", (double)ev[i].seq);
            cJSON_AddNumberToObject(e, "time_ms", (double)ev[i].time_ms);
            cJSON_AddStringToObject(e, "kind", kf_failure_kind_name(ev[i].kind));
            cJSON_AddItemToObject(e, "topic", string_or_null(ev[i].topic));
            cJSON_AddItemToObject(e, "partition", number_or_null(ev[i].partition));
            cJSON_AddItemToObject(e, "offset", number_or_null(ev[i].offset));
            cJSON_AddItemToObject(e, "sink", string_or_null(ev[i].sink));
            cJSON_AddStringToObject(e, "reason", ev[i].reason);
            cJSON_AddItemToArray(latest, e);
        }
        free(ev);
    }
    cJSON_AddNumberToObject(o, "total", (double)total);
    return o;
}

static cJSON *mapping(const kf_metrics_view *v, bool *oom)
{
    const kf_mapping_config *mc = v->config;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", mc->name);
    cJSON *topics = cJSON_AddArrayToObject(o, "topics");
    for (size_t t = 0; topics && t < mc->topic_count; t++)
        cJSON_AddItemToArray(topics, cJSON_CreateString(mc->topics[t]));
    cJSON_AddItemToObject(o, "group_id", string_or_null(mc->group_id));
    cJSON_AddBoolToObject(o, "exactly_once", mc->exactly_once);
    cJSON *of = cJSON_AddObjectToObject(o, "on_failure");
    if (of) {
        cJSON_AddStringToObject(of, "mode",
                                mc->on_failure.mode == KF_ON_FAILURE_PARK ? "park" : "dead_letter");
        cJSON_AddItemToObject(of, "topic", string_or_null(mc->on_failure.topic));
    }
    cJSON_AddNumberToObject(o, "handler_init_seconds", v->handler_init_seconds);
    cJSON *metrics = cJSON_AddObjectToObject(o, "metrics");
    if (metrics) families(metrics, v->metrics, false, 0);
    cJSON_AddItemToObject(o, "sinks", sinks(mc, v->metrics));
    cJSON_AddItemToObject(o, "partitions", partitions(v->metrics, oom));
    cJSON_AddItemToObject(o, "failures", failures(v->metrics));
    return o;
}

/* cJSON returns NULL from a constructor when out of memory, and its Add
 * functions ignore a NULL item, so a document with a part missing can come
 * out; the check at the end counts the parts that must be there. */
static bool complete(const cJSON *doc, size_t n)
{
    const cJSON *maps = cJSON_GetObjectItemCaseSensitive(doc, "mappings");
    if (!cJSON_IsArray(maps) || (size_t)cJSON_GetArraySize(maps) != n) return false;
    static const char *const parts[] = {"name",  "topics",     "metrics",
                                        "sinks", "partitions", "failures"};
    const cJSON *mp;
    cJSON_ArrayForEach(mp, maps)
    {
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
            if (!cJSON_GetObjectItemCaseSensitive(mp, parts[i])) return false;
    }
    return true;
}

char *kf_status_json(const kf_metrics_view *views, size_t n, size_t *len)
{
    bool oom = false;
    cJSON *doc = cJSON_CreateObject();
    if (!doc) return NULL;
    cJSON_AddStringToObject(doc, "version", KF_VERSION);
    cJSON_AddNumberToObject(doc, "now_ms", (double)kf_wall_ms());
    cJSON *maps = cJSON_AddArrayToObject(doc, "mappings");
    for (size_t i = 0; maps && i < n; i++)
        cJSON_AddItemToArray(maps, mapping(&views[i], &oom));
    char *text = !oom && complete(doc, n) ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (text) *len = strlen(text);
    return text;
}
