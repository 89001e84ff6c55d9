/*
 * The partitions a consumer holds, and where a new group starts reading.
 * Consumer thread only: no locks.
 */
#ifndef KF_ASSIGNMENT_H
#define KF_ASSIGNMENT_H

#include "config/config.h"
#include "dispatcher/partition.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>

typedef struct kf_assignment {
    kf_partition **items;
    size_t count, cap;
    size_t last_hit; /* records of one partition come in runs */
} kf_assignment;

kf_partition *kf_assignment_find(kf_assignment *a, const char *topic, int32_t partition);

/* Adds a new kf_partition for each element not yet held. */
void kf_assignment_add_all(kf_assignment *a, const rd_kafka_topic_partition_list_t *parts);

/* Removes one and drops the assignment's reference. */
void kf_assignment_remove(kf_assignment *a, const char *topic, int32_t partition);

/* Every held partition as a list (caller destroys it). */
rd_kafka_topic_partition_list_t *kf_assignment_list(const kf_assignment *a);

void kf_assignment_clear(kf_assignment *a);

/*
 * For starting_position "timestamp": partitions the group has no committed
 * offset for start at the first offset at or after the timestamp. Other
 * positions are librdkafka's auto.offset.reset. Sets parts[i].offset.
 */
void kf_assignment_apply_start(rd_kafka_t *rk, const kf_mapping_config *m,
                               rd_kafka_topic_partition_list_t *parts);

#endif
