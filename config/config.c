/*
 * Loads the kfleet JSON config (see config.h and the README's Configuration
 * reference).
 *
 * The whole file is parsed with cJSON, every string value has its ${VAR}s
 * expanded, and then the tree is read once with the tables of schema.h,
 * object by object: unknown keys first, then each key with its type and
 * range, then the cross-key rules. The first problem stops the walk with one
 * line naming the file and the JSON path (json_path.h). The result owns
 * copies of every string, so the cJSON tree is freed before returning.
 */
#include "config/config.h"
#include "config/json_path.h"
#include "config/schema.h"
#include "config/sink_types.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE_BYTES (16u << 20)

static int parse_root(kf_jpath *jp, const cJSON *root, kf_config *cfg)
{
    if (!cJSON_IsObject(root)) return kf_jpath_fail_got(jp, root, "expected an object");
    return kf_cfg_read(jp, &kf_cfg_root, root, cfg, NULL);
}

/* Names the line and column of a syntax error and the text around it.
 * cJSON's error offset can be a character past the real culprit, so the
 * excerpt starts a little before it, within the same line. */
static void syntax_error(const char *origin, const char *json, size_t len, const char *at,
                         char *err, size_t errlen)
{
    size_t off = at && at >= json && at <= json + len ? (size_t)(at - json) : 0;
    size_t line = 1, col = 1, line_start = 0;
    for (size_t i = 0; i < off; i++) {
        if (json[i] == '\n')
            line++, col = 1, line_start = i + 1;
        else
            col++;
    }
    if (off >= len) {
        snprintf(err, errlen, "%s: line %zu, column %zu: invalid JSON (unexpected end of input)",
                 origin, line, col);
        return;
    }
    char near[40];
    size_t n = 0, from = off - line_start > 12 ? off - 12 : line_start;
    for (size_t i = from; i < len && json[i] != '\n' && n < 24; i++)
        near[n++] = (unsigned char)json[i] < 0x20 ? ' ' : json[i];
    near[n] = '\0';
    snprintf(err, errlen, "%s: line %zu, column %zu: invalid JSON near '%s'", origin, line, col,
             near);
}

/* `json` must have a NUL at json[len]. */
static int load(const char *json, size_t len, const char *origin, const char *dir, kf_config **out,
                char *err, size_t errlen)
{
    kf_jpath jp;
    const char *end = NULL;
    kf_jpath_init(&jp, origin, err, errlen);
    *out = NULL;
    if (memchr(json, '\0', len)) {
        snprintf(err, errlen, "%s: expected JSON text, got a NUL byte at offset %zu", jp.origin,
                 (size_t)((const char *)memchr(json, '\0', len) - json));
        return -1;
    }
    cJSON *root = cJSON_ParseWithLengthOpts(json, len + 1, &end, 1);
    if (!root) {
        syntax_error(jp.origin, json, len, end, err, errlen);
        return -1;
    }
    kf_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        cJSON_Delete(root);
        snprintf(err, errlen, "%s: out of memory", jp.origin);
        return -1;
    }
    int rc = -1;
    if (kf_cfg_dup(&jp, jp.origin, &cfg->path) < 0 || kf_cfg_dup(&jp, dir, &cfg->dir) < 0 ||
        kf_jpath_expand_env(&jp, root) < 0 || parse_root(&jp, root, cfg) < 0)
        goto done;
    rc = 0;
done:
    cJSON_Delete(root);
    if (rc < 0)
        kf_config_destroy(cfg);
    else
        *out = cfg;
    return rc;
}

int kf_config_load_string(const char *json, const char *origin, kf_config **out, char *err,
                          size_t errlen)
{
    return load(json, strlen(json), origin, ".", out, err, errlen);
}

int kf_config_load_file(const char *path, kf_config **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL, *copy = NULL;
    size_t len = 0, cap = 0;
    int rc = -1;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (ferror(f)) {
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            goto out;
        }
        if (len > MAX_FILE_BYTES) {
            snprintf(err, errlen, "%s: expected a config file of at most 16 MiB", path);
            goto out;
        }
        if (n == 0 && feof(f)) break;
    }
    buf[len] = '\0';
    copy = strdup(path);
    if (!copy) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    rc = load(buf, len, path, dirname(copy), out, err, errlen);
out:
    fclose(f);
    free(buf);
    free(copy);
    return rc;
}

void kf_config_destroy(kf_config *cfg)
{
    if (!cfg) return;
    kf_cfg_free(&kf_cfg_root, cfg);
    free(cfg->path);
    free(cfg->dir);
    free(cfg);
}

const kf_sink_config *kf_config_find_sink(const kf_mapping_config *m, const char *name)
{
    if (!m || !name) return NULL;
    for (size_t i = 0; i < m->sink_count; i++)
        if (m->sinks[i].name && strcmp(m->sinks[i].name, name) == 0) return &m->sinks[i];
    return NULL;
}

const char *kf_sink_type_name(kf_sink_type t)
{
    const char *name = kf_cfg_sink_type_name(t);
    return name ? name : "unknown";
}
