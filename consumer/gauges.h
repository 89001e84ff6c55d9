/*
 * The consumer's gauges for /metrics, computed on the consumer thread (which
 * owns the partitions) about once a second:
 *   - per assigned partition, its lag, end and committed offset, published
 *     to the mapping's table (common/partition_gauges.h) when it has one;
 *   - per mapping, the records dispatched and not yet committed (the
 *     exactly-once window), the done marks held in memory, and the
 *     partitions fenced now.
 *
 * Lag = end - committed, where
 *   end        is the last stable offset for an exactly-once (read_committed)
 *              mapping, else the high watermark, from librdkafka's statistics
 *              (statistics.interval.ms, which kfleet turns on for /metrics):
 *              as of the partition's last fetch answer, so a partition that
 *              does not fetch (paused) keeps the end its last fetch saw;
 *   committed  is the higher of what this process committed and the group's
 *              committed offset as librdkafka last knew it; a group that
 *              never committed counts from where this process began reading.
 * A value not known yet (no statistics since the assignment) is -1 and left
 * out of /metrics.
 *
 * Threads: consumer thread only.
 */
#ifndef KF_CONSUMER_GAUGES_H
#define KF_CONSUMER_GAUGES_H

#include <stdint.h>

struct kf_consumer;

/* Computes and publishes the gauges when a second has passed since the
 * last time. Once per consumer loop turn. */
void kf_consumer_gauges(struct kf_consumer *c, int64_t now_ms);

/* Computes and publishes them now (after a rebalance or the close, so that
 * revoked partitions leave /metrics at once). */
void kf_consumer_gauges_publish(struct kf_consumer *c);

#endif
