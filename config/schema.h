/*
 * Internal to config/: the tables of the config file, from the root down.
 * Each table is the declaration of one JSON object (table.h); sink types'
 * own tables are registered at run time (sink_types.h).
 */
#ifndef KF_CONFIG_SCHEMA_H
#define KF_CONFIG_SCHEMA_H

#include "config/table.h"

/* The top level: kafka, redis, metrics, log, shutdown_timeout_ms, mappings
 * (root_keys.c). The base is a kf_config. */
extern const kf_cfg_table kf_cfg_root;

/* One entry of "mappings" (mapping_keys.c). The base is a kf_mapping_config. */
extern const kf_cfg_table kf_cfg_mapping;

/* The mapping's objects (mapping_groups.c); same base as kf_cfg_mapping. */
extern const kf_cfg_table kf_cfg_handler, kf_cfg_batch, kf_cfg_concurrency, kf_cfg_retry,
    kf_cfg_on_failure, kf_cfg_idempotency;

/* The root row "mappings": reads the array into kf_config's mappings and
 * mapping_count, and frees it (mapping_keys.c). */
kf_cfg_read_fn kf_cfg_read_mappings;
kf_cfg_free_fn kf_cfg_free_mappings;

#endif /* KF_CONFIG_SCHEMA_H */
