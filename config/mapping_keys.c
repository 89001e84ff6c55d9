/*
 * One entry of "mappings": the mapping's table, the readers of its keys of
 * several shapes (topics, group_id, starting_position, filters), and the
 * "mappings" array itself. The base is the kf_mapping_config.
 */
#include "config/config.h"
#include "config/schema.h"
#include "config/sink_types.h"
#include "config/utc_time.h"
#include "config/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AT(field)    offsetof(kf_mapping_config, field)
#define MAX_SAFE_INT INT64_C(9007199254740992)

/* What the readers of one mapping need: the config and the mapping's index,
 * for the "not used by mappings[i]" checks. */
typedef struct mapping_ctx {
    kf_config *cfg;
    size_t idx;
} mapping_ctx;

static int read_name(kf_jpath *jp, const cJSON *m, const kf_cfg_key *k, void *base, void *ctx)
{
    const mapping_ctx *c = ctx;
    return kf_cfg_read_unique_name(jp, m, k, base, c->cfg->mappings, sizeof(kf_mapping_config),
                                   c->idx, "mappings");
}

/* ---- topics ---- */

static int read_topic(kf_jpath *jp, const cJSON *t, size_t i, void *ctx)
{
    kf_mapping_config *mc = ctx;
    if (!cJSON_IsString(t) || !kf_cfg_valid_subscription(t->valuestring))
        return kf_jpath_fail_got(jp, t, KF_CFG_TOPIC_EXPECTED " or a \"^regex\"");
    long j = kf_cfg_find_string(mc->topics, sizeof(char *), 0, i, t->valuestring);
    if (j >= 0) return kf_jpath_fail_got(jp, t, "expected a topic not already in topics[%ld]", j);
    return kf_cfg_dup(jp, t->valuestring, &mc->topics[i]);
}

static int read_topics(kf_jpath *jp, const cJSON *m, const kf_cfg_key *k, void *base, void *ctx)
{
    (void)ctx;
    kf_mapping_config *mc = base;
    const cJSON *arr;
    if (kf_jpath_array(jp, m, k->name, true, true, &arr) < 0) return -1;
    size_t n = (size_t)cJSON_GetArraySize(arr);
    mc->topics = calloc(n, sizeof(char *));
    if (!mc->topics) return kf_jpath_fail(jp, "out of memory");
    mc->topic_count = n;
    return kf_cfg_each(jp, k->name, arr, read_topic, mc);
}

static void free_topics(const kf_cfg_key *k, void *base)
{
    (void)k;
    kf_mapping_config *mc = base;
    for (size_t i = 0; i < mc->topic_count; i++)
        free(mc->topics[i]);
    free(mc->topics);
    mc->topics = NULL;
    mc->topic_count = 0;
}

/* ---- group_id ---- */

/* Default "kfleet-<name>"; unique among the mappings either way. */
static int read_group_id(kf_jpath *jp, const cJSON *m, const kf_cfg_key *k, void *base, void *ctx)
{
    const mapping_ctx *c = ctx;
    kf_mapping_config *mc = base;
    const char *group = NULL;
    if (kf_jpath_string(jp, m, k->name, false, &group) < 0) return -1;
    if (group) {
        if (kf_cfg_dup(jp, group, &mc->group_id) < 0) return -1;
    } else if (asprintf(&mc->group_id, "kfleet-%s", mc->name) < 0) {
        mc->group_id = NULL;
        return kf_jpath_fail(jp, "out of memory");
    }
    long j = kf_cfg_find_string(c->cfg->mappings, sizeof(kf_mapping_config), AT(group_id), c->idx,
                                mc->group_id);
    if (j < 0) return 0;
    if (group)
        return kf_jpath_fail_key(jp, m, k->name,
                                 "expected a consumer group not used by mappings[%ld]", j);
    return kf_jpath_fail_key(
        jp, m, "name", "expected a name whose default group_id is not used by mappings[%ld]", j);
}

/* ---- starting_position ---- */

static const kf_cfg_key START_KEYS[] = {
    {.name = "timestamp_ms",
     .kind = KF_CFG_INT64,
     .flags = KF_CFG_REQUIRED,
     .at = AT(start_timestamp_ms),
     .min = 0,
     .max = MAX_SAFE_INT,
     .doc = "milliseconds since the epoch"},
};

static const kf_cfg_table START = {
    .doc = "a start time in milliseconds",
    .keys = START_KEYS,
    .count = KF_CFG_COUNT(START_KEYS),
};

static int read_start(kf_jpath *jp, const cJSON *m, const kf_cfg_key *k, void *base, void *ctx)
{
    kf_mapping_config *mc = base;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, k->name);
    const char *s = cJSON_IsString(v) ? v->valuestring : "";
    mc->starting_position = KF_START_EARLIEST;
    if (!v) return 0;
    if (cJSON_IsObject(v)) {
        size_t mark = kf_jpath_push_key(jp, k->name);
        if (kf_cfg_read(jp, &START, v, mc, ctx) < 0) return -1;
        kf_jpath_pop(jp, mark);
        mc->starting_position = KF_START_TIMESTAMP;
    } else if (strcmp(s, "earliest") == 0) {
        mc->starting_position = KF_START_EARLIEST;
    } else if (strcmp(s, "latest") == 0) {
        mc->starting_position = KF_START_LATEST;
    } else if (cJSON_IsString(v) && kf_cfg_parse_utc_ms(s, &mc->start_timestamp_ms)) {
        mc->starting_position = KF_START_TIMESTAMP;
    } else {
        return kf_jpath_fail_key(jp, m, k->name,
                                 "expected \"earliest\", \"latest\", a UTC timestamp like "
                                 "\"2026-01-01T00:00:00Z\" or {\"timestamp_ms\": N}");
    }
    return 0;
}

/* ---- filters ---- */

static int check_filter(kf_jpath *jp, const cJSON *f, size_t i, void *ctx)
{
    (void)i, (void)ctx;
    return cJSON_IsObject(f) ? 0 : kf_jpath_fail_got(jp, f, "expected an object");
}

/* Kept serialised: dispatcher/filter.c compiles them. */
static int read_filters(kf_jpath *jp, const cJSON *m, const kf_cfg_key *k, void *base, void *ctx)
{
    (void)ctx;
    const cJSON *arr;
    if (kf_jpath_array(jp, m, k->name, false, false, &arr) < 0) return -1;
    if (!arr) return 0;
    if (kf_cfg_each(jp, k->name, arr, check_filter, NULL) < 0) return -1;
    return kf_cfg_dup_json(jp, arr, KF_CFG_FIELD(base, k, char *));
}

/* ---- commit_interval_ms ---- */

/* Exactly-once commits are Kafka transactions: a shorter default keeps the
 * outputs' latency (read_committed) low. */
static int read_commit_interval(kf_jpath *jp, const cJSON *m, const kf_cfg_key *k, void *base,
                                void *ctx)
{
    (void)ctx;
    kf_mapping_config *mc = base;
    int v = mc->exactly_once ? 100 : (int)k->def;
    if (kf_jpath_int(jp, m, k->name, false, (int)k->min, (int)k->max, &v) < 0) return -1;
    mc->commit_interval_ms = v;
    return 0;
}

/* ---- the mapping ---- */

static const char *const ORDERINGS[] = {"partition", "key", "unordered", NULL}; /* kf_ordering */

static const kf_cfg_props_arg CONSUMER_PROPS = {.kind = KF_PROPS_CONSUMER};
static const kf_cfg_props_arg PRODUCER_PROPS = {.kind = KF_PROPS_ANY};

static const kf_cfg_key MAPPING_KEYS[] = {
    {.name = "name",
     .kind = KF_CFG_CUSTOM,
     .flags = KF_CFG_REQUIRED,
     .read = read_name,
     .free = kf_cfg_free_string,
     .at = AT(name),
     .type_doc = "string",
     .range_doc = "1..128 of `[A-Za-z0-9._-]`, unique",
     .doc = "names the mapping in logs, metrics and the default group id"},
    {.name = "topics",
     .kind = KF_CFG_CUSTOM,
     .flags = KF_CFG_REQUIRED,
     .read = read_topics,
     .free = free_topics,
     .type_doc = "array of strings",
     .range_doc = "topic names or `^regex` subscriptions, non-empty",
     .doc = "the input topics"},
    {.name = "group_id",
     .kind = KF_CFG_CUSTOM,
     .read = read_group_id,
     .free = kf_cfg_free_string,
     .at = AT(group_id),
     .type_doc = "string",
     .default_doc = "`kfleet-<name>`",
     .range_doc = "unique",
     .doc = "the consumer group"},
    {.name = "starting_position",
     .kind = KF_CFG_CUSTOM,
     .read = read_start,
     .sub = &START,
     .type_doc = "string or object",
     .default_doc = "`earliest`",
     .range_doc = "`earliest`, `latest`, a UTC time like `2026-01-01T00:00:00Z`, or "
                  "`{\"timestamp_ms\": N}`",
     .doc = "where a group without a committed offset starts"},
    {.name = "handler", .kind = KF_CFG_OBJECT, .sub = &kf_cfg_handler},
    {.name = "batch", .kind = KF_CFG_OBJECT, .sub = &kf_cfg_batch},
    {.name = "ordering",
     .kind = KF_CFG_ENUM,
     .at = AT(ordering),
     .names = ORDERINGS,
     .def = KF_ORDER_KEY,
     .doc = "strict per partition, per key (keys in parallel), or none"},
    {.name = "concurrency", .kind = KF_CFG_OBJECT, .sub = &kf_cfg_concurrency},
    {.name = "exactly_once",
     .kind = KF_CFG_BOOL,
     .at = AT(exactly_once),
     .doc = "exactly-once effects in every sink that supports them (see Delivery guarantees)"},
    {.name = "retry", .kind = KF_CFG_OBJECT, .sub = &kf_cfg_retry},
    {.name = "on_failure",
     .kind = KF_CFG_OBJECT,
     .flags = KF_CFG_OPTIONAL,
     .sub = &kf_cfg_on_failure},
    {.name = "sinks",
     .kind = KF_CFG_CUSTOM,
     .flags = KF_CFG_REQUIRED,
     .read = kf_cfg_read_sinks,
     .free = kf_cfg_free_sinks,
     .sub = &kf_cfg_sink_common,
     .type_doc = "array of objects",
     .range_doc = "non-empty",
     .doc = "where the handler's outputs go"},
    {.name = "filters",
     .kind = KF_CFG_CUSTOM,
     .read = read_filters,
     .free = kf_cfg_free_string,
     .at = AT(filters_json),
     .type_doc = "array of objects",
     .default_doc = "none",
     .doc = "filter patterns; records that match none are committed, not handled"},
    {.name = "commit_interval_ms",
     .kind = KF_CFG_CUSTOM,
     .read = read_commit_interval,
     .at = AT(commit_interval_ms),
     .min = 10,
     .max = 600000,
     .def = 1000,
     .type_doc = "integer",
     .default_doc = "1000, or 100 with `exactly_once`",
     .range_doc = "10..600000",
     .doc = "how often watermarks are committed (with `exactly_once` and a Kafka output: one "
            "transaction per interval)"},
    {.name = "revoke_timeout_ms",
     .kind = KF_CFG_INT,
     .at = AT(revoke_timeout_ms),
     .min = 0,
     .max = 600000,
     .def = 10000,
     .doc = "on revoke, how long in-flight records of the lost partitions may finish"},
    {.name = "stall_timeout_ms",
     .kind = KF_CFG_INT,
     .at = AT(stall_timeout_ms),
     .min = 0,
     .max = 3600000,
     .def = 30000,
     .doc = "an assigned partition with records to read and no progress for this long is "
            "logged, counted and recovered (see Stall watchdog); 0 turns the watchdog off"},
    {.name = "consumer",
     .kind = KF_CFG_CUSTOM,
     .read = kf_cfg_read_props,
     .free = kf_cfg_free_props,
     .arg = &CONSUMER_PROPS,
     .at = AT(consumer),
     .type_doc = "object",
     .default_doc = "`{}`",
     .doc = "librdkafka properties for this mapping's consumer (over `kafka.properties`)"},
    {.name = "producer",
     .kind = KF_CFG_CUSTOM,
     .read = kf_cfg_read_props,
     .free = kf_cfg_free_props,
     .arg = &PRODUCER_PROPS,
     .at = AT(producer),
     .type_doc = "object",
     .default_doc = "`{}`",
     .doc = "librdkafka properties for this mapping's producers (over `kafka.properties`)"},
    {.name = "idempotency",
     .kind = KF_CFG_OBJECT,
     .flags = KF_CFG_OPTIONAL,
     .sub = &kf_cfg_idempotency},
};

const kf_cfg_table kf_cfg_mapping = {
    .doc = "one consumer group, its handler and its sinks",
    .keys = MAPPING_KEYS,
    .count = KF_CFG_COUNT(MAPPING_KEYS),
};

/* ---- the array ---- */

static int read_mapping(kf_jpath *jp, const cJSON *m, size_t i, void *ctx)
{
    kf_config *cfg = ctx;
    mapping_ctx c = {.cfg = cfg, .idx = i};
    if (!cJSON_IsObject(m)) return kf_jpath_fail_got(jp, m, "expected an object");
    return kf_cfg_read(jp, &kf_cfg_mapping, m, &cfg->mappings[i], &c);
}

int kf_cfg_read_mappings(kf_jpath *jp, const cJSON *root, const kf_cfg_key *k, void *base,
                         void *ctx)
{
    (void)ctx;
    kf_config *cfg = base;
    const cJSON *arr;
    if (kf_jpath_array(jp, root, k->name, true, true, &arr) < 0) return -1;
    size_t n = (size_t)cJSON_GetArraySize(arr);
    cfg->mappings = calloc(n, sizeof(*cfg->mappings));
    if (!cfg->mappings) return kf_jpath_fail(jp, "out of memory");
    cfg->mapping_count = n;
    return kf_cfg_each(jp, k->name, arr, read_mapping, cfg);
}

void kf_cfg_free_mappings(const kf_cfg_key *k, void *base)
{
    (void)k;
    kf_config *cfg = base;
    for (size_t i = 0; i < cfg->mapping_count; i++)
        kf_cfg_free(&kf_cfg_mapping, &cfg->mappings[i]);
    free(cfg->mappings);
    cfg->mappings = NULL;
    cfg->mapping_count = 0;
}
