#include "consumer/eos.h"

#include "consumer/parked.h"
#include "dispatcher/record.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *C = "consumer.eos";

int kf_consumer_eos_assign(const kf_consumer_eos *e, const kf_mapping_config *m, kf_partition *p,
                           const atomic_int *stop)
{
    char err[512];
    int delay_ms = 100;
    for (;;) {
        kf_eos_assigned a;
        const char *owner = e->txn ? kf_txn_id(e->txn) : NULL;
        int rc =
            kf_eos_state_assign_owned(e->state, p->topic, p->partition, owner, &a, err, sizeof err);
        if (rc == KF_STATUS_OK) {
            p->epoch = a.epoch;
            size_t unknown = 0, marks = 0;
            for (size_t i = 0; i < a.nruns; i++) {
                const kf_eos_run *r = &a.runs[i];
                int idx = -1;
                for (size_t s = 0; s < m->sink_count && idx < 0; s++)
                    if (strcmp(m->sinks[s].name, r->sink) == 0) idx = (int)s;
                /* The script keeps runs at or above base; below it all is
                 * done and committed, and never dispatched again. */
                int64_t from = r->from > a.base ? r->from : a.base;
                if (from > r->to) continue;
                if (idx < 0 || kf_partition_mark_done_run(p, from, r->to, idx) != 0)
                    unknown++;
                else
                    marks += (size_t)(r->to - from + 1);
            }
            if (a.base >= 0) atomic_store(&p->trim, a.base);
            kf_info(C,
                    "mapping %s: %s[%d] epoch %lld, %zu sink mark(s) above the watermark in %zu "
                    "run(s)%s",
                    m->name, p->topic, p->partition, (long long)a.epoch, marks, a.nruns,
                    unknown ? " (some for sinks no longer configured)" : "");
            /* The previous holder did not hand the partition over cleanly
             * (a zombie, a crash): abort its open transaction now rather
             * than let it hold read_committed readers and this owner's
             * offset fetch until transaction.timeout.ms. */
            if (e->txn && a.prev_owner[0] && kf_txn_fence(e->txn, a.prev_owner, err, sizeof err))
                kf_warn(C, "mapping %s: %s[%d]: %s; its transaction ends at its timeout", m->name,
                        p->topic, p->partition, err);
            kf_eos_assigned_free(&a);
            /* The parked keys too, before any record of the partition. */
            if (m->on_failure.mode == KF_ON_FAILURE_PARK &&
                kf_consumer_parked_load(e->state, m, p, stop) != 0)
                return -1;
            atomic_store(&p->ready, true);
            return 0;
        }
        kf_warn(C, "mapping %s: %s[%d]: assign script failed (%s); retrying in %d ms", m->name,
                p->topic, p->partition, err, delay_ms);
        if (atomic_load(stop)) return -1;
        usleep((useconds_t)delay_ms * 1000);
        if (delay_ms < 2000) delay_ms *= 2;
    }
}

int kf_consumer_eos_settle(const kf_consumer_eos *e, const atomic_int *stop)
{
    char err[512];
    int delay_ms = 100;
    while (e->txn && kf_txn_ready(e->txn, err, sizeof err) != 0) {
        kf_warn(C, "transactional producer not ready (%s); retrying in %d ms", err, delay_ms);
        if (atomic_load(stop)) return -1;
        usleep((useconds_t)delay_ms * 1000);
        if (delay_ms < 2000) delay_ms *= 2;
    }
    return 0;
}

/*
 * For each partition of parts[0..n) that is ready, not fenced, and whose
 * watermark moved: wm[i] is the watermark, added to `offsets`, and taken[i]
 * what is staged below it. wm[i] is -1 for the others. Watermark first, then
 * what is staged below it: a record is staged before it can be counted done,
 * so nothing below the watermark is missing from the transaction. Returns how
 * many staged outputs were taken.
 */
static size_t take_below_watermarks(kf_partition **parts, size_t n,
                                    rd_kafka_topic_partition_list_t *offsets, kf_staged **taken,
                                    int64_t *wm)
{
    size_t nmsgs = 0;
    for (size_t i = 0; i < n; i++) {
        kf_partition *p = parts[i];
        wm[i] = -1;
        if (!atomic_load(&p->ready) || atomic_load(&p->fenced)) continue;
        int64_t w = kf_tracker_watermark(p->tracker);
        if (w < 0 || w <= p->committed) continue;
        wm[i] = w;
        rd_kafka_topic_partition_list_add(offsets, p->topic, p->partition)->offset = w;
        taken[i] = kf_partition_take_staged(p, w);
        for (kf_staged *s = taken[i]; s; s = s->next)
            nmsgs++;
    }
    return nmsgs;
}

/* Runs the transaction of the taken outputs (in partition, then offset
 * order) and `offsets`; its result in *trc. Returns -1 when out of memory
 * before it began. */
static int run_txn(const kf_consumer_eos *e, rd_kafka_t *rk, kf_staged **taken, size_t n,
                   size_t nmsgs, const rd_kafka_topic_partition_list_t *offsets, kf_status *trc,
                   char *err, size_t errlen)
{
    kf_txn_msg *msgs = calloc(nmsgs + 1, sizeof *msgs);
    if (!msgs) return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (kf_staged *s = taken[i]; s; s = s->next)
            msgs[k++] = (kf_txn_msg){s->topic,     s->key,     s->key_len,     s->value,
                                     s->value_len, s->headers, s->header_count};
    *trc = kf_txn_run(e->txn, msgs, nmsgs, offsets, rk, err, errlen);
    free(msgs);
    return 0;
}

/* The commit may or may not have happened: the staged outputs can be neither
 * dropped as committed nor sent again. The producer has a new epoch; the
 * partitions go back to their committed offsets (taken anew by the
 * consumer), and the replay stages what is not committed. */
static void rewind_unknown(kf_partition **parts, size_t n, kf_staged **taken, const int64_t *wm)
{
    for (size_t i = 0; i < n; i++) {
        if (wm[i] < 0) continue;
        kf_partition_retake(parts[i], KF_RETAKE_REWIND);
        kf_staged_free_list(taken[i]);
        taken[i] = NULL;
    }
}

/* The transaction committed: the watermarks are the committed offsets (the
 * trim rides on the next completion), the outputs are gone. */
static void mark_committed(kf_partition **parts, size_t n, kf_staged **taken, const int64_t *wm)
{
    for (size_t i = 0; i < n; i++) {
        if (wm[i] < 0) continue;
        parts[i]->committed = wm[i];
        atomic_store(&parts[i]->trim, wm[i]);
        kf_staged_free_list(taken[i]);
        taken[i] = NULL;
    }
}

/* Nothing was committed: the taken outputs go back for the next commit. */
static void restage(kf_partition **parts, size_t n, kf_staged **taken)
{
    for (size_t i = 0; i < n; i++) {
        kf_partition_stage(parts[i], taken[i]);
        taken[i] = NULL;
    }
}

int kf_consumer_eos_commit_txn(const kf_consumer_eos *e, rd_kafka_t *rk, kf_partition **parts,
                               size_t n, kf_metrics *metrics)
{
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new((int)n + 1);
    kf_staged **taken = calloc(n + 1, sizeof *taken);
    int64_t *wm = calloc(n + 1, sizeof *wm);
    int rc = -1;
    if (!taken || !wm) goto out;
    size_t nmsgs = take_below_watermarks(parts, n, offsets, taken, wm);
    if (offsets->cnt == 0) {
        rc = 0;
        goto out;
    }
    char err[512];
    kf_status trc;
    int64_t t0 = kf_now_ns();
    int ran = run_txn(e, rk, taken, n, nmsgs, offsets, &trc, err, sizeof err) == 0;
    /* A transaction that ran is timed whatever its outcome. */
    if (ran) KF_METRIC_TIME(metrics, commit_duration, kf_now_ns() - t0);
    if (!ran) {
        restage(parts, n, taken);
    } else if (trc == KF_STATUS_FENCED) {
        KF_METRIC_ADD(metrics, commit_errors, 1);
        KF_METRIC_ADD(metrics, rewinds, 1);
        kf_warn(C,
                "transaction of %zu output(s) and %d offset(s): outcome unknown (%s); "
                "rewinding those partitions to their committed offsets",
                nmsgs, offsets->cnt, err);
        rewind_unknown(parts, n, taken, wm);
        rc = -2;
    } else if (trc == KF_STATUS_OK) {
        mark_committed(parts, n, taken, wm);
        KF_METRIC_ADD(metrics, commits, 1);
        rc = 0;
    } else {
        KF_METRIC_ADD(metrics, commit_errors, 1);
        kf_warn(C,
                "transaction of %zu output(s) and %d offset(s) not committed: %s; it will be "
                "retried",
                nmsgs, offsets->cnt, err);
        restage(parts, n, taken);
    }
out:
    rd_kafka_topic_partition_list_destroy(offsets);
    free(taken);
    free(wm);
    return rc;
}

void kf_consumer_eos_trim(const kf_consumer_eos *e, kf_partition *p, int release)
{
    if (!atomic_load(&p->ready) || atomic_load(&p->fenced)) return;
    if (p->committed < 0 && !release) return;
    char err[512];
    int fenced = 0;
    const char *owner = release && e->txn ? kf_txn_id(e->txn) : NULL;
    if (kf_eos_state_release(e->state, p->topic, p->partition, p->epoch, p->committed, owner,
                             &fenced, err, sizeof err) != KF_STATUS_OK)
        kf_debug(C, "%s[%d]: trim failed (%s); the next completion trims", p->topic, p->partition,
                 err);
}
