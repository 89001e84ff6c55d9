/*
 * Typed reads from a cJSON tree that know where they are.
 *
 * A kf_jpath carries the JSON path of the value being read (e.g.
 * `mappings[0].batch`) and the caller's error buffer. Every getter reads one
 * key of an object, checks its type and range, and on failure writes exactly
 * one line into the error buffer:
 *
 *   <origin>: <path>: expected <what>, got <the value or its type>
 *
 * and returns -1. The first error wins; callers return -1 at once.
 *
 * Absent keys leave *out untouched (the caller pre-fills defaults) unless the
 * getter is told the key is required. JSON null counts as present and is a
 * type error. Keys are matched case-sensitively.
 *
 * Ownership: getters return pointers into the cJSON tree (valid while the
 * tree lives); nothing here allocates except kf_jpath_expand_env, which
 * replaces strings inside the tree. Not thread-safe per kf_jpath; separate
 * kf_jpath values may be used from separate threads.
 */
#ifndef KF_JSON_PATH_H
#define KF_JSON_PATH_H

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KF_JPATH_MAX 512

typedef struct kf_jpath {
    const char *origin; /* file name or origin, prefixed to every message */
    char *err;
    size_t errlen;
    char path[KF_JPATH_MAX];
    size_t len;
} kf_jpath;

void kf_jpath_init(kf_jpath *jp, const char *origin, char *err, size_t errlen);

/* Appends `.key` (or `["key"]` when the key is not identifier-like) or `[i]`
 * to the path; returns a mark for kf_jpath_pop. */
size_t kf_jpath_push_key(kf_jpath *jp, const char *key);
size_t kf_jpath_push_index(kf_jpath *jp, size_t i);
void kf_jpath_pop(kf_jpath *jp, size_t mark);

/* Writes "<origin>: <path>: <message>" into the error buffer; returns -1. */
int kf_jpath_fail(kf_jpath *jp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes "<origin>: <path>: <message>, got <describe(got)>"; returns -1. */
int kf_jpath_fail_got(kf_jpath *jp, const cJSON *got, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fails at the path of obj's `key` with "<message>, got <its value>"; returns -1. */
int kf_jpath_fail_key(kf_jpath *jp, const cJSON *obj, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The "got" text: strings quoted (truncated to about 40 characters), numbers
 * as written, true/false/null, or "an object" / "an array". */
void kf_jpath_describe(const cJSON *v, char *buf, size_t n);

/* Fails on a key of `obj` not in the NULL-terminated `allowed` list, and on a
 * key that appears twice. `what` is NULL, or words to put after "unknown key"
 * (e.g. "for a kafka sink"). */
int kf_jpath_check_keys(kf_jpath *jp, const cJSON *obj, const char *const *allowed,
                        const char *what);

/* A non-empty string. */
int kf_jpath_string(kf_jpath *jp, const cJSON *obj, const char *key, bool required,
                    const char **out);

/* An integer in min..max (a number with a fraction is refused). */
int kf_jpath_int64(kf_jpath *jp, const cJSON *obj, const char *key, bool required, int64_t min,
                   int64_t max, int64_t *out);
int kf_jpath_int(kf_jpath *jp, const cJSON *obj, const char *key, bool required, int min, int max,
                 int *out);

int kf_jpath_bool(kf_jpath *jp, const cJSON *obj, const char *key, bool *out);

/* One of the NULL-terminated `names`; *out is its index. */
int kf_jpath_enum(kf_jpath *jp, const cJSON *obj, const char *key, const char *const *names,
                  int *out);

/* An object / an array (non-empty when `nonempty`). *out stays NULL when the
 * key is absent and not required. */
int kf_jpath_object(kf_jpath *jp, const cJSON *obj, const char *key, bool required,
                    const cJSON **out);
int kf_jpath_array(kf_jpath *jp, const cJSON *obj, const char *key, bool required, bool nonempty,
                   const cJSON **out);

/* True when v is a number without a fraction that fits in int64_t's exact
 * double range (|v| <= 2^53); stores it in *out. */
bool kf_jpath_is_integer(const cJSON *v, int64_t *out);

/*
 * Expands `${VAR}` from the environment in every string value of the tree
 * (object keys are left alone). `$${` is a literal `${`. An unset variable, a
 * `${` without its `}` or a name that is not [A-Za-z_][A-Za-z0-9_]* is an
 * error naming the path of the string. The path of `jp` is where `root` is.
 */
int kf_jpath_expand_env(kf_jpath *jp, cJSON *root);

#endif /* KF_JSON_PATH_H */
