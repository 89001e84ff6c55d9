/*
 * What `kfleet status` prints (src/cmd_status.c gathers it): per mapping, a
 * table of its partitions (committed offset, end, lag, the exactly-once
 * epoch and marks, parked keys, crash ledger entries, the member and the
 * holder) under a line for the group and its members; or the same as one
 * JSON object.
 *
 * Ownership: the report borrows everything; nothing here frees.
 */
#ifndef KF_STATUS_REPORT_H
#define KF_STATUS_REPORT_H

#include "config/config.h"
#include "consumer/group_view.h"
#include "eos/inspect.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct kf_status_mapping {
    const kf_mapping_config *m;
    kf_group_view g;
    char kafka_err[512]; /* "" when Kafka answered everything */
    /* One per g.parts, valid where read[i]; NULL when Redis was not read. */
    kf_eos_view *eos;
    bool *read;
    char redis_err[512]; /* "" when Redis answered everything */
} kf_status_mapping;

/* The human tables, one per mapping, aligned. */
void kf_status_print_text(FILE *out, const kf_status_mapping *s, size_t n);

/* The same data as one JSON object on one line. Returns -1 out of memory. */
int kf_status_print_json(FILE *out, const kf_status_mapping *s, size_t n, bool ok);

#endif
