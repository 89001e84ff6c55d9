/*
 * See state.h. The Lua scripts are the .lua files of eos/lua/, each opening
 * with its KEYS/ARGV contract; the build embeds each as a KF_EOS_LUA_<NAME>
 * macro of the generated eos/lua_scripts.h (cmake/embed_lua.cmake).
 *
 * Redis Cluster: every key of a partition's state shares the hash tag T, so
 * the state scripts fit one slot. complete() also passes the key of each sink
 * write in KEYS (argv[1] of the command), but those keys are the sink's own
 * and would have to hash to the partition's slot for Cluster to accept them:
 * kfleet supports a single Redis (or a primary with replicas), not Cluster,
 * for exactly-once Redis sinks.
 *
 * hiredis writes with write(2): the process must ignore SIGPIPE (the daemon
 * does) so that a dropped server is an error here, not a death.
 */
#include "eos/state.h"

#include "common/clock.h"
#include "common/redis.h"
#include "eos/lua_scripts.h"
#include "eos/state_priv.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONNECT_TIMEOUT_MS 2000
#define CMD_TIMEOUT_MS     5000
/* Lua 5.1's unpack() stops near 8000 values; a sink write is a handful. */
#define MAX_WRITE_ARGS 4096

/* Offsets of a uniform part stay below 2^53: Lua compares them as doubles. */
#define MAX_EXACT_OFFSET (INT64_C(1) << 53)

enum {
    S_ASSIGN = KF_EOS_SCRIPT_ASSIGN,
    S_COMPLETE,
    S_UNIFORM,
    S_TRIM,
    S_CLAIM,
    S_PARK = KF_EOS_SCRIPT_PARK,
    S_PARK_TAKE = KF_EOS_SCRIPT_PARK_TAKE,
    S_COUNT = KF_EOS_SCRIPT_COUNT
};

static const char *const SCRIPT_SRC[S_COUNT] = {
    [S_ASSIGN] = KF_EOS_LUA_ASSIGN,
    [S_COMPLETE] = KF_EOS_LUA_COMPLETE,
    [S_UNIFORM] = KF_EOS_LUA_COMPLETE_UNIFORM,
    [S_TRIM] = KF_EOS_LUA_TRIM,
    [S_CLAIM] = KF_EOS_LUA_CLAIM,
    [S_PARK] = KF_EOS_LUA_PARK,
    [S_PARK_TAKE] = KF_EOS_LUA_PARK_TAKE,
};
static const char *const SCRIPT_NAME[S_COUNT] = {"assign", "complete", "uniform complete", "trim",
                                                 "claim",  "park",     "park take"};
/* The label each script's round trips are timed under (both complete
 * scripts are one step of the protocol, and so are the two park scripts). */
static const kf_redis_call SCRIPT_CALL[S_COUNT] = {
    [S_ASSIGN] = KF_REDIS_CALL_ASSIGN,    [S_COMPLETE] = KF_REDIS_CALL_COMPLETE,
    [S_UNIFORM] = KF_REDIS_CALL_COMPLETE, [S_TRIM] = KF_REDIS_CALL_TRIM,
    [S_CLAIM] = KF_REDIS_CALL_CLAIM,      [S_PARK] = KF_REDIS_CALL_PARK,
    [S_PARK_TAKE] = KF_REDIS_CALL_PARK};

struct kf_eos_state {
    kf_redis_url url;
    char *prefix;
    char *group;
    redisContext *rc;      /* NULL until connected, and after any I/O error */
    char sha[S_COUNT][41]; /* the scripts' SHA1s on the current connection */
    bool fast_path;        /* complete() may use the uniform script (tests turn it off) */
    kf_metrics *metrics;   /* round trips are timed here; NULL: not timed */
};

/* ------------------------------------------------------------ arguments */

typedef kf_eos_args args;

static void args_free(args *a)
{
    free(a->argv);
    free(a->len);
    free(a->aoff);
    free(a->arena);
    memset(a, 0, sizeof *a);
}

/* Makes room for `more` arguments after the current ones. */
static bool args_reserve(args *a, size_t more)
{
    if (a->oom) return false;
    if (a->cap - a->n >= more) return true;
    size_t cap = a->cap ? a->cap * 2 : 64;
    while (cap - a->n < more)
        cap *= 2;
    const char **argv = realloc(a->argv, cap * sizeof *argv);
    if (argv) a->argv = argv;
    size_t *len = realloc(a->len, cap * sizeof *len);
    if (len) a->len = len;
    size_t *aoff = realloc(a->aoff, cap * sizeof *aoff);
    if (aoff) a->aoff = aoff;
    if (!argv || !len || !aoff) {
        a->oom = true;
        return false;
    }
    a->cap = cap;
    return true;
}

static bool args_grow(args *a)
{
    return args_reserve(a, 1);
}

/* Appends the caller's bytes (which must outlive the call). */
static void arg_ext(args *a, const char *p, size_t n)
{
    if (!args_grow(a)) return;
    a->argv[a->n] = p;
    a->len[a->n] = n;
    a->aoff[a->n] = SIZE_MAX;
    a->n++;
}

static bool arena_reserve(args *a, size_t more)
{
    if (a->oom) return false;
    if (a->alen + more <= a->acap) return true;
    size_t cap = a->acap ? a->acap : 1024;
    while (cap < a->alen + more)
        cap *= 2;
    char *p = realloc(a->arena, cap);
    if (!p) {
        a->oom = true;
        return false;
    }
    a->arena = p;
    a->acap = cap;
    return true;
}

/* Appends bytes to the argument being built in the arena (see arg_end). */
static void arena_put(args *a, const void *p, size_t n)
{
    if (!arena_reserve(a, n)) return;
    memcpy(a->arena + a->alen, p, n);
    a->alen += n;
}

static void arena_fmt(args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arena_fmt(args *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !arena_reserve(a, (size_t)n + 1)) {
        a->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(a->arena + a->alen, (size_t)n + 1, fmt, ap);
    va_end(ap);
    a->alen += (size_t)n; /* the NUL is not part of the argument */
}

/* Appends the arena bytes [start, start + n) as an argument: several
 * arguments may share bytes (an offset is the prefix of its mark). */
static void arg_at(args *a, size_t start, size_t n)
{
    if (!args_grow(a)) return;
    a->argv[a->n] = NULL;
    a->len[a->n] = n;
    a->aoff[a->n] = start;
    a->n++;
}

/* Closes the arena argument that started at `start`. */
static void arg_end(args *a, size_t start)
{
    arg_at(a, start, a->alen - start);
}

/* Writes v in canonical decimal (as PRId64) into out[0..20); returns the
 * length. No snprintf: complete() formats two numbers per record. */
static size_t fmt_i64(char *out, int64_t v)
{
    char tmp[20];
    size_t n = 0, len = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    return len;
}

static void arg_i64(args *a, int64_t v)
{
    char d[21];
    size_t start = a->alen;
    arena_put(a, d, fmt_i64(d, v));
    arg_end(a, start);
}

/* Appends the key "{prefix:group:topic:partition}:<suffix>". */
static void arg_key(args *a, const kf_eos_state *c, const char *topic, int32_t partition,
                    const char *suffix)
{
    size_t start = a->alen;
    arena_fmt(a, "{%s:%s:%s:%" PRId32 "}:%s", c->prefix, c->group, topic, partition, suffix);
    arg_end(a, start);
}

/* Resolves arena offsets into pointers; no argument may be added after. */
static void args_done(args *a)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->aoff[i] != SIZE_MAX) a->argv[i] = a->arena + a->aoff[i];
}

/* ----------------------------------------------------------- connection */

static void drop(kf_eos_state *c)
{
    redisFree(c->rc);
    c->rc = NULL;
}

/* The sentence for a failed round trip; the connection is then dropped. */
static int io_error(kf_eos_state *c, const char *what, char *err, size_t errlen)
{
    const char *why = c->rc->errstr;
    if (kf_redis_timed_out(c->rc)) why = "no reply within the command timeout";
    snprintf(err, errlen,
             "redis %s: %s: %s (the outcome is unknown; reconnecting on the next call)",
             c->url.display, what, why[0] ? why : "connection lost");
    drop(c);
    return KF_STATUS_RETRY;
}

/* The result of an error reply to `what`; drops the connection when a new
 * one may fix it. */
static int reply_error(kf_eos_state *c, const char *what, const char *msg, char *err, size_t errlen)
{
    bool reconnect = false;
    kf_status st = kf_redis_classify(msg, &reconnect);
    snprintf(err, errlen, "redis %s: %s: %s", c->url.display, what, msg);
    if (reconnect) drop(c);
    return st;
}

/* Sends SCRIPT LOAD for the scripts in [from, to) in one round trip. */
static int load_scripts(kf_eos_state *c, int from, int to, char *err, size_t errlen)
{
    for (int s = from; s < to; s++) {
        const char *argv[3] = {"SCRIPT", "LOAD", SCRIPT_SRC[s]};
        size_t len[3] = {6, 4, strlen(SCRIPT_SRC[s])};
        if (redisAppendCommandArgv(c->rc, 3, argv, len) != REDIS_OK)
            return io_error(c, "SCRIPT LOAD", err, errlen);
    }
    int rc = KF_STATUS_OK;
    for (int s = from; s < to; s++) {
        redisReply *r = NULL;
        if (redisGetReply(c->rc, (void **)&r) != REDIS_OK || !r)
            return io_error(c, "SCRIPT LOAD", err, errlen);
        if (rc == KF_STATUS_OK) {
            char what[64];
            snprintf(what, sizeof what, "SCRIPT LOAD of the %s script", SCRIPT_NAME[s]);
            if (r->type == REDIS_REPLY_ERROR) {
                rc = reply_error(c, what, r->str, err, errlen);
            } else if (r->type != REDIS_REPLY_STRING || r->len != 40) {
                snprintf(err, errlen, "redis %s: %s: unexpected reply type %d", c->url.display,
                         what, r->type);
                rc = KF_STATUS_FAIL;
            } else {
                memcpy(c->sha[s], r->str, 41);
            }
        }
        freeReplyObject(r);
        if (!c->rc) return rc; /* reply_error dropped it; no reply left to read */
    }
    return rc;
}

/* Connects and loads every script (one pipelined round trip after the
 * handshake). */
static int ensure(kf_eos_state *c, char *err, size_t errlen)
{
    if (c->rc) return KF_STATUS_OK;
    c->rc = kf_redis_connect(&c->url, CONNECT_TIMEOUT_MS, CMD_TIMEOUT_MS, err, errlen);
    if (!c->rc) return KF_STATUS_RETRY;
    int rc = load_scripts(c, 0, S_COUNT, err, errlen);
    if (rc != KF_STATUS_OK) drop(c); /* next call starts over, scripts included */
    return rc;
}

/*
 * EVALSHA of `script` with keys then argv; *out is the reply (not an error
 * reply) on KF_STATUS_OK. A NOSCRIPT reply (SCRIPT FLUSH, or a proxy that
 * routes to a restarted server) reloads the script and retries once.
 */
static int eval(kf_eos_state *c, int script, args *keys, args *av, redisReply **out, char *err,
                size_t errlen)
{
    *out = NULL;
    if (keys->oom || av->oom) {
        snprintf(err, errlen, "%s script: out of memory building the call", SCRIPT_NAME[script]);
        return KF_STATUS_FAIL;
    }
    size_t n = 3 + keys->n + av->n;
    if (n > INT32_MAX) {
        snprintf(err, errlen, "%s script: too many arguments", SCRIPT_NAME[script]);
        return KF_STATUS_FAIL;
    }
    int rc = ensure(c, err, errlen);
    if (rc != KF_STATUS_OK) return rc;

    const char **argv = malloc(n * sizeof *argv);
    size_t *len = malloc(n * sizeof *len);
    if (!argv || !len) {
        free(argv);
        free(len);
        snprintf(err, errlen, "%s script: out of memory building the call", SCRIPT_NAME[script]);
        return KF_STATUS_FAIL;
    }
    args_done(keys);
    args_done(av);
    char nkeys[24];
    snprintf(nkeys, sizeof nkeys, "%zu", keys->n);
    argv[0] = "EVALSHA";
    len[0] = 7;
    argv[1] = c->sha[script]; /* updated in place by a reload */
    len[1] = 40;
    argv[2] = nkeys;
    len[2] = strlen(nkeys);
    if (keys->n) memcpy(argv + 3, keys->argv, keys->n * sizeof *argv);
    if (keys->n) memcpy(len + 3, keys->len, keys->n * sizeof *len);
    if (av->n) memcpy(argv + 3 + keys->n, av->argv, av->n * sizeof *argv);
    if (av->n) memcpy(len + 3 + keys->n, av->len, av->n * sizeof *len);

    char what[64];
    snprintf(what, sizeof what, "the %s script", SCRIPT_NAME[script]);
    for (int attempt = 0;; attempt++) {
        int64_t t0 = c->metrics ? kf_now_ns() : 0;
        redisReply *r = redisCommandArgv(c->rc, (int)n, argv, len);
        if (c->metrics)
            KF_METRIC_TIME(c->metrics, redis_calls[SCRIPT_CALL[script]], kf_now_ns() - t0);
        if (!r) {
            rc = io_error(c, what, err, errlen);
            break;
        }
        if (r->type == REDIS_REPLY_ERROR && attempt == 0 && strncmp(r->str, "NOSCRIPT", 8) == 0) {
            freeReplyObject(r);
            rc = load_scripts(c, script, script + 1, err, errlen);
            if (rc != KF_STATUS_OK) break;
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            rc = reply_error(c, what, r->str, err, errlen);
            freeReplyObject(r);
            break;
        }
        *out = r;
        rc = KF_STATUS_OK;
        break;
    }
    free(argv);
    free(len);
    return rc;
}

static int bad_reply(kf_eos_state *c, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "redis %s: the %s script returned an unexpected reply", c->url.display,
             what);
    return KF_STATUS_FAIL;
}

/* ------------------------------------------------------------------ API */

kf_eos_state *kf_eos_state_new(const char *url, const char *prefix, const char *group, char *err,
                               size_t errlen)
{
    kf_eos_state *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (kf_redis_url_parse(url, &c->url, err, errlen) != 0) {
        free(c);
        return NULL;
    }
    c->fast_path = true;
    c->prefix = strdup(prefix ? prefix : "kfleet");
    c->group = strdup(group ? group : "");
    if (!c->prefix || !c->group) {
        snprintf(err, errlen, "out of memory");
        kf_eos_state_destroy(c);
        return NULL;
    }
    return c;
}

void kf_eos_state_destroy(kf_eos_state *c)
{
    if (!c) return;
    redisFree(c->rc);
    kf_redis_url_free(&c->url);
    free(c->prefix);
    free(c->group);
    free(c);
}

void kf_eos_state_set_metrics(kf_eos_state *c, kf_metrics *metrics)
{
    c->metrics = metrics;
}

void kf_eos_state_set_fast_path(kf_eos_state *c, int on)
{
    c->fast_path = on != 0;
}

void kf_eos_state_tag(const kf_eos_state *c, const char *topic, int32_t partition, char *out,
                      size_t outlen)
{
    if (outlen == 0) return;
    snprintf(out, outlen, "{%s:%s:%s:%" PRId32 "}", c->prefix, c->group, topic, partition);
}

/* The three state keys of a partition, in the scripts' order. */
static void arg_state_keys(args *k, const kf_eos_state *c, const char *topic, int32_t partition)
{
    arg_key(k, c, topic, partition, "epoch");
    arg_key(k, c, topic, partition, "runs");
    arg_key(k, c, topic, partition, "base");
}

static bool reply_i64(const redisReply *r, int64_t *v)
{
    if (r->type == REDIS_REPLY_INTEGER) {
        *v = r->integer;
        return true;
    }
    if (r->type != REDIS_REPLY_STRING || r->len == 0) return false;
    char *end;
    errno = 0;
    long long x = strtoll(r->str, &end, 10);
    if (errno || end != r->str + r->len) return false;
    *v = x;
    return true;
}

void kf_eos_assigned_free(kf_eos_assigned *a)
{
    if (!a) return;
    free(a->mem);
    *a = (kf_eos_assigned){.base = -1};
}

/* Parses the decimal in s[0..n) up to `stop` into *v; returns the byte after
 * `stop`, NULL when malformed. */
static const char *parse_i64_to(const char *s, const char *end, char stop, int64_t *v)
{
    const char *at = memchr(s, stop, (size_t)(end - s));
    if (!at || at == s) return NULL;
    char num[24];
    size_t n = (size_t)(at - s);
    if (n >= sizeof num) return NULL;
    memcpy(num, s, n);
    num[n] = '\0';
    char *e;
    errno = 0;
    long long x = strtoll(num, &e, 10);
    if (errno || e != num + n) return NULL;
    *v = x;
    return at + 1;
}

/* Fills out->runs from the members "<from>/<to>/<sink>" (one allocation). */
static int parse_runs(kf_eos_assigned *out, const redisReply *m)
{
    size_t bytes = m->elements * sizeof(kf_eos_run);
    for (size_t i = 0; i < m->elements; i++) {
        if (m->element[i]->type != REDIS_REPLY_STRING) return -1;
        bytes += m->element[i]->len + 1;
    }
    out->mem = malloc(bytes ? bytes : 1);
    if (!out->mem) return -1;
    out->runs = out->mem;
    char *s = (char *)(out->runs + m->elements);
    for (size_t i = 0; i < m->elements; i++) {
        const redisReply *e = m->element[i];
        const char *end = e->str + e->len;
        kf_eos_run run;
        const char *p = parse_i64_to(e->str, end, '/', &run.from);
        if (p) p = parse_i64_to(p, end, '/', &run.to);
        if (!p || p == end || run.to < run.from) return -1;
        size_t n = (size_t)(end - p);
        memcpy(s, p, n);
        s[n] = '\0';
        run.sink = s;
        out->runs[i] = run;
        s += n + 1;
        out->nruns++;
    }
    return 0;
}

int kf_eos_state_assign(kf_eos_state *c, const char *topic, int32_t partition, kf_eos_assigned *out,
                        char *err, size_t errlen)
{
    return kf_eos_state_assign_owned(c, topic, partition, NULL, out, err, errlen);
}

int kf_eos_state_assign_owned(kf_eos_state *c, const char *topic, int32_t partition,
                              const char *owner, kf_eos_assigned *out, char *err, size_t errlen)
{
    *out = (kf_eos_assigned){.base = -1};
    if (errlen) err[0] = '\0';
    args k = {0}, a = {0};
    arg_state_keys(&k, c, topic, partition);
    arg_key(&k, c, topic, partition, "owner");
    arg_key(&k, c, topic, partition, "done");
    arg_ext(&a, owner ? owner : "", owner ? strlen(owner) : 0);
    redisReply *r;
    int rc = eval(c, S_ASSIGN, &k, &a, &r, err, errlen);
    args_free(&k);
    args_free(&a);
    if (rc != KF_STATUS_OK) return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 4 ||
        !reply_i64(r->element[0], &out->epoch) || !reply_i64(r->element[1], &out->base) ||
        r->element[2]->type != REDIS_REPLY_ARRAY || parse_runs(out, r->element[2]) != 0 ||
        r->element[3]->type != REDIS_REPLY_STRING) {
        kf_eos_assigned_free(out);
        rc = bad_reply(c, "assign", err, errlen);
    } else {
        snprintf(out->prev_owner, sizeof out->prev_owner, "%.*s", (int)r->element[3]->len,
                 r->element[3]->str);
    }
    freeReplyObject(r);
    return rc;
}

int kf_eos_state_trim(kf_eos_state *c, const char *topic, int32_t partition, int64_t epoch,
                      int64_t trim, int *fenced, char *err, size_t errlen)
{
    return kf_eos_state_release(c, topic, partition, epoch, trim, NULL, fenced, err, errlen);
}

int kf_eos_state_release(kf_eos_state *c, const char *topic, int32_t partition, int64_t epoch,
                         int64_t trim, const char *owner, int *fenced, char *err, size_t errlen)
{
    *fenced = 0;
    if (errlen) err[0] = '\0';
    args k = {0}, a = {0};
    arg_state_keys(&k, c, topic, partition);
    arg_i64(&a, epoch);
    arg_i64(&a, trim);
    if (owner && *owner) {
        arg_key(&k, c, topic, partition, "owner");
        arg_ext(&a, owner, strlen(owner));
    }
    redisReply *r;
    int rc = eval(c, S_TRIM, &k, &a, &r, err, errlen);
    args_free(&k);
    args_free(&a);
    if (rc != KF_STATUS_OK) return rc;
    if (r->type == REDIS_REPLY_INTEGER && (r->integer == 0 || r->integer == 1))
        *fenced = (int)r->integer;
    else
        rc = bad_reply(c, "trim", err, errlen);
    freeReplyObject(r);
    return rc;
}

/* The length of a write's argument j (argvlen NULL: NUL-terminated). */
static size_t arglen(const kf_eos_write *w, int j)
{
    return w->argvlen ? w->argvlen[j] : strlen(w->argv[j]);
}

/* Appends one part's ARGV and write KEYS for complete(); -1 on a bad write. */
static int build_part(args *k, args *a, const kf_eos_part *p, char *err, size_t errlen)
{
    arg_i64(a, p->epoch);
    arg_i64(a, p->trim);
    arg_i64(a, (int64_t)p->nitems);
    for (size_t i = 0; i < p->nitems; i++) {
        const kf_eos_item *it = &p->items[i];
        arg_i64(a, it->offset);
        arg_i64(a, (int64_t)it->nwrites);
        for (size_t w = 0; w < it->nwrites; w++) {
            const kf_eos_write *wr = &it->writes[w];
            if (wr->argc < 1 || wr->argc > MAX_WRITE_ARGS || !wr->argv) {
                snprintf(err, errlen,
                         "%s[%" PRId32 "]@%" PRId64 ": a write needs 1..%d arguments, not %d",
                         p->topic, p->partition, it->offset, MAX_WRITE_ARGS, wr->argc);
                return -1;
            }
            arg_i64(a, wr->argc);
            for (int j = 0; j < wr->argc; j++) /* argv[1], the key, travels in KEYS */
                arg_ext(j == 1 ? k : a, wr->argv[j], arglen(wr, j));
        }
    }
    return 0;
}

/* True when s[0..n) is `word` in any case. */
static bool word_is(const char *s, size_t n, const char *word)
{
    return n == strlen(word) && strncasecmp(s, word, n) == 0;
}

/* True when every write of `w`'s shape merges into one command with its
 * values appended (the merge rules of the complete script). */
static bool mergeable(const kf_eos_write *w)
{
    size_t n = arglen(w, 0);
    const char *cmd = w->argv[0];
    if (word_is(cmd, n, "RPUSH") || word_is(cmd, n, "LPUSH") || word_is(cmd, n, "SADD") ||
        word_is(cmd, n, "HDEL"))
        return w->argc >= 3;
    if (word_is(cmd, n, "HSET")) return w->argc >= 4 && w->argc % 2 == 0;
    return false;
}

/* True when the uniform script may run part p (its rules are in
 * eos/lua/complete_uniform.lua): one write per item, all the same byte-equal
 * command and key with the same argc, a mergeable command, offsets strictly
 * increasing, none negative, at most 64 apart (and exact as Lua numbers). */
static bool uniform_part(const kf_eos_part *p)
{
    if (p->nitems == 0) return true;
    const kf_eos_write *w0 = p->items[0].writes;
    if (p->items[0].nwrites != 1 || !w0 || !w0->argv || w0->argc < 3 || w0->argc > MAX_WRITE_ARGS ||
        !mergeable(w0))
        return false;
    size_t l0 = arglen(w0, 0), l1 = arglen(w0, 1);
    for (size_t i = 0; i < p->nitems; i++) {
        const kf_eos_item *it = &p->items[i];
        const kf_eos_write *w = it->writes;
        if (it->nwrites != 1 || !w || w->argc != w0->argc || !w->argv) return false;
        if (it->offset < 0 || it->offset >= MAX_EXACT_OFFSET) return false;
        /* Increasing, and dense enough for one mask (common.lua's mask_of
         * cuts a member where two offsets lie more than 64 apart). */
        if (i > 0 && (it->offset <= it[-1].offset || it->offset - it[-1].offset > 64)) return false;
        if (w == w0) continue;
        if (arglen(w, 0) != l0 ||
            (w->argv[0] != w0->argv[0] && memcmp(w->argv[0], w0->argv[0], l0) != 0))
            return false;
        if (arglen(w, 1) != l1 ||
            (w->argv[1] != w0->argv[1] && memcmp(w->argv[1], w0->argv[1], l1) != 0))
            return false;
    }
    return true;
}

/* Appends one uniform part's ARGV (and its write key to wk) for the uniform
 * script: the item offsets travel as the fields of their T:runs member
 * (eos/lua/common.lua): first, last and "" when consecutive, else the raw
 * mask with bit o % 8 of byte o / 8 - first / 8 set for each offset o, so
 * a chunk's offsets cost three arguments, not one per record. */
static void build_uniform_part(args *wk, args *a, const kf_eos_part *p)
{
    arg_i64(a, p->epoch);
    arg_i64(a, p->trim);
    arg_i64(a, (int64_t)p->nitems);
    if (p->nitems == 0) return;
    const kf_eos_write *w0 = p->items[0].writes;
    size_t m = (size_t)w0->argc - 2;
    arg_ext(wk, w0->argv[1], arglen(w0, 1));
    arg_ext(a, w0->argv[0], arglen(w0, 0));
    arg_i64(a, (int64_t)m);
    int64_t first = p->items[0].offset, last = p->items[p->nitems - 1].offset;
    arg_i64(a, first);
    arg_i64(a, last);
    bool fresh = true;
    for (size_t i = 0; i < p->nitems && fresh; i++)
        fresh = p->items[i].fresh;
    size_t start = a->alen;
    if (last - first + 1 != (int64_t)p->nitems) {
        size_t nb = (size_t)(last / 8 - first / 8 + 1);
        if (!arena_reserve(a, nb)) return;
        unsigned char *mask = (unsigned char *)a->arena + start;
        memset(mask, 0, nb);
        for (size_t i = 0; i < p->nitems; i++) {
            int64_t o = p->items[i].offset;
            mask[o / 8 - first / 8] |= (unsigned char)(1u << (o % 8));
        }
        a->alen += nb;
    }
    arg_end(a, start);
    arg_ext(a, fresh ? "1" : "0", 1);
    if (!args_reserve(a, p->nitems * m)) return;
    for (size_t i = 0; i < p->nitems; i++) {
        const kf_eos_write *w = p->items[i].writes;
        for (int j = 2; j < w->argc; j++)
            arg_ext(a, w->argv[j], arglen(w, j));
    }
}

int kf_eos_state_complete(kf_eos_state *c, const char *sink, const kf_eos_part *parts,
                          size_t nparts, int *status, char *err, size_t errlen)
{
    if (errlen) err[0] = '\0';
    if (nparts == 0) return KF_STATUS_OK;
    if (!sink || !sink[0]) {
        /* Runs are "<from>/<to>/<sink>", split at the first two '/': any
         * non-empty name (even one holding '/') stays unambiguous. */
        snprintf(err, errlen, "complete: bad sink name \"%s\"", sink ? sink : "(null)");
        return KF_STATUS_FAIL;
    }
    size_t total = 0;
    bool uniform = c->fast_path;
    for (size_t p = 0; p < nparts; p++) {
        total += parts[p].nitems;
        if (uniform && !uniform_part(&parts[p])) uniform = false;
    }
    int script = uniform ? S_UNIFORM : S_COMPLETE;

    /* KEYS: every part's state keys first, then the write keys in order. */
    args k = {0}, a = {0}, wk = {0};
    for (size_t p = 0; p < nparts; p++)
        arg_state_keys(&k, c, parts[p].topic, parts[p].partition);
    int rc = KF_STATUS_OK;
    arg_ext(&a, sink, strlen(sink));
    arg_i64(&a, (int64_t)nparts);
    if (uniform) {
        for (size_t p = 0; p < nparts; p++)
            build_uniform_part(&wk, &a, &parts[p]);
    } else {
        for (size_t p = 0; p < nparts && rc == KF_STATUS_OK; p++)
            if (build_part(&wk, &a, &parts[p], err, errlen) != 0) rc = KF_STATUS_FAIL;
    }
    args_done(&wk); /* all caller bytes: no arena, but keep the contract */
    for (size_t i = 0; i < wk.n && rc == KF_STATUS_OK; i++)
        arg_ext(&k, wk.argv[i], wk.len[i]);
    if (wk.oom) k.oom = true;
    args_free(&wk);

    redisReply *r = NULL;
    if (rc == KF_STATUS_OK) rc = eval(c, script, &k, &a, &r, err, errlen);
    args_free(&k);
    args_free(&a);
    if (rc != KF_STATUS_OK) return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != total) {
        freeReplyObject(r);
        return bad_reply(c, SCRIPT_NAME[script], err, errlen);
    }
    for (size_t i = 0; i < total; i++) {
        const redisReply *e = r->element[i];
        if (e->type == REDIS_REPLY_INTEGER &&
            (e->integer == KF_EOS_APPLIED || e->integer == KF_EOS_SKIPPED ||
             e->integer == KF_EOS_FENCED)) {
            status[i] = (int)e->integer;
        } else if (e->type == REDIS_REPLY_STRING) {
            status[i] = KF_EOS_ERROR;
            if (errlen && !err[0]) snprintf(err, errlen, "%.*s", (int)e->len, e->str);
        } else {
            freeReplyObject(r);
            return bad_reply(c, SCRIPT_NAME[script], err, errlen);
        }
    }
    freeReplyObject(r);
    return KF_STATUS_OK;
}

int kf_eos_state_claim(kf_eos_state *c, const char *topic, int32_t partition, int64_t epoch,
                       const char *const *keys, const size_t *keylens, const int64_t *offsets,
                       size_t n, int64_t window_ms, int *dup, int *fenced, char *err, size_t errlen)
{
    *fenced = 0;
    if (errlen) err[0] = '\0';
    if (n == 0) return KF_STATUS_OK;
    if (window_ms < 1) {
        snprintf(err, errlen, "claim: the window must be at least 1 ms, not %" PRId64, window_ms);
        return KF_STATUS_FAIL;
    }
    args k = {0}, a = {0};
    arg_key(&k, c, topic, partition, "epoch");
    for (size_t i = 0; i < n; i++) {
        size_t start = k.alen;
        arena_fmt(&k, "{%s:%s:%s:%" PRId32 "}:bk:", c->prefix, c->group, topic, partition);
        arena_put(&k, keys[i], keylens ? keylens[i] : strlen(keys[i]));
        arg_end(&k, start);
    }
    arg_i64(&a, epoch);
    arg_i64(&a, window_ms);
    for (size_t i = 0; i < n; i++)
        arg_i64(&a, offsets[i]);
    redisReply *r;
    int rc = eval(c, S_CLAIM, &k, &a, &r, err, errlen);
    args_free(&k);
    args_free(&a);
    if (rc != KF_STATUS_OK) return rc;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer == 1) {
        *fenced = 1;
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == n + 1) {
        for (size_t i = 0; i < n; i++) {
            const redisReply *e = r->element[i + 1];
            if (e->type != REDIS_REPLY_INTEGER || (e->integer != 0 && e->integer != 1)) {
                rc = bad_reply(c, "claim", err, errlen);
                break;
            }
            dup[i] = (int)e->integer;
        }
    } else {
        rc = bad_reply(c, "claim", err, errlen);
    }
    freeReplyObject(r);
    return rc;
}

/* ------------------------------------------- for the other eos/ files */

void kf_eos_args_free(kf_eos_args *a)
{
    args_free(a);
}

void kf_eos_arg_bytes(kf_eos_args *a, const void *p, size_t n)
{
    size_t start = a->alen;
    arena_put(a, p, n);
    arg_end(a, start);
}

void kf_eos_arg_i64(kf_eos_args *a, int64_t v)
{
    arg_i64(a, v);
}

void kf_eos_arg_key(kf_eos_args *a, const kf_eos_state *c, const char *topic, int32_t partition,
                    const char *suffix, const void *tail, size_t tail_len)
{
    size_t start = a->alen;
    arena_fmt(a, "{%s:%s:%s:%" PRId32 "}:%s", c->prefix, c->group, topic, partition, suffix);
    if (tail_len) arena_put(a, tail, tail_len);
    arg_end(a, start);
}

int kf_eos_eval(kf_eos_state *c, int script, kf_eos_args *keys, kf_eos_args *av, redisReply **out,
                char *err, size_t errlen)
{
    return eval(c, script, keys, av, out, err, errlen);
}

int kf_eos_bad_reply(kf_eos_state *c, const char *what, char *err, size_t errlen)
{
    return bad_reply(c, what, err, errlen);
}

int kf_eos_command(kf_eos_state *c, const char *what, int argc, const char **argv,
                   const size_t *lens, redisReply **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc = ensure(c, err, errlen);
    if (rc != KF_STATUS_OK) return rc;
    redisReply *r = redisCommandArgv(c->rc, argc, argv, lens);
    if (!r) return io_error(c, what, err, errlen);
    if (r->type == REDIS_REPLY_ERROR) {
        rc = reply_error(c, what, r->str, err, errlen);
        freeReplyObject(r);
        return rc;
    }
    *out = r;
    return KF_STATUS_OK;
}

int kf_eos_pipeline(kf_eos_state *c, const char *what, size_t n, const int *argc,
                    const char *const *const *argv, const size_t *const *lens, redisReply **out,
                    char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    int rc = ensure(c, err, errlen);
    if (rc != KF_STATUS_OK) return rc;
    for (size_t i = 0; i < n; i++)
        if (redisAppendCommandArgv(c->rc, argc[i], (const char **)argv[i], lens[i]) != REDIS_OK)
            return io_error(c, what, err, errlen);
    for (size_t i = 0; i < n; i++) {
        if (redisGetReply(c->rc, (void **)&out[i]) != REDIS_OK || !out[i]) {
            for (size_t j = 0; j <= i; j++) {
                freeReplyObject(out[j]);
                out[j] = NULL;
            }
            return io_error(c, what, err, errlen);
        }
    }
    return KF_STATUS_OK;
}

const char *kf_eos_state_prefix(const kf_eos_state *c)
{
    return c->prefix;
}

const char *kf_eos_state_group(const kf_eos_state *c)
{
    return c->group;
}
