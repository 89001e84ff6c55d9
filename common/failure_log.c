#include "common/failure_log.h"

#include "common/clock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct kf_failure_log {
    pthread_mutex_t lock; /* guards ring and total; a leaf lock */
    kf_failure_event ring[KF_FAILURE_LOG_SIZE];
    uint64_t total; /* events added; the next one goes to ring[total % SIZE] */
};

kf_failure_log *kf_failure_log_new(void)
{
    kf_failure_log *log = calloc(1, sizeof *log);
    if (log) pthread_mutex_init(&log->lock, NULL);
    return log;
}

void kf_failure_log_destroy(kf_failure_log *log)
{
    if (!log) return;
    pthread_mutex_destroy(&log->lock);
    free(log);
}

/* Copies s into out (size cap), cut with "..." when it does not fit. */
static void copy_cut(char *out, size_t cap, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < cap) {
        memcpy(out, s ? s : "", n + 1);
        return;
    }
    memcpy(out, s, cap - 4);
    memcpy(out + cap - 4, "...", 4);
}

static void add(kf_failure_log *log, kf_failure_kind kind, const char *topic, int32_t partition,
                int64_t offset, const char *sink, const char *reason)
{
    if (!log) return;
    int64_t now = kf_wall_ms(); /* read outside the lock: it is the slow part */
    pthread_mutex_lock(&log->lock);
    kf_failure_event *e = &log->ring[log->total % KF_FAILURE_LOG_SIZE];
    e->seq = ++log->total;
    e->time_ms = now;
    e->kind = kind;
    copy_cut(e->topic, sizeof e->topic, topic);
    e->partition = partition;
    e->offset = offset;
    copy_cut(e->sink, sizeof e->sink, sink);
    copy_cut(e->reason, sizeof e->reason, reason);
    pthread_mutex_unlock(&log->lock);
}

void kf_failure_log_record(kf_failure_log *log, kf_failure_kind kind, const char *topic,
                           int32_t partition, int64_t offset, const char *reason)
{
    add(log, kind, topic, partition, offset, NULL, reason);
}

void kf_failure_log_sink(kf_failure_log *log, kf_failure_kind kind, const char *sink,
                         const char *reason)
{
    add(log, kind, NULL, -1, -1, sink, reason);
}

size_t kf_failure_log_copy(kf_failure_log *log, kf_failure_event *out, uint64_t *total)
{
    pthread_mutex_lock(&log->lock);
    uint64_t t = log->total;
    size_t n = t < KF_FAILURE_LOG_SIZE ? (size_t)t : KF_FAILURE_LOG_SIZE;
    for (size_t i = 0; i < n; i++)
        out[i] = log->ring[(t - 1 - i) % KF_FAILURE_LOG_SIZE];
    pthread_mutex_unlock(&log->lock);
    *total = t;
    return n;
}

const char *kf_failure_kind_name(kf_failure_kind kind)
{
    switch (kind) {
    case KF_FAILURE_DEAD_LETTER:
        return "dead_letter";
    case KF_FAILURE_PARKED:
        return "parked";
    case KF_FAILURE_BREAKER_OPEN:
        return "breaker_open";
    case KF_FAILURE_FENCED:
        return "fenced";
    case KF_FAILURE_KIND_COUNT:
        break;
    }
    return "unknown";
}
