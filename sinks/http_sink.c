/*
 * The HTTP sink: each output is one POST of its value bytes to cfg->url,
 * through one libcurl easy handle per worker (connections are kept alive and
 * reused). write builds the request and buffers it; flush sends the worker's
 * requests one after another, in write order, and acks each from its status:
 *
 *   2xx                                   KF_STATUS_OK
 *   408, 425, 429, 5xx, timeout,          KF_STATUS_RETRY
 *   connection and other transport errors
 *   any other status (3xx, 4xx)           KF_STATUS_FAIL ("http 404 from <url>: <body start>")
 *
 * After a transport error or timeout, the rest of the batch is not sent (the
 * endpoint is down or stuck; each attempt could cost a whole timeout) and is
 * acked KF_STATUS_RETRY. After a retryable status (408, 425, 429, 5xx), the
 * rest of the batch from the same source partition is not sent either and is
 * acked KF_STATUS_RETRY: the retry comes after a backoff, and a later output of
 * the same key (or, in partition order, of the same partition) must not reach
 * the endpoint before it. Requests are sequential so that a key's outputs
 * reach the endpoint in order.
 *
 * Request headers:
 *   Content-Type: application/octet-stream  (unless cfg->headers sets one)
 *   X-Kfleet-Key: <record key, percent-encoded>     (absent for a null key)
 *   X-Kfleet-Source: <topic>/<partition>/<offset>
 *   Idempotency-Key: <group>/<topic>/<partition>/<offset>/<sink>/<seq>
 *     (each part percent-encoded, so '/' separates parts only; stable across
 *      replays, so a receiver that honours it applies each output once)
 *   traceparent, tracestate: copied from the output's headers (W3C Trace Context)
 *   cfg->headers, as given.
 *
 * Exactly-once (env->exactly_once, eos/README.md): the
 * requests are the same (the Idempotency-Key above is the receiver's half of
 * the bargain). The acks wait for the end of the flush: the records whose
 * requests all got a 2xx are marked done for this sink in ONE fenced
 * completion call with marks only (kf_eos_state_complete on the worker's state
 * Redis connection, see eos/marks.h), and their acks come from it: KF_STATUS_OK
 * when marked (or marked already), KF_STATUS_FENCED when a newer owner has the
 * partition, KF_STATUS_RETRY when the state Redis gave no clear answer (the
 * retry resends with the same keys). A record with a request that failed is
 * not marked and keeps the mapping above. A replay after a crash between the
 * 2xx and the mark resends the request with the same Idempotency-Key.
 *
 * Threads: the sink state is read-only after open; a worker state is used by
 * its worker thread only. curl_global_init runs once, under pthread_once.
 */
#include "eos/marks.h"
#include "sinks/http_headers.h"
#include "sinks/sink.h"
#include "common/log.h"
#include "config/validate.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef KF_VERSION
#define KF_VERSION "dev"
#endif

typedef struct http_sink {
    const kf_sink_config *cfg; /* the sink's own config copy; outlives this state */
    char *url_shown;           /* the URL with any password masked */
    char *group;               /* percent-encoded group id */
    char *sink;                /* percent-encoded sink name */
    bool own_content_type;     /* cfg->headers sets Content-Type */
    int timeout_ms;
    /* Exactly-once: where the marks go (copies of the env's); NULL when off. */
    char *state_url, *prefix, *group_raw;
    kf_metrics *metrics; /* the env's: where the marks time their round trips */
} http_sink;

typedef struct http_req {
    kf_ack_fn *ack;
    void *opaque;
    char *body;
    size_t body_len;
    struct curl_slist *headers;
    /* The source partition (a retryable answer holds back the rest of it). */
    char *topic; /* owned copy */
    int32_t partition;
    /* Exactly-once only: the record, and the response's status until the
     * marks are in. */
    bool acked; /* refused (and acked) by write: not sent, keeps its record unmarked */
    int64_t offset, epoch, trim;
    kf_status status;
    char *why; /* owned, for a status that is not OK */
} http_req;

typedef struct http_worker {
    http_sink *hs;
    CURL *h;
    http_req *q;
    size_t n, cap;
    char errbuf[CURL_ERROR_SIZE];
    char reply[160]; /* the start of the response body, for FAIL messages */
    size_t reply_len;
    kf_eos_marks *marks; /* exactly-once: the state connection */
    kf_eos_out *outs;    /* exactly-once: scratch for a flush, cap entries */
} http_worker;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void http_close(void *self)
{
    http_sink *hs = self;
    if (!hs) return;
    free(hs->url_shown);
    free(hs->group);
    free(hs->sink);
    free(hs->state_url);
    free(hs->prefix);
    free(hs->group_raw);
    free(hs);
}

static int http_open(kf_sink *s, const kf_sink_config *cfg, const kf_sink_env *env, void **self,
                     char *err, size_t errlen)
{
    (void)s;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        snprintf(err, errlen, "libcurl init failed: %s", curl_easy_strerror(curl_init_rc));
        return -1;
    }
    if (!cfg->url || !cfg->url[0]) {
        snprintf(err, errlen, "an http sink needs a \"url\"");
        return -1;
    }
    char shown[512];
    kf_log_mask("url", cfg->url, shown, sizeof shown);
    CURLU *u = curl_url();
    char *scheme = NULL;
    int bad = !u || curl_url_set(u, CURLUPART_URL, cfg->url, 0) != CURLUE_OK ||
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
              (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0);
    curl_free(scheme);
    curl_url_cleanup(u);
    if (bad) {
        snprintf(err, errlen, "url %s: expected an http:// or https:// URL", shown);
        return -1;
    }
    bool ct = false;
    for (size_t i = 0; i < cfg->headers.count; i++) {
        const char *n = cfg->headers.names[i], *v = cfg->headers.values[i];
        if (!kf_http_header_name_ok(n)) {
            snprintf(err, errlen, "headers: \"%s\" is not a valid header name", n);
            return -1;
        }
        if (!kf_http_header_value_ok(v, strlen(v))) {
            snprintf(err, errlen, "headers.%s: the value holds control characters", n);
            return -1;
        }
        if (strcasecmp(n, "Content-Type") == 0) ct = true;
    }
    http_sink *hs = calloc(1, sizeof *hs);
    const char *group = env && env->group_id ? env->group_id : "";
    const char *idem = env && env->idempotency_group ? env->idempotency_group : group;
    if (hs) {
        hs->url_shown = strdup(shown);
        hs->group = kf_http_pct_encode(idem, strlen(idem));
        hs->sink = kf_http_pct_encode(cfg->name, strlen(cfg->name));
    }
    if (!hs || !hs->url_shown || !hs->group || !hs->sink) {
        if (hs) free(hs->url_shown), free(hs->group), free(hs->sink);
        free(hs);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    hs->cfg = cfg;
    hs->own_content_type = ct;
    hs->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
    if (env && env->exactly_once) {
        hs->state_url = strdup(env->redis_url ? env->redis_url : "redis://127.0.0.1:6379/0");
        hs->prefix = strdup(env->redis_key_prefix ? env->redis_key_prefix : "kfleet");
        hs->group_raw = strdup(group);
        hs->metrics = env->metrics;
        if (!hs->state_url || !hs->prefix || !hs->group_raw) {
            http_close(hs);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    *self = hs;
    return 0;
}

/* Keeps the start of the response body; discards the rest. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    http_worker *w = arg;
    size_t n = size * nmemb;
    size_t room = sizeof w->reply - 1 - w->reply_len;
    size_t take = n < room ? n : room;
    for (size_t i = 0; i < take; i++) {
        unsigned char c = (unsigned char)data[i];
        w->reply[w->reply_len++] = (c >= 32 && c < 127) ? (char)c : ' ';
    }
    w->reply[w->reply_len] = '\0';
    return n;
}

static int http_worker_open(void *self, int worker_id, void **ws, char *err, size_t errlen)
{
    (void)worker_id;
    http_sink *hs = self;
    http_worker *w = calloc(1, sizeof *w);
    if (!w || !(w->h = curl_easy_init())) {
        free(w);
        snprintf(err, errlen, "cannot create a curl handle");
        return -1;
    }
    w->hs = hs;
    if (hs->state_url) {
        w->marks =
            kf_eos_marks_new(hs->state_url, hs->prefix, hs->group_raw, hs->cfg->name, err, errlen);
        if (!w->marks) {
            curl_easy_cleanup(w->h);
            free(w);
            return -1;
        }
        kf_eos_marks_set_metrics(w->marks, hs->metrics);
    }
    CURL *h = w->h;
    curl_easy_setopt(h, CURLOPT_URL, hs->cfg->url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)hs->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)hs->timeout_ms);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "kfleet/" KF_VERSION);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, w->errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, w);
    *ws = w;
    return 0;
}

static void req_free(http_req *r)
{
    free(r->body);
    curl_slist_free_all(r->headers);
    free(r->topic);
    free(r->why);
}

static void http_write(void *self, void *ws, const kf_sink_msg *msg)
{
    http_sink *hs = self;
    http_worker *w = ws;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 32;
        http_req *q = realloc(w->q, cap * sizeof *q);
        if (!q) goto oom;
        w->q = q;
        if (w->marks) {
            kf_eos_out *o = realloc(w->outs, cap * sizeof *o);
            if (!o) goto oom; /* w->q grew; cap stays: the next call retries */
            w->outs = o;
        }
        w->cap = cap;
    }
    http_req r = {.ack = msg->ack, .opaque = msg->ack_opaque, .body_len = msg->value_len};
    r.body = malloc(msg->value_len ? msg->value_len : 1);
    r.headers =
        kf_http_request_headers(hs->group, hs->sink, &hs->cfg->headers, hs->own_content_type, msg);
    r.topic = strdup(msg->src_topic ? msg->src_topic : "");
    r.partition = msg->src_partition;
    if (w->marks) {
        r.offset = msg->src_offset;
        r.epoch = msg->eos_epoch;
        r.trim = msg->eos_trim;
    }
    if (!r.body || !r.headers || !r.topic) {
        req_free(&r);
        goto oom;
    }
    if (msg->value_len) memcpy(r.body, msg->value, msg->value_len);
    w->q[w->n++] = r;
    return;
oom:
    msg->ack(msg->ack_opaque, KF_STATUS_RETRY, "http sink: out of memory");
    /* Exactly-once: keep the refusal in the batch (best effort), so that the
     * record's other outputs are not marked; a mark would make a replay skip
     * this sink and lose this output. */
    if (w->marks && w->n < w->cap) {
        http_req *q = &w->q[w->n];
        *q = (http_req){.acked = true,
                        .status = KF_STATUS_RETRY,
                        .partition = msg->src_partition,
                        .offset = msg->src_offset,
                        .epoch = msg->eos_epoch,
                        .trim = msg->eos_trim};
        if ((q->topic = strdup(msg->src_topic ? msg->src_topic : ""))) w->n++;
    }
}

static kf_status status_of(long code)
{
    if (code >= 200 && code <= 299) return KF_STATUS_OK;
    if (code == 408 || code == 425 || code == 429 || (code >= 500 && code <= 599))
        return KF_STATUS_RETRY;
    return KF_STATUS_FAIL;
}

/* A request's outcome: acked at once, or (exactly-once) kept until the marks
 * are in. */
static void finish(http_worker *w, http_req *r, kf_status st, const char *why)
{
    if (!w->marks) {
        r->ack(r->opaque, st, st == KF_STATUS_OK ? NULL : why);
        req_free(r);
        return;
    }
    r->status = st;
    if (st != KF_STATUS_OK) r->why = strdup(why); /* NULL: the ack says less */
}

/* Exactly-once: ONE completion marking the records whose requests all got a
 * 2xx, then every ack of the batch. */
static void complete_batch(http_worker *w)
{
    for (size_t i = 0; i < w->n; i++) {
        http_req *r = &w->q[i];
        w->outs[i] = (kf_eos_out){.topic = r->topic,
                                  .partition = r->partition,
                                  .offset = r->offset,
                                  .epoch = r->epoch,
                                  .trim = r->trim,
                                  .status = r->status,
                                  .why = r->why};
    }
    kf_eos_marks_complete(w->marks, w->outs, w->n);
    for (size_t i = 0; i < w->n; i++) {
        http_req *r = &w->q[i];
        const kf_eos_out *o = &w->outs[i];
        if (!r->acked) r->ack(r->opaque, o->status, o->status == KF_STATUS_OK ? NULL : o->why);
        req_free(r);
    }
}

/* The most source partitions a flush holds back one by one; past that, a
 * retryable answer holds back the whole rest of the flush. */
#define HELD_MAX 16

typedef struct held_part {
    char *topic;
    int32_t partition;
} held_part;

static bool is_held(const held_part *held, size_t n, const http_req *r)
{
    for (size_t i = 0; i < n; i++)
        if (held[i].partition == r->partition && !strcmp(held[i].topic, r->topic)) return true;
    return false;
}

static void http_flush(void *self, void *ws)
{
    http_sink *hs = self;
    http_worker *w = ws;
    char down[CURL_ERROR_SIZE + 600] = ""; /* set after a transport error */
    char not_sent[sizeof down + 64];
    held_part held[HELD_MAX]; /* partitions with a retryable answer in this flush */
    size_t nheld = 0;
    char held_why[sizeof down + 64] = "";
    for (size_t i = 0; i < w->n; i++) {
        http_req *r = &w->q[i];
        if (r->acked) continue; /* refused by write */
        if (down[0]) {
            finish(w, r, KF_STATUS_RETRY, not_sent);
            continue;
        }
        if (nheld && is_held(held, nheld, r)) {
            finish(w, r, KF_STATUS_RETRY, held_why);
            continue;
        }
        curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, r->headers);
        curl_easy_setopt(w->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(w->h, CURLOPT_POSTFIELDS, r->body);
        w->errbuf[0] = '\0';
        w->reply_len = 0;
        w->reply[0] = '\0';
        CURLcode rc = curl_easy_perform(w->h);
        if (rc != CURLE_OK) {
            snprintf(down, sizeof down, "http POST to %s failed: %s", hs->url_shown,
                     w->errbuf[0] ? w->errbuf : curl_easy_strerror(rc));
            snprintf(not_sent, sizeof not_sent, "not sent after an earlier failure: %s", down);
            kf_warn("sink.http", "sink %s: %s; %zu request(s) will be retried", hs->cfg->name, down,
                    w->n - i);
            finish(w, r, KF_STATUS_RETRY, down);
        } else {
            long code = 0;
            curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &code);
            kf_status st = status_of(code);
            char why[900] = "";
            if (st != KF_STATUS_OK)
                snprintf(why, sizeof why, "http %ld from %s%s%s", code, hs->url_shown,
                         w->reply_len ? ": " : "", w->reply);
            if (st == KF_STATUS_RETRY) {
                /* The retry comes after a backoff: the rest of this partition
                 * waits for it, so that no later output of a key overtakes it. */
                snprintf(held_why, sizeof held_why,
                         "not sent after a retryable answer for the same partition: %.800s", why);
                char *t = nheld < HELD_MAX ? strdup(r->topic) : NULL;
                if (t) {
                    held[nheld++] = (held_part){.topic = t, .partition = r->partition};
                } else {
                    snprintf(down, sizeof down, "%.800s", why);
                    snprintf(not_sent, sizeof not_sent, "not sent after an earlier failure: %s",
                             down);
                }
            }
            finish(w, r, st, why);
        }
    }
    for (size_t i = 0; i < nheld; i++)
        free(held[i].topic);
    /* The handle must not keep pointers to the freed header list and body. */
    curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(w->h, CURLOPT_POSTFIELDS, NULL);
    if (w->marks) complete_batch(w);
    w->n = 0;
}

static void http_worker_close(void *self, void *ws)
{
    http_worker *w = ws;
    if (!w) return;
    if (w->n > 0) http_flush(self, w); /* every write gets its ack */
    curl_easy_cleanup(w->h);
    kf_eos_marks_destroy(w->marks);
    free(w->outs);
    free(w->q);
    free(w);
}

/* The configured headers go out as they are: refusing here what the sink
 * would refuse at open makes `check` catch it. */
static int read_headers(kf_jpath *jp, const cJSON *s, const kf_cfg_key *k, void *base, void *ctx)
{
    const kf_props *h = KF_CFG_FIELD(base, k, kf_props);
    if (kf_cfg_read_props(jp, s, k, base, ctx) < 0) return -1;
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(s, k->name);
    size_t mark = kf_jpath_push_key(jp, k->name);
    for (size_t i = 0; i < h->count; i++) {
        if (!kf_http_header_name_ok(h->names[i])) {
            kf_jpath_push_key(jp, h->names[i]);
            return kf_jpath_fail(
                jp, "expected an HTTP header name (letters, digits, -_.!#$%%&'*+^`|~)");
        }
        if (!kf_http_header_value_ok(h->values[i], strlen(h->values[i])))
            return kf_jpath_fail_key(jp, obj, h->names[i],
                                     "expected a header value without control characters "
                                     "(TAB is allowed)");
    }
    kf_jpath_pop(jp, mark);
    return 0;
}

static const kf_cfg_props_arg HEADER_PROPS = {.kind = KF_PROPS_STRINGS};

static const kf_cfg_key CONFIG_KEYS[] = {
    {.name = "url",
     .kind = KF_CFG_STRING,
     .flags = KF_CFG_REQUIRED,
     .at = offsetof(kf_sink_config, url),
     .valid = kf_cfg_valid_http_url,
     .expected = KF_CFG_HTTP_URL_EXPECTED,
     .range_doc = "`http://` or `https://` URL",
     .doc = "each output is one POST of its value to this URL"},
    {.name = "timeout_ms",
     .kind = KF_CFG_INT,
     .at = offsetof(kf_sink_config, timeout_ms),
     .min = 1,
     .max = 600000,
     .def = 5000,
     .doc = "per request"},
    {.name = "headers",
     .kind = KF_CFG_CUSTOM,
     .read = read_headers,
     .free = kf_cfg_free_props,
     .arg = &HEADER_PROPS,
     .at = offsetof(kf_sink_config, headers),
     .type_doc = "object",
     .default_doc = "`{}`",
     .range_doc = "header name -> string",
     .doc = "extra request headers"},
};

static const kf_cfg_table CONFIG = {
    .doc = "POSTs each output with an `Idempotency-Key`; with `exactly_once` a record is "
           "marked done in the state Redis after its 2xx",
    .keys = CONFIG_KEYS,
    .count = KF_CFG_COUNT(CONFIG_KEYS),
};

const kf_sink_ops kf_sink_http_ops = {
    .type = "http",
    .caps = KF_SINK_CAP_MARKS,
    .config = &CONFIG,
    .open = http_open,
    .worker_open = http_worker_open,
    .worker_close = http_worker_close,
    .write = http_write,
    .flush = http_flush,
    .close = http_close,
};
