/*
 * Loads and validates the kfleet JSON config (see config.h and the README's Configuration section).
 *
 * The whole file is parsed with cJSON, every string value has its ${VAR}s
 * expanded, and then the tree is walked once, object by object: unknown keys
 * first, then each key with its type and range. The first problem stops the
 * walk with one line naming the file and the JSON path (json_path.h). The
 * result owns copies of every string, so the cJSON tree is freed before
 * returning.
 */
#include "config/config.h"
#include "config/config_props.h"
#include "config/json_path.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE_BYTES (16u << 20)
#define NAME_MAX_LEN   128
#define TOPIC_MAX_LEN  249
#define MAX_SAFE_INT   INT64_C(9007199254740992)

static const char *const TOP_KEYS[] = {"kafka",    "redis", "metrics", "log", "shutdown_timeout_ms",
                                       "mappings", NULL};
static const char *const KAFKA_KEYS[] = {"brokers", "properties", NULL};
static const char *const REDIS_KEYS[] = {"url", "key_prefix", NULL};
static const char *const METRICS_KEYS[] = {"listen", NULL};
static const char *const LOG_KEYS[] = {"level", NULL};
static const char *const LOG_LEVELS[] = {"debug", "info", "warn", "error", NULL};
static const char *const MAPPING_KEYS[] = {"name",
                                           "topics",
                                           "group_id",
                                           "starting_position",
                                           "handler",
                                           "batch",
                                           "ordering",
                                           "concurrency",
                                           "exactly_once",
                                           "retry",
                                           "on_failure",
                                           "sinks",
                                           "filters",
                                           "commit_interval_ms",
                                           "revoke_timeout_ms",
                                           "stall_timeout_ms",
                                           "consumer",
                                           "producer",
                                           "idempotency",
                                           NULL};
static const char *const HANDLER_KEYS[] = {"path", "config", NULL};
static const char *const BATCH_KEYS[] = {"max_records", "max_bytes", "window_ms", NULL};
static const char *const CONCURRENCY_KEYS[] = {"threads", "max_inflight_records", NULL};
static const char *const RETRY_KEYS[] = {"max_attempts", "backoff_ms", "max_backoff_ms",
                                         "max_record_age_ms", NULL};
static const char *const ON_FAILURE_KEYS[] = {"topic", NULL};
static const char *const IDEMPOTENCY_KEYS[] = {"key", "window_ms", NULL};
static const char *const START_KEYS[] = {"timestamp_ms", NULL};
/* Indexes match kf_ordering, kf_sink_type and kf_redis_command. */
static const char *const ORDERINGS[] = {"partition", "key", "unordered", NULL};
static const char *const SINK_TYPES[] = {"kafka", "redis", "http", "stdout", "null", NULL};
static const char *const REDIS_COMMANDS[] = {"RPUSH", "XADD", "SET", "HSET", NULL};
static const char *const SINK_KEYS[][6] = {
    [KF_SINK_KAFKA] = {"name", "type", "topic", NULL},
    [KF_SINK_REDIS] = {"name", "type", "key", "command", "url", NULL},
    [KF_SINK_HTTP] = {"name", "type", "url", "timeout_ms", "headers", NULL},
    [KF_SINK_STDOUT] = {"name", "type", NULL},
    [KF_SINK_NULL] = {"name", "type", NULL},
};

/* ---- small helpers ---- */

/* Copies s into *dst (NULL stays NULL). */
static int dup_into(kf_jpath *jp, const char *s, char **dst)
{
    if (!s) return 0;
    *dst = strdup(s);
    return *dst ? 0 : kf_jpath_fail(jp, "out of memory");
}

/* Serialises a JSON value into *dst with malloc'd memory. */
static int print_into(kf_jpath *jp, const cJSON *v, char **dst)
{
    char *s = cJSON_PrintUnformatted(v);
    int rc = s ? dup_into(jp, s, dst) : kf_jpath_fail(jp, "out of memory");
    cJSON_free(s);
    return rc;
}

/* Reads an optional object, enters it and checks its keys. The caller pops
 * *mark when done; *out is NULL when absent (getters then see no keys). */
static int enter(kf_jpath *jp, const cJSON *parent, const char *key, const char *const *allowed,
                 const cJSON **out, size_t *mark)
{
    if (kf_jpath_object(jp, parent, key, false, out) < 0) return -1;
    *mark = kf_jpath_push_key(jp, key);
    return kf_jpath_check_keys(jp, *out, allowed, NULL);
}

static bool name_chars(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._-", *s)) return false;
    return true;
}

/* Mapping and sink names end up in group ids, Redis keys and metric labels. */
static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= NAME_MAX_LEN && name_chars(s);
}

static bool valid_topic(const char *s, bool allow_regex)
{
    if (allow_regex && s[0] == '^' && s[1]) return true; /* librdkafka regex subscription */
    size_t n = strlen(s);
    return n > 0 && n <= TOPIC_MAX_LEN && name_chars(s) && strcmp(s, ".") && strcmp(s, "..");
}

#define TOPIC_EXPECTED "expected a topic name (1..249 characters of [A-Za-z0-9._-])"

/* A required-or-optional topic name key. */
static int get_topic(kf_jpath *jp, const cJSON *obj, const char *key, bool required, char **dst)
{
    const char *s = NULL;
    if (kf_jpath_string(jp, obj, key, required, &s) < 0) return -1;
    if (s && !valid_topic(s, false)) return kf_jpath_fail_key(jp, obj, key, TOPIC_EXPECTED);
    return dup_into(jp, s, dst);
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0 && s[strlen(prefix)] != '\0';
}

/* "host:port": a non-empty host (IPv6 in brackets) and a port 1..65535. */
static bool valid_listen(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) return false;
    if (s[0] == '[' && colon[-1] != ']') return false;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    return colon[1] && isdigit((unsigned char)colon[1]) && *end == '\0' && errno == 0 &&
           port >= 1 && port <= 65535;
}

/* ---- starting_position ---- */

static bool read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* "YYYY-MM-DDTHH:MM:SS[.fff]Z" (or "+00:00") -> milliseconds since the epoch.
 * Only UTC: a local offset would make the start point depend on the reader. */
static bool parse_utc_timestamp(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, sec, frac = 0;
    const char *p = s;
    if (!read_digits(&p, 4, &y) || *p++ != '-' || !read_digits(&p, 2, &mo) || *p++ != '-' ||
        !read_digits(&p, 2, &d) || *p++ != 'T' || !read_digits(&p, 2, &h) || *p++ != ':' ||
        !read_digits(&p, 2, &mi) || *p++ != ':' || !read_digits(&p, 2, &sec))
        return false;
    if (*p == '.') {
        int n = 0;
        for (p++; isdigit((unsigned char)*p); p++, n++)
            if (n < 3) frac = frac * 10 + (*p - '0');
        if (n == 0) return false;
        for (; n < 3; n++)
            frac *= 10;
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0) return false;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        sec > 59)
        return false;
    int64_t days = d - 1;
    for (int yy = 1970; yy < y; yy++)
        days += leap(yy) ? 366 : 365;
    for (int mm = 1; mm < mo; mm++)
        days += days_in_month(y, mm);
    *ms = ((days * 24 + h) * 60 + mi) * 60 * INT64_C(1000) + sec * INT64_C(1000) + frac;
    return true;
}

static int parse_start(kf_jpath *jp, const cJSON *m, kf_mapping_config *mc)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, "starting_position");
    if (!v) return 0;
    if (cJSON_IsObject(v)) {
        size_t mark = kf_jpath_push_key(jp, "starting_position");
        if (kf_jpath_check_keys(jp, v, START_KEYS, NULL) < 0 ||
            kf_jpath_int64(jp, v, "timestamp_ms", true, 0, MAX_SAFE_INT, &mc->start_timestamp_ms) <
                0)
            return -1;
        kf_jpath_pop(jp, mark);
        mc->starting_position = KF_START_TIMESTAMP;
        return 0;
    }
    if (cJSON_IsString(v) && strcmp(v->valuestring, "earliest") == 0)
        mc->starting_position = KF_START_EARLIEST;
    else if (cJSON_IsString(v) && strcmp(v->valuestring, "latest") == 0)
        mc->starting_position = KF_START_LATEST;
    else if (cJSON_IsString(v) && parse_utc_timestamp(v->valuestring, &mc->start_timestamp_ms))
        mc->starting_position = KF_START_TIMESTAMP;
    else
        return kf_jpath_fail_key(jp, m, "starting_position",
                                 "expected \"earliest\", \"latest\", a UTC timestamp like "
                                 "\"2026-01-01T00:00:00Z\" or {\"timestamp_ms\": N}");
    return 0;
}

/* ---- sinks ---- */

/* RFC 7230 token characters, for header names. */
static bool valid_header_name(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s)) return false;
    return true;
}

/* What the HTTP sink sends as is: no control character but TAB, so that no
 * value splits a header line and `check` refuses what the sink would. */
static bool header_value_ok(const char *s)
{
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f) return false;
    return true;
}

static int check_headers(kf_jpath *jp, const cJSON *sink, const kf_props *h)
{
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(sink, "headers");
    size_t mark = kf_jpath_push_key(jp, "headers");
    for (size_t i = 0; i < h->count; i++) {
        if (!valid_header_name(h->names[i])) {
            kf_jpath_push_key(jp, h->names[i]);
            return kf_jpath_fail(
                jp, "expected an HTTP header name (letters, digits, -_.!#$%%&'*+^`|~)");
        }
        if (!header_value_ok(h->values[i]))
            return kf_jpath_fail_key(jp, obj, h->names[i],
                                     "expected a header value without control characters "
                                     "(TAB is allowed)");
    }
    kf_jpath_pop(jp, mark);
    return 0;
}

static int parse_sink_specific(kf_jpath *jp, const cJSON *s, kf_sink_config *sc)
{
    const char *url = NULL;
    switch (sc->type) {
    case KF_SINK_KAFKA:
        return get_topic(jp, s, "topic", true, &sc->topic);
    case KF_SINK_REDIS: {
        int cmd = KF_REDIS_RPUSH;
        const char *key = NULL;
        if (kf_jpath_string(jp, s, "key", true, &key) < 0 || dup_into(jp, key, &sc->key) < 0 ||
            kf_jpath_enum(jp, s, "command", REDIS_COMMANDS, &cmd) < 0 ||
            kf_jpath_string(jp, s, "url", false, &url) < 0)
            return -1;
        sc->command = (kf_redis_command)cmd;
        if (url && !has_prefix(url, "redis://"))
            return kf_jpath_fail_key(jp, s, "url", "expected a redis://host:port/db URL");
        return dup_into(jp, url, &sc->url);
    }
    case KF_SINK_HTTP:
        if (kf_jpath_string(jp, s, "url", true, &url) < 0) return -1;
        if (!has_prefix(url, "http://") && !has_prefix(url, "https://"))
            return kf_jpath_fail_key(jp, s, "url", "expected an http:// or https:// URL");
        if (dup_into(jp, url, &sc->url) < 0 ||
            kf_jpath_int(jp, s, "timeout_ms", false, 1, 600000, &sc->timeout_ms) < 0 ||
            kf_config_parse_props(jp, s, "headers", KF_PROPS_STRINGS, NULL, &sc->headers) < 0)
            return -1;
        return check_headers(jp, s, &sc->headers);
    case KF_SINK_STDOUT:
    case KF_SINK_NULL:
        return 0;
    }
    return 0;
}

static int parse_sink(kf_jpath *jp, const cJSON *s, kf_mapping_config *mc, size_t idx)
{
    kf_sink_config *sc = &mc->sinks[idx];
    const char *name = NULL;
    int type = -1;
    sc->timeout_ms = 5000;
    if (!cJSON_IsObject(s)) return kf_jpath_fail_got(jp, s, "expected an object");
    if (kf_jpath_string(jp, s, "name", true, &name) < 0) return -1;
    if (!valid_name(name))
        return kf_jpath_fail_key(jp, s, "name",
                                 "expected a name of 1..128 characters [A-Za-z0-9._-]");
    for (size_t j = 0; j < idx; j++)
        if (strcmp(mc->sinks[j].name, name) == 0)
            return kf_jpath_fail_key(jp, s, "name", "expected a name not used by sinks[%zu]", j);
    if (dup_into(jp, name, &sc->name) < 0 || kf_jpath_enum(jp, s, "type", SINK_TYPES, &type) < 0)
        return -1;
    if (type < 0) {
        kf_jpath_push_key(jp, "type");
        return kf_jpath_fail(jp, "required key is missing (expected one of kafka, redis, http, "
                                 "stdout, null)");
    }
    sc->type = (kf_sink_type)type;
    char what[32];
    snprintf(what, sizeof(what), "for a %s sink", SINK_TYPES[type]);
    if (kf_jpath_check_keys(jp, s, SINK_KEYS[type], what) < 0) return -1;
    return parse_sink_specific(jp, s, sc);
}

static int parse_sinks(kf_jpath *jp, const cJSON *m, kf_mapping_config *mc)
{
    const cJSON *arr;
    if (kf_jpath_array(jp, m, "sinks", true, true, &arr) < 0) return -1;
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
    mc->sinks = calloc(n, sizeof(*mc->sinks));
    if (!mc->sinks) return kf_jpath_fail(jp, "out of memory");
    mc->sink_count = n;
    size_t mark = kf_jpath_push_key(jp, "sinks");
    for (const cJSON *s = arr->child; s; s = s->next, i++) {
        size_t m2 = kf_jpath_push_index(jp, i);
        if (parse_sink(jp, s, mc, i) < 0) return -1;
        kf_jpath_pop(jp, m2);
    }
    kf_jpath_pop(jp, mark);
    return 0;
}

/* ---- mappings ---- */

static int parse_topics(kf_jpath *jp, const cJSON *m, kf_mapping_config *mc)
{
    const cJSON *arr;
    if (kf_jpath_array(jp, m, "topics", true, true, &arr) < 0) return -1;
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
    mc->topics = calloc(n, sizeof(char *));
    if (!mc->topics) return kf_jpath_fail(jp, "out of memory");
    size_t mark = kf_jpath_push_key(jp, "topics");
    for (const cJSON *t = arr->child; t; t = t->next, i++) {
        size_t m2 = kf_jpath_push_index(jp, i);
        if (!cJSON_IsString(t) || !valid_topic(t->valuestring, true))
            return kf_jpath_fail_got(jp, t, TOPIC_EXPECTED " or a \"^regex\"");
        for (size_t j = 0; j < i; j++)
            if (strcmp(mc->topics[j], t->valuestring) == 0)
                return kf_jpath_fail_got(jp, t, "expected a topic not already in topics[%zu]", j);
        if (dup_into(jp, t->valuestring, &mc->topics[i]) < 0) return -1;
        mc->topic_count++;
        kf_jpath_pop(jp, m2);
    }
    kf_jpath_pop(jp, mark);
    return 0;
}

static int parse_handler(kf_jpath *jp, const cJSON *m, kf_mapping_config *mc)
{
    const cJSON *h, *conf;
    const char *path = NULL;
    size_t mark;
    if (enter(jp, m, "handler", HANDLER_KEYS, &h, &mark) < 0 ||
        kf_jpath_string(jp, h, "path", true, &path) < 0 ||
        dup_into(jp, path, &mc->handler.path) < 0 ||
        kf_jpath_object(jp, h, "config", false, &conf) < 0)
        return -1;
    if (conf ? print_into(jp, conf, &mc->handler.config_json) < 0
             : dup_into(jp, "{}", &mc->handler.config_json) < 0)
        return -1;
    kf_jpath_pop(jp, mark);
    return 0;
}

static int parse_batch_and_concurrency(kf_jpath *jp, const cJSON *m, kf_mapping_config *mc)
{
    const cJSON *o;
    size_t mark;
    if (enter(jp, m, "batch", BATCH_KEYS, &o, &mark) < 0 ||
        kf_jpath_int(jp, o, "max_records", false, 1, 10000, &mc->batch.max_records) < 0 ||
        kf_jpath_int64(jp, o, "max_bytes", false, 1, 67108864, &mc->batch.max_bytes) < 0 ||
        kf_jpath_int(jp, o, "window_ms", false, 0, 300000, &mc->batch.window_ms) < 0)
        return -1;
    kf_jpath_pop(jp, mark);
    if (enter(jp, m, "concurrency", CONCURRENCY_KEYS, &o, &mark) < 0 ||
        kf_jpath_int(jp, o, "threads", false, 1, 1024, &mc->concurrency.threads) < 0 ||
        kf_jpath_int(jp, o, "max_inflight_records", false, 1, 1000000,
                     &mc->concurrency.max_inflight) < 0)
        return -1;
    /* A batch larger than the in-flight bound could never be dispatched. */
    if (mc->concurrency.max_inflight < mc->batch.max_records)
        return kf_jpath_fail_key(jp, o, "max_inflight_records",
                                 "expected an integer >= batch.max_records (%d)",
                                 mc->batch.max_records);
    kf_jpath_pop(jp, mark);
    return 0;
}

/* idempotency: {"key": "header:<name>" | "json:<field>[.<field>...]", "window_ms": N}:
 * business-key dedupe, which lives in the exactly-once Redis state. */
static int parse_idempotency(kf_jpath *jp, const cJSON *m, kf_mapping_config *mc)
{
    const cJSON *o;
    size_t mark;
    const char *key = NULL;
    if (enter(jp, m, "idempotency", IDEMPOTENCY_KEYS, &o, &mark) < 0) return -1;
    if (!o) {
        kf_jpath_pop(jp, mark);
        return 0;
    }
    if (kf_jpath_string(jp, o, "key", true, &key) < 0 ||
        kf_jpath_int64(jp, o, "window_ms", false, 1, INT64_C(604800000),
                       &mc->idempotency.window_ms) < 0)
        return -1;
    if (has_prefix(key, "header:") && key[7]) {
        if (dup_into(jp, key + 7, &mc->idempotency.key_header) < 0) return -1;
    } else if (has_prefix(key, "json:") && key[5]) {
        if (dup_into(jp, key + 5, &mc->idempotency.key_json) < 0) return -1;
    } else {
        return kf_jpath_fail_key(jp, o, "key", "expected \"header:<name>\" or \"json:<field>\"");
    }
    if (!mc->exactly_once)
        return kf_jpath_fail_key(jp, o, "key",
                                 "needs \"exactly_once\": true (the markers live in its Redis "
                                 "state)");
    kf_jpath_pop(jp, mark);
    return 0;
}

static int parse_retry(kf_jpath *jp, const cJSON *m, kf_mapping_config *mc)
{
    const cJSON *r, *age;
    size_t mark;
    bool max_set;
    if (enter(jp, m, "retry", RETRY_KEYS, &r, &mark) < 0 ||
        kf_jpath_int(jp, r, "max_attempts", false, 1, 1000, &mc->retry.max_attempts) < 0 ||
        kf_jpath_int(jp, r, "backoff_ms", false, 1, 3600000, &mc->retry.backoff_ms) < 0)
        return -1;
    max_set = cJSON_GetObjectItemCaseSensitive(r, "max_backoff_ms") != NULL;
    if (!max_set && mc->retry.max_backoff_ms < mc->retry.backoff_ms)
        mc->retry.max_backoff_ms = mc->retry.backoff_ms;
    if (kf_jpath_int(jp, r, "max_backoff_ms", false, mc->retry.backoff_ms, 3600000,
                     &mc->retry.max_backoff_ms) < 0)
        return -1;
    age = cJSON_GetObjectItemCaseSensitive(r, "max_record_age_ms");
    if (age) {
        int64_t v = 0;
        if (!kf_jpath_is_integer(age, &v) || (v != -1 && v < 1))
            return kf_jpath_fail_key(jp, r, "max_record_age_ms",
                                     "expected -1 (no limit) or an integer >= 1");
        mc->retry.max_record_age_ms = v;
    }
    kf_jpath_pop(jp, mark);
    return 0;
}

static int parse_filters(kf_jpath *jp, const cJSON *m, kf_mapping_config *mc)
{
    const cJSON *arr;
    size_t i = 0;
    if (kf_jpath_array(jp, m, "filters", false, false, &arr) < 0) return -1;
    if (!arr) return 0;
    size_t mark = kf_jpath_push_key(jp, "filters");
    for (const cJSON *f = arr->child; f; f = f->next, i++) {
        size_t m2 = kf_jpath_push_index(jp, i);
        if (!cJSON_IsObject(f)) return kf_jpath_fail_got(jp, f, "expected an object");
        kf_jpath_pop(jp, m2);
    }
    kf_jpath_pop(jp, mark);
    return print_into(jp, arr, &mc->filters_json);
}

static void mapping_defaults(kf_mapping_config *mc)
{
    mc->starting_position = KF_START_EARLIEST;
    mc->batch.max_records = 500;
    mc->batch.max_bytes = 6291456;
    mc->batch.window_ms = 20;
    mc->ordering = KF_ORDER_KEY;
    mc->concurrency.threads = 8;
    mc->concurrency.max_inflight = 10000;
    mc->retry.max_attempts = 5;
    mc->retry.backoff_ms = 100;
    mc->retry.max_backoff_ms = 10000;
    mc->retry.max_record_age_ms = -1;
    mc->commit_interval_ms = 1000;
    mc->revoke_timeout_ms = 10000;
    mc->stall_timeout_ms = 30000;
}

static int parse_mapping(kf_jpath *jp, const cJSON *m, kf_config *cfg, size_t idx)
{
    kf_mapping_config *mc = &cfg->mappings[idx];
    const char *name = NULL, *group = NULL;
    const cJSON *of;
    int ordering = KF_ORDER_KEY;
    size_t mark;
    char self[64];

    mapping_defaults(mc);
    if (!cJSON_IsObject(m)) return kf_jpath_fail_got(jp, m, "expected an object");
    if (kf_jpath_check_keys(jp, m, MAPPING_KEYS, NULL) < 0 ||
        kf_jpath_string(jp, m, "name", true, &name) < 0)
        return -1;
    if (!valid_name(name))
        return kf_jpath_fail_key(jp, m, "name",
                                 "expected a name of 1..128 characters [A-Za-z0-9._-]");
    for (size_t j = 0; j < idx; j++)
        if (strcmp(cfg->mappings[j].name, name) == 0)
            return kf_jpath_fail_key(jp, m, "name", "expected a name not used by mappings[%zu]", j);
    if (dup_into(jp, name, &mc->name) < 0 || parse_topics(jp, m, mc) < 0 ||
        kf_jpath_string(jp, m, "group_id", false, &group) < 0)
        return -1;
    if (group) {
        if (dup_into(jp, group, &mc->group_id) < 0) return -1;
    } else if (asprintf(&mc->group_id, "kfleet-%s", name) < 0) {
        mc->group_id = NULL;
        return kf_jpath_fail(jp, "out of memory");
    }
    for (size_t j = 0; j < idx; j++)
        if (strcmp(cfg->mappings[j].group_id, mc->group_id) == 0)
            return group
                       ? kf_jpath_fail_key(jp, m, "group_id",
                                           "expected a consumer group not used by mappings[%zu]", j)
                       : kf_jpath_fail_key(jp, m, "name",
                                           "expected a name whose default group_id is not "
                                           "used by mappings[%zu]",
                                           j);
    if (parse_start(jp, m, mc) < 0 || parse_handler(jp, m, mc) < 0 ||
        parse_batch_and_concurrency(jp, m, mc) < 0 ||
        kf_jpath_enum(jp, m, "ordering", ORDERINGS, &ordering) < 0 ||
        kf_jpath_bool(jp, m, "exactly_once", &mc->exactly_once) < 0 || parse_retry(jp, m, mc) < 0)
        return -1;
    mc->ordering = (kf_ordering)ordering;
    /* Exactly-once commits are Kafka transactions: short intervals keep the
     * outputs' latency (read_committed) low. */
    if (mc->exactly_once) mc->commit_interval_ms = 100;
    mc->idempotency.window_ms = 3600000;
    if (parse_idempotency(jp, m, mc) < 0) return -1;
    if (enter(jp, m, "on_failure", ON_FAILURE_KEYS, &of, &mark) < 0) return -1;
    if (of && get_topic(jp, of, "topic", true, &mc->on_failure.topic) < 0) return -1;
    kf_jpath_pop(jp, mark);
    snprintf(self, sizeof(self), "mappings[%zu].group_id", idx);
    if (parse_sinks(jp, m, mc) < 0 || parse_filters(jp, m, mc) < 0 ||
        kf_jpath_int(jp, m, "commit_interval_ms", false, 10, 600000, &mc->commit_interval_ms) < 0 ||
        kf_jpath_int(jp, m, "revoke_timeout_ms", false, 0, 600000, &mc->revoke_timeout_ms) < 0 ||
        kf_jpath_int(jp, m, "stall_timeout_ms", false, 0, 3600000, &mc->stall_timeout_ms) < 0 ||
        kf_config_parse_props(jp, m, "consumer", KF_PROPS_CONSUMER, self, &mc->consumer) < 0 ||
        kf_config_parse_props(jp, m, "producer", KF_PROPS_ANY, NULL, &mc->producer) < 0)
        return -1;
    return 0;
}

/* ---- top level ---- */

static int parse_root(kf_jpath *jp, const cJSON *root, kf_config *cfg)
{
    const cJSON *o, *maps;
    const char *s = NULL;
    size_t mark;
    int level = 1;

    if (!cJSON_IsObject(root)) return kf_jpath_fail_got(jp, root, "expected an object");
    if (kf_jpath_check_keys(jp, root, TOP_KEYS, NULL) < 0) return -1;

    if (enter(jp, root, "kafka", KAFKA_KEYS, &o, &mark) < 0 ||
        kf_jpath_string(jp, o, "brokers", true, &s) < 0 || dup_into(jp, s, &cfg->brokers) < 0 ||
        kf_config_parse_props(jp, o, "properties", KF_PROPS_CONSUMER, "mappings[].group_id",
                              &cfg->kafka) < 0)
        return -1;
    kf_jpath_pop(jp, mark);

    s = "redis://127.0.0.1:6379/0";
    if (enter(jp, root, "redis", REDIS_KEYS, &o, &mark) < 0 ||
        kf_jpath_string(jp, o, "url", false, &s) < 0)
        return -1;
    if (!has_prefix(s, "redis://"))
        return kf_jpath_fail_key(jp, o, "url", "expected a redis://host:port/db URL");
    if (dup_into(jp, s, &cfg->redis_url) < 0) return -1;
    s = "kfleet";
    if (kf_jpath_string(jp, o, "key_prefix", false, &s) < 0 ||
        dup_into(jp, s, &cfg->redis_key_prefix) < 0)
        return -1;
    kf_jpath_pop(jp, mark);

    s = NULL;
    if (enter(jp, root, "metrics", METRICS_KEYS, &o, &mark) < 0 ||
        kf_jpath_string(jp, o, "listen", false, &s) < 0)
        return -1;
    if (s && !valid_listen(s))
        return kf_jpath_fail_key(jp, o, "listen", "expected \"host:port\" with a port 1..65535");
    if (dup_into(jp, s, &cfg->metrics_listen) < 0) return -1;
    kf_jpath_pop(jp, mark);

    if (enter(jp, root, "log", LOG_KEYS, &o, &mark) < 0 ||
        kf_jpath_enum(jp, o, "level", LOG_LEVELS, &level) < 0 ||
        dup_into(jp, LOG_LEVELS[level], &cfg->log_level) < 0)
        return -1;
    kf_jpath_pop(jp, mark);

    cfg->shutdown_timeout_ms = 30000;
    if (kf_jpath_int(jp, root, "shutdown_timeout_ms", false, 0, 3600000,
                     &cfg->shutdown_timeout_ms) < 0 ||
        kf_jpath_array(jp, root, "mappings", true, true, &maps) < 0)
        return -1;
    size_t n = (size_t)cJSON_GetArraySize(maps), i = 0;
    cfg->mappings = calloc(n, sizeof(*cfg->mappings));
    if (!cfg->mappings) return kf_jpath_fail(jp, "out of memory");
    cfg->mapping_count = n;
    mark = kf_jpath_push_key(jp, "mappings");
    for (const cJSON *m = maps->child; m; m = m->next, i++) {
        size_t m2 = kf_jpath_push_index(jp, i);
        if (parse_mapping(jp, m, cfg, i) < 0) return -1;
        kf_jpath_pop(jp, m2);
    }
    kf_jpath_pop(jp, mark);
    return 0;
}

/* Names the line and column of a syntax error and the text around it.
 * cJSON's error offset can be a character past the real culprit, so the
 * excerpt starts a little before it, within the same line. */
static void syntax_error(const char *origin, const char *json, size_t len, const char *at,
                         char *err, size_t errlen)
{
    size_t off = at && at >= json && at <= json + len ? (size_t)(at - json) : 0;
    size_t line = 1, col = 1, line_start = 0;
    for (size_t i = 0; i < off; i++) {
        if (json[i] == '\n')
            line++, col = 1, line_start = i + 1;
        else
            col++;
    }
    if (off >= len) {
        snprintf(err, errlen, "%s: line %zu, column %zu: invalid JSON (unexpected end of input)",
                 origin, line, col);
        return;
    }
    char near[40];
    size_t n = 0, from = off - line_start > 12 ? off - 12 : line_start;
    for (size_t i = from; i < len && json[i] != '\n' && n < 24; i++)
        near[n++] = (unsigned char)json[i] < 0x20 ? ' ' : json[i];
    near[n] = '\0';
    snprintf(err, errlen, "%s: line %zu, column %zu: invalid JSON near '%s'", origin, line, col,
             near);
}

/* `json` must have a NUL at json[len]. */
static int load(const char *json, size_t len, const char *origin, const char *dir, kf_config **out,
                char *err, size_t errlen)
{
    kf_jpath jp;
    const char *end = NULL;
    kf_jpath_init(&jp, origin, err, errlen);
    *out = NULL;
    if (memchr(json, '\0', len)) {
        snprintf(err, errlen, "%s: expected JSON text, got a NUL byte at offset %zu", jp.origin,
                 (size_t)((const char *)memchr(json, '\0', len) - json));
        return -1;
    }
    cJSON *root = cJSON_ParseWithLengthOpts(json, len + 1, &end, 1);
    if (!root) {
        syntax_error(jp.origin, json, len, end, err, errlen);
        return -1;
    }
    kf_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        cJSON_Delete(root);
        snprintf(err, errlen, "%s: out of memory", jp.origin);
        return -1;
    }
    int rc = -1;
    if (dup_into(&jp, jp.origin, &cfg->path) < 0 || dup_into(&jp, dir, &cfg->dir) < 0 ||
        kf_jpath_expand_env(&jp, root) < 0 || parse_root(&jp, root, cfg) < 0)
        goto done;
    rc = 0;
done:
    cJSON_Delete(root);
    if (rc < 0)
        kf_config_destroy(cfg);
    else
        *out = cfg;
    return rc;
}

int kf_config_load_string(const char *json, const char *origin, kf_config **out, char *err,
                          size_t errlen)
{
    return load(json, strlen(json), origin, ".", out, err, errlen);
}

int kf_config_load_file(const char *path, kf_config **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL, *copy = NULL;
    size_t len = 0, cap = 0;
    int rc = -1;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (ferror(f)) {
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            goto out;
        }
        if (len > MAX_FILE_BYTES) {
            snprintf(err, errlen, "%s: expected a config file of at most 16 MiB", path);
            goto out;
        }
        if (n == 0 && feof(f)) break;
    }
    buf[len] = '\0';
    copy = strdup(path);
    if (!copy) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    rc = load(buf, len, path, dirname(copy), out, err, errlen);
out:
    fclose(f);
    free(buf);
    free(copy);
    return rc;
}

static void sink_free(kf_sink_config *s)
{
    free(s->name);
    free(s->topic);
    free(s->key);
    free(s->url);
    kf_config_props_free(&s->headers);
}

static void mapping_free(kf_mapping_config *m)
{
    free(m->name);
    for (size_t i = 0; i < m->topic_count; i++)
        free(m->topics[i]);
    free(m->topics);
    free(m->group_id);
    free(m->handler.path);
    free(m->handler.config_json);
    free(m->on_failure.topic);
    free(m->idempotency.key_header);
    free(m->idempotency.key_json);
    for (size_t i = 0; i < m->sink_count; i++)
        sink_free(&m->sinks[i]);
    free(m->sinks);
    free(m->filters_json);
    kf_config_props_free(&m->consumer);
    kf_config_props_free(&m->producer);
}

void kf_config_destroy(kf_config *cfg)
{
    if (!cfg) return;
    free(cfg->path);
    free(cfg->dir);
    free(cfg->brokers);
    kf_config_props_free(&cfg->kafka);
    free(cfg->redis_url);
    free(cfg->redis_key_prefix);
    free(cfg->metrics_listen);
    free(cfg->log_level);
    for (size_t i = 0; i < cfg->mapping_count; i++)
        mapping_free(&cfg->mappings[i]);
    free(cfg->mappings);
    free(cfg);
}

const kf_sink_config *kf_config_find_sink(const kf_mapping_config *m, const char *name)
{
    if (!m || !name) return NULL;
    for (size_t i = 0; i < m->sink_count; i++)
        if (m->sinks[i].name && strcmp(m->sinks[i].name, name) == 0) return &m->sinks[i];
    return NULL;
}

const char *kf_sink_type_name(kf_sink_type t)
{
    return (unsigned)t < sizeof(SINK_TYPES) / sizeof(SINK_TYPES[0]) - 1 ? SINK_TYPES[t] : "unknown";
}
