#include "dispatcher/dispatcher_priv.h"

#include "dispatcher/backoff.h"
#include "dispatcher/bisect.h"
#include "dispatcher/crash_report.h"
#include "eos/crash_ledger.h"
#include "eos/dedupe.h"
#include "eos/park.h"
#include "dispatcher/dead_letter.h"
#include "dispatcher/emitter.h"
#include "dispatcher/origin.h"
#include "dispatcher/rec_log.h"
#include "dispatcher/record_pool.h"
#include "common/failure_log.h"
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *C = "dispatcher";

/* A single-record handler call this slow is timed every time: the two clock
 * reads of a timing (about 45 ns) are then under 1 % of it. Faster ones are
 * sampled (kf_call_timing). */
#define TIME_EVERY_CALL_NS 5000

/* ------------------------------------------------------------------ workers */

/* Hands a record's outputs to the sinks. Exactly-once: a sink marked done
 * for this offset at assignment is skipped (a replay redoes only the sinks
 * whose mark is missing), and Kafka outputs are staged for the transaction. */
static void write_outputs(worker *w, kf_rec *r)
{
    kf_dispatcher *d = w->d;
    unsigned seq[KF_METRICS_MAX_SINKS] = {0};
    unsigned staged_seq = 0;
    uint32_t done = d->env.exactly_once ? kf_partition_done_mask(r->part, r->view.offset) : 0;
    if (r->origin) done |= r->origin->done; /* reached before it was dead-lettered */
    /* The done mask holds 32 sinks: beyond them freshness is unknown. */
    bool fresh = d->env.exactly_once && d->env.sink_count <= 32 && done == 0 && !r->eos_written;
    r->eos_written = true;
    r->tried = 0;
    atomic_store(&r->refused, 0);
    kf_staged **tail = &r->staged;
    while (*tail)
        tail = &(*tail)->next;
    for (kf_output *o = r->outputs; o; o = o->next) {
        size_t from = o->sink < 0 ? 0 : (size_t)o->sink;
        size_t to = o->sink < 0 ? d->env.sink_count : from + 1;
        for (size_t s = from; s < to; s++) {
            unsigned n = s < KF_METRICS_MAX_SINKS ? seq[s]++ : 0;
            if (s < 32 && (done & (1u << s))) continue;
            if (d->staged[s]) {
                const kf_sink_config *sc = kf_sink_config_of(d->env.sinks[s]);
                kf_staged *st =
                    kf_staged_new(r->view.offset, staged_seq++, sc->topic, o->key, o->key_len,
                                  o->value, o->value_len, o->headers, o->header_count);
                if (!st) {
                    atomic_store(&r->worst, KF_STATUS_RETRY);
                    continue;
                }
                *tail = st;
                tail = &st->next;
                KF_METRIC_ADD(d->env.metrics, outputs[s], 1);
                continue;
            }
            kf_sink_msg msg = {
                .src_topic = r->view.topic,
                .src_partition = r->view.partition,
                .src_offset = r->view.offset,
                .id_topic = r->origin ? r->origin->view.topic : NULL,
                .id_partition = r->origin ? r->origin->view.partition : 0,
                .id_offset = r->origin ? r->origin->view.offset : 0,
                .seq = n,
                .key = o->key,
                .key_len = o->key_len,
                .value = o->value,
                .value_len = o->value_len,
                .headers = o->headers,
                .header_count = o->header_count,
                .eos_epoch = d->env.exactly_once ? r->part->epoch : 0,
                .eos_trim = atomic_load(&r->part->trim),
                .eos_fresh = fresh,
            };
            if (s < 32) {
                w->wrote |= 1u << s;
                r->tried |= 1u << s;
            }
            kf_completion_write(d, w->sws[s], (int)s, r, &msg);
        }
    }
    kf_rec_free_outputs(r); /* r->staged waits for the record's end */
}

/* The names of the sinks the record's effect reached (kfleet.sinks.done):
 * in an attempt of this run, by an earlier owner (the marks loaded at
 * assignment), or before a redrive. Written into buf. */
static const char *sinks_done(const kf_dispatcher *d, const kf_rec *r, char *buf, size_t len)
{
    uint32_t done = r->sinks_ok | (r->origin ? r->origin->done : 0);
    if (d->env.exactly_once) done |= kf_partition_done_mask(r->part, r->view.offset);
    size_t k = 0;
    buf[0] = '\0';
    for (size_t s = 0; s < d->env.sink_count && s < 32; s++) {
        if (!(done & (1u << s))) continue;
        int n = snprintf(buf + k, len - k, "%s%s", k ? "," : "", d->sink_names[s]);
        if (n < 0 || (size_t)n >= len - k) { /* a name cut off would name another sink */
            buf[k] = '\0';
            break;
        }
        k += (size_t)n;
    }
    return buf;
}

static void write_dead_letter(worker *w, kf_rec *r)
{
    kf_dispatcher *d = w->d;
    r->to_dead_letter = false;
    r->in_dead_letter = true;
    char done[1024];
    const kf_record *v = kf_rec_handler_view(r);
    kf_dead_letter_info info = {
        .why = r->fail_reason,
        .attempts = (r->origin ? r->origin->prior_attempts : 0) + r->view.attempt,
        .handler = kf_handler_name(d->env.handler),
        .mapping = d->env.mapping->name,
        .sinks_done = sinks_done(d, r, done, sizeof done),
    };
    kf_dead_letter dl;
    kf_dead_letter_build(&dl, v, &info);
    if (d->env.dead_letter_topic) {
        /* Exactly-once: the dead letter rides in the transaction like any
         * Kafka output; the record is done once it is staged. */
        kf_staged *st = kf_staged_new(r->view.offset, 0, d->env.dead_letter_topic, v->key,
                                      v->key_len, v->value, v->value_len, dl.headers, dl.count);
        if (st) {
            kf_staged_free_list(r->staged); /* only the dead letter goes */
            r->staged = st;
        } else {
            atomic_store(&r->worst, KF_STATUS_RETRY);
        }
        kf_dead_letter_free(&dl);
        return;
    }
    kf_sink_msg msg = {
        .src_topic = r->view.topic,
        .src_partition = r->view.partition,
        .src_offset = r->view.offset,
        .id_topic = r->origin ? v->topic : NULL,
        .id_partition = v->partition,
        .id_offset = v->offset,
        .key = v->key,
        .key_len = v->key_len,
        .value = v->value,
        .value_len = v->value_len,
        .headers = dl.headers,
        .header_count = dl.count,
    };
    kf_completion_write(d, w->dlq_ws, -1, r, &msg);
    kf_dead_letter_free(&dl);
}

/* The record's age limit (retry.max_record_age_ms), checked before each run.
 * It applies only with an on-failure topic: without one, an old record would
 * have nowhere to go but a retry that can never succeed. */
static int too_old(const kf_dispatcher *d, const kf_rec *r)
{
    const kf_mapping_config *m = d->env.mapping;
    /* A redriven record is as old as its first failure made it: the
     * redrive is the operator's decision to run it anyway. */
    return !r->origin && kf_completion_has_dead_letter(d) && m->retry.max_record_age_ms >= 0 &&
           r->view.timestamp_ms > 0 &&
           kf_wall_ms() - r->view.timestamp_ms > m->retry.max_record_age_ms;
}

/* V_PARK: to the parked store (park_records turns it into one of the others). */
enum verdict { V_SKIP = 0, V_HANDLE, V_GONE, V_PARK };

/* The crash ledger's say on a record (eos/crash_ledger.h): one that crashed
 * the process max_crashes times goes to the on-failure topic without
 * running (true: handed on); one that crashed it fewer times, or was in a
 * batch call that did, runs in a call of its own (*alone), so that a next
 * crash names it. Without an on-failure topic it runs again, said loudly. */
static bool crashed_before(kf_dispatcher *d, kf_rec *r, bool *alone)
{
    bool suspect;
    const char *sig;
    int64_t n = kf_partition_crashes(r->part, r->view.offset, &suspect, &sig);
    *alone = suspect;
    if (n < d->env.mapping->retry.max_crashes) return false;
    char why[160];
    snprintf(why, sizeof why, "the handler crashed the process (%s) on this record %lld time(s)",
             sig[0] ? sig : "a fatal signal", (long long)n);
    if (!kf_completion_has_dead_letter(d)) {
        kf_rec_log(KF_LOG_ERROR, C, d->env.mapping->name, r,
                   "mapping %s: %s[%d]@%lld: %s; no on_failure topic is configured: running it "
                   "again",
                   d->env.mapping->name, r->view.topic, r->view.partition,
                   (long long)r->view.offset, why);
        return false;
    }
    /* Where it goes (on-failure topic or park) says its own line. */
    KF_METRIC_ADD(d->env.metrics, records_crashed, 1);
    atomic_store(&r->pending, 0);
    kf_completion_failed(d, r, 1, why);
    return true;
}

/* The per-record step before the handler runs: the place where the
 * exactly-once protocol skips records already done. *alone: the record must
 * be called on its own (crashed_before). */
static enum verdict prepare(worker *w, kf_rec *r, bool *alone)
{
    kf_dispatcher *d = w->d;
    *alone = false;
    atomic_store(&r->pending, 1); /* the worker's guard */
    atomic_store(&r->worst, KF_STATUS_OK);
    if (atomic_load(&r->part->fenced) || atomic_load(&r->part->revoked)) {
        /* Revoked (it was queued past the revoke's drop, e.g. in a retry
         * lane a worker held) or fenced: the next owner redoes it. */
        atomic_store(&r->pending, 0);
        kf_completion_drop(r, d);
        return V_GONE;
    }
    if (r->to_dead_letter) {
        write_dead_letter(w, r);
        return V_SKIP;
    }
    if (r->to_park) return V_PARK;
    if (kf_completion_parks(d) && !r->origin &&
        kf_parked_follows(&r->part->parked, r->view.key, r->view.key_len, r->view.offset))
        return V_PARK; /* its key is parked: it waits there, in order */
    if (r->passed_over) {
        KF_METRIC_ADD(d->env.metrics, records_filtered, 1);
        return V_SKIP;
    }
    uint32_t done = r->origin ? r->origin->done : 0;
    if (d->all_marked && ((kf_partition_done_mask(r->part, r->view.offset) | done) &
                          d->all_marked) == d->all_marked) {
        /* A replay of a record every sink already has: nothing to redo. */
        KF_METRIC_ADD(d->env.metrics, records_replayed, 1);
        return V_SKIP;
    }
    if (d->env.filter && !kf_filter_match(d->env.filter, kf_rec_handler_view(r))) {
        KF_METRIC_ADD(d->env.metrics, records_filtered, 1);
        return V_SKIP; /* the guard's release completes it as done */
    }
    if (r->part->ncrash && crashed_before(d, r, alone)) return V_GONE;
    if (too_old(d, r)) {
        char why[96];
        snprintf(why, sizeof why, "record older than retry.max_record_age_ms (%lld ms)",
                 (long long)d->env.mapping->retry.max_record_age_ms);
        atomic_store(&r->pending, 0);
        kf_completion_failed(d, r, 1, why);
        return V_GONE; /* already handed on */
    }
    return V_HANDLE;
}

/*
 * Business-key dedupe, the per-chunk step before handlers run: one claim
 * script per partition in the chunk. A record whose business key another
 * offset of its partition claimed within the window is a producer-side
 * duplicate: done without a handler call, and counted.
 */
static void dedupe(worker *w, kf_rec **chunk, int *verdict, size_t n)
{
    kf_dispatcher *d = w->d;
    const kf_mapping_config *m = d->env.mapping;
    char *keys[KF_MAX_CHUNK];
    size_t lens[KF_MAX_CHUNK], idx[KF_MAX_CHUNK];
    int64_t offs[KF_MAX_CHUNK];
    int dup[KF_MAX_CHUNK];
    bool seen[KF_MAX_CHUNK] = {false};
    for (size_t i = 0; i < n; i++) {
        if (seen[i] || verdict[i] != V_HANDLE) continue;
        kf_partition *p = chunk[i]->part;
        size_t k = 0;
        for (size_t j = i; j < n; j++) {
            if (seen[j] || verdict[j] != V_HANDLE || chunk[j]->part != p) continue;
            seen[j] = true;
            char *key = kf_business_key(m, kf_rec_handler_view(chunk[j]), &lens[k]);
            if (!key) continue; /* no business key: nothing to dedupe */
            keys[k] = key;
            offs[k] = chunk[j]->view.offset;
            idx[k++] = j;
        }
        if (!k) continue;
        char err[512];
        int fenced_now = 0;
        int rc = kf_eos_state_claim(w->state, p->topic, p->partition, p->epoch,
                                    (const char *const *)keys, lens, offs, k,
                                    m->idempotency.window_ms, dup, &fenced_now, err, sizeof err);
        for (size_t q = 0; q < k; q++) {
            kf_rec *r = chunk[idx[q]];
            free(keys[q]);
            if (rc == KF_STATUS_OK && fenced_now) {
                atomic_store(&r->pending, 0);
                kf_completion_fenced(d, r);
                verdict[idx[q]] = V_GONE;
            } else if (rc != KF_STATUS_OK) {
                /* The state Redis is unavailable: wait for it, attempts intact. */
                atomic_store(&r->pending, 0);
                kf_completion_requeue(d, &r, 1,
                                      kf_backoff_ms(r->view.attempt, m->retry.backoff_ms,
                                                    m->retry.max_backoff_ms, kf_backoff_random()));
                verdict[idx[q]] = V_GONE;
            } else if (dup[q]) {
                KF_METRIC_ADD(d->env.metrics, records_duplicate, 1);
                verdict[idx[q]] = V_SKIP;
            }
        }
        if (rc != KF_STATUS_OK)
            kf_part_log(KF_LOG_WARN, C, m->name, p,
                        "mapping %s: business-key claim on %s[%d] failed (%s); retrying", m->name,
                        p->topic, p->partition, err);
    }
}

/*
 * on_failure mode "park", the per-chunk step before business keys and
 * handlers: ONE park script per partition among the chunk's V_PARK records
 * (eos/park.h). A parked record is done (the watermark moves over it); one
 * that only followed its key and hears the key was released runs; a fenced
 * partition drops them; while the state Redis does not answer they wait and
 * retry, attempts intact.
 */
static void park_records(worker *w, kf_rec **chunk, int *verdict, size_t n)
{
    kf_dispatcher *d = w->d;
    const kf_mapping_config *m = d->env.mapping;
    kf_park_item items[KF_MAX_CHUNK];
    char *entries[KF_MAX_CHUNK];
    size_t idx[KF_MAX_CHUNK];
    int res[KF_MAX_CHUNK];
    bool seen[KF_MAX_CHUNK] = {false};
    for (size_t i = 0; i < n; i++) {
        if (seen[i] || verdict[i] != V_PARK) continue;
        kf_partition *p = chunk[i]->part;
        size_t k = 0;
        for (size_t j = i; j < n; j++) {
            if (seen[j] || verdict[j] != V_PARK || chunk[j]->part != p) continue;
            seen[j] = true;
            kf_rec *r = chunk[j];
            const kf_record *v = kf_rec_handler_view(r);
            char done[1024];
            const char *why = r->to_park && r->fail_reason ? r->fail_reason : "";
            sinks_done(d, r, done, sizeof done);
            kf_park_entry e = {.offset = r->view.offset,
                               .timestamp_ms = v->timestamp_ms,
                               .attempts = r->to_park ? r->view.attempt : 0,
                               .key = v->key,
                               .key_len = v->key_len,
                               .value = v->value,
                               .value_len = v->value_len,
                               .headers = (kf_header *)v->headers,
                               .header_count = v->header_count,
                               .error = why,
                               .error_len = strlen(why),
                               .sinks_done = done,
                               .sinks_done_len = strlen(done)};
            size_t len = 0;
            entries[k] = kf_park_entry_encode(&e, &len);
            items[k] = (kf_park_item){.key = r->view.key,
                                      .key_len = r->view.key_len,
                                      .offset = r->view.offset,
                                      .must = r->to_park,
                                      .entry = entries[k],
                                      .entry_len = len,
                                      .error = why};
            idx[k++] = j;
        }
        char err[512] = "";
        int fenced = 0, rc = KF_STATUS_FAIL;
        bool oom = false;
        for (size_t q = 0; q < k; q++)
            oom |= entries[q] == NULL;
        if (!oom)
            rc = kf_park_put(w->state, p->topic, p->partition, p->epoch, kf_wall_ms(), items, k,
                             res, &fenced, err, sizeof err);
        else
            snprintf(err, sizeof err, "out of memory");
        for (size_t q = 0; q < k; q++) {
            kf_rec *r = chunk[idx[q]];
            free(entries[q]);
            if (rc == KF_STATUS_OK && fenced) {
                atomic_store(&r->pending, 0);
                kf_completion_fenced(d, r);
                verdict[idx[q]] = V_GONE;
            } else if (rc != KF_STATUS_OK) {
                atomic_store(&r->pending, 0);
                kf_completion_requeue(d, &r, 1,
                                      kf_backoff_ms(r->view.attempt, m->retry.backoff_ms,
                                                    m->retry.max_backoff_ms, kf_backoff_random()));
                verdict[idx[q]] = V_GONE;
            } else if (res[q] == KF_PARK_RELEASED) {
                kf_parked_remove(&p->parked, r->view.key, r->view.key_len);
                verdict[idx[q]] = V_HANDLE;
            } else {
                if (r->to_park) {
                    kf_rec_log(KF_LOG_WARN, C, m->name, r,
                               "mapping %s: %s[%d]@%lld failed for good after %d attempt(s) "
                               "(%s): its key is parked, with its later records, until `kfleet "
                               "parked retry` releases it",
                               m->name, r->view.topic, r->view.partition, (long long)r->view.offset,
                               r->view.attempt, r->fail_reason ? r->fail_reason : "?");
                    kf_failure_log_record(d->env.metrics->failures, KF_FAILURE_PARKED,
                                          r->view.topic, r->view.partition, r->view.offset,
                                          r->fail_reason);
                }
                r->to_park = false;
                if (kf_parked_add(&p->parked, r->view.key, r->view.key_len, r->view.offset, 1))
                    kf_warn(C, "mapping %s: out of memory noting a parked key", m->name);
                KF_METRIC_ADD(d->env.metrics, records_parked, 1);
                verdict[idx[q]] = V_SKIP;
            }
        }
        if (rc != KF_STATUS_OK)
            kf_part_log(KF_LOG_WARN, C, m->name, p,
                        "mapping %s: parking records of %s[%d] failed (%s); retrying", m->name,
                        p->topic, p->partition, err);
    }
}

/* A record headed for the park takes the later records of its key in the
 * chunk with it: they have not run, and must not before the park says
 * whether the key is parked. */
static void follow_to_park(kf_rec **chunk, int *verdict, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (verdict[i] != V_PARK) continue;
        const kf_rec *a = chunk[i];
        for (size_t j = i + 1; j < n; j++) {
            const kf_rec *b = chunk[j];
            if (verdict[j] == V_HANDLE && b->part == a->part && b->key_hash == a->key_hash &&
                (b->view.key == NULL) == (a->view.key == NULL) &&
                b->view.key_len == a->view.key_len &&
                (!a->view.key_len || !memcmp(a->view.key, b->view.key, a->view.key_len)))
                verdict[j] = V_PARK;
        }
    }
}

/* What a batch call needs beyond the records' positions (bisect.h). */
typedef struct batch_ctx {
    worker *w;
    kf_dispatcher *d;
    kf_rec **chunk;
    kf_rec_emitter *ems;
} batch_ctx;

static void batch_call(void *arg, const size_t *idx, size_t k, kf_result *results)
{
    batch_ctx *c = arg;
    const kf_record *views[KF_MAX_CHUNK], *at[KF_MAX_CHUNK];
    kf_emitter *embase[KF_MAX_CHUNK];
    for (size_t j = 0; j < k; j++) {
        views[j] = kf_rec_handler_view(c->chunk[idx[j]]);
        at[j] = &c->chunk[idx[j]]->view; /* where a crash is noted: what was read */
        embase[j] = &c->ems[idx[j]].base;
    }
    kf_crash_running(c->w->crash, at, k);
    int64_t t0 = kf_now_ns();
    kf_handler_call_batch(c->d->env.handler, views, embase, k, results);
    kf_hist_local_add(&c->w->calls->hist, &kf_hist_seconds, kf_now_ns() - t0);
    kf_crash_idle(c->w->crash);
    KF_METRIC_ADD(c->d->env.metrics, handler_calls, k);
    KF_METRIC_SIZE(c->d->env.metrics, handler_batch, (int64_t)k);
}

/* A call taken back: what its records emitted is discarded. */
static void batch_reset(void *arg, const size_t *idx, size_t k)
{
    batch_ctx *c = arg;
    for (size_t j = 0; j < k; j++) {
        kf_rec *r = c->chunk[idx[j]];
        kf_rec_clear_outputs(r);
        kf_rec_emitter_init(&c->ems[idx[j]], r, c->d->sink_names, c->d->env.sink_count);
    }
}

/* The batch handler's call for the chunk (bisected when it fails as a whole
 * and retry.bisect is on): fills results[i] for every record i whose verdict
 * is V_HANDLE, except those that must run alone (apply_results calls them). */
static void call_batch_handler(worker *w, kf_rec **chunk, const int *verdict, const bool *alone,
                               kf_rec_emitter *ems, kf_result *results, size_t n)
{
    kf_dispatcher *d = w->d;
    size_t idx[KF_MAX_CHUNK], k = 0;
    kf_result br[KF_MAX_CHUNK];
    for (size_t i = 0; i < n; i++)
        if (verdict[i] == V_HANDLE && !alone[i]) idx[k++] = i;
    if (!k) return;
    batch_ctx c = {.w = w, .d = d, .chunk = chunk, .ems = ems};
    if (d->env.mapping->retry.bisect) {
        kf_bisect_stats st = {0};
        kf_bisect_run(idx, k, br, batch_call, batch_reset, &c, &st);
        if (st.splits) {
            size_t failed = 0;
            for (size_t j = 0; j < k; j++)
                failed += br[j] != KF_OK;
            KF_METRIC_ADD(d->env.metrics, batch_bisections, st.splits);
            kf_debug(C,
                     "mapping %s: a batch call of %zu record(s) failed as a whole; bisected in "
                     "%zu call(s) down to %zu failing record(s)",
                     d->env.mapping->name, k, st.calls, failed);
        }
    } else {
        batch_call(&c, idx, k, br);
    }
    for (size_t j = 0; j < k; j++)
        results[idx[j]] = br[j];
}

/*
 * Acts on each record's verdict and handler result (the batch handler's in
 * `results`, else the single-record handler is called here): a success's
 * outputs go to the sinks, a failure is retried or goes to the on-failure
 * topic. An ordered lane whose record must be retried is blocked for the rest
 * of the chunk: its later records go back behind the failed one, in order.
 * Fills `touched` with the records whose guard the caller still holds and
 * returns how many.
 */
static size_t apply_results(worker *w, kf_rec **chunk, size_t n, const int *verdict,
                            const bool *alone, const kf_result *results, kf_rec_emitter *ems,
                            kf_rec **touched)
{
    kf_dispatcher *d = w->d;
    int ordered = d->env.mapping->ordering != KF_ORDER_UNORDERED;
    kf_rec *group[KF_MAX_CHUNK];
    size_t ngroup = 0;
    struct kf_lane *blocked = NULL;
    int64_t group_delay = 0;
    size_t ntouched = 0;

    for (size_t i = 0; i < n; i++) {
        kf_rec *r = chunk[i];
        if (blocked && r->lane != blocked) {
            kf_completion_requeue(d, group, ngroup, group_delay);
            ngroup = 0;
            blocked = NULL;
        }
        if (verdict[i] == V_GONE) continue;
        if (verdict[i] == V_SKIP) { /* filtered or dead-lettered: no effect to order */
            touched[ntouched++] = r;
            continue;
        }
        if (blocked) {
            kf_rec_clear_outputs(r);
            atomic_store(&r->pending, 0);
            group[ngroup++] = r;
            continue;
        }
        kf_result res;
        if (kf_handler_has_batch(d->env.handler) && !alone[i]) {
            res = results[i];
        } else {
            const kf_record *one = &r->view;
            kf_crash_running(w->crash, &one, 1);
            /* Timed into the chunk's own buffer (no shared write per
             * call), and only now and then when calls are fast. */
            kf_call_timing *ct = w->calls;
            bool timed = kf_hist_sampler_due(&ct->sampler);
            int64_t t0 = timed ? kf_now_ns() : 0;
            res = kf_handler_call(d->env.handler, kf_rec_handler_view(r), &ems[i].base);
            if (timed)
                kf_hist_sampler_add(&ct->sampler, &ct->hist, &kf_hist_seconds, kf_now_ns() - t0,
                                    TIME_EVERY_CALL_NS);
            kf_crash_idle(w->crash);
            KF_METRIC_ADD(d->env.metrics, handler_calls, 1);
        }
        if (res == KF_OK) {
            write_outputs(w, r);
            touched[ntouched++] = r;
            continue;
        }
        atomic_store(&r->pending, 0);
        int permanent = res != KF_RETRY;
        const char *why = !permanent ? "handler returned KF_RETRY" : "handler returned KF_FAIL";
        int exhausted = kf_completion_exhausted(d, r, permanent);
        if (exhausted && kf_completion_parks(d)) {
            /* Its key parks: the lane's later records in this chunk must not
             * run before they see that. They go back behind it. */
            kf_completion_mark_park(r, why);
            blocked = r->lane;
            group_delay = 0;
            group[ngroup++] = r;
        } else if ((exhausted && kf_completion_has_dead_letter(d)) || !ordered) {
            kf_completion_failed(d, r, permanent, why);
        } else {
            blocked = r->lane;
            group_delay = kf_completion_next_attempt(d, r, exhausted, why);
            group[ngroup++] = r;
        }
    }
    if (ngroup) kf_completion_requeue(d, group, ngroup, group_delay);
    return ntouched;
}

/* Flushes every sink; a sink that sends at flush and that this chunk wrote
 * to has its flush timed (one observation per sink and chunk). */
static void flush_sinks(worker *w)
{
    kf_metrics *m = w->d->env.metrics;
    for (size_t s = 0; s < w->d->env.sink_count; s++) {
        if (s >= KF_METRICS_MAX_SINKS || !(w->wrote & (1u << s)) ||
            !kf_sink_flushes(w->d->env.sinks[s])) {
            kf_sink_flush(w->sws[s]);
            continue;
        }
        int64_t t0 = kf_now_ns();
        kf_sink_flush(w->sws[s]);
        KF_METRIC_TIME(m, sink_flush[s], kf_now_ns() - t0);
    }
    if (w->dlq_ws) kf_sink_flush(w->dlq_ws);
}

/* Drops the worker's guards: records whose acks all came back finish here,
 * the plainly done ones together. */
static void release_guards(kf_dispatcher *d, kf_rec **touched, size_t n)
{
    kf_rec *done[KF_MAX_CHUNK];
    size_t ndone = 0;
    for (size_t i = 0; i < n; i++) {
        kf_rec *r = touched[i];
        if (atomic_fetch_sub(&r->pending, 1) != 1) continue;
        if (kf_completion_is_done(r))
            done[ndone++] = r;
        else
            kf_completion_acked(d, r);
    }
    if (ndone) kf_completion_done_many(d, done, ndone);
}

/* Runs one chunk: records of one or more lanes, each lane's records contiguous
 * and in order. Returns with every record either written (acks pending),
 * requeued, or finished. Called without the dispatcher lock. */
static void run_chunk(worker *w, kf_rec **chunk, size_t n)
{
    kf_dispatcher *d = w->d;
    int verdict[KF_MAX_CHUNK];
    bool alone[KF_MAX_CHUNK];
    kf_result results[KF_MAX_CHUNK];
    kf_rec_emitter ems[KF_MAX_CHUNK];
    kf_rec *touched[KF_MAX_CHUNK];
    kf_call_timing calls = {.sampler = w->sampler};
    w->calls = &calls;

    for (size_t i = 0; i < n; i++) {
        verdict[i] = prepare(w, chunk[i], &alone[i]);
        kf_rec_emitter_init(&ems[i], chunk[i], d->sink_names, d->env.sink_count);
    }
    if (kf_completion_parks(d)) {
        follow_to_park(chunk, verdict, n);
        park_records(w, chunk, verdict, n);
    }
    if (w->state &&
        (d->env.mapping->idempotency.key_header || d->env.mapping->idempotency.key_json))
        dedupe(w, chunk, verdict, n);
    if (kf_handler_has_batch(d->env.handler))
        call_batch_handler(w, chunk, verdict, alone, ems, results, n);
    size_t ntouched = apply_results(w, chunk, n, verdict, alone, results, ems, touched);
    kf_hist_merge(&d->env.metrics->handler_duration, &kf_hist_seconds, &calls.hist);
    w->sampler = calls.sampler;
    w->calls = NULL;
    flush_sinks(w);
    release_guards(d, touched, ntouched);
}

/*
 * How many records a worker takes at once. Work is spread evenly (queued /
 * workers) so that slow handlers run in parallel, but never in chunks so
 * small that waking a thread costs more than the work it gets: with a cheap
 * handler a wake-up and the lock handoff (several microseconds on a busy
 * machine) would dominate. The floor is the number of records that take
 * about CHUNK_TARGET_NS, from the measured cost per record.
 * Called with the dispatcher lock held.
 */
#define CHUNK_TARGET_NS 100000
static size_t min_chunk(const kf_dispatcher *d)
{
    /* Unknown before the first chunk: assume slow, spread out. */
    int64_t per = d->cost_ns > 0 ? d->cost_ns : CHUNK_TARGET_NS;
    int64_t n = CHUNK_TARGET_NS / per;
    return n < 1 ? 1 : n > KF_MAX_CHUNK ? KF_MAX_CHUNK : (size_t)n;
}

/* Another worker is worth waking: one is idle and there is a runnable lane
 * with at least a minimum chunk's worth queued. Dispatcher lock held. */
static bool worth_waking(kf_dispatcher *d)
{
    return d->idle && kf_lanes_runnable(d->lanes) && kf_lanes_queued(d->lanes) >= min_chunk(d);
}

/* ---------------------------------------------------------- circuit breakers */

/*
 * While a sink's breaker is open (d->held), the mapping runs one record at a
 * time as the probe, once a breaker's wait is over and no probe is out.
 * Returns the records taken (0 or 1); with none, *wake is when to look again
 * (-1: when woken, by a breaker that changed or a probe that ended). Lock
 * held.
 */
static size_t take_probe(kf_dispatcher *d, int64_t now, kf_rec **chunk, int64_t *wake)
{
    *wake = -1;
    if (d->probing) return 0;
    int64_t due = -1;
    for (size_t s = 0; s < d->env.sink_count; s++) {
        int64_t t = d->breakers[s] ? kf_breaker_due(d->breakers[s]) : -1;
        if (t >= 0 && (due < 0 || t < due)) due = t;
    }
    if (due < 0) return 0; /* each breaker not closed has its probe out */
    if (due > now) {
        *wake = due;
        return 0;
    }
    size_t n = kf_lanes_take(d->lanes, now, 1, chunk);
    if (n == 0) {
        *wake = kf_lanes_next_due(d->lanes);
        return 0;
    }
    d->probing = true;
    for (size_t s = 0; s < d->env.sink_count; s++) {
        if (!d->breakers[s] || !kf_breaker_start_probe(d->breakers[s], now)) continue;
        KF_METRIC_ADD(d->env.metrics, breaker_probes[s], 1);
        atomic_store(&d->env.metrics->breaker_state[s], (int)KF_BREAKER_PROBING);
    }
    return n;
}

/* The probe's chunk ran: a breaker it never wrote to learnt nothing and is
 * due again at once. One it wrote to has its answer, or gets it later (Kafka
 * delivery reports). Lock held. */
static void probe_ran(kf_dispatcher *d, uint32_t wrote, int64_t now)
{
    d->probing = false;
    for (size_t s = 0; s < d->env.sink_count; s++)
        if (d->breakers[s] && !(s < 32 && (wrote & (1u << s))))
            kf_completion_probe_void(d, (int)s, now);
}

/* ------------------------------------------------------------- autoscaling */

/*
 * With concurrency.threads.min < max the pool follows the load:
 *   grow:   a worker that takes a chunk (or the consumer that submits) adds a
 *           worker when no worker is idle or starting and a runnable lane
 *           still has a minimum chunk queued: records wait and every worker
 *           is busy. One start at a time, each new worker checking again
 *           when it takes its first chunk, so the pool grows as fast as
 *           threads start and stops when a chunk is left for nobody.
 *   retire: the idle workers counted at each take of a window of retire_ms
 *           (the fewest of them, `idle_low`) were more than the load needed
 *           through the whole window; when the window ends that many, down
 *           to min, retire as they find nothing to do. A pool left without
 *           load is back at min within two windows.
 * A retiring worker holds no record (it found nothing to take) and flushed
 * its sinks after its last chunk, so closing its sink states loses no output
 * and acknowledges none twice. A fixed pool never runs any of this.
 */

#define GROW_HOLD_MS 1000 /* after a worker failed to start */
#define POOL_LOG_MS  1000 /* the pool's size is logged at most this often */

static void *worker_main(void *arg);

static int worker_open(kf_dispatcher *d, worker *w, char *err, size_t errlen)
{
    const kf_dispatcher_env *env = &d->env;
    if (!w->sws) w->sws = calloc(env->sink_count + 1, sizeof *w->sws);
    if (!w->sws) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t s = 0; s < env->sink_count; s++) {
        w->sws[s] = kf_sink_worker_open(env->sinks[s], w->id, err, errlen);
        if (!w->sws[s]) return -1;
    }
    if (env->exactly_once &&
        (env->mapping->idempotency.key_header || env->mapping->idempotency.key_json ||
         env->mapping->on_failure.mode == KF_ON_FAILURE_PARK)) {
        w->state = kf_eos_state_new(env->redis_url, env->redis_key_prefix, env->mapping->group_id,
                                    err, errlen);
        if (!w->state) return -1;
        kf_eos_state_set_metrics(w->state, env->metrics);
    }
    if (env->dead_letter && !env->dead_letter_topic) {
        w->dlq_ws = kf_sink_worker_open(env->dead_letter, w->id, err, errlen);
        if (!w->dlq_ws) return -1;
    }
    return 0;
}

/* Closes what worker_open opened (any part of it); the slot can open again. */
static void worker_close(const kf_dispatcher *d, worker *w)
{
    for (size_t s = 0; w->sws && s < d->env.sink_count; s++) {
        kf_sink_worker_close(w->sws[s]);
        w->sws[s] = NULL;
    }
    kf_sink_worker_close(w->dlq_ws);
    w->dlq_ws = NULL;
    kf_eos_state_destroy(w->state);
    w->state = NULL;
}

/* Fills `line` with the pool's size and its changes since the last line,
 * for the caller to log after the unlock, when some change is unlogged and
 * either `force` or the last line is POOL_LOG_MS old; else leaves it as it
 * is. Lock held. */
static void pool_log(kf_dispatcher *d, bool force, char *line, size_t n)
{
    int64_t now = kf_now_ms();
    if (!(d->log_added || d->log_retired) || (!force && now < d->log_next)) return;
    d->log_next = now + POOL_LOG_MS;
    snprintf(line, n, "mapping %s: %d worker thread(s) (min %d, max %d): %d added, %d retired",
             d->env.mapping->name, d->live, d->min_workers, d->nworkers, d->log_added,
             d->log_retired);
    d->log_added = d->log_retired = 0;
}

/* Counts a worker added (+1) or retired (-1, its state closed). Lock held.
 * Reaching a bound is always logged, so the last line tells the size the
 * pool settled at; changes in between at most once per POOL_LOG_MS (the
 * next take logs what was held back). */
static void pool_changed(kf_dispatcher *d, int delta, char *line, size_t n)
{
    if (delta > 0) {
        d->log_added++;
        KF_METRIC_ADD(d->env.metrics, workers_added, 1);
    } else {
        d->log_retired++;
        d->closing--;
        KF_METRIC_ADD(d->env.metrics, workers_retired, 1);
    }
    atomic_store(&d->env.metrics->worker_threads, d->live);
    pool_log(d, d->live == d->nworkers || (d->live == d->min_workers && d->closing == 0), line, n);
}

/* Records wait and every worker is busy. Lock held. */
static bool worth_growing(kf_dispatcher *d, int64_t now)
{
    return !d->stop && d->idle == 0 && d->starting == 0 && d->live < d->nworkers &&
           now >= d->grow_hold_until && kf_lanes_runnable(d->lanes) &&
           kf_lanes_queued(d->lanes) >= min_chunk(d);
}

/* A slot taken for a new worker, with the thread that last ran in it for
 * grow_start to join. */
typedef struct growth {
    worker *w; /* NULL: none */
    pthread_t old;
    bool join_old;
} growth;

/* Takes a free slot for a new worker; none when every slot is taken (a
 * retired worker may still be closing). Lock held. */
static growth grow_reserve(kf_dispatcher *d)
{
    growth g = {0};
    for (int i = 0; i < d->nworkers; i++) {
        worker *w = &d->workers[i];
        if (w->active) continue;
        w->active = true;
        w->fresh = true;
        g.w = w;
        g.old = w->thread;
        g.join_old = w->joinable;
        w->joinable = false;
        d->live++;
        d->starting++;
        break;
    }
    return g;
}

/* Starts the reserved slot g.w. Without the lock: joining the slot's last
 * thread and opening the sinks' worker states (connections) take time. A
 * failure gives the slot back and holds growth for GROW_HOLD_MS. */
static void grow_start(kf_dispatcher *d, growth g)
{
    worker *w = g.w;
    char err[512] = "", line[256] = "";
    if (g.join_old) pthread_join(g.old, NULL);
    int rc = worker_open(d, w, err, sizeof err);
    pthread_mutex_lock(&d->lock);
    if (rc == 0 && d->stop) {
        rc = -1; /* shutting down: kf_dispatcher_destroy joins only what it saw */
    } else if (rc == 0) {
        int e = pthread_create(&w->thread, NULL, worker_main, w);
        if (e == 0) {
            w->joinable = true;
            pool_changed(d, +1, line, sizeof line);
        } else {
            snprintf(err, sizeof err, "cannot start worker thread: %s", strerror(e));
            rc = -1;
        }
    }
    if (rc != 0) {
        d->live--;
        d->starting--;
        w->fresh = false;
        d->grow_hold_until = kf_now_ms() + GROW_HOLD_MS;
    }
    pthread_mutex_unlock(&d->lock);
    if (line[0]) kf_info(C, "%s", line);
    if (rc == 0) return;
    worker_close(d, w);
    pthread_mutex_lock(&d->lock);
    w->active = false;
    pthread_mutex_unlock(&d->lock);
    if (err[0])
        kf_warn(C, "mapping %s: cannot add a worker (%s); trying again in %d ms",
                d->env.mapping->name, err, GROW_HOLD_MS);
}

/* Called by a worker that found nothing to take, lock held: judges the
 * window once it is over, and says whether this worker retires. */
static bool retire_now(kf_dispatcher *d, int64_t now)
{
    if (d->live <= d->min_workers) return false;
    bool judged = now >= d->window_end;
    if (judged) {
        int surplus = d->live - d->min_workers;
        d->retire = d->idle_low < surplus ? d->idle_low : surplus;
        d->window_end = now + d->retire_ms;
    }
    bool go = d->retire > 0;
    if (go) {
        d->retire--;
        d->live--;
        d->closing++;
    }
    /* The new window starts with the workers idle now: the waiters, and
     * this one unless it leaves. */
    if (judged) d->idle_low = d->idle + (go ? 0 : 1);
    return go;
}

/* -------------------------------------------------------------- the workers */

static void *worker_main(void *arg)
{
    worker *w = arg;
    kf_dispatcher *d = w->d;
    kf_rec *chunk[KF_MAX_CHUNK];
    struct kf_lane *held[KF_MAX_CHUNK];
    bool retiring = false;
    w->crash =
        kf_crash_slot_take(d->env.mapping->name, kf_handler_name(d->env.handler), d->crash_tag);

    pthread_mutex_lock(&d->lock);
    if (w->fresh) {
        w->fresh = false;
        d->starting--;
    }
    while (!d->stop) {
        int64_t now = kf_now_ms();
        bool probe = atomic_load(&d->held) > 0;
        int64_t held_wake = -1;
        size_t n;
        if (probe) {
            n = take_probe(d, now, chunk, &held_wake);
        } else {
            size_t queued = kf_lanes_queued(d->lanes);
            size_t budget = (queued + (size_t)d->nworkers - 1) / (size_t)d->nworkers;
            size_t floor = min_chunk(d);
            if (budget < floor) budget = floor;
            if (budget > KF_MAX_CHUNK) budget = KF_MAX_CHUNK;
            n = kf_lanes_take(d->lanes, now, budget, chunk);
        }
        if (n == 0) {
            int64_t due = probe ? held_wake : kf_lanes_next_due(d->lanes);
            if (d->autoscale) {
                if (retire_now(d, now)) {
                    retiring = true;
                    break;
                }
                /* Wake for the window's judgement too. */
                if (d->live > d->min_workers && (due < 0 || d->window_end < due))
                    due = d->window_end;
            }
            d->idle++;
            if (due < 0) {
                pthread_cond_wait(&d->work, &d->lock);
            } else {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                int64_t wait = due > now ? due - now : 0;
                ts.tv_sec += wait / 1000;
                ts.tv_nsec += (wait % 1000) * 1000000;
                if (ts.tv_nsec >= 1000000000) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&d->work, &d->lock, &ts);
            }
            d->idle--;
            continue;
        }
        /* More work than this worker took: wake one more (who wakes the
         * next, and so on: the wake-ups chain as long as work is left). A
         * probe goes alone. */
        if (!probe && worth_waking(d)) pthread_cond_signal(&d->work);
        growth grow = {0};
        char line[256] = "";
        if (d->autoscale && !probe) {
            if (d->idle < d->idle_low) d->idle_low = d->idle;
            if (worth_growing(d, now)) grow = grow_reserve(d);
            pool_log(d, false, line, sizeof line);
        }

        /* Remember the distinct lanes now, before records leave the chunk. */
        size_t nheld = 0;
        for (size_t i = 0; i < n; i++)
            if (nheld == 0 || held[nheld - 1] != chunk[i]->lane) held[nheld++] = chunk[i]->lane;
        pthread_mutex_unlock(&d->lock);

        if (line[0]) kf_info(C, "%s", line);
        if (grow.w) grow_start(d, grow);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        w->wrote = 0;
        run_chunk(w, chunk, n);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        int64_t per = ((int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec)) /
                      (int64_t)n;

        pthread_mutex_lock(&d->lock);
        /* A moving average over chunks: a handler that turns slow (a
         * dependency's latency) spreads out again within a few chunks. */
        d->cost_ns = d->cost_ns ? (d->cost_ns * 7 + per) / 8 : per;
        now = kf_now_ms();
        for (size_t i = 0; i < nheld; i++)
            kf_lanes_release(d->lanes, held[i], now);
        if (probe) probe_ran(d, w->wrote, now);
        if (worth_waking(d)) pthread_cond_signal(&d->work);
    }
    pthread_mutex_unlock(&d->lock);
    if (retiring) {
        char line[256] = "";
        worker_close(d, w);
        pthread_mutex_lock(&d->lock);
        w->active = false; /* joined by the next start in this slot, or by destroy */
        pool_changed(d, -1, line, sizeof line);
        pthread_mutex_unlock(&d->lock);
        if (line[0]) kf_info(C, "%s", line);
    }
    kf_crash_slot_give(w->crash);
    w->crash = NULL;
    return NULL;
}

/* --------------------------------------------------------------- public API */

kf_dispatcher *kf_dispatcher_new(const kf_dispatcher_env *env, char *err, size_t errlen)
{
    kf_dispatcher *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->env = *env;
    d->nworkers = env->mapping->concurrency.threads;
    d->min_workers = env->mapping->concurrency.threads_min;
    if (d->min_workers < 1 || d->min_workers > d->nworkers) d->min_workers = d->nworkers;
    d->autoscale = d->min_workers < d->nworkers;
    d->retire_ms = env->retire_ms > 0 ? env->retire_ms : KF_DISPATCHER_RETIRE_MS;
    d->lanes = kf_lanes_new(env->mapping->ordering);
    d->pool = kf_rec_pool_new();
    /* Records alive at once: in flight, or (exactly-once) the uncommitted
     * window of twice that, plus a batch being built. */
    if (d->pool)
        kf_rec_pool_set_keep(d->pool, (size_t)env->mapping->concurrency.max_inflight * 2 +
                                          (size_t)env->mapping->batch.max_records);
    /* The start of the partitions' hash tags, for the crash ledger. */
    if (env->redis_key_prefix)
        d->crash_tag = kf_crash_ledger_tag_prefix(env->redis_key_prefix, env->mapping->group_id);
    d->sink_names = calloc(env->sink_count + 1, sizeof *d->sink_names);
    d->staged = calloc(env->sink_count + 1, sizeof *d->staged);
    d->workers = calloc((size_t)d->nworkers, sizeof *d->workers);
    if (!d->lanes || !d->pool || !d->sink_names || !d->staged || !d->workers) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    uint32_t marked = 0;
    int unmarked = 0;
    for (size_t s = 0; s < env->sink_count; s++) {
        const kf_sink_config *sc = kf_sink_config_of(env->sinks[s]);
        d->sink_names[s] = sc->name;
        d->staged[s] =
            env->staged_kafka && (kf_sink_caps(env->sinks[s]) & KF_SINK_CAP_TRANSACTIONAL);
        if (s < 32 && (kf_sink_caps(env->sinks[s]) & KF_SINK_CAP_MARKS))
            marked |= 1u << s;
        else
            unmarked = 1;
    }
    d->all_marked = env->exactly_once && !unmarked ? marked : 0;
    /* A breaker per sink that writes itself: outputs staged for the Kafka
     * transaction succeed or fail with the transaction, not per record. */
    d->breakers = calloc(env->sink_count + 1, sizeof *d->breakers);
    if (!d->breakers) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t s = 0; s < env->sink_count; s++) {
        const kf_breaker_config *bc = &kf_sink_config_of(env->sinks[s])->breaker;
        if (d->staged[s] || bc->failures <= 0) continue;
        d->breakers[s] = kf_breaker_new(bc);
        if (!d->breakers[s]) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    pthread_mutex_init(&d->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->work, &ca);
    pthread_cond_init(&d->drained, &ca);
    pthread_condattr_destroy(&ca);

    for (int i = 0; i < d->nworkers; i++) {
        d->workers[i].d = d;
        d->workers[i].id = i;
    }
    for (int i = 0; i < d->min_workers; i++)
        if (worker_open(d, &d->workers[i], err, errlen) != 0) goto fail;
    /* The lock orders the slots' fields for the threads (and destroy). */
    pthread_mutex_lock(&d->lock);
    for (int i = 0; i < d->min_workers; i++) {
        worker *w = &d->workers[i];
        int e = pthread_create(&w->thread, NULL, worker_main, w);
        if (e != 0) {
            pthread_mutex_unlock(&d->lock);
            snprintf(err, errlen, "cannot start worker thread: %s", strerror(e));
            goto fail;
        }
        w->joinable = w->active = true;
        d->live++;
    }
    atomic_store(&env->metrics->worker_threads, d->live);
    pthread_mutex_unlock(&d->lock);
    return d;
fail:
    kf_dispatcher_destroy(d);
    return NULL;
}

void kf_dispatcher_submit(kf_dispatcher *d, kf_rec **recs, size_t n)
{
    atomic_fetch_add(&d->inflight, (int_fast64_t)n);
    KF_METRIC_ADD(d->env.metrics, inflight, (int_fast64_t)n);
    KF_METRIC_ADD(d->env.metrics, records_in, n);
    KF_METRIC_SIZE(d->env.metrics, batch_records, (int64_t)n);
    pthread_mutex_lock(&d->lock);
    /* In flight per partition: one atomic per run of a partition's records
     * (a consumed batch comes in such runs), not one per record. */
    for (size_t i = 0, end; i < n; i = end) {
        end = kf_rec_run_end(recs, n, i, n);
        for (size_t j = i; j < end; j++)
            recs[j]->owner = d;
        atomic_fetch_add(&recs[i]->part->inflight, (int)(end - i));
    }
    for (size_t i = 0; i < n; i++) {
        if (kf_lanes_push(d->lanes, recs[i]) != 0) {
            kf_error(C, "out of memory queueing a record; it will be read again");
            kf_completion_drop(recs[i], d);
        }
    }
    /* One wake-up: the worker that takes a chunk wakes the next when more
     * is left (worker_main), so only as many threads run as there is work
     * for. With none idle, an autoscaled pool may add one. */
    growth grow = {0};
    if (d->idle)
        pthread_cond_signal(&d->work);
    else if (d->autoscale && worth_growing(d, kf_now_ms()))
        grow = grow_reserve(d);
    pthread_mutex_unlock(&d->lock);
    if (grow.w) grow_start(d, grow);
}

bool kf_dispatcher_held(const kf_dispatcher *d)
{
    return atomic_load(&d->held) > 0;
}

int64_t kf_dispatcher_inflight(const kf_dispatcher *d)
{
    return atomic_load(&d->inflight);
}

size_t kf_dispatcher_drop_partition(kf_dispatcher *d, kf_partition *p)
{
    pthread_mutex_lock(&d->lock);
    size_t n = kf_lanes_drop_partition(d->lanes, p, kf_completion_drop, d);
    pthread_mutex_unlock(&d->lock);
    return n;
}

void kf_dispatcher_wait_below(kf_dispatcher *d, int64_t limit, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&d->lock);
    atomic_store(&d->wait_limit, limit);
    atomic_fetch_add(&d->waiters, 1);
    while (atomic_load(&d->inflight) >= limit)
        if (pthread_cond_timedwait(&d->drained, &d->lock, &ts) != 0) break;
    atomic_fetch_sub(&d->waiters, 1);
    pthread_mutex_unlock(&d->lock);
}

int kf_dispatcher_wait_idle(kf_dispatcher *d, const kf_partition *p, int timeout_ms)
{
    int64_t deadline = kf_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = p ? atomic_load(&((kf_partition *)p)->inflight) : atomic_load(&d->inflight);
        if (left <= 0) return 0;
        if (kf_now_ms() >= deadline) return -1;
        usleep(2000); /* a drain wait, not a hot path: polling keeps acks lock-free */
    }
}

void kf_dispatcher_destroy(kf_dispatcher *d)
{
    if (!d) return;
    if (d->lanes) {
        /* Once stop is set no worker starts (grow_start checks it under the
         * lock), so the threads seen here are all there are; a slot's older
         * thread is joined by whoever took the slot, itself a worker seen
         * here or a submit that returned. */
        pthread_mutex_lock(&d->lock);
        d->stop = 1;
        pthread_cond_broadcast(&d->work);
        for (int i = 0; d->workers && i < d->nworkers; i++)
            d->workers[i].to_join = d->workers[i].joinable;
        pthread_mutex_unlock(&d->lock);
    }
    for (int i = 0; d->workers && i < d->nworkers; i++)
        if (d->workers[i].to_join) pthread_join(d->workers[i].thread, NULL);
    if (d->workers) {
        for (int i = 0; i < d->nworkers; i++) {
            worker *w = &d->workers[i];
            worker_close(d, w);
            free(w->sws);
        }
    }
    if (d->lanes) {
        kf_lanes_destroy(d->lanes, kf_completion_drop, d);
        pthread_cond_destroy(&d->work);
        pthread_cond_destroy(&d->drained);
        pthread_mutex_destroy(&d->lock);
    }
    kf_rec_pool_destroy(d->pool); /* after the lanes: dropped records came back */
    for (size_t s = 0; d->breakers && s < d->env.sink_count; s++)
        kf_breaker_free(d->breakers[s]);
    free(d->breakers);
    free(d->crash_tag);
    free(d->workers);
    free(d->sink_names);
    free(d->staged);
    free(d);
}

kf_rec_pool *kf_dispatcher_pool(kf_dispatcher *d)
{
    return d->pool;
}
