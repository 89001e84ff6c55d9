/*
 * The prefetch queue kept small without the librdkafka 2.0.2 stall.
 *
 * librdkafka stops fetching a partition while the consumer queue holds
 * queued.min.messages records or queued.max.messages.kbytes bytes, and
 * decides again only when its broker thread wakes: on a socket event, an op
 * on its queue, or after up to a second (2.1.0 added fetch.queue.backoff.ms
 * for that wait; 2.0.2 has none). Draining the queue wakes nothing, so once
 * every partition of a broker is over the threshold, fetching stops for up
 * to a second. A queue big enough to hold a second of records costs hundreds
 * of megabytes at a million records a second.
 *
 * The nudger wakes the broker thread instead: when the queue falls below
 * half the threshold while a partition has records on the broker that are
 * not fetched yet, it asks that partition's leader for its watermarks
 * (rd_kafka_query_watermark_offsets, from a thread of its own since the
 * call waits for the answer). The request is an op on the leader's broker
 * thread, which then decides again and fetches. One partition per nudge,
 * round robin, so each leader gets its turn; nudges back off while they
 * bring nothing (an upstream transaction held open keeps the stable offset
 * below the high watermark, and nothing is fetchable).
 *
 * Threads: kf_prefetch_check and kf_prefetch_destroy on the consumer thread;
 * the nudger thread only calls librdkafka.
 */
#ifndef KF_CONSUMER_PREFETCH_H
#define KF_CONSUMER_PREFETCH_H

#include "common/metrics.h"

#include <librdkafka/rdkafka.h>
#include <stdint.h>

struct kf_consumer;
typedef struct kf_prefetch kf_prefetch;

/* Reads the thresholds from `conf` (after every override is applied). NULL
 * on allocation failure, with `err` set. */
kf_prefetch *kf_prefetch_new(const rd_kafka_conf_t *conf, char *err, size_t errlen);

/* Starts the nudger on `rk` (the consumer, created); it counts its nudges
 * in `metrics` (borrowed, outlives pf). Returns 0 or -1. */
int kf_prefetch_start(kf_prefetch *pf, rd_kafka_t *rk, kf_metrics *metrics);

/* Once per consumer loop turn, before polling: `got` is how many records
 * the previous turn took and `bytes` their size. Nudges when the queue is
 * low and an unpaused partition lags. Never blocks. */
void kf_prefetch_check(kf_prefetch *pf, struct kf_consumer *c, int64_t now, long got, size_t bytes);

/* Stops the nudger; call before the consumer is destroyed. NULL is fine. */
void kf_prefetch_destroy(kf_prefetch *pf);

#endif
