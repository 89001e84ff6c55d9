#include "consumer/gauges.h"

#include "common/partition_gauges.h"
#include "consumer/consumer_priv.h"

#include <stdio.h>
#include <stdlib.h>

#define GAUGES_EVERY_MS 1000

/* Offsets of p dispatched above its committed offset (the consumer's
 * uncommitted(), per partition). */
static int64_t uncommitted_of(const kf_partition *p)
{
    int64_t last = kf_tracker_last(p->tracker);
    int64_t from = p->committed >= 0 ? p->committed : p->first_offset;
    return last >= 0 && from >= 0 && last + 1 > from ? last + 1 - from : 0;
}

static void row_of(const kf_consumer *c, const kf_partition *p, kf_partition_row *row)
{
    snprintf(row->topic, sizeof row->topic, "%s", p->topic);
    row->partition = p->partition;
    /* The end a reader of the mapping's isolation level reaches (the
     * watchdog's rule: exactly-once reads committed). */
    row->end = c->m->exactly_once && p->wd.ls_offset >= 0 ? p->wd.ls_offset : p->wd.hi_offset;
    row->committed = p->committed > p->wd.committed_offset ? p->committed : p->wd.committed_offset;
    int64_t from = row->committed >= 0    ? row->committed
                   : p->first_offset >= 0 ? p->first_offset
                                          : p->wd.next_offset;
    row->lag = row->end >= 0 && from >= 0 ? (row->end > from ? row->end - from : 0) : -1;
}

void kf_consumer_gauges_publish(kf_consumer *c)
{
    kf_partition_gauges *table = c->metrics->partitions;
    kf_partition_row *rows = NULL;
    if (table && c->parts.count) rows = malloc(c->parts.count * sizeof *rows);
    int64_t window = 0, marks = 0;
    int fenced = 0;
    size_t n = 0;
    for (size_t i = 0; i < c->parts.count; i++) {
        kf_partition *p = c->parts.items[i];
        /* A dead partition's records are dropped, not committed: they hold
         * no window (it is taken anew from its committed offset). */
        if (atomic_load(&p->fenced)) {
            if (atomic_load(&p->retake) & KF_RETAKE_FENCED) fenced++;
        } else {
            window += uncommitted_of(p);
        }
        marks += (int64_t)p->done_used;
        if (rows) row_of(c, p, &rows[n++]);
    }
    atomic_store(&c->metrics->uncommitted, window);
    atomic_store(&c->metrics->marks_held, marks);
    atomic_store(&c->metrics->fenced, fenced);
    /* Out of memory: the table keeps its last rows until the next second. */
    if (table && (rows || !c->parts.count)) kf_partition_gauges_publish(table, rows, n);
    free(rows);
}

void kf_consumer_gauges(kf_consumer *c, int64_t now_ms)
{
    if (now_ms < c->next_gauges) return;
    c->next_gauges = now_ms + GAUGES_EVERY_MS;
    kf_consumer_gauges_publish(c);
}
