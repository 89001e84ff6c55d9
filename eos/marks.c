/* See marks.h. */
#include "eos/marks.h"

#include "common/log.h"
#include "common/redis.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kf_eos_marks {
    kf_eos_state *state;
    char *sink;
    /* Scratch, grown to the largest flush seen; indexes into the caller's
     * outputs sorted by (topic, partition, epoch, offset, position). */
    size_t cap;
    size_t *order;
    kf_eos_write *writes;
    kf_eos_item *items;
    size_t *item_first, *item_count; /* the item's outputs, in `order` */
    kf_eos_part *parts;
    int *status;
    /* The sentences the last call's outputs point to. */
    char why[640];    /* the call failed */
    char fenced[256]; /* the first fenced part */
    char error[640];  /* the first failed write */
};

kf_eos_marks *kf_eos_marks_new(const char *state_url, const char *prefix, const char *group,
                               const char *sink, char *err, size_t errlen)
{
    kf_eos_marks *m = calloc(1, sizeof *m);
    if (!m || !(m->sink = strdup(sink ? sink : ""))) {
        free(m);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->state = kf_eos_state_new(state_url, prefix, group, err, errlen);
    if (!m->state) {
        free(m->sink);
        free(m);
        return NULL;
    }
    return m;
}

void kf_eos_marks_destroy(kf_eos_marks *m)
{
    if (!m) return;
    kf_eos_state_destroy(m->state);
    free(m->sink);
    free(m->order);
    free(m->writes);
    free(m->items);
    free(m->item_first);
    free(m->item_count);
    free(m->parts);
    free(m->status);
    free(m);
}

void kf_eos_marks_set_metrics(kf_eos_marks *m, kf_metrics *metrics)
{
    kf_eos_state_set_metrics(m->state, metrics);
}

static int grow(kf_eos_marks *m, size_t n)
{
    if (n <= m->cap) return 0;
    size_t cap = m->cap ? m->cap : 64;
    while (cap < n)
        cap *= 2;
#define GROW(field)                                                                                \
    do {                                                                                           \
        void *p = realloc(m->field, cap * sizeof *m->field);                                       \
        if (!p) return -1;                                                                         \
        m->field = p;                                                                              \
    } while (0)
    GROW(order);
    GROW(writes);
    GROW(items);
    GROW(item_first);
    GROW(item_count);
    GROW(parts);
    GROW(status);
#undef GROW
    m->cap = cap;
    return 0;
}

static int cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static int same_part(const kf_eos_out *a, const kf_eos_out *b)
{
    return a->partition == b->partition && a->epoch == b->epoch && strcmp(a->topic, b->topic) == 0;
}

/* qsort_r comparator of indexes into the outputs `ctx`. */
static int cmp_out(const void *pa, const void *pb, void *ctx)
{
    const kf_eos_out *outs = ctx;
    size_t ia = *(const size_t *)pa, ib = *(const size_t *)pb;
    const kf_eos_out *a = &outs[ia], *b = &outs[ib];
    int c = strcmp(a->topic, b->topic);
    if (c) return c;
    if ((c = cmp_i64(a->partition, b->partition))) return c;
    if ((c = cmp_i64(a->epoch, b->epoch))) return c;
    if ((c = cmp_i64(a->offset, b->offset))) return c;
    return ia < ib ? -1 : ia > ib; /* keeps a record's outputs in the given order */
}

/* Sets every output of item `it` to st / why. */
static void set_item(kf_eos_marks *m, kf_eos_out *outs, size_t it, kf_status st, const char *why)
{
    for (size_t k = 0; k < m->item_count[it]; k++) {
        kf_eos_out *o = &outs[m->order[m->item_first[it] + k]];
        o->status = st;
        o->why = st == KF_STATUS_OK ? NULL : why;
    }
}

/* Builds parts and items from the sorted outputs; returns the item count. */
static size_t build(kf_eos_marks *m, kf_eos_out *outs, size_t n, size_t *nparts)
{
    size_t nitems = 0, nw = 0, np = 0;
    for (size_t i = 0; i < n;) {
        /* One record: outputs i..j share part and offset. */
        size_t j = i + 1;
        const kf_eos_out *first = &outs[m->order[i]];
        bool ok = first->status == KF_STATUS_OK;
        while (j < n && same_part(&outs[m->order[j]], first) &&
               outs[m->order[j]].offset == first->offset) {
            ok = ok && outs[m->order[j]].status == KF_STATUS_OK;
            j++;
        }
        if (ok) {
            kf_eos_part *p = np ? &m->parts[np - 1] : NULL;
            if (!p || p->partition != first->partition || p->epoch != first->epoch ||
                strcmp(p->topic, first->topic) != 0) {
                p = &m->parts[np++];
                *p = (kf_eos_part){.topic = first->topic,
                                   .partition = first->partition,
                                   .epoch = first->epoch,
                                   .trim = first->trim,
                                   .items = &m->items[nitems]};
            }
            kf_eos_item *item = &m->items[nitems];
            *item = (kf_eos_item){.offset = first->offset, .writes = &m->writes[nw], .fresh = true};
            for (size_t k = i; k < j; k++) {
                const kf_eos_out *o = &outs[m->order[k]];
                item->fresh = item->fresh && o->fresh;
                if (o->trim > p->trim) p->trim = o->trim;
                if (o->write) m->writes[nw++] = *o->write;
            }
            item->nwrites = (size_t)(&m->writes[nw] - item->writes);
            m->item_first[nitems] = i;
            m->item_count[nitems] = j - i;
            p->nitems++;
            nitems++;
        }
        i = j;
    }
    *nparts = np;
    return nitems;
}

void kf_eos_marks_complete(kf_eos_marks *m, kf_eos_out *outs, size_t n)
{
    if (n == 0) return;
    if (grow(m, n) != 0) {
        snprintf(m->why, sizeof m->why, "sink %s: out of memory for the completion", m->sink);
        for (size_t i = 0; i < n; i++) {
            if (outs[i].status != KF_STATUS_OK) continue;
            outs[i].status = KF_STATUS_RETRY;
            outs[i].why = m->why;
        }
        return;
    }
    for (size_t i = 0; i < n; i++)
        m->order[i] = i;
    qsort_r(m->order, n, sizeof *m->order, cmp_out, outs);

    size_t nparts = 0;
    size_t nitems = build(m, outs, n, &nparts);
    if (nitems == 0) return;

    char err[512] = "";
    int rc = kf_eos_state_complete(m->state, m->sink, m->parts, nparts, m->status, err, sizeof err);
    if (rc != KF_STATUS_OK) {
        kf_status st = rc == KF_STATUS_RETRY ? KF_STATUS_RETRY : KF_STATUS_FAIL;
        snprintf(m->why, sizeof m->why, "sink %s: completion in the state redis %s: %s", m->sink,
                 rc == KF_STATUS_RETRY ? "got no clear reply (will be re-run)" : "failed",
                 err[0] ? err : "unknown error");
        kf_warn("sink.eos", "%s; %zu record(s) %s", m->why, nitems,
                rc == KF_STATUS_RETRY ? "will be retried" : "failed");
        for (size_t it = 0; it < nitems; it++)
            set_item(m, outs, it, st, m->why);
        return;
    }

    /* One sentence serves all fenced items and one all failed writes: the
     * first of each kind names its partition; they are rare. */
    m->fenced[0] = m->error[0] = '\0';
    size_t it = 0;
    for (size_t p = 0; p < nparts; p++) {
        const kf_eos_part *part = &m->parts[p];
        for (size_t k = 0; k < part->nitems; k++, it++) {
            switch (m->status[it]) {
            case KF_EOS_APPLIED:
            case KF_EOS_SKIPPED:
                set_item(m, outs, it, KF_STATUS_OK, NULL);
                break;
            case KF_EOS_FENCED:
                if (!m->fenced[0]) {
                    snprintf(m->fenced, sizeof m->fenced,
                             "sink %s: %s[%" PRId32 "] has a newer owner (epoch %" PRId64
                             " is stale): dropped",
                             m->sink, part->topic, part->partition, part->epoch);
                    kf_info("sink.eos", "%s", m->fenced);
                }
                set_item(m, outs, it, KF_STATUS_FENCED, m->fenced);
                break;
            default: { /* KF_EOS_ERROR, or a status this code does not know */
                if (!m->error[0])
                    snprintf(m->error, sizeof m->error,
                             "sink %s: write of %s[%" PRId32 "]@%" PRId64 " failed: %s", m->sink,
                             part->topic, part->partition, part->items[k].offset,
                             err[0] ? err : "error reply");
                kf_status st = err[0] ? kf_redis_classify(err, NULL) : KF_STATUS_FAIL;
                set_item(m, outs, it, st, m->error);
                break;
            }
            }
        }
    }
}
