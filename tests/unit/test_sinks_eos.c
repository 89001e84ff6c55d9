/*
 * Exactly-once mode of the Redis and HTTP sinks (eos/marks.h) against
 * real redis-servers this test starts on free loopback ports, and an
 * in-process libmicrohttpd receiver:
 *   - Redis sink on the state's Redis: writes and marks in one fenced script
 *     per flush; replays skipped; a stale epoch writes nothing (FENCED); a
 *     record's several outputs are one item; a failed write is not marked;
 *   - Redis sink on another Redis: value there, mark in the state Redis;
 *   - HTTP sink: marks after the 2xx, none after a 500 or when one of a
 *     record's requests failed; FENCED after a newer owner;
 *   - Redis down: RETRY, nothing marked; the state Redis restarted: RETRY
 *     while it is down, applied once it is back.
 *
 * The servers (support/redis_server.h) start once per test case, in an
 * unchecked fixture, and are emptied before each test; the restart test
 * runs a server of its own. Every wait is on a condition with a deadline.
 */
#include "eos/state.h"
#include "eos/marks.h"
#include "tests/unit/support/http_server.h"
#include "tests/unit/support/redis_server.h"
#include "sinks/sink.h"

#include <check.h>
#include <hiredis/hiredis.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "kt"
#define GROUP  "g"
#define TOPIC  "orders"

/* ---------------------------------------------------------- redis-server */

static kf_test_redis R1, R2; /* R1 holds the state; R2 is an external sink */

/* Once per test case, in the runner (support/redis_server.h). */
static void servers_up(void)
{
    kf_test_redis_start(&R1);
    kf_test_redis_start(&R2);
}

static void servers_down(void)
{
    kf_test_redis_stop(&R1);
    kf_test_redis_stop(&R2);
}

/* One command on a fresh connection; the reply is the caller's. */
static redisReply *cmd(const kf_test_redis *r, const char *fmt, ...)
{
    redisContext *c = kf_test_redis_connect(r);
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    ck_assert_ptr_nonnull(rep);
    return rep;
}

/* The integer a reply holds; frees it. */
static long long int_of(redisReply *rep)
{
    ck_assert_msg(rep->type == REDIS_REPLY_INTEGER, "reply type %d (%s)", rep->type,
                  rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    long long v = rep->integer;
    freeReplyObject(rep);
    return v;
}

/* Before each test of a case with servers: both empty, their command
 * statistics reset. */
static void servers_reset(void)
{
    const kf_test_redis *all[] = {&R1, &R2};
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(all[i]->pid > 0, "no redis-server for the test: %s", all[i]->why);
        freeReplyObject(cmd(all[i], "FLUSHALL"));
        freeReplyObject(cmd(all[i], "CONFIG RESETSTAT"));
    }
}

/* The list at key, joined with ',' (e.g. "a,c,b"). */
static void list_of(const kf_test_redis *r, const char *key, char *out, size_t outlen)
{
    redisReply *rep = cmd(r, "LRANGE %s 0 -1", key);
    ck_assert_int_eq(rep->type, REDIS_REPLY_ARRAY);
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < rep->elements; i++)
        at += (size_t)snprintf(out + at, outlen - at, "%s%s", i ? "," : "", rep->element[i]->str);
    freeReplyObject(rep);
}

/* The partition's runs "<from>/<to>/<sink>" (eos/README.md, "The state"). */
static redisReply *runs_of(int32_t partition)
{
    char key[128];
    snprintf(key, sizeof key, "{" PREFIX ":" GROUP ":" TOPIC ":%d}:runs", (int)partition);
    redisReply *rep = cmd(&R1, "ZRANGE %s 0 -1", key);
    ck_assert_int_eq(rep->type, REDIS_REPLY_ARRAY);
    return rep;
}

/* Whether member e ("<from>/<to>/<sink>" or "<from>/<to>:<mask>/<sink>",
 * eos/lua/common.lua) of `sink` (NULL: any) holds offset o. */
static bool member_has(const redisReply *e, const char *sink, long long o)
{
    long long f, t;
    int n = 0;
    ck_assert(sscanf(e->str, "%lld/%lld%n", &f, &t, &n) == 2 && n > 0 && (size_t)n < e->len);
    const unsigned char *mask = NULL;
    const char *s = e->str + n + 1;
    if (e->str[n] == ':') {
        mask = (const unsigned char *)e->str + n + 1;
        s += t / 8 - f / 8 + 1 + 1;
    }
    if (sink && strcmp(s, sink) != 0) return false;
    if (o < f || o > t) return false;
    return !mask || (mask[o / 8 - f / 8] & (1u << (o % 8)));
}

/* True when a member of `sink` holds the offset for the partition. */
static bool marked(int32_t partition, int64_t offset, const char *sink)
{
    redisReply *rep = runs_of(partition);
    bool yes = false;
    for (size_t i = 0; i < rep->elements && !yes; i++)
        yes = member_has(rep->element[i], sink, offset);
    freeReplyObject(rep);
    return yes;
}

/* The offsets the partition's members hold, every sink counted. */
static long long done_count(int32_t partition)
{
    redisReply *rep = runs_of(partition);
    long long total = 0;
    for (size_t i = 0; i < rep->elements; i++) {
        long long f, t;
        ck_assert(sscanf(rep->element[i]->str, "%lld/%lld", &f, &t) == 2);
        for (long long o = f; o <= t; o++)
            total += member_has(rep->element[i], NULL, o);
    }
    freeReplyObject(rep);
    return total;
}

/* Calls of the completion script since the last reset (EVALSHA or EVAL). */
static long long script_calls(const kf_test_redis *r)
{
    redisReply *rep = cmd(r, "INFO commandstats");
    long long n = 0;
    const char *names[] = {"cmdstat_evalsha:calls=", "cmdstat_eval:calls="};
    for (int i = 0; i < 2; i++) {
        const char *p = strstr(rep->str, names[i]);
        if (p) n += atoll(p + strlen(names[i]));
    }
    freeReplyObject(rep);
    return n;
}

/* The assign step of a new partition owner: returns its epoch. */
static int64_t assign(int32_t partition)
{
    char err[512] = "";
    kf_eos_state *c = kf_eos_state_new(R1.url, PREFIX, GROUP, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    kf_eos_assigned a;
    int rc = kf_eos_state_assign(c, TOPIC, partition, &a, err, sizeof err);
    ck_assert_msg(rc == KF_STATUS_OK, "assign: %s", err);
    int64_t e = a.epoch;
    kf_eos_assigned_free(&a);
    kf_eos_state_destroy(c);
    return e;
}

/* ------------------------------------------------------------------ acks */

#define MAX_MSGS 512

static struct {
    int count[MAX_MSGS];
    kf_status status[MAX_MSGS];
    char why[MAX_MSGS][512];
} A;

static void on_ack(void *opaque, kf_status st, const char *why)
{
    int i = (int)(intptr_t)opaque;
    A.count[i]++;
    A.status[i] = st;
    snprintf(A.why[i], sizeof A.why[i], "%s", why ? why : "");
}

static void acks_reset(void)
{
    memset(&A, 0, sizeof A);
}

/* Asserts message i was acked exactly once with st. */
static void expect_ack(int i, kf_status st)
{
    ck_assert_msg(A.count[i] == 1, "message %d acked %d times", i, A.count[i]);
    ck_assert_msg(A.status[i] == st, "message %d: status %d, expected %d (%s)", i, (int)A.status[i],
                  (int)st, A.why[i]);
}

static kf_sink_msg emsg(int idx, int32_t partition, int64_t offset, unsigned seq, const char *val,
                        int64_t epoch)
{
    kf_sink_msg m = {
        .src_topic = TOPIC,
        .src_partition = partition,
        .src_offset = offset,
        .seq = seq,
        .key = "k",
        .key_len = 1,
        .value = val,
        .value_len = strlen(val),
        .ack = on_ack,
        .ack_opaque = (void *)(intptr_t)idx,
        .eos_epoch = epoch,
        .eos_trim = -1,
    };
    return m;
}

static kf_sink_env env_of(const char *state_url, int exactly_once)
{
    kf_sink_env env = {.mapping = "m",
                       .group_id = GROUP,
                       .redis_url = state_url,
                       .threads = 1,
                       .exactly_once = exactly_once,
                       .redis_key_prefix = PREFIX};
    return env;
}

static kf_sink *open_sink(const kf_sink_config *cfg, const kf_sink_env *env)
{
    char err[512] = "";
    kf_sink *s = kf_sink_open(cfg, env, err, sizeof err);
    ck_assert_msg(s != NULL, "open failed: %s", err);
    return s;
}

static kf_sink_worker *open_worker(kf_sink *s)
{
    char err[512] = "";
    kf_sink_worker *w = kf_sink_worker_open(s, 0, err, sizeof err);
    ck_assert_msg(w != NULL, "worker open failed: %s", err);
    return w;
}

/* An RPUSH sink named `name` on `url` (NULL: the state Redis). */
static kf_sink *open_list_sink(const char *name, const char *url, const char *state_url)
{
    kf_sink_config c = {.name = (char *)name,
                        .type = KF_SINK_REDIS,
                        .command = KF_REDIS_RPUSH,
                        .key = "list",
                        .url = (char *)url};
    kf_sink_env env = env_of(state_url, 1);
    return open_sink(&c, &env);
}

static void write_msg(kf_sink_worker *w, int idx, int32_t partition, int64_t offset, unsigned seq,
                      const char *val, int64_t epoch)
{
    kf_sink_msg m = emsg(idx, partition, offset, seq, val, epoch);
    kf_sink_write(w, &m);
}

/* ------------------------------------------------------- redis, same one */

START_TEST(test_redis_applies_and_marks)
{
    acks_reset();
    int64_t e0 = assign(0), e1 = assign(1);
    kf_sink *s = open_list_sink("cache", NULL, R1.url);
    kf_sink_worker *w = open_worker(s);

    write_msg(w, 0, 0, 10, 0, "a", e0);
    write_msg(w, 1, 1, 5, 0, "b", e1);
    write_msg(w, 2, 0, 11, 0, "c", e0);
    /* write only buffers: nothing reaches Redis before the flush */
    ck_assert_int_eq(int_of(cmd(&R1, "EXISTS %s", "list")), 0);
    ck_assert_int_eq(A.count[0] + A.count[1] + A.count[2], 0);
    freeReplyObject(cmd(&R1, "CONFIG RESETSTAT"));

    kf_sink_flush(w);
    for (int i = 0; i < 3; i++)
        expect_ack(i, KF_STATUS_OK);
    char list[256];
    list_of(&R1, "list", list, sizeof list);
    /* partition 0 in offset order, then partition 1 */
    ck_assert_str_eq(list, "a,c,b");
    ck_assert(marked(0, 10, "cache"));
    ck_assert(marked(0, 11, "cache"));
    ck_assert(marked(1, 5, "cache"));
    ck_assert_int_eq(done_count(0), 2);
    ck_assert_int_eq(done_count(1), 1);
    /* ONE completion call for the whole flush, both partitions */
    ck_assert_int_eq(script_calls(&R1), 1);

    kf_sink_worker_close(w);
    kf_sink_close(s);
}
END_TEST

/*
 * More outputs before one flush than the worker's pending array first holds
 * (it grows 64, 128, 256...): each reaches the completion script intact and
 * is applied and marked, in order. The kept commands point into that array,
 * so they must follow it when a realloc moves it.
 */
START_TEST(test_redis_many_writes_one_flush)
{
    acks_reset();
    int64_t e0 = assign(0);
    kf_sink *s = open_list_sink("cache", NULL, R1.url);
    kf_sink_worker *w = open_worker(s);
    enum { N = 300 };
    static char vals[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(vals[i], sizeof vals[i], "v%d", i);
        write_msg(w, i, 0, i, 0, vals[i], e0);
    }
    kf_sink_flush(w);
    for (int i = 0; i < N; i++)
        expect_ack(i, KF_STATUS_OK);
    ck_assert_int_eq(int_of(cmd(&R1, "LLEN %s", "list")), N);
    redisReply *last = cmd(&R1, "LINDEX %s %d", "list", N - 1);
    ck_assert_str_eq(last->str, "v299");
    freeReplyObject(last);
    ck_assert_int_eq(done_count(0), N);
    kf_sink_worker_close(w);
    kf_sink_close(s);
}
END_TEST

START_TEST(test_redis_replay_not_written_twice)
{
    acks_reset();
    int64_t e = assign(0);
    kf_sink *s = open_list_sink("cache", NULL, R1.url);
    kf_sink_worker *w = open_worker(s);

    write_msg(w, 0, 0, 10, 0, "a", e);
    kf_sink_flush(w);
    expect_ack(0, KF_STATUS_OK);

    /* The same record again (a retry after an ambiguous reply). */
    write_msg(w, 1, 0, 10, 0, "a", e);
    kf_sink_flush(w);
    expect_ack(1, KF_STATUS_OK);
    ck_assert_int_eq(int_of(cmd(&R1, "LLEN %s", "list")), 1);

    /* A new owner replays it, and goes on with the next record. */
    int64_t e2 = assign(0);
    ck_assert_int_gt(e2, e);
    write_msg(w, 2, 0, 10, 0, "a", e2);
    write_msg(w, 3, 0, 11, 0, "b", e2);
    kf_sink_flush(w);
    expect_ack(2, KF_STATUS_OK);
    expect_ack(3, KF_STATUS_OK);
    char list[64];
    list_of(&R1, "list", list, sizeof list);
    ck_assert_str_eq(list, "a,b");

    kf_sink_worker_close(w);
    kf_sink_close(s);
}
END_TEST

START_TEST(test_redis_stale_epoch_fenced)
{
    acks_reset();
    int64_t old = assign(0);
    int64_t now = assign(0); /* a newer owner took partition 0 */
    ck_assert_int_gt(now, old);
    int64_t e1 = assign(1);
    kf_sink *s = open_list_sink("cache", NULL, R1.url);
    kf_sink_worker *w = open_worker(s);

    write_msg(w, 0, 0, 10, 0, "zombie", old);
    write_msg(w, 1, 0, 11, 0, "zombie2", old);
    write_msg(w, 2, 1, 3, 0, "live", e1);
    kf_sink_flush(w);
    expect_ack(0, KF_STATUS_FENCED);
    expect_ack(1, KF_STATUS_FENCED);
    expect_ack(2, KF_STATUS_OK);
    ck_assert_msg(strstr(A.why[0], "newer owner"), "%s", A.why[0]);
    char list[64];
    list_of(&R1, "list", list, sizeof list);
    ck_assert_str_eq(list, "live");
    ck_assert(!marked(0, 10, "cache"));
    ck_assert(!marked(0, 11, "cache"));
    ck_assert_int_eq(done_count(0), 0);
    ck_assert(marked(1, 3, "cache"));

    kf_sink_worker_close(w);
    kf_sink_close(s);
}
END_TEST

START_TEST(test_redis_outputs_of_one_record_are_one_item)
{
    acks_reset();
    int64_t e = assign(0);
    kf_sink *s = open_list_sink("cache", NULL, R1.url);
    kf_sink_worker *w = open_worker(s);

    /* record 20 has two outputs, interleaved with record 21's */
    write_msg(w, 0, 0, 20, 0, "x", e);
    write_msg(w, 1, 0, 21, 0, "z", e);
    write_msg(w, 2, 0, 20, 1, "y", e);
    kf_sink_flush(w);
    for (int i = 0; i < 3; i++)
        expect_ack(i, KF_STATUS_OK);
    char list[64];
    list_of(&R1, "list", list, sizeof list);
    ck_assert_str_eq(list, "x,y,z"); /* both of record 20's writes, in order */
    ck_assert(marked(0, 20, "cache"));
    ck_assert(marked(0, 21, "cache"));
    ck_assert_int_eq(done_count(0), 2); /* one mark per record: 20..21 */

    /* replayed whole, it is skipped whole */
    write_msg(w, 3, 0, 20, 0, "x", e);
    write_msg(w, 4, 0, 20, 1, "y", e);
    kf_sink_flush(w);
    expect_ack(3, KF_STATUS_OK);
    expect_ack(4, KF_STATUS_OK);
    ck_assert_int_eq(int_of(cmd(&R1, "LLEN %s", "list")), 3);

    kf_sink_worker_close(w);
    kf_sink_close(s);
}
END_TEST

START_TEST(test_redis_failed_write_not_marked)
{
    acks_reset();
    int64_t e = assign(0);
    freeReplyObject(cmd(&R1, "SET %s %s", "list", "a string, not a list"));
    kf_sink *s = open_list_sink("cache", NULL, R1.url);
    kf_sink_worker *w = open_worker(s);
    write_msg(w, 0, 0, 30, 0, "v", e);
    kf_sink_flush(w);
    expect_ack(0, KF_STATUS_FAIL);
    ck_assert_msg(strstr(A.why[0], "WRONGTYPE"), "%s", A.why[0]);
    ck_assert(!marked(0, 30, "cache"));
    kf_sink_worker_close(w);
    kf_sink_close(s);

    /* An output refused at write (SET needs a record key) keeps its
     * record's other output from being marked. */
    kf_sink_config c = {.name = "kv", .type = KF_SINK_REDIS, .command = KF_REDIS_SET, .key = "kv:"};
    kf_sink_env env = env_of(R1.url, 1);
    s = open_sink(&c, &env);
    w = open_worker(s);
    write_msg(w, 1, 0, 31, 0, "v1", e);
    kf_sink_msg m = emsg(2, 0, 31, 1, "v2", e);
    m.key = NULL;
    m.key_len = 0;
    kf_sink_write(w, &m);
    expect_ack(2, KF_STATUS_FAIL); /* at once */
    write_msg(w, 3, 0, 32, 0, "v3", e);
    kf_sink_flush(w);
    expect_ack(3, KF_STATUS_OK);
    ck_assert(!marked(0, 31, "kv"));
    ck_assert(marked(0, 32, "kv"));
    ck_assert_int_eq(int_of(cmd(&R1, "EXISTS %s", "kv:k")), 1); /* from record 32 */
    kf_sink_worker_close(w);
    kf_sink_close(s);
}
END_TEST

START_TEST(test_redis_at_least_once_unchanged)
{
    acks_reset();
    kf_sink_config c = {
        .name = "cache", .type = KF_SINK_REDIS, .command = KF_REDIS_RPUSH, .key = "list"};
    kf_sink_env env = env_of(R1.url, 0);
    kf_sink *s = open_sink(&c, &env);
    kf_sink_worker *w = open_worker(s);
    write_msg(w, 0, 0, 10, 0, "a", 0);
    write_msg(w, 1, 0, 10, 0, "a", 0); /* no dedupe without exactly-once */
    kf_sink_flush(w);
    expect_ack(0, KF_STATUS_OK);
    expect_ack(1, KF_STATUS_OK);
    ck_assert_int_eq(int_of(cmd(&R1, "LLEN %s", "list")), 2);
    ck_assert_int_eq(int_of(cmd(&R1, "DBSIZE")), 1); /* no state, no marks */
    ck_assert_int_eq(script_calls(&R1), 0);
    kf_sink_worker_close(w);
    kf_sink_close(s);
}
END_TEST

/* --------------------------------------------------- redis, another one */

START_TEST(test_redis_external)
{
    acks_reset();
    int64_t e = assign(0);
    kf_sink *s = open_list_sink("ext", R2.url, R1.url);
    kf_sink_worker *w = open_worker(s);

    write_msg(w, 0, 0, 40, 0, "e1", e);
    write_msg(w, 1, 0, 41, 0, "e2", e);
    write_msg(w, 2, 0, 41, 1, "e3", e);
    freeReplyObject(cmd(&R1, "CONFIG RESETSTAT"));
    kf_sink_flush(w);
    for (int i = 0; i < 3; i++)
        expect_ack(i, KF_STATUS_OK);
    char list[64];
    list_of(&R2, "list", list, sizeof list);
    ck_assert_str_eq(list, "e1,e2,e3"); /* the effect in the sink's Redis */
    ck_assert_int_eq(int_of(cmd(&R1, "EXISTS %s", "list")), 0);
    ck_assert(marked(0, 40, "ext")); /* the marks in the state Redis */
    ck_assert(marked(0, 41, "ext"));
    ck_assert_int_eq(done_count(0), 2);
    ck_assert_int_eq(script_calls(&R1), 1);
    ck_assert_int_eq(script_calls(&R2), 0);

    /* A zombie's write lands (at-least-once), but it is told FENCED and
     * leaves no mark. */
    assign(0);
    write_msg(w, 3, 0, 42, 0, "late", e);
    kf_sink_flush(w);
    expect_ack(3, KF_STATUS_FENCED);
    ck_assert(!marked(0, 42, "ext"));

    /* A failed write is not marked. */
    freeReplyObject(cmd(&R2, "SET %s %s", "list", "not a list"));
    int64_t e3 = assign(0);
    write_msg(w, 4, 0, 43, 0, "v", e3);
    kf_sink_flush(w);
    expect_ack(4, KF_STATUS_FAIL);
    ck_assert_msg(strstr(A.why[4], "WRONGTYPE"), "%s", A.why[4]);
    ck_assert(!marked(0, 43, "ext"));

    kf_sink_worker_close(w);
    kf_sink_close(s);
}
END_TEST

START_TEST(test_redis_same_server_other_spelling)
{
    /* The state's server named differently (no db, LOCALHOST-style case) is
     * still the same Redis: effect and mark in one script, nothing pipelined
     * on the side. */
    acks_reset();
    int64_t e = assign(0);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", R1.port);
    kf_sink *s = open_list_sink("cache", url, R1.url);
    kf_sink_worker *w = open_worker(s);
    assign(0); /* a newer owner: a same-Redis sink writes nothing when fenced */
    write_msg(w, 0, 0, 50, 0, "zombie", e);
    kf_sink_flush(w);
    expect_ack(0, KF_STATUS_FENCED);
    ck_assert_int_eq(int_of(cmd(&R1, "EXISTS %s", "list")), 0);
    kf_sink_worker_close(w);
    kf_sink_close(s);
}
END_TEST

/* ------------------------------------------------------------ redis down */

START_TEST(test_redis_down_retry)
{
    acks_reset();
    char down[64];
    snprintf(down, sizeof down, "redis://127.0.0.1:%d/0", kf_test_free_port());

    /* same Redis as the state, which is down */
    kf_sink *s = open_list_sink("cache", NULL, down);
    kf_sink_worker *w = open_worker(s);
    write_msg(w, 0, 0, 10, 0, "a", 1);
    write_msg(w, 1, 1, 10, 0, "b", 1);
    kf_sink_flush(w);
    expect_ack(0, KF_STATUS_RETRY);
    expect_ack(1, KF_STATUS_RETRY);
    kf_sink_worker_close(w);
    kf_sink_close(s);

    /* an external sink that is down: RETRY, and no mark in the state Redis */
    int64_t e = assign(0);
    s = open_list_sink("ext", down, R1.url);
    w = open_worker(s);
    write_msg(w, 2, 0, 11, 0, "c", e);
    kf_sink_flush(w);
    expect_ack(2, KF_STATUS_RETRY);
    ck_assert(!marked(0, 11, "ext"));
    kf_sink_worker_close(w);
    kf_sink_close(s);

    /* an external sink that is up, with the state Redis down: the write
     * landed, the mark could not: RETRY */
    s = open_list_sink("ext", R2.url, down);
    w = open_worker(s);
    write_msg(w, 3, 0, 12, 0, "d", e);
    kf_sink_flush(w);
    expect_ack(3, KF_STATUS_RETRY);
    ck_assert_int_eq(int_of(cmd(&R2, "LLEN %s", "list")), 1);
    kf_sink_worker_close(w);
    kf_sink_close(s);
}
END_TEST

START_TEST(test_redis_state_restart)
{
    /* The state Redis goes away mid-run and comes back empty (scripts
     * included): RETRY while down, then the next flush applies. This test
     * runs its own server, to restart it. */
    acks_reset();
    kf_test_redis own;
    ck_assert_msg(kf_test_redis_start(&own), "%s", own.why);
    kf_sink *s = open_list_sink("cache", NULL, own.url);
    kf_sink_worker *w = open_worker(s);
    char err[256];
    kf_eos_state *c = kf_eos_state_new(own.url, PREFIX, GROUP, err, sizeof err);
    ck_assert_ptr_nonnull(c);
    kf_eos_assigned a;
    ck_assert_int_eq(kf_eos_state_assign(c, TOPIC, 0, &a, err, sizeof err), KF_STATUS_OK);
    int64_t e = a.epoch;
    kf_eos_assigned_free(&a);

    write_msg(w, 0, 0, 1, 0, "a", e);
    kf_sink_flush(w);
    expect_ack(0, KF_STATUS_OK);

    kf_test_redis_kill(&own);
    write_msg(w, 1, 0, 2, 0, "b", e);
    kf_sink_flush(w);
    expect_ack(1, KF_STATUS_RETRY);

    /* back on the same port, empty: the owner assigns again */
    ck_assert_msg(kf_test_redis_restart(&own), "%s", own.why);
    /* c's connection died with the server: its next call says RETRY and
     * reconnects on the one after */
    int rc = kf_eos_state_assign(c, TOPIC, 0, &a, err, sizeof err);
    if (rc == KF_STATUS_RETRY) rc = kf_eos_state_assign(c, TOPIC, 0, &a, err, sizeof err);
    ck_assert_msg(rc == KF_STATUS_OK, "assign: %s", err);
    e = a.epoch;
    kf_eos_assigned_free(&a);
    kf_eos_state_destroy(c);
    write_msg(w, 2, 0, 2, 0, "b", e);
    kf_sink_flush(w);
    expect_ack(2, KF_STATUS_OK);
    ck_assert_int_eq(int_of(cmd(&own, "LLEN %s", "list")), 1);
    kf_sink_worker_close(w);
    kf_sink_close(s);
    kf_test_redis_stop(&own);
}
END_TEST

/* ------------------------------------------------------------------ http */

typedef struct seen_req {
    char idem[256];
    char body[64];
} seen_req;

static struct {
    pthread_mutex_t mu;
    seen_req reqs[64];
    int n;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Records the request; answers 200, or the status a body "s<code>" asks
 * for. */
static unsigned on_request(struct MHD_Connection *c, const char *url, const char *body, size_t len,
                           const char **reply)
{
    (void)url, (void)len;
    pthread_mutex_lock(&S.mu);
    if (S.n < 64) {
        seen_req *r = &S.reqs[S.n++];
        const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
        snprintf(r->idem, sizeof r->idem, "%s", v ? v : "");
        snprintf(r->body, sizeof r->body, "%s", body);
    }
    pthread_mutex_unlock(&S.mu);
    *reply = "ok";
    return body[0] == 's' ? (unsigned)atoi(body + 1) : 200;
}

static struct MHD_Daemon *http_start(int *port)
{
    pthread_mutex_lock(&S.mu);
    S.n = 0;
    pthread_mutex_unlock(&S.mu);
    return kf_test_http_start(on_request, port);
}

static kf_sink *open_hook(int port, const char *state_url)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/in", port);
    kf_sink_config c = {.name = "hook", .type = KF_SINK_HTTP, .url = url, .timeout_ms = 3000};
    kf_sink_env env = env_of(state_url, 1);
    return open_sink(&c, &env);
}

START_TEST(test_http_marks_after_2xx)
{
    acks_reset();
    int port;
    struct MHD_Daemon *d = http_start(&port);
    int64_t e0 = assign(0), e1 = assign(1);
    kf_sink *s = open_hook(port, R1.url);
    kf_sink_worker *w = open_worker(s);

    write_msg(w, 0, 0, 10, 0, "ok", e0);
    write_msg(w, 1, 1, 7, 0, "ok", e1);
    write_msg(w, 2, 0, 13, 0, "s404", e0); /* permanent, not marked */
    write_msg(w, 3, 0, 12, 0, "ok", e0);   /* record 12: first output fine, */
    write_msg(w, 4, 0, 12, 1, "s503", e0); /* second one not: no mark */
    write_msg(w, 5, 0, 11, 0, "ok", e0);   /* after a retryable answer: not sent */
    write_msg(w, 6, 1, 8, 0, "ok", e1);    /* another partition: sent */
    freeReplyObject(cmd(&R1, "CONFIG RESETSTAT"));
    kf_sink_flush(w);
    expect_ack(0, KF_STATUS_OK);
    expect_ack(1, KF_STATUS_OK);
    expect_ack(2, KF_STATUS_FAIL);
    expect_ack(3, KF_STATUS_OK);
    expect_ack(4, KF_STATUS_RETRY);
    ck_assert_msg(strstr(A.why[4], "http 503"), "%s", A.why[4]);
    expect_ack(5, KF_STATUS_RETRY);
    ck_assert_msg(strstr(A.why[5], "not sent after a retryable answer"), "%s", A.why[5]);
    expect_ack(6, KF_STATUS_OK);
    ck_assert(marked(0, 10, "hook"));
    ck_assert(marked(1, 7, "hook"));
    ck_assert(marked(1, 8, "hook"));
    ck_assert(!marked(0, 11, "hook"));
    ck_assert(!marked(0, 12, "hook"));
    ck_assert(!marked(0, 13, "hook"));
    ck_assert_int_eq(done_count(0), 1);
    ck_assert_int_eq(script_calls(&R1), 1); /* one completion for the flush */

    pthread_mutex_lock(&S.mu);
    ck_assert_int_eq(S.n, 6); /* all but message 5 */
    ck_assert_str_eq(S.reqs[0].idem, "g/orders/0/10/hook/0");
    ck_assert_str_eq(S.reqs[4].idem, "g/orders/0/12/hook/1");
    ck_assert_str_eq(S.reqs[5].idem, "g/orders/1/8/hook/0");
    pthread_mutex_unlock(&S.mu);

    /* A flush with nothing to mark makes no call. */
    freeReplyObject(cmd(&R1, "CONFIG RESETSTAT"));
    acks_reset();
    write_msg(w, 6, 0, 14, 0, "s500", e0);
    kf_sink_flush(w);
    expect_ack(6, KF_STATUS_RETRY);
    ck_assert_int_eq(script_calls(&R1), 0);

    /* A newer owner: the request went out (the receiver dedupes on the key),
     * the zombie is told FENCED and marks nothing. */
    assign(0);
    write_msg(w, 7, 0, 15, 0, "ok", e0);
    kf_sink_flush(w);
    expect_ack(7, KF_STATUS_FENCED);
    ck_assert(!marked(0, 15, "hook"));

    kf_sink_worker_close(w);
    kf_sink_close(s);
    MHD_stop_daemon(d);
}
END_TEST

START_TEST(test_http_state_down_retry)
{
    acks_reset();
    int port;
    struct MHD_Daemon *d = http_start(&port);
    char down[64];
    snprintf(down, sizeof down, "redis://127.0.0.1:%d/0", kf_test_free_port());
    kf_sink *s = open_hook(port, down);
    kf_sink_worker *w = open_worker(s);
    write_msg(w, 0, 0, 10, 0, "ok", 1);
    kf_sink_flush(w);
    expect_ack(0, KF_STATUS_RETRY); /* sent, but not marked: the retry resends */
    pthread_mutex_lock(&S.mu);
    ck_assert_int_eq(S.n, 1);
    pthread_mutex_unlock(&S.mu);
    kf_sink_worker_close(w);
    kf_sink_close(s);
    MHD_stop_daemon(d);
}
END_TEST

START_TEST(test_http_at_least_once_unchanged)
{
    acks_reset();
    int port;
    struct MHD_Daemon *d = http_start(&port);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/in", port);
    kf_sink_config c = {.name = "hook", .type = KF_SINK_HTTP, .url = url, .timeout_ms = 3000};
    kf_sink_env env = env_of(R1.url, 0);
    kf_sink *s = open_sink(&c, &env);
    kf_sink_worker *w = open_worker(s);
    write_msg(w, 0, 0, 10, 0, "ok", 0);
    kf_sink_flush(w);
    expect_ack(0, KF_STATUS_OK);
    ck_assert_int_eq(int_of(cmd(&R1, "DBSIZE")), 0);
    kf_sink_worker_close(w);
    kf_sink_close(s);
    MHD_stop_daemon(d);
}
END_TEST

/* ----------------------------------------------------------------- suite */

static Suite *sinks_eos_suite(void)
{
    Suite *s = suite_create("sinks_eos");
    TCase *tc = tcase_create("redis");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, servers_up, servers_down);
    tcase_add_checked_fixture(tc, servers_reset, NULL);
    tcase_add_test(tc, test_redis_applies_and_marks);
    tcase_add_test(tc, test_redis_many_writes_one_flush);
    tcase_add_test(tc, test_redis_replay_not_written_twice);
    tcase_add_test(tc, test_redis_stale_epoch_fenced);
    tcase_add_test(tc, test_redis_outputs_of_one_record_are_one_item);
    tcase_add_test(tc, test_redis_failed_write_not_marked);
    tcase_add_test(tc, test_redis_at_least_once_unchanged);
    tcase_add_test(tc, test_redis_external);
    tcase_add_test(tc, test_redis_same_server_other_spelling);
    tcase_add_test(tc, test_redis_down_retry);
    suite_add_tcase(s, tc);

    tc = tcase_create("restart");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_redis_state_restart);
    suite_add_tcase(s, tc);

    tc = tcase_create("http");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, servers_up, servers_down);
    tcase_add_checked_fixture(tc, servers_reset, NULL);
    tcase_add_test(tc, test_http_marks_after_2xx);
    tcase_add_test(tc, test_http_state_down_retry);
    tcase_add_test(tc, test_http_at_least_once_unchanged);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the daemon does */
    SRunner *sr = srunner_create(sinks_eos_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
