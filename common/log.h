/*
 * JSON-lines logging to stderr. One line per call, written with a single
 * write(2) so lines from different threads never interleave.
 * Secrets: kf_log_mask() returns a copy of a URL or property value with its
 * password part replaced by "***"; use it for anything that may hold one.
 */
#ifndef KF_LOG_H
#define KF_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum kf_log_level { KF_LOG_DEBUG = 0, KF_LOG_INFO, KF_LOG_WARN, KF_LOG_ERROR } kf_log_level;

void kf_log_set_level(kf_log_level lvl);
/* Parses "debug|info|warn|error"; returns -1 when unknown. */
int kf_log_parse_level(const char *s, kf_log_level *out);

/* `component` names the part ("consumer", "dispatcher", "sink.redis"...). */
void kf_log(kf_log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True when a line of `lvl` would be written (to skip building fields). */
bool kf_log_enabled(kf_log_level lvl);

/*
 * A record's identity on a log line about it: kf_log_rec writes each field
 * into the line's JSON object, before "msg", so that a record's lines can
 * be found by offset or trace id without reading messages (and survive a
 * message cut at the line's limit). Strings are borrowed for the call.
 */
typedef struct kf_log_fields {
    const char *mapping; /* "mapping"; NULL: left out */
    const char *topic;   /* "topic", "partition"; NULL: both left out */
    int32_t partition;
    int64_t offset;       /* "offset"; < 0: left out (a line about a partition) */
    const char *trace_id; /* "trace_id", from the record's traceparent; NULL or "": left out */
    /* A record that runs as another (a redriven dead letter,
     * dispatcher/origin.h): the record it was, as "source_topic",
     * "source_partition", "source_offset". NULL: left out. */
    const char *source_topic;
    int32_t source_partition;
    int64_t source_offset;
} kf_log_fields;

void kf_log_rec(kf_log_level lvl, const char *component, const kf_log_fields *f, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));
void kf_logv_rec(kf_log_level lvl, const char *component, const kf_log_fields *f, const char *fmt,
                 va_list ap) __attribute__((format(printf, 4, 0)));

#define kf_debug(c, ...) kf_log(KF_LOG_DEBUG, c, __VA_ARGS__)
#define kf_info(c, ...)  kf_log(KF_LOG_INFO, c, __VA_ARGS__)
#define kf_warn(c, ...)  kf_log(KF_LOG_WARN, c, __VA_ARGS__)
#define kf_error(c, ...) kf_log(KF_LOG_ERROR, c, __VA_ARGS__)

/* Masks user:password@ in URLs and whole values of keys that look secret
 * (password, secret, token, key). Writes into out (always NUL-terminated). */
void kf_log_mask(const char *name, const char *value, char *out, size_t outlen);

#endif
