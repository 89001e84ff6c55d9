/*
 * One mapping at run time: its handler, sinks, dead-letter sink, filter,
 * dispatcher and consumer, and the thread that owns the consumer.
 *
 * Lifecycle: kf_mapping_start builds everything and starts the consumer
 * thread; kf_mapping_stop asks it to stop fetching; kf_mapping_finish waits
 * for in-flight records (up to the deadline), flushes the sinks, commits and
 * leaves the group, then frees everything.
 */
#ifndef KF_MAPPING_H
#define KF_MAPPING_H

#include "config/config.h"
#include "common/metrics.h"
#include "handlers/loader.h"

#include <stddef.h>

typedef struct kf_mapping kf_mapping;

/* Resolves a handler path: as written when it exists, else relative to the
 * config file's directory. Writes into out. */
void kf_mapping_handler_path(const kf_config *cfg, const kf_mapping_config *m, char *out,
                             size_t outlen);

/* Loads a mapping's handler (the cold start). */
kf_loaded_handler *kf_mapping_load_handler(const kf_config *cfg, const kf_mapping_config *m,
                                           char *err, size_t errlen);

kf_mapping *kf_mapping_start(const kf_config *cfg, const kf_mapping_config *m, char *err,
                             size_t errlen);

/* Asks the consumer thread to stop fetching. Async-signal-unsafe; call from a
 * normal thread. */
void kf_mapping_stop(kf_mapping *mp);

/* Waits, flushes, commits, leaves and frees, within deadline_ms for the
 * in-flight part. Returns 0 when everything in flight finished. Accepts NULL. */
int kf_mapping_finish(kf_mapping *mp, int deadline_ms);

kf_metrics *kf_mapping_metrics(kf_mapping *mp);
const kf_mapping_config *kf_mapping_config_of(const kf_mapping *mp);
long kf_mapping_handler_init_us(const kf_mapping *mp);

/* `kfleet redrive`'s counters (consumer/redrive.h), NULL for a mapping that
 * is not a redrive. Valid until kf_mapping_finish. */
const struct kf_redrive_progress *kf_mapping_redrive_progress(const kf_mapping *mp);

#endif
