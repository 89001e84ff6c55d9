/*
 * End-to-end tests of the dispatcher (dispatcher/dispatcher.c) without Kafka:
 * a mapping config loaded from a JSON string (brokers 127.0.0.1:1: only the
 * one Kafka-sink test dials it, and the refused connection is its point),
 * real handler .so files, real sinks, hand-made partitions and records, and
 * waits on conditions with deadlines.
 *
 * Observing what happened:
 *   - metrics (kf_metrics) and each partition's offset tracker;
 *   - the "probe" fixture handler (tests/unit/fixtures/probe.c): it logs every
 *     call with its attempt number and result, counts overlapping calls per
 *     key and per partition, and can hold records at a gate;
 *   - an in-process HTTP server (libmicrohttpd) behind the HTTP sink, which
 *     logs every output in arrival order and injects sink failures: a body
 *     containing SINKRETRY gets 503 the first time, SINKFAIL always 400;
 *     DLQRETRY gets 503 the first time on the dead-letter path.
 *   There is no way to open a kf_sink with custom ops (sink.c picks ops by
 *   type only), so the HTTP sink stands in for a test sink.
 *
 * The tests at the bottom cover the dispatcher's smaller parts: records,
 * the emitter and dead-letter headers.
 */
#include "config/config.h"
#include "config/table.h"
#include "tests/unit/support/http_server.h"
#include "dispatcher/dead_letter.h"
#include "dispatcher/origin.h"
#include "dispatcher/dispatcher.h"
#include "dispatcher/emitter.h"
#include "dispatcher/filter.h"
#include "dispatcher/record.h"
#include "dispatcher/record_pool.h"
#include "eos/crash_ledger.h"
#include "handlers/loader.h"
#include "sinks/registry.h"
#include "sinks/sink.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <check.h>
#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HANDLER(n) KF_BINARY_DIR "/handlers/" n ".so"
#define FIXTURE(n) KF_BINARY_DIR "/fixtures/" n ".so"

#define FLAKY_CONFIG                                                                               \
    "{\"fail_if_contains\":\"POISON\",\"retry_if_contains\":\"RETRY\",\"retry_times\":2}"

/* ---- waiting ----------------------------------------------------------- */

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Polls `cond` every millisecond until it holds or timeout_ms pass; the
 * value of the condition at the end. Not a bare sleep: a deadline wait. */
#define WAIT_UNTIL(cond, timeout_ms)                                                               \
    ({                                                                                             \
        int64_t dl_ = kf_now_ms() + (timeout_ms);                                                  \
        while (!(cond) && kf_now_ms() < dl_)                                                       \
            pause_ms(1);                                                                           \
        (cond);                                                                                    \
    })

/* ---- the HTTP server --------------------------------------------------- */

typedef struct hreq {
    char path[32];
    char key[64];
    char source[128];
    char traceparent[128];
    char body[256];
    unsigned status; /* 0: connection dropped without a reply */
} hreq;

static struct {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;
    hreq *log;
    size_t n, cap;
    char seen[256][300]; /* "path|body" already failed once */
    size_t nseen;
    bool down; /* /out answers 503 to everything (an outage) */
} H = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int seen_before(const char *path, const char *b)
{
    char k[300];
    snprintf(k, sizeof k, "%s|%s", path, b);
    for (size_t i = 0; i < H.nseen; i++)
        if (!strcmp(H.seen[i], k)) return 1;
    if (H.nseen < 256) strcpy(H.seen[H.nseen++], k);
    return 0;
}

/* The reply for a request; under H.mu. */
static unsigned decide(const char *path, const char *b)
{
    if (!strcmp(path, "/out")) {
        if (H.down) return 503;
        if (strstr(b, "SINKFAIL")) return 400;
        if (strstr(b, "SINKRETRY") && !seen_before(path, b)) return 503;
    } else if (!strcmp(path, "/dlq")) {
        if (strstr(b, "DLQRETRY") && !seen_before(path, b)) return 503;
    }
    return 200;
}

static void copy_hdr(struct MHD_Connection *c, const char *name, char *out, size_t outlen)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    snprintf(out, outlen, "%s", v ? v : "");
}

/* Records the request and answers as decide() says. */
static unsigned on_request(struct MHD_Connection *c, const char *url, const char *b, size_t len,
                           const char **reply)
{
    (void)len, (void)reply;
    pthread_mutex_lock(&H.mu);
    if (H.n == H.cap) {
        H.cap = H.cap ? H.cap * 2 : 256;
        H.log = realloc(H.log, H.cap * sizeof *H.log);
    }
    hreq *q = &H.log[H.n++];
    memset(q, 0, sizeof *q);
    snprintf(q->path, sizeof q->path, "%s", url);
    copy_hdr(c, "X-Kfleet-Key", q->key, sizeof q->key);
    copy_hdr(c, "X-Kfleet-Source", q->source, sizeof q->source);
    copy_hdr(c, "traceparent", q->traceparent, sizeof q->traceparent);
    snprintf(q->body, sizeof q->body, "%s", b);
    q->status = decide(url, b);
    unsigned status = q->status;
    pthread_mutex_unlock(&H.mu);
    return status;
}

static void server_start(void)
{
    H.d = kf_test_http_start(on_request, &H.port);
}

static void server_stop(void)
{
    if (H.d) MHD_stop_daemon(H.d);
    H.d = NULL;
    free(H.log);
    H.log = NULL;
    H.n = H.cap = H.nseen = 0;
    H.down = false;
}

static void server_down(bool down)
{
    pthread_mutex_lock(&H.mu);
    H.down = down;
    pthread_mutex_unlock(&H.mu);
}

/* Requests to `path` answered with `status` (0 = any), in arrival order,
 * copied into out (up to max). Returns how many there are in all. */
static size_t server_requests(const char *path, unsigned status, hreq *out, size_t max)
{
    pthread_mutex_lock(&H.mu);
    size_t k = 0;
    for (size_t i = 0; i < H.n; i++) {
        if (strcmp(H.log[i].path, path) || (status && H.log[i].status != status)) continue;
        if (out && k < max) out[k] = H.log[i];
        k++;
    }
    pthread_mutex_unlock(&H.mu);
    return k;
}

/* ---- the probe handler's reporting functions ----------------------------- */

static struct {
    void *lib;
    size_t (*calls)(void);
    int (*call)(size_t, int32_t *, int64_t *, char *, char *, int *, int *);
    int64_t (*call_time)(size_t);
    int (*key_overlaps)(void);
    int (*partition_overlaps)(void);
    int (*max_running)(void);
    int (*wait_blocked)(int, int);
    int (*blocked)(void);
    void (*open_gate)(void);
} PR;

static void *probe_sym(const char *name)
{
    void *f = dlsym(PR.lib, name);
    ck_assert_msg(f != NULL, "probe.so has no %s: %s", name, dlerror());
    return f;
}

/* Binds the probe loaded by kf_handler_load (same file: dlopen returns the
 * same handle, and RTLD_NOLOAD makes sure we do not load a second copy). */
static void probe_bind(void)
{
    PR.lib = dlopen(FIXTURE("probe"), RTLD_NOW | RTLD_NOLOAD);
    ck_assert_msg(PR.lib != NULL, "probe.so is not loaded: %s", dlerror());
    *(void **)&PR.calls = probe_sym("probe_calls");
    *(void **)&PR.call = probe_sym("probe_call");
    *(void **)&PR.call_time = probe_sym("probe_call_time");
    *(void **)&PR.key_overlaps = probe_sym("probe_key_overlaps");
    *(void **)&PR.partition_overlaps = probe_sym("probe_partition_overlaps");
    *(void **)&PR.max_running = probe_sym("probe_max_running");
    *(void **)&PR.wait_blocked = probe_sym("probe_wait_blocked");
    *(void **)&PR.blocked = probe_sym("probe_blocked");
    *(void **)&PR.open_gate = probe_sym("probe_open_gate");
}

typedef struct pcall {
    int32_t partition;
    int64_t offset;
    char key[64];
    char value[64];
    int attempt;
    int result;
} pcall;

static pcall probe_get(size_t i)
{
    pcall c;
    ck_assert_int_eq(PR.call(i, &c.partition, &c.offset, c.key, c.value, &c.attempt, &c.result), 0);
    return c;
}

/* ---- the rig: config, handler, sinks, dispatcher, partitions ---------------- */

enum { NPARTS = 4 };
enum dlq_kind { DLQ_NONE = 0, DLQ_NULL, DLQ_HTTP };

static struct {
    kf_config *cfg;
    const kf_mapping_config *m;
    kf_loaded_handler *h;
    kf_sink *sinks[KF_METRICS_MAX_SINKS];
    size_t nsinks;
    kf_sink *dlq;
    kf_filter *filter;
    kf_metrics met;
    kf_dispatcher *d;
    kf_partition *parts[NPARTS];
    int64_t next_off[NPARTS];
    int exactly_once; /* set before rig_start: sinks marked done are skipped */
    int retire_ms;    /* set before rig_start: an autoscaled pool's idle window */
} R;

#define SINK_NULL "[{\"name\":\"out\",\"type\":\"null\"}]"

/* The HTTP sink on the test server's /out. */
static const char *sink_http(void)
{
    static char s[256];
    snprintf(s, sizeof s,
             "[{\"name\":\"out\",\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/out\","
             "\"timeout_ms\":5000}]",
             H.port);
    return s;
}

/*
 * Starts a dispatcher for one mapping. `extra` is more of the mapping's JSON
 * members (ordering, concurrency, retry, filters, producer...).
 */
static void rig_start(const char *handler, const char *handler_config, const char *extra,
                      const char *sinks, enum dlq_kind dlq)
{
    char json[4096], err[1024] = "";
    snprintf(json, sizeof json,
             "{\"kafka\":{\"brokers\":\"127.0.0.1:1\"},\"mappings\":[{\"name\":\"m\","
             "\"topics\":[\"in\"],\"handler\":{\"path\":\"%s\",\"config\":%s},\"sinks\":%s%s%s}]}",
             handler, handler_config, sinks, extra[0] ? "," : "", extra);
    ck_assert_msg(kf_config_load_string(json, "test", &R.cfg, err, sizeof err) == 0, "%s", err);
    R.m = &R.cfg->mappings[0];
    R.h = kf_handler_load(handler, R.m->handler.config_json, err, sizeof err);
    ck_assert_msg(R.h != NULL, "%s", err);
    if (strstr(handler, "/probe.so")) probe_bind();

    kf_sink_env env = {
        .mapping = R.m->name,
        .group_id = R.m->group_id,
        .brokers = R.cfg->brokers,
        .kafka = &R.cfg->kafka,
        .producer = &R.m->producer,
        .redis_url = R.cfg->redis_url,
        .threads = R.m->concurrency.threads,
    };
    for (size_t i = 0; i < R.m->sink_count; i++) {
        R.sinks[i] = kf_sink_open(&R.m->sinks[i], &env, err, sizeof err);
        ck_assert_msg(R.sinks[i] != NULL, "%s", err);
        R.nsinks++;
    }
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/dlq", H.port);
    kf_sink_config dc = {.name = "on_failure", .type = KF_SINK_NULL};
    if (dlq == DLQ_HTTP) {
        dc.type = KF_SINK_HTTP;
        dc.url = url;
        dc.timeout_ms = 5000;
    }
    if (dlq != DLQ_NONE) {
        R.dlq = kf_sink_open(&dc, &env, err, sizeof err);
        ck_assert_msg(R.dlq != NULL, "%s", err);
    }
    if (R.m->filters_json) {
        R.filter = kf_filter_new(R.m->filters_json, "filters", err, sizeof err);
        ck_assert_msg(R.filter != NULL, "%s", err);
    }
    kf_dispatcher_env denv = {
        .mapping = R.m,
        .handler = R.h,
        .sinks = R.sinks,
        .sink_count = R.nsinks,
        .dead_letter = R.dlq,
        .filter = R.filter,
        .metrics = &R.met,
        .exactly_once = R.exactly_once,
        .retire_ms = R.retire_ms,
    };
    R.d = kf_dispatcher_new(&denv, err, sizeof err);
    ck_assert_msg(R.d != NULL, "%s", err);
}

static void rig_stop_dispatcher(void)
{
    kf_dispatcher_destroy(R.d);
    R.d = NULL;
}

static void setup(void)
{
    kf_log_set_level(KF_LOG_ERROR);
    memset(&R, 0, sizeof R);
    memset(&PR, 0, sizeof PR);
    for (int i = 0; i < NPARTS; i++) {
        R.parts[i] = kf_partition_new("in", i);
        ck_assert_ptr_nonnull(R.parts[i]);
    }
    server_start();
}

static void teardown(void)
{
    if (PR.open_gate) PR.open_gate(); /* never leave a worker stuck at the gate */
    kf_dispatcher_destroy(R.d);
    for (size_t i = 0; i < R.nsinks; i++)
        kf_sink_close(R.sinks[i]);
    kf_sink_close(R.dlq);
    kf_filter_destroy(R.filter);
    if (PR.lib) dlclose(PR.lib);
    kf_handler_unload(R.h);
    kf_config_destroy(R.cfg);
    for (int i = 0; i < NPARTS; i++) {
        /* Destroying the dispatcher let go of every record it held. */
        ck_assert_int_eq(atomic_load(&R.parts[i]->inflight), 0);
        /* 1: the owner's, plus references bought ahead for records */
        ck_assert_int_eq(atomic_load(&R.parts[i]->refs), 1 + R.parts[i]->ref_credit);
        kf_partition_release(R.parts[i]); /* the owner: returns the record credit */
    }
    server_stop();
}

/* A record of partition pi at the next offset (skipping `gap` offsets first,
 * like transaction markers), registered with the tracker. */
static kf_rec *rec_gap(int pi, int64_t gap, const char *key, const char *value)
{
    kf_partition *p = R.parts[pi];
    R.next_off[pi] += gap;
    int64_t off = R.next_off[pi]++;
    kf_rec *r = kf_rec_new(p, off, kf_wall_ms(), key, key ? strlen(key) : 0, value,
                           value ? strlen(value) : 0, NULL, 0);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(kf_tracker_add(p->tracker, off), 0);
    return r;
}

static kf_rec *rec(int pi, const char *key, const char *value)
{
    return rec_gap(pi, 0, key, value);
}

static void submit(kf_rec *r)
{
    kf_dispatcher_submit(R.d, &r, 1);
}

static int64_t wm(int pi)
{
    return kf_tracker_watermark(R.parts[pi]->tracker);
}

static uint64_t M(atomic_uint_fast64_t *f)
{
    return atomic_load(f);
}

/* Nothing in flight. The metrics gauge is the last thing a completion
 * updates (after the tracker and the counters), so waiting for it too means
 * every count is final when this returns true. */
#define DRAINED(ms)                                                                                \
    WAIT_UNTIL(kf_dispatcher_inflight(R.d) == 0 && atomic_load(&R.met.inflight) == 0, ms)

/* Every partition that got records is fully done and committed-ready. */
static void assert_all_done(void)
{
    for (int i = 0; i < NPARTS; i++) {
        if (R.next_off[i] == 0) continue;
        ck_assert_int_eq(wm(i), R.next_off[i]);
        ck_assert_uint_eq(kf_tracker_pending(R.parts[i]->tracker), 0);
        ck_assert_int_eq(atomic_load(&R.parts[i]->inflight), 0);
    }
    ck_assert_int_eq(atomic_load(&R.met.inflight), 0);
}

/* ---- happy paths ------------------------------------------------------------- */

START_TEST(test_echo_everything_done)
{
    rig_start(HANDLER("echo"), "{}", "\"ordering\":\"key\",\"concurrency\":{\"threads\":4}",
              SINK_NULL, DLQ_NONE);
    char key[16], value[32];
    int total = 0;
    for (int batch = 0; batch < 40; batch++) {
        kf_rec *recs[50];
        for (int i = 0; i < 50; i++, total++) {
            snprintf(key, sizeof key, "k%d", total % 10);
            snprintf(value, sizeof value, "v%d", total);
            /* Every 7th offset follows a gap (a transaction marker). */
            recs[i] = rec_gap(total % 2, total % 7 == 0 ? 1 : 0, key, value);
        }
        kf_dispatcher_submit(R.d, recs, 50);
    }
    ck_assert_msg(DRAINED(20000), "still in flight: %lld", (long long)kf_dispatcher_inflight(R.d));
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.records_in), 2000);
    ck_assert_uint_eq(M(&R.met.records_done), 2000);
    ck_assert_uint_eq(M(&R.met.handler_calls), 2000);
    ck_assert_uint_eq(M(&R.met.outputs[0]), 2000);
    ck_assert_uint_eq(M(&R.met.retries), 0);
    ck_assert_uint_eq(M(&R.met.records_failed), 0);
    ck_assert_uint_eq(M(&R.met.records_filtered), 0);
}
END_TEST

START_TEST(test_stress_each_ordering)
{
    static const char *modes[] = {"unordered", "partition", "key"};
    char extra[128];
    snprintf(extra, sizeof extra, "\"ordering\":\"%s\",\"concurrency\":{\"threads\":4}", modes[_i]);
    rig_start(HANDLER("echo"), "{}", extra, SINK_NULL, DLQ_NONE);
    char key[16];
    enum { N = 12000 };
    kf_rec *batch[64];
    size_t nb = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%d", i % 37);
        batch[nb++] = rec(i % 3, key, "v");
        if (nb == 64 || i == N - 1) {
            kf_dispatcher_submit(R.d, batch, nb);
            nb = 0;
        }
    }
    ck_assert_msg(DRAINED(30000), "still in flight: %lld", (long long)kf_dispatcher_inflight(R.d));
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.records_done), N);
    ck_assert_uint_eq(M(&R.met.outputs[0]), N);
}
END_TEST

/* ---- handler retries and failures ------------------------------------------- */

START_TEST(test_retry_until_ok)
{
    rig_start(HANDLER("flaky"), FLAKY_CONFIG,
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":2},"
              "\"retry\":{\"max_attempts\":5,\"backoff_ms\":2,\"max_backoff_ms\":10}",
              SINK_NULL, DLQ_NONE);
    char key[16], value[32];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "k%d", i % 3);
        snprintf(value, sizeof value, "%s-%d", i % 4 == 1 ? "RETRY" : "ok", i);
        submit(rec(0, key, value));
    }
    ck_assert(DRAINED(10000));
    assert_all_done();
    /* 5 records retried twice each (attempts 1 and 2 retry, 3 succeeds). */
    ck_assert_uint_eq(M(&R.met.records_done), 20);
    ck_assert_uint_eq(M(&R.met.retries), 10);
    ck_assert_uint_eq(M(&R.met.handler_calls), 30);
    ck_assert_uint_eq(M(&R.met.outputs[0]), 20);
    ck_assert_uint_eq(M(&R.met.records_failed), 0);
}
END_TEST

START_TEST(test_retry_attempt_numbers_and_key_order)
{
    rig_start(FIXTURE("probe"), "{}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":3},"
              "\"retry\":{\"max_attempts\":5,\"backoff_ms\":2,\"max_backoff_ms\":10}",
              SINK_NULL, DLQ_NONE);
    kf_rec *recs[] = {rec(0, "a", "first RETRY2"), rec(0, "a", "second"), rec(0, "b", "other")};
    kf_dispatcher_submit(R.d, recs, 3);
    ck_assert(DRAINED(10000));
    assert_all_done();

    /* Offset 0: attempts 1, 2, 3 in that order, RETRY, RETRY, OK. Offset 1
     * (same key) runs only after offset 0 succeeded; offset 2 (other key) is
     * not held up by either. */
    size_t n = PR.calls();
    ck_assert_uint_eq(n, 5);
    int next_attempt = 1;
    size_t ok0 = 0, first1 = 0;
    for (size_t i = 0; i < n; i++) {
        pcall c = probe_get(i);
        if (c.offset == 0) {
            ck_assert_int_eq(c.attempt, next_attempt);
            ck_assert_int_eq(c.result, next_attempt < 3 ? KF_RETRY : KF_OK);
            if (next_attempt++ == 3) ok0 = i;
        } else if (c.offset == 1) {
            ck_assert_int_eq(c.attempt, 1);
            first1 = i;
        } else {
            ck_assert_int_eq(c.attempt, 1);
        }
    }
    ck_assert_int_eq(next_attempt, 4);
    ck_assert_uint_gt(first1, ok0);
    ck_assert_uint_eq(M(&R.met.retries), 2);
    ck_assert_int_eq(PR.key_overlaps(), 0);
}
END_TEST

/* Runs one record that the probe retries twice and returns the gaps between
 * its attempts' starts. */
static void retry_gaps(const char *value, int64_t gaps[2])
{
    submit(rec(0, "a", value));
    ck_assert(DRAINED(10000));
    assert_all_done();
    ck_assert_uint_eq(PR.calls(), 3);
    gaps[0] = PR.call_time(1) - PR.call_time(0);
    gaps[1] = PR.call_time(2) - PR.call_time(1);
}

START_TEST(test_retry_waits_for_backoff)
{
    /* backoff 100 ms: attempt 1's delay is in [50, 100] and attempt 2's, its
     * ceiling capped at 120, in [60, 120]. The upper bound (plus slack for a
     * loaded machine) catches a worker that is never woken for the retry. */
    static const char *modes[] = {"key", "unordered"};
    char extra[256];
    snprintf(extra, sizeof extra,
             "\"ordering\":\"%s\",\"concurrency\":{\"threads\":2},"
             "\"retry\":{\"max_attempts\":5,\"backoff_ms\":100,\"max_backoff_ms\":120}",
             modes[_i]);
    rig_start(FIXTURE("probe"), "{}", extra, SINK_NULL, DLQ_NONE);
    int64_t gaps[2];
    retry_gaps("RETRY2", gaps);
    ck_assert_msg(gaps[0] >= 50 && gaps[0] <= 100 + 1000, "first retry after %lld ms",
                  (long long)gaps[0]);
    ck_assert_msg(gaps[1] >= 60 && gaps[1] <= 120 + 1000, "second retry after %lld ms",
                  (long long)gaps[1]);
}
END_TEST

START_TEST(test_sink_retry_waits_for_backoff)
{
    rig_start(FIXTURE("probe"), "{}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":2},"
              "\"retry\":{\"max_attempts\":5,\"backoff_ms\":100,\"max_backoff_ms\":100}",
              sink_http(), DLQ_NONE);
    submit(rec(0, "a", "SINKRETRY"));
    ck_assert(DRAINED(10000));
    ck_assert_uint_eq(PR.calls(), 2);
    int64_t gap = PR.call_time(1) - PR.call_time(0);
    ck_assert_msg(gap >= 50 && gap <= 100 + 1000, "retry after %lld ms", (long long)gap);
}
END_TEST

START_TEST(test_fail_without_dlq_retries_forever)
{
    rig_start(FIXTURE("probe"), "{}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":2},"
              "\"retry\":{\"max_attempts\":2,\"backoff_ms\":1,\"max_backoff_ms\":4}",
              SINK_NULL, DLQ_NONE);
    submit(rec(0, "a", "fine"));
    submit(rec(0, "b", "FAIL"));
    submit(rec(0, "b", "behind the poison"));
    submit(rec(0, "c", "fine too"));
    /* The poison pill is retried again and again, past max_attempts... */
    ck_assert(WAIT_UNTIL(M(&R.met.retries) >= 8, 10000));
    ck_assert(WAIT_UNTIL(M(&R.met.records_done) == 2, 10000));
    /* ...never dropped, never committed past, and its key waits behind it. */
    ck_assert_int_eq(kf_dispatcher_inflight(R.d), 2);
    ck_assert_uint_eq(M(&R.met.records_failed), 0);
    ck_assert_int_eq(wm(0), 1);
    ck_assert_uint_eq(kf_tracker_pending(R.parts[0]->tracker), 2);
    ck_assert_uint_eq(M(&R.met.outputs[0]), 2);
    int attempt = 0;
    for (size_t i = 0; i < PR.calls(); i++) {
        pcall c = probe_get(i);
        ck_assert_msg(strcmp(c.value, "behind the poison") != 0, "ran behind a failing record");
        if (c.offset == 1) ck_assert_int_eq(c.attempt, ++attempt);
    }
    ck_assert_int_ge(attempt, 8);
    /* Destroy with records still retrying: they are let go (teardown checks
     * the partitions are released). */
    rig_stop_dispatcher();
    ck_assert_int_eq(wm(0), 1);
}
END_TEST

START_TEST(test_fail_goes_to_dlq)
{
    rig_start(HANDLER("flaky"), FLAKY_CONFIG,
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":2},"
              "\"retry\":{\"max_attempts\":5,\"backoff_ms\":1,\"max_backoff_ms\":4}",
              sink_http(), DLQ_HTTP);
    submit(rec(0, "a", "fine"));
    submit(rec(0, "b", "POISON pill"));
    submit(rec(0, "b", "behind"));
    ck_assert(DRAINED(10000));
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.records_done), 3);
    ck_assert_uint_eq(M(&R.met.records_failed), 1);
    ck_assert_uint_eq(M(&R.met.handler_calls), 3); /* KF_FAIL: no retry */
    ck_assert_uint_eq(M(&R.met.retries), 0);
    hreq dl[4];
    ck_assert_uint_eq(server_requests("/dlq", 0, dl, 4), 1);
    ck_assert_str_eq(dl[0].body, "POISON pill");
    ck_assert_str_eq(dl[0].source, "in/0/1");
    ck_assert_str_eq(dl[0].key, "b");
    hreq out[4];
    ck_assert_uint_eq(server_requests("/out", 200, out, 4), 2);
}
END_TEST

START_TEST(test_retries_exhausted_go_to_dlq)
{
    rig_start(HANDLER("flaky"),
              "{\"retry_if_contains\":\"RETRY\",\"retry_times\":1000,\"fail_if_contains\":\"\"}",
              "\"ordering\":\"partition\",\"concurrency\":{\"threads\":2},"
              "\"retry\":{\"max_attempts\":3,\"backoff_ms\":1,\"max_backoff_ms\":4}",
              SINK_NULL, DLQ_NULL);
    submit(rec(0, "a", "RETRY forever"));
    submit(rec(0, "a", "after"));
    ck_assert(DRAINED(10000));
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.handler_calls), 4); /* 3 attempts + "after" */
    ck_assert_uint_eq(M(&R.met.retries), 2);
    ck_assert_uint_eq(M(&R.met.records_failed), 1);
    ck_assert_uint_eq(M(&R.met.records_done), 2);
    ck_assert_uint_eq(M(&R.met.outputs[0]), 1);
}
END_TEST

START_TEST(test_dlq_write_failure_is_retried)
{
    rig_start(HANDLER("flaky"), FLAKY_CONFIG,
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":1},"
              "\"retry\":{\"max_attempts\":5,\"backoff_ms\":1,\"max_backoff_ms\":4}",
              SINK_NULL, DLQ_HTTP);
    submit(rec(0, "a", "POISON DLQRETRY"));
    ck_assert(DRAINED(10000));
    assert_all_done();
    hreq dl[4];
    ck_assert_uint_eq(server_requests("/dlq", 0, dl, 4), 2);
    ck_assert_uint_eq(dl[0].status, 503);
    ck_assert_uint_eq(dl[1].status, 200);
    ck_assert_uint_eq(M(&R.met.records_failed), 1);
    ck_assert_uint_eq(M(&R.met.handler_calls), 1); /* the handler is not asked again */
}
END_TEST

START_TEST(test_too_old_goes_to_dlq_without_handler)
{
    rig_start(HANDLER("flaky"), FLAKY_CONFIG,
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":2},"
              "\"retry\":{\"max_attempts\":5,\"backoff_ms\":1,\"max_backoff_ms\":4,"
              "\"max_record_age_ms\":60000}",
              SINK_NULL, DLQ_HTTP);
    kf_partition *p = R.parts[0];
    kf_tracker_add(p->tracker, 0);
    kf_rec *old = kf_rec_new(p, 0, kf_wall_ms() - 3600000, "a", 1, "stale", 5, NULL, 0);
    R.next_off[0] = 1;
    submit(old);
    submit(rec(0, "a", "fresh"));
    ck_assert(DRAINED(10000));
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.handler_calls), 1);
    ck_assert_uint_eq(M(&R.met.records_failed), 1);
    hreq dl[2];
    ck_assert_uint_eq(server_requests("/dlq", 200, dl, 2), 1);
    ck_assert_str_eq(dl[0].body, "stale");
}
END_TEST

START_TEST(test_batch_handler_partial_failure)
{
    rig_start(FIXTURE("batch"), "{}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":1},"
              "\"retry\":{\"max_attempts\":2,\"backoff_ms\":1,\"max_backoff_ms\":4}",
              SINK_NULL, DLQ_NULL);
    kf_rec *recs[] = {rec(0, "a", "ok"), rec(0, "b", "odd"), rec(0, "c", "retry"),
                      rec(0, "d", "ok")};
    kf_dispatcher_submit(R.d, recs, 4);
    ck_assert(DRAINED(10000));
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.outputs[0]), 2);
    ck_assert_uint_eq(M(&R.met.records_failed), 2); /* "odd" (unknown = FAIL), "retry" */
    ck_assert_uint_eq(M(&R.met.records_done), 4);
    ck_assert_uint_eq(M(&R.met.retries), 1);
    ck_assert_uint_eq(M(&R.met.handler_calls), 5);
}
END_TEST

/* A batch handler that fails a whole call for one bad record (all_or_nothing):
 * with retry.bisect the call is halved down to the bad record, which alone
 * goes to the on-failure destination; without it every record of the call
 * does. One chunk: a single worker takes the 16 records submitted at once. */
START_TEST(test_batch_bisect_isolates_the_bad_record)
{
    int bisect = _i;
    char extra[256];
    snprintf(extra, sizeof extra,
             "\"ordering\":\"key\",\"concurrency\":{\"threads\":1},"
             "\"retry\":{\"max_attempts\":2,\"backoff_ms\":1,\"max_backoff_ms\":4,"
             "\"bisect\":%s}",
             bisect ? "true" : "false");
    rig_start(FIXTURE("all_or_nothing"), "{}", extra, SINK_NULL, DLQ_NULL);
    kf_rec *recs[16];
    char key[16];
    for (int i = 0; i < 16; i++) {
        snprintf(key, sizeof key, "k%d", i);
        recs[i] = rec(i % 2, key, i == 5 ? "a POISON pill" : "fine");
    }
    kf_dispatcher_submit(R.d, recs, 16);
    ck_assert(DRAINED(10000));
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.records_done), 16);
    if (bisect) {
        ck_assert_uint_eq(M(&R.met.records_failed), 1);
        ck_assert_uint_eq(M(&R.met.outputs[0]), 15);
        /* [16] -> [8] -> [4] -> [2] -> the bad record alone. */
        ck_assert_uint_eq(M(&R.met.batch_bisections), 4);
        ck_assert_uint_eq(M(&R.met.retries), 0); /* KF_FAIL: no attempt is retried */
    } else {
        ck_assert_uint_eq(M(&R.met.records_failed), 16);
        ck_assert_uint_eq(M(&R.met.outputs[0]), 0);
        ck_assert_uint_eq(M(&R.met.batch_bisections), 0);
    }
}
END_TEST

/* The crash ledger's entries for partition pi (as the consumer loads them at
 * assignment, before any record): the partition owns them. */
static void set_crashes(int pi, const kf_crash_entry *e, size_t n)
{
    kf_partition *p = R.parts[pi];
    p->crash = calloc(n, sizeof *e);
    memcpy(p->crash, e, n * sizeof *e);
    p->ncrash = n;
}

/* A record that crashed the process max_crashes times goes to the on-failure
 * topic without a handler call, with the signal in its reason; one that
 * crashed it fewer times runs. */
START_TEST(test_crashed_record_goes_to_dlq_unrun)
{
    rig_start(FIXTURE("probe"), "{}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":2},"
              "\"retry\":{\"max_crashes\":3}",
              SINK_NULL, DLQ_HTTP);
    kf_crash_entry e[] = {{.offset = 2, .n = 1, .count = 3, .sig = "SIGSEGV"},
                          {.offset = 4, .n = 1, .count = 2, .sig = "SIGSEGV"}};
    set_crashes(0, e, 2);
    char key[16];
    for (int i = 0; i < 6; i++) {
        snprintf(key, sizeof key, "k%d", i);
        submit(rec(0, key, "v"));
    }
    ck_assert(DRAINED(10000));
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.records_failed), 1);
    ck_assert_uint_eq(M(&R.met.records_crashed), 1);
    ck_assert_uint_eq(PR.calls(), 5);
    for (size_t i = 0; i < PR.calls(); i++)
        ck_assert_int_ne(probe_get(i).offset, 2);
    hreq dl[2];
    ck_assert_uint_eq(server_requests("/dlq", 0, dl, 2), 1);
    ck_assert_str_eq(dl[0].source, "in/0/2");
}
END_TEST

/* ---- redrive -------------------------------------------------------------------- */

/* A dead letter read back from the on-failure topic by `kfleet redrive`, at
 * the next offset of partition pi: it came from orders[5]@src after
 * `attempts` attempts, its effect having reached the sinks in `done`. */
/* A dead letter of orders[5]@src, with one header of the record's own
 * (name: value) besides the kfleet.* ones. */
static kf_rec *dead_letter_h(int pi, int64_t src, int attempts, const char *done, const char *value,
                             const char *name, const char *hvalue)
{
    char off[24], att[12];
    snprintf(off, sizeof off, "%lld", (long long)src);
    snprintf(att, sizeof att, "%d", attempts);
    kf_header h[] = {{name, hvalue, strlen(hvalue)},
                     {"kfleet.error", "handler returned KF_FAIL", 24},
                     {"kfleet.attempts", att, strlen(att)},
                     {"kfleet.source.topic", "orders", 6},
                     {"kfleet.source.partition", "5", 1},
                     {"kfleet.source.offset", off, strlen(off)},
                     {"kfleet.mapping", "m", 1},
                     {"kfleet.sinks.done", done, strlen(done)}};
    kf_partition *p = R.parts[pi];
    int64_t o = R.next_off[pi]++;
    kf_rec *r = kf_rec_new(p, o, kf_wall_ms(), "k", 1, value, strlen(value), h, 8);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(kf_tracker_add(p->tracker, o), 0);
    kf_dead_letter_source ds;
    char err[256];
    ck_assert_int_eq(
        kf_dead_letter_parse(r->view.headers, r->view.header_count, &ds, err, sizeof err), 0);
    const char *names[] = {"out"};
    r->origin = kf_origin_new(&r->view, &ds, names, 1);
    ck_assert_ptr_nonnull(r->origin);
    return r;
}

static kf_rec *dead_letter(int pi, int64_t src, int attempts, const char *done, const char *value)
{
    return dead_letter_h(pi, src, attempts, done, value, "trace", "t1");
}

/* A redriven record runs as the record it was: the handler sees its source
 * partition and offset, its headers without the kfleet.* ones, and attempt
 * 1; the HTTP sink keys it on the source; a sink its dead letter names as
 * done is not written again; one that fails again goes to the on-failure
 * destination under its source identity. */
START_TEST(test_redriven_record_runs_as_its_first_self)
{
    rig_start(FIXTURE("probe"), "{}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":1},"
              "\"retry\":{\"max_attempts\":1}",
              sink_http(), DLQ_HTTP);
    submit(dead_letter(0, 77, 1, "", "fine"));
    submit(dead_letter(0, 78, 1, "out", "already out"));
    submit(dead_letter(0, 79, 2, "", "FAIL again"));
    ck_assert(DRAINED(10000));
    assert_all_done();
    ck_assert_uint_eq(PR.calls(), 3);
    for (size_t i = 0; i < 3; i++) {
        pcall c = probe_get(i);
        ck_assert_int_eq(c.partition, 5);
        ck_assert_int_eq(c.offset, 77 + (int64_t)i);
        ck_assert_int_eq(c.attempt, 1);
    }
    hreq out[4];
    ck_assert_uint_eq(server_requests("/out", 0, out, 4), 1); /* 78's was done before */
    ck_assert_str_eq(out[0].source, "orders/5/77");
    ck_assert_str_eq(out[0].body, "fine");
    hreq dl[2];
    ck_assert_uint_eq(server_requests("/dlq", 0, dl, 2), 1);
    ck_assert_str_eq(dl[0].source, "orders/5/79");
    ck_assert_str_eq(dl[0].body, "FAIL again");
    ck_assert_uint_eq(M(&R.met.records_failed), 1);
    ck_assert_int_eq(wm(0), 3);
}
END_TEST

/* The log lines of the test so far, from a temporary file that stands in
 * for stderr from capture_log() on (each test runs in its own process). */
static FILE *log_file;

static void capture_log(void)
{
    kf_log_set_level(KF_LOG_INFO); /* the rig keeps only errors */
    fflush(stderr);
    log_file = tmpfile();
    ck_assert_ptr_nonnull(log_file);
    ck_assert_int_ge(dup2(fileno(log_file), STDERR_FILENO), 0);
}

/* The first captured JSON line whose "msg" holds `text`; NULL when none. */
static cJSON *log_line(const char *text)
{
    char line[8192];
    rewind(log_file);
    while (fgets(line, sizeof line, log_file)) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *msg = cJSON_GetObjectItem(j, "msg");
        if (cJSON_IsString(msg) && strstr(msg->valuestring, text)) return j;
        cJSON_Delete(j);
    }
    return NULL;
}

/* The captured lines, for a failure's message. */
static const char *log_text(void)
{
    static char text[16384];
    rewind(log_file);
    size_t n = fread(text, 1, sizeof text - 1, log_file);
    text[n] = '\0';
    return text;
}

static const char *str_of(const cJSON *j, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(j, name);
    return cJSON_IsString(v) ? v->valuestring : "(none)";
}

static int64_t num_of(const cJSON *j, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(j, name);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -999;
}

/* A record that fails for good logs one line naming it: mapping, topic,
 * partition, offset and the trace id of its traceparent; a redriven one
 * also the record it was (source_*), and its trace id is its source's. */
START_TEST(test_failure_line_names_the_record)
{
    capture_log();
    rig_start(HANDLER("flaky"), FLAKY_CONFIG, "\"ordering\":\"key\",\"retry\":{\"max_attempts\":1}",
              sink_http(), DLQ_HTTP);
    static const char tp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    static const char tp2[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    kf_header h[] = {{"traceparent", tp, sizeof tp - 1}};
    submit(rec(1, "a", "fine"));
    R.next_off[1]++;
    kf_rec *r = kf_rec_new(R.parts[1], 1, kf_wall_ms(), "k", 1, "POISON", 6, h, 1);
    ck_assert_int_eq(kf_tracker_add(R.parts[1]->tracker, 1), 0);
    submit(r);
    submit(dead_letter_h(0, 79, 2, "", "POISON again", "traceparent", tp2));
    ck_assert(DRAINED(10000));
    assert_all_done();

    cJSON *j = log_line("in[1]@1 failed for good");
    ck_assert_msg(j, "no failure line for in[1]@1 in: %s", log_text());
    ck_assert_str_eq(str_of(j, "level"), "warn");
    ck_assert_str_eq(str_of(j, "mapping"), "m");
    ck_assert_str_eq(str_of(j, "topic"), "in");
    ck_assert_int_eq(num_of(j, "partition"), 1);
    ck_assert_int_eq(num_of(j, "offset"), 1);
    ck_assert_str_eq(str_of(j, "trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
    ck_assert_ptr_null(cJSON_GetObjectItem(j, "source_topic"));
    cJSON_Delete(j);

    /* Its attempts count as its dead letter's do: 2 before, 1 now. */
    j = log_line("in[0]@0 (redriven: it was orders[5]@79) failed for good after 3 attempt(s)");
    ck_assert_msg(j, "no failure line for the redriven in[0]@0 in: %s", log_text());
    ck_assert_str_eq(str_of(j, "topic"), "in");
    ck_assert_int_eq(num_of(j, "partition"), 0);
    ck_assert_int_eq(num_of(j, "offset"), 0);
    ck_assert_str_eq(str_of(j, "trace_id"), "0af7651916cd43dd8448eb211c80319c");
    ck_assert_str_eq(str_of(j, "source_topic"), "orders");
    ck_assert_int_eq(num_of(j, "source_partition"), 5);
    ck_assert_int_eq(num_of(j, "source_offset"), 79);
    cJSON_Delete(j);
    fclose(log_file);
}
END_TEST

/* A record the redrive passes over (another mapping's dead letter) is done
 * without a handler call, like a filtered one. */
START_TEST(test_passed_over_record_is_done_unrun)
{
    rig_start(FIXTURE("probe"), "{}", "\"ordering\":\"key\"", SINK_NULL, DLQ_NULL);
    kf_rec *r = rec(0, "k", "someone else's");
    r->passed_over = true;
    submit(r);
    submit(rec(0, "k", "mine"));
    ck_assert(DRAINED(10000));
    assert_all_done();
    ck_assert_uint_eq(PR.calls(), 1);
    ck_assert_uint_eq(M(&R.met.records_filtered), 1);
    ck_assert_int_eq(wm(0), 2);
}
END_TEST

/* Records of a batch call that crashed run in calls of their own: a batch
 * handler that fails a whole call for one bad record (all_or_nothing) then
 * fails that record alone. */
START_TEST(test_crash_suspects_run_alone)
{
    rig_start(FIXTURE("all_or_nothing"), "{}",
              "\"ordering\":\"unordered\",\"concurrency\":{\"threads\":1},"
              "\"retry\":{\"max_attempts\":1}",
              SINK_NULL, DLQ_NULL);
    kf_crash_entry e[] = {{.offset = 3, .n = 4, .count = 1}};
    set_crashes(0, e, 1);
    kf_rec *recs[10];
    for (int i = 0; i < 10; i++)
        recs[i] = rec(0, "k", i == 5 ? "POISON" : "fine");
    kf_dispatcher_submit(R.d, recs, 10);
    ck_assert(DRAINED(10000));
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.records_failed), 1);
    ck_assert_uint_eq(M(&R.met.outputs[0]), 9);
}
END_TEST

/* ---- ordering ------------------------------------------------------------------- */

/* Submits keys x partitions x per records named "p<P>-<key>-<seq>", the keys
 * interleaved, in batches; every 7th carries RETRY (flaky retries it once). */
static int submit_ordered_load(int parts, int keys, int per)
{
    char key[16], value[64];
    int retries = 0, total = 0;
    kf_rec *batch[16];
    size_t nb = 0;
    for (int s = 0; s < per; s++)
        for (int k = 0; k < keys; k++)
            for (int p = 0; p < parts; p++) {
                snprintf(key, sizeof key, "key%d", k);
                int retry = total++ % 7 == 3;
                retries += retry;
                snprintf(value, sizeof value, "p%d-key%d-%03d%s", p, k, s, retry ? "-RETRY" : "");
                batch[nb++] = rec(p, key, value);
                if (nb == 16) {
                    kf_dispatcher_submit(R.d, batch, nb);
                    nb = 0;
                }
            }
    if (nb) kf_dispatcher_submit(R.d, batch, nb);
    return retries;
}

START_TEST(test_key_order_with_slow_handler)
{
    rig_start(HANDLER("flaky"),
              "{\"retry_if_contains\":\"RETRY\",\"retry_times\":1,\"sleep_ms\":1}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":4},"
              "\"retry\":{\"max_attempts\":5,\"backoff_ms\":1,\"max_backoff_ms\":5}",
              sink_http(), DLQ_NONE);
    enum { PARTS = 2, KEYS = 6, PER = 25 };
    int retries = submit_ordered_load(PARTS, KEYS, PER);
    ck_assert(DRAINED(30000));
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.retries), (uint64_t)retries);

    /* Each (partition, key)'s outputs reached the sink in offset order, each
     * exactly once. */
    size_t n = server_requests("/out", 200, NULL, 0);
    ck_assert_uint_eq(n, PARTS * KEYS * PER);
    hreq *out = calloc(n, sizeof *out);
    server_requests("/out", 200, out, n);
    int next[PARTS][KEYS] = {{0}};
    for (size_t i = 0; i < n; i++) {
        int p, k, s;
        ck_assert_int_eq(sscanf(out[i].body, "p%d-key%d-%d", &p, &k, &s), 3);
        ck_assert_msg(s == next[p][k], "p%d key%d: got seq %d, expected %d", p, k, s, next[p][k]);
        next[p][k]++;
    }
    free(out);
}
END_TEST

START_TEST(test_partition_order_with_slow_handler)
{
    rig_start(HANDLER("flaky"),
              "{\"retry_if_contains\":\"RETRY\",\"retry_times\":1,\"sleep_ms\":1}",
              "\"ordering\":\"partition\",\"concurrency\":{\"threads\":4},"
              "\"retry\":{\"max_attempts\":5,\"backoff_ms\":1,\"max_backoff_ms\":5}",
              sink_http(), DLQ_NONE);
    enum { PARTS = 3, KEYS = 4, PER = 15 };
    submit_ordered_load(PARTS, KEYS, PER);
    ck_assert(DRAINED(30000));
    assert_all_done();
    /* Per partition, across keys: outputs in offset (submission) order. */
    size_t n = server_requests("/out", 200, NULL, 0);
    ck_assert_uint_eq(n, PARTS * KEYS * PER);
    hreq *out = calloc(n, sizeof *out);
    server_requests("/out", 200, out, n);
    int last[PARTS];
    for (int p = 0; p < PARTS; p++)
        last[p] = -1;
    for (size_t i = 0; i < n; i++) {
        int p, k, s;
        ck_assert_int_eq(sscanf(out[i].body, "p%d-key%d-%d", &p, &k, &s), 3);
        int pos = s * KEYS + k; /* submission order within the partition */
        ck_assert_msg(pos == last[p] + 1, "partition %d: %s after position %d", p, out[i].body,
                      last[p]);
        last[p] = pos;
    }
    free(out);
}
END_TEST

START_TEST(test_keys_run_in_parallel_same_key_never)
{
    rig_start(FIXTURE("probe"), "{}", "\"ordering\":\"key\",\"concurrency\":{\"threads\":4}",
              SINK_NULL, DLQ_NONE);
    kf_rec *recs[] = {rec(0, "a", "GATE a0"), rec(0, "a", "a1"), rec(0, "a", "a2"),
                      rec(0, "b", "GATE b0")};
    kf_dispatcher_submit(R.d, recs, 4);
    /* Both keys are running at once (held at the gate)... */
    ck_assert_int_eq(PR.wait_blocked(2, 5000), 0);
    /* ...while two idle workers may not touch a's later records. */
    ck_assert(!WAIT_UNTIL(PR.calls() > 2, 200));
    ck_assert_int_eq(kf_dispatcher_inflight(R.d), 4);
    PR.open_gate();
    ck_assert(DRAINED(10000));
    assert_all_done();
    ck_assert_int_eq(PR.key_overlaps(), 0);
    ck_assert_int_ge(PR.max_running(), 2);
}
END_TEST

START_TEST(test_key_mode_stress_no_overlap)
{
    rig_start(FIXTURE("probe"), "{}", "\"ordering\":\"key\",\"concurrency\":{\"threads\":4}",
              SINK_NULL, DLQ_NONE);
    char key[16], value[32];
    kf_rec *batch[300];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "k%d", i % 3);
        snprintf(value, sizeof value, "SLOW %d", i);
        batch[i] = rec(i % 2, key, value);
    }
    kf_dispatcher_submit(R.d, batch, 300);
    ck_assert(DRAINED(30000));
    assert_all_done();
    ck_assert_int_eq(PR.key_overlaps(), 0);
    ck_assert_int_ge(PR.max_running(), 2); /* keys did run in parallel */
    /* Per (partition, key), calls came in offset order. */
    int64_t last[2][3] = {{-1, -1, -1}, {-1, -1, -1}};
    for (size_t i = 0; i < PR.calls(); i++) {
        pcall c = probe_get(i);
        int k = c.key[1] - '0';
        ck_assert_int_gt(c.offset, last[c.partition][k]);
        last[c.partition][k] = c.offset;
    }
}
END_TEST

START_TEST(test_partition_mode_no_overlap_within_partition)
{
    rig_start(FIXTURE("probe"), "{}", "\"ordering\":\"partition\",\"concurrency\":{\"threads\":4}",
              SINK_NULL, DLQ_NONE);
    kf_rec *g[] = {rec(0, "a", "GATE p0"), rec(0, "b", "p0 other key"), rec(1, "a", "GATE p1")};
    kf_dispatcher_submit(R.d, g, 3);
    ck_assert_int_eq(PR.wait_blocked(2, 5000), 0); /* partitions run in parallel */
    ck_assert(!WAIT_UNTIL(PR.calls() > 2, 200));   /* p0's other key waits */
    PR.open_gate();
    char value[32];
    kf_rec *batch[200];
    for (int i = 0; i < 200; i++) {
        snprintf(value, sizeof value, "SLOW %d", i);
        batch[i] = rec(i % 2, i % 3 ? "x" : "y", value);
    }
    kf_dispatcher_submit(R.d, batch, 200);
    ck_assert(DRAINED(30000));
    assert_all_done();
    ck_assert_int_eq(PR.partition_overlaps(), 0);
}
END_TEST

START_TEST(test_unordered_same_key_in_parallel)
{
    rig_start(FIXTURE("probe"), "{}", "\"ordering\":\"unordered\",\"concurrency\":{\"threads\":4}",
              SINK_NULL, DLQ_NONE);
    kf_rec *recs[] = {rec(0, "a", "GATE 1"), rec(0, "a", "GATE 2"), rec(0, "a", "GATE 3"),
                      rec(0, "a", "GATE 4")};
    kf_dispatcher_submit(R.d, recs, 4);
    ck_assert_int_eq(PR.wait_blocked(4, 5000), 0);
    PR.open_gate();
    ck_assert(DRAINED(10000));
    assert_all_done();
    ck_assert_int_eq(PR.max_running(), 4);
}
END_TEST

START_TEST(test_unordered_retry_does_not_block_others)
{
    rig_start(FIXTURE("probe"), "{}",
              "\"ordering\":\"unordered\",\"concurrency\":{\"threads\":2},"
              "\"retry\":{\"max_attempts\":10,\"backoff_ms\":200,\"max_backoff_ms\":200}",
              SINK_NULL, DLQ_NONE);
    submit(rec(0, "a", "RETRY3 slow one"));
    for (int i = 0; i < 20; i++)
        submit(rec(0, "a", "quick"));
    /* The 20 quick ones finish while the retried one waits out its backoff. */
    ck_assert(WAIT_UNTIL(M(&R.met.records_done) == 20, 10000));
    ck_assert_int_eq(wm(0), 0);
    ck_assert(DRAINED(10000));
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.retries), 3);
}
END_TEST

/* ---- revoke -------------------------------------------------------------------- */

START_TEST(test_drop_partition_drops_queued)
{
    rig_start(FIXTURE("probe"), "{}", "\"ordering\":\"partition\",\"concurrency\":{\"threads\":2}",
              SINK_NULL, DLQ_NONE);
    submit(rec(0, "a", "GATE first"));
    ck_assert_int_eq(PR.wait_blocked(1, 5000), 0);
    for (int i = 0; i < 9; i++)
        submit(rec(0, "a", "queued"));
    submit(rec(1, "a", "other partition"));
    ck_assert(WAIT_UNTIL(M(&R.met.records_done) == 1, 5000));

    atomic_store(&R.parts[0]->revoked, true);
    ck_assert_uint_eq(kf_dispatcher_drop_partition(R.d, R.parts[0]), 9);
    PR.open_gate();
    ck_assert(DRAINED(10000));
    /* The running record finished and counts; the dropped ones are neither
     * done nor committed, so the next owner reads them again. */
    ck_assert_uint_eq(M(&R.met.records_done), 2);
    ck_assert_uint_eq(PR.calls(), 2);
    ck_assert_int_eq(wm(0), 1);
    ck_assert_uint_eq(kf_tracker_pending(R.parts[0]->tracker), 9);
    ck_assert_int_eq(atomic_load(&R.parts[0]->inflight), 0);
    ck_assert_int_eq(wm(1), 1);
    ck_assert_int_eq(kf_dispatcher_wait_idle(R.d, R.parts[0], 10), 0);
}
END_TEST

START_TEST(test_revoked_retry_is_dropped)
{
    rig_start(FIXTURE("probe"), "{}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":2},"
              "\"retry\":{\"max_attempts\":5,\"backoff_ms\":1,\"max_backoff_ms\":4}",
              SINK_NULL, DLQ_NONE);
    submit(rec(0, "a", "GATE RETRY1"));
    ck_assert_int_eq(PR.wait_blocked(1, 5000), 0);
    ck_assert_int_eq(kf_dispatcher_wait_idle(R.d, R.parts[0], 20), -1); /* still running */
    atomic_store(&R.parts[0]->revoked, true);
    kf_dispatcher_drop_partition(R.d, R.parts[0]);
    PR.open_gate(); /* the handler now says KF_RETRY: the retry must not happen */
    ck_assert(DRAINED(10000));
    ck_assert_uint_eq(M(&R.met.records_done), 0);
    ck_assert_int_eq(wm(0), 0);
    ck_assert(!WAIT_UNTIL(PR.calls() > 1, 100));
}
END_TEST

/* ---- backpressure waits ------------------------------------------------------ */

static atomic_llong below_returned;

static void *wait_below_main(void *arg)
{
    (void)arg;
    kf_dispatcher_wait_below(R.d, 1, 20000);
    atomic_store(&below_returned, kf_now_ms());
    return NULL;
}

START_TEST(test_wait_below_wakes_on_completion)
{
    rig_start(FIXTURE("probe"), "{}", "\"ordering\":\"key\",\"concurrency\":{\"threads\":2}",
              SINK_NULL, DLQ_NONE);
    atomic_store(&below_returned, 0);
    submit(rec(0, "a", "GATE"));
    ck_assert_int_eq(PR.wait_blocked(1, 5000), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, wait_below_main, NULL), 0);
    /* One record in flight: "fewer than 1" is not true yet. */
    ck_assert(!WAIT_UNTIL(atomic_load(&below_returned) != 0, 150));
    ck_assert_int_eq(kf_dispatcher_wait_idle(R.d, NULL, 10), -1);
    int64_t opened = kf_now_ms();
    PR.open_gate();
    /* The completion wakes the waiter at once, long before its timeout. */
    ck_assert(WAIT_UNTIL(atomic_load(&below_returned) != 0, 5000));
    pthread_join(th, NULL);
    ck_assert_int_lt(atomic_load(&below_returned) - opened, 2000);
    ck_assert_int_eq(kf_dispatcher_wait_idle(R.d, NULL, 5000), 0);
    ck_assert_int_eq(kf_dispatcher_wait_idle(R.d, R.parts[0], 0), 0);
}
END_TEST

/* ---- filter -------------------------------------------------------------------- */

START_TEST(test_filtered_records_done_without_handler)
{
    rig_start(FIXTURE("probe"), "{}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":2},"
              "\"filters\":[{\"value\":{\"keep\":[true]}},{\"key\":[{\"prefix\":\"vip-\"}]}]",
              SINK_NULL, DLQ_NONE);
    submit(rec(0, "a", "{\"keep\":true,\"n\":1}"));
    submit(rec(0, "a", "{\"keep\":false,\"n\":2}"));
    submit(rec(0, "vip-1", "not json"));
    submit(rec(0, "b", "not json"));
    submit(rec(1, "b", "{\"n\":5}"));
    submit(rec(1, "b", "{\"keep\":true}"));
    ck_assert(DRAINED(10000));
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.handler_calls), 3);
    ck_assert_uint_eq(PR.calls(), 3);
    ck_assert_uint_eq(M(&R.met.records_filtered), 3);
    ck_assert_uint_eq(M(&R.met.records_done), 6);
    ck_assert_uint_eq(M(&R.met.outputs[0]), 3);
    for (size_t i = 0; i < 3; i++) {
        pcall c = probe_get(i);
        ck_assert_msg(strstr(c.value, "\"keep\":true") || !strcmp(c.key, "vip-1"), "%s ran",
                      c.value);
    }
}
END_TEST

/* ---- sink failures ------------------------------------------------------------- */

START_TEST(test_sink_retry_then_ok)
{
    rig_start(FIXTURE("probe"), "{}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":2},"
              "\"retry\":{\"max_attempts\":5,\"backoff_ms\":1,\"max_backoff_ms\":4}",
              sink_http(), DLQ_NONE);
    submit(rec(0, "a", "x SINKRETRY"));
    ck_assert(DRAINED(10000));
    assert_all_done();
    /* The handler ran again after the sink's 503, still as attempt 1: an
     * outage is not the record's failure. */
    ck_assert_uint_eq(PR.calls(), 2);
    ck_assert_int_eq(probe_get(0).attempt, 1);
    ck_assert_int_eq(probe_get(1).attempt, 1);
    ck_assert_uint_eq(M(&R.met.retries), 1);
    ck_assert_uint_eq(M(&R.met.sink_errors[0]), 1);
    ck_assert_uint_eq(M(&R.met.outputs[0]), 1);
    hreq out[4];
    ck_assert_uint_eq(server_requests("/out", 0, out, 4), 2);
    ck_assert_uint_eq(out[0].status, 503);
    ck_assert_uint_eq(out[1].status, 200);
}
END_TEST

/* A sink that answers "retry" (its endpoint or Redis is down, a 503) is an
 * outage, not the record's failure: at-least-once too, the record waits and
 * runs again without spending an attempt, and does not reach the on-failure
 * topic however small max_attempts is. */
START_TEST(test_sink_outage_spends_no_attempts)
{
    rig_start(FIXTURE("probe"), "{}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":2},"
              "\"retry\":{\"max_attempts\":1,\"backoff_ms\":1,\"max_backoff_ms\":4}",
              sink_http(), DLQ_HTTP);
    submit(rec(0, "a", "x SINKRETRY"));
    ck_assert(DRAINED(10000));
    assert_all_done();
    ck_assert_uint_eq(PR.calls(), 2);
    ck_assert_int_eq(probe_get(0).attempt, 1);
    ck_assert_int_eq(probe_get(1).attempt, 1);
    ck_assert_uint_eq(M(&R.met.records_failed), 0);
    hreq dl[1];
    ck_assert_uint_eq(server_requests("/dlq", 0, dl, 1), 0);
    hreq out[4];
    ck_assert_uint_eq(server_requests("/out", 200, out, 4), 1);
}
END_TEST

/* ---- circuit breakers ---------------------------------------------------- */

/* The HTTP sink on /out with a breaker. */
static const char *sink_http_breaker(int failures, int probe_ms, int max_probe_ms)
{
    static char s[384];
    snprintf(s, sizeof s,
             "[{\"name\":\"out\",\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/out\","
             "\"timeout_ms\":5000,\"breaker\":{\"failures\":%d,\"probe_ms\":%d,"
             "\"max_probe_ms\":%d}}]",
             H.port, failures, probe_ms, max_probe_ms);
    return s;
}

/*
 * An endpoint that is down for every record opens the breaker: from then on
 * the mapping runs one probe record at a time instead of every record
 * retrying at its own backoff (1-4 ms here: without the breaker the 200
 * records run thousands of times in the probes' time). No record spends an
 * attempt; the first probe after the endpoint is back closes the breaker and
 * every record is delivered.
 */
START_TEST(test_breaker_holds_a_down_sink)
{
    rig_start(FIXTURE("probe"), "{}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":4},"
              "\"retry\":{\"max_attempts\":1,\"backoff_ms\":1,\"max_backoff_ms\":4}",
              sink_http_breaker(5, 50, 200), DLQ_HTTP);
    server_down(true);
    char key[16], val[32];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "k%d", i % 40);
        snprintf(val, sizeof val, "v%d", i);
        submit(rec(i % NPARTS, key, val));
    }
    ck_assert(WAIT_UNTIL(M(&R.met.breaker_opens[0]) == 1, 10000));
    ck_assert(kf_dispatcher_held(R.d));
    /* Probes at 50, 100, 200, 200, 200 ms... */
    ck_assert(WAIT_UNTIL(M(&R.met.breaker_probes[0]) >= 6, 10000));
    size_t calls = PR.calls();
    uint64_t probes = M(&R.met.breaker_probes[0]);
    ck_assert_msg(calls <= 200 + probes, "%zu handler calls while down, %llu probes", calls,
                  (unsigned long long)probes);
    ck_assert_int_ne(atomic_load(&R.met.breaker_state[0]), 0);
    ck_assert_uint_eq(M(&R.met.breaker_opens[0]), 1); /* a failed probe does not reopen */

    server_down(false);
    ck_assert(DRAINED(20000));
    assert_all_done();
    ck_assert(!kf_dispatcher_held(R.d));
    ck_assert_int_eq(atomic_load(&R.met.breaker_state[0]), 0);
    ck_assert_uint_eq(M(&R.met.records_failed), 0);
    hreq dl[1];
    ck_assert_uint_eq(server_requests("/dlq", 0, dl, 1), 0);
    ck_assert_uint_eq(server_requests("/out", 200, NULL, 0), 200);
    for (size_t i = 0; i < PR.calls(); i++)
        ck_assert_int_eq(probe_get(i).attempt, 1);
}
END_TEST

/* A probe that never reached the sink (filtered here) says nothing: the
 * next record probes at once, so records that need no sink are not held a
 * probe interval each. The record that opened the breaker is revoked (else,
 * ready first, it would be every probe). */
START_TEST(test_breaker_void_probe_is_due_at_once)
{
    rig_start(FIXTURE("probe"), "{}",
              "\"ordering\":\"unordered\",\"concurrency\":{\"threads\":2},"
              "\"filters\":[{\"value\":[{\"anything-but\":[\"skip\"]}]}],"
              "\"retry\":{\"backoff_ms\":1,\"max_backoff_ms\":4}",
              sink_http_breaker(1, 1000, 1000), DLQ_NONE);
    server_down(true);
    submit(rec(0, "a", "x"));
    ck_assert(WAIT_UNTIL(kf_dispatcher_held(R.d), 10000));
    atomic_store(&R.parts[0]->revoked, true);
    kf_dispatcher_drop_partition(R.d, R.parts[0]);
    ck_assert(WAIT_UNTIL(atomic_load(&R.parts[0]->inflight) == 0, 10000));
    for (int i = 0; i < 20; i++)
        submit(rec(1, "b", "skip"));
    /* The first probe goes after 1 s; without the void rule each of the 20
     * would wait another second. */
    ck_assert(WAIT_UNTIL(M(&R.met.records_filtered) == 20, 6000));
    ck_assert(kf_dispatcher_held(R.d));
    ck_assert_int_eq(wm(1), 20);
    /* A record that reaches the sink once it is back closes the breaker. */
    server_down(false);
    submit(rec(1, "b", "y"));
    ck_assert(DRAINED(10000));
    ck_assert(!kf_dispatcher_held(R.d));
    ck_assert_int_eq(wm(1), 21);
}
END_TEST

/* A 4xx is the record's failure, not the sink's: it goes to the on-failure
 * destination and the breaker stays closed however many there are. */
START_TEST(test_breaker_ignores_permanent_answers)
{
    rig_start(FIXTURE("probe"), "{}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":2},"
              "\"retry\":{\"max_attempts\":3,\"backoff_ms\":1,\"max_backoff_ms\":4}",
              sink_http_breaker(2, 50, 50), DLQ_NULL);
    char key[16];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        submit(rec(0, key, "SINKFAIL"));
    }
    ck_assert(DRAINED(10000));
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.records_failed), 10);
    ck_assert_uint_eq(M(&R.met.breaker_opens[0]), 0);
    ck_assert_uint_eq(M(&R.met.breaker_probes[0]), 0);
}
END_TEST

START_TEST(test_done_only_when_every_sink_acked)
{
    char sinks[256];
    snprintf(sinks, sizeof sinks,
             "[{\"name\":\"a\",\"type\":\"null\"},{\"name\":\"b\",\"type\":\"http\","
             "\"url\":\"http://127.0.0.1:%d/out\"}]",
             H.port);
    rig_start(HANDLER("echo"), "{}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":2},"
              "\"retry\":{\"max_attempts\":5,\"backoff_ms\":1,\"max_backoff_ms\":4}",
              sinks, DLQ_NONE);
    submit(rec(0, "a", "x SINKRETRY"));
    submit(rec(1, "a", "plain"));
    ck_assert(DRAINED(10000));
    assert_all_done();
    /* The null sink took the first attempt at once; the record still waited
     * for the HTTP sink, was retried as a whole (at-least-once: the null sink
     * got it twice) and was done once. */
    ck_assert_uint_eq(M(&R.met.outputs[0]), 3);
    ck_assert_uint_eq(M(&R.met.outputs[1]), 2);
    ck_assert_uint_eq(M(&R.met.sink_errors[0]), 0);
    ck_assert_uint_eq(M(&R.met.sink_errors[1]), 1);
    ck_assert_uint_eq(M(&R.met.records_done), 2);
    ck_assert_uint_eq(M(&R.met.retries), 1);
}
END_TEST

START_TEST(test_sink_fail_goes_to_dlq)
{
    rig_start(HANDLER("echo"), "{}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":2},"
              "\"retry\":{\"max_attempts\":5,\"backoff_ms\":1,\"max_backoff_ms\":4}",
              sink_http(), DLQ_HTTP);
    submit(rec(0, "a", "SINKFAIL"));
    submit(rec(0, "a", "after"));
    ck_assert(DRAINED(10000));
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.records_failed), 1);
    ck_assert_uint_eq(M(&R.met.retries), 0); /* permanent: no retry */
    hreq dl[2];
    ck_assert_uint_eq(server_requests("/dlq", 200, dl, 2), 1);
    ck_assert_str_eq(dl[0].body, "SINKFAIL");
    ck_assert_str_eq(dl[0].source, "in/0/0");
}
END_TEST

START_TEST(test_sink_fail_without_dlq_retries_forever)
{
    rig_start(HANDLER("echo"), "{}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":2},"
              "\"retry\":{\"max_attempts\":2,\"backoff_ms\":1,\"max_backoff_ms\":4}",
              sink_http(), DLQ_NONE);
    submit(rec(0, "a", "SINKFAIL"));
    ck_assert(WAIT_UNTIL(M(&R.met.retries) >= 4, 10000));
    ck_assert_int_eq(kf_dispatcher_inflight(R.d), 1);
    ck_assert_int_eq(wm(0), 0);
    ck_assert_uint_eq(M(&R.met.records_done), 0);
    rig_stop_dispatcher();
}
END_TEST

START_TEST(test_traceparent_carried_to_outputs)
{
    rig_start(HANDLER("echo"), "{}", "\"ordering\":\"key\",\"concurrency\":{\"threads\":1}",
              sink_http(), DLQ_NONE);
    static const char tp[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    kf_header h[] = {{"traceparent", tp, sizeof tp - 1}};
    kf_tracker_add(R.parts[0]->tracker, 0);
    R.next_off[0] = 1;
    submit(kf_rec_new(R.parts[0], 0, kf_wall_ms(), "k", 1, "v", 1, h, 1));
    ck_assert(DRAINED(10000));
    hreq out[2];
    ck_assert_uint_eq(server_requests("/out", 200, out, 2), 1);
    ck_assert_str_eq(out[0].traceparent, tp);
}
END_TEST

/*
 * A sink that answers RETRY for several records of one lane in the same
 * chunk (an HTTP endpoint returning 503, or the whole batch after a
 * transport error): the records go back to the head of their lane in their
 * own order, so the retry writes the key's outputs in order. Put back one
 * at a time, each at the head, they would come back reversed (3, 2, 1).
 */
START_TEST(test_sink_retry_keeps_key_order_all_retried)
{
    rig_start(HANDLER("echo"), "{}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":1},"
              "\"retry\":{\"max_attempts\":5,\"backoff_ms\":1,\"max_backoff_ms\":4}",
              sink_http(), DLQ_NONE);
    kf_rec *recs[] = {rec(0, "a", "1 SINKRETRY"), rec(0, "a", "2 SINKRETRY"),
                      rec(0, "a", "3 SINKRETRY")};
    kf_dispatcher_submit(R.d, recs, 3); /* one chunk: one worker, one lane */
    ck_assert(DRAINED(10000));
    assert_all_done();
    hreq out[3];
    ck_assert_uint_eq(server_requests("/out", 200, out, 3), 3);
    ck_assert_msg(out[0].body[0] == '1' && out[1].body[0] == '2' && out[2].body[0] == '3',
                  "key a's outputs arrived as %c %c %c", out[0].body[0], out[1].body[0],
                  out[2].body[0]);
}
END_TEST

/* A retryable status (503) for one record: the rest of the batch waits for
 * its retry, like after a transport error. Sent on, a later record of the
 * same key would take effect at the endpoint before the one retried. */
START_TEST(test_sink_retry_status_keeps_key_order)
{
    rig_start(HANDLER("echo"), "{}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":1},"
              "\"retry\":{\"max_attempts\":5,\"backoff_ms\":1,\"max_backoff_ms\":4}",
              sink_http(), DLQ_NONE);
    kf_rec *recs[] = {rec(0, "a", "1 SINKRETRY"), rec(0, "a", "2"), rec(0, "a", "3")};
    kf_dispatcher_submit(R.d, recs, 3); /* one chunk: one worker, one lane */
    ck_assert(DRAINED(10000));
    assert_all_done();
    hreq out[3];
    ck_assert_uint_eq(server_requests("/out", 200, out, 3), 3);
    ck_assert_msg(out[0].body[0] == '1' && out[1].body[0] == '2' && out[2].body[0] == '3',
                  "key a's effects arrived as %c %c %c", out[0].body[0], out[1].body[0],
                  out[2].body[0]);
}
END_TEST

/*
 * A sink may ack after flush returns (the Kafka sink acks from its poll
 * thread, which the sink contract allows), so a record can be retried after
 * the worker released its lane and the lane, empty, was freed: the requeue
 * must not touch the freed lane (under ASan a heap-use-after-free; without,
 * memory corruption, then typically a crash or a hang). Here the Kafka sink
 * points at 127.0.0.1:1, where nothing listens, with message.timeout.ms=200,
 * so every delivery fails with a retriable error.
 */
START_TEST(test_async_sink_retry_after_release)
{
    rig_start(HANDLER("echo"), "{}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":1},"
              "\"retry\":{\"max_attempts\":100,\"backoff_ms\":1,\"max_backoff_ms\":4},"
              "\"producer\":{\"message.timeout.ms\":\"200\",\"log_level\":\"0\"}",
              "[{\"name\":\"out\",\"type\":\"kafka\",\"topic\":\"t.out\"}]", DLQ_NONE);
    submit(rec(0, "a", "v"));
    ck_assert(WAIT_UNTIL(M(&R.met.retries) >= 2, 10000));
    /* Let it go: the next failed delivery drops it, and nothing is left
     * outstanding in the sink when it closes. */
    atomic_store(&R.parts[0]->revoked, true);
    ck_assert(DRAINED(10000));
    ck_assert_int_eq(wm(0), 0);
    ck_assert_uint_eq(M(&R.met.records_done), 0);
    rig_stop_dispatcher();
}
END_TEST

/* ---- per-sink acknowledgements ----------------------------------------------- */

/*
 * Each output's ack carries its record and its sink's index in one pointer
 * (completion.c: the index + 1 in the low bits of the record's 64-aligned
 * address). The per-sink counters show whether the index survives the trip:
 * a tag lost, shifted or read as the dead-letter sink moves or drops counts.
 *
 * To give the sinks different counts with a handler that emits to every
 * sink, these tests use the exactly-once replay rule: a sink marked done for
 * an offset (kf_partition_mark_done, as the consumer does at assignment) is
 * skipped for that record. Null sinks are never "marked" sinks, so no record
 * is skipped as a whole.
 */

/* A string of n null sinks named s0..s<n-1>. */
static const char *null_sinks(size_t n)
{
    static char s[2048];
    size_t k = 0;
    k += (size_t)snprintf(s + k, sizeof s - k, "[");
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(s + k, sizeof s - k, "%s{\"name\":\"s%zu\",\"type\":\"null\"}",
                              i ? "," : "", i);
    snprintf(s + k, sizeof s - k, "]");
    ck_assert_uint_lt(k + 1, sizeof s);
    return s;
}

/* Every counter outside sinks [0, nsinks) is zero, and no sink erred. */
static void assert_no_other_sink_counts(size_t nsinks)
{
    for (size_t s = 0; s < KF_METRICS_MAX_SINKS; s++) {
        ck_assert_msg(M(&R.met.sink_errors[s]) == 0, "sink_errors[%zu] = %llu", s,
                      (unsigned long long)M(&R.met.sink_errors[s]));
        if (s >= nsinks)
            ck_assert_msg(M(&R.met.outputs[s]) == 0, "outputs[%zu] = %llu (no such sink)", s,
                          (unsigned long long)M(&R.met.outputs[s]));
    }
}

START_TEST(test_outputs_counted_per_sink)
{
    /* Three sinks, every output to each: each counts every record once. */
    rig_start(HANDLER("echo"), "{}", "\"ordering\":\"unordered\",\"concurrency\":{\"threads\":4}",
              null_sinks(3), DLQ_NONE);
    enum { N = 1000 };
    kf_rec *batch[50];
    for (int i = 0; i < N; i += 50) {
        for (int k = 0; k < 50; k++)
            batch[k] = rec((i + k) % NPARTS, "k", "v");
        kf_dispatcher_submit(R.d, batch, 50);
    }
    ck_assert(DRAINED(20000));
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.records_done), N);
    for (size_t s = 0; s < 3; s++)
        ck_assert_msg(M(&R.met.outputs[s]) == N, "outputs[%zu] = %llu, want %d", s,
                      (unsigned long long)M(&R.met.outputs[s]), N);
    assert_no_other_sink_counts(3);
}
END_TEST

/*
 * n sinks; record i skips sink s when i % (s + 2) == 0, so sink s acks
 * N - ceil(N / (s + 2)) outputs: a different count for every sink.
 * Loop: 3 sinks, 17 (index 16: a tag above 4 bits), 32 (index 31: tag 32,
 * the highest bit the 64-byte alignment leaves).
 */
static const size_t PER_SINK_N[] = {3, 17, 32};

START_TEST(test_outputs_per_sink_distinct_counts)
{
    size_t nsinks = PER_SINK_N[_i];
    R.exactly_once = 1;
    rig_start(HANDLER("echo"), "{}", "\"ordering\":\"key\",\"concurrency\":{\"threads\":4}",
              null_sinks(nsinks), DLQ_NONE);
    enum { N = 2000 };
    char key[16];
    static kf_rec *recs[N];
    /* The marks first: the consumer sets them before any record of the
     * partition is dispatched (workers read them without a lock). */
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%d", i % 29);
        recs[i] = rec(i % NPARTS, key, "v");
        for (size_t s = 0; s < nsinks; s++)
            if (i % (int)(s + 2) == 0)
                ck_assert_int_eq(
                    kf_partition_mark_done(recs[i]->part, recs[i]->view.offset, (int)s), 0);
    }
    for (int i = 0; i < N; i += 64)
        kf_dispatcher_submit(R.d, recs + i, N - i < 64 ? (size_t)(N - i) : 64);
    ck_assert_msg(DRAINED(30000), "still in flight: %lld", (long long)kf_dispatcher_inflight(R.d));
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.records_done), N);
    ck_assert_uint_eq(M(&R.met.records_failed), 0);
    ck_assert_uint_eq(M(&R.met.records_replayed), 0);
    for (size_t s = 0; s < nsinks; s++) {
        uint64_t want = N - (N + s + 1) / (s + 2);
        ck_assert_msg(M(&R.met.outputs[s]) == want, "%zu sinks: outputs[%zu] = %llu, want %llu",
                      nsinks, s, (unsigned long long)M(&R.met.outputs[s]),
                      (unsigned long long)want);
    }
    assert_no_other_sink_counts(nsinks);
}
END_TEST

/* ---- exactly-once: which writes are fresh ---------------------------------------- */

/* A sink that keeps, per offset, how often it was written and whether each
 * write was fresh (kf_sink_msg.eos_fresh), and acks RETRY the first time it
 * sees FRESH_RETRY_AT. Configured with "key": its name, "0" or "1". */
enum { FRESH_N = 40, FRESH_RETRY_AT = 5, FRESH_MARKED = 7 };
static struct {
    pthread_mutex_t mu;
    int writes[2][FRESH_N];
    int fresh[2][FRESH_N]; /* how many of them were fresh */
} FP = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int fresh_open(kf_sink *s, const kf_sink_config *cfg, const kf_sink_env *env, void **self,
                      char *err, size_t errlen)
{
    (void)s, (void)env, (void)err, (void)errlen;
    *self = (void *)(intptr_t)(cfg->key[0] - '0');
    return 0;
}

static void fresh_write(void *self, void *ws, const kf_sink_msg *msg)
{
    (void)ws;
    int k = (int)(intptr_t)self, o = (int)msg->src_offset;
    ck_assert(o >= 0 && o < FRESH_N);
    pthread_mutex_lock(&FP.mu);
    int n = FP.writes[k][o]++;
    FP.fresh[k][o] += msg->eos_fresh;
    pthread_mutex_unlock(&FP.mu);
    msg->ack(msg->ack_opaque,
             k == 0 && o == FRESH_RETRY_AT && n == 0 ? KF_STATUS_RETRY : KF_STATUS_OK,
             "probe: once more");
}

static void fresh_close(void *self)
{
    (void)self;
}

static const kf_cfg_key FRESH_KEYS[] = {
    {.name = "key", .kind = KF_CFG_STRING, .at = offsetof(kf_sink_config, key), .doc = "0 or 1"},
};
static const kf_cfg_table FRESH_CONFIG = {
    .doc = "records whether writes are fresh (a test sink)",
    .keys = FRESH_KEYS,
    .count = KF_CFG_COUNT(FRESH_KEYS),
};
static const kf_sink_ops fresh_ops = {
    .type = "fresh_probe",
    .caps = KF_SINK_CAP_MARKS,
    .config = &FRESH_CONFIG,
    .open = fresh_open,
    .write = fresh_write,
    .close = fresh_close,
};

/*
 * Exactly-once: a record's first attempt is fresh for every sink (the
 * completion script then adds its marks without reading the sink's runs);
 * an attempt after one that wrote (a RETRY ack: a lost reply may have marked
 * it) is not, nor is a record whose offset the assign found marked for any
 * sink (here sink 1 has FRESH_MARKED: it is skipped there, and sink 0's
 * write must let the script look). At-least-once writes are never fresh.
 */
START_TEST(test_eos_fresh_writes)
{
    char err[256];
    ck_assert_int_ge(kf_sink_register(&fresh_ops, err, sizeof err), 0);
    memset(FP.writes, 0, sizeof FP.writes);
    memset(FP.fresh, 0, sizeof FP.fresh);
    R.exactly_once = _i == 0;
    rig_start(HANDLER("echo"), "{}",
              "\"ordering\":\"partition\",\"retry\":{\"max_attempts\":5,\"backoff_ms\":1}",
              "[{\"name\":\"s0\",\"type\":\"fresh_probe\",\"key\":\"0\"},"
              "{\"name\":\"s1\",\"type\":\"fresh_probe\",\"key\":\"1\"}]",
              DLQ_NONE);
    static kf_rec *recs[FRESH_N];
    for (int i = 0; i < FRESH_N; i++) {
        recs[i] = rec(0, "k", "v");
        ck_assert_int_eq(recs[i]->view.offset, i);
    }
    if (R.exactly_once) ck_assert_int_eq(kf_partition_mark_done(R.parts[0], FRESH_MARKED, 1), 0);
    kf_dispatcher_submit(R.d, recs, FRESH_N);
    ck_assert(DRAINED(20000));
    assert_all_done();
    for (int o = 0; o < FRESH_N; o++) {
        int retried = o == FRESH_RETRY_AT, marked = R.exactly_once && o == FRESH_MARKED;
        /* Sink 0: twice for the retried record (its second write is not
         * fresh), else once. Sink 1 skips the marked offset. */
        ck_assert_msg(FP.writes[0][o] == 1 + retried, "offset %d: %d write(s) to s0", o,
                      FP.writes[0][o]);
        ck_assert_msg(FP.writes[1][o] == (marked ? 0 : 1 + retried), "offset %d: %d write(s) to s1",
                      o, FP.writes[1][o]);
        int want = R.exactly_once && !marked ? 1 : 0;
        ck_assert_msg(FP.fresh[0][o] == want, "offset %d: %d fresh write(s) to s0, want %d", o,
                      FP.fresh[0][o], want);
        ck_assert_msg(FP.fresh[1][o] == (marked ? 0 : want), "offset %d: %d fresh write(s) to s1",
                      o, FP.fresh[1][o]);
    }
}
END_TEST

/* ---- records from the dispatcher's buffer pool --------------------------------- */

/* Like rec(), with the buffer from the dispatcher's pool (the test thread is
 * its one taker, as the consumer thread is in the daemon). */
static kf_rec *prec(int pi, const char *key, const void *value, size_t value_len)
{
    kf_partition *p = R.parts[pi];
    int64_t off = R.next_off[pi]++;
    kf_rec *r = kf_rec_new_in(kf_dispatcher_pool(R.d), p, off, kf_wall_ms(), key, strlen(key),
                              value, value_len, NULL, 0);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(kf_tracker_add(p->tracker, off), 0);
    return r;
}

START_TEST(test_pooled_records_end_to_end)
{
    /* Records made from the pool while workers and sink acks free them back
     * into it from their threads: every record done once, every output
     * counted on its sink (ASan: no use after free, no leak). */
    rig_start(HANDLER("echo"), "{}", "\"ordering\":\"unordered\",\"concurrency\":{\"threads\":4}",
              null_sinks(2), DLQ_NONE);
    ck_assert_ptr_nonnull(kf_dispatcher_pool(R.d));
    enum { N = 20000 };
    static char value[6000];
    memset(value, 'v', sizeof value);
    char key[16];
    kf_rec *batch[64];
    size_t nb = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%d", i % 13);
        /* Mostly small; some above the pool's limit (not kept). */
        size_t len = i % 50 == 0 ? KF_REC_POOL_MAX_BYTES + 100 + (size_t)i % 1000 : (size_t)i % 900;
        batch[nb++] = prec(i % NPARTS, key, value, len);
        if (nb == 64 || i == N - 1) {
            kf_dispatcher_submit(R.d, batch, nb);
            nb = 0;
        }
        /* Let the pool see returns while we take: bound what is in flight. */
        if (i % 2000 == 1999) ck_assert(WAIT_UNTIL(kf_dispatcher_inflight(R.d) < 500, 20000));
    }
    ck_assert_msg(DRAINED(30000), "still in flight: %lld", (long long)kf_dispatcher_inflight(R.d));
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.records_done), N);
    ck_assert_uint_eq(M(&R.met.outputs[0]), N);
    ck_assert_uint_eq(M(&R.met.outputs[1]), N);
    assert_no_other_sink_counts(2);
}
END_TEST

START_TEST(test_pooled_records_destroyed_in_flight)
{
    /* Records still retrying when the dispatcher goes: they are freed into
     * the pool before the pool itself is destroyed (ASan: a pool destroyed
     * first is a use after free; a buffer left out of both is a leak). */
    rig_start(FIXTURE("probe"), "{}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":2},"
              "\"retry\":{\"max_attempts\":2,\"backoff_ms\":1,\"max_backoff_ms\":4}",
              SINK_NULL, DLQ_NONE);
    kf_rec *batch[] = {prec(0, "a", "FAIL", 4), prec(0, "a", "behind", 6), prec(1, "b", "fine", 4),
                       prec(1, "b", "FAIL too", 8)};
    kf_dispatcher_submit(R.d, batch, 4);
    ck_assert(WAIT_UNTIL(M(&R.met.retries) >= 4 && M(&R.met.records_done) >= 1, 10000));
    ck_assert_int_eq(kf_dispatcher_inflight(R.d), 3);
    rig_stop_dispatcher(); /* teardown checks the partitions were let go */
    ck_assert_int_eq(wm(0), 0);
    ck_assert_int_eq(wm(1), 1);
}
END_TEST

/* ---- the dispatcher's parts: records, emitter, dead letters ------------------- */

START_TEST(test_record_copies_and_refs)
{
    kf_partition *p = R.parts[2];
    char key[] = "key", value[] = "value", hv[] = "hv";
    kf_header h[] = {{"h1", hv, 2}, {"null", NULL, 0}};
    kf_rec *r = kf_rec_new(p, 42, 1234, key, 3, value, 5, h, 2);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(atomic_load(&p->refs), 2);
    /* The record owns copies: the consumer's buffers may go away. */
    memset(key, 'X', 3);
    memset(value, 'X', 5);
    memset(hv, 'X', 2);
    ck_assert_int_eq(memcmp(r->view.key, "key", 3), 0);
    ck_assert_int_eq(memcmp(r->view.value, "value", 5), 0);
    ck_assert_int_eq(memcmp(r->view.headers[0].value, "hv", 2), 0);
    ck_assert_str_eq(r->view.headers[0].name, "h1");
    ck_assert_ptr_null(r->view.headers[1].value);
    ck_assert_str_eq(r->view.topic, "in");
    ck_assert_int_eq(r->view.partition, 2);
    ck_assert_int_eq(r->view.offset, 42);
    ck_assert_int_eq(r->view.timestamp_ms, 1234);
    ck_assert_int_eq(r->view.attempt, 1);
    ck_assert_uint_eq(r->view.struct_size, sizeof(kf_record));
    ck_assert(r->key_hash == kf_key_hash("key", 3));
    ck_assert(r->key_hash != kf_key_hash("kez", 3));
    kf_rec_free(r);
    ck_assert_int_eq(atomic_load(&p->refs), 1);

    /* Null key and null value stay null; an empty value is not null. */
    r = kf_rec_new(p, 43, -1, NULL, 0, NULL, 0, NULL, 0);
    ck_assert_ptr_null(r->view.key);
    ck_assert_ptr_null(r->view.value);
    ck_assert(r->key_hash == 0);
    kf_rec_free(r);
    r = kf_rec_new(p, 44, -1, "", 0, "", 0, NULL, 0);
    ck_assert_ptr_nonnull(r->view.key);
    ck_assert_ptr_nonnull(r->view.value);
    ck_assert(r->key_hash != 0); /* an empty key is a key, not the null key */
    kf_rec_free(r);
    kf_rec_free(NULL);
}
END_TEST

START_TEST(test_emitter_captures_and_routes)
{
    static const char tp[] = "00-11111111111111111111111111111111-2222222222222222-01";
    kf_header in_h[] = {{"traceparent", tp, sizeof tp - 1}};
    kf_rec *r = kf_rec_new(R.parts[0], 0, 0, "k", 1, "v", 1, in_h, 1);
    const char *names[] = {"out", "log"};
    kf_rec_emitter em;
    kf_rec_emitter_init(&em, r, names, 2);

    char val[] = "hello";
    ck_assert_int_eq(kf_emit(&em.base, NULL, "k", 1, val, 5), 0);
    memset(val, 'X', 5); /* emit copied it */
    ck_assert_int_eq(kf_emit(&em.base, "log", NULL, 0, "second", 6), 0);
    kf_header own[] = {{"traceparent", "00-mine", 7}, {"x", "y", 1}};
    ck_assert_int_eq(kf_emit_headers(&em.base, "out", "k2", 2, NULL, 0, own, 2), 0);
    ck_assert_int_eq(kf_emit(&em.base, "nope", "k", 1, "v", 1), -1);
    ck_assert_int_eq(em.unknown_sink, 1);

    kf_output *o = r->outputs;
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(o->sink, -1); /* every sink */
    ck_assert_int_eq(memcmp(o->value, "hello", 5), 0);
    ck_assert_uint_eq(o->header_count, 1); /* the input's traceparent carried */
    ck_assert_str_eq(o->headers[0].name, "traceparent");
    ck_assert_int_eq(memcmp(o->headers[0].value, tp, sizeof tp - 1), 0);
    o = o->next;
    ck_assert_int_eq(o->sink, 1);
    ck_assert_ptr_null(o->key);
    ck_assert_int_eq(memcmp(o->value, "second", 6), 0);
    o = o->next;
    ck_assert_int_eq(o->sink, 0);
    ck_assert_ptr_null(o->value);
    ck_assert_uint_eq(o->header_count, 2); /* its own traceparent wins, not doubled */
    ck_assert_int_eq(memcmp(o->headers[0].value, "00-mine", 7), 0);
    ck_assert_ptr_null(o->next); /* the refused output was not captured */

    kf_rec_clear_outputs(r);
    ck_assert_ptr_null(r->outputs);
    ck_assert_int_eq(kf_emit(&em.base, NULL, "k", 1, "again", 5), 0);
    ck_assert_ptr_nonnull(r->outputs);
    kf_rec_free(r); /* frees captured outputs too (ASan checks) */
}
END_TEST

static const char *hdr(const kf_dead_letter *dl, const char *name, char *buf, size_t len)
{
    for (size_t i = 0; i < dl->count; i++)
        if (!strcmp(dl->headers[i].name, name)) {
            snprintf(buf, len, "%.*s", (int)dl->headers[i].value_len,
                     (const char *)dl->headers[i].value);
            return buf;
        }
    return NULL;
}

START_TEST(test_dead_letter_headers)
{
    kf_header in_h[] = {{"a", "1", 1}, {"kfleet.error", "an older failure", 16}, {"b", NULL, 0}};
    kf_record r = {.struct_size = sizeof r,
                   .topic = "orders",
                   .partition = 2147483647,
                   .offset = INT64_MAX,
                   .headers = in_h,
                   .header_count = 3};
    kf_dead_letter dl;
    kf_dead_letter_info info = {.why = "handler returned KF_FAIL",
                                .attempts = 5,
                                .handler = "flaky",
                                .mapping = "orders-m",
                                .sinks_done = "cache,hook"};
    r.timestamp_ms = 1796570612206;
    kf_dead_letter_build(&dl, &r, &info);
    char b[64];
    ck_assert_uint_eq(dl.count, 2 + 9); /* a, b, then nine kfleet.* */
    ck_assert_str_eq(dl.headers[0].name, "a");
    ck_assert_str_eq(dl.headers[1].name, "b");
    ck_assert_ptr_null(dl.headers[1].value);
    ck_assert_str_eq(hdr(&dl, "kfleet.error", b, sizeof b), "handler returned KF_FAIL");
    ck_assert_str_eq(hdr(&dl, "kfleet.attempts", b, sizeof b), "5");
    ck_assert_str_eq(hdr(&dl, "kfleet.source.topic", b, sizeof b), "orders");
    ck_assert_str_eq(hdr(&dl, "kfleet.source.partition", b, sizeof b), "2147483647");
    ck_assert_str_eq(hdr(&dl, "kfleet.source.offset", b, sizeof b), "9223372036854775807");
    ck_assert_str_eq(hdr(&dl, "kfleet.handler", b, sizeof b), "flaky");
    ck_assert_str_eq(hdr(&dl, "kfleet.mapping", b, sizeof b), "orders-m");
    ck_assert_str_eq(hdr(&dl, "kfleet.sinks.done", b, sizeof b), "cache,hook");
    ck_assert_str_eq(hdr(&dl, "kfleet.source.timestamp", b, sizeof b), "1796570612206");
    /* What a redrive reads back. */
    kf_dead_letter_source src;
    char err[256];
    ck_assert_int_eq(kf_dead_letter_parse(dl.headers, dl.count, &src, err, sizeof err), 0);
    ck_assert_uint_eq(src.topic.len, 6);
    ck_assert_int_eq(memcmp(src.topic.p, "orders", 6), 0);
    ck_assert_int_eq(src.partition, 2147483647);
    ck_assert_int_eq(src.offset, INT64_MAX);
    ck_assert_int_eq(src.timestamp_ms, 1796570612206);
    ck_assert_int_eq(src.attempts, 5);
    ck_assert(kf_dead_letter_names_have(src.sinks_done, "cache"));
    ck_assert(kf_dead_letter_names_have(src.sinks_done, "hook"));
    ck_assert(!kf_dead_letter_names_have(src.sinks_done, "cach"));
    ck_assert(!kf_dead_letter_names_have(src.sinks_done, "out"));
    ck_assert(!kf_dead_letter_names_have(src.error, "")); /* "" is no name */
    int errors = 0;
    for (size_t i = 0; i < dl.count; i++)
        errors += !strcmp(dl.headers[i].name, "kfleet.error");
    ck_assert_int_eq(errors, 1); /* the record's own kfleet.error is replaced */
    kf_dead_letter_free(&dl);
    ck_assert_ptr_null(dl.headers);

    info = (kf_dead_letter_info){.attempts = 1};
    kf_dead_letter_build(&dl, &r, &info);
    ck_assert_str_eq(hdr(&dl, "kfleet.error", b, sizeof b), "unknown error");
    ck_assert_str_eq(hdr(&dl, "kfleet.handler", b, sizeof b), "");
    ck_assert_str_eq(hdr(&dl, "kfleet.sinks.done", b, sizeof b), "");
    kf_dead_letter_free(&dl);
}
END_TEST

START_TEST(test_dead_letter_parse_refuses)
{
    kf_dead_letter_source src;
    char err[256];
    kf_header none[] = {{"a", "1", 1}};
    ck_assert_int_eq(kf_dead_letter_parse(none, 1, &src, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "kfleet.source.topic"));
    kf_header bad_part[] = {{"kfleet.source.topic", "t", 1},
                            {"kfleet.source.partition", "-1", 2},
                            {"kfleet.source.offset", "7", 1}};
    ck_assert_int_eq(kf_dead_letter_parse(bad_part, 3, &src, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "kfleet.source.partition"));
    kf_header bad_off[] = {{"kfleet.source.topic", "t", 1},
                           {"kfleet.source.partition", "0", 1},
                           {"kfleet.source.offset", "7x", 2}};
    ck_assert_int_eq(kf_dead_letter_parse(bad_off, 3, &src, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "kfleet.source.offset"));
    /* A dead letter from before kfleet.sinks.done and kfleet.attempts: none done. */
    kf_header old[] = {{"kfleet.source.topic", "t", 1},
                       {"kfleet.source.partition", "3", 1},
                       {"kfleet.source.offset", "70", 2}};
    ck_assert_int_eq(kf_dead_letter_parse(old, 3, &src, err, sizeof err), 0);
    ck_assert_int_eq(src.attempts, 0);
    ck_assert_int_eq(src.timestamp_ms, -1);
    ck_assert_ptr_null(src.sinks_done.p);
    ck_assert(!kf_dead_letter_names_have(src.sinks_done, "out"));
}
END_TEST

START_TEST(test_new_without_sinks)
{
    /* A mapping whose handler only has side effects: no sinks at all. */
    char json[512], err[512] = "";
    snprintf(json, sizeof json,
             "{\"kafka\":{\"brokers\":\"127.0.0.1:1\"},\"mappings\":[{\"name\":\"m\","
             "\"topics\":[\"in\"],\"handler\":{\"path\":\"%s\"},\"sinks\":" SINK_NULL
             ",\"concurrency\":{\"threads\":3}}]}",
             HANDLER("echo"));
    ck_assert_msg(kf_config_load_string(json, "test", &R.cfg, err, sizeof err) == 0, "%s", err);
    R.m = &R.cfg->mappings[0];
    R.h = kf_handler_load(HANDLER("echo"), "{}", err, sizeof err);
    ck_assert_ptr_nonnull(R.h);
    kf_dispatcher_env env = {.mapping = R.m, .handler = R.h, .metrics = &R.met};
    kf_dispatcher *d = kf_dispatcher_new(&env, err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    kf_dispatcher_destroy(d);
    kf_dispatcher_destroy(NULL);
}
END_TEST

/* ---- autoscaling (concurrency.threads {min, max}) ------------------------------- */

static int workers_now(void)
{
    return atomic_load(&R.met.worker_threads);
}

/* Submits n slow records (values "v<first>".."v<first+n-1>", 40 keys over the
 * partitions) in batches of 25, then waits for them all, noting the most
 * workers seen meanwhile. */
static int slow_wave(int first, int n)
{
    int peak = workers_now();
    char key[16], value[32];
    for (int i = 0; i < n;) {
        kf_rec *recs[25];
        size_t k = 0;
        for (; k < 25 && i < n; k++, i++) {
            snprintf(key, sizeof key, "k%d", (first + i) % 40);
            snprintf(value, sizeof value, "v%d", first + i);
            recs[k] = rec((first + i) % NPARTS, key, value);
        }
        kf_dispatcher_submit(R.d, recs, k);
        int w = workers_now();
        if (w > peak) peak = w;
    }
    ck_assert_msg(WAIT_UNTIL(({
                                 int w_ = workers_now();
                                 if (w_ > peak) peak = w_;
                                 kf_dispatcher_inflight(R.d) == 0 &&
                                     atomic_load(&R.met.inflight) == 0;
                             }),
                             60000),
                  "still in flight: %lld", (long long)kf_dispatcher_inflight(R.d));
    return peak;
}

/* Every value v0..v<n-1> reached the HTTP sink exactly once, with a 200. */
static void assert_each_output_once(int n)
{
    size_t total = server_requests("/out", 0, NULL, 0);
    ck_assert_uint_eq(total, (size_t)n);
    hreq *got = calloc(total, sizeof *got);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(server_requests("/out", 200, got, total), (size_t)n);
    unsigned char *seen = calloc((size_t)n, 1);
    ck_assert_ptr_nonnull(seen);
    for (size_t i = 0; i < total; i++) {
        int v = -1;
        ck_assert_int_eq(sscanf(got[i].body, "v%d", &v), 1);
        ck_assert_msg(v >= 0 && v < n && !seen[v], "output %s twice or unknown", got[i].body);
        seen[v] = 1;
    }
    free(seen);
    free(got);
}

/* A slow handler with {"min":1,"max":8}: the pool grows above 1 while
 * records wait, every record is done exactly once (through per-worker HTTP
 * sink states opened by the workers added and closed by those retired),
 * the pool returns to min after the load, and grows again on a second
 * wave, reusing the retired workers' slots. */
START_TEST(test_autoscale_grows_and_returns_to_min)
{
    R.retire_ms = 100;
    rig_start(HANDLER("flaky"), "{\"sleep_ms\":20}",
              "\"ordering\":\"key\",\"concurrency\":{\"threads\":{\"min\":1,\"max\":8}}",
              sink_http(), DLQ_NONE);
    ck_assert_int_eq(workers_now(), 1);
    int peak = slow_wave(0, 200);
    ck_assert_msg(peak > 1, "the pool never grew (peak %d)", peak);
    ck_assert_int_le(peak, 8);
    ck_assert_uint_ge(M(&R.met.workers_added), 1);
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.records_done), 200);
    ck_assert_uint_eq(M(&R.met.handler_calls), 200);
    ck_assert_uint_eq(M(&R.met.retries), 0);
    assert_each_output_once(200);

    ck_assert_msg(WAIT_UNTIL(workers_now() == 1, 20000), "still %d workers", workers_now());
    ck_assert_msg(WAIT_UNTIL(M(&R.met.workers_retired) == M(&R.met.workers_added), 20000),
                  "added %llu, retired %llu", (unsigned long long)M(&R.met.workers_added),
                  (unsigned long long)M(&R.met.workers_retired));
    uint64_t added = M(&R.met.workers_added);

    peak = slow_wave(200, 200);
    ck_assert_msg(peak > 1, "the pool never grew again (peak %d)", peak);
    ck_assert_uint_gt(M(&R.met.workers_added), added);
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.records_done), 400);
    ck_assert_uint_eq(M(&R.met.handler_calls), 400);
    assert_each_output_once(400);
    ck_assert_msg(WAIT_UNTIL(workers_now() == 1, 20000), "still %d workers", workers_now());
}
END_TEST

/* A fixed pool (an integer, or min == max) never adds or retires a worker,
 * under load or idle well past an autoscaled pool's idle window. */
START_TEST(test_fixed_pool_never_changes)
{
    static const char *pools[] = {"3", "{\"min\":3,\"max\":3}"};
    char extra[128];
    snprintf(extra, sizeof extra, "\"ordering\":\"key\",\"concurrency\":{\"threads\":%s}",
             pools[_i]);
    R.retire_ms = 50;
    rig_start(HANDLER("flaky"), "{\"sleep_ms\":5}", extra, SINK_NULL, DLQ_NONE);
    ck_assert_int_eq(workers_now(), 3);
    int peak = slow_wave(0, 100);
    ck_assert_int_eq(peak, 3);
    assert_all_done();
    ck_assert_uint_eq(M(&R.met.records_done), 100);
    /* Idle for ten windows: the condition never holds, the gauge is checked
     * at every poll. */
    ck_assert(!WAIT_UNTIL(({
                              ck_assert_int_eq(workers_now(), 3);
                              false;
                          }),
                          500));
    ck_assert_uint_eq(M(&R.met.workers_added), 0);
    ck_assert_uint_eq(M(&R.met.workers_retired), 0);
}
END_TEST

/* Destroying an autoscaled dispatcher while it grows, with slow records in
 * flight, joins every worker and lets go of every record (teardown checks
 * the partitions' counts; ASan the threads' and sinks' memory). */
START_TEST(test_autoscale_destroy_while_growing)
{
    rig_start(HANDLER("flaky"), "{\"sleep_ms\":10}",
              "\"ordering\":\"unordered\",\"concurrency\":{\"threads\":{\"min\":1,\"max\":16}}",
              sink_http(), DLQ_NONE);
    char value[32];
    for (int i = 0; i < 400; i++) {
        snprintf(value, sizeof value, "v%d", i);
        submit(rec(i % NPARTS, NULL, value));
    }
    ck_assert_msg(WAIT_UNTIL(workers_now() > 2, 20000), "the pool never grew");
    rig_stop_dispatcher();
}
END_TEST

static Suite *dispatcher_suite(void)
{
    Suite *s = suite_create("dispatcher");
    TCase *tc = tcase_create("flow");
    tcase_set_timeout(tc, 90);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_echo_everything_done);
    tcase_add_loop_test(tc, test_stress_each_ordering, 0, 3);
    tcase_add_test(tc, test_retry_until_ok);
    tcase_add_test(tc, test_retry_attempt_numbers_and_key_order);
    tcase_add_loop_test(tc, test_retry_waits_for_backoff, 0, 2);
    tcase_add_test(tc, test_fail_without_dlq_retries_forever);
    tcase_add_test(tc, test_fail_goes_to_dlq);
    tcase_add_test(tc, test_retries_exhausted_go_to_dlq);
    tcase_add_test(tc, test_dlq_write_failure_is_retried);
    tcase_add_test(tc, test_too_old_goes_to_dlq_without_handler);
    tcase_add_test(tc, test_batch_handler_partial_failure);
    tcase_add_loop_test(tc, test_batch_bisect_isolates_the_bad_record, 0, 2);
    tcase_add_test(tc, test_crashed_record_goes_to_dlq_unrun);
    tcase_add_test(tc, test_crash_suspects_run_alone);
    tcase_add_test(tc, test_failure_line_names_the_record);
    tcase_add_test(tc, test_filtered_records_done_without_handler);
    tcase_add_test(tc, test_traceparent_carried_to_outputs);
    tcase_add_test(tc, test_new_without_sinks);
    suite_add_tcase(s, tc);

    TCase *to = tcase_create("ordering");
    tcase_set_timeout(to, 90);
    tcase_add_checked_fixture(to, setup, teardown);
    tcase_add_test(to, test_key_order_with_slow_handler);
    tcase_add_test(to, test_partition_order_with_slow_handler);
    tcase_add_test(to, test_keys_run_in_parallel_same_key_never);
    tcase_add_test(to, test_key_mode_stress_no_overlap);
    tcase_add_test(to, test_partition_mode_no_overlap_within_partition);
    tcase_add_test(to, test_unordered_same_key_in_parallel);
    tcase_add_test(to, test_unordered_retry_does_not_block_others);
    suite_add_tcase(s, to);

    TCase *tr = tcase_create("revoke");
    tcase_set_timeout(tr, 60);
    tcase_add_checked_fixture(tr, setup, teardown);
    tcase_add_test(tr, test_drop_partition_drops_queued);
    tcase_add_test(tr, test_revoked_retry_is_dropped);
    tcase_add_test(tr, test_wait_below_wakes_on_completion);
    suite_add_tcase(s, tr);

    TCase *ts = tcase_create("sinks");
    tcase_set_timeout(ts, 60);
    tcase_add_checked_fixture(ts, setup, teardown);
    tcase_add_test(ts, test_sink_retry_then_ok);
    tcase_add_test(ts, test_sink_retry_waits_for_backoff);
    tcase_add_test(ts, test_sink_outage_spends_no_attempts);
    tcase_add_test(ts, test_sink_retry_status_keeps_key_order);
    tcase_add_test(ts, test_done_only_when_every_sink_acked);
    tcase_add_test(ts, test_sink_fail_goes_to_dlq);
    tcase_add_test(ts, test_sink_fail_without_dlq_retries_forever);
    tcase_add_test(ts, test_sink_retry_keeps_key_order_all_retried);
    tcase_add_test(ts, test_async_sink_retry_after_release);
    tcase_add_test(ts, test_outputs_counted_per_sink);
    tcase_add_loop_test(ts, test_outputs_per_sink_distinct_counts, 0, 3);
    tcase_add_loop_test(ts, test_eos_fresh_writes, 0, 2);
    tcase_add_test(ts, test_breaker_holds_a_down_sink);
    tcase_add_test(ts, test_breaker_void_probe_is_due_at_once);
    tcase_add_test(ts, test_breaker_ignores_permanent_answers);
    suite_add_tcase(s, ts);

    TCase *tauto = tcase_create("autoscale");
    tcase_set_timeout(tauto, 120);
    tcase_add_checked_fixture(tauto, setup, teardown);
    tcase_add_test(tauto, test_autoscale_grows_and_returns_to_min);
    tcase_add_loop_test(tauto, test_fixed_pool_never_changes, 0, 2);
    tcase_add_test(tauto, test_autoscale_destroy_while_growing);
    suite_add_tcase(s, tauto);

    TCase *tpool = tcase_create("pool");
    tcase_set_timeout(tpool, 90);
    tcase_add_checked_fixture(tpool, setup, teardown);
    tcase_add_test(tpool, test_pooled_records_end_to_end);
    tcase_add_test(tpool, test_pooled_records_destroyed_in_flight);
    suite_add_tcase(s, tpool);

    TCase *tp = tcase_create("parts");
    tcase_add_checked_fixture(tp, setup, teardown);
    tcase_add_test(tp, test_record_copies_and_refs);
    tcase_add_test(tp, test_emitter_captures_and_routes);
    tcase_add_test(tp, test_dead_letter_headers);
    tcase_add_test(tp, test_dead_letter_parse_refuses);
    tcase_add_test(tp, test_redriven_record_runs_as_its_first_self);
    tcase_add_test(tp, test_passed_over_record_is_done_unrun);
    suite_add_tcase(s, tp);
    return s;
}

int main(void)
{
    kf_sinks_init();
    SRunner *sr = srunner_create(dispatcher_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
