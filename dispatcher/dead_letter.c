#include "dispatcher/dead_letter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KF_DL_EXTRA 9

void kf_dead_letter_build(kf_dead_letter *dl, const kf_record *r, const kf_dead_letter_info *info)
{
    memset(dl, 0, sizeof *dl);
    size_t n = r->header_count + KF_DL_EXTRA;
    dl->headers = calloc(n, sizeof *dl->headers);
    dl->buf = malloc(96);
    if (!dl->headers || !dl->buf) {
        free(dl->headers);
        free(dl->buf);
        memset(dl, 0, sizeof *dl);
        return;
    }
    /* Four numbers in one buffer: attempts, partition, offset, timestamp. */
    char *a = dl->buf, *p = a + 12, *o = p + 12, *t = o + 24;
    snprintf(a, 12, "%d", info->attempts);
    snprintf(p, 12, "%d", r->partition);
    snprintf(o, 24, "%lld", (long long)r->offset);
    snprintf(t, 24, "%lld", (long long)r->timestamp_ms);
    size_t k = 0;
    for (size_t i = 0; i < r->header_count; i++) {
        /* An input that is itself a dead letter loses its kfleet.* headers:
         * this failure's replace them. */
        if (strncmp(r->headers[i].name, "kfleet.", 7) == 0) continue;
        dl->headers[k++] = r->headers[i];
    }
    const char *why = info->why ? info->why : "unknown error";
    const char *h = info->handler ? info->handler : "";
    const char *m = info->mapping ? info->mapping : "";
    const char *done = info->sinks_done ? info->sinks_done : "";
    kf_header extra[KF_DL_EXTRA] = {
        {"kfleet.error", why, strlen(why)},
        {"kfleet.attempts", a, strlen(a)},
        {"kfleet.source.topic", r->topic, strlen(r->topic)},
        {"kfleet.source.partition", p, strlen(p)},
        {"kfleet.source.offset", o, strlen(o)},
        {"kfleet.source.timestamp", t, strlen(t)},
        {"kfleet.handler", h, strlen(h)},
        {"kfleet.mapping", m, strlen(m)},
        {"kfleet.sinks.done", done, strlen(done)},
    };
    for (size_t i = 0; i < KF_DL_EXTRA; i++)
        dl->headers[k++] = extra[i];
    dl->count = k;
}

void kf_dead_letter_free(kf_dead_letter *dl)
{
    free(dl->headers);
    free(dl->buf);
    memset(dl, 0, sizeof *dl);
}

/* The last header called `name` (a producer may repeat one; the last wins,
 * as in Kafka's own header lookups). */
static kf_header_text find(const kf_header *h, size_t n, const char *name)
{
    kf_header_text t = {0};
    for (size_t i = 0; i < n; i++)
        if (h[i].name && !strcmp(h[i].name, name)) {
            t.p = h[i].value ? h[i].value : "";
            t.len = h[i].value ? h[i].value_len : 0;
        }
    return t;
}

/* A decimal integer in [lo, hi], the whole text. */
static int number(kf_header_text t, long long lo, long long hi, long long *out)
{
    char buf[32];
    if (!t.p || t.len == 0 || t.len >= sizeof buf) return -1;
    memcpy(buf, t.p, t.len);
    buf[t.len] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int kf_dead_letter_parse(const kf_header *h, size_t n, kf_dead_letter_source *out, char *err,
                         size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->topic = find(h, n, "kfleet.source.topic");
    if (!out->topic.p || out->topic.len == 0) {
        snprintf(err, errlen, "no kfleet.source.topic header: not a kfleet dead letter");
        return -1;
    }
    long long v;
    if (number(find(h, n, "kfleet.source.partition"), 0, INT32_MAX, &v) != 0) {
        snprintf(err, errlen, "kfleet.source.partition is missing or not a partition number");
        return -1;
    }
    out->partition = (int32_t)v;
    if (number(find(h, n, "kfleet.source.offset"), 0, INT64_MAX, &v) != 0) {
        snprintf(err, errlen, "kfleet.source.offset is missing or not an offset");
        return -1;
    }
    out->offset = v;
    kf_header_text a = find(h, n, "kfleet.attempts");
    if (a.p && number(a, 0, 1000000, &v) != 0) {
        snprintf(err, errlen, "kfleet.attempts is not a count of attempts");
        return -1;
    }
    out->attempts = a.p ? (int)v : 0;
    kf_header_text ts = find(h, n, "kfleet.source.timestamp");
    out->timestamp_ms = ts.p && number(ts, -1, INT64_MAX, &v) == 0 ? v : -1;
    out->error = find(h, n, "kfleet.error");
    out->handler = find(h, n, "kfleet.handler");
    out->mapping = find(h, n, "kfleet.mapping");
    out->sinks_done = find(h, n, "kfleet.sinks.done");
    return 0;
}

bool kf_dead_letter_names_have(kf_header_text list, const char *name)
{
    size_t nl = strlen(name);
    const char *p = list.p, *end = list.p ? list.p + list.len : NULL;
    while (p && p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        if ((size_t)(stop - p) == nl && memcmp(p, name, nl) == 0) return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}
