#include "tests/unit/support/eos_fixture.h"

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kf_test_redis server; /* the TCase's, owned by the runner */
static redisContext *R;      /* the inspection connection, per test */

static void server_up(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the daemon does */
    kf_test_redis_start(&server);
}

static void server_down(void)
{
    kf_test_redis_stop(&server);
}

static void test_up(void)
{
    ck_assert_msg(server.pid > 0, "no redis-server for the test: %s", server.why);
    eos_inspect(&server);
    freeReplyObject(rcmd("FLUSHALL"));
}

static void test_down(void)
{
    /* Back to the defaults, in case the test had every command logged. */
    if (R && !R->err) {
        freeReplyObject(redisCommand(R, "CONFIG SET slowlog-log-slower-than 10000"));
        freeReplyObject(redisCommand(R, "CONFIG SET slowlog-max-len 128"));
    }
    redisFree(R);
    R = NULL;
}

void eos_fixture_add(TCase *tc)
{
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, server_up, server_down);
    tcase_add_checked_fixture(tc, test_up, test_down);
}

const kf_test_redis *eos_server(void)
{
    return &server;
}

void eos_inspect(const kf_test_redis *r)
{
    redisFree(R);
    R = NULL;
    R = kf_test_redis_connect(r);
}

static redisReply *checked(redisReply *r)
{
    CHECK(r != NULL, "inspection command failed: %s", R->errstr);
    CHECK(r->type != REDIS_REPLY_ERROR, "inspection command: %s", r->str);
    return r;
}

redisReply *rcmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(R, fmt, ap);
    va_end(ap);
    return checked(r);
}

redisReply *rcmd_argv(int argc, const char **argv, const size_t *argvlen)
{
    return checked(redisCommandArgv(R, argc, argv, argvlen));
}

long long rinteger(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = checked(redisvCommand(R, fmt, ap));
    va_end(ap);
    ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "expected an integer reply");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

long long rget_num(const char *key)
{
    redisReply *r = rcmd("GET %s", key);
    long long v = r->type == REDIS_REPLY_NIL ? -1 : atoll(r->str);
    freeReplyObject(r);
    return v;
}

void hget(const char *key, const char *field, char *out, size_t outlen)
{
    redisReply *r = rcmd("HGET %s %s", key, field);
    snprintf(out, outlen, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

/* A T:runs member (eos/lua/common.lua): "<from>/<to>/<sink>", or
 * "<from>/<to>:<mask>/<sink>" with to / 8 - from / 8 + 1 raw mask bytes. */
typedef struct run_member {
    long long from, to;
    const unsigned char *mask; /* NULL: every offset of from..to */
    size_t masklen;
    const char *sink;
} run_member;

static void parse_run(const redisReply *e, run_member *r)
{
    int n = 0;
    char sep = 0;
    ck_assert_msg(sscanf(e->str, "%lld/%lld%n", &r->from, &r->to, &n) == 2 && n > 0 &&
                      (size_t)n < e->len,
                  "bad run member %s", e->str);
    sep = e->str[n];
    r->mask = NULL;
    r->masklen = 0;
    if (sep == '/') {
        r->sink = e->str + n + 1;
        return;
    }
    ck_assert_msg(sep == ':', "bad run member %s", e->str);
    r->masklen = (size_t)(r->to / 8 - r->from / 8 + 1);
    ck_assert_msg((size_t)n + 1 + r->masklen + 1 < e->len, "short mask in %s", e->str);
    r->mask = (const unsigned char *)e->str + n + 1;
    ck_assert_msg(e->str[n + 1 + r->masklen] == '/', "bad run member %s", e->str);
    r->sink = e->str + n + 1 + r->masklen + 1;
}

static bool run_has(const run_member *r, long long o)
{
    if (o < r->from || o > r->to) return false;
    if (!r->mask) return true;
    return r->mask[o / 8 - r->from / 8] & (1u << (o % 8));
}

static redisReply *runs_of(int32_t partition)
{
    char key[64];
    snprintf(key, sizeof key, "{kft:g:t:%" PRId32 "}:runs", partition);
    redisReply *r = rcmd("ZRANGE %s 0 -1", key);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    return r;
}

bool marked(int32_t partition, int64_t offset, const char *sink)
{
    redisReply *r = runs_of(partition);
    bool m = false;
    for (size_t i = 0; i < r->elements && !m; i++) {
        run_member run;
        parse_run(r->element[i], &run);
        m = strcmp(run.sink, sink) == 0 && run_has(&run, offset);
    }
    freeReplyObject(r);
    return m;
}

long long nmarked(int32_t partition)
{
    char bk[64];
    snprintf(bk, sizeof bk, "{kft:g:t:%" PRId32 "}:base", partition);
    long long base = rget_num(bk);
    redisReply *r = runs_of(partition);
    long long n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        run_member run;
        parse_run(r->element[i], &run);
        for (long long o = run.from > base ? run.from : base; o <= run.to; o++)
            n += run_has(&run, o);
    }
    freeReplyObject(r);
    return n;
}

long long nruns(int32_t partition)
{
    redisReply *r = runs_of(partition);
    long long n = (long long)r->elements;
    freeReplyObject(r);
    return n;
}

void runs_str(int32_t partition, char *out, size_t outlen)
{
    redisReply *r = runs_of(partition);
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < r->elements && len < outlen; i++) {
        run_member run;
        parse_run(r->element[i], &run);
        len += (size_t)snprintf(out + len, outlen - len, "%s%lld/%lld", i ? " " : "", run.from,
                                run.to);
        if (run.mask) {
            len += (size_t)snprintf(out + len, outlen - len, ":");
            for (size_t k = 0; k < run.masklen && len < outlen; k++)
                len += (size_t)snprintf(out + len, outlen - len, "%02x", run.mask[k]);
        }
        if (len < outlen) len += (size_t)snprintf(out + len, outlen - len, "/%s", run.sink);
    }
    freeReplyObject(r);
}

void assert_list(const char *key, const char *const *want, size_t n)
{
    redisReply *r = rcmd("LRANGE %s 0 -1", key);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_msg(r->elements == n, "%s holds %zu values, want %zu", key, r->elements, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(strcmp(r->element[i]->str, want[i]) == 0, "%s[%zu] = %s, want %s", key, i,
                      r->element[i]->str, want[i]);
    freeReplyObject(r);
}

/* The calls of `cmd` in an INFO commandstats text; 0 when absent. */
static long long calls_in(const char *info, const char *cmd)
{
    char needle[128];
    snprintf(needle, sizeof needle, "cmdstat_%s:", cmd);
    const char *p = strstr(info, needle);
    if (!p) return 0;
    const char *eol = strchr(p, '\n'), *q = strstr(p, "calls=");
    return q && (!eol || q < eol) ? atoll(q + 6) : 0;
}

void assert_calls_(const calls_want *want, size_t n)
{
    redisReply *r = rcmd("INFO commandstats");
    for (size_t i = 0; i < n; i++) {
        long long got = calls_in(r->str, want[i].cmd);
        ck_assert_msg(got == want[i].calls, "%s ran %lld times, want %lld", want[i].cmd, got,
                      want[i].calls);
    }
    freeReplyObject(r);
}

kf_eos_state *state_at(int port, const char *prefix)
{
    char url[128], err[512] = "";
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    kf_eos_state *c = kf_eos_state_new(url, prefix, "g", err, sizeof err);
    ck_assert_msg(c != NULL, "kf_eos_state_new: %s", err);
    return c;
}

kf_eos_state *state_new(void)
{
    return state_at(server.port, "kft");
}

int64_t assign(kf_eos_state *c, int32_t partition)
{
    kf_eos_assigned a;
    char err[512];
    int rc = kf_eos_state_assign(c, "t", partition, &a, err, sizeof err);
    ck_assert_msg(rc == KF_STATUS_OK, "assign: %d %s", rc, err);
    int64_t e = a.epoch;
    kf_eos_assigned_free(&a);
    return e;
}

kf_eos_state *state_assigned(int nparts, int64_t *e)
{
    kf_eos_state *c = state_new();
    for (int p = 0; p < nparts; p++)
        e[p] = assign(c, p);
    return c;
}

kf_eos_state *state_assigned_bad_S(int nparts, int64_t *e)
{
    kf_eos_state *c = state_assigned(nparts, e);
    freeReplyObject(rcmd("SET S str"));
    return c;
}
