/*
 * The completion half of the dispatcher: what happens to a record once its
 * handler ran. Sinks acknowledge each output (from any thread); when the
 * last acknowledgement arrives the record is done (tracker, staged Kafka
 * outputs), retried after a backoff, sent to the on-failure topic, or, when
 * its partition is fenced or revoked, dropped for the next owner.
 */
#include "dispatcher/dispatcher_priv.h"

#include "dispatcher/backoff.h"
#include "dispatcher/origin.h"
#include "dispatcher/rec_log.h"
#include "common/failure_log.h"
#include "common/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *C = "dispatcher";

/* ---------------------------------------------------------------- completion */

/* Records finished for good: their staged outputs go to the partition, the
 * trackers advance, they are freed. A worker's chunk finishes together, so
 * each partition's tracker lock and the shared counters are taken once per
 * run of records of one partition, not once per record. n <= KF_MAX_CHUNK.
 * Never called under the dispatcher lock. */
void kf_completion_done_many(kf_dispatcher *d, kf_rec **recs, size_t n)
{
    int64_t offs[KF_MAX_CHUNK];
    /* Produce-to-done: one wall clock read for the chunk, the records'
     * latencies gathered here and merged with one atomic add per bucket.
     * Timestamps are milliseconds and come in runs (a producer's batch):
     * the bucket is searched again only when the timestamp changes. */
    int64_t now_ms = kf_wall_ms(), last_ts = -1, lat = 0;
    size_t lat_bucket = 0;
    kf_hist_local latency = {0};
    for (size_t i = 0, end; i < n; i = end) {
        kf_partition *p = recs[i]->part;
        end = kf_rec_run_end(recs, n, i, n);
        size_t k = end - i;
        for (size_t j = i; j < end; j++) {
            /* Staged before the tracker moves: the consumer reads the
             * watermark first, then takes what is staged below it. */
            kf_partition_stage(p, recs[j]->staged);
            recs[j]->staged = NULL;
            offs[j - i] = recs[j]->view.offset;
            int64_t ts = recs[j]->view.timestamp_ms; /* <= 0: none */
            if (ts > 0 && ts != last_ts) {
                last_ts = ts;
                lat = now_ms > ts ? (now_ms - ts) * 1000000 : 0;
                lat_bucket = kf_hist_bucket(&kf_hist_seconds, lat);
            }
            if (ts > 0) kf_hist_local_add_in(&latency, lat_bucket, lat, 1);
        }
        kf_tracker_done_many(p->tracker, offs, k);
        for (size_t j = i; j < end; j++)
            kf_rec_release(recs[j]);
        /* In flight falls before the records' references go: a revoke
         * waiting for it still holds its own reference. */
        atomic_fetch_sub(&p->inflight, (int)k);
        kf_partition_unref_n(p, (int)k);
    }
    int_fast64_t left = atomic_fetch_sub(&d->inflight, (int_fast64_t)n) - (int_fast64_t)n;
    KF_METRIC_ADD(d->env.metrics, records_done, n);
    KF_METRIC_ADD(d->env.metrics, inflight, -(int_fast64_t)n);
    kf_hist_merge(&d->env.metrics->produce_to_done, &kf_hist_seconds, &latency);
    if (atomic_load(&d->waiters) && left < atomic_load(&d->wait_limit)) {
        pthread_mutex_lock(&d->lock);
        pthread_cond_broadcast(&d->drained);
        pthread_mutex_unlock(&d->lock);
    }
}

void kf_completion_done(kf_dispatcher *d, kf_rec *r)
{
    kf_completion_done_many(d, &r, 1);
}

/* The record is let go without being done: its partition was revoked, so the
 * next owner reads it again from the committed offset. */
void kf_completion_drop(kf_rec *r, void *arg)
{
    kf_dispatcher *d = arg;
    atomic_fetch_sub(&r->part->inflight, 1);
    atomic_fetch_sub(&d->inflight, 1);
    KF_METRIC_ADD(d->env.metrics, inflight, -1);
    kf_rec_free(r);
}

void kf_completion_requeue(kf_dispatcher *d, kf_rec **recs, size_t n, int64_t delay_ms)
{
    pthread_mutex_lock(&d->lock);
    if (atomic_load(&recs[0]->part->revoked) || d->stop) {
        for (size_t i = 0; i < n; i++)
            kf_completion_drop(recs[i], d);
    } else if (kf_lanes_requeue(d->lanes, recs, n, kf_now_ms() + delay_ms) != 0) {
        kf_rec_log(KF_LOG_ERROR, C, d->env.mapping->name, recs[0],
                   "out of memory requeueing %s[%d]@%lld; dropping it for redelivery",
                   recs[0]->view.topic, recs[0]->view.partition, (long long)recs[0]->view.offset);
        for (size_t i = 0; i < n; i++)
            kf_completion_drop(recs[i], d);
    }
    if (d->idle) pthread_cond_signal(&d->work);
    pthread_mutex_unlock(&d->lock);
}

/*
 * Prepares a record for another attempt: logs, counts, and returns the backoff.
 * With no on-failure topic, a record out of attempts is retried forever at the
 * capped backoff and said so loudly each time: nothing is dropped silently.
 */
int64_t kf_completion_next_attempt(kf_dispatcher *d, kf_rec *r, int exhausted, const char *why)
{
    const kf_mapping_config *m = d->env.mapping;
    int attempt = r->view.attempt;
    if (exhausted) {
        kf_rec_log(KF_LOG_ERROR, C, m->name, r,
                   "mapping %s: %s[%d]@%lld failed %d time(s) (%s) and no on_failure topic is "
                   "configured: retrying until it succeeds",
                   m->name, r->view.topic, r->view.partition, (long long)r->view.offset, attempt,
                   why ? why : "unknown error");
    } else {
        kf_rec_log(KF_LOG_DEBUG, C, m->name, r,
                   "mapping %s: retrying %s[%d]@%lld after attempt %d: %s", m->name, r->view.topic,
                   r->view.partition, (long long)r->view.offset, attempt, why ? why : "");
    }
    r->view.attempt = attempt + 1;
    KF_METRIC_ADD(d->env.metrics, retries, 1);
    kf_rec_clear_outputs(r);
    return kf_backoff_ms(attempt, m->retry.backoff_ms, m->retry.max_backoff_ms,
                         kf_backoff_random());
}

/*
 * Readies a record for another try after a sink answered KF_STATUS_RETRY: its
 * dependency is down (the state Redis, a sink's Redis refusing writes, an
 * HTTP endpoint answering 5xx or timing out, a Kafka delivery that failed for
 * a transient reason). That is not the record's failure, so its attempt
 * number stays (neither the handler nor the on-failure rule sees these
 * tries); the backoff grows with the consecutive waits, up to max_backoff_ms.
 */
static int64_t dependency_wait(kf_dispatcher *d, kf_rec *r, const char *why)
{
    const kf_mapping_config *m = d->env.mapping;
    if (r->waits < 30) r->waits++;
    kf_rec_log(KF_LOG_DEBUG, C, m->name, r, "mapping %s: %s[%d]@%lld waits for a sink (try %d): %s",
               m->name, r->view.topic, r->view.partition, (long long)r->view.offset, r->waits,
               why ? why : "");
    KF_METRIC_ADD(d->env.metrics, retries, 1);
    kf_rec_clear_outputs(r);
    return kf_backoff_ms(r->waits, m->retry.backoff_ms, m->retry.max_backoff_ms,
                         kf_backoff_random());
}

/* True when a failure ends the record's attempts. */
int kf_completion_exhausted(const kf_dispatcher *d, const kf_rec *r, int permanent)
{
    return permanent || r->view.attempt >= d->env.mapping->retry.max_attempts;
}

int kf_completion_parks(const kf_dispatcher *d)
{
    return d->env.mapping->on_failure.mode == KF_ON_FAILURE_PARK && d->env.exactly_once;
}

int kf_completion_has_dead_letter(const kf_dispatcher *d)
{
    return d->env.dead_letter || d->env.dead_letter_topic || kf_completion_parks(d);
}

void kf_completion_mark_park(kf_rec *r, const char *why)
{
    kf_rec_clear_outputs(r);
    free(r->fail_reason);
    r->fail_reason = strdup(why ? why : "unknown error");
    r->to_park = true;
}

/* Sends the record on to the on-failure topic through a worker. The one
 * line that says a record failed for good and where it goes; its attempts
 * are counted as its dead letter's kfleet.attempts (a redrive's included). */
static void to_dead_letter(kf_dispatcher *d, kf_rec *r, const char *why)
{
    const kf_mapping_config *m = d->env.mapping;
    char was[320] = "";
    if (r->origin)
        snprintf(was, sizeof was, " (redriven: it was %s[%d]@%lld)", r->origin->view.topic,
                 r->origin->view.partition, (long long)r->origin->view.offset);
    kf_rec_log(KF_LOG_WARN, C, m->name, r,
               "mapping %s: %s[%d]@%lld%s failed for good after %d attempt(s) (%s): sending it to "
               "the on-failure topic%s%s",
               m->name, r->view.topic, r->view.partition, (long long)r->view.offset, was,
               (r->origin ? r->origin->prior_attempts : 0) + r->view.attempt,
               why ? why : "unknown error", m->on_failure.topic ? " " : "",
               m->on_failure.topic ? m->on_failure.topic : "");
    kf_rec_clear_outputs(r);
    free(r->fail_reason);
    r->fail_reason = strdup(why ? why : "unknown error");
    r->to_dead_letter = true;
    kf_completion_requeue(d, &r, 1, 0);
}

/* After a failed attempt: another attempt after a backoff, or the on-failure
 * topic once attempts are exhausted (or at once when permanent). */
void kf_completion_failed(kf_dispatcher *d, kf_rec *r, int permanent, const char *why)
{
    int exhausted = kf_completion_exhausted(d, r, permanent);
    if (exhausted && kf_completion_parks(d)) {
        kf_completion_mark_park(r, why);
        kf_completion_requeue(d, &r, 1, 0);
        return;
    }
    if (exhausted && kf_completion_has_dead_letter(d)) {
        to_dead_letter(d, r, why);
        return;
    }
    int64_t delay = kf_completion_next_attempt(d, r, exhausted, why);
    kf_completion_requeue(d, &r, 1, delay);
}

/* A newer owner holds the record's partition: its effects were refused.
 * The record is dropped, neither done nor committed; the partition stops
 * being processed here (the consumer sees `fenced`). */
void kf_completion_fenced(kf_dispatcher *d, kf_rec *r)
{
    if (!kf_partition_retake(r->part, KF_RETAKE_FENCED)) {
        KF_METRIC_ADD(d->env.metrics, fences, 1);
        kf_failure_log_record(d->env.metrics->failures, KF_FAILURE_FENCED, r->view.topic,
                              r->view.partition, r->view.offset,
                              "a newer owner took the partition's epoch: its records here dropped");
        kf_rec_log(KF_LOG_WARN, C, d->env.mapping->name, r,
                   "mapping %s: %s[%d] is fenced (epoch %lld is stale): a newer owner has it; "
                   "dropping its records",
                   d->env.mapping->name, r->view.topic, r->view.partition,
                   (long long)r->part->epoch);
    }
    kf_completion_drop(r, d);
}

/* True when the record's last ack left it done: every output OK, not a
 * dead-letter write. kf_completion_acked would call kf_completion_done. */
bool kf_completion_is_done(const kf_rec *r)
{
    return !r->in_dead_letter && atomic_load(&r->worst) == KF_STATUS_OK;
}

/* Called when the last acknowledgement of a record arrives (any thread). */
void kf_completion_acked(kf_dispatcher *d, kf_rec *r)
{
    int worst = atomic_load(&r->worst);
    char *why = atomic_exchange(&r->why, NULL);
    /* Every ack of the attempt is in: the sinks that took all of its
     * outputs have its effect, whatever comes of the record. */
    r->sinks_ok |= r->tried & ~atomic_exchange(&r->refused, 0);
    r->tried = 0;
    if (r->in_dead_letter) {
        r->in_dead_letter = false;
        if (worst == KF_STATUS_OK) {
            KF_METRIC_ADD(d->env.metrics, records_failed, 1);
            kf_failure_log_record(d->env.metrics->failures, KF_FAILURE_DEAD_LETTER, r->view.topic,
                                  r->view.partition, r->view.offset, r->fail_reason);
            kf_completion_done(d, r);
        } else {
            kf_rec_log(KF_LOG_WARN, C, d->env.mapping->name, r,
                       "dead-letter write of %s[%d]@%lld failed (%s); retrying it", r->view.topic,
                       r->view.partition, (long long)r->view.offset, why ? why : "?");
            r->to_dead_letter = true;
            kf_completion_requeue(d, &r, 1,
                                  kf_backoff_ms(2, d->env.mapping->retry.backoff_ms,
                                                d->env.mapping->retry.max_backoff_ms,
                                                kf_backoff_random()));
        }
    } else if (worst == KF_STATUS_OK) {
        kf_completion_done(d, r);
    } else if (worst == KF_STATUS_FENCED) {
        kf_completion_fenced(d, r);
    } else if (worst == KF_STATUS_RETRY) {
        /* A dependency is down: work waits until it is back, in both delivery
         * modes, without using up the record's attempts (a Redis restart or
         * a full disk must not send handled records to the on-failure topic);
         * in flight fills up and the consumer pauses. While a breaker is
         * open its probes are the backoff: the record is runnable again as
         * soon as the breaker closes. */
        int64_t delay = dependency_wait(d, r, why ? why : "sink unavailable");
        kf_completion_requeue(d, &r, 1, atomic_load(&d->held) ? 0 : delay);
    } else {
        kf_completion_failed(d, r, worst == KF_STATUS_FAIL, why ? why : "sink error");
    }
    free(why);
}

void kf_completion_probe_void(kf_dispatcher *d, int sink, int64_t now)
{
    if (kf_breaker_probe_void(d->breakers[sink], now))
        atomic_store(&d->env.metrics->breaker_state[sink], (int)KF_BREAKER_OPEN);
}

void kf_completion_breaker(kf_dispatcher *d, int sink, kf_status st, const char *why)
{
    kf_breaker *b = d->breakers[sink];
    int64_t now = kf_now_ms();
    /* A fenced write says nothing of the sink's health: a probe that was
     * fenced is no probe. */
    if (st == KF_STATUS_FENCED) {
        kf_completion_probe_void(d, sink, now);
        return;
    }
    kf_breaker_change ch = kf_breaker_answer(b, st == KF_STATUS_RETRY, why, now);
    if (ch == KF_BREAKER_SAME) return;
    const kf_mapping_config *m = d->env.mapping;
    const char *name = d->sink_names[sink];
    char last[256];
    kf_breaker_last_why(b, last, sizeof last);
    atomic_store(&d->env.metrics->breaker_state[sink], (int)kf_breaker_state_of(b));
    if (ch == KF_BREAKER_OPENED) {
        KF_METRIC_ADD(d->env.metrics, breaker_opens[sink], 1);
        kf_failure_log_sink(d->env.metrics->failures, KF_FAILURE_BREAKER_OPEN, name, last);
        atomic_fetch_add(&d->held, 1);
        kf_warn(C,
                "mapping %s: sink %s failed %d times in a row across records (last: %s): "
                "circuit open, partitions paused, no record spends an attempt; one record "
                "probes the sink in %lld ms",
                m->name, name, m->sinks[sink].breaker.failures, last,
                (long long)kf_breaker_wait_ms(b));
    } else if (ch == KF_BREAKER_REOPENED) {
        kf_info(C,
                "mapping %s: sink %s failed its probe (%s): circuit open for %lld ms so far; "
                "next probe in %lld ms",
                m->name, name, last, (long long)(now - kf_breaker_opened_ms(b)),
                (long long)kf_breaker_wait_ms(b));
    } else {
        atomic_fetch_sub(&d->held, 1);
        kf_info(C, "mapping %s: sink %s answered its probe: circuit closed after %lld ms open",
                m->name, name, (long long)(now - kf_breaker_opened_ms(b)));
    }
    /* Workers waiting for the probe's time, or for the breaker to close. */
    pthread_mutex_lock(&d->lock);
    pthread_cond_broadcast(&d->work);
    pthread_mutex_unlock(&d->lock);
}

/*
 * An ack needs the record and the sink's index (for the per-sink metrics).
 * Both travel in the one opaque pointer the sinks carry: records are aligned
 * to KF_REC_ALIGN, so the low bits of their address are free and hold the
 * index plus one (0 for the dead-letter sink). No allocation per output.
 */
#define ACK_TAG_MASK ((uintptr_t)KF_REC_ALIGN - 1)
_Static_assert(KF_METRICS_MAX_SINKS + 1 <= KF_REC_ALIGN, "the sink index must fit the tag");

static void *ack_pack(kf_rec *r, int sink)
{
    int tag = sink >= 0 && sink < KF_METRICS_MAX_SINKS ? sink + 1 : 0;
    return (void *)((uintptr_t)r | (uintptr_t)tag);
}

static void on_ack(void *opaque, kf_status st, const char *why)
{
    kf_rec *r = (kf_rec *)((uintptr_t)opaque & ~ACK_TAG_MASK);
    int sink = (int)((uintptr_t)opaque & ACK_TAG_MASK) - 1;
    kf_dispatcher *d = r->owner;
    if (sink >= 0) {
        if (st == KF_STATUS_OK) {
            KF_METRIC_ADD(d->env.metrics, outputs[sink], 1);
        } else {
            KF_METRIC_ADD(d->env.metrics, sink_errors[sink], 1);
            if (sink < 32) atomic_fetch_or(&r->refused, 1u << sink);
        }
        if (d->breakers[sink]) kf_completion_breaker(d, sink, st, why);
    }
    if (st != KF_STATUS_OK) {
        int cur = atomic_load(&r->worst);
        while ((int)st > cur && !atomic_compare_exchange_weak(&r->worst, &cur, (int)st)) {
        }
        char *mine = strdup(why ? why : "sink error");
        char *none = NULL;
        if (!atomic_compare_exchange_strong(&r->why, &none, mine)) free(mine);
    }
    if (atomic_fetch_sub(&r->pending, 1) == 1) kf_completion_acked(d, r);
}

/* Writes one message with the record as its ack target; the record's pending
 * count is raised before the write because the ack may arrive inside it. */
void kf_completion_write(kf_dispatcher *d, kf_sink_worker *ws, int sink, kf_rec *r,
                         kf_sink_msg *msg)
{
    (void)d; /* r->owner is d: set when the record was submitted */
    msg->ack = on_ack;
    msg->ack_opaque = ack_pack(r, sink);
    atomic_fetch_add(&r->pending, 1);
    kf_sink_write(ws, msg);
}
