#include "consumer/assignment.h"

#include "common/log.h"

#include <stdlib.h>
#include <string.h>

kf_partition *kf_assignment_find(kf_assignment *a, const char *topic, int32_t partition)
{
    if (a->last_hit < a->count) {
        kf_partition *p = a->items[a->last_hit];
        if (p->partition == partition && strcmp(p->topic, topic) == 0) return p;
    }
    for (size_t i = 0; i < a->count; i++) {
        kf_partition *p = a->items[i];
        if (p->partition == partition && strcmp(p->topic, topic) == 0) {
            a->last_hit = i;
            return p;
        }
    }
    return NULL;
}

void kf_assignment_add_all(kf_assignment *a, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        if (kf_assignment_find(a, tp->topic, tp->partition)) continue;
        if (a->count == a->cap) {
            size_t cap = a->cap ? a->cap * 2 : 16;
            kf_partition **n = realloc(a->items, cap * sizeof *n);
            if (!n) abort(); /* an assignment we cannot track cannot be processed */
            a->items = n;
            a->cap = cap;
        }
        kf_partition *p = kf_partition_new(tp->topic, tp->partition);
        if (!p) abort();
        a->items[a->count++] = p;
    }
}

void kf_assignment_remove(kf_assignment *a, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < a->count; i++) {
        kf_partition *p = a->items[i];
        if (p->partition == partition && strcmp(p->topic, topic) == 0) {
            a->items[i] = a->items[--a->count];
            kf_partition_release(p);
            return;
        }
    }
}

rd_kafka_topic_partition_list_t *kf_assignment_list(const kf_assignment *a)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)a->count + 1);
    for (size_t i = 0; i < a->count; i++)
        rd_kafka_topic_partition_list_add(l, a->items[i]->topic, a->items[i]->partition);
    return l;
}

void kf_assignment_clear(kf_assignment *a)
{
    for (size_t i = 0; i < a->count; i++)
        kf_partition_release(a->items[i]);
    free(a->items);
    memset(a, 0, sizeof *a);
}

void kf_assignment_apply_start(rd_kafka_t *rk, const kf_mapping_config *m,
                               rd_kafka_topic_partition_list_t *parts)
{
    if (m->starting_position != KF_START_TIMESTAMP || parts->cnt == 0) return;
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, committed, 10000);
    if (e) {
        kf_warn("consumer",
                "mapping %s: cannot read committed offsets (%s); starting from "
                "auto.offset.reset",
                m->name, rd_kafka_err2str(e));
        rd_kafka_topic_partition_list_destroy(committed);
        return;
    }
    rd_kafka_topic_partition_list_t *times = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < committed->cnt; i++)
        if (committed->elems[i].offset < 0)
            rd_kafka_topic_partition_list_add(times, committed->elems[i].topic,
                                              committed->elems[i].partition)
                ->offset = m->start_timestamp_ms;
    if (times->cnt > 0) {
        e = rd_kafka_offsets_for_times(rk, times, 10000);
        if (e) {
            kf_warn("consumer",
                    "mapping %s: offsets_for_times failed (%s); starting from "
                    "auto.offset.reset",
                    m->name, rd_kafka_err2str(e));
        } else {
            for (int i = 0; i < times->cnt; i++) {
                rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(
                    parts, times->elems[i].topic, times->elems[i].partition);
                /* -1 (no record at or after the time) means the end. */
                if (tp && !times->elems[i].err)
                    tp->offset =
                        times->elems[i].offset < 0 ? RD_KAFKA_OFFSET_END : times->elems[i].offset;
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(times);
    rd_kafka_topic_partition_list_destroy(committed);
}
