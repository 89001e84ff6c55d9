/*
 * `kfleet redrive`'s side of the consumer. The mapping reads its own
 * on-failure topic (kf_mapping_config.redrive set, consumer group
 * "<group_id>.redrive") and this decides what becomes of each dead letter:
 *   take  it runs again as the record it was (dispatcher/origin.h);
 *   pass  it is done without running, and the group's offset moves over it:
 *         another mapping's dead letter, one written before --since, or a
 *         record that is not a kfleet dead letter;
 *   leave its partition stops before it, uncommitted, for a later redrive:
 *         one written after --until, one past --limit, or one written after
 *         the redrive reached the partition (its own dead letters among them).
 * The run is over when every assigned partition has reached its end (as it
 * was when first read) or stopped, and nothing taken is still in flight; the
 * command then stops the mapping, which commits.
 *
 * Consumer thread only, except kf_redrive_progress's counters, which any
 * thread reads.
 */
#ifndef KF_REDRIVE_H
#define KF_REDRIVE_H

#include "config/config.h"
#include "dispatcher/partition.h"
#include "dispatcher/record.h"
#include "kfleet/handler.h"

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum kf_redrive_verdict {
    KF_REDRIVE_TAKE,
    KF_REDRIVE_PASS,
    KF_REDRIVE_LEAVE
} kf_redrive_verdict;

typedef struct kf_redrive_progress {
    atomic_uint_fast64_t read;   /* dead letters read */
    atomic_uint_fast64_t taken;  /* run again */
    atomic_uint_fast64_t passed; /* done without running (not this mapping's, before --since) */
    atomic_int over;             /* 1: every partition ended and nothing is in flight */
} kf_redrive_progress;

typedef struct kf_redrive kf_redrive;

/* For a mapping whose `redrive` is set. NULL when out of memory. */
kf_redrive *kf_redrive_new(const kf_mapping_config *m);
void kf_redrive_destroy(kf_redrive *rd);

const kf_redrive_progress *kf_redrive_progress_of(const kf_redrive *rd);

/* The verdict on the message at `offset` of p (timestamp ts, headers h). */
kf_redrive_verdict kf_redrive_judge(kf_redrive *rd, rd_kafka_t *rk, kf_partition *p, int64_t offset,
                                    int64_t ts, const kf_header *h, size_t n);

/* Gives a taken record its first identity, read from its own headers.
 * Returns 0, or -1 when out of memory. */
int kf_redrive_attach(kf_redrive *rd, kf_rec *r);

/* librdkafka reached the end of p (RD_KAFKA_RESP_ERR__PARTITION_EOF). */
void kf_redrive_eof(kf_redrive *rd, kf_partition *p, int64_t offset);

/* Sets `over` once the run is over: at least one partition assigned, each
 * one ended, no record read and not yet submitted (`unsubmitted`), none in
 * flight. */
void kf_redrive_check(kf_redrive *rd, kf_partition *const *parts, size_t n, size_t unsubmitted,
                      int64_t inflight);

#endif
