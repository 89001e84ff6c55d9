/*
 * Generic sink dispatch: picks the ops by type (registry.h), keeps a private copy of the
 * sink's config (so callers may free theirs after open), and forwards calls,
 * filling in the optional ops.
 *
 * Lifetimes: the env is read only during kf_sink_open (implementations copy
 * what they keep); the config copy lives until kf_sink_close, so
 * implementations may keep pointers into the `cfg` their open receives.
 *
 * Threads: kf_sink_write / kf_sink_flush on one worker state come from one
 * thread at a time; different worker states run concurrently. Open, close and
 * the worker open/close calls are not concurrent with anything on the same
 * sink.
 */
#include "sinks/sink.h"
#include "sinks/registry.h"
#include "sinks/sink_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kf_sink {
    const kf_sink_ops *ops;
    void *self;
    kf_sink_config cfg; /* deep copy, owned */
};

struct kf_sink_worker {
    kf_sink *s;
    void *ws;
};

static void props_free(kf_props *p)
{
    for (size_t i = 0; i < p->count; i++) {
        free(p->names[i]);
        free(p->values[i]);
    }
    free(p->names);
    free(p->values);
    memset(p, 0, sizeof *p);
}

static void config_free(kf_sink_config *c)
{
    free(c->name);
    free(c->topic);
    free(c->key);
    free(c->url);
    props_free(&c->headers);
}

/* strdup that keeps NULL; sets *bad on allocation failure. */
static char *dup_opt(const char *s, int *bad)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *bad = 1;
    return d;
}

static int config_copy(kf_sink_config *dst, const kf_sink_config *src)
{
    int bad = 0;
    memset(dst, 0, sizeof *dst);
    dst->type = src->type;
    dst->command = src->command;
    dst->timeout_ms = src->timeout_ms;
    dst->breaker = src->breaker;
    dst->name = dup_opt(src->name ? src->name : "", &bad);
    dst->topic = dup_opt(src->topic, &bad);
    dst->key = dup_opt(src->key, &bad);
    dst->url = dup_opt(src->url, &bad);
    size_t n = src->headers.count;
    if (n > 0 && !bad) {
        dst->headers.names = calloc(n, sizeof(char *));
        dst->headers.values = calloc(n, sizeof(char *));
        if (!dst->headers.names || !dst->headers.values) {
            bad = 1;
        } else {
            dst->headers.count = n;
            for (size_t i = 0; i < n; i++) {
                dst->headers.names[i] = dup_opt(src->headers.names[i], &bad);
                dst->headers.values[i] = dup_opt(src->headers.values[i], &bad);
            }
        }
    }
    if (bad) config_free(dst);
    return bad ? -1 : 0;
}

kf_sink *kf_sink_open(const kf_sink_config *cfg, const kf_sink_env *env, char *err, size_t errlen)
{
    const kf_sink_ops *ops = kf_sink_ops_by_id(cfg->type);
    if (!ops) {
        snprintf(err, errlen, "sink %s: unknown sink type %d", cfg->name ? cfg->name : "?",
                 (int)cfg->type);
        return NULL;
    }
    kf_sink *s = calloc(1, sizeof *s);
    if (!s || config_copy(&s->cfg, cfg) != 0) {
        snprintf(err, errlen, "sink %s: out of memory", cfg->name ? cfg->name : "?");
        free(s);
        return NULL;
    }
    s->ops = ops;
    char why[512] = "";
    if (ops->open(s, &s->cfg, env, &s->self, why, sizeof why) != 0) {
        snprintf(err, errlen, "sink %s (%s): %s", s->cfg.name, ops->type,
                 why[0] ? why : "open failed");
        config_free(&s->cfg);
        free(s);
        return NULL;
    }
    return s;
}

kf_sink_worker *kf_sink_worker_open(kf_sink *s, int worker_id, char *err, size_t errlen)
{
    kf_sink_worker *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "sink %s: out of memory", s->cfg.name);
        return NULL;
    }
    w->s = s;
    if (s->ops->worker_open) {
        char why[512] = "";
        if (s->ops->worker_open(s->self, worker_id, &w->ws, why, sizeof why) != 0) {
            snprintf(err, errlen, "sink %s (%s), worker %d: %s", s->cfg.name, s->ops->type,
                     worker_id, why[0] ? why : "worker open failed");
            free(w);
            return NULL;
        }
    }
    return w;
}

void kf_sink_worker_close(kf_sink_worker *w)
{
    if (!w) return;
    if (w->s->ops->worker_close) w->s->ops->worker_close(w->s->self, w->ws);
    free(w);
}

void kf_sink_write(kf_sink_worker *w, const kf_sink_msg *msg)
{
    w->s->ops->write(w->s->self, w->ws, msg);
}

void kf_sink_flush(kf_sink_worker *w)
{
    if (w->s->ops->flush) w->s->ops->flush(w->s->self, w->ws);
}

bool kf_sink_flushes(const kf_sink *s)
{
    return s->ops->flush != NULL;
}

int kf_sink_drain(kf_sink *s, int timeout_ms)
{
    if (!s->ops->drain) return 0;
    return s->ops->drain(s->self, timeout_ms);
}

void kf_sink_close(kf_sink *s)
{
    if (!s) return;
    if (s->ops->close) s->ops->close(s->self);
    config_free(&s->cfg);
    free(s);
}

const kf_sink_config *kf_sink_config_of(const kf_sink *s)
{
    return &s->cfg;
}

unsigned kf_sink_caps(const kf_sink *s)
{
    return s->ops->caps;
}

unsigned kf_sink_type_caps(kf_sink_type t)
{
    const kf_sink_ops *ops = kf_sink_ops_by_id(t);
    return ops ? ops->caps : 0;
}

kf_sink *kf_sink_open_dead_letter(const char *topic, const kf_sink_env *env, char *err,
                                  size_t errlen)
{
    kf_sink_config c = {.name = "on_failure", .type = KF_SINK_KAFKA, .topic = (char *)topic};
    return kf_sink_open(&c, env, err, errlen);
}

void *kf_sink_self(const kf_sink *s)
{
    return s->self;
}

const kf_sink_ops *kf_sink_ops_of(const kf_sink *s)
{
    return s->ops;
}
