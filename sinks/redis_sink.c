/*
 * The Redis sink: one hiredis connection per worker, commands pipelined per
 * batch. write appends a command to the connection's output buffer and
 * remembers its ack; flush sends the buffer and reads one reply per command.
 *
 * Commands (cfg->key is "key" below; the record key is binary-safe):
 *   RPUSH key value
 *   XADD  key * key <record key> value <value>   ("key" field left out for a null key)
 *   SET   <key><record key> value                (cfg->key is a prefix; may be empty)
 *   HSET  key <record key> value
 * A null value (tombstone) deletes for SET (DEL) and HSET (HDEL), like a
 * compacted topic would; RPUSH and XADD store an empty string. SET and HSET
 * need a record key: a null key is KF_SINK_FAIL.
 *
 * Acks: a reply is KF_SINK_OK; an error reply is KF_SINK_FAIL with its text
 * (WRONGTYPE...), except transient ones (LOADING, BUSY, OOM, READONLY...)
 * which are KF_SINK_RETRY. A connection error or timeout makes every pending
 * command of the worker KF_SINK_RETRY (whether Redis applied them is unknown;
 * at-least-once allows the redo) and drops the connection.
 *
 * Connection: worker_open tries to connect but a failure is not fatal. While
 * down, the worker tries to reconnect at most once per batch (the first write
 * after a flush); writes meanwhile are KF_SINK_RETRY at once. No call blocks
 * longer than about the connect timeout plus the command timeout (5 s, or
 * cfg->timeout_ms when set).
 *
 * Threads: the sink state is read-only after open; a worker state is used by
 * its worker thread only.
 */
#include "sinks/redis_url.h"
#include "sinks/sink.h"
#include "src/log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_MS 2000

typedef struct redis_sink {
    const kf_sink_config *cfg; /* the sink's own config copy; outlives this state */
    kf_redis_url url;
    int timeout_ms;
} redis_sink;

typedef struct pending {
    kf_ack_fn *ack;
    void *opaque;
} pending;

typedef struct redis_worker {
    redis_sink *rs;
    int id;
    redisContext *c;    /* NULL while disconnected */
    bool tried;         /* a connect attempt failed since the last flush */
    bool reconnect;     /* drop the connection after this batch */
    char down_why[384]; /* why c is NULL, for RETRY acks */
    pending *p;         /* acks of the commands awaiting a reply, in order */
    size_t n, cap;
} redis_worker;

static int redis_open(kf_sink *s, const kf_sink_config *cfg, const kf_sink_env *env, void **self,
                      char *err, size_t errlen)
{
    (void)s;
    if (cfg->command != KF_REDIS_SET && (!cfg->key || !cfg->key[0])) {
        snprintf(err, errlen, "the %s command needs a \"key\"",
                 cfg->command == KF_REDIS_RPUSH  ? "RPUSH"
                 : cfg->command == KF_REDIS_XADD ? "XADD"
                                                 : "HSET");
        return -1;
    }
    const char *url = cfg->url                ? cfg->url
                      : env && env->redis_url ? env->redis_url
                                              : "redis://127.0.0.1:6379/0";
    redis_sink *rs = calloc(1, sizeof *rs);
    if (!rs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (kf_redis_url_parse(url, &rs->url, err, errlen) != 0) {
        free(rs);
        return -1;
    }
    rs->cfg = cfg;
    rs->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
    *self = rs;
    return 0;
}

static void redis_close(void *self)
{
    redis_sink *rs = self;
    if (!rs) return;
    kf_redis_url_free(&rs->url);
    free(rs);
}

/* Connects if needed and allowed; false when the worker has no connection. */
static bool ensure_conn(redis_worker *w)
{
    if (w->c) return true;
    if (w->tried) return false;
    char err[320];
    int ct = w->rs->timeout_ms < CONNECT_TIMEOUT_MS ? w->rs->timeout_ms : CONNECT_TIMEOUT_MS;
    w->c = kf_redis_connect(&w->rs->url, ct, w->rs->timeout_ms, err, sizeof err);
    if (w->c) {
        kf_info("sink.redis", "sink %s, worker %d: connected to %s", w->rs->cfg->name, w->id,
                w->rs->url.display);
        return true;
    }
    w->tried = true;
    snprintf(w->down_why, sizeof w->down_why, "redis sink %s: %s", w->rs->cfg->name, err);
    kf_warn("sink.redis", "sink %s, worker %d: %s; will retry", w->rs->cfg->name, w->id, err);
    return false;
}

static void drop_conn(redis_worker *w, const char *why)
{
    if (!w->c) return;
    snprintf(w->down_why, sizeof w->down_why, "redis sink %s: %s", w->rs->cfg->name, why);
    redisFree(w->c);
    w->c = NULL;
}

static int redis_worker_open(void *self, int worker_id, void **ws, char *err, size_t errlen)
{
    redis_worker *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->rs = self;
    w->id = worker_id;
    ensure_conn(w);
    w->tried = false; /* the first write tries again */
    *ws = w;
    return 0;
}

/* Error replies worth retrying: the server is busy, loading, failing over,
 * out of memory, or our session lost its AUTH. */
static bool transient_error(const char *msg, bool *reconnect)
{
    static const char *retry[] = {"LOADING", "BUSY",       "TRYAGAIN",  "CLUSTERDOWN",
                                  "OOM",     "MASTERDOWN", "NOREPLICAS"};
    static const char *again[] = {"READONLY", "NOAUTH"}; /* also reconnect */
    for (size_t i = 0; i < sizeof retry / sizeof *retry; i++)
        if (strncmp(msg, retry[i], strlen(retry[i])) == 0) return true;
    for (size_t i = 0; i < sizeof again / sizeof *again; i++) {
        if (strncmp(msg, again[i], strlen(again[i])) == 0) {
            *reconnect = true;
            return true;
        }
    }
    return false;
}

static void redis_flush(void *self, void *ws)
{
    (void)self;
    redis_worker *w = ws;
    for (size_t i = 0; i < w->n; i++) {
        pending *p = &w->p[i];
        redisReply *r = NULL;
        if (!w->c || redisGetReply(w->c, (void **)&r) != REDIS_OK || !r) {
            if (w->c) {
                char why[256];
                if (strstr(w->c->errstr, "temporarily unavailable")) /* SO_RCVTIMEO */
                    snprintf(why, sizeof why, "no reply from %s within %d ms", w->rs->url.display,
                             w->rs->timeout_ms);
                else
                    snprintf(why, sizeof why, "connection to %s lost: %s", w->rs->url.display,
                             w->c->errstr[0] ? w->c->errstr : "no reply");
                kf_warn("sink.redis", "sink %s, worker %d: %s; %zu command(s) will be retried",
                        w->rs->cfg->name, w->id, why, w->n - i);
                drop_conn(w, why);
            }
            p->ack(p->opaque, KF_SINK_RETRY, w->down_why);
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            char why[512];
            snprintf(why, sizeof why, "redis sink %s: %s", w->rs->cfg->name, r->str);
            bool again = transient_error(r->str, &w->reconnect);
            p->ack(p->opaque, again ? KF_SINK_RETRY : KF_SINK_FAIL, why);
        } else {
            p->ack(p->opaque, KF_SINK_OK, NULL);
        }
        freeReplyObject(r);
    }
    w->n = 0;
    w->tried = false;
    if (w->reconnect) {
        w->reconnect = false;
        drop_conn(w, "reconnecting after an error reply");
    }
}

static void redis_worker_close(void *self, void *ws)
{
    redis_worker *w = ws;
    if (!w) return;
    if (w->n > 0) redis_flush(self, w); /* every write gets its ack */
    if (w->c) redisFree(w->c);
    free(w->p);
    free(w);
}

static void redis_write(void *self, void *ws, const kf_sink_msg *msg)
{
    redis_sink *rs = self;
    redis_worker *w = ws;
    const kf_sink_config *cfg = rs->cfg;
    const char *argv[7];
    size_t len[7];
    int argc = 0;
    char *joined = NULL;
#define ARG(p, n) (argv[argc] = (const char *)(p), len[argc++] = (n))

    if (!msg->key && (cfg->command == KF_REDIS_SET || cfg->command == KF_REDIS_HSET)) {
        char why[256];
        snprintf(why, sizeof why,
                 "redis sink %s: %s needs a record key, and this output has a null key", cfg->name,
                 cfg->command == KF_REDIS_SET ? "SET" : "HSET");
        msg->ack(msg->ack_opaque, KF_SINK_FAIL, why);
        return;
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        pending *p = realloc(w->p, cap * sizeof *p);
        if (!p) {
            msg->ack(msg->ack_opaque, KF_SINK_RETRY, "redis sink: out of memory");
            return;
        }
        w->p = p;
        w->cap = cap;
    }
    if (!ensure_conn(w)) {
        msg->ack(msg->ack_opaque, KF_SINK_RETRY, w->down_why);
        return;
    }
    const void *value = msg->value ? msg->value : "";
    switch (cfg->command) {
    case KF_REDIS_RPUSH:
        ARG("RPUSH", 5), ARG(cfg->key, strlen(cfg->key)), ARG(value, msg->value_len);
        break;
    case KF_REDIS_XADD:
        ARG("XADD", 4), ARG(cfg->key, strlen(cfg->key)), ARG("*", 1);
        if (msg->key) ARG("key", 3), ARG(msg->key, msg->key_len);
        ARG("value", 5), ARG(value, msg->value_len);
        break;
    case KF_REDIS_SET: {
        size_t plen = cfg->key ? strlen(cfg->key) : 0;
        joined = malloc(plen + msg->key_len + 1);
        if (!joined) {
            msg->ack(msg->ack_opaque, KF_SINK_RETRY, "redis sink: out of memory");
            return;
        }
        if (plen) memcpy(joined, cfg->key, plen);
        if (msg->key_len) memcpy(joined + plen, msg->key, msg->key_len);
        if (msg->value)
            ARG("SET", 3), ARG(joined, plen + msg->key_len), ARG(value, msg->value_len);
        else
            ARG("DEL", 3), ARG(joined, plen + msg->key_len);
        break;
    }
    case KF_REDIS_HSET:
        ARG(msg->value ? "HSET" : "HDEL", 4), ARG(cfg->key, strlen(cfg->key));
        ARG(msg->key, msg->key_len);
        if (msg->value) ARG(value, msg->value_len);
        break;
    }
#undef ARG
    int rc = redisAppendCommandArgv(w->c, argc, argv, len);
    free(joined);
    if (rc != REDIS_OK) {
        msg->ack(msg->ack_opaque, KF_SINK_RETRY, "redis sink: cannot buffer the command");
        return;
    }
    w->p[w->n].ack = msg->ack;
    w->p[w->n].opaque = msg->ack_opaque;
    w->n++;
}

const kf_sink_ops kf_sink_redis_ops = {
    .type = "redis",
    .open = redis_open,
    .worker_open = redis_worker_open,
    .worker_close = redis_worker_close,
    .write = redis_write,
    .flush = redis_flush,
    .close = redis_close,
};
