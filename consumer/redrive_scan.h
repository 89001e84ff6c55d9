/*
 * `kfleet redrive --dry-run`: reads what a redrive would read, from the
 * redrive group's committed offsets to each partition's end, and judges
 * each record as the redrive would (redrive.h), without joining the group,
 * running a handler, writing or committing anything. Prints one line per
 * dead letter a redrive would take.
 */
#ifndef KF_REDRIVE_SCAN_H
#define KF_REDRIVE_SCAN_H

#include "config/config.h"

#include <stdint.h>
#include <stdio.h>

typedef struct kf_redrive_scan_totals {
    uint64_t read, taken, passed;
} kf_redrive_scan_totals;

/* `m` is the redrive's mapping (its `redrive` set, its topic the on-failure
 * topic). Returns 0, or -1 with err saying why (no such topic, no broker
 * answering within timeout_ms). */
int kf_redrive_scan(const kf_config *cfg, const kf_mapping_config *m, FILE *out, int timeout_ms,
                    kf_redrive_scan_totals *t, char *err, size_t errlen);

/* The number of partitions of m's topic (the on-failure topic), as the
 * brokers know it: 0 with err when it does not exist, -1 with err when no
 * broker answered within timeout_ms. */
int kf_redrive_topic_partitions(const kf_config *cfg, const kf_mapping_config *m, int timeout_ms,
                                char *err, size_t errlen);

#endif
