/*
 * Unit tests of the sinks, none needing an outside server:
 *   - generic dispatch (open errors, config copy, NULL-safe close);
 *   - stdout JSON lines (escaping of control characters, UTF-8, invalid
 *     bytes, null key/value, headers) and concurrent writers;
 *   - null sink;
 *   - HTTP against an in-process libmicrohttpd server (status mapping,
 *     request shape, timeouts, refused connections);
 *   - Redis URL parsing, and the Redis sink against fake servers that drop
 *     or stall the connection, and against a real redis-server the test
 *     starts (support/redis_server.h);
 *   - Kafka against librdkafka's in-process mock cluster (delivery, headers,
 *     timeouts, size limits, bad properties, fatal-error recovery).
 *
 * Every wait is on a condition with a deadline.
 */
#include "tests/unit/support/http_server.h"
#include "tests/unit/support/redis_server.h"
#include "sinks/http_headers.h"
#include "common/redis.h"
#include "sinks/sink.h"
#include "sinks/sink_priv.h"

#include <arpa/inet.h>
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ acks */

#define MAX_MSGS 4096

/* Every ack lands here; the opaque is the message's index. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int total;
    int count[MAX_MSGS];
    kf_status status[MAX_MSGS];
    char why[MAX_MSGS][256];
} A = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void acks_reset(void)
{
    pthread_mutex_lock(&A.mu);
    A.total = 0;
    memset(A.count, 0, sizeof A.count);
    memset(A.why, 0, sizeof A.why);
    pthread_mutex_unlock(&A.mu);
}

static void on_ack(void *opaque, kf_status st, const char *why)
{
    int i = (int)(intptr_t)opaque;
    pthread_mutex_lock(&A.mu);
    A.count[i]++;
    A.status[i] = st;
    snprintf(A.why[i], sizeof A.why[i], "%s", why ? why : "");
    A.total++;
    pthread_cond_broadcast(&A.cv);
    pthread_mutex_unlock(&A.mu);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until at least n acks arrived; returns how many did. */
static int wait_acks(int n, int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&A.mu);
    while (A.total < n && pthread_cond_timedwait(&A.cv, &A.mu, &dl) == 0) {
    }
    int got = A.total;
    pthread_mutex_unlock(&A.mu);
    return got;
}

/* Asserts messages [from, to) were each acked exactly once with st. */
static void expect_acks(int from, int to, kf_status st)
{
    pthread_mutex_lock(&A.mu);
    for (int i = from; i < to; i++) {
        ck_assert_msg(A.count[i] == 1, "message %d acked %d times", i, A.count[i]);
        ck_assert_msg(A.status[i] == st, "message %d: status %d, expected %d (%s)", i,
                      (int)A.status[i], (int)st, A.why[i]);
    }
    pthread_mutex_unlock(&A.mu);
}

static kf_sink_msg msg_of(int idx, const void *key, size_t klen, const void *val, size_t vlen)
{
    kf_sink_msg m = {
        .src_topic = "orders",
        .src_partition = 3,
        .src_offset = 42 + idx,
        .key = key,
        .key_len = klen,
        .value = val,
        .value_len = vlen,
        .ack = on_ack,
        .ack_opaque = (void *)(intptr_t)idx,
    };
    return m;
}

static kf_sink *open_sink(kf_sink_config *cfg, const kf_sink_env *env)
{
    char err[512] = "";
    kf_sink *s = kf_sink_open(cfg, env, err, sizeof err);
    ck_assert_msg(s != NULL, "open failed: %s", err);
    return s;
}

static kf_sink_worker *open_worker(kf_sink *s, int id)
{
    char err[512] = "";
    kf_sink_worker *w = kf_sink_worker_open(s, id, err, sizeof err);
    ck_assert_msg(w != NULL, "worker open failed: %s", err);
    return w;
}

/* A loopback port nothing listens on. */
static int closed_port(void)
{
    int port = kf_test_free_port();
    ck_assert_int_gt(port, 0);
    return port;
}

/* -------------------------------------------------------------- dispatch */

START_TEST(test_open_errors)
{
    char err[512];
    kf_sink_config c = {.name = "x", .type = (kf_sink_type)99};
    ck_assert_ptr_null(kf_sink_open(&c, NULL, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "unknown sink type"));

    kf_sink_config k = {.name = "out", .type = KF_SINK_KAFKA};
    ck_assert_ptr_null(kf_sink_open(&k, NULL, err, sizeof err));
    ck_assert_msg(strstr(err, "sink out (kafka)") && strstr(err, "topic"), "%s", err);

    kf_sink_config h = {.name = "hook", .type = KF_SINK_HTTP};
    ck_assert_ptr_null(kf_sink_open(&h, NULL, err, sizeof err));
    ck_assert_msg(strstr(err, "url"), "%s", err);
    h.url = "ftp://example.com/x";
    ck_assert_ptr_null(kf_sink_open(&h, NULL, err, sizeof err));
    ck_assert_msg(strstr(err, "http://"), "%s", err);
    h.url = "http://127.0.0.1:1/";
    char *bad_name[] = {"Bad Name"}, *val[] = {"v"};
    h.headers = (kf_props){bad_name, val, 1};
    ck_assert_ptr_null(kf_sink_open(&h, NULL, err, sizeof err));
    ck_assert_msg(strstr(err, "Bad Name"), "%s", err);

    kf_sink_config r = {.name = "cache", .type = KF_SINK_REDIS, .command = KF_REDIS_RPUSH};
    ck_assert_ptr_null(kf_sink_open(&r, NULL, err, sizeof err));
    ck_assert_msg(strstr(err, "RPUSH") && strstr(err, "key"), "%s", err);
    r.key = "list";
    r.url = "http://127.0.0.1/";
    ck_assert_ptr_null(kf_sink_open(&r, NULL, err, sizeof err));
    ck_assert_msg(strstr(err, "redis://"), "%s", err);

    kf_sink_close(NULL);
    kf_sink_worker_close(NULL);
}
END_TEST

START_TEST(test_config_is_copied)
{
    kf_sink_config *c = calloc(1, sizeof *c);
    c->name = strdup("bench");
    c->type = KF_SINK_NULL;
    c->breaker = (kf_breaker_config){.failures = 3, .probe_ms = 20, .max_probe_ms = 40};
    kf_sink *s = open_sink(c, NULL);
    free(c->name);
    free(c);
    ck_assert_str_eq(kf_sink_config_of(s)->name, "bench");
    ck_assert_int_eq(kf_sink_config_of(s)->type, KF_SINK_NULL);
    ck_assert_int_eq(kf_sink_config_of(s)->breaker.failures, 3);
    ck_assert_int_eq(kf_sink_config_of(s)->breaker.probe_ms, 20);
    ck_assert_int_eq(kf_sink_config_of(s)->breaker.max_probe_ms, 40);
    kf_sink_close(s);
}
END_TEST

START_TEST(test_null_sink)
{
    acks_reset();
    kf_sink_config c = {.name = "devnull", .type = KF_SINK_NULL};
    kf_sink *s = open_sink(&c, NULL);
    kf_sink_worker *w = open_worker(s, 0);
    for (int i = 0; i < 10; i++) {
        kf_sink_msg m = msg_of(i, i % 2 ? "k" : NULL, 1, "v", 1);
        kf_sink_write(w, &m);
    }
    kf_sink_flush(w);
    ck_assert_int_eq(wait_acks(10, 0), 10);
    expect_acks(0, 10, KF_STATUS_OK);
    ck_assert_int_eq(kf_sink_drain(s, 0), 0);
    kf_sink_worker_close(w);
    kf_sink_close(s);
}
END_TEST

/* ---------------------------------------------------------------- stdout */

static char *fmt(const kf_sink_msg *m)
{
    size_t len;
    char *line = kf_sink_stdout_format("log", m, &len);
    ck_assert_ptr_nonnull(line);
    ck_assert_uint_eq(strlen(line), len);
    ck_assert_msg(len > 0 && line[len - 1] == '\n', "no newline: %s", line);
    cJSON *j = cJSON_Parse(line);
    ck_assert_msg(j != NULL, "not JSON: %s", line);
    cJSON_Delete(j);
    return line;
}

START_TEST(test_stdout_basic)
{
    kf_sink_msg m = msg_of(0, "k1", 2, "hello", 5);
    char *line = fmt(&m);
    ck_assert_str_eq(line, "{\"sink\":\"log\",\"topic\":\"orders\",\"partition\":3,\"offset\":42,"
                           "\"key\":\"k1\",\"value\":\"hello\"}\n");
    free(line);
}
END_TEST

START_TEST(test_stdout_null_and_empty)
{
    kf_sink_msg m = msg_of(0, NULL, 0, NULL, 0);
    char *line = fmt(&m);
    ck_assert_str_eq(line, "{\"sink\":\"log\",\"topic\":\"orders\",\"partition\":3,\"offset\":42,"
                           "\"key\":null,\"value\":null}\n");
    free(line);
    m = msg_of(0, "", 0, "", 0);
    line = fmt(&m);
    ck_assert_ptr_nonnull(strstr(line, "\"key\":\"\",\"value\":\"\"}"));
    free(line);
}
END_TEST

START_TEST(test_stdout_escapes)
{
    static const char v[] = "a\"b\\c\n\t\r\b\f\x01\x1f\x7f/";
    kf_sink_msg m = msg_of(0, "k", 1, v, sizeof v - 1);
    char *line = fmt(&m);
    ck_assert_ptr_nonnull(
        strstr(line, "\"value\":\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u001f\x7f/\"}"));
    free(line);
    /* A NUL byte inside a key. */
    m = msg_of(0, "a\0b", 3, "x", 1);
    line = fmt(&m);
    ck_assert_ptr_nonnull(strstr(line, "\"key\":\"a\\u0000b\""));
    free(line);
}
END_TEST

START_TEST(test_stdout_utf8)
{
    /* Valid UTF-8 (2, 3 and 4 bytes) passes through unchanged. */
    static const char ok[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
    kf_sink_msg m = msg_of(0, "k", 1, ok, sizeof ok - 1);
    char *line = fmt(&m);
    ck_assert_ptr_nonnull(strstr(line, "\"value\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""));
    cJSON *j = cJSON_Parse(line);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "value")->valuestring, ok);
    cJSON_Delete(j);
    free(line);

    /* Invalid bytes become \u00XX each: a stray 0xff, a lone continuation
     * byte, an overlong '/', a surrogate, a code point above U+10FFFF, a
     * sequence cut short by 'x', and one cut short by the end. */
    static const char bad[] = "\xff|\x80|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82x|\xc3";
    m = msg_of(0, "k", 1, bad, sizeof bad - 1);
    line = fmt(&m);
    ck_assert_msg(strstr(line, "\"value\":\"\\u00ff|\\u0080|\\u00c0\\u00af|\\u00ed\\u00a0\\u0080|"
                               "\\u00f4\\u0090\\u0080\\u0080|\\u00e2\\u0082x|\\u00c3\"}"),
                  "%s", line);
    free(line);
}
END_TEST

START_TEST(test_stdout_headers)
{
    kf_header h[] = {{"traceparent", "00-abc-01", 9}, {"n\"ull", NULL, 0}, {"bin", "\x01\xff", 2}};
    kf_sink_msg m = msg_of(0, "k", 1, "v", 1);
    m.headers = h;
    m.header_count = 3;
    char *line = fmt(&m);
    ck_assert_msg(strstr(line, ",\"headers\":{\"traceparent\":\"00-abc-01\",\"n\\\"ull\":null,"
                               "\"bin\":\"\\u0001\\u00ff\"}}\n"),
                  "%s", line);
    free(line);
}
END_TEST

typedef struct writer_arg {
    kf_sink *s;
    int id, n;
} writer_arg;

static void *stdout_writer(void *p)
{
    writer_arg *a = p;
    kf_sink_worker *w = open_worker(a->s, a->id);
    char val[64];
    for (int i = 0; i < a->n; i++) {
        int idx = a->id * a->n + i;
        int len = snprintf(val, sizeof val, "value \"%d\"\n", idx);
        kf_sink_msg m = msg_of(idx, "key", 3, val, (size_t)len);
        kf_sink_write(w, &m);
        if (i % 50 == 0) kf_sink_flush(w);
    }
    kf_sink_flush(w);
    kf_sink_worker_close(w);
    return NULL;
}

START_TEST(test_stdout_sink_threads)
{
    acks_reset();
    char path[] = "/tmp/kf_test_stdout_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);

    kf_sink_config c = {.name = "log", .type = KF_SINK_STDOUT};
    kf_sink *s = open_sink(&c, NULL);
    enum { T = 4, N = 250 };
    pthread_t th[T];
    writer_arg args[T];
    for (int i = 0; i < T; i++) {
        args[i] = (writer_arg){s, i, N};
        pthread_create(&th[i], NULL, stdout_writer, &args[i]);
    }
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    kf_sink_close(s);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);

    ck_assert_int_eq(wait_acks(T * N, 0), T * N);
    expect_acks(0, T * N, KF_STATUS_OK);
    FILE *f = fdopen(fd, "r");
    rewind(f);
    char line[512];
    int lines = 0;
    static bool seen[T * N];
    while (fgets(line, sizeof line, f)) {
        cJSON *j = cJSON_Parse(line);
        ck_assert_msg(j != NULL, "line %d is not JSON: %s", lines, line);
        ck_assert_str_eq(cJSON_GetObjectItem(j, "sink")->valuestring, "log");
        int off = (int)cJSON_GetObjectItem(j, "offset")->valuedouble - 42;
        ck_assert(off >= 0 && off < T * N && !seen[off]);
        seen[off] = true;
        char want[64];
        snprintf(want, sizeof want, "value \"%d\"\n", off);
        ck_assert_str_eq(cJSON_GetObjectItem(j, "value")->valuestring, want);
        cJSON_Delete(j);
        lines++;
    }
    ck_assert_int_eq(lines, T * N);
    fclose(f);
    unlink(path);
}
END_TEST

/* ------------------------------------------------------------ http server */

typedef struct seen_req {
    char path[64], idem[256], key[256], src[128], ctype[128], trace[128], custom[64];
    bool has_key, has_foo;
    char body[64];
    size_t body_len;
} seen_req;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    seen_req reqs[64];
    int n;
    bool release; /* lets /slow answer */
} S = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void copy_hdr(struct MHD_Connection *c, const char *name, char *out, size_t outlen,
                     bool *present)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    if (present) *present = v != NULL;
    snprintf(out, outlen, "%s", v ? v : "");
}

/* Records the request; answers 200, or the status a path "/s<code>" asks
 * for ("/slow" waits until the test releases it). */
static unsigned on_request(struct MHD_Connection *c, const char *url, const char *body, size_t len,
                           const char **reply)
{
    pthread_mutex_lock(&S.mu);
    if (S.n < 64) {
        seen_req *r = &S.reqs[S.n++];
        memset(r, 0, sizeof *r);
        snprintf(r->path, sizeof r->path, "%s", url);
        copy_hdr(c, "Idempotency-Key", r->idem, sizeof r->idem, NULL);
        copy_hdr(c, "X-Kfleet-Key", r->key, sizeof r->key, &r->has_key);
        copy_hdr(c, "X-Kfleet-Source", r->src, sizeof r->src, NULL);
        copy_hdr(c, "Content-Type", r->ctype, sizeof r->ctype, NULL);
        copy_hdr(c, "traceparent", r->trace, sizeof r->trace, NULL);
        copy_hdr(c, "X-Custom", r->custom, sizeof r->custom, NULL);
        char foo[8];
        copy_hdr(c, "foo", foo, sizeof foo, &r->has_foo);
        r->body_len = len < sizeof r->body ? len : sizeof r->body;
        memcpy(r->body, body, r->body_len);
    }
    pthread_cond_broadcast(&S.cv);
    if (strcmp(url, "/slow") == 0) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 10;
        while (!S.release && pthread_cond_timedwait(&S.cv, &S.mu, &dl) == 0) {
        }
    }
    pthread_mutex_unlock(&S.mu);
    unsigned code = 200;
    if (url[0] == '/' && url[1] == 's' && url[2] >= '0' && url[2] <= '9')
        code = (unsigned)atoi(url + 2);
    *reply = code == 400 ? "bad input\n" : "ok";
    return code;
}

static struct MHD_Daemon *server_start(int *port)
{
    pthread_mutex_lock(&S.mu);
    S.n = 0;
    S.release = false;
    pthread_mutex_unlock(&S.mu);
    return kf_test_http_start(on_request, port);
}

static void server_stop(struct MHD_Daemon *d)
{
    pthread_mutex_lock(&S.mu);
    S.release = true;
    pthread_cond_broadcast(&S.cv);
    pthread_mutex_unlock(&S.mu);
    MHD_stop_daemon(d);
}

static kf_sink *open_http(const char *name, int port, const char *path, int timeout_ms,
                          kf_props headers)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    kf_sink_config c = {.name = (char *)name,
                        .type = KF_SINK_HTTP,
                        .url = url,
                        .timeout_ms = timeout_ms,
                        .headers = headers};
    kf_sink_env env = {.mapping = "m", .group_id = "g/1"};
    return open_sink(&c, &env);
}

/* ------------------------------------------------------------------ http */

START_TEST(test_http_status_mapping)
{
    acks_reset();
    int port;
    struct MHD_Daemon *d = server_start(&port);
    static const struct {
        const char *path;
        kf_status st;
    } cases[] = {{"/ok", KF_STATUS_OK},      {"/s204", KF_STATUS_OK},    {"/s500", KF_STATUS_RETRY},
                 {"/s503", KF_STATUS_RETRY}, {"/s429", KF_STATUS_RETRY}, {"/s408", KF_STATUS_RETRY},
                 {"/s400", KF_STATUS_FAIL},  {"/s404", KF_STATUS_FAIL},  {"/s301", KF_STATUS_FAIL}};
    int n = (int)(sizeof cases / sizeof *cases);
    for (int i = 0; i < n; i++) {
        kf_sink *s = open_http("hook", port, cases[i].path, 5000, (kf_props){0});
        kf_sink_worker *w = open_worker(s, 0);
        kf_sink_msg m = msg_of(i, "k", 1, "v", 1);
        kf_sink_write(w, &m);
        kf_sink_flush(w);
        ck_assert_int_eq(wait_acks(i + 1, 0), i + 1);
        expect_acks(i, i + 1, cases[i].st);
        kf_sink_worker_close(w);
        kf_sink_close(s);
    }
    char want[128];
    snprintf(want, sizeof want, "http 400 from http://127.0.0.1:%d/s400: bad input", port);
    ck_assert_msg(strstr(A.why[6], want), "why: %s", A.why[6]);
    ck_assert_msg(strstr(A.why[7], "http 404 from"), "why: %s", A.why[7]);
    ck_assert_msg(strstr(A.why[2], "http 500 from"), "why: %s", A.why[2]);
    server_stop(d);
}
END_TEST

START_TEST(test_http_request_shape)
{
    acks_reset();
    int port;
    struct MHD_Daemon *d = server_start(&port);
    char *hn[] = {"X-Custom", "Content-Type"}, *hv[] = {"42", "application/json"};
    kf_sink *s = open_http("hook", port, "/ok", 5000, (kf_props){hn, hv, 2});
    kf_sink_worker *w = open_worker(s, 0);

    kf_header h[] = {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", 55},
                     {"foo", "bar", 3}};
    kf_sink_msg m = msg_of(0, "a b/\xc3\xbc", 6, "x\0y", 3);
    m.headers = h;
    m.header_count = 2;
    m.seq = 2;
    kf_sink_write(w, &m);
    for (int i = 1; i < 5; i++) { /* more, to check order and null keys */
        char v[16];
        int len = snprintf(v, sizeof v, "m%d", i);
        kf_sink_msg mi = msg_of(i, NULL, 0, v, (size_t)len);
        kf_sink_write(w, &mi);
    }
    kf_sink_flush(w);
    ck_assert_int_eq(wait_acks(5, 0), 5);
    expect_acks(0, 5, KF_STATUS_OK);

    pthread_mutex_lock(&S.mu);
    ck_assert_int_eq(S.n, 5);
    seen_req *r = &S.reqs[0];
    ck_assert_uint_eq(r->body_len, 3);
    ck_assert(memcmp(r->body, "x\0y", 3) == 0);
    ck_assert(r->has_key);
    ck_assert_str_eq(r->key, "a%20b%2F%C3%BC");
    ck_assert_str_eq(r->src, "orders/3/42");
    ck_assert_str_eq(r->idem, "g%2F1/orders/3/42/hook/2");
    ck_assert_str_eq(r->trace, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    ck_assert(!r->has_foo);
    ck_assert_str_eq(r->custom, "42");
    ck_assert_str_eq(r->ctype, "application/json");
    for (int i = 1; i < 5; i++) {
        char v[16];
        snprintf(v, sizeof v, "m%d", i);
        ck_assert_uint_eq(S.reqs[i].body_len, strlen(v));
        ck_assert(memcmp(S.reqs[i].body, v, strlen(v)) == 0);
        ck_assert(!S.reqs[i].has_key);
        char idem[64];
        snprintf(idem, sizeof idem, "g%%2F1/orders/3/%d/hook/0", 42 + i);
        ck_assert_str_eq(S.reqs[i].idem, idem);
    }
    pthread_mutex_unlock(&S.mu);
    kf_sink_worker_close(w);
    kf_sink_close(s);

    /* Without a configured Content-Type, the default. */
    s = open_http("hook2", port, "/ok", 5000, (kf_props){0});
    w = open_worker(s, 0);
    m = msg_of(5, "", 0, "", 0);
    kf_sink_write(w, &m);
    kf_sink_worker_close(w); /* close flushes */
    ck_assert_int_eq(wait_acks(6, 0), 6);
    expect_acks(5, 6, KF_STATUS_OK);
    pthread_mutex_lock(&S.mu);
    ck_assert_str_eq(S.reqs[5].ctype, "application/octet-stream");
    ck_assert(S.reqs[5].has_key);
    ck_assert_str_eq(S.reqs[5].key, "");
    ck_assert_uint_eq(S.reqs[5].body_len, 0);
    pthread_mutex_unlock(&S.mu);
    kf_sink_close(s);
    server_stop(d);
}
END_TEST

START_TEST(test_http_timeout)
{
    acks_reset();
    int port;
    struct MHD_Daemon *d = server_start(&port);
    kf_sink *s = open_http("hook", port, "/slow", 300, (kf_props){0});
    kf_sink_worker *w = open_worker(s, 0);
    for (int i = 0; i < 3; i++) {
        kf_sink_msg m = msg_of(i, "k", 1, "v", 1);
        kf_sink_write(w, &m);
    }
    int64_t t0 = now_ms();
    kf_sink_flush(w);
    int64_t took = now_ms() - t0;
    ck_assert_int_eq(wait_acks(3, 0), 3);
    expect_acks(0, 3, KF_STATUS_RETRY);
    ck_assert_msg(took < 3000, "flush took %lld ms", (long long)took);
    ck_assert_msg(strstr(A.why[0], "imeout") || strstr(A.why[0], "timed out"), "%s", A.why[0]);
    pthread_mutex_lock(&S.mu);
    ck_assert_int_eq(S.n, 1); /* the rest of the batch was not sent */
    pthread_mutex_unlock(&S.mu);
    kf_sink_worker_close(w);
    kf_sink_close(s);
    server_stop(d);
}
END_TEST

START_TEST(test_http_refused)
{
    acks_reset();
    kf_sink *s = open_http("hook", closed_port(), "/x", 2000, (kf_props){0});
    kf_sink_worker *w = open_worker(s, 0);
    kf_sink_msg m = msg_of(0, "k", 1, "v", 1);
    kf_sink_write(w, &m);
    kf_sink_flush(w);
    ck_assert_int_eq(wait_acks(1, 0), 1);
    expect_acks(0, 1, KF_STATUS_RETRY);
    kf_sink_worker_close(w);
    kf_sink_close(s);
}
END_TEST

/* The Idempotency-Key and X-Kfleet-Source go out whole, however long the
 * group id (the config sets no limit) or the topic: cut to a fixed length,
 * every record of a partition could get the same key, and a receiver that
 * honours it would apply only the first. */
START_TEST(test_http_idempotency_key_whole)
{
    char group[1200], topic[600];
    memset(group, '/', sizeof group - 1); /* each '/' encodes as 3 bytes */
    group[sizeof group - 1] = '\0';
    memset(topic, 't', sizeof topic - 1);
    topic[sizeof topic - 1] = '\0';
    char *genc = kf_http_pct_encode(group, strlen(group));
    kf_sink_msg m = {.src_topic = topic, .src_partition = 3, .src_offset = 42, .seq = 7};
    struct curl_slist *l = kf_http_request_headers(genc, "hook", NULL, false, &m);
    ck_assert_ptr_nonnull(l);
    const char *idem = NULL, *src = NULL;
    for (const struct curl_slist *p = l; p; p = p->next) {
        if (!strncmp(p->data, "Idempotency-Key: ", 17)) idem = p->data + 17;
        if (!strncmp(p->data, "X-Kfleet-Source: ", 17)) src = p->data + 17;
    }
    ck_assert_ptr_nonnull(idem);
    ck_assert_ptr_nonnull(src);
    ck_assert_uint_eq(strlen(idem), strlen(genc) + 1 + strlen(topic) + strlen("/3/42/hook/7"));
    ck_assert_int_eq(strncmp(idem, genc, strlen(genc)), 0);
    ck_assert_str_eq(idem + strlen(idem) - strlen("/3/42/hook/7"), "/3/42/hook/7");
    ck_assert_uint_eq(strlen(src), strlen(topic) + strlen("/3/42"));
    curl_slist_free_all(l);
    free(genc);
}
END_TEST

/* ------------------------------------------------------------- redis url */

START_TEST(test_redis_url)
{
    kf_redis_url u;
    char err[256];
    ck_assert_int_eq(kf_redis_url_parse("redis://127.0.0.1:6380/2", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.host, "127.0.0.1");
    ck_assert_int_eq(u.port, 6380);
    ck_assert_int_eq(u.db, 2);
    ck_assert_ptr_null(u.password);
    kf_redis_url_free(&u);

    ck_assert_int_eq(kf_redis_url_parse("redis://localhost", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.host, "localhost");
    ck_assert_int_eq(u.port, 6379);
    ck_assert_int_eq(u.db, 0);
    kf_redis_url_free(&u);

    ck_assert_int_eq(kf_redis_url_parse("redis://:s%40cret@h:1/", &u, err, sizeof err), 0);
    ck_assert_ptr_null(u.user);
    ck_assert_str_eq(u.password, "s@cret");
    ck_assert_ptr_null(strstr(u.display, "cret"));
    kf_redis_url_free(&u);

    ck_assert_int_eq(kf_redis_url_parse("redis://bob:pw@[::1]:7000/3", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.user, "bob");
    ck_assert_str_eq(u.password, "pw");
    ck_assert_str_eq(u.host, "::1");
    ck_assert_int_eq(u.port, 7000);
    ck_assert_int_eq(u.db, 3);
    kf_redis_url_free(&u);

    ck_assert_int_eq(kf_redis_url_parse("redis://pw@h", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.password, "pw");
    kf_redis_url_free(&u);

    ck_assert_int_eq(kf_redis_url_parse("unix:///tmp/r.sock?db=4", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.path, "/tmp/r.sock");
    ck_assert_ptr_null(u.host);
    ck_assert_int_eq(u.db, 4);
    kf_redis_url_free(&u);

    const char *bad[] = {"http://h",        "redis://",     "redis://h:0",    "redis://h:x",
                         "redis://h/db",    "rediss://h",   "redis://:%zz@h", "unix://",
                         "redis://h:1/2/3", "unix:///s?x=1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        ck_assert_msg(kf_redis_url_parse(bad[i], &u, err, sizeof err) == -1, "%s parsed", bad[i]);
        ck_assert_msg(err[0] != '\0', "%s: no message", bad[i]);
    }
    ck_assert_int_eq(kf_redis_url_parse("redis://:topsecret@h:x", &u, err, sizeof err), -1);
    ck_assert_msg(!strstr(err, "topsecret"), "password leaked: %s", err);
}
END_TEST

/* The userinfo ends at the LAST '@' of the authority (a password may hold an
 * '@'), so the mask ends there too: a mask that ended at the first '@' would
 * show the rest of the password. */
START_TEST(test_redis_url_password_with_at_masked)
{
    kf_redis_url u;
    char err[256];
    ck_assert_int_eq(kf_redis_url_parse("redis://:top@secret@h:1/0", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.password, "top@secret");
    ck_assert_str_eq(u.host, "h");
    ck_assert_msg(!strstr(u.display, "secret"), "password leaked: %s", u.display);
    ck_assert_str_eq(u.display, "redis://:***@h:1/0");
    kf_redis_url_free(&u);

    ck_assert_int_eq(kf_redis_url_parse("unix://bob:top@se/cret@/tmp/r.sock", &u, err, sizeof err),
                     0);
    ck_assert_str_eq(u.password, "top@se/cret");
    ck_assert_str_eq(u.display, "unix://bob:***@/tmp/r.sock");
    kf_redis_url_free(&u);

    /* The error messages mask the same way. */
    ck_assert_int_eq(kf_redis_url_parse("redis://:top@secret@h:x", &u, err, sizeof err), -1);
    ck_assert_msg(!strstr(err, "secret"), "password leaked: %s", err);
}
END_TEST

/* A "%00" decodes to a NUL that would cut the password short where AUTH
 * sends it as a C string; it is refused. */
START_TEST(test_redis_url_nul_escape_refused)
{
    kf_redis_url u;
    char err[256] = "";
    ck_assert_int_eq(kf_redis_url_parse("redis://:ab%00cd@h:1/0", &u, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "%00"), "no reason given: %s", err);
    ck_assert_ptr_null(strstr(err, "cd@"));
    ck_assert_int_eq(kf_redis_url_parse("redis://b%00b:pw@h", &u, err, sizeof err), -1);
    ck_assert_int_eq(kf_redis_url_parse("redis://:a%01b@h", &u, err, sizeof err), 0);
    ck_assert_mem_eq(u.password, "a\001b", 4);
    kf_redis_url_free(&u);
}
END_TEST

/* ---------------------------------------------- redis against fake servers */

/* A TCP server that accepts connections and either closes each once it has
 * read something ("drop"), or reads and never answers ("stall"). */
static struct {
    int fd, port;
    bool stall;
    pthread_t th;
    atomic_int accepted;
} F;

static void *fake_main(void *p)
{
    (void)p;
    for (;;) {
        int c = accept(F.fd, NULL, NULL);
        if (c < 0) return NULL;
        atomic_fetch_add(&F.accepted, 1);
        char buf[4096];
        struct timeval tv = {2, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssize_t n = recv(c, buf, sizeof buf, 0);
        if (F.stall && n > 0) {
            while (recv(c, buf, sizeof buf, 0) > 0) { /* until the client gives up */
            }
        }
        close(c);
    }
}

static void fake_start(bool stall)
{
    F.stall = stall;
    F.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(F.fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(F.fd, 16), 0);
    socklen_t len = sizeof sa;
    getsockname(F.fd, (struct sockaddr *)&sa, &len);
    F.port = ntohs(sa.sin_port);
    pthread_create(&F.th, NULL, fake_main, NULL);
}

static void fake_stop(void)
{
    shutdown(F.fd, SHUT_RDWR);
    close(F.fd);
    pthread_join(F.th, NULL);
}

static kf_sink *open_redis(const char *url, kf_redis_command cmd, const char *key, int timeout_ms)
{
    kf_sink_config c = {.name = "cache",
                        .type = KF_SINK_REDIS,
                        .command = cmd,
                        .key = (char *)key,
                        .url = (char *)url,
                        .timeout_ms = timeout_ms};
    return open_sink(&c, NULL);
}

START_TEST(test_redis_down)
{
    acks_reset();
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", closed_port());
    kf_sink *s = open_redis(url, KF_REDIS_RPUSH, "list", 1000);
    kf_sink_worker *w = open_worker(s, 0); /* not fatal while Redis is down */
    int64_t t0 = now_ms();
    for (int i = 0; i < 5; i++) {
        kf_sink_msg m = msg_of(i, "k", 1, "v", 1);
        kf_sink_write(w, &m);
    }
    kf_sink_flush(w);
    ck_assert_int_eq(wait_acks(5, 0), 5);
    expect_acks(0, 5, KF_STATUS_RETRY);
    ck_assert_msg(strstr(A.why[0], "cannot connect"), "%s", A.why[0]);
    ck_assert_msg(now_ms() - t0 < 3000, "took too long");
    kf_sink_worker_close(w);
    kf_sink_close(s);
}
END_TEST

START_TEST(test_redis_connection_dropped)
{
    acks_reset();
    fake_start(false);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", F.port);
    kf_sink *s = open_redis(url, KF_REDIS_RPUSH, "list", 1000);
    kf_sink_worker *w = open_worker(s, 0);
    for (int round = 0; round < 2; round++) { /* the second round reconnects */
        for (int i = 0; i < 3; i++) {
            kf_sink_msg m = msg_of(round * 3 + i, "k", 1, "v", 1);
            kf_sink_write(w, &m);
        }
        kf_sink_flush(w);
        ck_assert_int_eq(wait_acks(round * 3 + 3, 0), round * 3 + 3);
        expect_acks(round * 3, round * 3 + 3, KF_STATUS_RETRY);
    }
    ck_assert_int_ge(atomic_load(&F.accepted), 2);
    kf_sink_worker_close(w);
    kf_sink_close(s);
    fake_stop();
}
END_TEST

START_TEST(test_redis_timeout)
{
    acks_reset();
    fake_start(true);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", F.port);
    kf_sink *s = open_redis(url, KF_REDIS_XADD, "stream", 300);
    kf_sink_worker *w = open_worker(s, 0);
    for (int i = 0; i < 3; i++) {
        kf_sink_msg m = msg_of(i, "k", 1, "v", 1);
        kf_sink_write(w, &m);
    }
    int64_t t0 = now_ms();
    kf_sink_flush(w);
    ck_assert_msg(now_ms() - t0 < 2000, "flush blocked %lld ms", (long long)(now_ms() - t0));
    ck_assert_int_eq(wait_acks(3, 0), 3);
    expect_acks(0, 3, KF_STATUS_RETRY);
    kf_sink_worker_close(w);
    kf_sink_close(s);
    fake_stop();
}
END_TEST

START_TEST(test_redis_null_key)
{
    acks_reset();
    /* SET and HSET refuse a null key before touching the network. */
    kf_sink *s = open_redis("redis://127.0.0.1:1/0", KF_REDIS_SET, "p:", 500);
    kf_sink_worker *w = open_worker(s, 0);
    kf_sink_msg m = msg_of(0, NULL, 0, "v", 1);
    kf_sink_write(w, &m);
    kf_sink_flush(w);
    ck_assert_int_eq(wait_acks(1, 0), 1);
    expect_acks(0, 1, KF_STATUS_FAIL);
    ck_assert_msg(strstr(A.why[0], "null key"), "%s", A.why[0]);
    kf_sink_worker_close(w);
    kf_sink_close(s);
}
END_TEST

/* ------------------------------------------- redis against a real server */

static redisReply *cmd(redisContext *c, const char *fmt, const char *a)
{
    redisReply *r = redisCommand(c, fmt, a);
    ck_assert_ptr_nonnull(r);
    return r;
}

START_TEST(test_redis_commands)
{
    acks_reset();
    kf_test_redis server;
    ck_assert_msg(kf_test_redis_start(&server), "%s", server.why);
    const char *url = server.url;
    redisContext *admin = kf_test_redis_connect(&server);
    const char p[] = "kfleet-test:";
    char list[96], stream[96], hash[96];
    snprintf(list, sizeof list, "%slist", p);
    snprintf(stream, sizeof stream, "%sstream", p);
    snprintf(hash, sizeof hash, "%shash", p);
    static const char bin[] = "a\0b\xff";

    kf_sink *sinks[4] = {
        open_redis(url, KF_REDIS_RPUSH, list, 5000), open_redis(url, KF_REDIS_XADD, stream, 5000),
        open_redis(url, KF_REDIS_SET, p, 5000), open_redis(url, KF_REDIS_HSET, hash, 5000)};
    int idx = 0;
    for (int k = 0; k < 4; k++) {
        kf_sink_worker *w = open_worker(sinks[k], 0);
        kf_sink_msg m1 = msg_of(idx++, "k1", 2, bin, 4);
        kf_sink_msg m2 = msg_of(idx++, "k2", 2, "two", 3);
        kf_sink_write(w, &m1);
        kf_sink_write(w, &m2);
        kf_sink_flush(w);
        kf_sink_worker_close(w);
    }
    ck_assert_int_eq(wait_acks(idx, 0), idx);
    expect_acks(0, idx, KF_STATUS_OK);

    redisReply *r = cmd(admin, "LRANGE %s 0 -1", list);
    ck_assert_uint_eq(r->elements, 2);
    ck_assert_uint_eq(r->element[0]->len, 4);
    ck_assert(memcmp(r->element[0]->str, bin, 4) == 0);
    freeReplyObject(r);
    r = cmd(admin, "XRANGE %s - +", stream);
    ck_assert_uint_eq(r->elements, 2);
    redisReply *f = r->element[1]->element[1];
    ck_assert_str_eq(f->element[0]->str, "key");
    ck_assert_str_eq(f->element[1]->str, "k2");
    ck_assert_str_eq(f->element[2]->str, "value");
    ck_assert_str_eq(f->element[3]->str, "two");
    freeReplyObject(r);
    char key[128];
    snprintf(key, sizeof key, "%sk2", p);
    r = cmd(admin, "GET %s", key);
    ck_assert_str_eq(r->str, "two");
    freeReplyObject(r);
    r = redisCommand(admin, "HGET %s k1", hash);
    ck_assert_uint_eq(r->len, 4);
    ck_assert(memcmp(r->str, bin, 4) == 0);
    freeReplyObject(r);

    /* Tombstones delete for SET and HSET. */
    kf_sink_worker *w = open_worker(sinks[2], 1);
    kf_sink_msg t = msg_of(idx++, "k2", 2, NULL, 0);
    kf_sink_write(w, &t);
    kf_sink_flush(w);
    kf_sink_worker_close(w);
    ck_assert_int_eq(wait_acks(idx, 0), idx);
    expect_acks(idx - 1, idx, KF_STATUS_OK);
    r = cmd(admin, "EXISTS %s", key);
    ck_assert_int_eq(r->integer, 0);
    freeReplyObject(r);

    /* WRONGTYPE is permanent; the pipeline goes on after it. */
    kf_sink *wrong = open_redis(url, KF_REDIS_RPUSH, hash, 5000);
    w = open_worker(wrong, 0);
    kf_sink_msg bad = msg_of(idx++, "k", 1, "v", 1);
    kf_sink_write(w, &bad);
    kf_sink_flush(w);
    ck_assert_int_eq(wait_acks(idx, 0), idx);
    expect_acks(idx - 1, idx, KF_STATUS_FAIL);
    ck_assert_msg(strstr(A.why[idx - 1], "WRONGTYPE"), "%s", A.why[idx - 1]);
    kf_sink_worker_close(w);
    kf_sink_close(wrong);

    /* A big pipeline in one flush. */
    w = open_worker(sinks[0], 2);
    int first = idx;
    for (int i = 0; i < 2000; i++) {
        kf_sink_msg m = msg_of(idx++, "k", 1, "bulk", 4);
        kf_sink_write(w, &m);
    }
    kf_sink_flush(w);
    ck_assert_int_eq(wait_acks(idx, 0), idx);
    expect_acks(first, idx, KF_STATUS_OK);
    kf_sink_worker_close(w);
    r = cmd(admin, "LLEN %s", list);
    ck_assert_int_eq(r->integer, 2002);
    freeReplyObject(r);

    for (int k = 0; k < 4; k++)
        kf_sink_close(sinks[k]);
    redisFree(admin);
    kf_test_redis_stop(&server);
}
END_TEST

/* ---------------------------------------------------------------- kafka */

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;

static const char *mock_start(void)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    ck_assert_msg(mock_rk != NULL, "%s", err);
    mock = rd_kafka_mock_cluster_new(mock_rk, 1);
    ck_assert_ptr_nonnull(mock);
    ck_assert_int_eq(rd_kafka_mock_topic_create(mock, "out", 2, 1), 0);
    return rd_kafka_mock_cluster_bootstraps(mock);
}

static void mock_stop(void)
{
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(mock_rk);
}

static kf_sink *open_kafka(const char *brokers, kf_props *kafka, kf_props *producer)
{
    kf_sink_config c = {.name = "out", .type = KF_SINK_KAFKA, .topic = "out"};
    kf_sink_env env = {.mapping = "m",
                       .group_id = "g",
                       .brokers = brokers,
                       .kafka = kafka,
                       .producer = producer,
                       .threads = 1};
    return open_sink(&c, &env);
}

/* Reads n messages from both partitions of "out" from the beginning. The
 * messages must be destroyed before consumer_close(*c). */
static int consume_all(const char *brokers, int n, rd_kafka_message_t **out, rd_kafka_t **cp)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "t", err, sizeof err);
    rd_kafka_t *c = *cp = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    ck_assert_ptr_nonnull(c);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(2);
    for (int p = 0; p < 2; p++)
        rd_kafka_topic_partition_list_add(tp, "out", p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, tp);
    rd_kafka_topic_partition_list_destroy(tp);
    int got = 0;
    int64_t deadline = now_ms() + 15000;
    while (got < n && now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m) continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        out[got++] = m;
    }
    return got;
}

static void consumer_close(rd_kafka_t *c)
{
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

START_TEST(test_kafka_delivery)
{
    acks_reset();
    const char *brokers = mock_start();
    kf_sink *s = open_kafka(brokers, NULL, NULL);
    kf_sink_worker *w = open_worker(s, 0);
    enum { N = 200 };
    kf_header h[] = {{"traceparent", "00-t-01", 7}, {"nullh", NULL, 0}};
    for (int i = 0; i < N; i++) {
        char k[16], v[16];
        int kl = snprintf(k, sizeof k, "k%d", i), vl = snprintf(v, sizeof v, "v%d", i);
        kf_sink_msg m = msg_of(i, i == 0 ? NULL : k, (size_t)kl, i == 1 ? NULL : v, (size_t)vl);
        m.headers = h;
        m.header_count = 2;
        kf_sink_write(w, &m);
    }
    kf_sink_flush(w);
    ck_assert_int_eq(kf_sink_drain(s, 15000), 0);
    ck_assert_int_eq(wait_acks(N, 0), N);
    expect_acks(0, N, KF_STATUS_OK);
    kf_sink_worker_close(w);
    kf_sink_close(s);

    rd_kafka_message_t *msgs[N];
    rd_kafka_t *consumer;
    int got = consume_all(brokers, N, msgs, &consumer);
    ck_assert_int_eq(got, N);
    static bool seen[N];
    for (int i = 0; i < got; i++) {
        rd_kafka_message_t *m = msgs[i];
        int idx;
        if (!m->key) {
            idx = 0;
        } else {
            char k[16] = "";
            memcpy(k, m->key, m->key_len < 15 ? m->key_len : 15);
            idx = atoi(k + 1);
        }
        ck_assert(idx >= 0 && idx < N && !seen[idx]);
        seen[idx] = true;
        if (idx == 1) {
            ck_assert_ptr_null(m->payload); /* tombstone */
        } else {
            char v[16];
            int vl = snprintf(v, sizeof v, "v%d", idx);
            ck_assert_uint_eq(m->len, (size_t)vl);
            ck_assert(memcmp(m->payload, v, (size_t)vl) == 0);
        }
        rd_kafka_headers_t *hdrs;
        ck_assert_int_eq(rd_kafka_message_headers(m, &hdrs), 0);
        const void *val;
        size_t size;
        ck_assert_int_eq(rd_kafka_header_get_last(hdrs, "traceparent", &val, &size), 0);
        ck_assert_uint_eq(size, 7);
        ck_assert(memcmp(val, "00-t-01", 7) == 0);
        ck_assert_int_eq(rd_kafka_header_get_last(hdrs, "nullh", &val, &size), 0);
        ck_assert_ptr_null(val);
        rd_kafka_message_destroy(m);
    }
    consumer_close(consumer);
    mock_stop();
}
END_TEST

START_TEST(test_kafka_timeout_and_size)
{
    acks_reset();
    char brokers[64];
    snprintf(brokers, sizeof brokers, "127.0.0.1:%d", closed_port());
    char *pn[] = {"message.timeout.ms", "message.max.bytes"}, *pv[] = {"700", "2000"};
    kf_props producer = {pn, pv, 2};
    kf_sink *s = open_kafka(brokers, NULL, &producer);
    kf_sink_worker *w = open_worker(s, 0);
    static char big[5000];
    kf_sink_msg m = msg_of(0, "k", 1, big, sizeof big);
    kf_sink_write(w, &m); /* too large: permanent, at once */
    ck_assert_int_eq(wait_acks(1, 0), 1);
    expect_acks(0, 1, KF_STATUS_FAIL);
    for (int i = 1; i < 4; i++) {
        kf_sink_msg mi = msg_of(i, "k", 1, "v", 1);
        kf_sink_write(w, &mi);
    }
    kf_sink_flush(w);
    ck_assert_int_eq(kf_sink_drain(s, 10000), 0);
    ck_assert_int_eq(wait_acks(4, 0), 4);
    expect_acks(1, 4, KF_STATUS_RETRY);
    ck_assert_msg(strstr(A.why[1], "timed out"), "%s", A.why[1]);
    kf_sink_worker_close(w);
    kf_sink_close(s);
}
END_TEST

START_TEST(test_kafka_close_acks_everything)
{
    acks_reset();
    char brokers[64];
    snprintf(brokers, sizeof brokers, "127.0.0.1:%d", closed_port());
    kf_sink *s = open_kafka(brokers, NULL, NULL); /* default 5 min message timeout */
    kf_sink_worker *w = open_worker(s, 0);
    for (int i = 0; i < 20; i++) {
        kf_sink_msg m = msg_of(i, "k", 1, "v", 1);
        kf_sink_write(w, &m);
    }
    ck_assert_int_eq(kf_sink_drain(s, 100), -1); /* nothing can be delivered */
    kf_sink_worker_close(w);
    kf_sink_close(s); /* purges: every message still gets its ack */
    ck_assert_int_eq(wait_acks(20, 0), 20);
    expect_acks(0, 20, KF_STATUS_RETRY);
}
END_TEST

START_TEST(test_kafka_bad_properties)
{
    char err[512];
    kf_sink_config c = {.name = "out", .type = KF_SINK_KAFKA, .topic = "out"};
    char *n1[] = {"linger.ms"}, *v1[] = {"soon"};
    kf_props kafka = {n1, v1, 1};
    kf_sink_env env = {.mapping = "orders", .brokers = "127.0.0.1:1", .kafka = &kafka};
    ck_assert_ptr_null(kf_sink_open(&c, &env, err, sizeof err));
    ck_assert_msg(strstr(err, "kafka.properties.linger.ms"), "%s", err);

    char *n2[] = {"no.such.property"}, *v2[] = {"1"};
    kf_props producer = {n2, v2, 1};
    env.kafka = NULL;
    env.producer = &producer;
    ck_assert_ptr_null(kf_sink_open(&c, &env, err, sizeof err));
    ck_assert_msg(strstr(err, "mappings[orders].producer.no.such.property"), "%s", err);

    /* Idempotence needs acks=all: librdkafka refuses, and we say so. */
    char *n3[] = {"acks"}, *v3[] = {"1"};
    producer = (kf_props){n3, v3, 1};
    ck_assert_ptr_null(kf_sink_open(&c, &env, err, sizeof err));
    ck_assert_msg(strstr(err, "acks"), "%s", err);
}
END_TEST

START_TEST(test_kafka_fatal_recovery)
{
    acks_reset();
    const char *brokers = mock_start();
    kf_sink *s = open_kafka(brokers, NULL, NULL);
    kf_sink_worker *w = open_worker(s, 0);
    int idx = 0;
    for (; idx < 50; idx++) {
        kf_sink_msg m = msg_of(idx, "k", 1, "before", 6);
        kf_sink_write(w, &m);
    }
    ck_assert_int_eq(wait_acks(50, 10000), 50);
    expect_acks(0, 50, KF_STATUS_OK);

    ck_assert_int_eq(kf_sink_kafka_test_fatal(s, "injected by test"), 0);
    for (int i = 0; i < 50; i++, idx++) {
        kf_sink_msg m = msg_of(idx, "k", 1, "during", 6);
        kf_sink_write(w, &m);
    }
    ck_assert_int_eq(wait_acks(100, 15000), 100);
    pthread_mutex_lock(&A.mu);
    for (int i = 50; i < 100; i++)
        ck_assert_int_eq(A.count[i], 1);
    pthread_mutex_unlock(&A.mu);

    /* The replacement producer delivers. */
    bool ok = false;
    int64_t deadline = now_ms() + 15000;
    while (!ok && now_ms() < deadline && idx < MAX_MSGS) {
        kf_sink_msg m = msg_of(idx, "k", 1, "after", 5);
        kf_sink_write(w, &m);
        idx++;
        ck_assert_int_eq(wait_acks(idx, 10000), idx);
        pthread_mutex_lock(&A.mu);
        ok = A.status[idx - 1] == KF_STATUS_OK;
        pthread_mutex_unlock(&A.mu);
        if (!ok) nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL); /* poll interval */
    }
    ck_assert_msg(ok, "no delivery after the fatal error");
    kf_sink_worker_close(w);
    kf_sink_close(s);
    mock_stop();
}
END_TEST

START_TEST(test_kafka_broker_outage)
{
    acks_reset();
    const char *brokers = mock_start();
    kf_sink *s = open_kafka(brokers, NULL, NULL);
    kf_sink_worker *w = open_worker(s, 0);
    kf_sink_msg first = msg_of(0, "k", 1, "v", 1);
    kf_sink_write(w, &first); /* connects and gets a producer id */
    ck_assert_int_eq(kf_sink_drain(s, 10000), 0);

    rd_kafka_mock_broker_set_down(mock, 1);
    for (int i = 1; i < 101; i++) {
        kf_sink_msg m = msg_of(i, "k", 1, "v", 1);
        kf_sink_write(w, &m);
    }
    kf_sink_flush(w);
    ck_assert_int_lt(wait_acks(101, 1000), 101); /* nothing delivered while down */
    rd_kafka_mock_broker_set_up(mock, 1);
    ck_assert_int_eq(kf_sink_drain(s, 20000), 0);
    ck_assert_int_eq(wait_acks(101, 0), 101);
    expect_acks(0, 101, KF_STATUS_OK); /* librdkafka retried; idempotence kept the order */
    kf_sink_worker_close(w);
    kf_sink_close(s);
    mock_stop();
}
END_TEST

START_TEST(test_kafka_permanent_broker_error)
{
    acks_reset();
    const char *brokers = mock_start();
    kf_sink *s = open_kafka(brokers, NULL, NULL);
    kf_sink_worker *w = open_worker(s, 0);
    kf_sink_msg first = msg_of(0, "k", 1, "v", 1);
    kf_sink_write(w, &first);
    ck_assert_int_eq(kf_sink_drain(s, 10000), 0);
    expect_acks(0, 1, KF_STATUS_OK);

    /* The record's own fault: permanent. */
    rd_kafka_mock_push_request_errors(mock, 0 /* Produce */, 1,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    kf_sink_msg m = msg_of(1, "k", 1, "v", 1);
    kf_sink_write(w, &m);
    ck_assert_int_eq(kf_sink_drain(s, 10000), 0);
    expect_acks(1, 2, KF_STATUS_FAIL);
    ck_assert_msg(strstr(A.why[1], "too large"), "%s", A.why[1]);

    /* A topic that refuses everyone is the sink being down: the record
     * waits (and the sink's breaker counts it), it does not fail. */
    rd_kafka_mock_push_request_errors(mock, 0 /* Produce */, 1,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    kf_sink_msg m2 = msg_of(2, "k", 1, "v", 1);
    kf_sink_write(w, &m2);
    ck_assert_int_eq(kf_sink_drain(s, 10000), 0);
    expect_acks(2, 3, KF_STATUS_RETRY);
    ck_assert_msg(strstr(A.why[2], "uthoriz"), "%s", A.why[2]);
    kf_sink_worker_close(w);
    kf_sink_close(s);
    mock_stop();
}
END_TEST

/* ----------------------------------------------------------------- suite */

static Suite *sinks_suite(void)
{
    Suite *s = suite_create("sinks");
    TCase *tc = tcase_create("generic");
    tcase_add_test(tc, test_open_errors);
    tcase_add_test(tc, test_config_is_copied);
    tcase_add_test(tc, test_null_sink);
    suite_add_tcase(s, tc);

    tc = tcase_create("stdout");
    tcase_add_test(tc, test_stdout_basic);
    tcase_add_test(tc, test_stdout_null_and_empty);
    tcase_add_test(tc, test_stdout_escapes);
    tcase_add_test(tc, test_stdout_utf8);
    tcase_add_test(tc, test_stdout_headers);
    tcase_add_test(tc, test_stdout_sink_threads);
    suite_add_tcase(s, tc);

    tc = tcase_create("http");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_http_status_mapping);
    tcase_add_test(tc, test_http_request_shape);
    tcase_add_test(tc, test_http_idempotency_key_whole);
    tcase_add_test(tc, test_http_timeout);
    tcase_add_test(tc, test_http_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("redis");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_redis_url);
    tcase_add_test(tc, test_redis_url_password_with_at_masked);
    tcase_add_test(tc, test_redis_url_nul_escape_refused);
    tcase_add_test(tc, test_redis_down);
    tcase_add_test(tc, test_redis_connection_dropped);
    tcase_add_test(tc, test_redis_timeout);
    tcase_add_test(tc, test_redis_null_key);
    tcase_add_test(tc, test_redis_commands);
    suite_add_tcase(s, tc);

    tc = tcase_create("kafka");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_kafka_delivery);
    tcase_add_test(tc, test_kafka_timeout_and_size);
    tcase_add_test(tc, test_kafka_close_acks_everything);
    tcase_add_test(tc, test_kafka_bad_properties);
    tcase_add_test(tc, test_kafka_fatal_recovery);
    tcase_add_test(tc, test_kafka_broker_outage);
    tcase_add_test(tc, test_kafka_permanent_broker_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the daemon does: a dropped peer is an error, not a signal */
    SRunner *sr = srunner_create(sinks_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
