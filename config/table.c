/*
 * The walk over a config table: see table.h for the contract.
 */
#include "config/table.h"
#include "config/config_props.h"
#include "config/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* More keys than any object of the config has; kf_cfg_check_keys refuses
 * tables beyond it rather than listing a part. */
#define MAX_KEYS 64

int kf_cfg_dup(kf_jpath *jp, const char *s, char **dst)
{
    if (!s) return 0;
    *dst = strdup(s);
    return *dst ? 0 : kf_jpath_fail(jp, "out of memory");
}

int kf_cfg_dup_json(kf_jpath *jp, const cJSON *v, char **dst)
{
    char *s = cJSON_PrintUnformatted(v);
    int rc = s ? kf_cfg_dup(jp, s, dst) : kf_jpath_fail(jp, "out of memory");
    cJSON_free(s);
    return rc;
}

int kf_cfg_check_keys(kf_jpath *jp, const cJSON *obj, const kf_cfg_table *const *tables, size_t n,
                      const char *what)
{
    const char *names[MAX_KEYS + 1];
    size_t count = 0;
    for (size_t t = 0; t < n; t++)
        for (size_t i = 0; i < tables[t]->count; i++) {
            if (count == MAX_KEYS) return kf_jpath_fail(jp, "too many keys in the config table");
            names[count++] = tables[t]->keys[i].name;
        }
    names[count] = NULL;
    return kf_jpath_check_keys(jp, obj, names, what);
}

static int read_string(kf_jpath *jp, const cJSON *obj, const kf_cfg_key *k, void *base)
{
    const char *s = k->def_str;
    if (kf_jpath_string(jp, obj, k->name, k->flags & KF_CFG_REQUIRED, &s) < 0) return -1;
    if (s && k->valid && !k->valid(s))
        return kf_jpath_fail_key(jp, obj, k->name, "%s", k->expected);
    return kf_cfg_dup(jp, s, KF_CFG_FIELD(base, k, char *));
}

static int read_enum(kf_jpath *jp, const cJSON *obj, const kf_cfg_key *k, void *base)
{
    int i = (int)k->def;
    if (kf_jpath_enum(jp, obj, k->name, k->names, &i) < 0) return -1;
    if (k->flags & KF_CFG_ENUM_NAME)
        return kf_cfg_dup(jp, k->names[i], KF_CFG_FIELD(base, k, char *));
    *KF_CFG_FIELD(base, k, int) = i;
    return 0;
}

/* Fills an absent optional object's defaults: nothing is required of it. */
static int read_defaults(kf_jpath *jp, const kf_cfg_table *t, void *base)
{
    for (size_t i = 0; i < t->count; i++) {
        const kf_cfg_key *k = &t->keys[i];
        if (k->kind == KF_CFG_CUSTOM || (k->flags & KF_CFG_REQUIRED)) continue;
        if (kf_cfg_read_key(jp, NULL, k, base, NULL) < 0) return -1;
    }
    return 0;
}

static int read_object(kf_jpath *jp, const cJSON *parent, const kf_cfg_key *k, void *base,
                       void *ctx)
{
    const cJSON *o;
    if (kf_jpath_object(jp, parent, k->name, k->flags & KF_CFG_REQUIRED, &o) < 0) return -1;
    size_t mark = kf_jpath_push_key(jp, k->name);
    int rc = !o && (k->flags & KF_CFG_OPTIONAL) ? read_defaults(jp, k->sub, base)
                                                : kf_cfg_read(jp, k->sub, o, base, ctx);
    if (rc == 0) kf_jpath_pop(jp, mark);
    return rc;
}

int kf_cfg_read_key(kf_jpath *jp, const cJSON *obj, const kf_cfg_key *k, void *base, void *ctx)
{
    bool required = k->flags & KF_CFG_REQUIRED;
    switch (k->kind) {
    case KF_CFG_STRING:
        return read_string(jp, obj, k, base);
    case KF_CFG_INT: {
        int v = (int)k->def;
        if (kf_jpath_int(jp, obj, k->name, required, (int)k->min, (int)k->max, &v) < 0) return -1;
        *KF_CFG_FIELD(base, k, int) = v;
        return 0;
    }
    case KF_CFG_INT64: {
        int64_t v = k->def;
        if (kf_jpath_int64(jp, obj, k->name, required, k->min, k->max, &v) < 0) return -1;
        *KF_CFG_FIELD(base, k, int64_t) = v;
        return 0;
    }
    case KF_CFG_BOOL: {
        bool v = k->def != 0;
        if (kf_jpath_bool(jp, obj, k->name, &v) < 0) return -1;
        *KF_CFG_FIELD(base, k, bool) = v;
        return 0;
    }
    case KF_CFG_ENUM:
        return read_enum(jp, obj, k, base);
    case KF_CFG_OBJECT:
        return read_object(jp, obj, k, base, ctx);
    case KF_CFG_CUSTOM:
        return k->read(jp, obj, k, base, ctx);
    }
    return kf_jpath_fail(jp, "config table row %s has no kind", k->name);
}

int kf_cfg_read_rows(kf_jpath *jp, const kf_cfg_table *t, const cJSON *obj, void *base, void *ctx)
{
    for (size_t i = 0; i < t->count; i++)
        if (kf_cfg_read_key(jp, obj, &t->keys[i], base, ctx) < 0) return -1;
    return 0;
}

int kf_cfg_read(kf_jpath *jp, const kf_cfg_table *t, const cJSON *obj, void *base, void *ctx)
{
    if (kf_cfg_check_keys(jp, obj, &t, 1, NULL) < 0 || kf_cfg_read_rows(jp, t, obj, base, ctx) < 0)
        return -1;
    return t->check ? t->check(jp, obj, base, ctx) : 0;
}

void kf_cfg_free(const kf_cfg_table *t, void *base)
{
    for (size_t i = 0; i < t->count; i++) {
        const kf_cfg_key *k = &t->keys[i];
        if (k->kind == KF_CFG_STRING || (k->kind == KF_CFG_ENUM && (k->flags & KF_CFG_ENUM_NAME)))
            kf_cfg_free_string(k, base);
        else if (k->kind == KF_CFG_OBJECT)
            kf_cfg_free(k->sub, base);
        else if (k->kind == KF_CFG_CUSTOM && k->free)
            k->free(k, base);
    }
}

int kf_cfg_each(kf_jpath *jp, const char *key, const cJSON *arr, kf_cfg_each_fn *each, void *ctx)
{
    size_t mark = kf_jpath_push_key(jp, key), i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        size_t m = kf_jpath_push_index(jp, i);
        if (each(jp, e, i, ctx) < 0) return -1;
        kf_jpath_pop(jp, m);
    }
    kf_jpath_pop(jp, mark);
    return 0;
}

long kf_cfg_find_string(const void *items, size_t size, size_t at, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = *(char *const *)(const void *)((const char *)items + i * size + at);
        if (v && s && strcmp(v, s) == 0) return (long)i;
    }
    return -1;
}

int kf_cfg_read_unique_name(kf_jpath *jp, const cJSON *obj, const kf_cfg_key *k, void *base,
                            const void *items, size_t size, size_t n, const char *array)
{
    const char *name = NULL;
    if (kf_jpath_string(jp, obj, k->name, true, &name) < 0) return -1;
    if (!kf_cfg_valid_name(name)) return kf_jpath_fail_key(jp, obj, k->name, KF_CFG_NAME_EXPECTED);
    long j = kf_cfg_find_string(items, size, k->at, n, name);
    if (j >= 0)
        return kf_jpath_fail_key(jp, obj, k->name, "expected a name not used by %s[%ld]", array, j);
    return kf_cfg_dup(jp, name, KF_CFG_FIELD(base, k, char *));
}

int kf_cfg_read_props(kf_jpath *jp, const cJSON *obj, const kf_cfg_key *k, void *base, void *ctx)
{
    (void)ctx;
    const kf_cfg_props_arg *a = k->arg;
    char self[KF_JPATH_MAX + 16];
    if (a->kind == KF_PROPS_CONSUMER && !a->self)
        snprintf(self, sizeof self, "%s.group_id", jp->path);
    return kf_config_parse_props(jp, obj, k->name, a->kind, a->self ? a->self : self,
                                 KF_CFG_FIELD(base, k, kf_props));
}

void kf_cfg_free_props(const kf_cfg_key *k, void *base)
{
    kf_config_props_free(KF_CFG_FIELD(base, k, kf_props));
}

void kf_cfg_free_string(const kf_cfg_key *k, void *base)
{
    char **s = KF_CFG_FIELD(base, k, char *);
    free(*s);
    *s = NULL;
}
