/*
 * One assigned topic-partition, shared by the consumer thread (which creates
 * it at assignment and commits its watermark) and every record in flight from
 * it (which hold a counted reference). It outlives its assignment while
 * records still point at it.
 */
#ifndef KF_PARTITION_H
#define KF_PARTITION_H

#include "dispatcher/offset_tracker.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct kf_partition {
    char *topic;
    int32_t partition;
    kf_tracker *tracker;
    atomic_int inflight; /* records dispatched and not yet done or dropped */
    atomic_bool revoked; /* set on revoke: queued records are dropped */
    atomic_int refs;
    int64_t committed; /* last committed offset; consumer thread only */
} kf_partition;

kf_partition *kf_partition_new(const char *topic, int32_t partition);
void kf_partition_ref(kf_partition *p);
void kf_partition_unref(kf_partition *p);

#endif
