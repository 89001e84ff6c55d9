/*
 * Filter criteria. Patterns are parsed once into cJSON trees and validated;
 * matching walks the pattern against the record (its value parsed as JSON
 * only when a pattern looks into it). cJSON trees are only read after
 * kf_filter_new, so one filter serves every worker thread.
 */
#include "dispatcher/filter.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

struct kf_filter {
    cJSON *patterns; /* array of objects */
};

/* ---------------------------------------------------------------- validation */

static int bad(char *err, size_t errlen, const char *where, const char *path, const char *what)
{
    snprintf(err, errlen, "%s%s: %s", where, path, what);
    return -1;
}

static int valid_numeric(const cJSON *a)
{
    int n = cJSON_GetArraySize(a);
    if (n != 2 && n != 4) return 0;
    for (int i = 0; i < n; i += 2) {
        const cJSON *op = cJSON_GetArrayItem(a, i), *v = cJSON_GetArrayItem(a, i + 1);
        /* A bound beyond a double's range parses as infinite: no bound. */
        if (!cJSON_IsString(op) || !cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return 0;
        const char *s = op->valuestring;
        if (strcmp(s, "=") && strcmp(s, "<") && strcmp(s, "<=") && strcmp(s, ">") &&
            strcmp(s, ">="))
            return 0;
    }
    return 1;
}

/* A leaf is an array of alternatives. */
static int check_leaf(const cJSON *leaf, const char *where, const char *path, char *err,
                      size_t errlen)
{
    if (!cJSON_IsArray(leaf) || cJSON_GetArraySize(leaf) == 0)
        return bad(err, errlen, where, path, "expected a non-empty array of alternatives");
    const cJSON *alt;
    cJSON_ArrayForEach(alt, leaf)
    {
        if (!cJSON_IsObject(alt)) continue; /* literals: string, number, bool, null */
        const cJSON *op = alt->child;
        if (!op || op->next)
            return bad(err, errlen, where, path, "expected one operator per object");
        if ((!strcmp(op->string, "prefix") || !strcmp(op->string, "suffix")) && cJSON_IsString(op))
            continue;
        if (!strcmp(op->string, "exists") && cJSON_IsBool(op)) continue;
        if (!strcmp(op->string, "anything-but") &&
            (cJSON_IsArray(op) || cJSON_IsString(op) || cJSON_IsNumber(op)))
            continue;
        if (!strcmp(op->string, "numeric") && cJSON_IsArray(op) && valid_numeric(op)) continue;
        return bad(err, errlen, where, path,
                   "expected prefix, suffix, exists, anything-but or numeric with a value of "
                   "the right type");
    }
    return 0;
}

/* An object pattern: each member is an object (nested) or a leaf. */
static int check_object(const cJSON *obj, const char *where, char *path, size_t plen, char *err,
                        size_t errlen)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, obj)
    {
        size_t len = strlen(path);
        snprintf(path + len, plen - len, ".%s", m->string);
        int rc = cJSON_IsObject(m) ? check_object(m, where, path, plen, err, errlen)
                                   : check_leaf(m, where, path, err, errlen);
        path[len] = '\0';
        if (rc) return rc;
    }
    return 0;
}

/* Header values are strings: each member is a leaf, never a nested object. */
static int check_headers(const cJSON *obj, const char *where, char *path, size_t plen, char *err,
                         size_t errlen)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, obj)
    {
        size_t len = strlen(path);
        snprintf(path + len, plen - len, ".%s", m->string);
        int rc = cJSON_IsObject(m)
                     ? bad(err, errlen, where, path,
                           "expected an array of alternatives (header values are strings)")
                     : check_leaf(m, where, path, err, errlen);
        path[len] = '\0';
        if (rc) return rc;
    }
    return 0;
}

kf_filter *kf_filter_new(const char *filters_json, const char *where, char *err, size_t errlen)
{
    cJSON *root = cJSON_Parse(filters_json);
    if (!cJSON_IsArray(root) || cJSON_GetArraySize(root) == 0) {
        /* An empty list would pass nothing: every record committed unhandled. */
        bad(err, errlen, where, "", "expected a non-empty array of patterns");
        goto fail;
    }
    char path[512];
    int i = 0;
    const cJSON *pat;
    cJSON_ArrayForEach(pat, root)
    {
        snprintf(path, sizeof path, "[%d]", i++);
        if (!cJSON_IsObject(pat)) {
            bad(err, errlen, where, path, "expected an object with key, value or headers");
            goto fail;
        }
        const cJSON *m;
        cJSON_ArrayForEach(m, pat)
        {
            size_t len = strlen(path);
            snprintf(path + len, sizeof path - len, ".%s", m->string);
            int rc;
            if (!strcmp(m->string, "headers")) {
                rc = cJSON_IsObject(m) ? check_headers(m, where, path, sizeof path, err, errlen)
                                       : bad(err, errlen, where, path, "expected an object");
            } else if (!strcmp(m->string, "key") || !strcmp(m->string, "value")) {
                rc = cJSON_IsObject(m) ? check_object(m, where, path, sizeof path, err, errlen)
                                       : check_leaf(m, where, path, err, errlen);
            } else {
                rc = bad(err, errlen, where, path,
                         "unknown key (expected one of key, value, headers)");
            }
            path[len] = '\0';
            if (rc) goto fail;
        }
    }
    kf_filter *f = malloc(sizeof *f);
    if (!f) goto fail;
    f->patterns = root;
    return f;
fail:
    cJSON_Delete(root);
    return NULL;
}

void kf_filter_destroy(kf_filter *f)
{
    if (!f) return;
    cJSON_Delete(f->patterns);
    free(f);
}

/* ------------------------------------------------------------------ matching */

/* A value to compare: a JSON node, or raw bytes standing for a string. */
typedef struct val {
    const cJSON *json;
    const char *raw;
    size_t raw_len;
    int present;
} val;

static int starts_with(const char *s, size_t n, const char *p)
{
    size_t pl = strlen(p);
    return n >= pl && memcmp(s, p, pl) == 0;
}

static int ends_with(const char *s, size_t n, const char *p)
{
    size_t pl = strlen(p);
    return n >= pl && memcmp(s + n - pl, p, pl) == 0;
}

static int as_string(const val *v, const char **s, size_t *n)
{
    if (v->raw) {
        *s = v->raw;
        *n = v->raw_len;
        return 1;
    }
    if (v->json && cJSON_IsString(v->json)) {
        *s = v->json->valuestring;
        *n = strlen(*s);
        return 1;
    }
    return 0;
}

static int equals_literal(const val *v, const cJSON *lit)
{
    const char *s;
    size_t n;
    if (cJSON_IsString(lit))
        return as_string(v, &s, &n) && n == strlen(lit->valuestring) &&
               memcmp(s, lit->valuestring, n) == 0;
    if (!v->json) return 0;
    if (cJSON_IsNumber(lit))
        return cJSON_IsNumber(v->json) && v->json->valuedouble == lit->valuedouble;
    if (cJSON_IsBool(lit))
        return cJSON_IsBool(v->json) && cJSON_IsTrue(v->json) == cJSON_IsTrue(lit);
    if (cJSON_IsNull(lit)) return cJSON_IsNull(v->json);
    return 0;
}

static int numeric_ok(const val *v, const cJSON *spec)
{
    if (!v->json || !cJSON_IsNumber(v->json)) return 0;
    double x = v->json->valuedouble;
    int n = cJSON_GetArraySize(spec);
    for (int i = 0; i < n; i += 2) {
        const char *op = cJSON_GetArrayItem(spec, i)->valuestring;
        double b = cJSON_GetArrayItem(spec, i + 1)->valuedouble;
        int ok = !strcmp(op, "=")    ? x == b
                 : !strcmp(op, "<")  ? x < b
                 : !strcmp(op, "<=") ? x <= b
                 : !strcmp(op, ">")  ? x > b
                                     : x >= b;
        if (!ok) return 0;
    }
    return 1;
}

static int leaf_match(const val *v, const cJSON *leaf)
{
    const cJSON *alt;
    cJSON_ArrayForEach(alt, leaf)
    {
        if (!cJSON_IsObject(alt)) {
            if (v->present && equals_literal(v, alt)) return 1;
            continue;
        }
        const cJSON *op = alt->child;
        const char *s;
        size_t n;
        if (!strcmp(op->string, "exists")) {
            if (cJSON_IsTrue(op) == v->present) return 1;
        } else if (!v->present) {
            continue;
        } else if (!strcmp(op->string, "prefix")) {
            if (as_string(v, &s, &n) && starts_with(s, n, op->valuestring)) return 1;
        } else if (!strcmp(op->string, "suffix")) {
            if (as_string(v, &s, &n) && ends_with(s, n, op->valuestring)) return 1;
        } else if (!strcmp(op->string, "numeric")) {
            if (numeric_ok(v, op)) return 1;
        } else if (!strcmp(op->string, "anything-but")) {
            int hit = 0;
            if (cJSON_IsArray(op)) {
                const cJSON *x;
                cJSON_ArrayForEach(x, op) hit |= equals_literal(v, x);
            } else {
                hit = equals_literal(v, op);
            }
            if (!hit) return 1;
        }
    }
    return 0;
}

static int object_match(const cJSON *doc, const cJSON *pat)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, pat)
    {
        const cJSON *field =
            cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, m->string) : NULL;
        if (cJSON_IsObject(m)) {
            if (!field || !object_match(field, m)) return 0;
        } else {
            val v = {.json = field, .present = field != NULL};
            if (!leaf_match(&v, m)) return 0;
        }
    }
    return 1;
}

static int headers_match(const kf_record *r, const cJSON *pat)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, pat)
    {
        val v = {0};
        for (size_t i = 0; i < r->header_count; i++) {
            if (strcmp(r->headers[i].name, m->string) == 0) {
                v.raw = r->headers[i].value ? r->headers[i].value : "";
                v.raw_len = r->headers[i].value_len;
                v.present = 1;
                break;
            }
        }
        if (cJSON_IsObject(m) || !leaf_match(&v, m)) return 0;
    }
    return 1;
}

/* The bytes as ONE JSON document: NULL unless only whitespace follows it
 * ("{...}junk" is not JSON, and must not match an object pattern). */
static cJSON *parse_whole(const void *data, size_t len)
{
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(data, len, &end, 0);
    const char *stop = (const char *)data + len;
    while (doc && end < stop && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (doc && end != stop) {
        cJSON_Delete(doc);
        doc = NULL;
    }
    return doc;
}

/* "key" or "value": an object pattern matches the bytes parsed as JSON; an
 * array matches the bytes as a string. *parsed caches the parse per record. */
static int bytes_match(const void *data, size_t len, const cJSON *pat, cJSON **parsed, int *tried)
{
    if (!cJSON_IsObject(pat)) {
        val v = {.raw = data ? data : "", .raw_len = len, .present = data != NULL};
        return leaf_match(&v, pat);
    }
    if (!*tried) {
        *tried = 1;
        *parsed = data ? parse_whole(data, len) : NULL;
    }
    return *parsed && object_match(*parsed, pat);
}

int kf_filter_match(const kf_filter *f, const kf_record *r)
{
    cJSON *key_doc = NULL, *value_doc = NULL;
    int key_tried = 0, value_tried = 0, any = 0;
    const cJSON *pat;
    cJSON_ArrayForEach(pat, f->patterns)
    {
        int ok = 1;
        const cJSON *m;
        cJSON_ArrayForEach(m, pat)
        {
            if (!strcmp(m->string, "key"))
                ok = bytes_match(r->key, r->key_len, m, &key_doc, &key_tried);
            else if (!strcmp(m->string, "value"))
                ok = bytes_match(r->value, r->value_len, m, &value_doc, &value_tried);
            else
                ok = headers_match(r, m);
            if (!ok) break;
        }
        if (ok) {
            any = 1;
            break;
        }
    }
    cJSON_Delete(key_doc);
    cJSON_Delete(value_doc);
    return any;
}
