#include "consumer/watchdog.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

kf_stall kf_wd_judge(const kf_wd_input *in)
{
    if (in->inflight > 0 || in->now_ms - in->last_progress < in->bound_ms) return KF_STALL_NONE;
    if (in->dead) return KF_STALL_DEAD;

    /* Anything to read? librdkafka's fetch position against the end a
     * reader at our isolation level may reach. Unknown offsets (never
     * fetched since the assignment) count as something to read: a
     * partition assigned for stall_timeout_ms without one fetch is stuck. */
    int64_t end = in->hi_offset;
    int64_t stable = in->read_committed && in->ls_offset >= 0 ? in->ls_offset : end;
    int64_t pos = in->next_offset >= 0 ? in->next_offset : in->committed;
    bool unknown = end < 0 || pos < 0;
    bool readable = unknown || stable > pos || in->fetchq_cnt > 0;
    if (!readable) return end > pos ? KF_STALL_UPSTREAM_TXN : KF_STALL_NONE;

    if (in->sink_down) return KF_STALL_SINK_DOWN;
    if (in->window_full) return KF_STALL_WINDOW;
    if (in->paused) return in->mapping_inflight == 0 ? KF_STALL_BACKPRESSURE : KF_STALL_NONE;
    /* Held back by the mapping's in-flight limit, or fetched and waiting in
     * the queue behind other partitions' records: its turn comes. */
    if (in->throttled || in->fetchq_cnt > 0) return KF_STALL_NONE;
    return KF_STALL_NOT_FETCHING;
}

const char *kf_wd_describe(kf_stall s)
{
    switch (s) {
    case KF_STALL_NONE:
        return "moving";
    case KF_STALL_DEAD:
        return "fenced or rewinding, not yet taken anew (see the retake lines; it is retried)";
    case KF_STALL_WINDOW:
        return "the exactly-once window is full: nothing is dispatched until a commit lands "
               "(see the commit errors)";
    case KF_STALL_BACKPRESSURE:
        return "paused by backpressure with nothing in flight: resuming";
    case KF_STALL_UPSTREAM_TXN:
        return "read_committed: an open transaction upstream holds the last stable offset "
               "(it ends when its producer commits, aborts or times out)";
    case KF_STALL_SINK_DOWN:
        return "a sink's circuit breaker is open: the mapping waits for a probe to get through "
               "(see the breaker lines)";
    case KF_STALL_NOT_FETCHING:
        return "records to read but none arriving, and kfleet does not hold it back: resuming "
               "and seeking to its position";
    }
    return "?";
}

int64_t kf_wd_progress(kf_partition *p, int64_t now_ms)
{
    int64_t last = kf_tracker_last(p->tracker);
    int64_t wm = kf_tracker_watermark(p->tracker);
    if (!p->wd.last_progress_ms || atomic_load(&p->inflight) > 0 || last != p->wd.seen_last ||
        wm != p->wd.seen_wm || p->committed != p->wd.seen_committed)
        p->wd.last_progress_ms = now_ms;
    p->wd.seen_last = last;
    p->wd.seen_wm = wm;
    p->wd.seen_committed = p->committed;
    return p->wd.last_progress_ms;
}

static int64_t num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
}

void kf_wd_read_stats(kf_partition *const *parts, size_t n, const char *json, int64_t now_ms)
{
    cJSON *root = cJSON_Parse(json);
    const cJSON *topics = cJSON_GetObjectItemCaseSensitive(root, "topics");
    for (size_t i = 0; topics && i < n; i++) {
        kf_partition *p = parts[i];
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(topics, p->topic);
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(t, "partitions");
        char key[16];
        snprintf(key, sizeof key, "%d", (int)p->partition);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(ps, key);
        if (!cJSON_IsObject(s)) continue;
        /* librdkafka says -1001 (RD_KAFKA_OFFSET_INVALID) for "not known". */
        int64_t v[5] = {num(s, "next_offset"), num(s, "hi_offset"), num(s, "ls_offset"),
                        num(s, "fetchq_cnt"), num(s, "committed_offset")};
        for (int k = 0; k < 5; k++)
            if (v[k] < 0) v[k] = -1;
        p->wd.next_offset = v[0];
        p->wd.hi_offset = v[1];
        p->wd.ls_offset = v[2];
        p->wd.fetchq_cnt = v[3] < 0 ? 0 : v[3];
        p->wd.committed_offset = v[4];
        p->wd.stats_ms = now_ms;
    }
    cJSON_Delete(root);
}
