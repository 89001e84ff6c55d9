/*
 * Unit tests of the exactly-once state (eos/state.c) against a
 * REAL redis-server that the suite starts itself on a free loopback port
 * (no persistence, in a temporary directory) and stops at the end.
 *
 * The server is daemonized with a pidfile so that a test running in a forked
 * Check child can kill and restart it and the suite's teardown still finds
 * the current one. Each test starts from FLUSHALL; inspections go through a
 * separate hiredis connection. Every wait is on a condition with a deadline.
 */
#include "eos/state.h"
#include "eos/lua_scripts.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- server */

static struct {
    char dir[256];
    int port;  /* the suite's server */
    int port2; /* started only by test_unreachable_then_up */
    bool ok;
    char why[1024];
} S;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

static void pidfile_of(int port, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/redis-%d.pid", S.dir, port);
}

/* True when a PING on `port` gets PONG. */
static bool ping(int port)
{
    struct timeval tv = {0, 300 * 1000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    bool ok = false;
    if (c && !c->err && redisSetTimeout(c, tv) == REDIS_OK) {
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
        freeReplyObject(r);
    }
    redisFree(c);
    return ok;
}

/* True when nothing listens on `port` any more. */
static bool port_closed(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool closed = connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno == ECONNREFUSED;
    close(fd);
    return closed;
}

/* Starts a daemonized redis-server on `port`; 0 once it answers PING, else
 * -1 with a sentence in S.why. */
static int server_start(int port)
{
    char portstr[16], pidfile[512], logfile[512];
    snprintf(portstr, sizeof portstr, "%d", port);
    pidfile_of(port, pidfile, sizeof pidfile);
    snprintf(logfile, sizeof logfile, "%s/redis-%d.log", S.dir, port);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(S.why, sizeof S.why, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* The daemon must not keep the test runner's descriptors open. */
        close_range(3, ~0U, 0);
        execlp("redis-server", "redis-server", "--port", portstr, "--bind", "127.0.0.1", "--save",
               "", "--appendonly", "no", "--dir", S.dir, "--pidfile", pidfile, "--logfile", logfile,
               "--daemonize", "yes", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        snprintf(S.why, sizeof S.why,
                 WIFEXITED(st) && WEXITSTATUS(st) == 127
                     ? "redis-server is not installed (not found in PATH): apt-get install "
                       "redis-server"
                     : "redis-server failed to start (status %d), see %s",
                 st, logfile);
        return -1;
    }
    for (int64_t end = now_ms() + 10000; now_ms() < end; nap_ms(20))
        if (ping(port)) return 0;
    snprintf(S.why, sizeof S.why, "redis-server on port %d did not answer PING within 10 s (%s)",
             port, logfile);
    return -1;
}

/* Sends `sig` to the server on `port` (from its pidfile) and waits until the
 * port is closed. */
static void server_stop(int port, int sig)
{
    char pidfile[512];
    pidfile_of(port, pidfile, sizeof pidfile);
    FILE *f = fopen(pidfile, "r");
    long pid = 0;
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1) pid = 0;
        fclose(f);
    }
    if (pid > 0) kill((pid_t)pid, sig);
    for (int64_t end = now_ms() + 10000; now_ms() < end && !port_closed(port);)
        nap_ms(20);
    /* Reap it when it is ours (see suite_setup); ECHILD otherwise. */
    if (pid > 0) waitpid((pid_t)pid, NULL, 0);
    unlink(pidfile);
}

static void suite_setup(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the daemon does */
    /* Daemonized servers become our children, so we can reap them: PID 1 in
     * a container may never do it. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    snprintf(S.dir, sizeof S.dir, "/tmp/kf-test-idem-XXXXXX");
    if (!mkdtemp(S.dir)) {
        snprintf(S.why, sizeof S.why, "mkdtemp: %s", strerror(errno));
        return;
    }
    S.port = free_port();
    S.port2 = free_port();
    S.ok = S.port > 0 && S.port2 > 0 && S.port != S.port2 && server_start(S.port) == 0;
    if (!S.ok && !S.why[0]) snprintf(S.why, sizeof S.why, "no free loopback port");
}

static void suite_teardown(void)
{
    if (!S.dir[0]) return;
    server_stop(S.port, SIGTERM);
    char pidfile[512];
    pidfile_of(S.port2, pidfile, sizeof pidfile);
    if (access(pidfile, F_OK) == 0) server_stop(S.port2, SIGTERM);
    char path[512];
    snprintf(path, sizeof path, "%s/redis-%d.log", S.dir, S.port);
    unlink(path);
    snprintf(path, sizeof path, "%s/redis-%d.log", S.dir, S.port2);
    unlink(path);
    rmdir(S.dir);
    /* Servers killed from forked tests were reparented to us. */
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

/* ------------------------------------------------- per-test connection */

static redisContext *R; /* the inspection connection */

static void test_setup(void)
{
    ck_assert_msg(S.ok, "no redis-server for the test: %s", S.why);
    struct timeval tv = {5, 0};
    R = redisConnectWithTimeout("127.0.0.1", S.port, tv);
    ck_assert_msg(R && !R->err, "cannot connect to the test redis-server");
    redisSetTimeout(R, tv);
    redisReply *r = redisCommand(R, "FLUSHALL");
    ck_assert_ptr_nonnull(r);
    freeReplyObject(r);
}

static void test_teardown(void)
{
    /* Back to the defaults, in case a test logged every command. */
    if (R && !R->err) {
        freeReplyObject(redisCommand(R, "CONFIG SET slowlog-log-slower-than 10000"));
        freeReplyObject(redisCommand(R, "CONFIG SET slowlog-max-len 128"));
    }
    redisFree(R);
    R = NULL;
}

/* Reconnects R (after the server was restarted). */
static void reconnect_R(void)
{
    redisFree(R);
    struct timeval tv = {5, 0};
    R = redisConnectWithTimeout("127.0.0.1", S.port, tv);
    ck_assert_msg(R && !R->err, "cannot reconnect to the test redis-server");
    redisSetTimeout(R, tv);
}

/* A check that records nothing when it holds: Check's ck_assert writes its
 * location to a file on every pass, and the differential test makes
 * millions of checks. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) ck_abort_msg(__VA_ARGS__);                                                    \
    } while (0)

/* An inspection command; its reply must not be an error (CHECK: it is
 * called in loops). */
static redisReply *rcmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(R, fmt, ap);
    va_end(ap);
    CHECK(r != NULL, "inspection command failed: %s", R->errstr);
    CHECK(r->type != REDIS_REPLY_ERROR, "inspection command: %s", r->str);
    return r;
}

static long long rint_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(R, fmt, ap);
    va_end(ap);
    ck_assert_msg(r && r->type == REDIS_REPLY_INTEGER, "expected an integer reply");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* GET as a number; -1 when the key is missing. */
static long long rget_num(const char *key)
{
    redisReply *r = rcmd("GET %s", key);
    long long v = r->type == REDIS_REPLY_NIL ? -1 : atoll(r->str);
    freeReplyObject(r);
    return v;
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

/* How many times each command ran since CONFIG RESETSTAT: all read from one
 * INFO commandstats, each checked, naming the command that is off. */
typedef struct calls_want {
    const char *cmd;
    long long calls;
} calls_want;

static void assert_calls_(const calls_want *want, size_t n)
{
    redisReply *r = rcmd("INFO commandstats");
    for (size_t i = 0; i < n; i++) {
        long long got = calls_in(r->str, want[i].cmd);
        ck_assert_msg(got == want[i].calls, "%s ran %lld times, want %lld", want[i].cmd, got,
                      want[i].calls);
    }
    freeReplyObject(r);
}

/* ASSERT_CALLS({"rpush", 3}, {"zadd", 1}, ...) */
#define ASSERT_CALLS(...)                                                                          \
    do {                                                                                           \
        const calls_want want_[] = {__VA_ARGS__};                                                  \
        assert_calls_(want_, sizeof want_ / sizeof *want_);                                        \
    } while (0)

/* Asserts st[i] == want[i] for the n items, naming the first that is off. */
static void assert_st_(const int *st, const int *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(st[i] == want[i], "item %zu: status %d, want %d", i, st[i], want[i]);
}

/* ASSERT_ST(st, status of item 0, status of item 1, ...) */
#define ASSERT_ST(st, ...)                                                                         \
    do {                                                                                           \
        const int want_[] = {__VA_ARGS__};                                                         \
        assert_st_((st), want_, sizeof want_ / sizeof *want_);                                     \
    } while (0)

/* Asserts st[from..to) all equal want; `what` names them in the message. */
static void assert_st_all(const int *st, size_t from, size_t to, int want, const char *what)
{
    for (size_t i = from; i < to; i++)
        if (st[i] != want) ck_abort_msg("%s item %zu: status %d, want %d", what, i, st[i], want);
}

#define TAG      "{kft:g:t:0}"
#define EPOCH(p) "{kft:g:t:" #p "}:epoch"
#define DONE(p)  "{kft:g:t:" #p "}:done"
#define BASE(p)  "{kft:g:t:" #p "}:base"

/* A handle on the server at `port` with key prefix `prefix`, group "g". */
static kf_eos_state *idem_at(int port, const char *prefix)
{
    char url[128], err[512] = "";
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    kf_eos_state *c = kf_eos_state_new(url, prefix, "g", err, sizeof err);
    ck_assert_msg(c != NULL, "kf_eos_state_new: %s", err);
    return c;
}

static kf_eos_state *idem_on(int port)
{
    return idem_at(port, "kft");
}

static int64_t assign(kf_eos_state *c, int32_t partition)
{
    kf_eos_assigned a;
    char err[512];
    int rc = kf_eos_state_assign(c, "t", partition, &a, err, sizeof err);
    ck_assert_msg(rc == KF_STATUS_OK, "assign: %d %s", rc, err);
    int64_t e = a.epoch;
    kf_eos_assigned_free(&a);
    return e;
}

/* The suite's server with partitions 0 .. nparts - 1 assigned (the usual
 * start of a test): their epochs in e[0 .. nparts - 1]. */
static kf_eos_state *idem_assigned(int nparts, int64_t *e)
{
    kf_eos_state *c = idem_on(S.port);
    for (int p = 0; p < nparts; p++)
        e[p] = assign(c, p);
    return c;
}

/* idem_assigned() with key S a string, so that list writes to S fail with
 * WRONGTYPE. */
static kf_eos_state *idem_assigned_bad_S(int nparts, int64_t *e)
{
    kf_eos_state *c = idem_assigned(nparts, e);
    freeReplyObject(rcmd("SET S str"));
    return c;
}

/* Items of one part, each with at most one write "<cmd> <key> <value>". */
#define BATCH_MAX 1200
typedef struct batch {
    kf_eos_item items[BATCH_MAX];
    kf_eos_write writes[BATCH_MAX];
    const char *argv[BATCH_MAX][3];
    size_t len[BATCH_MAX][3];
    char val[BATCH_MAX][32];
    size_t n;
} batch;

static void add(batch *b, int64_t offset, const char *cmd, const char *key, const char *val)
{
    ck_assert_uint_lt(b->n, BATCH_MAX);
    size_t i = b->n++;
    b->items[i] = (kf_eos_item){.offset = offset};
    if (!cmd) return;
    snprintf(b->val[i], sizeof b->val[i], "%s", val);
    b->argv[i][0] = cmd;
    b->argv[i][1] = key;
    b->argv[i][2] = b->val[i];
    for (int j = 0; j < 3; j++)
        b->len[i][j] = strlen(b->argv[i][j]);
    b->writes[i] = (kf_eos_write){.argc = 3, .argv = b->argv[i], .argvlen = b->len[i]};
    b->items[i].writes = &b->writes[i];
    b->items[i].nwrites = 1;
}

/* Adds n records at offsets first, first + 1, ... each writing
 * "<cmd> <key> <vprefix><i>" (i from 0). */
static void add_n(batch *b, int64_t first, int n, const char *cmd, const char *key,
                  const char *vprefix)
{
    for (int i = 0; i < n; i++) {
        char v[32];
        snprintf(v, sizeof v, "%s%d", vprefix, i);
        add(b, first + i, cmd, key, v);
    }
}

static kf_eos_part part_at(const kf_eos_item *items, size_t n, int32_t partition, int64_t epoch,
                           int64_t trim)
{
    return (kf_eos_part){.topic = "t",
                         .partition = partition,
                         .epoch = epoch,
                         .trim = trim,
                         .items = items,
                         .nitems = n};
}

static kf_eos_part part_of(const batch *b, int32_t partition, int64_t epoch, int64_t trim)
{
    return part_at(b->items, b->n, partition, epoch, trim);
}

/* complete() of one part; asserts KF_STATUS_OK and fills status. */
static void complete1(kf_eos_state *c, const char *sink, const batch *b, int32_t partition,
                      int64_t epoch, int64_t trim, int *status)
{
    kf_eos_part p = part_of(b, partition, epoch, trim);
    char err[512];
    int rc = kf_eos_state_complete(c, sink, &p, 1, status, err, sizeof err);
    ck_assert_msg(rc == KF_STATUS_OK, "complete: %d %s", rc, err);
}

/* complete() for `sink` on partition 0 of one record at `offset` writing
 * "RPUSH key val" (a mark only when key is NULL); returns its status. */
static int complete_rpush(kf_eos_state *c, const char *sink, int64_t epoch, int64_t offset,
                          const char *key, const char *val)
{
    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, offset, key ? "RPUSH" : NULL, key, val);
    int st[1] = {-1};
    complete1(c, sink, &b, 0, epoch, -1, st);
    return st[0];
}

/* Marks offsets first .. first + n - 1 done for sink "a" on partition 0
 * (marks only, no writes); each must be APPLIED. */
static void complete_marks(kf_eos_state *c, int64_t epoch, int64_t first, int n)
{
    static batch b;
    memset(&b, 0, sizeof b);
    for (int i = 0; i < n; i++)
        add(&b, first + i, NULL, NULL, NULL);
    static int st[BATCH_MAX];
    complete1(c, "a", &b, 0, epoch, -1, st);
    assert_st_all(st, 0, (size_t)n, KF_EOS_APPLIED, "mark");
}

/* Items with any number of writes of any shape (string literals, kept by
 * pointer): item() starts one, wr() adds a write to the last item. */
typedef struct mbatch {
    kf_eos_item items[64];
    kf_eos_write writes[128];
    const char *argv[128][8];
    size_t nitems, nwrites;
} mbatch;

static void mclear(mbatch *b)
{
    memset(b, 0, sizeof *b);
}

static void item(mbatch *b, int64_t offset)
{
    ck_assert_uint_lt(b->nitems, 64);
    b->items[b->nitems++] = (kf_eos_item){.offset = offset, .writes = &b->writes[b->nwrites]};
}

/* wr(b, argc, argv0, argv1, ...) */
static void wr(mbatch *b, int argc, ...)
{
    ck_assert_uint_gt(b->nitems, 0);
    ck_assert_uint_lt(b->nwrites, 128);
    ck_assert_int_le(argc, 8);
    size_t w = b->nwrites++;
    va_list ap;
    va_start(ap, argc);
    for (int j = 0; j < argc; j++)
        b->argv[w][j] = va_arg(ap, const char *);
    va_end(ap);
    b->writes[w] = (kf_eos_write){.argc = argc, .argv = b->argv[w]};
    b->items[b->nitems - 1].nwrites++;
}

/* An item at `offset` with the one write "RPUSH key val". */
static void item_rpush(mbatch *b, int64_t offset, const char *key, const char *val)
{
    item(b, offset);
    wr(b, 3, "RPUSH", key, val);
}

static kf_eos_part mpart_of(const mbatch *b, int32_t partition, int64_t epoch, int64_t trim)
{
    return part_at(b->items, b->nitems, partition, epoch, trim);
}

/* Asserts that list `key` holds exactly the n strings of want, in order. */
static void assert_list(const char *key, const char *const *want, size_t n)
{
    redisReply *r = rcmd("LRANGE %s 0 -1", key);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_msg(r->elements == n, "%s holds %zu values, want %zu", key, r->elements, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(strcmp(r->element[i]->str, want[i]) == 0, "%s[%zu] = %s, want %s", key, i,
                      r->element[i]->str, want[i]);
    freeReplyObject(r);
}

/* Asserts list `key` holds exactly the values of b's writes, in order. */
static void assert_list_of(const char *key, const batch *b)
{
    static const char *want[BATCH_MAX];
    for (size_t i = 0; i < b->n; i++)
        want[i] = b->val[i];
    assert_list(key, want, b->n);
}

/* HGET as a string into out ("" when missing). */
static void hget(const char *key, const char *field, char *out, size_t outlen)
{
    redisReply *r = rcmd("HGET %s %s", key, field);
    snprintf(out, outlen, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

static bool marked(int32_t partition, int64_t offset, const char *sink)
{
    char key[64];
    snprintf(key, sizeof key, "{kft:g:t:%" PRId32 "}:done", partition);
    redisReply *r = rcmd("ZSCORE %s %" PRId64 "/%s", key, offset, sink);
    bool m = r->type != REDIS_REPLY_NIL;
    freeReplyObject(r);
    return m;
}

/* ----------------------------------------------------------------- tests */

START_TEST(test_assign_epoch_and_done)
{
    kf_eos_state *c = idem_on(S.port);
    char tag[128];
    kf_eos_state_tag(c, "t", 0, tag, sizeof tag);
    ck_assert_str_eq(tag, TAG);

    kf_eos_assigned a;
    char err[512];
    ck_assert_int_eq(kf_eos_state_assign(c, "t", 0, &a, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(a.epoch, 1);
    ck_assert_int_eq(a.base, -1);
    ck_assert_uint_eq(a.ndone, 0);
    kf_eos_assigned_free(&a);

    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 5, "RPUSH", "L", "v5");
    add(&b, 6, "RPUSH", "L", "v6");
    int st[2];
    complete1(c, "a", &b, 0, 1, -1, st);
    ASSERT_ST(st, KF_EOS_APPLIED, KF_EOS_APPLIED);
    /* A mark only (e.g. HTTP after its 2xx). */
    ck_assert_int_eq(complete_rpush(c, "hook/x", 1, 5, NULL, NULL), KF_EOS_APPLIED);

    ck_assert_int_eq(kf_eos_state_assign(c, "t", 0, &a, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(a.epoch, 2);
    ck_assert_int_eq(a.base, -1);
    ck_assert_uint_eq(a.ndone, 3);
    ck_assert_int_eq(a.done[0].offset, 5);
    ck_assert_str_eq(a.done[0].sink, "a");
    ck_assert_int_eq(a.done[1].offset, 5);
    ck_assert_str_eq(a.done[1].sink, "hook/x");
    ck_assert_int_eq(a.done[2].offset, 6);
    ck_assert_str_eq(a.done[2].sink, "a");
    kf_eos_assigned_free(&a);
    ck_assert_ptr_null(a.mem);
    kf_eos_assigned_free(NULL);

    ck_assert_int_eq(rget_num(EPOCH(0)), 2);
    ck_assert_int_eq(rint_("LLEN L"), 2);
    /* Another partition has its own epoch. */
    ck_assert_int_eq(assign(c, 1), 1);
    kf_eos_state_destroy(c);
    kf_eos_state_destroy(NULL);
}
END_TEST

START_TEST(test_stale_epoch_fenced)
{
    kf_eos_state *c = idem_on(S.port);
    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 3, "RPUSH", "L", "x");
    add(&b, 4, "RPUSH", "L", "y");
    int st[2];

    /* Never assigned: no epoch key counts as stale. */
    complete1(c, "a", &b, 0, 1, 10, st);
    ASSERT_ST(st, KF_EOS_FENCED, KF_EOS_FENCED);

    ck_assert_int_eq(assign(c, 0), 1);
    ck_assert_int_eq(assign(c, 0), 2);
    for (int64_t e = 1; e <= 3; e += 2) { /* older and newer than the owner's */
        st[0] = st[1] = -1;
        complete1(c, "a", &b, 0, e, 10, st);
        ASSERT_ST(st, KF_EOS_FENCED, KF_EOS_FENCED);
    }
    /* Nothing written: no effect, no mark, no trim. */
    ck_assert_int_eq(rint_("EXISTS L"), 0);
    ck_assert_int_eq(rint_("EXISTS %s", DONE(0)), 0);
    ck_assert_int_eq(rint_("EXISTS %s", BASE(0)), 0);

    /* The owner's epoch writes (so the checks above could have failed). */
    complete1(c, "a", &b, 0, 2, -1, st);
    ASSERT_ST(st, KF_EOS_APPLIED, KF_EOS_APPLIED);
    ck_assert_int_eq(rint_("LLEN L"), 2);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 2);
    kf_eos_state_destroy(c);
}
END_TEST

START_TEST(test_done_not_written_again)
{
    int64_t e;
    kf_eos_state *c = idem_assigned(1, &e);
    ck_assert_int_eq(complete_rpush(c, "a", e, 7, "L", "v7"), KF_EOS_APPLIED);
    ck_assert_int_eq(complete_rpush(c, "a", e, 7, "L", "v7"), KF_EOS_SKIPPED);
    ck_assert_int_eq(rint_("LLEN L"), 1);

    /* A new owner replaying the record: still done for sink a. */
    e = assign(c, 0);
    ck_assert_int_eq(complete_rpush(c, "a", e, 7, "L", "v7"), KF_EOS_SKIPPED);
    ck_assert_int_eq(rint_("LLEN L"), 1);

    /* The same offset for another sink is its own effect. */
    ck_assert_int_eq(complete_rpush(c, "b", e, 7, "L2", "v7"), KF_EOS_APPLIED);
    ck_assert_int_eq(rint_("LLEN L2"), 1);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 2);

    /* The same record twice in one call: written once. */
    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 8, "RPUSH", "L", "v8");
    add(&b, 8, "RPUSH", "L", "v8");
    int st[2];
    complete1(c, "a", &b, 0, e, -1, st);
    ASSERT_ST(st, KF_EOS_APPLIED, KF_EOS_SKIPPED);
    ck_assert_int_eq(rint_("LLEN L"), 2);
    kf_eos_state_destroy(c);
}
END_TEST

START_TEST(test_trim)
{
    int64_t e;
    kf_eos_state *c = idem_assigned(1, &e);
    complete_marks(c, e, 0, 10);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 10);

    char err[512];
    int fenced = -1;
    ck_assert_int_eq(kf_eos_state_trim(c, "t", 0, e, 6, &fenced, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(fenced, 0);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 4); /* 6..9 */
    ck_assert_int_eq(rint_("ZCOUNT %s -inf 5", DONE(0)), 0);
    ck_assert_int_eq(rget_num(BASE(0)), 6);

    /* The watermark never goes back. */
    ck_assert_int_eq(kf_eos_state_trim(c, "t", 0, e, 3, &fenced, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(rget_num(BASE(0)), 6);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 4);

    /* Fenced: nothing trimmed. */
    ck_assert_int_eq(kf_eos_state_trim(c, "t", 0, e + 1, 9, &fenced, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_int_eq(fenced, 1);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 4);
    ck_assert_int_eq(rget_num(BASE(0)), 6);

    /* A record below the watermark is done and committed: not written. */
    ck_assert_int_eq(complete_rpush(c, "a", e, 2, "L", "late"), KF_EOS_SKIPPED);
    ck_assert_int_eq(rint_("EXISTS L"), 0);

    kf_eos_assigned a;
    ck_assert_int_eq(kf_eos_state_assign(c, "t", 0, &a, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(a.base, 6);
    ck_assert_uint_eq(a.ndone, 4);
    ck_assert_int_eq(a.done[0].offset, 6);
    kf_eos_assigned_free(&a);
    kf_eos_state_destroy(c);
}
END_TEST

/* The holder record: assign names the owner (a transactional.id) and says
 * whom it replaces; only that owner's clean release clears it, fenced by
 * the epoch like every other write. */
START_TEST(test_owner_hand_over)
{
    kf_eos_state *c = idem_on(S.port);
    kf_eos_assigned a;
    char err[512];
    ck_assert_int_eq(kf_eos_state_assign_owned(c, "t", 0, "txn-A", &a, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_str_eq(a.prev_owner, "");
    int64_t ea = a.epoch;
    kf_eos_assigned_free(&a);

    /* A takes B's place without releasing: B learns it was A. */
    ck_assert_int_eq(kf_eos_state_assign_owned(c, "t", 0, "txn-B", &a, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_str_eq(a.prev_owner, "txn-A");
    int64_t eb = a.epoch;
    ck_assert_int_gt(eb, ea);
    kf_eos_assigned_free(&a);

    /* The zombie A cannot release what B holds: stale epoch, and not its. */
    int fenced = 0;
    ck_assert_int_eq(kf_eos_state_release(c, "t", 0, ea, -1, "txn-A", &fenced, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_int_eq(fenced, 1);
    ck_assert_int_eq(kf_eos_state_release(c, "t", 0, eb, -1, "txn-A", &fenced, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_int_eq(fenced, 0);
    ck_assert_int_eq(rint_("EXISTS {kft:g:t:0}:owner"), 1);

    /* B hands over cleanly: the next owner finds nobody to fence. */
    ck_assert_int_eq(kf_eos_state_release(c, "t", 0, eb, -1, "txn-B", &fenced, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_int_eq(rint_("EXISTS {kft:g:t:0}:owner"), 0);
    ck_assert_int_eq(kf_eos_state_assign_owned(c, "t", 0, "txn-C", &a, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_str_eq(a.prev_owner, "");
    kf_eos_assigned_free(&a);

    /* A mapping without a transaction records nobody and leaves the holder. */
    ck_assert_int_eq(kf_eos_state_assign(c, "t", 0, &a, err, sizeof err), KF_STATUS_OK);
    ck_assert_str_eq(a.prev_owner, "txn-C");
    kf_eos_assigned_free(&a);
    kf_eos_state_destroy(c);
}
END_TEST

START_TEST(test_trim_rides_on_complete)
{
    int64_t e;
    kf_eos_state *c = idem_assigned(1, &e);
    complete_marks(c, e, 0, 5);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 5);

    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 5, "RPUSH", "L", "v5");
    int st[1];
    complete1(c, "a", &b, 0, e, 3, st);
    ck_assert_int_eq(st[0], KF_EOS_APPLIED);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 3); /* 3, 4, 5 */
    ck_assert_int_eq(rint_("ZCOUNT %s -inf 2", DONE(0)), 0);
    ck_assert_int_eq(rget_num(BASE(0)), 3);
    ck_assert_int_eq(rint_("LLEN L"), 1);

    /* A trim with no items still rides (a part with nitems = 0). */
    memset(&b, 0, sizeof b);
    complete1(c, "a", &b, 0, e, 5, st);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 1);
    ck_assert_int_eq(rget_num(BASE(0)), 5);
    kf_eos_state_destroy(c);
}
END_TEST

START_TEST(test_reload_after_script_flush)
{
    int64_t e;
    kf_eos_state *c = idem_assigned(1, &e);
    ck_assert_int_eq(complete_rpush(c, "a", e, 1, "L", "v1"), KF_EOS_APPLIED);

    freeReplyObject(rcmd("SCRIPT FLUSH"));
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    ck_assert_int_eq(complete_rpush(c, "a", e, 2, "L", "v2"), KF_EOS_APPLIED);
    ck_assert_int_eq(rint_("LLEN L"), 2);
    /* The connection survived, so the reload came from NOSCRIPT. */
    ASSERT_CALLS({"script|load", 1}, {"evalsha", 2});

    /* Other scripts reload too. */
    freeReplyObject(rcmd("SCRIPT FLUSH"));
    ck_assert_int_eq(assign(c, 0), e + 1);
    kf_eos_state_destroy(c);
}
END_TEST

START_TEST(test_reload_after_restart)
{
    kf_eos_state *c = idem_on(S.port);
    ck_assert_int_eq(assign(c, 0), 1);

    server_stop(S.port, SIGKILL);
    ck_assert_msg(server_start(S.port) == 0, "%s", S.why);
    reconnect_R();

    /* The old connection is dead: the first call may see it (RETRY), the
     * next one reconnects and reloads the scripts. */
    kf_eos_assigned a;
    char err[512] = "";
    int rc = kf_eos_state_assign(c, "t", 0, &a, err, sizeof err);
    ck_assert_msg(rc == KF_STATUS_OK || rc == KF_STATUS_RETRY, "assign after restart: %d %s", rc,
                  err);
    if (rc == KF_STATUS_RETRY) {
        ck_assert_msg(err[0] != '\0', "RETRY without a sentence");
        rc = kf_eos_state_assign(c, "t", 0, &a, err, sizeof err);
        ck_assert_msg(rc == KF_STATUS_OK, "second assign after restart: %d %s", rc, err);
    }
    ck_assert_int_eq(a.epoch, 1); /* no persistence: the state is gone */
    int64_t e = a.epoch;
    kf_eos_assigned_free(&a);

    ck_assert_int_eq(complete_rpush(c, "a", e, 1, "L", "v1"), KF_EOS_APPLIED);
    ck_assert_int_eq(rint_("LLEN L"), 1);
    kf_eos_state_destroy(c);
}
END_TEST

START_TEST(test_multi_part)
{
    kf_eos_state *c = idem_on(S.port);
    ck_assert_int_eq(assign(c, 0), 1);
    ck_assert_int_eq(assign(c, 1), 1);
    ck_assert_int_eq(assign(c, 0), 2); /* a newer owner took partition 0 */

    static batch b[2];
    memset(b, 0, sizeof b);
    add(&b[0], 10, "RPUSH", "L0", "a");
    add(&b[0], 11, "RPUSH", "L0", "b");
    add(&b[1], 20, "RPUSH", "L1", "c");
    add(&b[1], 21, "RPUSH", "L1", "d");
    kf_eos_part parts[2] = {part_of(&b[0], 0, 1, 5), part_of(&b[1], 1, 1, -1)};
    int st[4] = {-1, -1, -1, -1};
    char err[512];
    ck_assert_int_eq(kf_eos_state_complete(c, "a", parts, 2, st, err, sizeof err), KF_STATUS_OK);
    ASSERT_ST(st, KF_EOS_FENCED, KF_EOS_FENCED, KF_EOS_APPLIED, KF_EOS_APPLIED);
    ck_assert_int_eq(rint_("EXISTS L0"), 0);
    ck_assert_int_eq(rint_("EXISTS %s", DONE(0)), 0);
    ck_assert_int_eq(rint_("EXISTS %s", BASE(0)), 0);
    ck_assert_int_eq(rint_("LLEN L1"), 2);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(1)), 2);
    assert_list_of("L1", &b[1]);

    /* No parts: nothing to do. */
    ck_assert_int_eq(kf_eos_state_complete(c, "a", NULL, 0, st, err, sizeof err), KF_STATUS_OK);
    kf_eos_state_destroy(c);
}
END_TEST

START_TEST(test_binary_values)
{
    int64_t e;
    kf_eos_state *c = idem_assigned(1, &e);
    size_t n = 1 << 20;
    char *val = malloc(n);
    ck_assert_ptr_nonnull(val);
    for (size_t i = 0; i < n; i++)
        val[i] = (char)(i * 31 % 251); /* NULs included */
    static const char key[] = "bin\0key";
    const char *argv[3] = {"SET", key, val};
    size_t len[3] = {3, sizeof key - 1, n};
    kf_eos_write w = {.argc = 3, .argv = argv, .argvlen = len};
    kf_eos_item it = {.offset = 1, .writes = &w, .nwrites = 1};
    kf_eos_part p = part_at(&it, 1, 0, e, -1);
    int st[1];
    char err[512];
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(st[0], KF_EOS_APPLIED);

    redisReply *r = rcmd("GET %b", key, sizeof key - 1);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_uint_eq(r->len, n);
    ck_assert(memcmp(r->str, val, n) == 0);
    freeReplyObject(r);
    ck_assert_int_eq(rint_("EXISTS bin"), 0); /* not cut at the NUL */
    free(val);
    kf_eos_state_destroy(c);
}
END_TEST

START_TEST(test_write_error_only_that_item)
{
    int64_t e;
    kf_eos_state *c = idem_assigned_bad_S(1, &e);
    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 1, "RPUSH", "L", "a");
    add(&b, 2, "RPUSH", "S", "b"); /* WRONGTYPE */
    add(&b, 3, "RPUSH", "L", "c");
    int st[4];
    kf_eos_part p = part_of(&b, 0, e, -1);
    char err[512] = "";
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_OK);
    ASSERT_ST(st, KF_EOS_APPLIED, KF_EOS_ERROR, KF_EOS_APPLIED);
    ck_assert_msg(strncmp(err, "WRONGTYPE", 9) == 0, "err: %s", err);
    ck_assert_int_eq(rint_("LLEN L"), 2);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 2);
    ck_assert(!marked(0, 2, "a"));

    /* An item with two writes where the second fails: unmarked, and (Lua
     * scripts do not roll back) its first write stays, as documented. */
    const char *w1[3] = {"RPUSH", "L", "d"}, *w2[3] = {"RPUSH", "S", "e"};
    kf_eos_write ws[2] = {{.argc = 3, .argv = w1}, {.argc = 3, .argv = w2}};
    kf_eos_item it = {.offset = 4, .writes = ws, .nwrites = 2};
    p = part_at(&it, 1, 0, e, -1);
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(st[0], KF_EOS_ERROR);
    ck_assert_int_eq(rint_("LLEN L"), 3);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 2);

    /* A bad write (no arguments) is refused before any round trip. */
    kf_eos_write bad = {.argc = 0, .argv = w1};
    it = (kf_eos_item){.offset = 5, .writes = &bad, .nwrites = 1};
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_FAIL);
    ck_assert_int_eq(kf_eos_state_complete(c, "", &p, 1, st, err, sizeof err), KF_STATUS_FAIL);
    kf_eos_state_destroy(c);
}
END_TEST

START_TEST(test_claim)
{
    int64_t e;
    kf_eos_state *c = idem_assigned(1, &e);
    char err[512];
    int dup[4], fenced = -1;

    const char *k1[3] = {"k1", "k2", "k\0x"};
    size_t l1[3] = {2, 2, 3};
    int64_t o1[3] = {1, 2, 3};
    ck_assert_int_eq(
        kf_eos_state_claim(c, "t", 0, e, k1, l1, o1, 3, 60000, dup, &fenced, err, sizeof err),
        KF_STATUS_OK);
    ck_assert_int_eq(fenced, 0);
    ASSERT_ST(dup, 0, 0, 0);
    ck_assert_int_eq(rint_("EXISTS %b", TAG ":bk:k\0x", sizeof(TAG ":bk:k\0x") - 1), 1);
    long long ttl = rint_("PTTL " TAG ":bk:k1");
    ck_assert_msg(ttl > 0 && ttl <= 60000, "PTTL %lld", ttl);

    /* Replay of the same record, then a producer-side duplicate, then two
     * records with one key in the same call. */
    const char *k2[4] = {"k1", "k2", "n", "n"};
    int64_t o2[4] = {1, 9, 4, 5};
    ck_assert_int_eq(
        kf_eos_state_claim(c, "t", 0, e, k2, NULL, o2, 4, 60000, dup, &fenced, err, sizeof err),
        KF_STATUS_OK);
    ASSERT_ST(dup, 0, 1, 0, 1);

    /* Fenced: nothing written. */
    const char *k3[1] = {"z"};
    int64_t o3[1] = {7};
    ck_assert_int_eq(
        kf_eos_state_claim(c, "t", 0, e - 1, k3, NULL, o3, 1, 60000, dup, &fenced, err, sizeof err),
        KF_STATUS_OK);
    ck_assert_int_eq(fenced, 1);
    ck_assert_int_eq(rint_("EXISTS " TAG ":bk:z"), 0);

    /* After the window the key is free again. */
    const char *k4[1] = {"w"};
    int64_t o4[1] = {10}, o5[1] = {11};
    ck_assert_int_eq(
        kf_eos_state_claim(c, "t", 0, e, k4, NULL, o4, 1, 100, dup, &fenced, err, sizeof err),
        KF_STATUS_OK);
    ck_assert_int_eq(dup[0], 0);
    ck_assert_int_eq(
        kf_eos_state_claim(c, "t", 0, e, k4, NULL, o5, 1, 100, dup, &fenced, err, sizeof err),
        KF_STATUS_OK);
    ck_assert_int_eq(dup[0], 1);
    bool freed = false;
    for (int64_t end = now_ms() + 5000; !freed && now_ms() < end; nap_ms(20)) {
        ck_assert_int_eq(
            kf_eos_state_claim(c, "t", 0, e, k4, NULL, o5, 1, 100, dup, &fenced, err, sizeof err),
            KF_STATUS_OK);
        freed = dup[0] == 0;
    }
    ck_assert_msg(freed, "the marker did not expire after its 100 ms window");

    ck_assert_int_eq(
        kf_eos_state_claim(c, "t", 0, e, k4, NULL, o5, 1, 0, dup, &fenced, err, sizeof err),
        KF_STATUS_FAIL);
    kf_eos_state_destroy(c);
}
END_TEST

START_TEST(test_round_trips)
{
    int64_t e[3];
    kf_eos_state *c = idem_assigned(3, e);
    static batch b[3];
    memset(b, 0, sizeof b);
    for (int i = 0; i < 500; i++) {
        char v[32];
        snprintf(v, sizeof v, "v%d", i);
        add(&b[i % 3], 1000 + i, "RPUSH", "L", v);
    }
    kf_eos_part parts[3];
    for (int p = 0; p < 3; p++)
        parts[p] = part_of(&b[p], p, e[p], 900);

    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    static int st[500];
    char err[512];
    ck_assert_int_eq(kf_eos_state_complete(c, "a", parts, 3, st, err, sizeof err), KF_STATUS_OK);
    assert_st_all(st, 0, 500, KF_EOS_APPLIED, "");
    /* One RPUSH per part (each part's items are one run on L), one ZMSCORE
     * and one ZADD per part: not one per record. */
    ASSERT_CALLS({"evalsha", 1}, {"eval", 0}, {"rpush", 3}, {"zmscore", 3}, {"zadd", 3},
                 {"zscore", 0});
    ck_assert_int_eq(rint_("LLEN L"), 500);

    /* claim: one call for 500 keys too. */
    static const char *keys[500];
    static char kbuf[500][16];
    static int64_t offs[500];
    static int dup[500];
    for (int i = 0; i < 500; i++) {
        snprintf(kbuf[i], sizeof kbuf[i], "key%d", i);
        keys[i] = kbuf[i];
        offs[i] = 1000 + i;
    }
    int fenced;
    ck_assert_int_eq(kf_eos_state_claim(c, "t", 0, e[0], keys, NULL, offs, 500, 60000, dup, &fenced,
                                        err, sizeof err),
                     KF_STATUS_OK);
    ASSERT_CALLS({"evalsha", 2});
    kf_eos_state_destroy(c);
}
END_TEST

/* 200 single-RPUSH records of one part on one list: a constant number of
 * Redis commands inside the script (one RPUSH, one ZMSCORE, one ZADD), not
 * three per record; the values land in item order. */
START_TEST(test_complete_o1_per_part)
{
    int64_t e;
    kf_eos_state *c = idem_assigned(1, &e);
    static batch b;
    memset(&b, 0, sizeof b);
    add_n(&b, 100, 200, "RPUSH", "L", "v");
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    static int st[200];
    complete1(c, "a", &b, 0, e, -1, st);
    assert_st_all(st, 0, 200, KF_EOS_APPLIED, "");
    ASSERT_CALLS({"evalsha", 1}, {"rpush", 1}, {"zmscore", 1}, {"zadd", 1}, {"zscore", 0});
    assert_list_of("L", &b);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 200);
    ck_assert_int_eq(rint_("ZCOUNT %s 100 299", DONE(0)), 200);
    ck_assert(marked(0, 100, "a") && marked(0, 299, "a"));

    /* Replayed: all SKIPPED by the one ZMSCORE; no write and no ZADD. */
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    complete1(c, "a", &b, 0, e, -1, st);
    assert_st_all(st, 0, 200, KF_EOS_SKIPPED, "replay");
    ASSERT_CALLS({"zmscore", 1}, {"rpush", 0}, {"zadd", 0});
    ck_assert_int_eq(rint_("LLEN L"), 200);
    kf_eos_state_destroy(c);
}
END_TEST

/* More items than one call may carry (1000 values): the run, the ZMSCORE
 * and the ZADD are split, order and marks stay whole. */
START_TEST(test_complete_split_large_part)
{
    int64_t e;
    kf_eos_state *c = idem_assigned(1, &e);
    static batch b;
    memset(&b, 0, sizeof b);
    enum { N = 1100 };
    add_n(&b, 0, N, "RPUSH", "L", "v");
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    static int st[N + 1];
    complete1(c, "a", &b, 0, e, -1, st);
    assert_st_all(st, 0, N, KF_EOS_APPLIED, "");
    assert_list_of("L", &b);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), N);
    /* 1100 values: 2 RPUSH; 1100 members: 2 ZMSCORE; 2200 score/member
     * values: 3 ZADD. */
    ASSERT_CALLS({"rpush", 2}, {"zmscore", 2}, {"zadd", 3});

    /* The second ZMSCORE sees its members too. */
    memset(&b, 0, sizeof b);
    for (int i = 0; i < N; i++)
        add(&b, i, "RPUSH", "L", i == 1050 ? "again" : "x");
    add(&b, N, "RPUSH", "L", "new");
    complete1(c, "a", &b, 0, e, -1, st);
    assert_st_all(st, 0, N, KF_EOS_SKIPPED, "replay");
    ck_assert_int_eq(st[N], KF_EOS_APPLIED);
    ck_assert_int_eq(rint_("LLEN L"), N + 1);
    kf_eos_state_destroy(c);
}
END_TEST

/* Runs broken by another key, by another command and by a two-write item;
 * skipped items (marked, below base) inside runs; every mergeable command. */
START_TEST(test_complete_mixed_runs)
{
    int64_t e;
    kf_eos_state *c = idem_assigned(1, &e);
    /* Base 10, and offsets 12 and 15 already done for sink a. */
    static mbatch m;
    mclear(&m);
    item(&m, 12);
    item(&m, 15);
    kf_eos_part p = mpart_of(&m, 0, e, 10);
    int st[64];
    char err[512] = "";
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(rget_num(BASE(0)), 10);
    freeReplyObject(rcmd("SET K3 gone"));
    freeReplyObject(rcmd("HSET H2 f1 1 f2 2 f3 3"));
    freeReplyObject(rcmd("CONFIG RESETSTAT"));

    mclear(&m);
    item_rpush(&m, 5, "L", "b5"); /* below base: SKIPPED */
    item_rpush(&m, 11, "L", "a11");
    item_rpush(&m, 12, "L", "a12"); /* marked: SKIPPED */
    item_rpush(&m, 13, "L", "a13");
    item_rpush(&m, 14, "M", "m14"); /* another key */
    item_rpush(&m, 15, "M", "m15"); /* marked: SKIPPED */
    item_rpush(&m, 16, "L", "a16");
    item(&m, 17), wr(&m, 4, "HSET", "H", "f", "1");
    item(&m, 18), wr(&m, 4, "HSET", "H", "g", "2");
    item(&m, 19), wr(&m, 6, "HSET", "H", "f", "3", "h", "x"); /* f again: 3 wins */
    item_rpush(&m, 20, "L", "a20"), wr(&m, 4, "HSET", "H", "g", "20");
    item(&m, 21), wr(&m, 4, "HSET", "H", "g", "4"); /* after item 20: 4 wins */
    item_rpush(&m, 22, "L", "a22");
    item(&m, 23), wr(&m, 3, "SET", "K1", "v23");
    item(&m, 24), wr(&m, 3, "SET", "K2", "v24");
    item(&m, 25), wr(&m, 3, "SET", "K1", "v25"); /* K1 again: v25 wins */
    item(&m, 26), wr(&m, 2, "DEL", "K2");
    item(&m, 27), wr(&m, 2, "DEL", "K3");
    item(&m, 28), wr(&m, 3, "LPUSH", "Q", "x");
    item(&m, 29), wr(&m, 4, "LPUSH", "Q", "y", "z");
    item(&m, 30), wr(&m, 3, "SADD", "Z", "a");
    item(&m, 31), wr(&m, 3, "SADD", "Z", "b");
    item(&m, 32), wr(&m, 3, "HDEL", "H2", "f1");
    item(&m, 33); /* a mark only: does not end the run */
    item(&m, 34), wr(&m, 3, "HDEL", "H2", "f2");
    item(&m, 35), wr(&m, 5, "SET", "K4", "v35", "PX", "60000"); /* not merged */
    item(&m, 36), wr(&m, 3, "SET", "K5", "v36");
    size_t n = m.nitems;
    p = mpart_of(&m, 0, e, -1);
    for (size_t i = 0; i < n; i++)
        st[i] = -1;
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_OK);
    for (size_t i = 0; i < n; i++) {
        int64_t off = m.items[i].offset;
        int want = off == 5 || off == 12 || off == 15 ? KF_EOS_SKIPPED : KF_EOS_APPLIED;
        ck_assert_msg(st[i] == want, "offset %" PRId64 ": status %d, want %d", off, st[i], want);
        ck_assert_msg(marked(0, off, "a") == (off >= 11), "offset %" PRId64 " mark", off);
    }
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 26); /* 11..36 */

    static const char *const l[] = {"a11", "a13", "a16", "a20", "a22"};
    assert_list("L", l, 5);
    static const char *const mm[] = {"m14"};
    assert_list("M", mm, 1);
    static const char *const q[] = {"z", "y", "x"};
    assert_list("Q", q, 3);
    char v[64];
    hget("H", "f", v, sizeof v);
    ck_assert_str_eq(v, "3");
    hget("H", "g", v, sizeof v);
    ck_assert_str_eq(v, "4");
    hget("H", "h", v, sizeof v);
    ck_assert_str_eq(v, "x");
    redisReply *r = rcmd("GET K1");
    ck_assert_str_eq(r->str, "v25");
    freeReplyObject(r);
    ck_assert_int_eq(rint_("EXISTS K2"), 0);
    ck_assert_int_eq(rint_("EXISTS K3"), 0);
    ck_assert_int_eq(rint_("SCARD Z"), 2);
    ck_assert_int_eq(rint_("HLEN H2"), 1);
    hget("H2", "f3", v, sizeof v);
    ck_assert_str_eq(v, "3");
    long long ttl = rint_("PTTL K4");
    ck_assert_msg(ttl > 0 && ttl <= 60000, "PTTL K4 %lld", ttl);
    r = rcmd("GET K5");
    ck_assert_str_eq(r->str, "v36");
    freeReplyObject(r);

    /* The calls Redis ran: RPUSH runs {11,13} {14} {16}, item 20's, {22};
     * HSET runs {17,18,19}, item 20's, {21}; one MSET {23,24,25}; one DEL
     * {26,27}; one LPUSH, SADD, HDEL each; SET for 35 and 36 (a run of one
     * stays a SET). One ZMSCORE, one ZADD. */
    ASSERT_CALLS({"rpush", 5}, {"hset", 3}, {"mset", 1}, {"set", 2}, {"del", 1}, {"lpush", 1},
                 {"sadd", 1}, {"hdel", 1}, {"zmscore", 1}, {"zadd", 1});
    kf_eos_state_destroy(c);
}
END_TEST

/* A merged run that fails (RPUSH onto a string): every item of that run is
 * an error and unmarked, nothing of it written; other runs unaffected. */
START_TEST(test_complete_run_error)
{
    int64_t e;
    kf_eos_state *c = idem_assigned_bad_S(1, &e);
    static mbatch m;
    mclear(&m);
    item_rpush(&m, 1, "L", "a");
    item_rpush(&m, 2, "L", "b");
    item_rpush(&m, 3, "S", "c"); /* WRONGTYPE run: 3, 4, 5 */
    item_rpush(&m, 4, "S", "d");
    item_rpush(&m, 5, "S", "e");
    item_rpush(&m, 6, "L", "f");
    item(&m, 7), wr(&m, 4, "HSET", "H", "k", "1");
    item(&m, 8), wr(&m, 4, "HSET", "H", "k", "2");
    kf_eos_part p = mpart_of(&m, 0, e, -1);
    int st[8];
    char err[512] = "";
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_OK);
    static const int want[8] = {KF_EOS_APPLIED, KF_EOS_APPLIED, KF_EOS_ERROR,   KF_EOS_ERROR,
                                KF_EOS_ERROR,   KF_EOS_APPLIED, KF_EOS_APPLIED, KF_EOS_APPLIED};
    assert_st_(st, want, 8);
    ck_assert_msg(strncmp(err, "WRONGTYPE", 9) == 0, "err: %s", err);
    ASSERT_CALLS({"rpush", 3} /* {1,2} {3,4,5} {6}: merged */, {"hset", 1});
    redisReply *r = rcmd("GET S");
    ck_assert_str_eq(r->str, "str");
    freeReplyObject(r);
    static const char *const l[] = {"a", "b", "f"};
    assert_list("L", l, 3);
    char v[16];
    hget("H", "k", v, sizeof v);
    ck_assert_str_eq(v, "2");
    for (int i = 0; i < 8; i++)
        ck_assert_msg(marked(0, i + 1, "a") == (want[i] == KF_EOS_APPLIED), "offset %d mark",
                      i + 1);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 5);

    /* The failed records are retried once the key is fixed: only they run. */
    freeReplyObject(rcmd("DEL S"));
    for (int i = 0; i < 8; i++)
        st[i] = -1;
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_OK);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(st[i], want[i] == KF_EOS_ERROR ? KF_EOS_APPLIED : KF_EOS_SKIPPED);
    static const char *const s[] = {"c", "d", "e"};
    assert_list("S", s, 3);
    assert_list("L", l, 3);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 8);
    kf_eos_state_destroy(c);
}
END_TEST

/* An offset given twice in one part is written once, after its earlier
 * copy's outcome: SKIPPED after an APPLIED copy, run after a failed one. */
START_TEST(test_complete_repeated_offset)
{
    int64_t e;
    kf_eos_state *c = idem_assigned_bad_S(1, &e);
    static mbatch m;
    mclear(&m);
    item_rpush(&m, 1, "L", "p");
    item_rpush(&m, 1, "L", "q"); /* same run key: still once */
    item_rpush(&m, 2, "S", "x"); /* fails */
    item_rpush(&m, 2, "L", "y"); /* so this one runs */
    item_rpush(&m, 2, "L", "z"); /* and this one is done */
    item_rpush(&m, 3, "L", "r");
    kf_eos_part p = mpart_of(&m, 0, e, -1);
    int st[6];
    char err[512] = "";
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_OK);
    ASSERT_ST(st, KF_EOS_APPLIED, KF_EOS_SKIPPED, KF_EOS_ERROR, KF_EOS_APPLIED, KF_EOS_SKIPPED,
              KF_EOS_APPLIED);
    static const char *const l[] = {"p", "y", "r"};
    assert_list("L", l, 3);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 3);
    kf_eos_state_destroy(c);
}
END_TEST

/* A fenced part with runs, a two-write item and writes of every shape:
 * nothing written, every item FENCED, not even a ZMSCORE; a live part after
 * it in the same call still finds its own keys and values. */
START_TEST(test_complete_fenced_runs)
{
    kf_eos_state *c = idem_on(S.port);
    ck_assert_int_eq(assign(c, 0), 1);
    ck_assert_int_eq(assign(c, 0), 2);
    int64_t e1 = assign(c, 1);
    static mbatch f, l;
    mclear(&f);
    mclear(&l);
    item_rpush(&f, 1, "F", "a");
    item_rpush(&f, 2, "F", "b");
    item(&f, 3), wr(&f, 4, "HSET", "FH", "k", "v");
    item_rpush(&f, 4, "F", "c"), wr(&f, 1, "PING");
    item(&f, 5);
    item(&f, 6), wr(&f, 2, "DEL", "FX"), wr(&f, 5, "SET", "FS", "v", "PX", "1000");
    item(&f, 7), wr(&f, 3, "SET", "FS1", "v"), wr(&f, 3, "SET", "FS2", "v");
    item_rpush(&l, 10, "L", "x");
    item_rpush(&l, 11, "L", "y");
    item(&l, 12), wr(&l, 4, "HSET", "H", "k", "v");
    kf_eos_part parts[2] = {mpart_of(&f, 0, 1, 5), mpart_of(&l, 1, e1, -1)};
    int st[10];
    char err[512] = "";
    freeReplyObject(rcmd("SET FX keep"));
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    ck_assert_int_eq(kf_eos_state_complete(c, "a", parts, 2, st, err, sizeof err), KF_STATUS_OK);
    assert_st_all(st, 0, 7, KF_EOS_FENCED, "fenced");
    assert_st_all(st, 7, 10, KF_EOS_APPLIED, "live");
    ck_assert_int_eq(rint_("EXISTS F FH FS FS1 FS2"), 0);
    ck_assert_int_eq(rint_("EXISTS FX"), 1);
    ck_assert_int_eq(rint_("EXISTS %s", DONE(0)), 0);
    ck_assert_int_eq(rint_("EXISTS %s", BASE(0)), 0);
    ASSERT_CALLS({"ping", 0}, {"del", 0}, {"set", 0}, {"zmscore", 1} /* the live part's */,
                 {"zadd", 1});
    static const char *const want[] = {"x", "y"};
    assert_list("L", want, 2);
    char v[16];
    hget("H", "k", v, sizeof v);
    ck_assert_str_eq(v, "v");
    ck_assert_int_eq(rint_("ZCARD %s", DONE(1)), 3);
    kf_eos_state_destroy(c);
}
END_TEST

/* ------------------------------------------- the uniform fast path */

/* Which scripts ran, from the slow log (the EVALSHA's SHA1): the log keeps
 * every command while slowlog_on() is in force (test_teardown turns it
 * off). */
enum { RAN_UNIFORM = 1, RAN_COMPLETE = 2, RAN_OTHER = 4 };

static void script_sha(const char *src, char *out)
{
    redisReply *r = rcmd("SCRIPT LOAD %s", src);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_uint_eq(r->len, 40);
    memcpy(out, r->str, 41);
    freeReplyObject(r);
}

static void slowlog_on(void)
{
    freeReplyObject(rcmd("CONFIG SET slowlog-log-slower-than 0"));
    freeReplyObject(rcmd("CONFIG SET slowlog-max-len 1024"));
    freeReplyObject(rcmd("SLOWLOG RESET"));
}

/* The scripts run since slowlog_on() or the last scripts_ran() (RAN_*). */
static int scripts_ran(void)
{
    static char uni[41], gen[41];
    if (!uni[0]) {
        script_sha(KF_EOS_LUA_COMPLETE_UNIFORM, uni);
        script_sha(KF_EOS_LUA_COMPLETE, gen);
    }
    redisReply *r = rcmd("SLOWLOG GET -1");
    int ran = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 4) continue;
        const redisReply *av = e->element[3];
        if (av->type != REDIS_REPLY_ARRAY || av->elements < 2 ||
            strcasecmp(av->element[0]->str, "EVALSHA") != 0)
            continue;
        if (strcmp(av->element[1]->str, uni) == 0)
            ran |= RAN_UNIFORM;
        else if (strcmp(av->element[1]->str, gen) == 0)
            ran |= RAN_COMPLETE;
        else
            ran |= RAN_OTHER;
    }
    freeReplyObject(r);
    freeReplyObject(rcmd("SLOWLOG RESET"));
    return ran;
}

/* A growing string. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        b->p = realloc(b->p, cap);
        CHECK(b->p, "out of memory");
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_fmt(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    CHECK(n >= 0 && (size_t)n < sizeof tmp, "sb_fmt: too long");
    sb_put(b, tmp, (size_t)n);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends the strings of array reply r as " s1 s2 ..."; pairs (hash field
 * and value) sorted by field when `pairs`, single strings sorted when
 * `sorted`, else in order. */
static void sb_reply_strings(sbuf *b, const redisReply *r, bool sorted, bool pairs)
{
    size_t step = pairs ? 2 : 1, n = r->elements / step;
    char **s = calloc(n + 1, sizeof *s);
    CHECK(s, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const redisReply *a = r->element[i * step], *b2 = pairs ? r->element[i * step + 1] : NULL;
        size_t len = a->len + (b2 ? 1 + b2->len : 0);
        s[i] = malloc(len + 1);
        CHECK(s[i], "out of memory");
        memcpy(s[i], a->str, a->len);
        if (b2) {
            s[i][a->len] = '=';
            memcpy(s[i] + a->len + 1, b2->str, b2->len);
        }
        s[i][len] = '\0';
    }
    if (sorted || pairs) qsort(s, n, sizeof *s, cmp_str);
    for (size_t i = 0; i < n; i++) {
        sb_put(b, " ", 1);
        sb_put(b, s[i], strlen(s[i]));
        free(s[i]);
    }
    free(s);
}

/* Every key under prefix P (the sink's keys "P:*" and the state "{P:*"),
 * the prefix cut off, with its type and content, in key order: two runs
 * that did the same thing under two prefixes dump the same string. */
static char *dump_state(const char *P)
{
    redisReply *k1 = rcmd("KEYS %s:*", P);
    redisReply *k2 = rcmd("KEYS {%s:*", P);
    size_t n = k1->elements + k2->elements;
    const char **keys = calloc(n + 1, sizeof *keys);
    CHECK(keys, "out of memory");
    for (size_t i = 0; i < k1->elements; i++)
        keys[i] = k1->element[i]->str;
    for (size_t i = 0; i < k2->elements; i++)
        keys[k1->elements + i] = k2->element[i]->str;
    qsort(keys, n, sizeof *keys, cmp_str);
    sbuf b = {0};
    sb_put(&b, "", 0);
    size_t plen = strlen(P);
    for (size_t i = 0; i < n; i++) {
        const char *key = keys[i];
        const char *rest = key[0] == '{' ? key + 2 + plen : key + 1 + plen;
        redisReply *t = rcmd("TYPE %s", key);
        sb_fmt(&b, "%s%s %s:", key[0] == '{' ? "{" : "", rest, t->str);
        /* How each type reads: its command, and how its strings line up. */
        static const struct {
            const char *type, *cmd;
            bool sorted, pairs;
        } READ[] = {{"list", "LRANGE %s 0 -1", false, false},
                    {"hash", "HGETALL %s", false, true},
                    {"set", "SMEMBERS %s", true, false},
                    {"zset", "ZRANGE %s 0 -1 WITHSCORES", false, false}};
        redisReply *r = NULL;
        for (size_t j = 0; j < sizeof READ / sizeof *READ && !r; j++)
            if (strcmp(t->str, READ[j].type) == 0) {
                r = rcmd(READ[j].cmd, key);
                sb_reply_strings(&b, r, READ[j].sorted, READ[j].pairs);
            }
        if (!r && strcmp(t->str, "string") == 0) {
            r = rcmd("GET %s", key);
            sb_fmt(&b, " %s", r->str);
        }
        freeReplyObject(r);
        freeReplyObject(t);
        sb_put(&b, "\n", 1);
    }
    free(keys);
    freeReplyObject(k1);
    freeReplyObject(k2);
    return b.p;
}

/* Asserts two dumps are equal, naming the first line that differs. */
static void assert_same_state(const char *a, const char *b, const char *what)
{
    if (strcmp(a, b) == 0) return;
    size_t i = 0, line = 0;
    while (a[i] && a[i] == b[i])
        i++;
    while (i > 0 && a[i - 1] != '\n')
        i--;
    for (size_t j = 0; j < i; j++)
        line += a[j] == '\n';
    ck_abort_msg("%s: states differ at line %zu:\n  generic: %.300s\n  uniform: %.300s", what, line,
                 a + i, b + i);
}

/* 300 uniform RPUSH records over 2 parts: the uniform script runs (its SHA1
 * in the slow log), with O(1) commands per part, and leaves exactly the
 * state and statuses the generic script leaves for the same input under
 * another prefix. */
START_TEST(test_uniform_fast_path)
{
    kf_eos_state *ca = idem_at(S.port, "A"), *cb = idem_at(S.port, "B");
    kf_eos_state_set_fast_path(ca, 0);
    for (int32_t p = 0; p < 2; p++)
        ck_assert_int_eq(assign(ca, p), assign(cb, p));
    static batch b[2][2]; /* [prefix][part] */
    memset(b, 0, sizeof b);
    for (int p = 0; p < 2; p++) {
        add_n(&b[0][p], 1000 * (p + 1), 150, "RPUSH", p ? "A:L1" : "A:L0", p ? "p1-v" : "p0-v");
        add_n(&b[1][p], 1000 * (p + 1), 150, "RPUSH", p ? "B:L1" : "B:L0", p ? "p1-v" : "p0-v");
    }
    static int st[2][300];
    char err[512] = "";
    slowlog_on();
    for (int x = 0; x < 2; x++) {
        kf_eos_part parts[2] = {part_of(&b[x][0], 0, 1, 900), part_of(&b[x][1], 1, 1, -1)};
        freeReplyObject(rcmd("CONFIG RESETSTAT"));
        ck_assert_int_eq(kf_eos_state_complete(x ? cb : ca, "s", parts, 2, st[x], err, sizeof err),
                         KF_STATUS_OK);
        ck_assert_int_eq(scripts_ran(), x ? RAN_UNIFORM : RAN_COMPLETE);
        /* The same commands either way: one write, check and mark per part. */
        ASSERT_CALLS({"evalsha", 1}, {"rpush", 2}, {"zmscore", 2}, {"zadd", 2});
    }
    for (int i = 0; i < 300; i++) {
        ck_assert_msg(st[1][i] == KF_EOS_APPLIED, "item %d: status %d", i, st[1][i]);
        ck_assert_int_eq(st[0][i], st[1][i]);
    }
    assert_list_of("B:L0", &b[1][0]);
    assert_list_of("B:L1", &b[1][1]);
    for (int p = 0; p < 2; p++) {
        for (int i = 0; i < 150; i++) {
            char key[64];
            snprintf(key, sizeof key, "{B:g:t:%d}:done", p);
            redisReply *r = rcmd("ZSCORE %s %d/s", key, 1000 * (p + 1) + i);
            ck_assert_msg(r->type == REDIS_REPLY_STRING && atoi(r->str) == 1000 * (p + 1) + i,
                          "mark of part %d item %d", p, i);
            freeReplyObject(r);
        }
    }
    char *ga = dump_state("A"), *gb = dump_state("B");
    assert_same_state(ga, gb, "300 RPUSH");
    ck_assert_msg(strstr(gb, "{g:t:0}:base string: 900\n"), "base 900 missing");
    free(ga);
    free(gb);
    kf_eos_state_destroy(ca);
    kf_eos_state_destroy(cb);
}
END_TEST

/* WRONGTYPE on a uniform part (999 items: two write calls, 998 + 1 values as
 * the generic script cuts them, both fail):
 * every item of it is an error, nothing marked; the other part applies. */
START_TEST(test_uniform_wrongtype)
{
    int64_t e[2];
    kf_eos_state *c = idem_assigned_bad_S(2, e);
    static batch b[2];
    memset(b, 0, sizeof b);
    for (int i = 0; i < 999; i++)
        add(&b[0], i, "RPUSH", "S", "x");
    add(&b[1], 10, "RPUSH", "L", "a");
    add(&b[1], 11, "RPUSH", "L", "b");
    add(&b[1], 12, "RPUSH", "L", "c");
    kf_eos_part parts[2] = {part_of(&b[0], 0, e[0], -1), part_of(&b[1], 1, e[1], -1)};
    static int st[1002];
    char err[512] = "";
    slowlog_on();
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    ck_assert_int_eq(kf_eos_state_complete(c, "a", parts, 2, st, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(scripts_ran(), RAN_UNIFORM);
    assert_st_all(st, 0, 999, KF_EOS_ERROR, "");
    assert_st_all(st, 999, 1002, KF_EOS_APPLIED, "");
    ck_assert_msg(strncmp(err, "WRONGTYPE", 9) == 0, "err: %s", err);
    /* 998 + 1 values, then L; part 1's ZADD only. */
    ASSERT_CALLS({"rpush", 3}, {"zadd", 1});
    ck_assert_int_eq(rint_("EXISTS %s", DONE(0)), 0);
    redisReply *r = rcmd("GET S");
    ck_assert_str_eq(r->str, "str");
    freeReplyObject(r);
    assert_list_of("L", &b[1]);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(1)), 3);
    kf_eos_state_destroy(c);
}
END_TEST

/* A uniform call replayed: all SKIPPED by one ZMSCORE per part, no write
 * and no mark; then half replayed, half new (the script's slow path): only
 * the new ones are written, in order. */
START_TEST(test_uniform_replay)
{
    int64_t e[2];
    kf_eos_state *c = idem_assigned(2, e);
    static batch b[2];
    memset(b, 0, sizeof b);
    static char v[40][16];
    for (int i = 0; i < 40; i++)
        snprintf(v[i], sizeof v[i], "v%d", i);
    for (int i = 0; i < 20; i++) {
        add(&b[0], 2 * i, "HSET", "H", v[i]); /* writes replaced below */
        add(&b[1], 100 + i, "lpush", "Q", v[i]);
    }
    kf_eos_part parts[2] = {part_of(&b[0], 0, e[0], -1), part_of(&b[1], 1, e[1], -1)};
    /* HSET's add() takes one value: make the writes "HSET H f v" by hand. */
    static const char *hargv[20][4];
    static kf_eos_write hw[20];
    for (int i = 0; i < 20; i++) {
        hargv[i][0] = "HSET", hargv[i][1] = "H", hargv[i][2] = v[i % 7], hargv[i][3] = v[i];
        hw[i] = (kf_eos_write){.argc = 4, .argv = hargv[i]};
        b[0].items[i].writes = &hw[i];
    }
    static int st[40];
    char err[512] = "";
    slowlog_on();
    ck_assert_int_eq(kf_eos_state_complete(c, "a", parts, 2, st, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(scripts_ran(), RAN_UNIFORM);
    assert_st_all(st, 0, 40, KF_EOS_APPLIED, "");
    ck_assert_int_eq(rint_("HLEN H"), 7);
    char h[16];
    hget("H", "v6", h, sizeof h); /* fields v6 at items 6 and 13: the later wins */
    ck_assert_str_eq(h, "v13");
    ck_assert_int_eq(rint_("LLEN Q"), 20);

    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    ck_assert_int_eq(kf_eos_state_complete(c, "a", parts, 2, st, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(scripts_ran(), RAN_UNIFORM);
    assert_st_all(st, 0, 40, KF_EOS_SKIPPED, "replay");
    ASSERT_CALLS({"zmscore", 2}, {"hset", 0}, {"lpush", 0}, {"zadd", 0});
    ck_assert_int_eq(rint_("LLEN Q"), 20);

    /* Part 1 again: its 20 done records, then 999 new ones, written in two
     * calls cut where the generic script cuts a run (998 values), in
     * order. */
    memset(&b[1], 0, sizeof b[1]);
    for (int i = 0; i < 20; i++)
        add(&b[1], 100 + i, "lpush", "Q", "old");
    add_n(&b[1], 200, 999, "lpush", "Q", "w");
    parts[1] = part_of(&b[1], 1, e[1], -1);
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    static int st2[1019];
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &parts[1], 1, st2, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_int_eq(scripts_ran(), RAN_UNIFORM);
    assert_st_all(st2, 0, 20, KF_EOS_SKIPPED, "done");
    assert_st_all(st2, 20, 1019, KF_EOS_APPLIED, "new");
    /* 1019 members: 2 ZMSCORE; 1998 values: 2 ZADD. */
    ASSERT_CALLS({"lpush", 2}, {"zmscore", 2}, {"zadd", 2});
    ck_assert_int_eq(rint_("LLEN Q"), 1019);
    redisReply *r = rcmd("LRANGE Q 0 999");
    ck_assert_str_eq(r->element[0]->str, "w998"); /* LPUSH: the last first */
    ck_assert_str_eq(r->element[998]->str, "w0");
    ck_assert_str_eq(r->element[999]->str, "v19");
    freeReplyObject(r);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(1)), 1019);
    kf_eos_state_destroy(c);
}
END_TEST

/* ------------------------------- differential: generic vs uniform script */

enum { DI = 2000, DW = 2100, DA = 8 };

/* One randomized complete() input, with write keys as suffixes. */
static struct dcase {
    const char *sink;
    size_t nparts;
    int32_t partition[3];
    int64_t epoch[3], trim[3];
    size_t pfirst[3], pn[3];
    size_t nitems, nwrites;
    int64_t off[DI];
    size_t wfirst[DI], nw[DI];
    int argc[DW];
    char argv[DW][DA][48]; /* argv[w][1] is the key's suffix */
    bool uniform;          /* what complete() must choose */
} D;

/* D under one key prefix P ("P:<suffix>" write keys, state "{P:g:t:n}"). */
typedef struct dmat {
    kf_eos_item items[DI];
    kf_eos_write writes[DW];
    const char *argv[DW][DA];
    char key[DW][96];
    kf_eos_part parts[3];
} dmat;

static void materialize(dmat *m, const char *P)
{
    for (size_t w = 0; w < D.nwrites; w++) {
        int kn = snprintf(m->key[w], sizeof m->key[w], "%s:%s", P, D.argv[w][1]);
        if (kn < 0 || (size_t)kn >= sizeof m->key[w]) ck_abort_msg("write key too long");
        for (int j = 0; j < D.argc[w]; j++)
            m->argv[w][j] = j == 1 ? m->key[w] : D.argv[w][j];
        m->writes[w] = (kf_eos_write){.argc = D.argc[w], .argv = m->argv[w]};
    }
    for (size_t i = 0; i < D.nitems; i++)
        m->items[i] = (kf_eos_item){
            .offset = D.off[i], .writes = &m->writes[D.wfirst[i]], .nwrites = D.nw[i]};
    for (size_t p = 0; p < D.nparts; p++)
        m->parts[p] = (kf_eos_part){.topic = "t",
                                    .partition = D.partition[p],
                                    .epoch = D.epoch[p],
                                    .trim = D.trim[p],
                                    .items = &m->items[D.pfirst[p]],
                                    .nitems = D.pn[p]};
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* Adds one write to the last item of D. */
static size_t dwrite(const char *cmd, const char *key, int argc)
{
    CHECK(D.nwrites < DW && argc <= DA, "dwrite: too many writes");
    size_t w = D.nwrites++;
    D.argc[w] = argc;
    snprintf(D.argv[w][0], sizeof D.argv[w][0], "%s", cmd);
    snprintf(D.argv[w][1], sizeof D.argv[w][1], "%s", key);
    D.nw[D.nitems - 1]++;
    return w;
}

/* Fills the values of write w for its command (fields from a small pool,
 * so that HSET repeats and HDEL finds them). */
static void dvalues(size_t w, int round, size_t i)
{
    const char *cmd = D.argv[w][0];
    bool hash = strcasecmp(cmd, "HSET") == 0, hdel = strcasecmp(cmd, "HDEL") == 0,
         sadd = strcasecmp(cmd, "SADD") == 0;
    for (int j = 2; j < D.argc[w]; j++) {
        char *v = D.argv[w][j];
        if (hash && j % 2 == 0)
            snprintf(v, sizeof D.argv[w][j], "f%u", rnd(10));
        else if (hdel)
            snprintf(v, sizeof D.argv[w][j], "f%u", rnd(10));
        else if (sadd)
            snprintf(v, sizeof D.argv[w][j], "m%u", rnd(30));
        else
            snprintf(v, sizeof D.argv[w][j], "r%di%zuj%d", round, i, j);
    }
}

/* A random input; D.uniform says whether every part is uniform. */
static void gen_case(int round)
{
    static const char *const CMDS[] = {"RPUSH", "rpush", "LPUSH", "SADD", "HDEL", "HSET"};
    memset(&D, 0, sizeof D);
    D.sink = rnd(4) == 0 ? "h/x" : "s";
    D.nparts = 1 + rnd(3);
    int32_t pick[4] = {0, 1, 2, 3};
    for (int j = 3; j > 0; j--) {
        int k = (int)rnd((uint32_t)j + 1);
        int32_t t = pick[j];
        pick[j] = pick[k];
        pick[k] = t;
    }
    D.uniform = true;
    bool big_done = false;
    for (size_t p = 0; p < D.nparts; p++) {
        /* Partitions 0..2 are assigned once (epoch 1); 3 never is. */
        D.partition[p] = pick[p];
        D.epoch[p] = rnd(8) == 0 ? 2 : 1;
        D.trim[p] = rnd(3) == 0 ? -1 : (int64_t)rnd(60);
        /* Sizes around the cuts of the writes (998 / m values per call)
         * and of the checks and marks (1000 arguments per call). */
        bool big = !big_done && rnd(20) == 0, medium = !big && rnd(10) == 0;
        big_done = big_done || big;
        size_t n = big           ? (rnd(2) ? 995 + rnd(10) : 1050 + rnd(100))
                   : medium      ? (rnd(2) ? 245 + rnd(10) : 495 + rnd(10))
                   : rnd(4) == 0 ? rnd(3)
                                 : rnd(40);
        const char *cmd = CMDS[rnd(6)];
        bool hset = strcmp(cmd, "HSET") == 0;
        int argc = hset ? (rnd(3) ? 4 : 6) : (rnd(4) ? 3 : 4);
        char key[8];
        int kidx = (int)rnd(3);
        snprintf(key, sizeof key, "k%d", kidx);
        /* 0: uniform; else one item (pi) breaks it: 1 its offset repeats
         * the previous one, 2 another key, 3 two writes, 4 a mark only,
         * 5 another argc, 6 another spelling, 7 SET; 8 the whole part is
         * SET k v (not mergeable). */
        int perturb = n >= 2 && rnd(4) == 0 ? 1 + (int)rnd(8) : 0;
        size_t pi = n >= 2 ? 1 + rnd((uint32_t)n - 1) : 0;
        if (perturb) D.uniform = false;
        D.pfirst[p] = D.nitems;
        D.pn[p] = n;
        int64_t off = rnd(50);
        for (size_t i = 0; i < n; i++) {
            if (i > 0 && !(perturb == 1 && i == pi)) off += 1 + (rnd(4) == 0 ? rnd(5) : 0);
            CHECK(D.nitems < DI, "gen_case: too many items");
            size_t it = D.nitems++;
            D.off[it] = off;
            D.wfirst[it] = D.nwrites;
            bool here = i == pi;
            if (perturb == 4 && here) continue; /* a mark only */
            if (perturb == 8 || (perturb == 7 && here)) {
                size_t w = dwrite("SET", key, 3);
                snprintf(D.argv[w][2], sizeof D.argv[w][2], "s%di%zu", round, i);
                continue;
            }
            char k2[8], c2[8];
            snprintf(k2, sizeof k2, "k%d", (kidx + 1) % 3);
            snprintf(c2, sizeof c2, "%s", cmd);
            if (perturb == 6 && here) c2[0] ^= 0x20; /* rpush -> Rpush */
            int a = perturb == 5 && here ? argc + (hset ? 2 : 1) : argc;
            size_t w = dwrite(c2, perturb == 2 && here ? k2 : key, a);
            dvalues(w, round, i);
            if (perturb == 3 && here) {
                w = dwrite("RPUSH", "k9", 3);
                dvalues(w, round, i);
            }
        }
    }
}

/* The calls and failed calls of every command since CONFIG RESETSTAT, as
 * "cmd=calls/failed ..." (no times). */
static char *call_counts(void)
{
    redisReply *r = rcmd("INFO commandstats");
    sbuf b = {0};
    sb_put(&b, "", 0);
    for (const char *p = strstr(r->str, "cmdstat_"); p; p = strstr(p + 1, "cmdstat_")) {
        const char *colon = strchr(p, ':'), *eol = strchr(p, '\r');
        const char *calls = strstr(p, "calls="), *failed = strstr(p, "failed_calls=");
        CHECK(colon && eol && calls && calls < eol, "INFO commandstats: %.80s", p);
        sb_fmt(&b, "%.*s=%lld/%lld ", (int)(colon - p - 8), p + 8, atoll(calls + 6),
               failed && failed < eol ? atoll(failed + 13) : 0LL);
    }
    freeReplyObject(r);
    return b.p;
}

/* The state before the call, the same under both prefixes: epochs (by
 * assign), some done marks (this sink's and another's), a base, and write
 * keys of various types (a string makes every write to it fail). */
static void gen_state(kf_eos_state *ca, kf_eos_state *cb)
{
    freeReplyObject(rcmd("FLUSHALL"));
    for (int32_t p = 0; p < 3; p++) {
        ck_assert_int_eq(assign(ca, p), 1);
        ck_assert_int_eq(assign(cb, p), 1);
    }
    static const char *argv[2 + 2 * 3000];
    static size_t len[2 + 2 * 3000];
    static char mem[3000][32], score[3000][16];
    for (int32_t p = 0; p < 4; p++) {
        int density = (int)rnd(6); /* 0..2: no marks; 3: sparse; 4, 5: dense */
        size_t n = 0;
        for (int off = 0; off < 3000 && density >= 3; off++) {
            bool mine = rnd(density == 3 ? 8 : 2) == 0, other = rnd(10) == 0;
            if (!mine && !other) continue;
            snprintf(score[n], sizeof score[n], "%d", off);
            snprintf(mem[n], sizeof mem[n], "%d/%s", off, mine ? D.sink : "other");
            n++;
        }
        int64_t base = rnd(3) == 0 ? (int64_t)rnd(40) : -1;
        for (int x = 0; x < 2; x++) {
            const char *P = x ? "B" : "A";
            char dk[64];
            snprintf(dk, sizeof dk, "{%s:g:t:%d}:done", P, p);
            if (n) {
                argv[0] = "ZADD", argv[1] = dk;
                for (size_t i = 0; i < n; i++)
                    argv[2 + 2 * i] = score[i], argv[3 + 2 * i] = mem[i];
                for (size_t i = 0; i < 2 + 2 * n; i++)
                    len[i] = strlen(argv[i]);
                redisReply *r = redisCommandArgv(R, (int)(2 + 2 * n), argv, len);
                ck_assert_msg(r && r->type == REDIS_REPLY_INTEGER, "ZADD marks");
                freeReplyObject(r);
            }
            if (base >= 0)
                freeReplyObject(rcmd("SET {%s:g:t:%d}:base %lld", P, p, (long long)base));
        }
    }
    for (int k = 0; k < 3; k++) {
        int type = (int)rnd(8);
        for (int x = 0; x < 2; x++) {
            const char *P = x ? "B" : "A";
            if (type == 0)
                freeReplyObject(rcmd("SET %s:k%d str", P, k));
            else if (type == 1)
                freeReplyObject(rcmd("HSET %s:k%d f1 a f3 b f5 c f7 d", P, k));
            else if (type == 2)
                freeReplyObject(rcmd("RPUSH %s:k%d old1 old2", P, k));
            else if (type == 3)
                freeReplyObject(rcmd("SADD %s:k%d m1 m2", P, k));
        }
    }
}

/* Random inputs (replays, records below base, fenced and never-assigned
 * partitions, empty parts, HSET with repeated fields, WRONGTYPE keys, parts
 * over 1000 values, and non-uniform parts of every kind), each run under
 * prefix A with the generic script forced and under prefix B letting
 * complete() choose: the same statuses and error, the same resulting state
 * (every list, hash, set, string, done marks with scores, base, epoch), and
 * the same commands run inside Redis (as many calls of each), and the
 * uniform script ran exactly when every part was uniform. */
START_TEST(test_uniform_differential)
{
    kf_eos_state *ca = idem_at(S.port, "A"), *cb = idem_at(S.port, "B");
    kf_eos_state_set_fast_path(ca, 0);
    static dmat ma, mb;
    static int sa[DI], sb[DI];
    int fast = 0, generic = 0, fast_skipped = 0, fast_below = 0, fast_error = 0, fast_fenced = 0,
        fast_big = 0, fast_slow = 0;
    slowlog_on();
    for (int round = 0; round < 300; round++) {
        gen_case(round);
        gen_state(ca, cb);
        materialize(&ma, "A");
        materialize(&mb, "B");
        char ea[512] = "", eb[512] = "";
        for (size_t i = 0; i < D.nitems; i++)
            sa[i] = sb[i] = -1;
        scripts_ran();
        freeReplyObject(rcmd("CONFIG RESETSTAT"));
        int ra = kf_eos_state_complete(ca, D.sink, ma.parts, D.nparts, sa, ea, sizeof ea);
        ck_assert_msg(ra == KF_STATUS_OK, "round %d: generic: %d %s", round, ra, ea);
        char *na = call_counts();
        ck_assert_int_eq(scripts_ran(), RAN_COMPLETE);
        freeReplyObject(rcmd("CONFIG RESETSTAT"));
        int rb = kf_eos_state_complete(cb, D.sink, mb.parts, D.nparts, sb, eb, sizeof eb);
        ck_assert_msg(rb == KF_STATUS_OK, "round %d: uniform: %d %s", round, rb, eb);
        char *nb = call_counts();
        /* The same commands too: the same checks, writes and marks, cut
         * into calls at the same places. */
        ck_assert_msg(strcmp(na, nb) == 0,
                      "round %d: commands differ:\n  generic: %.400s\n  uniform: %.400s", round, na,
                      nb);
        free(na);
        free(nb);
        int ran = scripts_ran();
        ck_assert_msg(ran == (D.uniform ? RAN_UNIFORM : RAN_COMPLETE),
                      "round %d: ran %d, uniform %d", round, ran, D.uniform);
        for (size_t i = 0; i < D.nitems; i++)
            CHECK(sa[i] == sb[i], "round %d item %zu (offset %" PRId64 "): %d vs %d", round, i,
                  D.off[i], sa[i], sb[i]);
        ck_assert_msg(strcmp(ea, eb) == 0, "round %d: err \"%s\" vs \"%s\"", round, ea, eb);
        char *ga = dump_state("A"), *gb = dump_state("B");
        char what[32];
        snprintf(what, sizeof what, "round %d", round);
        assert_same_state(ga, gb, what);
        free(ga);
        free(gb);

        if (!D.uniform) {
            generic++;
            continue;
        }
        fast++;
        bool skipped = false, error = false, fenced = false;
        for (size_t i = 0; i < D.nitems; i++) {
            skipped = skipped || sb[i] == KF_EOS_SKIPPED;
            error = error || sb[i] == KF_EOS_ERROR;
            fenced = fenced || sb[i] == KF_EOS_FENCED;
        }
        for (size_t p = 0; p < D.nparts; p++) {
            size_t f = D.pfirst[p], n = D.pn[p];
            bool below = false, done = false, applied = false;
            for (size_t i = f; i < f + n; i++) {
                below = below || (sb[i] == KF_EOS_SKIPPED && D.off[i] < D.trim[p]);
                done = done || (sb[i] == KF_EOS_SKIPPED && D.off[i] >= D.trim[p]);
                applied = applied || sb[i] == KF_EOS_APPLIED;
            }
            fast_below += below;
            fast_slow += done && applied; /* the script's path with done items */
            fast_big += n > 1000 && applied;
        }
        fast_skipped += skipped;
        fast_error += error;
        fast_fenced += fenced;
    }
    /* The rounds covered every branch of the uniform script. */
    ck_assert_msg(fast > 50 && generic > 20, "fast %d generic %d", fast, generic);
    ck_assert_msg(fast_skipped && fast_below && fast_error && fast_fenced && fast_big && fast_slow,
                  "skipped %d below %d error %d fenced %d big %d slow %d", fast_skipped, fast_below,
                  fast_error, fast_fenced, fast_big, fast_slow);
    kf_eos_state_destroy(ca);
    kf_eos_state_destroy(cb);
}
END_TEST

START_TEST(test_unreachable_then_up)
{
    char url[128], err[512] = "";
    snprintf(url, sizeof url, "redis://:secret@127.0.0.1:%d/0", S.port2);
    kf_eos_state *c = kf_eos_state_new(url, "kft", "g", err, sizeof err);
    ck_assert_msg(c != NULL, "kf_eos_state_new: %s", err);

    kf_eos_assigned a;
    ck_assert_int_eq(kf_eos_state_assign(c, "t", 0, &a, err, sizeof err), KF_STATUS_RETRY);
    ck_assert_msg(err[0] && !strstr(err, "secret"), "err: %s", err);
    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 1, "RPUSH", "L", "v");
    kf_eos_part p = part_of(&b, 0, 1, -1);
    int st[1], fenced, dup[1];
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_RETRY);
    ck_assert_int_eq(kf_eos_state_trim(c, "t", 0, 1, 1, &fenced, err, sizeof err), KF_STATUS_RETRY);
    const char *k[1] = {"k"};
    int64_t o[1] = {1};
    ck_assert_int_eq(
        kf_eos_state_claim(c, "t", 0, 1, k, NULL, o, 1, 1000, dup, &fenced, err, sizeof err),
        KF_STATUS_RETRY);
    kf_eos_state_destroy(c);

    /* Once the server is up, the same handle works. */
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", S.port2);
    c = kf_eos_state_new(url, "kft", "g", err, sizeof err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(kf_eos_state_assign(c, "t", 0, &a, err, sizeof err), KF_STATUS_RETRY);
    ck_assert_msg(server_start(S.port2) == 0, "%s", S.why);
    int rc = kf_eos_state_assign(c, "t", 0, &a, err, sizeof err);
    server_stop(S.port2, SIGTERM);
    ck_assert_msg(rc == KF_STATUS_OK, "assign once up: %d %s", rc, err);
    ck_assert_int_eq(a.epoch, 1);
    kf_eos_assigned_free(&a);
    kf_eos_state_destroy(c);
}
END_TEST

/* A peer that accepts connections (the kernel's backlog) but never answers:
 * the call must give up after the command timeout with RETRY. */
START_TEST(test_timeout_is_retry)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    kf_eos_state *c = idem_on(ntohs(a.sin_port));
    kf_eos_assigned as;
    char err[512] = "";
    int64_t t0 = now_ms();
    ck_assert_int_eq(kf_eos_state_assign(c, "t", 0, &as, err, sizeof err), KF_STATUS_RETRY);
    int64_t took = now_ms() - t0;
    ck_assert_msg(took >= 4000 && took < 15000, "gave up after %lld ms", (long long)took);
    ck_assert_msg(strstr(err, "timeout"), "err: %s", err);
    kf_eos_state_destroy(c);
    close(fd);
}
END_TEST

START_TEST(test_bad_url)
{
    char err[512] = "";
    ck_assert_ptr_null(kf_eos_state_new("http://127.0.0.1", "kft", "g", err, sizeof err));
    ck_assert_msg(err[0], "no sentence for a bad URL");
}
END_TEST

/* ----------------------------------------------------------------- suite */

static Suite *idempotency_suite(void)
{
    Suite *s = suite_create("idempotency");
    TCase *tc = tcase_create("redis");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
    tcase_add_checked_fixture(tc, test_setup, test_teardown);
    tcase_add_test(tc, test_assign_epoch_and_done);
    tcase_add_test(tc, test_stale_epoch_fenced);
    tcase_add_test(tc, test_done_not_written_again);
    tcase_add_test(tc, test_trim);
    tcase_add_test(tc, test_owner_hand_over);
    tcase_add_test(tc, test_trim_rides_on_complete);
    tcase_add_test(tc, test_reload_after_script_flush);
    tcase_add_test(tc, test_reload_after_restart);
    tcase_add_test(tc, test_multi_part);
    tcase_add_test(tc, test_binary_values);
    tcase_add_test(tc, test_write_error_only_that_item);
    tcase_add_test(tc, test_claim);
    tcase_add_test(tc, test_round_trips);
    tcase_add_test(tc, test_complete_o1_per_part);
    tcase_add_test(tc, test_complete_split_large_part);
    tcase_add_test(tc, test_complete_mixed_runs);
    tcase_add_test(tc, test_complete_run_error);
    tcase_add_test(tc, test_complete_repeated_offset);
    tcase_add_test(tc, test_complete_fenced_runs);
    tcase_add_test(tc, test_uniform_fast_path);
    tcase_add_test(tc, test_uniform_wrongtype);
    tcase_add_test(tc, test_uniform_replay);
    tcase_add_test(tc, test_uniform_differential);
    tcase_add_test(tc, test_unreachable_then_up);
    tcase_add_test(tc, test_timeout_is_retry);
    tcase_add_test(tc, test_bad_url);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(idempotency_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
