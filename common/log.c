/*
 * JSON-lines logger. Each line is formatted into a stack buffer and written
 * with one write(2) to stderr, which is atomic for lines under PIPE_BUF when
 * stderr is a pipe and, in practice, unbroken for files: no lock needed.
 */
#include "common/log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static atomic_int min_level = KF_LOG_INFO;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void kf_log_set_level(kf_log_level lvl)
{
    atomic_store(&min_level, (int)lvl);
}

int kf_log_parse_level(const char *s, kf_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (kf_log_level)i;
            return 0;
        }
    }
    return -1;
}

/* Appends s to buf as the inside of a JSON string; returns the new length. */
static size_t json_escape(char *buf, size_t len, size_t cap, const char *s)
{
    for (; *s && len + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)c;
        } else if (c == '\n') {
            buf[len++] = '\\';
            buf[len++] = 'n';
        } else if (c < 0x20) {
            len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", c);
        } else {
            buf[len++] = (char)c;
        }
    }
    return len;
}

bool kf_log_enabled(kf_log_level lvl)
{
    return (int)lvl >= atomic_load(&min_level);
}

/* Appends ,"name":"<escaped s>" to line. */
static size_t put_str(char *line, size_t len, size_t cap, const char *name, const char *s)
{
    len += (size_t)snprintf(line + len, cap - len, ",\"%s\":\"", name);
    if (len >= cap) return cap;
    len = json_escape(line, len, cap, s);
    if (len < cap) line[len++] = '"';
    return len;
}

static size_t put_num(char *line, size_t len, size_t cap, const char *name, int64_t v)
{
    len += (size_t)snprintf(line + len, cap - len, ",\"%s\":%" PRId64, name, v);
    return len < cap ? len : cap;
}

/* The record's fields, in a fixed order. */
static size_t put_fields(char *line, size_t len, size_t cap, const kf_log_fields *f)
{
    if (f->mapping) len = put_str(line, len, cap, "mapping", f->mapping);
    if (f->topic) {
        len = put_str(line, len, cap, "topic", f->topic);
        len = put_num(line, len, cap, "partition", f->partition);
        if (f->offset >= 0) len = put_num(line, len, cap, "offset", f->offset);
    }
    if (f->trace_id && f->trace_id[0]) len = put_str(line, len, cap, "trace_id", f->trace_id);
    if (f->source_topic) {
        len = put_str(line, len, cap, "source_topic", f->source_topic);
        len = put_num(line, len, cap, "source_partition", f->source_partition);
        len = put_num(line, len, cap, "source_offset", f->source_offset);
    }
    return len;
}

void kf_logv_rec(kf_log_level lvl, const char *component, const kf_log_fields *f, const char *fmt,
                 va_list ap)
{
    if (!kf_log_enabled(lvl)) return;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);

    /* The fields leave room for the message's end: "\"}\n" always fits. */
    char line[4096];
    const size_t cap = sizeof line - 3;
    size_t len =
        (size_t)snprintf(line, sizeof line,
                         "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\","
                         "\"component\":\"",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, ts.tv_nsec / 1000000, level_names[lvl]);
    len = json_escape(line, len, cap, component);
    line[len++] = '"';
    if (f) len = put_fields(line, len, cap - 16, f);
    len += (size_t)snprintf(line + len, sizeof line - len, ",\"msg\":\"");
    len = json_escape(line, len, cap, msg);
    line[len++] = '"';
    line[len++] = '}';
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void kf_log_rec(kf_log_level lvl, const char *component, const kf_log_fields *f, const char *fmt,
                ...)
{
    va_list ap;
    va_start(ap, fmt);
    kf_logv_rec(lvl, component, f, fmt, ap);
    va_end(ap);
}

void kf_log(kf_log_level lvl, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kf_logv_rec(lvl, component, NULL, fmt, ap);
    va_end(ap);
}

static int looks_secret(const char *name)
{
    static const char *words[] = {"password", "secret", "token", "key", "credential"};
    if (!name) return 0;
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strcasestr(name, words[i])) return 1;
    return 0;
}

void kf_log_mask(const char *name, const char *value, char *out, size_t outlen)
{
    if (!outlen) return;
    if (!value) value = "";
    if (looks_secret(name)) {
        snprintf(out, outlen, "***");
        return;
    }
    /* scheme://user:password@host -> scheme://user:***@host. The userinfo
     * ends at the LAST '@' (as the Redis URL parser reads it: a password may
     * hold an '@'); one in a path is masked with it, which shows too little
     * rather than a secret. */
    const char *scheme = strstr(value, "://");
    const char *at = scheme ? strrchr(scheme + 3, '@') : NULL;
    if (scheme && at) {
        const char *colon = memchr(scheme + 3, ':', (size_t)(at - (scheme + 3)));
        const char *cut = colon ? colon + 1 : scheme + 3;
        snprintf(out, outlen, "%.*s***%s", (int)(cut - value), value, at);
        return;
    }
    snprintf(out, outlen, "%s", value);
}
