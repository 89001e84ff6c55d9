#include "src/fleet.h"

#include "common/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct kf_fleet {
    const kf_config *cfg;
    kf_mapping **maps;
    size_t count;
    sigset_t sigs;
};

static const char *C = "fleet";

void kf_fleet_block_signals(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed HTTP peer is an error, not a death */
}

kf_fleet *kf_fleet_start(const kf_config *cfg, char *err, size_t errlen)
{
    kf_fleet *f = calloc(1, sizeof *f);
    if (!f || !(f->maps = calloc(cfg->mapping_count, sizeof *f->maps))) {
        free(f);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->cfg = cfg;
    sigemptyset(&f->sigs);
    sigaddset(&f->sigs, SIGINT);
    sigaddset(&f->sigs, SIGTERM);
    for (size_t i = 0; i < cfg->mapping_count; i++) {
        f->maps[i] = kf_mapping_start(cfg, &cfg->mappings[i], err, errlen);
        if (!f->maps[i]) {
            for (size_t j = 0; j < i; j++)
                kf_mapping_finish(f->maps[j], 1000);
            free(f->maps);
            free(f);
            return NULL;
        }
        f->count++;
    }
    return f;
}

size_t kf_fleet_count(const kf_fleet *f)
{
    return f->count;
}

kf_mapping *kf_fleet_mapping(kf_fleet *f, size_t i)
{
    return f->maps[i];
}

void kf_fleet_totals(kf_fleet *f, kf_totals *t)
{
    *t = (kf_totals){0};
    for (size_t i = 0; i < f->count; i++) {
        kf_metrics *m = kf_mapping_metrics(f->maps[i]);
        t->in += KF_METRIC_GET(m, records_in);
        t->done += KF_METRIC_GET(m, records_done);
        t->filtered += KF_METRIC_GET(m, records_filtered);
        t->failed += KF_METRIC_GET(m, records_failed);
        t->retries += KF_METRIC_GET(m, retries);
        t->inflight += KF_METRIC_GET(m, inflight);
        for (int s = 0; s < KF_METRICS_MAX_SINKS; s++)
            t->outputs += KF_METRIC_GET(m, outputs[s]);
    }
}

void kf_fleet_wait(kf_fleet *f, const volatile int *done, void (*tick)(kf_fleet *, void *),
                   void *arg)
{
    struct timespec one = {.tv_sec = 1};
    for (;;) {
        if (done && *done) return;
        int sig = sigtimedwait(&f->sigs, NULL, &one);
        if (sig > 0) {
            kf_info(C, "received %s: draining (a second signal exits at once)",
                    sig == SIGINT ? "SIGINT" : "SIGTERM");
            return;
        }
        if (tick) tick(f, arg);
    }
}

typedef struct finisher {
    kf_fleet *f;
    int rc;
    atomic_int finished;
} finisher;

static void *finish_main(void *arg)
{
    finisher *fin = arg;
    kf_fleet *f = fin->f;
    for (size_t i = 0; i < f->count; i++)
        kf_mapping_stop(f->maps[i]);
    int rc = 0;
    for (size_t i = 0; i < f->count; i++)
        if (kf_mapping_finish(f->maps[i], f->cfg->shutdown_timeout_ms) != 0) rc = -1;
    fin->rc = rc;
    fin->finished = 1;
    return NULL;
}

int kf_fleet_finish(kf_fleet *f)
{
    if (!f) return 0;
    /* The drain runs on its own thread so this one can keep listening for a
     * second signal. */
    finisher fin = {.f = f};
    pthread_t t;
    if (pthread_create(&t, NULL, finish_main, &fin) != 0) {
        finish_main(&fin);
    } else {
        struct timespec tick = {.tv_sec = 0, .tv_nsec = 50 * 1000000};
        while (!fin.finished) {
            int sig = sigtimedwait(&f->sigs, NULL, &tick);
            if (sig > 0) {
                kf_warn(C, "second signal: exiting now without committing what is not done");
                _exit(1);
            }
        }
        pthread_join(t, NULL);
    }
    free(f->maps);
    free(f);
    return fin.rc;
}
