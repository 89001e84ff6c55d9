/*
 * The Kafka side of a mapping: one librdkafka consumer in the mapping's group,
 * owned by one thread (the thread that calls kf_consumer_run and every other
 * function here except kf_consumer_new).
 *
 * It polls in batches (batch.max_records, max_bytes, window_ms), copies each
 * message into a kf_rec, registers its offset in the partition's tracker and
 * submits the batch to the dispatcher. It commits only tracker watermarks,
 * with every partition's error checked. The commit every commit_interval_ms
 * is asynchronous (the consumer keeps polling; the result comes back as an
 * event on a queue of its own, at most one outstanding); the commits on
 * revoke and at shutdown are synchronous. An exactly-once mapping also
 * commits whenever its uncommitted window reaches max_inflight_records, and
 * one with Kafka outputs commits through its transaction instead,
 * synchronously.
 *
 * At max_inflight_records in flight (exactly-once: or half its uncommitted
 * window) it stops taking records; when the limit holds for half a second it
 * also pauses its partitions (except those assigned less than 2 s ago), and
 * resumes them when half have drained. On revoke it stops dispatching those
 * partitions, waits for their in-flight records up to revoke_timeout_ms,
 * commits, then lets go.
 */
#ifndef KF_CONSUMER_H
#define KF_CONSUMER_H

#include "config/config.h"
#include "consumer/eos.h"
#include "consumer/redrive.h"
#include "dispatcher/dispatcher.h"
#include "common/metrics.h"

#include <stdatomic.h>

typedef struct kf_consumer kf_consumer;

/* Creates the consumer and subscribes. `cfg`, `m`, `d`, `metrics` and what
 * `eos` points to must outlive it; `eos` is NULL for at-least-once. NULL with
 * err (naming the property at fault) on failure. */
kf_consumer *kf_consumer_new(const kf_config *cfg, const kf_mapping_config *m, kf_dispatcher *d,
                             kf_metrics *metrics, const kf_consumer_eos *eos, char *err,
                             size_t errlen);

/* Polls and dispatches until *stop is non-zero. Records read but not yet
 * submitted are let go (they are not done, so they are not committed). */
void kf_consumer_run(kf_consumer *c, const atomic_int *stop);

/* Commits every assigned partition's watermark and waits for the result,
 * trying again until timeout_ms while a failure left nothing open (a
 * refused commit, an aborted transaction). Returns 0 when every partition
 * committed. */
int kf_consumer_commit_sync(kf_consumer *c, int timeout_ms);

/* Leaves the group (the revoke path: wait, commit, unassign). Records of an
 * at-least-once consumer hold librdkafka's messages, so the dispatcher must
 * drop what it still has (kf_dispatcher_destroy) after this and before
 * kf_consumer_destroy, which destroys the rd_kafka_t. */
void kf_consumer_close(kf_consumer *c);

/* `kfleet redrive`'s counters (redrive.h); NULL for any other mapping. */
const kf_redrive_progress *kf_consumer_redrive_progress(const kf_consumer *c);

/* Closes if not closed yet, then frees everything. Accepts NULL. */
void kf_consumer_destroy(kf_consumer *c);

#endif
