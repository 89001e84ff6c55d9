/*
 * See reference.h. One Markdown table for the config file, every key with
 * its full path (`mappings[].batch.max_records`), then one table per sink
 * type with that type's own keys. Columns come from the rows (table.h): a
 * row's *_doc fields win over what its kind and bounds say.
 */
#include "config/reference.h"
#include "config/schema.h"
#include "config/sink_types.h"

#include <inttypes.h>
#include <string.h>

#define HEADER                                                                                     \
    "| key | type | default | values | required | description |\n"                                 \
    "|---|---|---|---|---|---|\n"

/* Table cells cannot hold a '|'. */
static void cell(FILE *out, const char *s)
{
    if (!s || !*s) {
        fputs(" |", out);
        return;
    }
    fputc(' ', out);
    for (; *s; s++) {
        if (*s == '|') fputc('\\', out);
        fputc(*s, out);
    }
    fputs(" |", out);
}

static const char *type_of(const kf_cfg_key *k)
{
    if (k->type_doc) return k->type_doc;
    switch (k->kind) {
    case KF_CFG_INT:
    case KF_CFG_INT64:
        return "integer";
    case KF_CFG_BOOL:
        return "boolean";
    case KF_CFG_OBJECT:
        return "object";
    case KF_CFG_STRING:
    case KF_CFG_ENUM:
    case KF_CFG_CUSTOM:
        break;
    }
    return "string";
}

static void default_of(const kf_cfg_key *k, char *buf, size_t n)
{
    buf[0] = '\0';
    if (k->flags & KF_CFG_REQUIRED) return; /* never taken */
    if (k->default_doc)
        snprintf(buf, n, "%s", k->default_doc);
    else if (k->kind == KF_CFG_STRING && k->def_str)
        snprintf(buf, n, "`%s`", k->def_str);
    else if (k->kind == KF_CFG_INT || k->kind == KF_CFG_INT64)
        snprintf(buf, n, "%" PRId64, k->def);
    else if (k->kind == KF_CFG_BOOL)
        snprintf(buf, n, "`%s`", k->def ? "true" : "false");
    else if (k->kind == KF_CFG_ENUM)
        snprintf(buf, n, "`%s`", k->names[k->def]);
}

static void values_of(const kf_cfg_key *k, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    if (k->range_doc) {
        snprintf(buf, n, "%s", k->range_doc);
    } else if (k->kind == KF_CFG_INT || k->kind == KF_CFG_INT64) {
        snprintf(buf, n, "%" PRId64 "..%" PRId64, k->min, k->max);
    } else if (k->kind == KF_CFG_ENUM) {
        for (size_t i = 0; k->names[i] && o < n; i++) {
            int w = snprintf(buf + o, n - o, "%s`%s`", i ? ", " : "", k->names[i]);
            if (w < 0) break;
            o += (size_t)w;
        }
    }
}

static void row(FILE *out, const char *prefix, const kf_cfg_key *k)
{
    char path[256], def[256], values[512];
    snprintf(path, sizeof path, "`%s%s`", prefix, k->name);
    default_of(k, def, sizeof def);
    values_of(k, values, sizeof values);
    fputs("|", out);
    cell(out, path);
    cell(out, type_of(k));
    cell(out, def);
    cell(out, values);
    cell(out, k->flags & KF_CFG_REQUIRED ? "yes" : "");
    cell(out, k->doc ? k->doc : k->sub ? k->sub->doc : "");
    fputs("\n", out);
}

/* Every row of t, each followed by its children (objects, and custom rows
 * that document some), under `prefix`. */
static void rows(FILE *out, const char *prefix, const kf_cfg_table *t)
{
    for (size_t i = 0; i < t->count; i++) {
        const kf_cfg_key *k = &t->keys[i];
        row(out, prefix, k);
        if (!k->sub) continue;
        char sub[256];
        bool array = k->type_doc && strncmp(k->type_doc, "array", 5) == 0;
        snprintf(sub, sizeof sub, "%s%s%s.", prefix, k->name, array ? "[]" : "");
        rows(out, sub, k->sub);
    }
}

static void sink_type(FILE *out, kf_sink_type id)
{
    const kf_cfg_table *t = kf_cfg_sink_type_keys(id);
    fprintf(out, "\n**`type: %s`**: %s.", kf_cfg_sink_type_name(id), t && t->doc ? t->doc : "");
    if (!t || t->count == 0) {
        fputs(" No keys of its own.\n", out);
        return;
    }
    fputs("\n\n" HEADER, out);
    rows(out, "mappings[].sinks[].", t);
}

int kf_config_reference(FILE *out)
{
    fputs(HEADER, out);
    rows(out, "", &kf_cfg_root);
    size_t n = kf_cfg_sink_type_count();
    fputs("\nA sink takes `name` and `type` (", out);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s`%s`", i ? ", " : "", kf_cfg_sink_type_name((kf_sink_type)i));
    fputs("), plus the keys of its type:\n", out);
    for (size_t i = 0; i < n; i++)
        sink_type(out, (kf_sink_type)i);
    return ferror(out) ? -1 : 0;
}
