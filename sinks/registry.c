/*
 * See registry.h. The ops live in a table indexed by the id config/ gives
 * each type, so config/'s registry and this one cannot disagree on ids.
 */
#include "sinks/registry.h"
#include "config/sink_types.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* Entries are written once, before the id is handed out. */
static const kf_sink_ops *_Atomic by_id[KF_CFG_MAX_SINK_TYPES];
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;

static kf_sink_type add(const kf_sink_ops *ops, char *err, size_t errlen)
{
    kf_sink_type id = kf_cfg_sink_type_register(ops->type, ops->config);
    if (id < 0) {
        snprintf(err, errlen, "sink type %s: its name is taken or there is no room (at most %d)",
                 ops->type, KF_CFG_MAX_SINK_TYPES);
        return -1;
    }
    atomic_store(&by_id[id], ops);
    return id;
}

/* The KF_SINK_* ids are the registration order: a type registered with
 * config/ before this ran would shift them, which is a programming error. */
static void register_builtins(void)
{
    static const kf_sink_ops *const builtins[KF_SINK_BUILTIN_COUNT] = {
        [KF_SINK_KAFKA] = &kf_sink_kafka_ops, [KF_SINK_REDIS] = &kf_sink_redis_ops,
        [KF_SINK_HTTP] = &kf_sink_http_ops,   [KF_SINK_STDOUT] = &kf_sink_stdout_ops,
        [KF_SINK_NULL] = &kf_sink_null_ops,
    };
    char err[256] = "";
    for (int i = 0; i < KF_SINK_BUILTIN_COUNT; i++) {
        if (add(builtins[i], err, sizeof err) != i) {
            fprintf(stderr, "kfleet: built-in sink type %s did not get id %d: %s\n",
                    builtins[i]->type, i, err);
            abort();
        }
    }
}

void kf_sinks_init(void)
{
    pthread_once(&builtins_once, register_builtins);
}

kf_sink_type kf_sink_register(const kf_sink_ops *ops, char *err, size_t errlen)
{
    kf_sinks_init();
    return add(ops, err, errlen);
}

const kf_sink_ops *kf_sink_ops_by_id(kf_sink_type id)
{
    kf_sinks_init();
    return id >= 0 && id < KF_CFG_MAX_SINK_TYPES ? atomic_load(&by_id[id]) : NULL;
}

const kf_sink_ops *kf_sink_find(const char *type)
{
    return kf_sink_ops_by_id(type ? kf_cfg_sink_type_find(type) : -1);
}

size_t kf_sink_type_count(void)
{
    kf_sinks_init();
    return kf_cfg_sink_type_count();
}
