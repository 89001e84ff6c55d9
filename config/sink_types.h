/*
 * The registration point for sink types' configuration keys.
 *
 * config/ knows the keys every sink has (`name`, `type`: kf_cfg_sink_common)
 * and reads a mapping's "sinks" array; each sink type brings the table of its
 * own keys, which land in kf_sink_config's slots. The types register here;
 * `type` accepts exactly the registered names, and a type's id is its
 * registration order.
 *
 * config/ cannot include sinks/, so the built-in types are registered
 * explicitly: kf_sinks_init() (sinks/registry.h) registers them, and whoever
 * loads a config calls it first (src/cli.c, the tests). Explicit rather than
 * a constructor because with static libraries an object file nothing refers
 * to is never linked in, and its constructor would silently not run.
 *
 * Threads: register at start-up, before any config is read; lookups are
 * safe from any thread once registration is over.
 */
#ifndef KF_CONFIG_SINK_TYPES_H
#define KF_CONFIG_SINK_TYPES_H

#include "config/config.h"
#include "config/table.h"

#include <stddef.h>

#define KF_CFG_MAX_SINK_TYPES 32

/*
 * Registers a sink type: its `type` name and the table of its own keys
 * (rows with offsets into kf_sink_config; `doc` says what the sink does).
 * Returns its id, the id it already has when the same name comes again with
 * the same table, or -1 when the name is taken by another table or there is
 * no room.
 */
kf_sink_type kf_cfg_sink_type_register(const char *name, const kf_cfg_table *keys);

/* How many types are registered; their ids are 0..count-1. */
size_t kf_cfg_sink_type_count(void);

/* The id of a registered name, or -1. */
kf_sink_type kf_cfg_sink_type_find(const char *name);

/* A registered type's name and keys; NULL for an id never given. */
const char *kf_cfg_sink_type_name(kf_sink_type id);
const kf_cfg_table *kf_cfg_sink_type_keys(kf_sink_type id);

/* The keys every sink has: name and type. */
extern const kf_cfg_table kf_cfg_sink_common;

/* The mapping row "sinks": reads the array into kf_mapping_config's sinks
 * and sink_count (the base is the mapping); frees it again. */
kf_cfg_read_fn kf_cfg_read_sinks;
kf_cfg_free_fn kf_cfg_free_sinks;

#endif /* KF_CONFIG_SINK_TYPES_H */
