/* See http_headers.h. */
#include "sinks/http_headers.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest traceparent/tracestate value passed on. */
#define TRACE_VALUE_MAX 1024

char *kf_http_pct_encode(const void *data, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = data;
    char *out = malloc(3 * n + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

bool kf_http_header_name_ok(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (*s <= 32 || *s >= 127 || strchr("\"(),/:;<=>?@[\\]{}", *s)) return false;
    return true;
}

bool kf_http_header_value_ok(const void *v, size_t n)
{
    const unsigned char *p = v;
    for (size_t i = 0; i < n; i++)
        if ((p[i] < 32 && p[i] != '\t') || p[i] == 127) return false;
    return true;
}

/* Appends one "Name: value" header; false when out of memory. */
static bool add_header(struct curl_slist **l, const char *name, const char *value)
{
    char *line;
    /* "Name;" is how curl sends a header with an empty value. */
    int n = value[0] ? asprintf(&line, "%s: %s", name, value) : asprintf(&line, "%s;", name);
    if (n < 0) return false;
    struct curl_slist *nl = curl_slist_append(*l, line);
    free(line);
    if (!nl) return false;
    *l = nl;
    return true;
}

struct curl_slist *kf_http_request_headers(const char *group_enc, const char *sink_enc,
                                           const kf_props *extra, bool own_content_type,
                                           const kf_sink_msg *msg)
{
    struct curl_slist *l = NULL;
    const char *topic;
    int32_t partition;
    int64_t offset;
    kf_sink_msg_id(msg, &topic, &partition, &offset);
    char *etopic = kf_http_pct_encode(topic, strlen(topic));
    char *ekey = msg->key ? kf_http_pct_encode(msg->key, msg->key_len) : NULL;
    /* Whole, however long: a cut Idempotency-Key would be the same for
     * different records. */
    char *src = NULL, *idem = NULL;
    bool ok = etopic && (!msg->key || ekey);
    if (ok && asprintf(&src, "%s/%" PRId32 "/%" PRId64, etopic, partition, offset) < 0)
        src = NULL, ok = false; /* asprintf leaves it undefined */
    if (ok && asprintf(&idem, "%s/%s/%" PRId32 "/%" PRId64 "/%s/%u", group_enc, etopic, partition,
                       offset, sink_enc, msg->seq) < 0)
        idem = NULL, ok = false;
    if (ok)
        ok = add_header(&l, "Expect", "") && /* no 100-continue round trip */
             (own_content_type || add_header(&l, "Content-Type", "application/octet-stream")) &&
             (!ekey || add_header(&l, "X-Kfleet-Key", ekey)) &&
             add_header(&l, "X-Kfleet-Source", src) && add_header(&l, "Idempotency-Key", idem);
    for (size_t i = 0; ok && i < msg->header_count; i++) {
        const kf_header *h = &msg->headers[i];
        if ((strcasecmp(h->name, "traceparent") != 0 && strcasecmp(h->name, "tracestate") != 0) ||
            !h->value || h->value_len == 0 || h->value_len > TRACE_VALUE_MAX ||
            !kf_http_header_value_ok(h->value, h->value_len))
            continue;
        char v[TRACE_VALUE_MAX + 1];
        memcpy(v, h->value, h->value_len);
        v[h->value_len] = '\0';
        ok = add_header(&l, h->name, v);
    }
    for (size_t i = 0; ok && extra && i < extra->count; i++)
        ok = add_header(&l, extra->names[i], extra->values[i]);
    free(etopic);
    free(ekey);
    free(src);
    free(idem);
    if (!ok) {
        curl_slist_free_all(l);
        return NULL;
    }
    return l;
}
