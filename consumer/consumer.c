#include "consumer/consumer_priv.h"
#include "eos/crash_ledger.h"

#include "consumer/gauges.h"
#include "consumer/parked.h"
#include "consumer/watchdog.h"
#include "common/kafka_conf.h"
#include "common/log.h"
#include "sinks/sink.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *C = "consumer";

/* ------------------------------------------------------------------ commits */

/* The partitions whose watermark moved since the last commit (all assigned
 * ones when `only` is NULL, else those in `only`). */
static rd_kafka_topic_partition_list_t *watermarks(kf_consumer *c,
                                                   const rd_kafka_topic_partition_list_t *only)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < c->parts.count; i++) {
        kf_partition *p = c->parts.items[i];
        if (only && !rd_kafka_topic_partition_list_find(only, p->topic, p->partition)) continue;
        if (c->eos.state && (!atomic_load(&p->ready) || atomic_load(&p->fenced))) continue;
        int64_t wm = kf_tracker_watermark(p->tracker);
        if (wm < 0 || wm <= p->committed) continue;
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = wm;
    }
    return l;
}

/* Records what the broker accepted; a failed partition is retried on the
 * next commit because its `committed` does not move. */
static int note_committed(kf_consumer *c, rd_kafka_resp_err_t err,
                          const rd_kafka_topic_partition_list_t *offsets)
{
    int failed = 0;
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &offsets->elems[i];
        rd_kafka_resp_err_t e = err ? err : tp->err;
        if (e) {
            failed++;
            kf_warn(C, "mapping %s: commit of %s[%d]@%lld failed: %s", c->m->name, tp->topic,
                    tp->partition, (long long)tp->offset, rd_kafka_err2str(e));
            continue;
        }
        kf_partition *p = kf_assignment_find(&c->parts, tp->topic, tp->partition);
        if (p && tp->offset > p->committed) {
            p->committed = tp->offset;
            atomic_store(&p->trim, tp->offset); /* rides on the next completion */
        }
    }
    if (failed)
        KF_METRIC_ADD(c->metrics, commit_errors, 1);
    else if (offsets && offsets->cnt)
        KF_METRIC_ADD(c->metrics, commits, 1);
    c->commit_failures = failed ? c->commit_failures + 1 : 0;
    return failed ? -1 : 0;
}

/*
 * The periodic commit of at-least-once and exactly-once-with-Redis mappings:
 * asynchronous, so a record arriving while the broker answers is not held
 * up behind the commit (a synchronous one would block the consumer thread
 * for a round trip every interval: the latency tail). rd_kafka_commit_queue
 * with our own queue is asynchronous and delivers the result as an event
 * there. `committed` moves (and the Redis trim with it) only when the result
 * says so. Returns 1 when a commit was sent.
 */
static int commit_async(kf_consumer *c)
{
    if (c->commit_pending) return 0;
    rd_kafka_topic_partition_list_t *l = watermarks(c, NULL);
    int sent = 0;
    if (l->cnt > 0) {
        /* librdkafka 2.0.2: offset_commit_cb never runs for a consume_batch_queue poller.
         * The result is asked for as an event on commit_q instead (serve_commits). */
        c->commit_sent_ns = kf_now_ns();
        rd_kafka_resp_err_t err = rd_kafka_commit_queue(c->rk, l, c->commit_q, NULL, NULL);
        if (err)
            note_committed(c, err, l);
        else
            sent = c->commit_pending = 1;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return sent;
}

/* Serves the results of asynchronous commits (wait_ms: how long to wait for
 * one). */
static void serve_commits(kf_consumer *c, int wait_ms)
{
    rd_kafka_event_t *ev;
    while (c->commit_pending && (ev = rd_kafka_queue_poll(c->commit_q, wait_ms))) {
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT) {
            KF_METRIC_TIME(c->metrics, commit_duration, kf_now_ns() - c->commit_sent_ns);
            note_committed(c, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev));
            c->commit_pending = 0;
        }
        rd_kafka_event_destroy(ev);
    }
}

/* Commits synchronously and checks every partition's result; through the
 * transaction when the mapping has one. Returns 0, -1 when nothing was
 * committed and nothing is left open, -2 when a transaction's outcome is
 * unknown (kf_consumer_eos_commit_txn). */
static int commit(kf_consumer *c, const rd_kafka_topic_partition_list_t *only)
{
    /* An asynchronous commit still out: take its result first, so that
     * `committed` is current (the broker applies commits in order anyway). */
    serve_commits(c, 5000);
    if (c->eos.txn) {
        /* Offsets go only through the transaction, with the staged outputs. */
        kf_partition **ps = malloc((c->parts.count + 1) * sizeof *ps);
        if (!ps) return -1;
        size_t n = 0;
        for (size_t i = 0; i < c->parts.count; i++) {
            kf_partition *p = c->parts.items[i];
            if (!only || rd_kafka_topic_partition_list_find(only, p->topic, p->partition))
                ps[n++] = p;
        }
        int rc = kf_consumer_eos_commit_txn(&c->eos, c->rk, ps, n, c->metrics);
        free(ps);
        c->commit_failures = rc ? c->commit_failures + 1 : 0;
        return rc;
    }
    rd_kafka_topic_partition_list_t *l = watermarks(c, only);
    int rc = 0;
    if (l->cnt > 0) {
        int64_t t0 = kf_now_ns();
        rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, l, 0);
        KF_METRIC_TIME(c->metrics, commit_duration, kf_now_ns() - t0);
        rc = note_committed(c, err, l);
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

int kf_consumer_commit_sync(kf_consumer *c, int timeout_ms)
{
    int64_t deadline = kf_now_ms() + timeout_ms;
    int rc;
    /* librdkafka 2.0.2: a timed-out EndTxn is retried under the same epoch (eos/txn.h).
     * So a commit of unknown outcome (-2) is never tried again: the producer
     * was replaced instead, and only a rewind settles it, which a stopping
     * consumer does not do (the next owner replays). -1 left nothing open (an
     * aborted transaction, a refused commit): trying again may succeed, and
     * the records are done, so it is worth the wait. */
    while ((rc = commit(c, NULL)) == -1 && kf_now_ms() + 200 < deadline)
        usleep(200 * 1000);
    return rc;
}

/* ---------------------------------------------------------------- rebalance */

/* Drops batch records of partitions that are going away. */
static void forget_batch(kf_consumer *c, const rd_kafka_topic_partition_list_t *parts)
{
    size_t k = 0;
    for (size_t i = 0; i < c->batch_n; i++) {
        kf_rec *r = c->batch[i];
        if (!parts || rd_kafka_topic_partition_list_find(parts, r->view.topic, r->view.partition))
            kf_rec_free(r);
        else
            c->batch[k++] = r;
    }
    c->batch_n = k;
    if (k == 0) c->batch_bytes = 0;
}

/*
 * Lets go of partitions. Records of theirs already dispatched (queued or
 * running) may finish until revoke_timeout_ms: dropping queued ones at once
 * would leave a hole below records of other keys that did finish, and the
 * next owner would redo those. What is still queued at the deadline is
 * dropped; what is still running may finish but is not committed here. Then
 * the watermark is committed synchronously.
 */
static void revoke_partitions(kf_consumer *c, const rd_kafka_topic_partition_list_t *parts)
{
    forget_batch(c, parts);
    int64_t deadline = kf_now_ms() + c->m->revoke_timeout_ms;
    for (int i = 0; i < parts->cnt; i++) {
        kf_partition *p =
            kf_assignment_find(&c->parts, parts->elems[i].topic, parts->elems[i].partition);
        if (!p) continue;
        /* A sink's breaker is open: the queued records cannot run, and
         * waiting for them would only hold the group's rebalance up. They go
         * now (the next owner redoes them); what is running may finish. */
        size_t dropped = 0;
        if (kf_dispatcher_held(c->d)) {
            atomic_store(&p->revoked, true);
            dropped = kf_dispatcher_drop_partition(c->d, p);
        }
        int64_t left = deadline - kf_now_ms();
        int idle = kf_dispatcher_wait_idle(c->d, p, left > 0 ? (int)left : 0) == 0;
        atomic_store(&p->revoked, true);
        if (idle) {
            if (dropped)
                kf_info(C,
                        "mapping %s: %s[%d] revoked while a sink's circuit breaker is open: %zu "
                        "queued record(s) dropped; the next owner redoes them",
                        c->m->name, p->topic, p->partition, dropped);
            continue;
        }
        dropped += kf_dispatcher_drop_partition(c->d, p);
        kf_warn(C,
                "mapping %s: %s[%d] did not finish within revoke_timeout_ms: %zu queued "
                "record(s) dropped, %d still running; the next owner redoes them",
                c->m->name, p->topic, p->partition, dropped, atomic_load(&p->inflight));
    }
    /* A commit that left nothing open hands the partitions over cleanly:
     * they are released, and their next owner does not fence this
     * process's producer. */
    int release = commit(c, parts) != -2;
    for (int i = 0; c->eos.state && i < parts->cnt; i++) {
        kf_partition *p =
            kf_assignment_find(&c->parts, parts->elems[i].topic, parts->elems[i].partition);
        if (p) kf_consumer_eos_trim(&c->eos, p, release);
    }
    /* librdkafka 2.0.2: a partition's pause survives a revoke and a later assignment.
     * What kfleet paused (backpressure, a dead partition) is resumed as it
     * goes, or a later assignment of it would never fetch. */
    rd_kafka_topic_partition_list_t *held = rd_kafka_topic_partition_list_new(parts->cnt + 1);
    for (int i = 0; i < parts->cnt; i++) {
        kf_partition *p =
            kf_assignment_find(&c->parts, parts->elems[i].topic, parts->elems[i].partition);
        if (p && p->app_paused) rd_kafka_topic_partition_list_add(held, p->topic, p->partition);
    }
    if (held->cnt) rd_kafka_resume_partitions(c->rk, held);
    rd_kafka_topic_partition_list_destroy(held);
    for (int i = 0; i < parts->cnt; i++)
        kf_assignment_remove(&c->parts, parts->elems[i].topic, parts->elems[i].partition);
    atomic_store(&c->metrics->assigned, (int)c->parts.count);
}

/* The partition's committed offset, for the crash ledger: exactly-once knows
 * it from the assign script; otherwise the broker is asked (only when the
 * ledger names something). -1 when unknown. */
static int64_t committed_for_ledger(kf_consumer *c, const kf_partition *p)
{
    int64_t trim = atomic_load(&p->trim);
    if (trim >= 0 || p->committed >= 0) return trim >= 0 ? trim : p->committed;
    rd_kafka_topic_partition_list_t *l = kf_consumer_one_partition(p);
    int64_t off = -1;
    if (!rd_kafka_committed(c->rk, l, 5000) && !l->elems[0].err) off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    return off;
}

void kf_consumer_load_crashes(kf_consumer *c, kf_partition *p, bool *skip)
{
    if (skip && *skip) return;
    char err[512] = "";
    kf_crash_entry *e = NULL;
    size_t n = 0;
    int rc = kf_crash_ledger_load(c->ledger, p->topic, p->partition, &e, &n, err, sizeof err);
    if (rc != KF_STATUS_OK) {
        kf_warn(C,
                "mapping %s: %s[%d]: cannot read the crash ledger (%s): a record that crashed "
                "the process before is not recognised until the partition is assigned again",
                c->m->name, p->topic, p->partition, err);
        if (skip) *skip = true;
        return;
    }
    /* Entries the committed offset has passed are never needed again. */
    if (n && kf_crash_ledger_prune(c->ledger, p->topic, p->partition, committed_for_ledger(c, p), e,
                                   &n, err, sizeof err) != KF_STATUS_OK)
        kf_debug(C, "mapping %s: %s[%d]: stale crash ledger entries stay until their TTL: %s",
                 c->m->name, p->topic, p->partition, err);
    free(p->crash);
    p->crash = n ? e : NULL;
    p->ncrash = n;
    if (!n) free(e);
    for (size_t i = 0; i < n; i++) {
        char at[64];
        if (e[i].n > 1)
            snprintf(at, sizeof at, "a batch call over offsets %lld..%lld", (long long)e[i].offset,
                     (long long)(e[i].offset + e[i].n - 1));
        else
            snprintf(at, sizeof at, "offset %lld", (long long)e[i].offset);
        kf_log_rec(KF_LOG_WARN, C,
                   &(kf_log_fields){.mapping = c->m->name,
                                    .topic = p->topic,
                                    .partition = p->partition,
                                    .offset = e[i].offset},
                   "mapping %s: %s[%d]: %s crashed the process %lld time(s)%s%s: %s", c->m->name,
                   p->topic, p->partition, at, (long long)e[i].count, e[i].sig[0] ? " with " : "",
                   e[i].sig,
                   e[i].n > 1 ? "its records run in calls of their own"
                   : e[i].count < c->m->retry.max_crashes
                       ? "it runs in a call of its own"
                       : "it goes to the on-failure topic without running");
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    kf_consumer *c = opaque;
    KF_METRIC_ADD(c->metrics, rebalances, 1);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        kf_assignment_add_all(&c->parts, parts);
        static const atomic_int never = 0;
        /* Exactly-once: the committed offsets that the assignment fetches
         * must include a transaction of unknown outcome that did commit, or
         * its records run and commit twice. */
        kf_consumer_eos_settle(&c->eos, c->stop ? c->stop : &never);
        /* Exactly-once: the epoch and the done marks before any record. */
        for (int i = 0; c->eos.state && i < parts->cnt; i++) {
            kf_partition *p =
                kf_assignment_find(&c->parts, parts->elems[i].topic, parts->elems[i].partition);
            if (p && !atomic_load(&p->ready))
                kf_consumer_eos_assign(&c->eos, c->m, p, c->stop ? c->stop : &never);
        }
        /* Records that crashed the process under an earlier owner. */
        bool skip = false;
        for (int i = 0; i < parts->cnt; i++) {
            kf_partition *p =
                kf_assignment_find(&c->parts, parts->elems[i].topic, parts->elems[i].partition);
            if (p && !p->assigned_ms) kf_consumer_load_crashes(c, p, &skip);
        }
        kf_assignment_apply_start(rk, c->m, parts);
        rd_kafka_error_t *e = NULL;
        rd_kafka_resp_err_t re = 0;
        if (c->cooperative)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            re = rd_kafka_assign(rk, parts);
        if (e || re) {
            kf_error(C, "mapping %s: assign failed: %s", c->m->name,
                     e ? rd_kafka_error_string(e) : rd_kafka_err2str(re));
            if (e) rd_kafka_error_destroy(e);
        }
        /* librdkafka 2.0.2: a pause or resume right after an assignment drops its fetch start.
         * New partitions are neither paused nor resumed here (START_WINDOW_MS). */
        int64_t now = kf_now_ms();
        for (int i = 0; i < parts->cnt; i++) {
            kf_partition *p =
                kf_assignment_find(&c->parts, parts->elems[i].topic, parts->elems[i].partition);
            if (p && !p->assigned_ms) p->assigned_ms = now;
        }
        kf_info(C, "mapping %s: assigned %d partition(s), %zu in all", c->m->name, parts->cnt,
                c->parts.count);
    } else {
        revoke_partitions(c, parts);
        if (c->cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
            if (e) rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, NULL);
        }
        kf_info(C, "mapping %s: revoked %d partition(s) (%s)", c->m->name, parts->cnt,
                rd_kafka_err2name(err));
    }
    atomic_store(&c->metrics->assigned, (int)c->parts.count);
    kf_consumer_gauges_publish(c);
}

/* ------------------------------------------------------------------ polling */

/*
 * librdkafka 2.0.2: a pause or resume drops a fetch start still queued (issue #2190).
 * A pause or a resume bumps the partition's op version, and a fetch start
 * still queued behind it (a new assignment's, sent once its committed offset
 * is known) is then dropped as outdated: the partition never fetches. So
 * kfleet touches a partition's pause only when it paused it itself, and
 * leaves a partition alone for START_WINDOW_MS after its assignment (what it
 * fetches meanwhile is still bounded by the prefetch queue). The stall
 * watchdog resumes and seeks a partition that never fetches anyway.
 */
#define START_WINDOW_MS 2000

/* Pauses (or resumes) the partitions kfleet may touch; a dead partition
 * stays paused until it is taken anew. */
static int pause_parts(kf_consumer *c, int pause, int64_t now)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    int n = 0;
    for (size_t i = 0; i < c->parts.count; i++) {
        kf_partition *p = c->parts.items[i];
        if (pause ? p->app_paused || now - p->assigned_ms < START_WINDOW_MS
                  : !p->app_paused || atomic_load(&p->fenced))
            continue;
        p->app_paused = pause;
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
    }
    int changed = l->cnt;
    if (changed)
        kf_debug(C, "mapping %s: %s %d partition(s)", c->m->name, pause ? "paused" : "resumed",
                 changed);
    if (changed && pause)
        rd_kafka_pause_partitions(c->rk, l);
    else if (changed)
        rd_kafka_resume_partitions(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    for (size_t i = 0; i < c->parts.count; i++)
        n += c->parts.items[i]->app_paused;
    atomic_store(&c->metrics->paused, n);
    return changed;
}

static void set_paused(kf_consumer *c, int pause)
{
    if (c->paused == pause) return;
    pause_parts(c, pause, kf_now_ms());
    c->paused = pause;
    kf_debug(C, "mapping %s: %s (%lld records in flight)", c->m->name,
             !pause                     ? "below half the limit: going on"
             : kf_dispatcher_held(c->d) ? "a sink's circuit breaker is open: holding back"
                                        : "in-flight limit reached: holding back",
             (long long)kf_dispatcher_inflight(c->d));
}

/* Adds the batch's offsets to their trackers, one lock per run of a
 * partition's records (a consumed batch comes in such runs). Until then the
 * batch's records are not in a tracker, which is safe: a tracker's watermark
 * never passes an offset it has not seen. */
static void track_batch(kf_consumer *c)
{
    int64_t offs[256];
    for (size_t i = 0, end; i < c->batch_n; i = end) {
        kf_partition *p = c->batch[i]->part;
        end = kf_rec_run_end(c->batch, c->batch_n, i, 256);
        size_t k = end - i;
        for (size_t j = i; j < end; j++)
            offs[j - i] = c->batch[j]->view.offset;
        size_t done = kf_tracker_add_many(p->tracker, offs, k);
        while (done < k) {
            /* Offsets went backwards: a seek. Start the tracker over here
             * (an empty tracker takes any offset, so this ends). */
            kf_warn(C, "mapping %s: %s[%d] went back to offset %lld; tracking anew", c->m->name,
                    p->topic, p->partition, (long long)offs[done]);
            kf_tracker_reset(p->tracker);
            size_t more = kf_tracker_add_many(p->tracker, offs + done, k - done);
            done += more ? more : 1; /* a negative offset: never tracked */
        }
    }
}

static void submit(kf_consumer *c)
{
    track_batch(c);
    if (c->batch_n) kf_dispatcher_submit(c->d, c->batch, c->batch_n);
    c->batch_n = 0;
    c->batch_bytes = 0;
}

/* While paused: partitions that were in their start window when the pause
 * began join it once out of it (looked at every 500 ms). */
static void pause_late_comers(kf_consumer *c, int64_t now)
{
    if (now < c->next_pause_sweep) return;
    pause_parts(c, 1, now);
    c->next_pause_sweep = now + 500;
}

/* How long the in-flight limit may hold before the partitions are paused. */
#define PAUSE_AFTER_MS 500

/*
 * Exactly-once keeps state for every record dispatched since the last commit
 * (done marks in Redis, staged Kafka outputs in memory), so there the window
 * is the offsets dispatched and not yet committed, not just those in flight.
 */
static int64_t uncommitted(kf_consumer *c)
{
    int64_t n = 0;
    for (size_t i = 0; i < c->parts.count; i++) {
        kf_partition *p = c->parts.items[i];
        /* A dead partition's records are dropped, not committed: they do
         * not hold the window (it is taken anew from its committed offset). */
        if (atomic_load(&p->fenced)) continue;
        int64_t last = kf_tracker_last(p->tracker);
        int64_t from = p->committed >= 0 ? p->committed : p->first_offset;
        if (last >= 0 && from >= 0 && last + 1 > from) n += last + 1 - from;
    }
    return n;
}

/*
 * Backpressure. At the in-flight limit the consumer first just stops taking
 * records: librdkafka's prefetch queue is bounded, so fetching stops on its
 * own, and a short wait costs nothing. Pausing is kept for a limit that
 * holds (a slow handler): a paused consumer still polls, so rebalances and
 * commit results are served, and pausing costs a refetch on resume, which is
 * why it is not done for every burst. Returns 1 when the caller should skip
 * polling this turn.
 */
static int throttle(kf_consumer *c, int64_t now)
{
    const kf_mapping_config *m = c->m;
    int64_t dispatched = kf_dispatcher_inflight(c->d) + (int64_t)c->batch_n;
    int64_t inflight = dispatched;
    int window_bound = 0;
    if (c->eos.state) {
        /* The window may hold twice the in-flight limit: commits start at
         * one limit's worth (see kf_consumer_run), so pausing at two means a
         * commit is already under way. */
        int64_t window = uncommitted(c) / 2 + (int64_t)c->batch_n;
        if (window > inflight) {
            inflight = window;
            window_bound = 1;
        }
    }
    c->throttled = inflight >= m->concurrency.max_inflight;
    c->window_full = c->throttled && window_bound;
    /* A sink's circuit breaker is open: nothing runs but one probe at a
     * time, so fetching more would only fill memory. Pause at once; what
     * was fetched already is still submitted (offsets stay in order). */
    bool held = kf_dispatcher_held(c->d);
    if (held && !c->paused) {
        set_paused(c, 1);
        c->next_pause_sweep = now + 500;
    }
    if (inflight < m->concurrency.max_inflight) {
        c->pressure_since = 0;
        if (held) pause_late_comers(c, now);
        if (c->paused && !held && inflight <= m->concurrency.max_inflight / 2) set_paused(c, 0);
        return 0;
    }
    if (c->paused) {
        pause_late_comers(c, now);
        return 0;
    }
    if (!c->pressure_since) c->pressure_since = now;
    if (now - c->pressure_since >= PAUSE_AFTER_MS) {
        set_paused(c, 1);
        return 0;
    }
    submit(c);
    if (window_bound) {
        /* The uncommitted window shrinks only when a commit lands: wait for
         * the outstanding commit's result, or, with none out (the watermark
         * has not moved yet), for a record to finish. Never spin: on two
         * cores a spinning consumer takes the CPU the workers and Redis need. */
        if (c->commit_pending)
            serve_commits(c, 10);
        else
            kf_dispatcher_wait_below(c->d, dispatched > 1 ? dispatched : 1, 10);
        return 1;
    }
    int64_t room = m->concurrency.max_inflight - m->batch.max_records;
    kf_dispatcher_wait_below(c->d, room > 0 ? room : 1, 50);
    return 1;
}

/* A record we cannot copy cannot be skipped either: the watermark would pass
 * it. Crashing replays it from the last commit. */
static _Noreturn void out_of_memory(kf_consumer *c)
{
    kf_error(C, "mapping %s: out of memory copying a record; aborting to replay it", c->m->name);
    abort();
}

/* A held message's release, on whichever thread frees its record; the
 * consumer's rd_kafka_t outlives every record (kf_consumer_close). */
static void release_msg(void *m)
{
    rd_kafka_message_destroy(m);
}

/* Puts one message into the batch as a record that holds it (at-least-once)
 * or copies it (exactly-once). Returns 0, or -1 when it was skipped (the
 * caller then destroys the message). */
static int take_message(kf_consumer *c, rd_kafka_message_t *msg)
{
    if (msg->err) {
        if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            kf_warn(C, "mapping %s: %s", c->m->name, rd_kafka_message_errstr(msg));
        else if (c->redrive && msg->rkt) {
            kf_partition *p =
                kf_assignment_find(&c->parts, rd_kafka_topic_name(msg->rkt), msg->partition);
            if (p) kf_redrive_eof(c->redrive, p, msg->offset);
        }
        return -1;
    }
    const char *topic = rd_kafka_topic_name(msg->rkt);
    kf_partition *p = kf_assignment_find(&c->parts, topic, msg->partition);
    if (!p || atomic_load(&p->revoked)) return -1; /* fetched just before a revoke */
    /* Exactly-once: a partition without its epoch (only while stopping) or
     * fenced is not processed; it is not committed either, so nothing is lost. */
    if (c->eos.state && (!atomic_load(&p->ready) || atomic_load(&p->fenced))) return -1;

    kf_header hs[64], *hp = hs;
    size_t nh = 0;
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        size_t cnt = rd_kafka_header_cnt(hdrs);
        if (cnt > 64) hp = malloc(cnt * sizeof *hp);
        if (!hp) out_of_memory(c);
        for (size_t i = 0; i < cnt; i++) {
            const void *v;
            if (rd_kafka_header_get_all(hdrs, i, &hp[nh].name, &v, &hp[nh].value_len)) break;
            hp[nh++].value = v;
        }
    }
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(msg, &tstype);
    kf_redrive_verdict verdict = KF_REDRIVE_TAKE;
    if (c->redrive) {
        verdict = kf_redrive_judge(c->redrive, c->rk, p, msg->offset, ts, hp, nh);
        if (verdict == KF_REDRIVE_LEAVE) {
            if (hp != hs) free(hp);
            return -1; /* not tracked: the partition's watermark stops before it */
        }
    }
    /* At-least-once holds the message instead of copying key and value
     * (measured faster); exactly-once copies (measured faster there: its
     * records live longer, pinning librdkafka's fetch buffers). */
    kf_rec *r = c->eos.state ? kf_rec_new_in(kf_dispatcher_pool(c->d), p, msg->offset, ts, msg->key,
                                             msg->key_len, msg->payload, msg->len, hp, nh)
                             : kf_rec_new_held(kf_dispatcher_pool(c->d), p, msg->offset, ts,
                                               msg->key, msg->key_len, msg->payload, msg->len, hp,
                                               nh, msg, release_msg);
    if (hp != hs) free(hp);
    if (!r) out_of_memory(c);
    if (verdict == KF_REDRIVE_PASS) r->passed_over = true;
    if (c->redrive && verdict == KF_REDRIVE_TAKE && kf_redrive_attach(c->redrive, r) != 0)
        out_of_memory(c);
    if (c->eos.state) rd_kafka_message_destroy(msg);
    if (p->first_offset < 0) p->first_offset = r->view.offset; /* msg may be gone */
    if (c->batch_n == 0) c->batch_deadline = kf_now_ms() + c->m->batch.window_ms;
    c->batch[c->batch_n++] = r;
    c->batch_bytes += r->bytes;
    return 0;
}

/* ------------------------------------------------------------------ helpers */

rd_kafka_topic_partition_list_t *kf_consumer_one_partition(const kf_partition *p)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
    return l;
}

/* ------------------------------------------------------------ the watchdog */

/* librdkafka's statistics, served on the consumer thread by the poll. */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    (void)len;
    kf_consumer *c = opaque;
    kf_wd_read_stats(c->parts.items, c->parts.count, json, kf_now_ms());
    return 0; /* librdkafka frees json */
}

/* Where a stuck partition's fetch restarts: after the last record kfleet
 * took (never past one it has not seen), else librdkafka's fetch position,
 * else the committed offset; -1 when none is known. */
static int64_t restart_offset(const kf_partition *p)
{
    int64_t last = kf_tracker_last(p->tracker);
    if (last >= 0) return last + 1;
    if (p->wd.next_offset >= 0) return p->wd.next_offset;
    return p->committed;
}

int kf_consumer_seek(kf_consumer *c, const kf_partition *p, rd_kafka_topic_partition_list_t *l,
                     int64_t off, int64_t shown, const char *then)
{
    l->elems[0].offset = off;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(c->rk, l, 5000);
    if (!e && !l->elems[0].err) return 0;
    kf_warn(C, "mapping %s: %s[%d]: seek to %lld failed: %s%s", c->m->name, p->topic, p->partition,
            (long long)shown, e ? rd_kafka_error_string(e) : rd_kafka_err2str(l->elems[0].err),
            then);
    if (e) rd_kafka_error_destroy(e);
    return -1;
}

/* Acts on a stall whose cause is known (see kf_wd_describe). */
static void recover(kf_consumer *c, kf_partition *p, kf_stall s)
{
    if (s == KF_STALL_BACKPRESSURE) {
        set_paused(c, 0);
        return;
    }
    if (s != KF_STALL_NOT_FETCHING) return;
    /* Resume first, then seek: the seek is the fetch start that counts. */
    rd_kafka_topic_partition_list_t *l = kf_consumer_one_partition(p);
    rd_kafka_resume_partitions(c->rk, l);
    p->app_paused = false;
    int64_t off = restart_offset(p);
    if (off >= 0) kf_consumer_seek(c, p, l, off, off, "");
    rd_kafka_topic_partition_list_destroy(l);
}

/* "12345" or "?" for an offset that is not known. */
static const char *off_str(int64_t v, char *buf, size_t len)
{
    if (v < 0) return "?";
    snprintf(buf, len, "%lld", (long long)v);
    return buf;
}

static void report_stall(kf_consumer *c, kf_partition *p, kf_stall s, int64_t still_ms)
{
    char b[4][24];
    kf_warn(C,
            "mapping %s: %s[%d] stalled: nothing in flight and nothing done for %lld s with "
            "records to read (fetch position %s, log end %s, last stable %s, committed %s); "
            "state: backpressure %s, window %s, %s, commits %s; %s",
            c->m->name, p->topic, p->partition, (long long)(still_ms / 1000),
            off_str(p->wd.next_offset, b[0], sizeof b[0]),
            off_str(p->wd.hi_offset, b[1], sizeof b[1]),
            off_str(p->wd.ls_offset, b[2], sizeof b[2]), off_str(p->committed, b[3], sizeof b[3]),
            c->paused ? "paused" : "off", c->window_full ? "full" : "open",
            atomic_load(&p->fenced) ? "fenced/rewinding" : "owned",
            c->commit_failures ? "failing" : "ok", kf_wd_describe(s));
}

/*
 * Once a second: judges every assigned partition (consumer/watchdog.h), logs
 * a stall when it starts and every five bounds while it lasts, counts it,
 * and recovers what can be recovered.
 */
static void watchdog(kf_consumer *c, int64_t now)
{
    const kf_mapping_config *m = c->m;
    if (m->stall_timeout_ms <= 0 || now < c->next_watch) return;
    c->next_watch = now + 1000;
    int stalled = 0;
    for (size_t i = 0; i < c->parts.count; i++) {
        kf_partition *p = c->parts.items[i];
        kf_wd_input in = {
            .now_ms = now,
            .bound_ms = m->stall_timeout_ms,
            .last_progress = kf_wd_progress(p, now),
            .inflight = atomic_load(&p->inflight),
            .committed = p->committed,
            .next_offset = p->wd.next_offset,
            .hi_offset = p->wd.hi_offset,
            .ls_offset = p->wd.ls_offset,
            .fetchq_cnt = p->wd.fetchq_cnt,
            .read_committed = m->exactly_once,
            .dead = atomic_load(&p->fenced),
            .paused = c->paused,
            .sink_down = kf_dispatcher_held(c->d),
            .throttled = c->throttled,
            .window_full = c->window_full,
            .mapping_inflight = kf_dispatcher_inflight(c->d),
        };
        kf_stall s = kf_wd_judge(&in);
        if (s == KF_STALL_NONE) {
            if (p->wd.stall)
                kf_info(C, "mapping %s: %s[%d] moves again", m->name, p->topic, p->partition);
            p->wd.stall = 0;
            continue;
        }
        stalled++;
        if (!p->wd.stall) KF_METRIC_ADD(c->metrics, stalls, 1);
        if (!p->wd.stall || now - p->wd.warned_ms >= 5 * (int64_t)m->stall_timeout_ms) {
            report_stall(c, p, s, now - in.last_progress);
            p->wd.warned_ms = now;
            recover(c, p, s);
        }
        p->wd.stall = (int)s;
    }
    atomic_store(&c->metrics->stalled, stalled);
}

void kf_consumer_run(kf_consumer *c, const atomic_int *stop)
{
    const kf_mapping_config *m = c->m;
    c->stop = stop;
    if (c->eos.txn) {
        const char *topics[33];
        size_t n = 0;
        for (size_t i = 0; i < m->sink_count && n < 32; i++)
            if (kf_sink_type_caps(m->sinks[i].type) & KF_SINK_CAP_TRANSACTIONAL)
                topics[n++] = m->sinks[i].topic;
        if (kf_dead_letter_topic(m)) topics[n++] = kf_dead_letter_topic(m);
        kf_txn_warmup(c->eos.txn, topics, n);
    }
    c->next_commit = kf_now_ms() + m->commit_interval_ms;
    while (!atomic_load(stop)) {
        int64_t now = kf_now_ms();
        /* Exactly-once commits also when the uncommitted window reaches the
         * in-flight limit ("every interval or N records"). */
        if (now >= c->next_commit ||
            (c->eos.state && uncommitted(c) >= m->concurrency.max_inflight)) {
            kf_consumer_retake_dead(c, now);
            /* The transaction is synchronous (its outputs and offsets go
             * together); offset commits are asynchronous. */
            if (c->eos.txn)
                commit(c, NULL);
            else
                commit_async(c);
            c->next_commit = now + m->commit_interval_ms;
        }
        serve_commits(c, 0);
        watchdog(c, now);
        kf_consumer_parked_refresh(c->eos.state, m, c->parts.items, c->parts.count, c->metrics, now,
                                   &c->next_park_refresh);
        kf_consumer_gauges(c, now);
        if (throttle(c, now)) continue;
        kf_prefetch_check(c->prefetch, c, now, c->took, c->took_bytes);

        /* While paused, what was fetched already is still taken and
         * submitted: never holding a record back keeps offsets in order. */
        size_t room = (size_t)m->batch.max_records - c->batch_n;
        int timeout = 100;
        if (c->batch_n) {
            int64_t left = c->batch_deadline - now;
            timeout = left > 0 ? (int)left : 0;
        }
        /* rd_kafka_consume_batch_queue waits for `room` records or the
         * timeout, whichever comes first. With an empty batch, take what is
         * there now, else wait for ONE record: the first record starts the
         * batch window, so a record waits at most window_ms, not 100 ms. */
        ssize_t n;
        if (c->batch_n == 0) {
            n = rd_kafka_consume_batch_queue(c->queue, 0, c->msgs, room);
            if (n == 0) n = rd_kafka_consume_batch_queue(c->queue, timeout, c->msgs, 1);
        } else {
            n = rd_kafka_consume_batch_queue(c->queue, timeout, c->msgs, room);
        }
        if (n < 0) {
            kf_warn(C, "mapping %s: consume: %s", m->name, rd_kafka_err2str(rd_kafka_last_error()));
            n = 0;
        }
        c->took = (long)n;
        c->took_bytes = 0;
        for (ssize_t i = 0; i < n; i++) {
            c->took_bytes += c->msgs[i]->len + c->msgs[i]->key_len;
            /* The message now belongs to its record, or is done with. */
            if (take_message(c, c->msgs[i])) rd_kafka_message_destroy(c->msgs[i]);
            if (c->batch_bytes >= (size_t)m->batch.max_bytes) submit(c);
        }
        if (c->batch_n &&
            (c->batch_n >= (size_t)m->batch.max_records || kf_now_ms() >= c->batch_deadline))
            submit(c);
        if (c->redrive)
            kf_redrive_check(c->redrive, c->parts.items, c->parts.count, c->batch_n,
                             KF_METRIC_GET(c->metrics, inflight));
    }
    forget_batch(c, NULL);
}

/* ------------------------------------------------------------------- set-up */

static int configure(kf_consumer *c, rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    const kf_mapping_config *m = c->m;
    char client_id[256];
    snprintf(client_id, sizeof client_id, "kfleet-%s", m->name);
    /* Defaults first; the user's kafka.properties and the mapping's consumer
     * object override them, except the commit settings kfleet depends on
     * (config validation refuses auto commit). */
    const char *defaults[][2] = {
        {"client.id", client_id},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "false"},
        /* A prefetch queue of about 100 ms at a million records a second:
         * the nudger (prefetch.h) keeps librdkafka 2.0.2 fetching at it. */
        {"queued.min.messages", "100000"},
        {"queued.max.messages.kbytes", "32768"},
        /* librdkafka 2.0.2: assignments get lost with cooperative-sticky and manual commits.
         * Eager assignment is the default; cooperative-sticky is an opt-in. */
        {"partition.assignment.strategy", "range,roundrobin"},
        {"auto.offset.reset", m->starting_position == KF_START_LATEST ? "latest" : "earliest"},
        /* Exactly-once reads only committed input (an upstream transaction
         * that aborts never reaches a handler). */
        {"isolation.level", m->exactly_once ? "read_committed" : "read_uncommitted"},
    };
    for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++)
        if (kf_kafka_conf_set(conf, defaults[i][0], defaults[i][1], NULL, err, errlen)) return -1;
    if (kf_kafka_conf_set(conf, "bootstrap.servers", c->cfg->brokers, "kafka.brokers", err, errlen))
        return -1;
    if (kf_kafka_conf_apply(conf, &c->cfg->kafka, "kafka.properties", err, errlen)) return -1;
    char where[128];
    snprintf(where, sizeof where, "mappings[%s].consumer", m->name);
    if (kf_kafka_conf_apply(conf, &m->consumer, where, err, errlen)) return -1;
    /* A redrive is a group of its own, and must see each partition's end. */
    if (kf_kafka_conf_set(conf, "group.id", m->redrive ? m->redrive->group : m->group_id,
                          "group_id", err, errlen) ||
        (m->redrive && kf_kafka_conf_set(conf, "enable.partition.eof", "true", NULL, err, errlen)))
        return -1;

    char strategy[256];
    size_t sz = sizeof strategy;
    if (rd_kafka_conf_get(conf, "partition.assignment.strategy", strategy, &sz) == RD_KAFKA_CONF_OK)
        c->cooperative = strstr(strategy, "cooperative") != NULL;
    if (m->stall_timeout_ms > 0 || c->cfg->metrics_listen) {
        /* The watchdog reads the fetch state from the statistics, and
         * /metrics the partitions' lag (consumer/gauges.h); a user's own
         * statistics.interval.ms (set above) wins. */
        char iv[32];
        size_t ivsz = sizeof iv;
        if (rd_kafka_conf_get(conf, "statistics.interval.ms", iv, &ivsz) == RD_KAFKA_CONF_OK &&
            atoi(iv) == 0) {
            int every = m->stall_timeout_ms > 0 ? m->stall_timeout_ms / 4 : 5000;
            snprintf(iv, sizeof iv, "%d", every < 1000 ? 1000 : every > 5000 ? 5000 : every);
            if (kf_kafka_conf_set(conf, "statistics.interval.ms", iv, NULL, err, errlen)) return -1;
        }
        rd_kafka_conf_set_stats_cb(conf, on_stats);
    }
    c->prefetch = kf_prefetch_new(conf, err, errlen);
    if (!c->prefetch) return -1;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, c);
    kf_kafka_conf_forward_logs(conf);
    return 0;
}

kf_consumer *kf_consumer_new(const kf_config *cfg, const kf_mapping_config *m, kf_dispatcher *d,
                             kf_metrics *metrics, const kf_consumer_eos *eos, char *err,
                             size_t errlen)
{
    kf_consumer *c = calloc(1, sizeof *c);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *topics = NULL;
    if (!c) goto fail;
    c->cfg = cfg;
    c->m = m;
    c->d = d;
    if (eos) c->eos = *eos;
    c->metrics = metrics;
    c->batch = calloc((size_t)m->batch.max_records + 1, sizeof *c->batch);
    c->msgs = calloc((size_t)m->batch.max_records + 1, sizeof *c->msgs);
    if (!c->batch || !c->msgs) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (m->redrive && !(c->redrive = kf_redrive_new(m))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (configure(c, conf, err, errlen)) goto fail;
    c->ledger =
        kf_crash_ledger_new(cfg->redis_url, cfg->redis_key_prefix, m->group_id, err, errlen);
    if (!c->ledger) goto fail;
    char rkerr[512];
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rkerr, sizeof rkerr);
    if (!c->rk) {
        snprintf(err, errlen, "mapping %s: cannot create the consumer: %s", m->name, rkerr);
        goto fail;
    }
    conf = NULL; /* owned by rk now */
    rd_kafka_poll_set_consumer(c->rk);
    c->queue = rd_kafka_queue_get_consumer(c->rk);
    c->commit_q = rd_kafka_queue_new(c->rk);
    if (!c->queue || !c->commit_q) {
        snprintf(err, errlen, "mapping %s: cannot create the consumer's queues", m->name);
        goto fail;
    }
    if (kf_prefetch_start(c->prefetch, c->rk, c->metrics)) {
        snprintf(err, errlen, "mapping %s: cannot start the prefetch nudger", m->name);
        goto fail;
    }
    topics = rd_kafka_topic_partition_list_new((int)m->topic_count);
    for (size_t i = 0; i < m->topic_count; i++)
        rd_kafka_topic_partition_list_add(topics, m->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        snprintf(err, errlen, "mapping %s: cannot subscribe: %s", m->name, rd_kafka_err2str(e));
        goto fail;
    }
    return c;
fail:
    if (!c) snprintf(err, errlen, "out of memory");
    if (conf) rd_kafka_conf_destroy(conf);
    kf_consumer_destroy(c);
    return NULL;
}

const kf_redrive_progress *kf_consumer_redrive_progress(const kf_consumer *c)
{
    return c->redrive ? kf_redrive_progress_of(c->redrive) : NULL;
}

void kf_consumer_close(kf_consumer *c)
{
    if (!c || c->closed) return;
    c->closed = true;
    /* The nudger calls into rk: it stops first. */
    kf_prefetch_destroy(c->prefetch);
    c->prefetch = NULL;
    if (c->rk) {
        forget_batch(c, NULL);
        /* Leaving the group runs the revoke path: wait, commit, unassign. */
        rd_kafka_consumer_close(c->rk);
    }
}

void kf_consumer_destroy(kf_consumer *c)
{
    if (!c) return;
    kf_consumer_close(c);
    if (c->rk) {
        if (c->queue) rd_kafka_queue_destroy(c->queue);
        if (c->commit_q) rd_kafka_queue_destroy(c->commit_q);
        rd_kafka_destroy(c->rk);
    }
    kf_assignment_clear(&c->parts);
    kf_crash_ledger_destroy(c->ledger);
    kf_redrive_destroy(c->redrive);
    free(c->batch);
    free(c->msgs);
    free(c);
}
