/*
 * Internals shared by the dispatcher's two halves: dispatcher.c (workers,
 * scheduling, the handler call) and completion.c (acks, retries, dead
 * letters, done). Not for use outside dispatcher/.
 *
 * Locks: `lock` guards lanes, idle, stop, cost_ns and the pool's size and
 * slots (live, starting, the autoscale window, worker.active and
 * worker.joinable). Completion functions are never
 * called with it held, except kf_completion_drop (which takes no lock and is
 * safe either way). Lock order: dispatcher lock, then a tracker's lock.
 */
#ifndef KF_DISPATCHER_PRIV_H
#define KF_DISPATCHER_PRIV_H

#include "dispatcher/breaker.h"
#include "dispatcher/dispatcher.h"
#include "eos/state.h"
#include "dispatcher/lanes.h"

#include <pthread.h>
#include <stdbool.h>

/* The most records one worker takes at once. Smaller chunks spread work over
 * threads; larger ones amortise the lock and the sinks' round trips. */
#define KF_MAX_CHUNK 256

/*
 * Handler call timing of one chunk: on run_chunk's stack (a buffer in the
 * array of workers would share cache lines with the next worker's fields,
 * and it is written per call), merged into the mapping's histogram at the
 * chunk's end. Single-record calls go through the sampler (common/histogram.h):
 * a handler of microseconds is timed one call in KF_HIST_SAMPLE_EVERY.
 */
typedef struct kf_call_timing {
    kf_hist_local hist;
    kf_hist_sampler sampler; /* the worker's, loaded and stored back by run_chunk */
} kf_call_timing;

/*
 * A worker slot. Its sink worker states and state connection are opened
 * before its thread starts and closed after it stopped using them (by the
 * thread itself when it retires, else by kf_dispatcher_destroy); `id`, the
 * slot's index, is the worker_id the sinks see.
 */
typedef struct worker {
    struct kf_dispatcher *d;
    int id;
    pthread_t thread;
    bool joinable;        /* `thread` ran and nobody joined it yet */
    bool active;          /* taken: from a start until a retired worker closed its state */
    bool fresh;           /* added by the autoscaler and not yet counted out of `starting` */
    bool to_join;         /* kf_dispatcher_destroy's: joinable when it stopped the pool */
    kf_sink_worker **sws; /* one per sink */
    kf_sink_worker *dlq_ws;
    kf_eos_state *state;         /* business-key dedupe: this worker's state connection */
    uint32_t wrote;              /* the sinks (< 32) this chunk wrote to: a probe's verdict */
    struct kf_crash_slot *crash; /* what it runs, for a crash report; the thread's own */
    /* Handler call timing: the running chunk's (on run_chunk's stack), and
     * the sampler carried from chunk to chunk. */
    struct kf_call_timing *calls;
    kf_hist_sampler sampler;
} worker;

struct kf_dispatcher {
    kf_dispatcher_env env;
    const char **sink_names;
    /* Per sink: its outputs are staged for the mapping's Kafka transaction
     * (staged_kafka and a transactional sink), decided once at start. */
    unsigned char *staged;

    pthread_mutex_t lock; /* guards lanes, idle, stop, cost_ns */
    pthread_cond_t work;  /* signalled when lanes become runnable */
    kf_lanes *lanes;
    int idle;
    int stop;
    /* Moving average of a record's cost in a chunk (handler and writes),
     * nanoseconds; 0 before the first chunk. Guarded by lock. */
    int64_t cost_ns;

    atomic_int_fast64_t inflight;
    /* kf_dispatcher_wait_below: waiters sleep on `drained` (under lock) until
     * in flight falls below wait_limit; completions signal only when someone
     * waits, so the hot path pays one atomic load. */
    pthread_cond_t drained;
    atomic_int waiters;
    atomic_int_fast64_t wait_limit;
    /* Exactly-once: the sinks that keep marks, when they are ALL the sinks
     * (then a record done in every one of them needs no handler call). */
    uint32_t all_marked;
    /* concurrency.threads slots; a fixed pool runs every one of them. */
    worker *workers;
    int nworkers;
    /* Autoscaled pool (concurrency.threads.min < max), see dispatcher.c's
     * "autoscaling". Untouched when the pool is fixed. Guarded by lock. */
    bool autoscale;
    int min_workers;
    int live;                /* workers started and not retired (starting included) */
    int starting;            /* added, not yet in their loop */
    int64_t window_end;      /* kf_now_ms when the surplus of the window is judged */
    int idle_low;            /* fewest idle workers at a take in this window */
    int retire;              /* workers that may still retire on the last judgement */
    int closing;             /* retiring, their state not yet closed */
    int64_t retire_ms;       /* the window */
    int64_t grow_hold_until; /* after a failed start, no other attempt before this */
    int64_t log_next;        /* pool changes are logged at most once a second */
    int log_added, log_retired;
    /* Circuit breakers, one per sink (NULL: none, or the sink's outputs
     * ride the Kafka transaction), see breaker.h. `held` counts those not
     * closed: while it is above 0 workers take nothing but a probe, one
     * record at a time (`probing`, guarded by lock). */
    kf_breaker **breakers;
    atomic_int held;
    bool probing;
    /* "{<redis key prefix>:<group>:": the crash ledger's keys of this
     * mapping's partitions start with it (crash_report.h). NULL: not noted. */
    char *crash_tag;
    /* Record buffers: taken by the consumer (kf_dispatcher_pool), given
     * back by kf_rec_free from any thread; destroyed last. */
    struct kf_rec_pool *pool;
};

/* The record is finished for good: its staged outputs go to the partition,
 * the tracker moves, it is freed. Never under the dispatcher lock. */
void kf_completion_done(kf_dispatcher *d, kf_rec *r);

/* kf_completion_done for n <= KF_MAX_CHUNK records at once (one tracker lock
 * per run of one partition's records, the shared counters once). */
void kf_completion_done_many(kf_dispatcher *d, kf_rec **recs, size_t n);

/* True when a record whose acks are all in is simply done (no failure, not a
 * dead-letter write): the caller may batch it into kf_completion_done_many
 * instead of calling kf_completion_acked. */
bool kf_completion_is_done(const kf_rec *r);

/* Lets the record go without being done (revoked or fenced partition): the
 * next owner reads it again. Takes no lock. `arg` is the dispatcher. */
void kf_completion_drop(kf_rec *r, void *arg);

/* Puts recs (one lane's, in order) back for another run after delay_ms. */
void kf_completion_requeue(kf_dispatcher *d, kf_rec **recs, size_t n, int64_t delay_ms);

/* Readies a record for another attempt (counts, logs); returns the backoff. */
int64_t kf_completion_next_attempt(kf_dispatcher *d, kf_rec *r, int exhausted, const char *why);

/* True when a failure ends the record's attempts. */
int kf_completion_exhausted(const kf_dispatcher *d, const kf_rec *r, int permanent);

int kf_completion_has_dead_letter(const kf_dispatcher *d);

/* on_failure mode "park" (exactly-once): a record that fails for good parks
 * its key instead of going to a topic. */
int kf_completion_parks(const kf_dispatcher *d);

/* Sets the record up to be parked by its next run: outputs dropped, `why`
 * kept. The caller requeues it. */
void kf_completion_mark_park(kf_rec *r, const char *why);

/* Another attempt after a backoff, or the on-failure topic. */
void kf_completion_failed(kf_dispatcher *d, kf_rec *r, int permanent, const char *why);

/* The partition has a newer owner: drop the record, flag the partition. */
void kf_completion_fenced(kf_dispatcher *d, kf_rec *r);

/* Every ack of the record is in: done, retried, dead-lettered or dropped. */
void kf_completion_acked(kf_dispatcher *d, kf_rec *r);

/* A sink's answer for its breaker (completion.c): logs, counts and wakes
 * the workers when the breaker opens or closes; a fenced answer voids a
 * probe. Any thread, no lock held. */
void kf_completion_breaker(kf_dispatcher *d, int sink, kf_status st, const char *why);

/* The probe never reached sink `sink` (or was fenced there): a probing
 * breaker is due again at once (breaker.h). Any thread, any lock. */
void kf_completion_probe_void(kf_dispatcher *d, int sink, int64_t now);

/* Writes one message to a sink with the record as its ack target. */
void kf_completion_write(kf_dispatcher *d, kf_sink_worker *ws, int sink, kf_rec *r,
                         kf_sink_msg *msg);

#endif
