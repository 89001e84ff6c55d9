/*
 * Typed, path-aware reads from a cJSON tree. See json_path.h for the contract.
 */
#include "config/json_path.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Doubles hold every integer up to 2^53 exactly; beyond it "integer" is a guess. */
#define EXACT_INT_LIMIT 9007199254740992.0

#define GOT_MAX_CHARS 40

void kf_jpath_init(kf_jpath *jp, const char *origin, char *err, size_t errlen)
{
    jp->origin = origin ? origin : "<string>";
    jp->err = err;
    jp->errlen = errlen;
    jp->path[0] = '\0';
    jp->len = 0;
    if (err && errlen) err[0] = '\0';
}

static bool identifier_like(const char *s)
{
    if (!*s || isdigit((unsigned char)*s)) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_') return false;
    return true;
}

/* Appends formatted text; a path too long for the buffer is cut, not overrun. */
static void path_append(kf_jpath *jp, const char *fmt, const char *s, size_t i)
{
    size_t room = sizeof(jp->path) - jp->len;
    int n =
        s ? snprintf(jp->path + jp->len, room, fmt, s) : snprintf(jp->path + jp->len, room, fmt, i);
    if (n < 0) n = 0;
    jp->len += (size_t)n < room ? (size_t)n : room - 1;
}

/* Appends ["key"] with quotes, backslashes and control characters escaped,
 * so a message stays one line whatever the key holds. */
static void append_quoted(kf_jpath *jp, const char *key)
{
    char buf[KF_JPATH_MAX];
    size_t o = 0;
    for (const char *k = key; *k && o + 8 < sizeof(buf); k++) {
        unsigned char ch = (unsigned char)*k;
        if (ch == '"' || ch == '\\')
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\u%04x", ch);
        else
            buf[o++] = (char)ch;
    }
    buf[o] = '\0';
    path_append(jp, "[\"%s\"]", buf, 0);
}

size_t kf_jpath_push_key(kf_jpath *jp, const char *key)
{
    size_t mark = jp->len;
    if (identifier_like(key))
        path_append(jp, jp->len ? ".%s" : "%s", key, 0);
    else
        append_quoted(jp, key);
    return mark;
}

size_t kf_jpath_push_index(kf_jpath *jp, size_t i)
{
    size_t mark = jp->len;
    path_append(jp, "[%zu]", NULL, i);
    return mark;
}

void kf_jpath_pop(kf_jpath *jp, size_t mark)
{
    jp->len = mark;
    jp->path[mark] = '\0';
}

static int vfail(kf_jpath *jp, const char *got, const char *fmt, va_list ap)
{
    if (!jp->err || !jp->errlen) return -1;
    char msg[768];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    snprintf(jp->err, jp->errlen, "%s: %s: %s%s%s", jp->origin, jp->len ? jp->path : "(root)", msg,
             got ? ", got " : "", got ? got : "");
    return -1;
}

int kf_jpath_fail(kf_jpath *jp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(jp, NULL, fmt, ap);
    va_end(ap);
    return -1;
}

int kf_jpath_fail_got(kf_jpath *jp, const cJSON *got, const char *fmt, ...)
{
    char desc[128];
    kf_jpath_describe(got, desc, sizeof(desc));
    va_list ap;
    va_start(ap, fmt);
    vfail(jp, desc, fmt, ap);
    va_end(ap);
    return -1;
}

bool kf_jpath_is_integer(const cJSON *v, int64_t *out)
{
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= -EXACT_INT_LIMIT && d <= EXACT_INT_LIMIT)) return false; /* also NaN */
    int64_t i = (int64_t)d;
    if ((double)i != d) return false;
    if (out) *out = i;
    return true;
}

/* Quotes a string for a message: escapes quotes and control characters and
 * cuts after GOT_MAX_CHARS bytes without splitting a UTF-8 sequence. */
static void quote(const char *s, char *buf, size_t n)
{
    size_t o = 0, i = 0;
    if (n < 8) {
        if (n) buf[0] = '\0';
        return;
    }
    buf[o++] = '"';
    for (; s[i] && i < GOT_MAX_CHARS && o + 6 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (c < 0x20) {
            buf[o++] = '?';
        } else {
            buf[o++] = (char)c;
        }
    }
    if (s[i]) {
        while (o > 1 && ((unsigned char)buf[o - 1] & 0xC0) == 0x80)
            o--;                                                      /* continuation */
        if (o > 1 && ((unsigned char)buf[o - 1] & 0xC0) == 0xC0) o--; /* lead byte */
        buf[o++] = '"';
        if (o + 4 < n) {
            memcpy(buf + o, "...", 3);
            o += 3;
        }
    } else {
        buf[o++] = '"';
    }
    buf[o] = '\0';
}

void kf_jpath_describe(const cJSON *v, char *buf, size_t n)
{
    int64_t i;
    if (!v)
        snprintf(buf, n, "nothing");
    else if (cJSON_IsString(v))
        quote(v->valuestring ? v->valuestring : "", buf, n);
    else if (kf_jpath_is_integer(v, &i))
        snprintf(buf, n, "%lld", (long long)i);
    else if (cJSON_IsNumber(v))
        snprintf(buf, n, "%.15g", v->valuedouble);
    else if (cJSON_IsTrue(v))
        snprintf(buf, n, "true");
    else if (cJSON_IsFalse(v))
        snprintf(buf, n, "false");
    else if (cJSON_IsNull(v))
        snprintf(buf, n, "null");
    else if (cJSON_IsArray(v))
        snprintf(buf, n, "%s", v->child ? "an array" : "an empty array");
    else if (cJSON_IsObject(v))
        snprintf(buf, n, "%s", v->child ? "an object" : "an empty object");
    else
        snprintf(buf, n, "an invalid value");
}

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0) return true;
    return false;
}

static void join(const char *const *list, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; list[i] && o < n; i++) {
        int w = snprintf(buf + o, n - o, "%s%s", i ? ", " : "", list[i]);
        if (w < 0) break;
        o += (size_t)w;
    }
}

int kf_jpath_check_keys(kf_jpath *jp, const cJSON *obj, const char *const *allowed,
                        const char *what)
{
    for (const cJSON *c = obj ? obj->child : NULL; c; c = c->next) {
        size_t mark = kf_jpath_push_key(jp, c->string);
        if (!in_list(c->string, allowed)) {
            char list[400];
            join(allowed, list, sizeof(list));
            return kf_jpath_fail(jp, "unknown key%s%s (expected one of %s)", what ? " " : "",
                                 what ? what : "", list);
        }
        for (const cJSON *p = obj->child; p != c; p = p->next)
            if (strcmp(p->string, c->string) == 0)
                return kf_jpath_fail(jp, "duplicate key (each key may appear once)");
        kf_jpath_pop(jp, mark);
    }
    return 0;
}

/* Finds `key`; fails when it is absent and required. Sets *v to NULL when absent. */
static int lookup(kf_jpath *jp, const cJSON *obj, const char *key, bool required, const cJSON **v)
{
    *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if (*v || !required) return 0;
    size_t mark = kf_jpath_push_key(jp, key);
    kf_jpath_fail(jp, "required key is missing");
    kf_jpath_pop(jp, mark);
    return -1;
}

int kf_jpath_fail_key(kf_jpath *jp, const cJSON *obj, const char *key, const char *fmt, ...)
{
    char desc[128];
    kf_jpath_describe(cJSON_GetObjectItemCaseSensitive(obj, key), desc, sizeof(desc));
    size_t mark = kf_jpath_push_key(jp, key);
    va_list ap;
    va_start(ap, fmt);
    vfail(jp, desc, fmt, ap);
    va_end(ap);
    kf_jpath_pop(jp, mark);
    return -1;
}

/* Fails at the path of `key` with "expected <what>, got <v>". */
static int fail_at(kf_jpath *jp, const char *key, const cJSON *v, const char *expected)
{
    size_t mark = kf_jpath_push_key(jp, key);
    kf_jpath_fail_got(jp, v, "expected %s", expected);
    kf_jpath_pop(jp, mark);
    return -1;
}

int kf_jpath_string(kf_jpath *jp, const cJSON *obj, const char *key, bool required,
                    const char **out)
{
    const cJSON *v;
    if (lookup(jp, obj, key, required, &v) < 0) return -1;
    if (!v) return 0;
    if (!cJSON_IsString(v) || !v->valuestring || !v->valuestring[0])
        return fail_at(jp, key, v, "a non-empty string");
    *out = v->valuestring;
    return 0;
}

int kf_jpath_int64(kf_jpath *jp, const cJSON *obj, const char *key, bool required, int64_t min,
                   int64_t max, int64_t *out)
{
    const cJSON *v;
    int64_t i;
    if (lookup(jp, obj, key, required, &v) < 0) return -1;
    if (!v) return 0;
    if (!kf_jpath_is_integer(v, &i) || i < min || i > max) {
        char expected[96];
        snprintf(expected, sizeof(expected), "an integer %lld..%lld", (long long)min,
                 (long long)max);
        return fail_at(jp, key, v, expected);
    }
    *out = i;
    return 0;
}

int kf_jpath_int(kf_jpath *jp, const cJSON *obj, const char *key, bool required, int min, int max,
                 int *out)
{
    int64_t i = *out;
    if (kf_jpath_int64(jp, obj, key, required, min, max, &i) < 0) return -1;
    *out = (int)i;
    return 0;
}

int kf_jpath_bool(kf_jpath *jp, const cJSON *obj, const char *key, bool *out)
{
    const cJSON *v;
    if (lookup(jp, obj, key, false, &v) < 0) return -1;
    if (!v) return 0;
    if (!cJSON_IsBool(v)) return fail_at(jp, key, v, "true or false");
    *out = cJSON_IsTrue(v);
    return 0;
}

int kf_jpath_enum(kf_jpath *jp, const cJSON *obj, const char *key, const char *const *names,
                  int *out)
{
    const cJSON *v;
    if (lookup(jp, obj, key, false, &v) < 0) return -1;
    if (!v) return 0;
    if (cJSON_IsString(v) && v->valuestring) {
        for (int i = 0; names[i]; i++) {
            if (strcmp(v->valuestring, names[i]) == 0) {
                *out = i;
                return 0;
            }
        }
    }
    char list[300], expected[320];
    join(names, list, sizeof(list));
    snprintf(expected, sizeof(expected), "one of %s", list);
    return fail_at(jp, key, v, expected);
}

int kf_jpath_object(kf_jpath *jp, const cJSON *obj, const char *key, bool required,
                    const cJSON **out)
{
    const cJSON *v;
    if (lookup(jp, obj, key, required, &v) < 0) return -1;
    *out = NULL;
    if (!v) return 0;
    if (!cJSON_IsObject(v)) return fail_at(jp, key, v, "an object");
    *out = v;
    return 0;
}

int kf_jpath_array(kf_jpath *jp, const cJSON *obj, const char *key, bool required, bool nonempty,
                   const cJSON **out)
{
    const cJSON *v;
    if (lookup(jp, obj, key, required, &v) < 0) return -1;
    *out = NULL;
    if (!v) return 0;
    if (!cJSON_IsArray(v) || (nonempty && !v->child))
        return fail_at(jp, key, v, nonempty ? "a non-empty array" : "an array");
    *out = v;
    return 0;
}

/* ---- ${VAR} expansion ---- */

typedef struct strbuf {
    char *s;
    size_t len, cap;
} strbuf;

static int sb_add(strbuf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) return -1;
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

static bool valid_var_name(const char *p, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)p[0]) || p[0] == '_')) return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)p[i]) || p[i] == '_')) return false;
    return true;
}

/* Expands one string into b; fails at the current path. */
static int expand_string(kf_jpath *jp, const char *s, strbuf *b)
{
    const char *p = s;
    while (*p) {
        const char *d = strchr(p, '$');
        if (!d) return sb_add(b, p, strlen(p)) < 0 ? kf_jpath_fail(jp, "out of memory") : 0;
        if (sb_add(b, p, (size_t)(d - p)) < 0) return kf_jpath_fail(jp, "out of memory");
        if (d[1] == '$' && d[2] == '{') { /* $${ is a literal ${ */
            if (sb_add(b, "${", 2) < 0) return kf_jpath_fail(jp, "out of memory");
            p = d + 3;
            continue;
        }
        if (d[1] != '{') { /* a lone $ is itself */
            if (sb_add(b, "$", 1) < 0) return kf_jpath_fail(jp, "out of memory");
            p = d + 1;
            continue;
        }
        const char *name = d + 2, *end = strchr(name, '}');
        if (!end)
            return kf_jpath_fail(jp, "expected \"}\" to close \"${\" (write \"$${\" for a "
                                     "literal \"${\")");
        size_t n = (size_t)(end - name);
        char var[256];
        if (!valid_var_name(name, n) || n >= sizeof(var)) {
            char shown[GOT_MAX_CHARS + 1];
            size_t k = 0;
            for (; k < n && k < GOT_MAX_CHARS; k++)
                shown[k] = (unsigned char)name[k] < 0x20 ? '?' : name[k];
            shown[k] = '\0';
            return kf_jpath_fail(jp,
                                 "expected a variable name [A-Za-z_][A-Za-z0-9_]* inside "
                                 "\"${...}\", got \"%s\"",
                                 shown);
        }
        memcpy(var, name, n);
        var[n] = '\0';
        const char *val = getenv(var);
        if (!val) return kf_jpath_fail(jp, "environment variable %s is not set", var);
        if (sb_add(b, val, strlen(val)) < 0) return kf_jpath_fail(jp, "out of memory");
        p = end + 1;
    }
    return 0;
}

static int expand_node(kf_jpath *jp, cJSON *v)
{
    if (cJSON_IsString(v) && v->valuestring && strchr(v->valuestring, '$')) {
        strbuf b = {0};
        if (expand_string(jp, v->valuestring, &b) < 0) {
            free(b.s);
            return -1;
        }
        const char *ok = cJSON_SetValuestring(v, b.s ? b.s : "");
        free(b.s);
        if (!ok) return kf_jpath_fail(jp, "out of memory");
        return 0;
    }
    size_t i = 0;
    for (cJSON *c = v->child; c; c = c->next, i++) {
        size_t mark =
            cJSON_IsObject(v) ? kf_jpath_push_key(jp, c->string) : kf_jpath_push_index(jp, i);
        if (expand_node(jp, c) < 0) return -1;
        kf_jpath_pop(jp, mark);
    }
    return 0;
}

int kf_jpath_expand_env(kf_jpath *jp, cJSON *root)
{
    return root ? expand_node(jp, root) : 0;
}
