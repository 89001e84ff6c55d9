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
 * transactional.id defaults to "kfleet-<group>-<mapping>-<host>-<pid>-<rand>",
 * unique per process; transaction.timeout.ms defaults to 10000, which bounds
 * how long a process killed inside a transaction holds back read_committed
 * readers. Set a stable transactional.id in the mapping's "producer" object
 * (e.g. "${HOSTNAME}") to have a restarted process abort its predecessor's
 * transaction at once instead.
 *
 * Threads: every function is called from the consumer thread only.
 */
#ifndef KF_KAFKA_TXN_H
#define KF_KAFKA_TXN_H

#include "kfleet/handler.h"
#include "sinks/sink.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>

typedef struct kf_txn kf_txn;

enum { KF_TXN_OK = 0, KF_TXN_ABORTED = 1, KF_TXN_FATAL = 2 };

typedef struct kf_txn_msg {
    const char *topic;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const kf_header *headers;
    size_t header_count;
} kf_txn_msg;

/* Creates the producer; transactions are initialised on first use. NULL with
 * err (naming the property at fault) on a bad configuration. */
kf_txn *kf_txn_new(const kf_sink_env *env, char *err, size_t errlen);

/* Initialises transactions and fetches the output topics' metadata before
 * the first record, so the first commit does not pay for them. */
void kf_txn_warmup(kf_txn *t, const char *const *topics, size_t n);

/*
 * One transaction: produce msgs[0..n) in order, send `offsets` with the
 * consumer's group metadata, commit. Returns KF_TXN_OK; KF_TXN_ABORTED when
 * an abortable error aborted it (nothing visible: run it again, the same
 * input is still right); KF_TXN_FATAL when the producer had to be replaced
 * (also nothing visible; run again later). err says why.
 */
int kf_txn_run(kf_txn *t, const kf_txn_msg *msgs, size_t n,
               const rd_kafka_topic_partition_list_t *offsets, rd_kafka_t *consumer, char *err,
               size_t errlen);

void kf_txn_destroy(kf_txn *t);

#endif
