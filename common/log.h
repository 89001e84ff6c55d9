/*
 * JSON-lines logging to stderr. One line per call, written with a single
 * write(2) so lines from different threads never interleave.
 * Secrets: kf_log_mask() returns a copy of a URL or property value with its
 * password part replaced by "***"; use it for anything that may hold one.
 */
#ifndef KF_LOG_H
#define KF_LOG_H

#include <stddef.h>

typedef enum kf_log_level { KF_LOG_DEBUG = 0, KF_LOG_INFO, KF_LOG_WARN, KF_LOG_ERROR } kf_log_level;

void kf_log_set_level(kf_log_level lvl);
/* Parses "debug|info|warn|error"; returns -1 when unknown. */
int kf_log_parse_level(const char *s, kf_log_level *out);

/* `component` names the part ("consumer", "dispatcher", "sink.redis"...). */
void kf_log(kf_log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define kf_debug(c, ...) kf_log(KF_LOG_DEBUG, c, __VA_ARGS__)
#define kf_info(c, ...)  kf_log(KF_LOG_INFO, c, __VA_ARGS__)
#define kf_warn(c, ...)  kf_log(KF_LOG_WARN, c, __VA_ARGS__)
#define kf_error(c, ...) kf_log(KF_LOG_ERROR, c, __VA_ARGS__)

/* Masks user:password@ in URLs and whole values of keys that look secret
 * (password, secret, token, key). Writes into out (always NUL-terminated). */
void kf_log_mask(const char *name, const char *value, char *out, size_t outlen);

#endif
