/*
 * Fuzz target: header handling, from the bytes that arrive to the lines that
 * leave. Functions under test:
 *   - kf_rec_new -> kf_pack_size / kf_pack (dispatcher/record.c, packed.c):
 *     a record's Kafka headers copied into the record's one allocation;
 *   - the emitter's emit_headers (dispatcher/emitter.c): a handler's own
 *     headers copied with the output, and the input's W3C traceparent
 *     carried to an output that sets none;
 *   - kf_sink_stdout_format (sinks/stdout_sink.c): headers printed as JSON;
 *   - the HTTP sink's configured `headers` (config.c check_headers, then
 *     http_open's checks) and kf_http_request_headers (sinks/http_headers.c):
 *     key, topic, group, traceparent/tracestate and configured headers turned
 *     into request header lines;
 *   - kf_dead_letter_build (dispatcher/dead_letter.c): the input's headers
 *     plus the kfleet.* ones.
 *
 * Input fields (fuzz_input.h): group id, the sink's `headers` JSON object,
 * topic, key, value, then header name/value pairs of the input record; a
 * field "\x1D" switches to the handler's own headers. Checks:
 *   - copies are exact (names, bytes, null values stay null);
 *   - the output carries the input's traceparent exactly when it sets none;
 *   - the stdout line is one valid JSON object with every header in it;
 *   - a config the loader accepts opens as an HTTP sink (no start-up
 *     surprise), and every request header line is "Name: value" or "Name;"
 *     with a token name and no CR, LF or NUL, and the Idempotency-Key is
 *     whole;
 *   - the dead letter keeps every non-kfleet.* header and adds six.
 */
#include "config/config.h"
#include "dispatcher/dead_letter.h"
#include "dispatcher/emitter.h"
#include "dispatcher/partition.h"
#include "dispatcher/record.h"
#include "fuzz_input.h"
#include "sinks/http_headers.h"
#include "sinks/registry.h"
#include "sinks/sink.h"
#include "sinks/sink_priv.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 12
#define PARTITION   INT32_MAX
#define OFFSET      INT64_MAX
#define SEQ         4294967295u

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz headers: check failed: %s (line %d)\n", #c, __LINE__);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct hlist {
    kf_header h[MAX_HEADERS];
    char *names[MAX_HEADERS];
    size_t n;
} hlist;

static void hlist_free(hlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->names[i]);
        free((void *)l->h[i].value);
    }
}

static bool same_header(const kf_header *a, const kf_header *b)
{
    return strcmp(a->name, b->name) == 0 && (a->value == NULL) == (b->value == NULL) &&
           a->value_len == b->value_len &&
           (a->value_len == 0 || memcmp(a->value, b->value, a->value_len) == 0);
}

/* The configured sink: the loader's view of {"group_id": g, "headers": h}. */
static kf_config *load_sink_config(const char *group, const char *headers_json)
{
    cJSON *root = cJSON_Parse("{\"kafka\":{\"brokers\":\"b:9092\"},\"mappings\":[{\"name\":\"m\","
                              "\"topics\":[\"t\"],\"handler\":{\"path\":\"h.so\"},\"sinks\":[{"
                              "\"name\":\"hook\",\"type\":\"http\",\"url\":\"http://127.0.0.1:1/"
                              "\"}]}]}");
    if (!root) abort();
    cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "mappings"), 0);
    cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItem(m, "sinks"), 0);
    cJSON_AddItemToObject(m, "group_id", cJSON_CreateString(group));
    cJSON *h = cJSON_Parse(headers_json);
    if (h) cJSON_AddItemToObject(s, "headers", h);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) abort();
    kf_config *cfg = NULL;
    char err[1024];
    kf_config_load_string(text, "fuzz.json", &cfg, err, sizeof err);
    free(text);
    return cfg;
}

static bool token_char(char c)
{
    return (c > 32 && c < 127 && !strchr("\"(),/:;<=>?@[\\]{}", c));
}

static void check_http(const kf_config *cfg, const kf_sink_msg *msg)
{
    const kf_mapping_config *m = &cfg->mappings[0];
    kf_sink_env env = {.mapping = m->name, .group_id = m->group_id, .threads = 1};
    char err[512];
    kf_sink *s = kf_sink_open(&m->sinks[0], &env, err, sizeof err);
    if (!s) fprintf(stderr, "fuzz headers: config accepted, sink refused: %s\n", err);
    CHECK(s != NULL);
    kf_sink_close(s);

    char *genc = kf_http_pct_encode(m->group_id, strlen(m->group_id));
    char *tenc = kf_http_pct_encode(msg->src_topic, strlen(msg->src_topic));
    char *idem = NULL;
    if (!genc || !tenc ||
        asprintf(&idem, "Idempotency-Key: %s/%s/%" PRId32 "/%" PRId64 "/hook/%u", genc, tenc,
                 msg->src_partition, msg->src_offset, msg->seq) < 0)
        abort();
    struct curl_slist *l = kf_http_request_headers(genc, "hook", &m->sinks[0].headers, false, msg);
    CHECK(l != NULL);
    bool idem_seen = false;
    for (const struct curl_slist *p = l; p; p = p->next) {
        const char *line = p->data;
        size_t n = 0;
        while (token_char(line[n]))
            n++;
        CHECK(n > 0);
        CHECK(line[n] == ';' ? line[n + 1] == '\0' : line[n] == ':' && line[n + 1] == ' ');
        for (const char *c = line; *c; c++)
            CHECK(*c != '\r' && *c != '\n');
        if (strncmp(line, "Idempotency-Key:", 16) == 0) {
            if (strcmp(line, idem) != 0)
                fprintf(stderr, "fuzz headers: got %s\n  expected %s\n", line, idem);
            CHECK(strcmp(line, idem) == 0);
            idem_seen = true;
        }
    }
    CHECK(idem_seen);
    curl_slist_free_all(l);
    free(idem);
    free(genc);
    free(tenc);
}

static void check_output(const kf_output *o, const hlist *own, const kf_header *carried)
{
    CHECK(o->header_count == own->n + (carried ? 1 : 0));
    for (size_t i = 0; i < own->n; i++)
        CHECK(same_header(&o->headers[i], &own->h[i]));
    if (carried) CHECK(same_header(&o->headers[own->n], carried));
}

static void check_stdout(const kf_sink_msg *msg)
{
    size_t len;
    char *line = kf_sink_stdout_format("hook", msg, &len);
    CHECK(line && len > 0 && line[len - 1] == '\n' && strlen(line) == len);
    cJSON *j = cJSON_Parse(line);
    CHECK(cJSON_IsObject(j));
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "headers");
    CHECK(msg->header_count == (h ? (size_t)cJSON_GetArraySize(h) : 0));
    cJSON_Delete(j);
    free(line);
}

static void check_dead_letter(const kf_record *v)
{
    /* A record's own headers as a dead letter's (what `kfleet redrive` reads
     * from an on-failure topic anyone can write to): any verdict, no crash;
     * a success names a topic. */
    kf_dead_letter_source src;
    char err[256];
    if (kf_dead_letter_parse(v->headers, v->header_count, &src, err, sizeof err) == 0)
        CHECK(src.topic.p && src.topic.len > 0 && src.partition >= 0 && src.offset >= 0);
    else
        CHECK(err[0]);

    kf_dead_letter dl;
    kf_dead_letter_info info = {.why = "handler returned KF_FAIL",
                                .attempts = 5,
                                .handler = "fuzz",
                                .mapping = "m",
                                .sinks_done = "hook"};
    kf_dead_letter_build(&dl, v, &info);
    CHECK(dl.headers);
    size_t kept = 0;
    for (size_t i = 0; i < v->header_count; i++)
        if (strncmp(v->headers[i].name, "kfleet.", 7) != 0)
            CHECK(same_header(&dl.headers[kept++], &v->headers[i]));
    CHECK(dl.count == kept + 9);
    CHECK(strcmp(dl.headers[kept].name, "kfleet.error") == 0);
    /* What kfleet wrote, it reads back (a record always has a topic). */
    int parsed = kf_dead_letter_parse(dl.headers, dl.count, &src, err, sizeof err);
    CHECK(parsed == (v->topic[0] ? 0 : -1));
    if (parsed == 0) {
        CHECK(src.partition == v->partition && src.offset == v->offset && src.attempts == 5);
        CHECK(src.topic.len == strlen(v->topic) && !memcmp(src.topic.p, v->topic, src.topic.len));
        CHECK(kf_dead_letter_names_have(src.sinks_done, "hook"));
    }
    kf_dead_letter_free(&dl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    kf_sinks_init();
    fuzz_in in = fuzz_in_make(data, size);
    char *group = fuzz_strdup(fuzz_next(&in));
    char *headers_json = fuzz_strdup(fuzz_next(&in));
    char *topic = fuzz_strdup(fuzz_next(&in));
    fuzz_field key = fuzz_next(&in), value = fuzz_next(&in);
    hlist rec_h = {.n = 0}, own = {.n = 0}, *cur = &rec_h;
    while (!in.done) {
        fuzz_field n = fuzz_next(&in);
        if (n.data && n.len == 1 && n.data[0] == 0x1D) {
            cur = &own;
            continue;
        }
        fuzz_field v = fuzz_next(&in);
        if (cur->n == MAX_HEADERS) continue;
        cur->names[cur->n] = fuzz_strdup(n);
        cur->h[cur->n] = (kf_header){cur->names[cur->n], fuzz_bytes(v), v.len};
        cur->n++;
    }

    /* The input record, as the consumer builds it. */
    kf_partition *part = kf_partition_new(topic, PARTITION);
    void *k = fuzz_bytes(key), *v = fuzz_bytes(value);
    kf_rec *r = kf_rec_new(part, OFFSET, 0, k, key.len, v, value.len, rec_h.h, rec_h.n);
    CHECK(r && r->view.header_count == rec_h.n);
    for (size_t i = 0; i < rec_h.n; i++)
        CHECK(same_header(&r->view.headers[i], &rec_h.h[i]));
    CHECK((r->view.key == NULL) == (k == NULL) && (r->view.value == NULL) == (v == NULL));

    /* The handler emits the same key and value with headers of its own. */
    const char *sinks[] = {"hook"};
    kf_rec_emitter em;
    kf_rec_emitter_init(&em, r, sinks, 1);
    CHECK(kf_emit_headers(&em.base, "hook", k, key.len, v, value.len, own.h, own.n) == 0);
    const kf_header *carried = NULL;
    for (size_t i = 0; i < r->view.header_count && !carried; i++)
        if (strcmp(r->view.headers[i].name, "traceparent") == 0) carried = &r->view.headers[i];
    for (size_t i = 0; i < own.n; i++)
        if (strcmp(own.h[i].name, "traceparent") == 0) carried = NULL;
    const kf_output *o = r->outputs;
    CHECK(o && o->sink == 0);
    check_output(o, &own, carried);

    kf_sink_msg msg = {.src_topic = r->view.topic,
                       .src_partition = r->view.partition,
                       .src_offset = r->view.offset,
                       .seq = SEQ,
                       .key = o->key,
                       .key_len = o->key_len,
                       .value = o->value,
                       .value_len = o->value_len,
                       .headers = o->headers,
                       .header_count = o->header_count};
    check_stdout(&msg);
    kf_config *cfg = load_sink_config(group, headers_json);
    if (cfg) check_http(cfg, &msg);
    kf_config_destroy(cfg);
    check_dead_letter(&r->view);

    kf_rec_free(r);
    kf_partition_unref(part);
    free(k);
    free(v);
    hlist_free(&rec_h);
    hlist_free(&own);
    free(group);
    free(headers_json);
    free(topic);
    return 0;
}
