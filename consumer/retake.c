#include "consumer/consumer_priv.h"

#include "common/log.h"
#include "common/metrics.h"

static const char *C = "consumer";

/*
 * Taking a dead partition anew (exactly-once). A partition object dies when
 * its epoch was refused (KF_RETAKE_FENCED: either a zombie took it, and then a
 * rebalance is coming that takes it from us, or Redis lost its epoch, and
 * then nobody else has it and waiting would stall it forever) or when a
 * transaction's outcome is unknown (KF_RETAKE_REWIND). The consumer pauses
 * it, and once due takes it anew: a new epoch and its marks (kf_consumer_eos_assign),
 * a seek back to the committed offset, a new kf_partition. Records of the
 * dead object still running are dropped as they finish (fenced by the new
 * epoch, their staged outputs discarded with the object), so nothing waits
 * for them. A fenced partition waits RETAKE_MS first, so that a coming
 * rebalance takes it away before this process bumps the epoch of a newer
 * owner; a rewind is due at once. A retake that fails is tried again
 * RETAKE_MS later.
 */
#define RETAKE_MS 5000

/* Reads p's committed offset into *off (l is p alone). Returns 0, or -1 to
 * try again later. */
static int read_committed(kf_consumer *c, const kf_partition *p, rd_kafka_topic_partition_list_t *l,
                          int64_t *off)
{
    rd_kafka_resp_err_t ce = rd_kafka_committed(c->rk, l, 5000);
    if (ce || l->elems[0].err) {
        kf_warn(C, "mapping %s: %s[%d]: cannot read its committed offset (%s); retrying",
                c->m->name, p->topic, p->partition, rd_kafka_err2str(ce ? ce : l->elems[0].err));
        return -1;
    }
    *off = l->elems[0].offset;
    return 0;
}

/* A new object for p's partition with a new epoch and its marks, committed
 * at `off`. NULL to try again later. */
static kf_partition *fresh_partition(kf_consumer *c, const kf_partition *p, int64_t off)
{
    kf_partition *np = kf_partition_new(p->topic, p->partition);
    if (!np || kf_consumer_eos_assign(&c->eos, c->m, np, c->stop) != 0) {
        kf_partition_unref(np);
        return NULL;
    }
    np->committed = off;
    if (off >= 0) atomic_store(&np->trim, off);
    kf_consumer_load_crashes(c, np, NULL);
    return np;
}

/* Seeks p's partition (l is p alone) back to `off`, or to the starting
 * position when nothing is committed. Returns 0, or -1 to try again later. */
static int seek_back(kf_consumer *c, const kf_partition *p, rd_kafka_topic_partition_list_t *l,
                     int64_t off)
{
    int64_t to = off >= 0                                     ? off
                 : c->m->starting_position == KF_START_LATEST ? RD_KAFKA_OFFSET_END
                                                              : RD_KAFKA_OFFSET_BEGINNING;
    return kf_consumer_seek(c, p, l, to, off, "; retrying");
}

/* Puts np in the place of the dead c->parts.items[i] once the seek to `off`
 * was applied (l is the partition alone), and lets the dead object go. */
static void replace_dead(kf_consumer *c, size_t i, kf_partition *np,
                         rd_kafka_topic_partition_list_t *l, int64_t off)
{
    kf_partition *p = c->parts.items[i];
    int why = atomic_load(&p->retake);
    /* Resumed only after the seek was applied (a resume before it could
     * outdate the seek); under backpressure it stays paused with the rest. */
    np->assigned_ms = p->assigned_ms;
    np->app_paused = true;
    if (!c->paused) {
        rd_kafka_resume_partitions(c->rk, l);
        np->app_paused = false;
    }
    /* The dead object's queued records go now, not when a worker reaches
     * them: they count against the in-flight limit until then. */
    c->parts.items[i] = np;
    atomic_store(&p->revoked, true);
    kf_dispatcher_drop_partition(c->d, p);
    kf_partition_release(p);
    KF_METRIC_ADD(c->metrics, retakes, 1);
    kf_warn(C, "mapping %s: %s[%d] taken anew after %s (epoch %lld, from offset %lld)", c->m->name,
            np->topic, np->partition,
            why & KF_RETAKE_FENCED ? "being fenced" : "a transaction of unknown outcome",
            (long long)np->epoch, (long long)off);
}

/* Takes c->parts.items[i] anew. Returns 0, or -1 to try again later. */
static int retake(kf_consumer *c, size_t i)
{
    kf_partition *p = c->parts.items[i];
    char err[512] = "";
    /* A replaced producer first takes its new epoch: that settles the old
     * transaction on the broker, so the committed offset read next is
     * final. */
    if (c->eos.txn && kf_txn_ready(c->eos.txn, err, sizeof err) != 0) {
        kf_warn(C, "mapping %s: %s[%d]: cannot take it anew yet: %s", c->m->name, p->topic,
                p->partition, err);
        return -1;
    }
    rd_kafka_topic_partition_list_t *l = kf_consumer_one_partition(p);
    kf_partition *np = NULL;
    int64_t off = -1;
    int rc = -1;
    if (read_committed(c, p, l, &off) == 0 && (np = fresh_partition(c, p, off)) != NULL) {
        if (seek_back(c, p, l, off) == 0) {
            replace_dead(c, i, np, l, off);
            rc = 0;
        } else {
            kf_partition_unref(np);
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* A dead partition seen for the first time: paused (unless it is already),
 * and due for its retake at once (a rewind) or RETAKE_MS from now (fenced). */
static void hold_dead(kf_consumer *c, kf_partition *p, int64_t now)
{
    if (!p->app_paused) {
        rd_kafka_topic_partition_list_t *l = kf_consumer_one_partition(p);
        rd_kafka_pause_partitions(c->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        p->app_paused = true;
    }
    p->retake_at = now + (atomic_load(&p->retake) & KF_RETAKE_FENCED ? RETAKE_MS : 0);
}

void kf_consumer_retake_dead(kf_consumer *c, int64_t now)
{
    int dead = 0;
    for (size_t i = 0; c->eos.state && i < c->parts.count; i++) {
        kf_partition *p = c->parts.items[i];
        if (!atomic_load(&p->fenced)) continue;
        if (!p->retake_at) hold_dead(c, p, now);
        if (now >= p->retake_at && retake(c, i) == 0) continue;
        if (now >= p->retake_at) p->retake_at = now + RETAKE_MS;
        dead++;
    }
    atomic_store(&c->metrics->dead, dead);
}
