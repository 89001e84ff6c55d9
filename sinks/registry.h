/*
 * The sink types kfleet knows: the built-in ones (kafka, redis, http,
 * stdout, null) and any a program or test registers. Each type is its
 * kf_sink_ops (sink.h): how to open and drive it, its capability flags and
 * its own config keys.
 *
 * Registering a type also registers its config table with config/
 * (config/sink_types.h), so `type` accepts its name and `kfleet config
 * reference` documents its keys; the id config/ gives it is the
 * kf_sink_config.type of its sinks.
 *
 * Call kf_sinks_init before loading a config (config/ cannot reach sinks/
 * to do it itself): src/cli.c does, and so do the tests. The sink functions
 * of sink.h call it themselves. Threads: register at start-up, before
 * mappings start; lookups are safe from any thread afterwards.
 */
#ifndef KF_SINKS_REGISTRY_H
#define KF_SINKS_REGISTRY_H

#include "sinks/sink.h"

#include <stddef.h>

/* Registers the built-in types with their KF_SINK_* ids, once per process
 * (later calls do nothing). */
void kf_sinks_init(void);

/* Registers a type (after the built-in ones). Returns its id, or -1 with a
 * sentence in err when its name is taken or there is no room. Registering
 * the same ops again returns the same id. `ops` must outlive the process's
 * use of it (a static). */
kf_sink_type kf_sink_register(const kf_sink_ops *ops, char *err, size_t errlen);

/* A registered type by config name, or NULL. */
const kf_sink_ops *kf_sink_find(const char *type);

/* A registered type by id (kf_sink_config.type), or NULL. */
const kf_sink_ops *kf_sink_ops_by_id(kf_sink_type id);

/* Iteration: ids 0..kf_sink_type_count()-1, in registration order. */
size_t kf_sink_type_count(void);

#endif /* KF_SINKS_REGISTRY_H */
