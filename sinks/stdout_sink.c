/*
 * The stdout sink: one JSON object per line,
 *
 *   {"sink":"log","topic":"orders","partition":3,"offset":42,"key":"k1","value":"v",
 *    "headers":{"traceparent":"00-..."}}
 *
 * "key" and "value" are null for a null key or value; "headers" appears only
 * when the message has headers (a null header value prints as null; a name
 * that occurs twice occurs twice in the object, in order).
 *
 * Escaping: bytes are printed as JSON strings. Valid UTF-8 passes through
 * unchanged; '"', '\\' and control characters are escaped (\n, \t, ... or
 * \u00XX); every byte that is not part of a valid UTF-8 sequence (overlong
 * forms, surrogates and code points above U+10FFFF are invalid) is printed as
 * \u00XX, i.e. as the Latin-1 character of the same number. So a binary value
 * still gives one valid JSON line, but a reader cannot tell the byte 0xE9 from
 * the character U+00E9: the stdout sink is for eyes and tests, not for
 * round-tripping binary data.
 *
 * Each line is written with one fwrite under the sink's mutex, so lines from
 * different workers never interleave. Messages are acknowledged OK as soon as
 * they are handed to stdio; flush fflush()es stdout.
 */
#include "sinks/sink.h"
#include "sinks/sink_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct stdout_sink {
    const char *name; /* the sink's config copy outlives this state */
    pthread_mutex_t lock;
} stdout_sink;

/* Length of the valid UTF-8 sequence at p[0..n), or 0 when p[0] does not
 * start one. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0; /* overlong */
        if (c == 0xED) hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90; /* overlong */
        if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return len;
}

/* Writes the JSON string for bytes s[0..n) at out; returns the end. Needs
 * at most 2 + 6n bytes of room. */
static char *put_string(char *out, const void *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = s;
    *out++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t len = utf8_seq(p + i, n - i);
        if (len > 1) {
            memcpy(out, p + i, len);
            out += len;
            i += len;
            continue;
        }
        i++;
        const char *esc = NULL;
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        }
        if (esc) {
            *out++ = esc[0];
            *out++ = esc[1];
        } else if (c < 0x20 || len == 0) {
            memcpy(out, "\\u00", 4);
            out[4] = hex[c >> 4];
            out[5] = hex[c & 15];
            out += 6;
        } else {
            *out++ = (char)c;
        }
    }
    *out++ = '"';
    return out;
}

static char *put_string_or_null(char *out, const void *s, size_t n)
{
    if (!s) {
        memcpy(out, "null", 4);
        return out + 4;
    }
    return put_string(out, s, n);
}

static char *put_raw(char *out, const char *s)
{
    size_t n = strlen(s);
    memcpy(out, s, n);
    return out + n;
}

char *kf_sink_stdout_format(const char *sink_name, const kf_sink_msg *msg, size_t *len)
{
    const char *topic;
    int32_t partition;
    int64_t offset;
    kf_sink_msg_id(msg, &topic, &partition, &offset);
    /* Worst case: every byte of every string escaped to 6 characters. */
    size_t cap = 160 + 6 * (strlen(sink_name) + strlen(topic) + msg->key_len + msg->value_len);
    for (size_t i = 0; i < msg->header_count; i++)
        cap += 16 + 6 * (strlen(msg->headers[i].name) + msg->headers[i].value_len);
    char *buf = malloc(cap);
    if (!buf) return NULL;

    char num[64];
    char *o = put_raw(buf, "{\"sink\":");
    o = put_string(o, sink_name, strlen(sink_name));
    o = put_raw(o, ",\"topic\":");
    o = put_string(o, topic, strlen(topic));
    snprintf(num, sizeof num,
             ",\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"key\":", partition, offset);
    o = put_raw(o, num);
    o = put_string_or_null(o, msg->key, msg->key_len);
    o = put_raw(o, ",\"value\":");
    o = put_string_or_null(o, msg->value, msg->value_len);
    if (msg->header_count > 0) {
        o = put_raw(o, ",\"headers\":{");
        for (size_t i = 0; i < msg->header_count; i++) {
            const kf_header *h = &msg->headers[i];
            if (i > 0) *o++ = ',';
            o = put_string(o, h->name, strlen(h->name));
            *o++ = ':';
            o = put_string_or_null(o, h->value, h->value_len);
        }
        *o++ = '}';
    }
    *o++ = '}';
    *o++ = '\n';
    *o = '\0';
    *len = (size_t)(o - buf);
    return buf;
}

static int stdout_open(kf_sink *s, const kf_sink_config *cfg, const kf_sink_env *env, void **self,
                       char *err, size_t errlen)
{
    (void)s, (void)env;
    stdout_sink *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st->name = cfg->name;
    pthread_mutex_init(&st->lock, NULL);
    *self = st;
    return 0;
}

static void stdout_write(void *self, void *ws, const kf_sink_msg *msg)
{
    (void)ws;
    stdout_sink *st = self;
    size_t len;
    char *line = kf_sink_stdout_format(st->name, msg, &len);
    if (!line) {
        msg->ack(msg->ack_opaque, KF_STATUS_RETRY, "stdout sink: out of memory");
        return;
    }
    pthread_mutex_lock(&st->lock);
    size_t n = fwrite(line, 1, len, stdout);
    int e = errno;
    pthread_mutex_unlock(&st->lock);
    free(line);
    if (n != len) {
        char why[160];
        snprintf(why, sizeof why, "stdout sink: write failed: %s", strerror(e));
        msg->ack(msg->ack_opaque, KF_STATUS_RETRY, why);
        return;
    }
    msg->ack(msg->ack_opaque, KF_STATUS_OK, NULL);
}

static void stdout_flush(void *self, void *ws)
{
    (void)ws;
    stdout_sink *st = self;
    pthread_mutex_lock(&st->lock);
    fflush(stdout);
    pthread_mutex_unlock(&st->lock);
}

static void stdout_close(void *self)
{
    stdout_sink *st = self;
    if (!st) return;
    stdout_flush(st, NULL);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

static const kf_cfg_table CONFIG = {
    .doc = "prints each output as one JSON line on stdout (at-least-once)",
};

const kf_sink_ops kf_sink_stdout_ops = {
    .type = "stdout",
    .config = &CONFIG,
    .open = stdout_open,
    .write = stdout_write,
    .flush = stdout_flush,
    .close = stdout_close,
};
