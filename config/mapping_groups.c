/*
 * The objects inside a mapping: handler, batch, concurrency, retry,
 * on_failure, idempotency. Their rows land in the kf_mapping_config (the
 * base of the mapping's table), in the struct of the same name.
 */
#include "config/config.h"
#include "config/schema.h"
#include "config/validate.h"

#include <stddef.h>
#include <stdlib.h>

#define AT(field) offsetof(kf_mapping_config, field)

/* ---- handler ---- */

/* handler.config: any object, kept serialised for the handler's init. */
static int read_handler_config(kf_jpath *jp, const cJSON *h, const kf_cfg_key *k, void *base,
                               void *ctx)
{
    (void)ctx;
    const cJSON *conf;
    char **dst = KF_CFG_FIELD(base, k, char *);
    if (kf_jpath_object(jp, h, k->name, false, &conf) < 0) return -1;
    return conf ? kf_cfg_dup_json(jp, conf, dst) : kf_cfg_dup(jp, "{}", dst);
}

static const kf_cfg_key HANDLER_KEYS[] = {
    {.name = "path",
     .kind = KF_CFG_STRING,
     .flags = KF_CFG_REQUIRED,
     .at = AT(handler.path),
     .doc = "the `.so`; a relative path is tried from the working directory, then from the "
            "config file's directory"},
    {.name = "config",
     .kind = KF_CFG_CUSTOM,
     .read = read_handler_config,
     .free = kf_cfg_free_string,
     .at = AT(handler.config_json),
     .type_doc = "object",
     .default_doc = "`{}`",
     .doc = "any JSON object, given to the handler's `init`"},
};

const kf_cfg_table kf_cfg_handler = {
    .doc = "the handler shared object",
    .keys = HANDLER_KEYS,
    .count = KF_CFG_COUNT(HANDLER_KEYS),
};

/* ---- batch ---- */

static const kf_cfg_key BATCH_KEYS[] = {
    {.name = "max_records",
     .kind = KF_CFG_INT,
     .at = AT(batch.max_records),
     .min = 1,
     .max = 10000,
     .def = 500,
     .doc = "records per batch"},
    {.name = "max_bytes",
     .kind = KF_CFG_INT64,
     .at = AT(batch.max_bytes),
     .min = 1,
     .max = 67108864,
     .def = 6291456,
     .doc = "bytes per batch"},
    {.name = "window_ms",
     .kind = KF_CFG_INT,
     .at = AT(batch.window_ms),
     .min = 0,
     .max = 300000,
     .def = 20,
     .doc = "how long a batch waits to fill"},
};

const kf_cfg_table kf_cfg_batch = {
    .doc = "how records are batched for the dispatcher",
    .keys = BATCH_KEYS,
    .count = KF_CFG_COUNT(BATCH_KEYS),
};

/* ---- concurrency ---- */

/* A batch larger than the in-flight bound could never be dispatched. */
static int check_concurrency(kf_jpath *jp, const cJSON *o, void *base, void *ctx)
{
    (void)ctx;
    const kf_mapping_config *mc = base;
    if (mc->concurrency.max_inflight < mc->batch.max_records)
        return kf_jpath_fail_key(jp, o, "max_inflight_records",
                                 "expected an integer >= batch.max_records (%d)",
                                 mc->batch.max_records);
    return 0;
}

/* concurrency.threads as an object: the bounds of a pool that follows the
 * load. max lands in `threads`, so every reader of the pool's size (the
 * sinks' env, the logs) sees its upper bound. */
static int check_threads(kf_jpath *jp, const cJSON *o, void *base, void *ctx)
{
    (void)ctx;
    const kf_concurrency_config *cc = &((const kf_mapping_config *)base)->concurrency;
    if (cc->threads_min > cc->threads)
        return kf_jpath_fail_key(jp, o, "min", "expected an integer 1..max (%d)", cc->threads);
    return 0;
}

static const kf_cfg_key THREADS_KEYS[] = {
    {.name = "min",
     .kind = KF_CFG_INT,
     .flags = KF_CFG_REQUIRED,
     .at = AT(concurrency.threads_min),
     .min = 1,
     .max = 1024,
     .range_doc = "1..`max`",
     .doc = "workers kept when there is nothing to do"},
    {.name = "max",
     .kind = KF_CFG_INT,
     .flags = KF_CFG_REQUIRED,
     .at = AT(concurrency.threads),
     .min = 1,
     .max = 1024,
     .doc = "workers at most, added while records wait and every worker is busy"},
};

static const kf_cfg_table THREADS = {
    .doc = "bounds of a pool that follows the load",
    .keys = THREADS_KEYS,
    .count = KF_CFG_COUNT(THREADS_KEYS),
    .check = check_threads,
};

/* An integer (a fixed pool) or {"min": a, "max": b}. */
static int read_threads(kf_jpath *jp, const cJSON *o, const kf_cfg_key *k, void *base, void *ctx)
{
    kf_concurrency_config *cc = &((kf_mapping_config *)base)->concurrency;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k->name);
    int64_t n = k->def;
    if (cJSON_IsObject(v)) {
        size_t mark = kf_jpath_push_key(jp, k->name);
        if (kf_cfg_read(jp, &THREADS, v, base, ctx) < 0) return -1;
        kf_jpath_pop(jp, mark);
        return 0;
    }
    if (v && (!kf_jpath_is_integer(v, &n) || n < k->min || n > k->max))
        return kf_jpath_fail_key(jp, o, k->name,
                                 "expected an integer %lld..%lld or {\"min\": a, \"max\": b}",
                                 (long long)k->min, (long long)k->max);
    cc->threads = cc->threads_min = (int)n;
    return 0;
}

static const kf_cfg_key CONCURRENCY_KEYS[] = {
    {.name = "threads",
     .kind = KF_CFG_CUSTOM,
     .read = read_threads,
     .sub = &THREADS,
     .min = 1,
     .max = 1024,
     .def = 8,
     .type_doc = "integer or object",
     .default_doc = "8",
     .range_doc = "1..1024, or `{\"min\": a, \"max\": b}`",
     .doc = "worker threads: a fixed number, or bounds between which the pool follows the load "
            "(see Semantics)"},
    {.name = "max_inflight_records",
     .kind = KF_CFG_INT,
     .at = AT(concurrency.max_inflight),
     .min = 1,
     .max = 1000000,
     .def = 10000,
     .doc = "above this the partitions are paused (backpressure); at least `batch.max_records`"},
};

const kf_cfg_table kf_cfg_concurrency = {
    .doc = "worker threads and backpressure",
    .keys = CONCURRENCY_KEYS,
    .count = KF_CFG_COUNT(CONCURRENCY_KEYS),
    .check = check_concurrency,
};

/* ---- retry ---- */

/* At least backoff_ms; an absent cap below backoff_ms is raised to it
 * rather than failing. */
static int read_max_backoff(kf_jpath *jp, const cJSON *r, const kf_cfg_key *k, void *base,
                            void *ctx)
{
    (void)ctx;
    kf_retry_config *rc = &((kf_mapping_config *)base)->retry;
    int v = (int)k->def;
    if (!cJSON_GetObjectItemCaseSensitive(r, k->name) && v < rc->backoff_ms) v = rc->backoff_ms;
    if (kf_jpath_int(jp, r, k->name, false, rc->backoff_ms, (int)k->max, &v) < 0) return -1;
    rc->max_backoff_ms = v;
    return 0;
}

static int read_max_record_age(kf_jpath *jp, const cJSON *r, const kf_cfg_key *k, void *base,
                               void *ctx)
{
    (void)ctx;
    const cJSON *age = cJSON_GetObjectItemCaseSensitive(r, k->name);
    int64_t v = k->def;
    if (age && (!kf_jpath_is_integer(age, &v) || (v != -1 && v < 1)))
        return kf_jpath_fail_key(jp, r, k->name, "expected -1 (no limit) or an integer >= 1");
    *KF_CFG_FIELD(base, k, int64_t) = v;
    return 0;
}

static const kf_cfg_key RETRY_KEYS[] = {
    {.name = "max_attempts",
     .kind = KF_CFG_INT,
     .at = AT(retry.max_attempts),
     .min = 1,
     .max = 1000,
     .def = 5,
     .doc = "attempts before a record goes to `on_failure`"},
    {.name = "backoff_ms",
     .kind = KF_CFG_INT,
     .at = AT(retry.backoff_ms),
     .min = 1,
     .max = 3600000,
     .def = 100,
     .doc = "the first backoff; each retry doubles it, with jitter"},
    {.name = "max_backoff_ms",
     .kind = KF_CFG_CUSTOM,
     .read = read_max_backoff,
     .at = AT(retry.max_backoff_ms),
     .max = 3600000,
     .def = 10000,
     .type_doc = "integer",
     .default_doc = "10000 (at least `backoff_ms`)",
     .range_doc = "`backoff_ms`..3600000",
     .doc = "the longest backoff"},
    {.name = "max_record_age_ms",
     .kind = KF_CFG_CUSTOM,
     .read = read_max_record_age,
     .at = AT(retry.max_record_age_ms),
     .def = -1,
     .type_doc = "integer",
     .default_doc = "-1",
     .range_doc = "-1 (no limit) or >= 1",
     .doc = "older records go to `on_failure` without another attempt (needs `on_failure`)"},
    {.name = "max_crashes",
     .kind = KF_CFG_INT,
     .at = AT(retry.max_crashes),
     .min = 1,
     .max = 1000,
     .def = 3,
     .doc = "times a record may crash the process (a handler's SIGSEGV, SIGBUS, SIGFPE, "
            "SIGILL or SIGABRT) before the next owner sends it to `on_failure` instead of "
            "running it (see Failure handling)"},
    {.name = "bisect",
     .kind = KF_CFG_BOOL,
     .at = AT(retry.bisect),
     .doc = "a `handle_batch` call whose records all fail alike is split in halves and each "
            "half called again, down to the failing records (Lambda's "
            "BisectBatchOnFunctionError; see Failure handling)"},
};

const kf_cfg_table kf_cfg_retry = {
    .doc = "retries of records whose handler or sinks asked for one",
    .keys = RETRY_KEYS,
    .count = KF_CFG_COUNT(RETRY_KEYS),
};

/* ---- on_failure ---- */

static const char *const ON_FAILURE_MODES[] = {"dead_letter", "park",
                                               NULL}; /* kf_on_failure_mode */

/* dead_letter needs its topic; park keeps a key's order, so it needs key
 * ordering, and its store is fenced by the exactly-once epochs. */
static int check_on_failure(kf_jpath *jp, const cJSON *o, void *base, void *ctx)
{
    (void)ctx;
    const kf_mapping_config *m = base;
    if (m->on_failure.mode == KF_ON_FAILURE_DEAD_LETTER && !m->on_failure.topic)
        return kf_jpath_fail_key(jp, o, "topic", "required key is missing");
    if (m->on_failure.mode == KF_ON_FAILURE_PARK && m->ordering != KF_ORDER_KEY)
        return kf_jpath_fail_key(
            jp, o, "mode", "\"park\" needs \"ordering\": \"key\" (it keeps each key's order)");
    if (m->on_failure.mode == KF_ON_FAILURE_PARK && !m->exactly_once)
        return kf_jpath_fail_key(jp, o, "mode",
                                 "\"park\" needs \"exactly_once\": true (the parked store is "
                                 "fenced by its epochs)");
    return 0;
}

static const kf_cfg_key ON_FAILURE_KEYS[] = {
    {.name = "mode",
     .kind = KF_CFG_ENUM,
     .at = AT(on_failure.mode),
     .names = ON_FAILURE_MODES,
     .def = KF_ON_FAILURE_DEAD_LETTER,
     .doc = "`dead_letter`: a record that exhausts its attempts goes to `topic`; `park`: it "
            "parks its key in Redis, with every later record of that key, until `kfleet "
            "parked retry` releases it in order (needs `ordering` `key` and `exactly_once`; "
            "see Failure handling)"},
    {.name = "topic",
     .kind = KF_CFG_STRING,
     .at = AT(on_failure.topic),
     .valid = kf_cfg_valid_topic,
     .expected = KF_CFG_TOPIC_EXPECTED,
     .range_doc = "topic name",
     .default_doc = "required with `dead_letter`",
     .doc = "the dead-letter topic (with headers saying why, how many attempts, and where "
            "the record came from); with `park`, where `kfleet parked drop` sends a key's "
            "records"},
};

const kf_cfg_table kf_cfg_on_failure = {
    .doc = "where failed records go; without it they are retried forever, loudly",
    .keys = ON_FAILURE_KEYS,
    .count = KF_CFG_COUNT(ON_FAILURE_KEYS),
    .check = check_on_failure,
};

/* ---- idempotency ---- */

/* "header:<name>" or "json:<field>[.<field>...]". */
static int read_idempotency_key(kf_jpath *jp, const cJSON *o, const kf_cfg_key *k, void *base,
                                void *ctx)
{
    (void)ctx;
    kf_idempotency_config *ic = &((kf_mapping_config *)base)->idempotency;
    const char *key = NULL;
    if (kf_jpath_string(jp, o, k->name, true, &key) < 0) return -1;
    if (kf_cfg_has_prefix(key, "header:")) return kf_cfg_dup(jp, key + 7, &ic->key_header);
    if (kf_cfg_has_prefix(key, "json:")) return kf_cfg_dup(jp, key + 5, &ic->key_json);
    return kf_jpath_fail_key(jp, o, k->name, "expected \"header:<name>\" or \"json:<field>\"");
}

static void free_idempotency_key(const kf_cfg_key *k, void *base)
{
    (void)k;
    kf_idempotency_config *ic = &((kf_mapping_config *)base)->idempotency;
    free(ic->key_header);
    free(ic->key_json);
    ic->key_header = ic->key_json = NULL;
}

/* The markers live in the exactly-once Redis state. */
static int check_idempotency(kf_jpath *jp, const cJSON *o, void *base, void *ctx)
{
    (void)ctx;
    if (((kf_mapping_config *)base)->exactly_once) return 0;
    return kf_jpath_fail_key(jp, o, "key",
                             "needs \"exactly_once\": true (the markers live in its Redis state)");
}

static const kf_cfg_key IDEMPOTENCY_KEYS[] = {
    {.name = "key",
     .kind = KF_CFG_CUSTOM,
     .flags = KF_CFG_REQUIRED,
     .read = read_idempotency_key,
     .free = free_idempotency_key,
     .type_doc = "string",
     .range_doc = "`header:<name>` or `json:<field>[.<field>...]`",
     .doc = "where a record's business key is: a header, or a JSON field of the value"},
    {.name = "window_ms",
     .kind = KF_CFG_INT64,
     .at = AT(idempotency.window_ms),
     .min = 1,
     .max = 604800000,
     .def = 3600000,
     .doc = "a second record with the same business key within this window is skipped"},
};

const kf_cfg_table kf_cfg_idempotency = {
    .doc = "business-key dedupe; needs `exactly_once`",
    .keys = IDEMPOTENCY_KEYS,
    .count = KF_CFG_COUNT(IDEMPOTENCY_KEYS),
    .check = check_idempotency,
};
