/*
 * Per-partition gauges of one mapping (lag, end offset, committed offset),
 * as a snapshot table: the consumer thread, which owns the partitions,
 * publishes every assigned partition's row now and then (rows of revoked
 * partitions simply stop appearing); the /metrics thread copies the rows
 * out. Both hold the table's lock only while copying rows, so neither waits
 * on the other's work, and no reader ever sees a partition object (they come
 * and go at rebalances and retakes).
 *
 * Ownership: the mapping creates and destroys the table; kf_metrics points
 * to it (NULL: nothing is published, as in unit tests).
 */
#ifndef KF_PARTITION_GAUGES_H
#define KF_PARTITION_GAUGES_H

#include <stddef.h>
#include <stdint.h>

/* Kafka topic names are at most 249 characters. */
#define KF_TOPIC_MAX 256

/* One assigned partition. A value is -1 when it is not known (yet). */
typedef struct kf_partition_row {
    char topic[KF_TOPIC_MAX];
    int32_t partition;
    int64_t end;       /* the log end a reader of the mapping's isolation level reaches */
    int64_t committed; /* the group's committed offset */
    int64_t lag;       /* end - committed, records */
} kf_partition_row;

typedef struct kf_partition_gauges kf_partition_gauges;

/* NULL when out of memory. */
kf_partition_gauges *kf_partition_gauges_new(void);
void kf_partition_gauges_destroy(kf_partition_gauges *g);

/* Replaces the table with rows[0..n). Returns 0, or -1 when out of memory
 * (the table keeps its previous rows). */
int kf_partition_gauges_publish(kf_partition_gauges *g, const kf_partition_row *rows, size_t n);

/* A copy of the table in *rows (the caller frees it; NULL when empty) and
 * its row count in *n. Returns 0, or -1 when out of memory. */
int kf_partition_gauges_copy(kf_partition_gauges *g, kf_partition_row **rows, size_t *n);

#endif
