/*
 * Unit tests of the exactly-once state (dispatcher/idempotency.c) against a
 * REAL redis-server that the suite starts itself on a free loopback port
 * (no persistence, in a temporary directory) and stops at the end.
 *
 * The server is daemonized with a pidfile so that a test running in a forked
 * Check child can kill and restart it and the suite's teardown still finds
 * the current one. Each test starts from FLUSHALL; inspections go through a
 * separate hiredis connection. Every wait is on a condition with a deadline.
 */
#include "dispatcher/idempotency.h"

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

static redisReply *rcmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(R, fmt, ap);
    va_end(ap);
    ck_assert_msg(r != NULL, "inspection command failed: %s", R->errstr);
    ck_assert_msg(r->type != REDIS_REPLY_ERROR, "inspection command: %s", r->str);
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

/* One field of INFO commandstats, e.g. ("evalsha", "calls"); 0 when absent. */
static long long cmdstat(const char *cmd, const char *field)
{
    redisReply *r = rcmd("INFO commandstats");
    char needle[128];
    snprintf(needle, sizeof needle, "cmdstat_%s:", cmd);
    long long v = 0;
    const char *p = strstr(r->str, needle);
    if (p) {
        const char *eol = strchr(p, '\n');
        char f[64];
        snprintf(f, sizeof f, "%s=", field);
        const char *q = strstr(p, f);
        if (q && (!eol || q < eol)) v = atoll(q + strlen(f));
    }
    freeReplyObject(r);
    return v;
}

#define TAG      "{kft:g:t:0}"
#define EPOCH(p) "{kft:g:t:" #p "}:epoch"
#define DONE(p)  "{kft:g:t:" #p "}:done"
#define BASE(p)  "{kft:g:t:" #p "}:base"

static kf_idem *idem_on(int port)
{
    char url[128], err[512] = "";
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    kf_idem *c = kf_idem_new(url, "kft", "g", err, sizeof err);
    ck_assert_msg(c != NULL, "kf_idem_new: %s", err);
    return c;
}

static int64_t assign(kf_idem *c, int32_t partition)
{
    kf_idem_assigned a;
    char err[512];
    int rc = kf_idem_assign(c, "t", partition, &a, err, sizeof err);
    ck_assert_msg(rc == KF_IDEM_OK, "assign: %d %s", rc, err);
    int64_t e = a.epoch;
    kf_idem_assigned_free(&a);
    return e;
}

/* Items of one part, each with at most one write "<cmd> <key> <value>". */
#define BATCH_MAX 1200
typedef struct batch {
    kf_idem_item items[BATCH_MAX];
    kf_idem_write writes[BATCH_MAX];
    const char *argv[BATCH_MAX][3];
    size_t len[BATCH_MAX][3];
    char val[BATCH_MAX][32];
    size_t n;
} batch;

static void add(batch *b, int64_t offset, const char *cmd, const char *key, const char *val)
{
    ck_assert_uint_lt(b->n, BATCH_MAX);
    size_t i = b->n++;
    b->items[i] = (kf_idem_item){.offset = offset};
    if (!cmd) return;
    snprintf(b->val[i], sizeof b->val[i], "%s", val);
    b->argv[i][0] = cmd;
    b->argv[i][1] = key;
    b->argv[i][2] = b->val[i];
    for (int j = 0; j < 3; j++)
        b->len[i][j] = strlen(b->argv[i][j]);
    b->writes[i] = (kf_idem_write){.argc = 3, .argv = b->argv[i], .argvlen = b->len[i]};
    b->items[i].writes = &b->writes[i];
    b->items[i].nwrites = 1;
}

static kf_idem_part part_of(const batch *b, int32_t partition, int64_t epoch, int64_t trim)
{
    return (kf_idem_part){.topic = "t",
                          .partition = partition,
                          .epoch = epoch,
                          .trim = trim,
                          .items = b->items,
                          .nitems = b->n};
}

/* complete() of one part; asserts KF_IDEM_OK and fills status. */
static void complete1(kf_idem *c, const char *sink, const batch *b, int32_t partition,
                      int64_t epoch, int64_t trim, int *status)
{
    kf_idem_part p = part_of(b, partition, epoch, trim);
    char err[512];
    int rc = kf_idem_complete(c, sink, &p, 1, status, err, sizeof err);
    ck_assert_msg(rc == KF_IDEM_OK, "complete: %d %s", rc, err);
}

/* Items with any number of writes of any shape (string literals, kept by
 * pointer): item() starts one, wr() adds a write to the last item. */
typedef struct mbatch {
    kf_idem_item items[64];
    kf_idem_write writes[128];
    const char *argv[128][8];
    size_t nitems, nwrites;
} mbatch;

static void item(mbatch *b, int64_t offset)
{
    ck_assert_uint_lt(b->nitems, 64);
    b->items[b->nitems++] = (kf_idem_item){.offset = offset, .writes = &b->writes[b->nwrites]};
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
    b->writes[w] = (kf_idem_write){.argc = argc, .argv = b->argv[w]};
    b->items[b->nitems - 1].nwrites++;
}

static kf_idem_part mpart_of(const mbatch *b, int32_t partition, int64_t epoch, int64_t trim)
{
    return (kf_idem_part){.topic = "t",
                          .partition = partition,
                          .epoch = epoch,
                          .trim = trim,
                          .items = b->items,
                          .nitems = b->nitems};
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
    kf_idem *c = idem_on(S.port);
    char tag[128];
    kf_idem_tag(c, "t", 0, tag, sizeof tag);
    ck_assert_str_eq(tag, TAG);

    kf_idem_assigned a;
    char err[512];
    ck_assert_int_eq(kf_idem_assign(c, "t", 0, &a, err, sizeof err), KF_IDEM_OK);
    ck_assert_int_eq(a.epoch, 1);
    ck_assert_int_eq(a.base, -1);
    ck_assert_uint_eq(a.ndone, 0);
    kf_idem_assigned_free(&a);

    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 5, "RPUSH", "L", "v5");
    add(&b, 6, "RPUSH", "L", "v6");
    int st[2];
    complete1(c, "a", &b, 0, 1, -1, st);
    ck_assert_int_eq(st[0], KF_IDEM_APPLIED);
    ck_assert_int_eq(st[1], KF_IDEM_APPLIED);
    memset(&b, 0, sizeof b);
    add(&b, 5, NULL, NULL, NULL); /* a mark only (e.g. HTTP after its 2xx) */
    complete1(c, "hook/x", &b, 0, 1, -1, st);
    ck_assert_int_eq(st[0], KF_IDEM_APPLIED);

    ck_assert_int_eq(kf_idem_assign(c, "t", 0, &a, err, sizeof err), KF_IDEM_OK);
    ck_assert_int_eq(a.epoch, 2);
    ck_assert_int_eq(a.base, -1);
    ck_assert_uint_eq(a.ndone, 3);
    ck_assert_int_eq(a.done[0].offset, 5);
    ck_assert_str_eq(a.done[0].sink, "a");
    ck_assert_int_eq(a.done[1].offset, 5);
    ck_assert_str_eq(a.done[1].sink, "hook/x");
    ck_assert_int_eq(a.done[2].offset, 6);
    ck_assert_str_eq(a.done[2].sink, "a");
    kf_idem_assigned_free(&a);
    ck_assert_ptr_null(a.mem);
    kf_idem_assigned_free(NULL);

    ck_assert_int_eq(rget_num(EPOCH(0)), 2);
    ck_assert_int_eq(rint_("LLEN L"), 2);
    /* Another partition has its own epoch. */
    ck_assert_int_eq(assign(c, 1), 1);
    kf_idem_destroy(c);
    kf_idem_destroy(NULL);
}
END_TEST

START_TEST(test_stale_epoch_fenced)
{
    kf_idem *c = idem_on(S.port);
    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 3, "RPUSH", "L", "x");
    add(&b, 4, "RPUSH", "L", "y");
    int st[2];

    /* Never assigned: no epoch key counts as stale. */
    complete1(c, "a", &b, 0, 1, 10, st);
    ck_assert_int_eq(st[0], KF_IDEM_FENCED);
    ck_assert_int_eq(st[1], KF_IDEM_FENCED);

    ck_assert_int_eq(assign(c, 0), 1);
    ck_assert_int_eq(assign(c, 0), 2);
    for (int64_t e = 1; e <= 3; e += 2) { /* older and newer than the owner's */
        st[0] = st[1] = -1;
        complete1(c, "a", &b, 0, e, 10, st);
        ck_assert_int_eq(st[0], KF_IDEM_FENCED);
        ck_assert_int_eq(st[1], KF_IDEM_FENCED);
    }
    /* Nothing written: no effect, no mark, no trim. */
    ck_assert_int_eq(rint_("EXISTS L"), 0);
    ck_assert_int_eq(rint_("EXISTS %s", DONE(0)), 0);
    ck_assert_int_eq(rint_("EXISTS %s", BASE(0)), 0);

    /* The owner's epoch writes (so the checks above could have failed). */
    complete1(c, "a", &b, 0, 2, -1, st);
    ck_assert_int_eq(st[0], KF_IDEM_APPLIED);
    ck_assert_int_eq(st[1], KF_IDEM_APPLIED);
    ck_assert_int_eq(rint_("LLEN L"), 2);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 2);
    kf_idem_destroy(c);
}
END_TEST

START_TEST(test_done_not_written_again)
{
    kf_idem *c = idem_on(S.port);
    int64_t e = assign(c, 0);
    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 7, "RPUSH", "L", "v7");
    int st[2];
    complete1(c, "a", &b, 0, e, -1, st);
    ck_assert_int_eq(st[0], KF_IDEM_APPLIED);
    complete1(c, "a", &b, 0, e, -1, st);
    ck_assert_int_eq(st[0], KF_IDEM_SKIPPED);
    ck_assert_int_eq(rint_("LLEN L"), 1);

    /* A new owner replaying the record: still done for sink a. */
    e = assign(c, 0);
    complete1(c, "a", &b, 0, e, -1, st);
    ck_assert_int_eq(st[0], KF_IDEM_SKIPPED);
    ck_assert_int_eq(rint_("LLEN L"), 1);

    /* The same offset for another sink is its own effect. */
    memset(&b, 0, sizeof b);
    add(&b, 7, "RPUSH", "L2", "v7");
    complete1(c, "b", &b, 0, e, -1, st);
    ck_assert_int_eq(st[0], KF_IDEM_APPLIED);
    ck_assert_int_eq(rint_("LLEN L2"), 1);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 2);

    /* The same record twice in one call: written once. */
    memset(&b, 0, sizeof b);
    add(&b, 8, "RPUSH", "L", "v8");
    add(&b, 8, "RPUSH", "L", "v8");
    complete1(c, "a", &b, 0, e, -1, st);
    ck_assert_int_eq(st[0], KF_IDEM_APPLIED);
    ck_assert_int_eq(st[1], KF_IDEM_SKIPPED);
    ck_assert_int_eq(rint_("LLEN L"), 2);
    kf_idem_destroy(c);
}
END_TEST

START_TEST(test_trim)
{
    kf_idem *c = idem_on(S.port);
    int64_t e = assign(c, 0);
    static batch b;
    memset(&b, 0, sizeof b);
    for (int i = 0; i < 10; i++)
        add(&b, i, NULL, NULL, NULL);
    int st[10];
    complete1(c, "a", &b, 0, e, -1, st);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 10);

    char err[512];
    int fenced = -1;
    ck_assert_int_eq(kf_idem_trim(c, "t", 0, e, 6, &fenced, err, sizeof err), KF_IDEM_OK);
    ck_assert_int_eq(fenced, 0);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 4); /* 6..9 */
    ck_assert_int_eq(rint_("ZCOUNT %s -inf 5", DONE(0)), 0);
    ck_assert_int_eq(rget_num(BASE(0)), 6);

    /* The watermark never goes back. */
    ck_assert_int_eq(kf_idem_trim(c, "t", 0, e, 3, &fenced, err, sizeof err), KF_IDEM_OK);
    ck_assert_int_eq(rget_num(BASE(0)), 6);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 4);

    /* Fenced: nothing trimmed. */
    ck_assert_int_eq(kf_idem_trim(c, "t", 0, e + 1, 9, &fenced, err, sizeof err), KF_IDEM_OK);
    ck_assert_int_eq(fenced, 1);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 4);
    ck_assert_int_eq(rget_num(BASE(0)), 6);

    /* A record below the watermark is done and committed: not written. */
    memset(&b, 0, sizeof b);
    add(&b, 2, "RPUSH", "L", "late");
    complete1(c, "a", &b, 0, e, -1, st);
    ck_assert_int_eq(st[0], KF_IDEM_SKIPPED);
    ck_assert_int_eq(rint_("EXISTS L"), 0);

    kf_idem_assigned a;
    ck_assert_int_eq(kf_idem_assign(c, "t", 0, &a, err, sizeof err), KF_IDEM_OK);
    ck_assert_int_eq(a.base, 6);
    ck_assert_uint_eq(a.ndone, 4);
    ck_assert_int_eq(a.done[0].offset, 6);
    kf_idem_assigned_free(&a);
    kf_idem_destroy(c);
}
END_TEST

START_TEST(test_trim_rides_on_complete)
{
    kf_idem *c = idem_on(S.port);
    int64_t e = assign(c, 0);
    static batch b;
    memset(&b, 0, sizeof b);
    for (int i = 0; i < 5; i++)
        add(&b, i, NULL, NULL, NULL);
    int st[5];
    complete1(c, "a", &b, 0, e, -1, st);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 5);

    memset(&b, 0, sizeof b);
    add(&b, 5, "RPUSH", "L", "v5");
    complete1(c, "a", &b, 0, e, 3, st);
    ck_assert_int_eq(st[0], KF_IDEM_APPLIED);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 3); /* 3, 4, 5 */
    ck_assert_int_eq(rint_("ZCOUNT %s -inf 2", DONE(0)), 0);
    ck_assert_int_eq(rget_num(BASE(0)), 3);
    ck_assert_int_eq(rint_("LLEN L"), 1);

    /* A trim with no items still rides (a part with nitems = 0). */
    memset(&b, 0, sizeof b);
    complete1(c, "a", &b, 0, e, 5, st);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 1);
    ck_assert_int_eq(rget_num(BASE(0)), 5);
    kf_idem_destroy(c);
}
END_TEST

START_TEST(test_reload_after_script_flush)
{
    kf_idem *c = idem_on(S.port);
    int64_t e = assign(c, 0);
    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 1, "RPUSH", "L", "v1");
    int st[1];
    complete1(c, "a", &b, 0, e, -1, st);
    ck_assert_int_eq(st[0], KF_IDEM_APPLIED);

    freeReplyObject(rcmd("SCRIPT FLUSH"));
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    memset(&b, 0, sizeof b);
    add(&b, 2, "RPUSH", "L", "v2");
    complete1(c, "a", &b, 0, e, -1, st);
    ck_assert_int_eq(st[0], KF_IDEM_APPLIED);
    ck_assert_int_eq(rint_("LLEN L"), 2);
    /* The connection survived, so the reload came from NOSCRIPT. */
    ck_assert_int_eq(cmdstat("script|load", "calls"), 1);
    ck_assert_int_eq(cmdstat("evalsha", "calls"), 2);

    /* Other scripts reload too. */
    freeReplyObject(rcmd("SCRIPT FLUSH"));
    ck_assert_int_eq(assign(c, 0), e + 1);
    kf_idem_destroy(c);
}
END_TEST

START_TEST(test_reload_after_restart)
{
    kf_idem *c = idem_on(S.port);
    ck_assert_int_eq(assign(c, 0), 1);

    server_stop(S.port, SIGKILL);
    ck_assert_msg(server_start(S.port) == 0, "%s", S.why);
    reconnect_R();

    /* The old connection is dead: the first call may see it (RETRY), the
     * next one reconnects and reloads the scripts. */
    kf_idem_assigned a;
    char err[512] = "";
    int rc = kf_idem_assign(c, "t", 0, &a, err, sizeof err);
    ck_assert_msg(rc == KF_IDEM_OK || rc == KF_IDEM_RETRY, "assign after restart: %d %s", rc, err);
    if (rc == KF_IDEM_RETRY) {
        ck_assert_msg(err[0] != '\0', "RETRY without a sentence");
        rc = kf_idem_assign(c, "t", 0, &a, err, sizeof err);
        ck_assert_msg(rc == KF_IDEM_OK, "second assign after restart: %d %s", rc, err);
    }
    ck_assert_int_eq(a.epoch, 1); /* no persistence: the state is gone */
    int64_t e = a.epoch;
    kf_idem_assigned_free(&a);

    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 1, "RPUSH", "L", "v1");
    int st[1];
    complete1(c, "a", &b, 0, e, -1, st);
    ck_assert_int_eq(st[0], KF_IDEM_APPLIED);
    ck_assert_int_eq(rint_("LLEN L"), 1);
    kf_idem_destroy(c);
}
END_TEST

START_TEST(test_multi_part)
{
    kf_idem *c = idem_on(S.port);
    ck_assert_int_eq(assign(c, 0), 1);
    ck_assert_int_eq(assign(c, 1), 1);
    ck_assert_int_eq(assign(c, 0), 2); /* a newer owner took partition 0 */

    static batch b0, b1;
    memset(&b0, 0, sizeof b0);
    memset(&b1, 0, sizeof b1);
    add(&b0, 10, "RPUSH", "L0", "a");
    add(&b0, 11, "RPUSH", "L0", "b");
    add(&b1, 20, "RPUSH", "L1", "c");
    add(&b1, 21, "RPUSH", "L1", "d");
    kf_idem_part parts[2] = {part_of(&b0, 0, 1, 5), part_of(&b1, 1, 1, -1)};
    int st[4] = {-1, -1, -1, -1};
    char err[512];
    ck_assert_int_eq(kf_idem_complete(c, "a", parts, 2, st, err, sizeof err), KF_IDEM_OK);
    ck_assert_int_eq(st[0], KF_IDEM_FENCED);
    ck_assert_int_eq(st[1], KF_IDEM_FENCED);
    ck_assert_int_eq(st[2], KF_IDEM_APPLIED);
    ck_assert_int_eq(st[3], KF_IDEM_APPLIED);
    ck_assert_int_eq(rint_("EXISTS L0"), 0);
    ck_assert_int_eq(rint_("EXISTS %s", DONE(0)), 0);
    ck_assert_int_eq(rint_("EXISTS %s", BASE(0)), 0);
    ck_assert_int_eq(rint_("LLEN L1"), 2);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(1)), 2);
    redisReply *r = rcmd("LRANGE L1 0 -1");
    ck_assert_str_eq(r->element[0]->str, "c");
    ck_assert_str_eq(r->element[1]->str, "d");
    freeReplyObject(r);

    /* No parts: nothing to do. */
    ck_assert_int_eq(kf_idem_complete(c, "a", NULL, 0, st, err, sizeof err), KF_IDEM_OK);
    kf_idem_destroy(c);
}
END_TEST

START_TEST(test_binary_values)
{
    kf_idem *c = idem_on(S.port);
    int64_t e = assign(c, 0);
    size_t n = 1 << 20;
    char *val = malloc(n);
    ck_assert_ptr_nonnull(val);
    for (size_t i = 0; i < n; i++)
        val[i] = (char)(i * 31 % 251); /* NULs included */
    static const char key[] = "bin\0key";
    const char *argv[3] = {"SET", key, val};
    size_t len[3] = {3, sizeof key - 1, n};
    kf_idem_write w = {.argc = 3, .argv = argv, .argvlen = len};
    kf_idem_item it = {.offset = 1, .writes = &w, .nwrites = 1};
    kf_idem_part p = {
        .topic = "t", .partition = 0, .epoch = e, .trim = -1, .items = &it, .nitems = 1};
    int st[1];
    char err[512];
    ck_assert_int_eq(kf_idem_complete(c, "a", &p, 1, st, err, sizeof err), KF_IDEM_OK);
    ck_assert_int_eq(st[0], KF_IDEM_APPLIED);

    redisReply *r = rcmd("GET %b", key, sizeof key - 1);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_uint_eq(r->len, n);
    ck_assert(memcmp(r->str, val, n) == 0);
    freeReplyObject(r);
    ck_assert_int_eq(rint_("EXISTS bin"), 0); /* not cut at the NUL */
    free(val);
    kf_idem_destroy(c);
}
END_TEST

START_TEST(test_write_error_only_that_item)
{
    kf_idem *c = idem_on(S.port);
    int64_t e = assign(c, 0);
    freeReplyObject(rcmd("SET S str"));
    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 1, "RPUSH", "L", "a");
    add(&b, 2, "RPUSH", "S", "b"); /* WRONGTYPE */
    add(&b, 3, "RPUSH", "L", "c");
    int st[4];
    kf_idem_part p = part_of(&b, 0, e, -1);
    char err[512] = "";
    ck_assert_int_eq(kf_idem_complete(c, "a", &p, 1, st, err, sizeof err), KF_IDEM_OK);
    ck_assert_int_eq(st[0], KF_IDEM_APPLIED);
    ck_assert_int_eq(st[1], KF_IDEM_ERROR);
    ck_assert_int_eq(st[2], KF_IDEM_APPLIED);
    ck_assert_msg(strncmp(err, "WRONGTYPE", 9) == 0, "err: %s", err);
    ck_assert_int_eq(rint_("LLEN L"), 2);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 2);
    redisReply *r = rcmd("ZSCORE %s 2/a", DONE(0));
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);

    /* An item with two writes where the second fails: unmarked, and (Lua
     * scripts do not roll back) its first write stays, as documented. */
    const char *w1[3] = {"RPUSH", "L", "d"}, *w2[3] = {"RPUSH", "S", "e"};
    kf_idem_write ws[2] = {{.argc = 3, .argv = w1}, {.argc = 3, .argv = w2}};
    kf_idem_item it = {.offset = 4, .writes = ws, .nwrites = 2};
    p = (kf_idem_part){
        .topic = "t", .partition = 0, .epoch = e, .trim = -1, .items = &it, .nitems = 1};
    ck_assert_int_eq(kf_idem_complete(c, "a", &p, 1, st, err, sizeof err), KF_IDEM_OK);
    ck_assert_int_eq(st[0], KF_IDEM_ERROR);
    ck_assert_int_eq(rint_("LLEN L"), 3);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 2);

    /* A bad write (no arguments) is refused before any round trip. */
    kf_idem_write bad = {.argc = 0, .argv = w1};
    it = (kf_idem_item){.offset = 5, .writes = &bad, .nwrites = 1};
    ck_assert_int_eq(kf_idem_complete(c, "a", &p, 1, st, err, sizeof err), KF_IDEM_FAIL);
    ck_assert_int_eq(kf_idem_complete(c, "", &p, 1, st, err, sizeof err), KF_IDEM_FAIL);
    kf_idem_destroy(c);
}
END_TEST

START_TEST(test_claim)
{
    kf_idem *c = idem_on(S.port);
    int64_t e = assign(c, 0);
    char err[512];
    int dup[4], fenced = -1;

    const char *k1[3] = {"k1", "k2", "k\0x"};
    size_t l1[3] = {2, 2, 3};
    int64_t o1[3] = {1, 2, 3};
    ck_assert_int_eq(
        kf_idem_claim(c, "t", 0, e, k1, l1, o1, 3, 60000, dup, &fenced, err, sizeof err),
        KF_IDEM_OK);
    ck_assert_int_eq(fenced, 0);
    ck_assert_int_eq(dup[0], 0);
    ck_assert_int_eq(dup[1], 0);
    ck_assert_int_eq(dup[2], 0);
    ck_assert_int_eq(rint_("EXISTS %b", TAG ":bk:k\0x", sizeof(TAG ":bk:k\0x") - 1), 1);
    long long ttl = rint_("PTTL " TAG ":bk:k1");
    ck_assert_msg(ttl > 0 && ttl <= 60000, "PTTL %lld", ttl);

    /* Replay of the same record, then a producer-side duplicate, then two
     * records with one key in the same call. */
    const char *k2[4] = {"k1", "k2", "n", "n"};
    int64_t o2[4] = {1, 9, 4, 5};
    ck_assert_int_eq(
        kf_idem_claim(c, "t", 0, e, k2, NULL, o2, 4, 60000, dup, &fenced, err, sizeof err),
        KF_IDEM_OK);
    ck_assert_int_eq(dup[0], 0);
    ck_assert_int_eq(dup[1], 1);
    ck_assert_int_eq(dup[2], 0);
    ck_assert_int_eq(dup[3], 1);

    /* Fenced: nothing written. */
    const char *k3[1] = {"z"};
    int64_t o3[1] = {7};
    ck_assert_int_eq(
        kf_idem_claim(c, "t", 0, e - 1, k3, NULL, o3, 1, 60000, dup, &fenced, err, sizeof err),
        KF_IDEM_OK);
    ck_assert_int_eq(fenced, 1);
    ck_assert_int_eq(rint_("EXISTS " TAG ":bk:z"), 0);

    /* After the window the key is free again. */
    const char *k4[1] = {"w"};
    int64_t o4[1] = {10}, o5[1] = {11};
    ck_assert_int_eq(
        kf_idem_claim(c, "t", 0, e, k4, NULL, o4, 1, 100, dup, &fenced, err, sizeof err),
        KF_IDEM_OK);
    ck_assert_int_eq(dup[0], 0);
    ck_assert_int_eq(
        kf_idem_claim(c, "t", 0, e, k4, NULL, o5, 1, 100, dup, &fenced, err, sizeof err),
        KF_IDEM_OK);
    ck_assert_int_eq(dup[0], 1);
    bool freed = false;
    for (int64_t end = now_ms() + 5000; !freed && now_ms() < end; nap_ms(20)) {
        ck_assert_int_eq(
            kf_idem_claim(c, "t", 0, e, k4, NULL, o5, 1, 100, dup, &fenced, err, sizeof err),
            KF_IDEM_OK);
        freed = dup[0] == 0;
    }
    ck_assert_msg(freed, "the marker did not expire after its 100 ms window");

    ck_assert_int_eq(kf_idem_claim(c, "t", 0, e, k4, NULL, o5, 1, 0, dup, &fenced, err, sizeof err),
                     KF_IDEM_FAIL);
    kf_idem_destroy(c);
}
END_TEST

START_TEST(test_round_trips)
{
    kf_idem *c = idem_on(S.port);
    int64_t e[3];
    for (int p = 0; p < 3; p++)
        e[p] = assign(c, p);
    static batch b[3];
    memset(b, 0, sizeof b);
    for (int i = 0; i < 500; i++) {
        char v[32];
        snprintf(v, sizeof v, "v%d", i);
        add(&b[i % 3], 1000 + i, "RPUSH", "L", v);
    }
    kf_idem_part parts[3];
    for (int p = 0; p < 3; p++)
        parts[p] = part_of(&b[p], p, e[p], 900);

    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    static int st[500];
    char err[512];
    ck_assert_int_eq(kf_idem_complete(c, "a", parts, 3, st, err, sizeof err), KF_IDEM_OK);
    for (int i = 0; i < 500; i++)
        ck_assert_int_eq(st[i], KF_IDEM_APPLIED);
    ck_assert_int_eq(cmdstat("evalsha", "calls"), 1);
    ck_assert_int_eq(cmdstat("eval", "calls"), 0);
    /* One RPUSH per part (each part's items are one run on L), one ZMSCORE
     * and one ZADD per part: not one per record. */
    ck_assert_int_eq(cmdstat("rpush", "calls"), 3);
    ck_assert_int_eq(cmdstat("zmscore", "calls"), 3);
    ck_assert_int_eq(cmdstat("zadd", "calls"), 3);
    ck_assert_int_eq(cmdstat("zscore", "calls"), 0);
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
    ck_assert_int_eq(
        kf_idem_claim(c, "t", 0, e[0], keys, NULL, offs, 500, 60000, dup, &fenced, err, sizeof err),
        KF_IDEM_OK);
    ck_assert_int_eq(cmdstat("evalsha", "calls"), 2);
    kf_idem_destroy(c);
}
END_TEST

/* 200 single-RPUSH records of one part on one list: a constant number of
 * Redis commands inside the script (one RPUSH, one ZMSCORE, one ZADD), not
 * three per record; the values land in item order. */
START_TEST(test_complete_o1_per_part)
{
    kf_idem *c = idem_on(S.port);
    int64_t e = assign(c, 0);
    static batch b;
    memset(&b, 0, sizeof b);
    static char want[200][32];
    static const char *wantp[200];
    for (int i = 0; i < 200; i++) {
        snprintf(want[i], sizeof want[i], "v%d", i);
        wantp[i] = want[i];
        add(&b, 100 + i, "RPUSH", "L", want[i]);
    }
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    static int st[200];
    complete1(c, "a", &b, 0, e, -1, st);
    for (int i = 0; i < 200; i++)
        ck_assert_msg(st[i] == KF_IDEM_APPLIED, "item %d: status %d", i, st[i]);
    ck_assert_int_eq(cmdstat("evalsha", "calls"), 1);
    ck_assert_int_eq(cmdstat("rpush", "calls"), 1);
    ck_assert_int_eq(cmdstat("zmscore", "calls"), 1);
    ck_assert_int_eq(cmdstat("zadd", "calls"), 1);
    ck_assert_int_eq(cmdstat("zscore", "calls"), 0);
    assert_list("L", wantp, 200);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 200);
    ck_assert_int_eq(rint_("ZCOUNT %s 100 299", DONE(0)), 200);
    ck_assert(marked(0, 100, "a") && marked(0, 299, "a"));

    /* Replayed: all SKIPPED by the one ZMSCORE; no write and no ZADD. */
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    complete1(c, "a", &b, 0, e, -1, st);
    for (int i = 0; i < 200; i++)
        ck_assert_msg(st[i] == KF_IDEM_SKIPPED, "replay item %d: status %d", i, st[i]);
    ck_assert_int_eq(cmdstat("zmscore", "calls"), 1);
    ck_assert_int_eq(cmdstat("rpush", "calls"), 0);
    ck_assert_int_eq(cmdstat("zadd", "calls"), 0);
    ck_assert_int_eq(rint_("LLEN L"), 200);
    kf_idem_destroy(c);
}
END_TEST

/* More items than one call may carry (1000 values): the run, the ZMSCORE
 * and the ZADD are split, order and marks stay whole. */
START_TEST(test_complete_split_large_part)
{
    kf_idem *c = idem_on(S.port);
    int64_t e = assign(c, 0);
    static batch b;
    memset(&b, 0, sizeof b);
    enum { N = 1100 };
    static char want[N][32];
    static const char *wantp[N];
    for (int i = 0; i < N; i++) {
        snprintf(want[i], sizeof want[i], "v%d", i);
        wantp[i] = want[i];
        add(&b, i, "RPUSH", "L", want[i]);
    }
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    static int st[N + 1];
    complete1(c, "a", &b, 0, e, -1, st);
    for (int i = 0; i < N; i++)
        ck_assert_msg(st[i] == KF_IDEM_APPLIED, "item %d: status %d", i, st[i]);
    assert_list("L", wantp, N);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), N);
    /* 1100 values: 2 RPUSH; 1100 members: 2 ZMSCORE; 2200 score/member
     * values: 3 ZADD. */
    ck_assert_int_eq(cmdstat("rpush", "calls"), 2);
    ck_assert_int_eq(cmdstat("zmscore", "calls"), 2);
    ck_assert_int_eq(cmdstat("zadd", "calls"), 3);

    /* The second ZMSCORE sees its members too. */
    memset(&b, 0, sizeof b);
    for (int i = 0; i < N; i++)
        add(&b, i, "RPUSH", "L", i == 1050 ? "again" : "x");
    add(&b, N, "RPUSH", "L", "new");
    complete1(c, "a", &b, 0, e, -1, st);
    for (int i = 0; i < N; i++)
        ck_assert_msg(st[i] == KF_IDEM_SKIPPED, "replay item %d: status %d", i, st[i]);
    ck_assert_int_eq(st[N], KF_IDEM_APPLIED);
    ck_assert_int_eq(rint_("LLEN L"), N + 1);
    kf_idem_destroy(c);
}
END_TEST

/* Runs broken by another key, by another command and by a two-write item;
 * skipped items (marked, below base) inside runs; every mergeable command. */
START_TEST(test_complete_mixed_runs)
{
    kf_idem *c = idem_on(S.port);
    int64_t e = assign(c, 0);
    /* Base 10, and offsets 12 and 15 already done for sink a. */
    static mbatch m;
    memset(&m, 0, sizeof m);
    item(&m, 12);
    item(&m, 15);
    kf_idem_part p = mpart_of(&m, 0, e, 10);
    int st[64];
    char err[512] = "";
    ck_assert_int_eq(kf_idem_complete(c, "a", &p, 1, st, err, sizeof err), KF_IDEM_OK);
    ck_assert_int_eq(rget_num(BASE(0)), 10);
    freeReplyObject(rcmd("SET K3 gone"));
    freeReplyObject(rcmd("HSET H2 f1 1 f2 2 f3 3"));
    freeReplyObject(rcmd("CONFIG RESETSTAT"));

    memset(&m, 0, sizeof m);
    item(&m, 5), wr(&m, 3, "RPUSH", "L", "b5"); /* below base: SKIPPED */
    item(&m, 11), wr(&m, 3, "RPUSH", "L", "a11");
    item(&m, 12), wr(&m, 3, "RPUSH", "L", "a12"); /* marked: SKIPPED */
    item(&m, 13), wr(&m, 3, "RPUSH", "L", "a13");
    item(&m, 14), wr(&m, 3, "RPUSH", "M", "m14"); /* another key */
    item(&m, 15), wr(&m, 3, "RPUSH", "M", "m15"); /* marked: SKIPPED */
    item(&m, 16), wr(&m, 3, "RPUSH", "L", "a16");
    item(&m, 17), wr(&m, 4, "HSET", "H", "f", "1");
    item(&m, 18), wr(&m, 4, "HSET", "H", "g", "2");
    item(&m, 19), wr(&m, 6, "HSET", "H", "f", "3", "h", "x"); /* f again: 3 wins */
    item(&m, 20), wr(&m, 3, "RPUSH", "L", "a20"), wr(&m, 4, "HSET", "H", "g", "20");
    item(&m, 21), wr(&m, 4, "HSET", "H", "g", "4"); /* after item 20: 4 wins */
    item(&m, 22), wr(&m, 3, "RPUSH", "L", "a22");
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
    ck_assert_int_eq(kf_idem_complete(c, "a", &p, 1, st, err, sizeof err), KF_IDEM_OK);
    for (size_t i = 0; i < n; i++) {
        int64_t off = m.items[i].offset;
        int want = off == 5 || off == 12 || off == 15 ? KF_IDEM_SKIPPED : KF_IDEM_APPLIED;
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
    ck_assert_int_eq(cmdstat("rpush", "calls"), 5);
    ck_assert_int_eq(cmdstat("hset", "calls"), 3);
    ck_assert_int_eq(cmdstat("mset", "calls"), 1);
    ck_assert_int_eq(cmdstat("set", "calls"), 2);
    ck_assert_int_eq(cmdstat("del", "calls"), 1);
    ck_assert_int_eq(cmdstat("lpush", "calls"), 1);
    ck_assert_int_eq(cmdstat("sadd", "calls"), 1);
    ck_assert_int_eq(cmdstat("hdel", "calls"), 1);
    ck_assert_int_eq(cmdstat("zmscore", "calls"), 1);
    ck_assert_int_eq(cmdstat("zadd", "calls"), 1);
    kf_idem_destroy(c);
}
END_TEST

/* A merged run that fails (RPUSH onto a string): every item of that run is
 * an error and unmarked, nothing of it written; other runs unaffected. */
START_TEST(test_complete_run_error)
{
    kf_idem *c = idem_on(S.port);
    int64_t e = assign(c, 0);
    freeReplyObject(rcmd("SET S str"));
    static mbatch m;
    memset(&m, 0, sizeof m);
    item(&m, 1), wr(&m, 3, "RPUSH", "L", "a");
    item(&m, 2), wr(&m, 3, "RPUSH", "L", "b");
    item(&m, 3), wr(&m, 3, "RPUSH", "S", "c"); /* WRONGTYPE run: 3, 4, 5 */
    item(&m, 4), wr(&m, 3, "RPUSH", "S", "d");
    item(&m, 5), wr(&m, 3, "RPUSH", "S", "e");
    item(&m, 6), wr(&m, 3, "RPUSH", "L", "f");
    item(&m, 7), wr(&m, 4, "HSET", "H", "k", "1");
    item(&m, 8), wr(&m, 4, "HSET", "H", "k", "2");
    kf_idem_part p = mpart_of(&m, 0, e, -1);
    int st[8];
    char err[512] = "";
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    ck_assert_int_eq(kf_idem_complete(c, "a", &p, 1, st, err, sizeof err), KF_IDEM_OK);
    static const int want[8] = {KF_IDEM_APPLIED, KF_IDEM_APPLIED, KF_IDEM_ERROR,   KF_IDEM_ERROR,
                                KF_IDEM_ERROR,   KF_IDEM_APPLIED, KF_IDEM_APPLIED, KF_IDEM_APPLIED};
    for (int i = 0; i < 8; i++)
        ck_assert_msg(st[i] == want[i], "item %d: status %d, want %d", i, st[i], want[i]);
    ck_assert_msg(strncmp(err, "WRONGTYPE", 9) == 0, "err: %s", err);
    ck_assert_int_eq(cmdstat("rpush", "calls"), 3); /* {1,2} {3,4,5} {6}: merged */
    ck_assert_int_eq(cmdstat("hset", "calls"), 1);
    redisReply *r = rcmd("GET S");
    ck_assert_str_eq(r->str, "str");
    freeReplyObject(r);
    static const char *const l[] = {"a", "b", "f"};
    assert_list("L", l, 3);
    char v[16];
    hget("H", "k", v, sizeof v);
    ck_assert_str_eq(v, "2");
    for (int i = 0; i < 8; i++)
        ck_assert_msg(marked(0, i + 1, "a") == (want[i] == KF_IDEM_APPLIED), "offset %d mark",
                      i + 1);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 5);

    /* The failed records are retried once the key is fixed: only they run. */
    freeReplyObject(rcmd("DEL S"));
    for (int i = 0; i < 8; i++)
        st[i] = -1;
    ck_assert_int_eq(kf_idem_complete(c, "a", &p, 1, st, err, sizeof err), KF_IDEM_OK);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(st[i], want[i] == KF_IDEM_ERROR ? KF_IDEM_APPLIED : KF_IDEM_SKIPPED);
    static const char *const s[] = {"c", "d", "e"};
    assert_list("S", s, 3);
    assert_list("L", l, 3);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 8);
    kf_idem_destroy(c);
}
END_TEST

/* An offset given twice in one part is written once, after its earlier
 * copy's outcome: SKIPPED after an APPLIED copy, run after a failed one. */
START_TEST(test_complete_repeated_offset)
{
    kf_idem *c = idem_on(S.port);
    int64_t e = assign(c, 0);
    freeReplyObject(rcmd("SET S str"));
    static mbatch m;
    memset(&m, 0, sizeof m);
    item(&m, 1), wr(&m, 3, "RPUSH", "L", "p");
    item(&m, 1), wr(&m, 3, "RPUSH", "L", "q"); /* same run key: still once */
    item(&m, 2), wr(&m, 3, "RPUSH", "S", "x"); /* fails */
    item(&m, 2), wr(&m, 3, "RPUSH", "L", "y"); /* so this one runs */
    item(&m, 2), wr(&m, 3, "RPUSH", "L", "z"); /* and this one is done */
    item(&m, 3), wr(&m, 3, "RPUSH", "L", "r");
    kf_idem_part p = mpart_of(&m, 0, e, -1);
    int st[6];
    char err[512] = "";
    ck_assert_int_eq(kf_idem_complete(c, "a", &p, 1, st, err, sizeof err), KF_IDEM_OK);
    ck_assert_int_eq(st[0], KF_IDEM_APPLIED);
    ck_assert_int_eq(st[1], KF_IDEM_SKIPPED);
    ck_assert_int_eq(st[2], KF_IDEM_ERROR);
    ck_assert_int_eq(st[3], KF_IDEM_APPLIED);
    ck_assert_int_eq(st[4], KF_IDEM_SKIPPED);
    ck_assert_int_eq(st[5], KF_IDEM_APPLIED);
    static const char *const l[] = {"p", "y", "r"};
    assert_list("L", l, 3);
    ck_assert_int_eq(rint_("ZCARD %s", DONE(0)), 3);
    kf_idem_destroy(c);
}
END_TEST

/* A fenced part with runs, a two-write item and writes of every shape:
 * nothing written, every item FENCED, not even a ZMSCORE; a live part after
 * it in the same call still finds its own keys and values. */
START_TEST(test_complete_fenced_runs)
{
    kf_idem *c = idem_on(S.port);
    ck_assert_int_eq(assign(c, 0), 1);
    ck_assert_int_eq(assign(c, 0), 2);
    int64_t e1 = assign(c, 1);
    static mbatch f, l;
    memset(&f, 0, sizeof f);
    memset(&l, 0, sizeof l);
    item(&f, 1), wr(&f, 3, "RPUSH", "F", "a");
    item(&f, 2), wr(&f, 3, "RPUSH", "F", "b");
    item(&f, 3), wr(&f, 4, "HSET", "FH", "k", "v");
    item(&f, 4), wr(&f, 3, "RPUSH", "F", "c"), wr(&f, 1, "PING");
    item(&f, 5);
    item(&f, 6), wr(&f, 2, "DEL", "FX"), wr(&f, 5, "SET", "FS", "v", "PX", "1000");
    item(&f, 7), wr(&f, 3, "SET", "FS1", "v"), wr(&f, 3, "SET", "FS2", "v");
    item(&l, 10), wr(&l, 3, "RPUSH", "L", "x");
    item(&l, 11), wr(&l, 3, "RPUSH", "L", "y");
    item(&l, 12), wr(&l, 4, "HSET", "H", "k", "v");
    kf_idem_part parts[2] = {mpart_of(&f, 0, 1, 5), mpart_of(&l, 1, e1, -1)};
    int st[10];
    char err[512] = "";
    freeReplyObject(rcmd("SET FX keep"));
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    ck_assert_int_eq(kf_idem_complete(c, "a", parts, 2, st, err, sizeof err), KF_IDEM_OK);
    for (int i = 0; i < 7; i++)
        ck_assert_msg(st[i] == KF_IDEM_FENCED, "fenced item %d: status %d", i, st[i]);
    for (int i = 7; i < 10; i++)
        ck_assert_msg(st[i] == KF_IDEM_APPLIED, "live item %d: status %d", i, st[i]);
    ck_assert_int_eq(rint_("EXISTS F FH FS FS1 FS2"), 0);
    ck_assert_int_eq(rint_("EXISTS FX"), 1);
    ck_assert_int_eq(rint_("EXISTS %s", DONE(0)), 0);
    ck_assert_int_eq(rint_("EXISTS %s", BASE(0)), 0);
    ck_assert_int_eq(cmdstat("ping", "calls"), 0);
    ck_assert_int_eq(cmdstat("del", "calls"), 0);
    ck_assert_int_eq(cmdstat("set", "calls"), 0);
    ck_assert_int_eq(cmdstat("zmscore", "calls"), 1); /* the live part's */
    ck_assert_int_eq(cmdstat("zadd", "calls"), 1);
    static const char *const want[] = {"x", "y"};
    assert_list("L", want, 2);
    char v[16];
    hget("H", "k", v, sizeof v);
    ck_assert_str_eq(v, "v");
    ck_assert_int_eq(rint_("ZCARD %s", DONE(1)), 3);
    kf_idem_destroy(c);
}
END_TEST

START_TEST(test_unreachable_then_up)
{
    char url[128], err[512] = "";
    snprintf(url, sizeof url, "redis://:secret@127.0.0.1:%d/0", S.port2);
    kf_idem *c = kf_idem_new(url, "kft", "g", err, sizeof err);
    ck_assert_msg(c != NULL, "kf_idem_new: %s", err);

    kf_idem_assigned a;
    ck_assert_int_eq(kf_idem_assign(c, "t", 0, &a, err, sizeof err), KF_IDEM_RETRY);
    ck_assert_msg(err[0] && !strstr(err, "secret"), "err: %s", err);
    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 1, "RPUSH", "L", "v");
    kf_idem_part p = part_of(&b, 0, 1, -1);
    int st[1], fenced, dup[1];
    ck_assert_int_eq(kf_idem_complete(c, "a", &p, 1, st, err, sizeof err), KF_IDEM_RETRY);
    ck_assert_int_eq(kf_idem_trim(c, "t", 0, 1, 1, &fenced, err, sizeof err), KF_IDEM_RETRY);
    const char *k[1] = {"k"};
    int64_t o[1] = {1};
    ck_assert_int_eq(
        kf_idem_claim(c, "t", 0, 1, k, NULL, o, 1, 1000, dup, &fenced, err, sizeof err),
        KF_IDEM_RETRY);
    kf_idem_destroy(c);

    /* Once the server is up, the same handle works. */
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", S.port2);
    c = kf_idem_new(url, "kft", "g", err, sizeof err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(kf_idem_assign(c, "t", 0, &a, err, sizeof err), KF_IDEM_RETRY);
    ck_assert_msg(server_start(S.port2) == 0, "%s", S.why);
    int rc = kf_idem_assign(c, "t", 0, &a, err, sizeof err);
    server_stop(S.port2, SIGTERM);
    ck_assert_msg(rc == KF_IDEM_OK, "assign once up: %d %s", rc, err);
    ck_assert_int_eq(a.epoch, 1);
    kf_idem_assigned_free(&a);
    kf_idem_destroy(c);
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
    kf_idem *c = idem_on(ntohs(a.sin_port));
    kf_idem_assigned as;
    char err[512] = "";
    int64_t t0 = now_ms();
    ck_assert_int_eq(kf_idem_assign(c, "t", 0, &as, err, sizeof err), KF_IDEM_RETRY);
    int64_t took = now_ms() - t0;
    ck_assert_msg(took >= 4000 && took < 15000, "gave up after %lld ms", (long long)took);
    ck_assert_msg(strstr(err, "timeout"), "err: %s", err);
    kf_idem_destroy(c);
    close(fd);
}
END_TEST

START_TEST(test_bad_url)
{
    char err[512] = "";
    ck_assert_ptr_null(kf_idem_new("http://127.0.0.1", "kft", "g", err, sizeof err));
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
