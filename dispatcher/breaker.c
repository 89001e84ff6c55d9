#include "dispatcher/breaker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kf_breaker {
    kf_breaker_config cfg;
    pthread_mutex_t lock; /* guards everything below but the atomics' writes */
    /* Read without the lock on the hot path (a success to a closed breaker
     * with nothing counted); written under it. */
    atomic_int state;
    atomic_int fails; /* transient failures in a row while closed */
    int64_t wait_ms;  /* the current wait between probes */
    int64_t due_ms;   /* open: when the probe may go */
    int64_t opened_ms;
    char why[256];
};

kf_breaker *kf_breaker_new(const kf_breaker_config *cfg)
{
    if (cfg->failures <= 0) return NULL;
    kf_breaker *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->cfg = *cfg;
    b->wait_ms = cfg->probe_ms;
    pthread_mutex_init(&b->lock, NULL);
    return b;
}

void kf_breaker_free(kf_breaker *b)
{
    if (!b) return;
    pthread_mutex_destroy(&b->lock);
    free(b);
}

static void keep_why(kf_breaker *b, const char *why)
{
    if (why) snprintf(b->why, sizeof b->why, "%s", why);
}

kf_breaker_change kf_breaker_answer(kf_breaker *b, bool transient, const char *why, int64_t now_ms)
{
    if (!transient && atomic_load_explicit(&b->state, memory_order_relaxed) == KF_BREAKER_CLOSED &&
        atomic_load_explicit(&b->fails, memory_order_relaxed) == 0)
        return KF_BREAKER_SAME;
    kf_breaker_change ch = KF_BREAKER_SAME;
    pthread_mutex_lock(&b->lock);
    switch ((kf_breaker_state)atomic_load(&b->state)) {
    case KF_BREAKER_CLOSED:
        if (!transient) {
            atomic_store(&b->fails, 0);
            break;
        }
        keep_why(b, why);
        if (atomic_fetch_add(&b->fails, 1) + 1 >= b->cfg.failures) {
            atomic_store(&b->fails, 0);
            atomic_store(&b->state, KF_BREAKER_OPEN);
            b->wait_ms = b->cfg.probe_ms;
            b->due_ms = now_ms + b->wait_ms;
            b->opened_ms = now_ms;
            ch = KF_BREAKER_OPENED;
        }
        break;
    case KF_BREAKER_OPEN:
        /* Answers to writes made before it opened: they say nothing new. */
        if (transient) keep_why(b, why);
        break;
    case KF_BREAKER_PROBING:
        if (transient) {
            keep_why(b, why);
            b->wait_ms *= 2;
            if (b->wait_ms > b->cfg.max_probe_ms) b->wait_ms = b->cfg.max_probe_ms;
            b->due_ms = now_ms + b->wait_ms;
            atomic_store(&b->state, KF_BREAKER_OPEN);
            ch = KF_BREAKER_REOPENED;
        } else {
            atomic_store(&b->state, KF_BREAKER_CLOSED);
            ch = KF_BREAKER_RECLOSED;
        }
        break;
    }
    pthread_mutex_unlock(&b->lock);
    return ch;
}

kf_breaker_state kf_breaker_state_of(kf_breaker *b)
{
    return (kf_breaker_state)atomic_load(&b->state);
}

int64_t kf_breaker_due(kf_breaker *b)
{
    pthread_mutex_lock(&b->lock);
    int64_t due = atomic_load(&b->state) == KF_BREAKER_OPEN ? b->due_ms : -1;
    pthread_mutex_unlock(&b->lock);
    return due;
}

bool kf_breaker_start_probe(kf_breaker *b, int64_t now_ms)
{
    pthread_mutex_lock(&b->lock);
    bool go = atomic_load(&b->state) == KF_BREAKER_OPEN && now_ms >= b->due_ms;
    if (go) atomic_store(&b->state, KF_BREAKER_PROBING);
    pthread_mutex_unlock(&b->lock);
    return go;
}

bool kf_breaker_probe_void(kf_breaker *b, int64_t now_ms)
{
    pthread_mutex_lock(&b->lock);
    bool was = atomic_load(&b->state) == KF_BREAKER_PROBING;
    if (was) {
        atomic_store(&b->state, KF_BREAKER_OPEN);
        b->due_ms = now_ms;
    }
    pthread_mutex_unlock(&b->lock);
    return was;
}

int64_t kf_breaker_wait_ms(kf_breaker *b)
{
    pthread_mutex_lock(&b->lock);
    int64_t w = b->wait_ms;
    pthread_mutex_unlock(&b->lock);
    return w;
}

int64_t kf_breaker_opened_ms(kf_breaker *b)
{
    pthread_mutex_lock(&b->lock);
    int64_t t = b->opened_ms;
    pthread_mutex_unlock(&b->lock);
    return t;
}

void kf_breaker_last_why(kf_breaker *b, char *buf, size_t len)
{
    pthread_mutex_lock(&b->lock);
    snprintf(buf, len, "%s", b->why[0] ? b->why : "unknown");
    pthread_mutex_unlock(&b->lock);
}
