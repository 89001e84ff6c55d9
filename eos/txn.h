/*
 * The exactly-once Kafka sink: one transactional producer per mapping and
 * process. Outputs to Kafka (every Kafka sink of the mapping and the
 * on-failure topic) are staged by the dispatcher, and each commit interval the
 * consumer runs ONE transaction: it produces the staged outputs of the records
 * below each partition's watermark, in offset order, sends the consumer
 * offsets with the group metadata (so the broker fences a zombie whose
 * generation is gone), and commits. Outputs and offsets become visible
 * together or not at all; a record above the watermark has sent nothing, so a
 * replay of it duplicates nothing.
 *
 * A commit that does not finish is never repeated under the same producer
 * epoch: librdkafka 2.0.2 retries a timed-out EndTxn under the epoch it was
 * sent with, and without KIP-890 a late EndTxn can commit or abort a LATER
 * transaction of that epoch (the Jepsen analysis of Bufstream, 2024). Such a
 * commit's outcome is unknown: the producer is destroyed and a new one takes
 * a new epoch (InitProducerId with the same transactional.id also settles the
 * old transaction on the broker), and the caller rewinds the transaction's
 * partitions to their committed offsets (KF_STATUS_FENCED).
 *
 * transactional.id defaults to "kfleet-<group>-<mapping>-<host>-<pid>-<rand>",
 * unique per process; transaction.timeout.ms defaults to 10000 and also
 * bounds each transactional call (begin, send offsets, commit, abort). The
 * id is recorded with each partition's exactly-once state in Redis, so the
 * next owner of a partition that was not released cleanly (a zombie, a
 * crash) fences this producer at once (kf_txn_fence) instead of leaving its
 * open transaction to transaction.timeout.ms.
 *
 * Threads: every function is called from the consumer thread only.
 */
#ifndef KF_KAFKA_TXN_H
#define KF_KAFKA_TXN_H

#include "kfleet/handler.h"
#include "common/metrics.h"
#include "common/props.h"
#include "common/status.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>

typedef struct kf_txn kf_txn;

typedef struct kf_txn_msg {
    const char *topic;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const kf_header *headers;
    size_t header_count;
} kf_txn_msg;

/* What the producer is made of; nothing but `metrics` is kept after kf_txn_new. */
typedef struct kf_txn_env {
    const char *mapping;      /* for the client and transactional ids */
    const char *group_id;     /* for the transactional id */
    const char *brokers;      /* kafka.brokers */
    const kf_props *kafka;    /* kafka.properties */
    const kf_props *producer; /* the mapping's producer properties (override kafka) */
    kf_metrics *metrics;      /* times the blocking calls (kafka_calls); NULL: none. Kept:
                               * it must outlive the kf_txn */
} kf_txn_env;

/* Creates the producer; transactions are initialised on first use. NULL with
 * err (naming the property at fault) on a bad configuration. */
kf_txn *kf_txn_new(const kf_txn_env *env, char *err, size_t errlen);

/* The producer's transactional.id (lives as long as t). */
const char *kf_txn_id(const kf_txn *t);

/* Initialises transactions when they are not (a new or replaced producer):
 * after it succeeds, any transaction of an earlier epoch is settled on the
 * broker. Returns 0, or -1 with err (retry later). */
int kf_txn_ready(kf_txn *t, char *err, size_t errlen);

/* Initialises transactions and fetches the output topics' metadata before
 * the first record, so the first commit does not pay for them. */
void kf_txn_warmup(kf_txn *t, const char *const *topics, size_t n);

/*
 * One transaction: produce msgs[0..n) in order, send `offsets` with the
 * consumer's group metadata, commit. Returns, with err saying why when not OK:
 *   KF_STATUS_OK      committed
 *   KF_STATUS_RETRY   nothing visible (aborted cleanly, or the producer was
 *                     replaced before any commit was sent): the same input
 *                     may run again
 *   KF_STATUS_FENCED  a commit was sent and did not finish: its outcome is
 *                     unknown; the producer was replaced (a new epoch), and
 *                     the caller rewinds the partitions to their committed
 *                     offsets
 */
kf_status kf_txn_run(kf_txn *t, const kf_txn_msg *msgs, size_t n,
                     const rd_kafka_topic_partition_list_t *offsets, rd_kafka_t *consumer,
                     char *err, size_t errlen);

/*
 * Fences another process's transactional producer (a partition's previous
 * owner that did not release it): InitProducerId with its transactional.id
 * bumps that id's epoch, which aborts its open transaction at once and
 * refuses anything it sends later. Ids fenced in the last minute are not
 * fenced again. Returns 0, or -1 with err (the transaction then ends at its
 * timeout, as without this).
 */
int kf_txn_fence(kf_txn *t, const char *other_id, char *err, size_t errlen);

void kf_txn_destroy(kf_txn *t);

#endif
