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
 * need a record key: a null key is KF_STATUS_FAIL.
 *
 * Acks: a reply is KF_STATUS_OK; an error reply is KF_STATUS_FAIL with its text
 * (WRONGTYPE...), except transient ones (LOADING, BUSY, OOM, READONLY...)
 * which are KF_STATUS_RETRY. A connection error or timeout makes every pending
 * command of the worker KF_STATUS_RETRY (whether Redis applied them is unknown;
 * at-least-once allows the redo) and drops the connection.
 *
 * Connection: worker_open tries to connect but a failure is not fatal. While
 * down, the worker tries to reconnect at most once per batch (the first write
 * after a flush); writes meanwhile are KF_STATUS_RETRY at once. No call blocks
 * longer than about the connect timeout plus the command timeout (5 s, or
 * cfg->timeout_ms when set).
 *
 * Exactly-once (env->exactly_once, eos/README.md), two
 * modes decided at open:
 *
 *   - Same Redis as the state (cfg->url NULL, or host, port, socket and db
 *     equal to env->redis_url's): write only buffers the command with its
 *     record's partition, offset, epoch and trim; flush sends them all in ONE
 *     fenced completion script (kf_eos_state_complete, through eos/marks.h) that,
 *     per record not yet done for this sink, applies its writes and adds its
 *     mark "<offset>/<sink>" in the same step. Effect and mark commit
 *     together, a stale epoch (a zombie) writes nothing and is acked
 *     KF_STATUS_FENCED, and a replayed record that is done already is skipped
 *     and acked KF_STATUS_OK. An ambiguous reply is KF_STATUS_RETRY for the whole
 *     flush: the retry re-runs the script, which skips what was applied. This
 *     mode does not use the sink's own connection: the script runs on the
 *     worker's state connection, with eos/state.c's timeouts.
 *
 *   - Another Redis (an external sink): at-least-once with marks. The writes
 *     are pipelined to the sink's Redis as in at-least-once mode; then ONE
 *     completion with marks only, on the state Redis, marks the records whose
 *     writes all succeeded, and their acks come from that (FENCED...). A
 *     crash, a lost reply or a fenced zombie between the write and the mark
 *     redoes the write on replay: RPUSH and XADD may then hold an entry twice
 *     (SET, HSET, DEL and HDEL are idempotent and end with the same value).
 *
 * Threads: the sink state is read-only after open; a worker state is used by
 * its worker thread only.
 */
#include "eos/marks.h"
#include "common/redis.h"
#include "sinks/sink.h"
#include "common/log.h"
#include "config/validate.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONNECT_TIMEOUT_MS 2000

#define DEFAULT_URL "redis://127.0.0.1:6379/0"
#define MAX_ARGS    7

typedef enum eos_mode {
    EOS_OFF = 0,
    EOS_LOCAL,    /* same Redis as the state: writes ride on the completion */
    EOS_EXTERNAL, /* another Redis: write, then mark */
} eos_mode;

typedef struct redis_sink {
    const kf_sink_config *cfg; /* the sink's own config copy; outlives this state */
    kf_redis_url url;
    int timeout_ms;
    eos_mode eos;
    char *state_url, *prefix, *group; /* copies of the env's, for exactly-once */
    kf_metrics *metrics;              /* the env's: where the marks time their round trips */
} redis_sink;

/* One written command awaiting its reply (or, in EOS_LOCAL, its script). */
typedef struct pending {
    kf_ack_fn *ack;
    void *opaque;
    /* Exactly-once only. */
    bool acked;  /* refused (and acked) by write: keeps its record unmarked */
    char *topic; /* owned copy */
    int32_t partition;
    int64_t offset, epoch, trim;
    bool fresh;       /* kf_sink_msg.eos_fresh */
    kf_status status; /* EOS_EXTERNAL: the reply's; `acked`: the refusal's */
    char *why;        /* EOS_EXTERNAL: owned, for a status that is not OK */
    char *data;       /* EOS_LOCAL: owns the bytes argv points into */
    const char *argv[MAX_ARGS];
    size_t len[MAX_ARGS];
    kf_eos_write write;
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
    kf_eos_marks *marks; /* exactly-once: the state connection */
    kf_eos_out *outs;    /* exactly-once: scratch for a flush, cap entries */
} redis_worker;

/* Same server and database: host (case-insensitive), port, socket, db.
 * Credentials do not make another server. */
static bool same_server(const kf_redis_url *a, const kf_redis_url *b)
{
    if (!a->host != !b->host || !a->path != !b->path) return false;
    if (a->host && (strcasecmp(a->host, b->host) != 0 || a->port != b->port)) return false;
    if (a->path && strcmp(a->path, b->path) != 0) return false;
    return a->db == b->db;
}

/* Decides the exactly-once mode and keeps what the workers need. */
static int eos_open(redis_sink *rs, const kf_sink_config *cfg, const kf_sink_env *env, char *err,
                    size_t errlen)
{
    const char *state = env->redis_url ? env->redis_url : DEFAULT_URL;
    rs->eos = EOS_LOCAL;
    if (cfg->url) {
        kf_redis_url su;
        if (kf_redis_url_parse(state, &su, err, errlen) != 0) return -1;
        if (!same_server(&su, &rs->url)) rs->eos = EOS_EXTERNAL;
        kf_redis_url_free(&su);
    }
    rs->state_url = strdup(state);
    rs->prefix = strdup(env->redis_key_prefix ? env->redis_key_prefix : "kfleet");
    rs->group = strdup(env->group_id ? env->group_id : "");
    rs->metrics = env->metrics;
    if (!rs->state_url || !rs->prefix || !rs->group) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (rs->eos == EOS_EXTERNAL)
        kf_info("sink.redis",
                "sink %s: %s is not the state redis; exactly-once falls back to at-least-once "
                "with marks for this sink (a crash between write and mark redoes the write)",
                cfg->name, rs->url.display);
    return 0;
}

static void redis_close(void *self)
{
    redis_sink *rs = self;
    if (!rs) return;
    kf_redis_url_free(&rs->url);
    free(rs->state_url);
    free(rs->prefix);
    free(rs->group);
    free(rs);
}

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
    const char *url = cfg->url ? cfg->url : env && env->redis_url ? env->redis_url : DEFAULT_URL;
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
    if (env && env->exactly_once && eos_open(rs, cfg, env, err, errlen) != 0) {
        redis_close(rs);
        return -1;
    }
    *self = rs;
    return 0;
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
    redis_sink *rs = self;
    redis_worker *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->rs = rs;
    w->id = worker_id;
    if (rs->eos != EOS_OFF) {
        w->marks =
            kf_eos_marks_new(rs->state_url, rs->prefix, rs->group, rs->cfg->name, err, errlen);
        if (!w->marks) {
            free(w);
            return -1;
        }
        kf_eos_marks_set_metrics(w->marks, rs->metrics);
    }
    if (rs->eos != EOS_LOCAL) { /* EOS_LOCAL writes through the state connection */
        ensure_conn(w);
        w->tried = false; /* the first write tries again */
    }
    *ws = w;
    return 0;
}

/* Reads the reply to pending command i of the batch: its status and, when
 * not OK, a sentence in why. A connection error or timeout drops the
 * connection, which makes every later command of the batch RETRY. */
static kf_status read_reply(redis_worker *w, size_t i, char *why, size_t whylen)
{
    redisReply *r = NULL;
    if (!w->c || redisGetReply(w->c, (void **)&r) != REDIS_OK || !r) {
        if (w->c) {
            char lost[256];
            if (kf_redis_timed_out(w->c))
                snprintf(lost, sizeof lost, "no reply from %s within %d ms", w->rs->url.display,
                         w->rs->timeout_ms);
            else
                snprintf(lost, sizeof lost, "connection to %s lost: %s", w->rs->url.display,
                         w->c->errstr[0] ? w->c->errstr : "no reply");
            kf_warn("sink.redis", "sink %s, worker %d: %s; %zu command(s) will be retried",
                    w->rs->cfg->name, w->id, lost, w->n - i);
            drop_conn(w, lost);
        }
        snprintf(why, whylen, "%s", w->down_why);
        return KF_STATUS_RETRY;
    }
    kf_status st = KF_STATUS_OK;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, whylen, "redis sink %s: %s", w->rs->cfg->name, r->str);
        st = kf_redis_classify(r->str, &w->reconnect);
    }
    freeReplyObject(r);
    return st;
}

static void pending_free(pending *p)
{
    free(p->topic);
    free(p->why);
    free(p->data);
}

/* Exactly-once: one completion for the batch (the writes themselves in
 * EOS_LOCAL, marks only in EOS_EXTERNAL), then every ack. */
static void complete_batch(redis_worker *w)
{
    redis_sink *rs = w->rs;
    for (size_t i = 0; i < w->n; i++) {
        pending *p = &w->p[i];
        w->outs[i] = (kf_eos_out){
            .topic = p->topic,
            .partition = p->partition,
            .offset = p->offset,
            .epoch = p->epoch,
            .trim = p->trim,
            .fresh = p->fresh,
            .write = rs->eos == EOS_LOCAL && !p->acked ? &p->write : NULL,
            .status = rs->eos == EOS_LOCAL && !p->acked ? KF_STATUS_OK : p->status,
            .why = p->why,
        };
    }
    kf_eos_marks_complete(w->marks, w->outs, w->n);
    for (size_t i = 0; i < w->n; i++) {
        pending *p = &w->p[i];
        kf_eos_out *o = &w->outs[i];
        if (!p->acked) p->ack(p->opaque, o->status, o->status == KF_STATUS_OK ? NULL : o->why);
        pending_free(p);
    }
}

static void redis_flush(void *self, void *ws)
{
    (void)self;
    redis_worker *w = ws;
    if (w->rs->eos != EOS_LOCAL) {
        for (size_t i = 0; i < w->n; i++) {
            pending *p = &w->p[i];
            if (p->acked) continue; /* not in the pipeline */
            char why[512];
            kf_status st = read_reply(w, i, why, sizeof why);
            if (w->rs->eos == EOS_OFF) {
                p->ack(p->opaque, st, st == KF_STATUS_OK ? NULL : why);
            } else {
                p->status = st;
                if (st != KF_STATUS_OK) p->why = strdup(why); /* NULL: the ack says less */
            }
        }
    }
    if (w->rs->eos != EOS_OFF) complete_batch(w);
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
    kf_eos_marks_destroy(w->marks);
    free(w->outs);
    free(w->p);
    free(w);
}

/* Room for one more pending command (and its completion slot). */
static bool reserve(redis_worker *w)
{
    if (w->n < w->cap) return true;
    size_t cap = w->cap ? w->cap * 2 : 64;
    pending *p = realloc(w->p, cap * sizeof *p);
    if (!p) return false;
    w->p = p;
    /* A kept command's kf_eos_write points at its own pending entry's argv
     * and len arrays, which just moved: point them at the new place. */
    for (size_t i = 0; i < w->n; i++) {
        if (!p[i].write.argv) continue;
        p[i].write.argv = p[i].argv;
        p[i].write.argvlen = p[i].len;
    }
    if (w->rs->eos != EOS_OFF) {
        kf_eos_out *o = realloc(w->outs, cap * sizeof *o);
        if (!o) return false; /* w->p grew; cap stays: the next call retries */
        w->outs = o;
    }
    w->cap = cap;
    return true;
}

/* EOS_LOCAL: keeps a copy of the command for the completion script. */
static bool keep_command(pending *p, int argc, const char *const *argv, const size_t *len)
{
    size_t total = 0;
    for (int i = 0; i < argc; i++)
        total += len[i];
    if (!(p->data = malloc(total ? total : 1))) return false;
    size_t at = 0;
    for (int i = 0; i < argc; i++) {
        if (len[i]) memcpy(p->data + at, argv[i], len[i]);
        p->argv[i] = p->data + at;
        p->len[i] = len[i];
        at += len[i];
    }
    p->write = (kf_eos_write){.argc = argc, .argv = p->argv, .argvlen = p->len};
    return true;
}

/* Acks an output write cannot take. In exactly-once mode the refusal is also
 * kept in the batch, so that the record's other outputs to this sink in the
 * same flush are not marked: a mark makes a replay skip the sink, which would
 * lose this output. Best effort when out of memory. */
static void refuse(redis_worker *w, const kf_sink_msg *msg, kf_status st, const char *why)
{
    msg->ack(msg->ack_opaque, st, why);
    if (w->rs->eos == EOS_OFF || !reserve(w)) return;
    pending *p = &w->p[w->n];
    *p = (pending){.acked = true,
                   .status = st,
                   .partition = msg->src_partition,
                   .offset = msg->src_offset,
                   .epoch = msg->eos_epoch,
                   .trim = msg->eos_trim};
    if ((p->topic = strdup(msg->src_topic ? msg->src_topic : ""))) w->n++;
}

/* Whether the worker can take msg now; acks it when not. */
static bool admit(redis_sink *rs, redis_worker *w, const kf_sink_msg *msg)
{
    const kf_sink_config *cfg = rs->cfg;
    if (!msg->key && (cfg->command == KF_REDIS_SET || cfg->command == KF_REDIS_HSET)) {
        char why[256];
        snprintf(why, sizeof why,
                 "redis sink %s: %s needs a record key, and this output has a null key", cfg->name,
                 cfg->command == KF_REDIS_SET ? "SET" : "HSET");
        refuse(w, msg, KF_STATUS_FAIL, why);
        return false;
    }
    if (!reserve(w)) {
        msg->ack(msg->ack_opaque, KF_STATUS_RETRY, "redis sink: out of memory");
        return false;
    }
    if (rs->eos != EOS_LOCAL && !ensure_conn(w)) {
        refuse(w, msg, KF_STATUS_RETRY, w->down_why);
        return false;
    }
    return true;
}

/* One command's arguments; `joined` owns SET's key when there is one. */
typedef struct command {
    const char *argv[MAX_ARGS];
    size_t len[MAX_ARGS];
    int argc;
    char *joined;
} command;

static void arg(command *c, const void *p, size_t n)
{
    c->argv[c->argc] = p;
    c->len[c->argc++] = n;
}

/* The command that writes msg, as cfg->command says (see the top of the
 * file); false when out of memory. */
static bool build_command(const kf_sink_config *cfg, const kf_sink_msg *msg, command *c)
{
    const void *value = msg->value ? msg->value : "";
    switch (cfg->command) {
    case KF_REDIS_RPUSH:
        arg(c, "RPUSH", 5), arg(c, cfg->key, strlen(cfg->key)), arg(c, value, msg->value_len);
        break;
    case KF_REDIS_XADD:
        arg(c, "XADD", 4), arg(c, cfg->key, strlen(cfg->key)), arg(c, "*", 1);
        if (msg->key) arg(c, "key", 3), arg(c, msg->key, msg->key_len);
        arg(c, "value", 5), arg(c, value, msg->value_len);
        break;
    case KF_REDIS_SET: {
        size_t plen = cfg->key ? strlen(cfg->key) : 0;
        if (!(c->joined = malloc(plen + msg->key_len + 1))) return false;
        if (plen) memcpy(c->joined, cfg->key, plen);
        if (msg->key_len) memcpy(c->joined + plen, msg->key, msg->key_len);
        if (msg->value)
            arg(c, "SET", 3), arg(c, c->joined, plen + msg->key_len), arg(c, value, msg->value_len);
        else
            arg(c, "DEL", 3), arg(c, c->joined, plen + msg->key_len);
        break;
    }
    case KF_REDIS_HSET:
        arg(c, msg->value ? "HSET" : "HDEL", 4), arg(c, cfg->key, strlen(cfg->key));
        arg(c, msg->key, msg->key_len);
        if (msg->value) arg(c, value, msg->value_len);
        break;
    }
    return true;
}

/* Takes the worker's next pending slot for msg (its ack and, exactly-once,
 * its record) and buffers the command: on the connection, or kept for the
 * completion script (EOS_LOCAL). NULL, or why it could not; the slot is
 * free again then. */
static const char *queue_command(redis_sink *rs, redis_worker *w, const kf_sink_msg *msg,
                                 command *c)
{
    pending *p = &w->p[w->n];
    *p = (pending){.ack = msg->ack, .opaque = msg->ack_opaque};
    const char *fail = NULL;
    if (rs->eos != EOS_OFF) {
        p->topic = strdup(msg->src_topic ? msg->src_topic : "");
        p->partition = msg->src_partition;
        p->offset = msg->src_offset;
        p->epoch = msg->eos_epoch;
        p->trim = msg->eos_trim;
        p->fresh = msg->eos_fresh;
        if (!p->topic) fail = "redis sink: out of memory";
    }
    if (!fail && rs->eos == EOS_LOCAL) {
        if (!keep_command(p, c->argc, c->argv, c->len)) fail = "redis sink: out of memory";
    } else if (!fail && redisAppendCommandArgv(w->c, c->argc, c->argv, c->len) != REDIS_OK) {
        fail = "redis sink: cannot buffer the command";
    }
    if (fail) pending_free(p);
    return fail;
}

static void redis_write(void *self, void *ws, const kf_sink_msg *msg)
{
    redis_sink *rs = self;
    redis_worker *w = ws;
    if (!admit(rs, w, msg)) return;
    command c = {.argc = 0};
    const char *fail = build_command(rs->cfg, msg, &c) ? queue_command(rs, w, msg, &c)
                                                       : "redis sink: out of memory";
    free(c.joined);
    if (fail)
        refuse(w, msg, KF_STATUS_RETRY, fail);
    else
        w->n++;
}

/* Indexes match kf_redis_command. */
static const char *const COMMANDS[] = {"RPUSH", "XADD", "SET", "HSET", NULL};

static const kf_cfg_key CONFIG_KEYS[] = {
    {.name = "key",
     .kind = KF_CFG_STRING,
     .flags = KF_CFG_REQUIRED,
     .at = offsetof(kf_sink_config, key),
     .doc = "the list, stream or hash written to; the key prefix for `SET`"},
    {.name = "command",
     .kind = KF_CFG_ENUM,
     .at = offsetof(kf_sink_config, command),
     .names = COMMANDS,
     .def = KF_REDIS_RPUSH,
     .doc = "`RPUSH`, `XADD`, `SET` (key = `key` + record key) or `HSET` (field = record key)"},
    {.name = "url",
     .kind = KF_CFG_STRING,
     .at = offsetof(kf_sink_config, url),
     .valid = kf_cfg_valid_redis_url,
     .expected = KF_CFG_REDIS_URL_EXPECTED,
     .default_doc = "`redis.url`",
     .range_doc = "`redis://[:password@]host:port/db`",
     .doc = "another Redis; exactly-once only on the Redis of the state (`redis.url`)"},
};

static const kf_cfg_table CONFIG = {
    .doc = "writes to Redis; with `exactly_once` each write and its mark commit in one script "
           "on the state Redis",
    .keys = CONFIG_KEYS,
    .count = KF_CFG_COUNT(CONFIG_KEYS),
};

const kf_sink_ops kf_sink_redis_ops = {
    .type = "redis",
    .caps = KF_SINK_CAP_MARKS,
    .config = &CONFIG,
    .open = redis_open,
    .worker_open = redis_worker_open,
    .worker_close = redis_worker_close,
    .write = redis_write,
    .flush = redis_flush,
    .close = redis_close,
};
