/*
 * The sink types' registry on the config side and the "sinks" array reader:
 * see sink_types.h.
 */
#include "config/sink_types.h"
#include "config/config_props.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sink_type {
    const char *name;
    const kf_cfg_table *keys;
} sink_type;

/* Entries below `count` never change once written: readers need no lock. */
static sink_type types[KF_CFG_MAX_SINK_TYPES];
static atomic_size_t count;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

kf_sink_type kf_cfg_sink_type_register(const char *name, const kf_cfg_table *keys)
{
    kf_sink_type id = -1;
    pthread_mutex_lock(&reg_lock);
    size_t n = atomic_load(&count);
    for (size_t i = 0; i < n; i++)
        if (strcmp(types[i].name, name) == 0) {
            id = types[i].keys == keys ? (kf_sink_type)i : -1;
            goto out;
        }
    if (n < KF_CFG_MAX_SINK_TYPES) {
        types[n] = (sink_type){.name = name, .keys = keys};
        atomic_store(&count, n + 1);
        id = (kf_sink_type)n;
    }
out:
    pthread_mutex_unlock(&reg_lock);
    return id;
}

size_t kf_cfg_sink_type_count(void)
{
    return atomic_load(&count);
}

kf_sink_type kf_cfg_sink_type_find(const char *name)
{
    size_t n = atomic_load(&count);
    for (size_t i = 0; i < n; i++)
        if (strcmp(types[i].name, name) == 0) return (kf_sink_type)i;
    return -1;
}

const char *kf_cfg_sink_type_name(kf_sink_type id)
{
    return id >= 0 && (size_t)id < atomic_load(&count) ? types[id].name : NULL;
}

const kf_cfg_table *kf_cfg_sink_type_keys(kf_sink_type id)
{
    return id >= 0 && (size_t)id < atomic_load(&count) ? types[id].keys : NULL;
}

/* ---- name and type ---- */

/* What the readers of one sink need: the mapping and the sink's index. */
typedef struct sink_ctx {
    kf_mapping_config *mc;
    size_t idx;
} sink_ctx;

static int read_name(kf_jpath *jp, const cJSON *s, const kf_cfg_key *k, void *base, void *ctx)
{
    const sink_ctx *c = ctx;
    return kf_cfg_read_unique_name(jp, s, k, base, c->mc->sinks, sizeof(kf_sink_config), c->idx,
                                   "sinks");
}

/* The registered names, in id order, NULL-terminated; "a, b" into list. */
static size_t type_names(const char **names, char *list, size_t listlen)
{
    size_t n = kf_cfg_sink_type_count(), o = 0;
    list[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        names[i] = kf_cfg_sink_type_name((kf_sink_type)i);
        int w = snprintf(list + o, listlen - o, "%s%s", i ? ", " : "", names[i]);
        if (w > 0 && (size_t)w < listlen - o) o += (size_t)w;
    }
    names[n] = NULL;
    return n;
}

static int read_type(kf_jpath *jp, const cJSON *s, const kf_cfg_key *k, void *base, void *ctx)
{
    (void)ctx;
    const char *names[KF_CFG_MAX_SINK_TYPES + 1];
    char list[512];
    int id = -1;
    if (type_names(names, list, sizeof list) == 0) {
        kf_jpath_push_key(jp, k->name);
        return kf_jpath_fail(jp, "no sink type is registered (kf_sinks_init was not called)");
    }
    if (kf_jpath_enum(jp, s, k->name, names, &id) < 0) return -1;
    if (id < 0) {
        kf_jpath_push_key(jp, k->name);
        return kf_jpath_fail(jp, "required key is missing (expected one of %s)", list);
    }
    *KF_CFG_FIELD(base, k, kf_sink_type) = id;
    return 0;
}

/* A breaker that waits longer before its first probe than between later
 * ones would never grow its wait. */
static int check_breaker(kf_jpath *jp, const cJSON *o, void *base, void *ctx)
{
    (void)ctx;
    const kf_breaker_config *b = &((const kf_sink_config *)base)->breaker;
    if (b->max_probe_ms < b->probe_ms)
        return kf_jpath_fail_key(jp, o, "max_probe_ms", "expected an integer >= probe_ms (%d)",
                                 b->probe_ms);
    return 0;
}

#define BAT(field) offsetof(kf_sink_config, breaker.field)
static const kf_cfg_key BREAKER_KEYS[] = {
    {.name = "failures",
     .kind = KF_CFG_INT,
     .at = BAT(failures),
     .min = 0,
     .max = 1000000,
     .def = 5,
     .range_doc = "0 (no breaker) or more",
     .doc = "consecutive transient failures of this sink, across records, that open the "
            "breaker: the mapping's partitions pause and no record spends an attempt"},
    {.name = "probe_ms",
     .kind = KF_CFG_INT,
     .at = BAT(probe_ms),
     .min = 1,
     .max = 3600000,
     .def = 500,
     .doc = "how long an open breaker waits before it lets one record through as a probe; "
            "each failed probe doubles the wait"},
    {.name = "max_probe_ms",
     .kind = KF_CFG_INT,
     .at = BAT(max_probe_ms),
     .min = 1,
     .max = 3600000,
     .def = 10000,
     .range_doc = "`probe_ms`..3600000",
     .doc = "the longest wait between probes"},
};

static const kf_cfg_table BREAKER = {
    .doc = "the sink's circuit breaker (see Failure handling)",
    .keys = BREAKER_KEYS,
    .count = KF_CFG_COUNT(BREAKER_KEYS),
    .check = check_breaker,
};

static const kf_cfg_key COMMON_KEYS[] = {
    {.name = "name",
     .kind = KF_CFG_CUSTOM,
     .flags = KF_CFG_REQUIRED,
     .read = read_name,
     .at = offsetof(kf_sink_config, name),
     .type_doc = "string",
     .range_doc = "1..128 of `[A-Za-z0-9._-]`, unique in the mapping",
     .doc = "names the sink in `kf_emit`, metrics and idempotency keys"},
    {.name = "type",
     .kind = KF_CFG_CUSTOM,
     .flags = KF_CFG_REQUIRED,
     .read = read_type,
     .at = offsetof(kf_sink_config, type),
     .type_doc = "string",
     .range_doc = "a sink type (below)",
     .doc = "which sink; the keys of each type are below"},
    {.name = "breaker", .kind = KF_CFG_OBJECT, .sub = &BREAKER},
};

const kf_cfg_table kf_cfg_sink_common = {
    .doc = "every sink: a name and a type, plus the keys of its type",
    .keys = COMMON_KEYS,
    .count = KF_CFG_COUNT(COMMON_KEYS),
};

/* ---- the array ---- */

static int read_sink(kf_jpath *jp, const cJSON *s, size_t i, void *ctx)
{
    kf_mapping_config *mc = ctx;
    kf_sink_config *sc = &mc->sinks[i];
    sink_ctx c = {.mc = mc, .idx = i};
    if (!cJSON_IsObject(s)) return kf_jpath_fail_got(jp, s, "expected an object");
    if (kf_cfg_read_rows(jp, &kf_cfg_sink_common, s, sc, &c) < 0) return -1;
    static const kf_cfg_table no_keys = {.doc = NULL};
    const kf_cfg_table *own = kf_cfg_sink_type_keys(sc->type);
    if (!own) own = &no_keys; /* registered without keys of its own */
    const kf_cfg_table *both[] = {&kf_cfg_sink_common, own};
    char what[64];
    snprintf(what, sizeof what, "for a %s sink", kf_cfg_sink_type_name(sc->type));
    if (kf_cfg_check_keys(jp, s, both, 2, what) < 0 || kf_cfg_read_rows(jp, own, s, sc, &c) < 0)
        return -1;
    return own->check ? own->check(jp, s, sc, &c) : 0;
}

int kf_cfg_read_sinks(kf_jpath *jp, const cJSON *m, const kf_cfg_key *k, void *base, void *ctx)
{
    (void)ctx;
    kf_mapping_config *mc = base;
    const cJSON *arr;
    if (kf_jpath_array(jp, m, k->name, true, true, &arr) < 0) return -1;
    size_t n = (size_t)cJSON_GetArraySize(arr);
    mc->sinks = calloc(n, sizeof(*mc->sinks));
    if (!mc->sinks) return kf_jpath_fail(jp, "out of memory");
    mc->sink_count = n;
    return kf_cfg_each(jp, k->name, arr, read_sink, mc);
}

/* Every slot, whatever the type: a sink that failed half-way was read by the
 * common keys and maybe a part of its type's. */
static void sink_free(kf_sink_config *s)
{
    free(s->name);
    free(s->topic);
    free(s->key);
    free(s->url);
    kf_config_props_free(&s->headers);
}

void kf_cfg_free_sinks(const kf_cfg_key *k, void *base)
{
    (void)k;
    kf_mapping_config *mc = base;
    for (size_t i = 0; i < mc->sink_count; i++)
        sink_free(&mc->sinks[i]);
    free(mc->sinks);
    mc->sinks = NULL;
    mc->sink_count = 0;
}
