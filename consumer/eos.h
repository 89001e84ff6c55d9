/*
 * The consumer's side of the exactly-once protocol (eos/README.md):
 *   - at assignment, one assign script per partition bumps the epoch and
 *     returns the sinks already done above the committed watermark;
 *   - commits go through the mapping's Kafka transaction when it has Kafka
 *     outputs (staged outputs below the watermark + the offsets, atomically),
 *     else through ordinary offset commits;
 *   - after a commit, and on revoke, the partition's done entries below the
 *     committed offset are trimmed (riding on the next completion script, or
 *     explicitly on revoke and shutdown).
 *
 * Threads: consumer thread only. `state` is the consumer thread's own Redis
 * connection; `txn` is NULL when the mapping has no Kafka output.
 */
#ifndef KF_CONSUMER_EXACTLY_ONCE_H
#define KF_CONSUMER_EXACTLY_ONCE_H

#include "config/config.h"
#include "eos/state.h"
#include "common/metrics.h"
#include "dispatcher/partition.h"
#include "eos/txn.h"

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>

typedef struct kf_consumer_eos {
    kf_eos_state *state;
    kf_txn *txn;
} kf_consumer_eos;

/* Runs the assign script for p (retrying with backoff while Redis is
 * unreachable, until *stop). Fills p->epoch and its done masks and sets
 * p->ready. Returns 0, or -1 when stopped first. */
int kf_consumer_eos_assign(const kf_consumer_eos *e, const kf_mapping_config *m, kf_partition *p,
                           const atomic_int *stop);

/* Commits the watermarks of parts[0..n) (only those that moved; none that is
 * fenced or not ready) through the transaction, with their staged outputs.
 * Returns 0 when committed (or nothing to do); -1 when not, with nothing left
 * open (staged outputs are put back; the next call retries); -2 when the
 * outcome is unknown (eos/txn.h, KF_STATUS_FENCED): those partitions are marked
 * for a rewind (kf_partition_retake) and their staged outputs dropped. */
int kf_consumer_eos_commit_txn(const kf_consumer_eos *e, rd_kafka_t *rk, kf_partition **parts,
                               size_t n, kf_metrics *metrics);

/* Waits (retrying with backoff, until *stop) until the transactional
 * producer is ready. A producer replaced after a commit of unknown outcome
 * takes its new epoch only once the broker has settled the old transaction,
 * so committed offsets read after this are final. Returns 0 (also without a
 * producer), or -1 when stopped first. */
int kf_consumer_eos_settle(const kf_consumer_eos *e, const atomic_int *stop);

/* Trims p's done entries below its committed offset (best effort). With
 * `release`, after a clean hand-over (revoke, shutdown), also clears this
 * process as p's holder, so the next owner does not fence its producer. */
void kf_consumer_eos_trim(const kf_consumer_eos *e, kf_partition *p, int release);

#endif
