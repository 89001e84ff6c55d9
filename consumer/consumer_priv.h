/*
 * The consumer's state, shared by the files that make it up: consumer.c
 * (polling, batching, commits, rebalances, backpressure, the stall watchdog)
 * and retake.c (dead partitions taken anew). Not for use outside consumer/.
 *
 * Threads: everything here belongs to the consumer thread (consumer.h).
 */
#ifndef KF_CONSUMER_PRIV_H
#define KF_CONSUMER_PRIV_H

#include "consumer/consumer.h"
#include "consumer/assignment.h"
#include "consumer/eos.h"
#include "consumer/prefetch.h"

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct kf_consumer {
    const kf_config *cfg;
    const kf_mapping_config *m;
    kf_dispatcher *d;
    kf_metrics *metrics;
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    int cooperative;

    kf_assignment parts; /* assigned partitions; consumer thread only */
    int paused;          /* backpressure paused the partitions (set_paused) */

    /* The batch being built. Its records enter their trackers when it is
     * submitted (track_batch). */
    kf_rec **batch;
    size_t batch_n;
    size_t batch_bytes;
    int64_t batch_deadline;

    rd_kafka_message_t **msgs;
    int64_t next_commit;
    /* The periodic commit runs asynchronously (the consumer keeps polling
     * while the broker answers); its result arrives on commit_q, served by
     * the consumer loop. At most one is outstanding. */
    rd_kafka_queue_t *commit_q;
    int commit_pending;
    /* When the outstanding one was sent (kfleet_commit_duration_seconds). */
    int64_t commit_sent_ns;
    kf_consumer_eos eos; /* exactly-once parts; state NULL when at-least-once */
    const atomic_int *stop;
    int64_t pressure_since;         /* when in flight reached the limit; 0 when below */
    bool throttled;                 /* at the in-flight limit (last throttle() call) */
    bool window_full;               /* ... and it is the exactly-once window that binds */
    int64_t next_watch;             /* the stall watchdog's next check */
    int64_t next_pause_sweep;       /* while paused: when to pause late-comers */
    int commit_failures;            /* commits failed in a row (the watchdog reports it) */
    kf_prefetch *prefetch;          /* wakes librdkafka's fetcher when the queue runs low */
    struct kf_crash_ledger *ledger; /* records that crashed the process, read at assignment */
    struct kf_redrive *redrive;     /* `kfleet redrive` only (redrive.h), else NULL */
    int64_t next_park_refresh;      /* on_failure mode park: next re-read (parked.h) */
    bool closed;                    /* kf_consumer_close ran */
    long took;                      /* records the last loop turn took, and their bytes */
    size_t took_bytes;
    /* The next publication of /metrics' gauges (consumer/gauges.h). */
    int64_t next_gauges;
};

/* A partition list holding p alone (the caller destroys it). */
rd_kafka_topic_partition_list_t *kf_consumer_one_partition(const kf_partition *p);

/* Seeks p's partition (l is p alone) to `off` (an offset or a logical one,
 * RD_KAFKA_OFFSET_*); `shown` is the offset the warning names. Returns 0, or
 * -1 after a warning that ends with `then` (e.g. "; retrying", or ""). */
int kf_consumer_seek(kf_consumer *c, const kf_partition *p, rd_kafka_topic_partition_list_t *l,
                     int64_t off, int64_t shown, const char *then);

/* Reads p's crash ledger into p->crash before any of its records is
 * dispatched (eos/crash_ledger.h). A Redis that does not answer costs a
 * warning, not the assignment: *skip (may be NULL) is then set, and a caller
 * loading many partitions passes it back to skip the rest. */
void kf_consumer_load_crashes(kf_consumer *c, kf_partition *p, bool *skip);

/* Exactly-once: serves the dead partitions (retake.c): pauses each the first
 * time it is seen, takes it anew once due. Keeps the `dead` gauge. */
void kf_consumer_retake_dead(kf_consumer *c, int64_t now);

#endif
