#include "consumer/prefetch.h"

#include "consumer/consumer_priv.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first nudge waits this long after the queue runs low; while nudges
 * bring no record the wait doubles up to MAX, which is librdkafka's own
 * longest sleep (nudging slower would be pointless). */
#define NUDGE_MIN_MS 2
#define NUDGE_MAX_MS 1000

struct kf_prefetch {
    /* Thresholds as librdkafka applies them to the consumer queue. */
    int64_t min_msgs;
    int64_t max_bytes;
    double avg_bytes; /* a record's size, moving average; consumer thread */

    int64_t next_ms; /* no nudge before; consumer thread */
    int gap_ms;      /* the current back-off; consumer thread */
    size_t rr;       /* the partition to try first; consumer thread */

    rd_kafka_t *rk;
    kf_metrics *metrics;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu; /* guards what follows */
    pthread_cond_t cv;
    bool pending, stop;
    char topic[256];
    int32_t partition;
};

static int64_t conf_int(const rd_kafka_conf_t *conf, const char *name, int64_t def)
{
    char v[64];
    size_t sz = sizeof v;
    if (rd_kafka_conf_get(conf, name, v, &sz) != RD_KAFKA_CONF_OK) return def;
    long long n = atoll(v);
    return n > 0 ? n : def;
}

kf_prefetch *kf_prefetch_new(const rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    kf_prefetch *pf = calloc(1, sizeof *pf);
    if (!pf) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pf->min_msgs = conf_int(conf, "queued.min.messages", 100000);
    pf->max_bytes = conf_int(conf, "queued.max.messages.kbytes", 65536) * 1024;
    pf->avg_bytes = 0;
    pf->gap_ms = NUDGE_MIN_MS;
    pthread_mutex_init(&pf->mu, NULL);
    pthread_cond_init(&pf->cv, NULL);
    return pf;
}

static void *nudger_main(void *arg)
{
    kf_prefetch *pf = arg;
    pthread_mutex_lock(&pf->mu);
    for (;;) {
        while (!pf->pending && !pf->stop)
            pthread_cond_wait(&pf->cv, &pf->mu);
        if (pf->stop) break;
        char topic[sizeof pf->topic];
        memcpy(topic, pf->topic, sizeof topic);
        int32_t partition = pf->partition;
        pthread_mutex_unlock(&pf->mu);
        /* The answer does not matter: the request woke the broker thread. */
        int64_t lo, hi;
        rd_kafka_query_watermark_offsets(pf->rk, topic, partition, &lo, &hi, 1000);
        KF_METRIC_ADD(pf->metrics, prefetch_nudges, 1);
        pthread_mutex_lock(&pf->mu);
        pf->pending = false;
    }
    pthread_mutex_unlock(&pf->mu);
    return NULL;
}

int kf_prefetch_start(kf_prefetch *pf, rd_kafka_t *rk, kf_metrics *metrics)
{
    pf->rk = rk;
    pf->metrics = metrics;
    if (pthread_create(&pf->thread, NULL, nudger_main, pf)) return -1;
    pf->started = true;
    return 0;
}

/* Records in the queue below which it is worth waking the fetcher: half of
 * whichever threshold binds first at the records' size. */
static int64_t low_water(const kf_prefetch *pf)
{
    int64_t by_count = pf->min_msgs / 2;
    if (pf->avg_bytes < 1) return by_count;
    int64_t by_bytes = (int64_t)((double)pf->max_bytes / 2 / pf->avg_bytes);
    return by_bytes < by_count ? by_bytes : by_count;
}

/* An unpaused partition with records on the broker beyond what the
 * application has taken (librdkafka's cached high watermark, from the last
 * fetch answer); NULL when none. Starts at the round robin's turn. */
static kf_partition *lagging(kf_prefetch *pf, kf_consumer *c)
{
    size_t n = c->parts.count;
    for (size_t i = 0; i < n; i++) {
        size_t at = (pf->rr + i) % n;
        kf_partition *p = c->parts.items[at];
        if (p->app_paused || atomic_load(&p->revoked)) continue;
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &lo, &hi) || hi < 0)
            continue;
        rd_kafka_topic_partition_list_t *l = kf_consumer_one_partition(p);
        int64_t pos = -1;
        if (!rd_kafka_position(c->rk, l)) pos = l->elems[0].offset;
        rd_kafka_topic_partition_list_destroy(l);
        if (pos >= 0 && hi > pos) {
            pf->rr = at + 1;
            return p;
        }
    }
    return NULL;
}

void kf_prefetch_check(kf_prefetch *pf, kf_consumer *c, int64_t now, long got, size_t bytes)
{
    if (!pf || !pf->started) return;
    if (got > 0) {
        double per = (double)bytes / (double)got;
        pf->avg_bytes = pf->avg_bytes < 1 ? per : pf->avg_bytes * 0.9 + per * 0.1;
        pf->gap_ms = NUDGE_MIN_MS; /* records flow: a stall is news again */
    }
    if (now < pf->next_ms || c->paused || c->parts.count == 0) return;
    if (rd_kafka_queue_length(c->queue) >= (size_t)low_water(pf)) return;
    kf_partition *p = lagging(pf, c);
    if (!p) return;
    pthread_mutex_lock(&pf->mu);
    if (!pf->pending) {
        snprintf(pf->topic, sizeof pf->topic, "%s", p->topic);
        pf->partition = p->partition;
        pf->pending = true;
        pthread_cond_signal(&pf->cv);
    }
    pthread_mutex_unlock(&pf->mu);
    pf->next_ms = now + pf->gap_ms;
    pf->gap_ms = pf->gap_ms * 2 > NUDGE_MAX_MS ? NUDGE_MAX_MS : pf->gap_ms * 2;
}

void kf_prefetch_destroy(kf_prefetch *pf)
{
    if (!pf) return;
    if (pf->started) {
        pthread_mutex_lock(&pf->mu);
        pf->stop = true;
        pthread_cond_signal(&pf->cv);
        pthread_mutex_unlock(&pf->mu);
        pthread_join(pf->thread, NULL);
    }
    pthread_mutex_destroy(&pf->mu);
    pthread_cond_destroy(&pf->cv);
    free(pf);
}
