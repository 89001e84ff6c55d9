/*
 * uppercase — parses each value as a JSON object, uppercases one string field
 * and emits the re-serialised object with the same key to every sink.
 *
 *     in:  key "k1"  value {"name":"ada","id":7}
 *     out: key "k1"  value {"name":"ADA","id":7}
 *
 * Config (handler.config in the mapping):
 *     {"field": "name"}     the field to uppercase; default "name"
 *
 * A value that is not a JSON object, or has no string field of that name, is a
 * permanent failure (KF_FAIL): retrying cannot fix it, so it goes to the
 * mapping's on-failure destination (the DLQ) instead of blocking the
 * partition. Only ASCII letters change; other UTF-8 bytes pass through intact.
 * cJSON re-serialises numbers, so very large integers (beyond 2^53) and
 * formatting (spaces, key order is kept) may not round-trip byte for byte.
 *
 * Build it alone with:
 *     cc -shared -fPIC -O2 -I include -o build/handlers/uppercase.so \
 *        handlers/examples/uppercase.c -lcjson
 *
 * Threads: init runs once; afterwards the state is read-only, so handle needs
 * no locks. Each call parses into its own cJSON tree and frees it.
 */
/* For strdup when built with a bare `cc` line (CMake defines it already). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "kfleet/handler.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct uppercase {
    char *field; /* owned; never changes after init */
};

/*
 * Validates the config and builds the state. Errors are sentences naming the
 * config key; the host prefixes them with "handler <path> init failed: ".
 */
static int uppercase_init(const char *config_json, void **state, char *err, size_t errlen)
{
    const char *field = "name";
    cJSON *cfg = cJSON_Parse(config_json);
    if (!cJSON_IsObject(cfg)) {
        snprintf(err, errlen, "handler.config: expected a JSON object");
        goto fail;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, cfg)
    {
        if (strcmp(item->string, "field") != 0) {
            snprintf(err, errlen, "handler.config.%s: unknown key (uppercase knows only \"field\")",
                     item->string);
            goto fail;
        }
        if (!cJSON_IsString(item) || item->valuestring[0] == '\0') {
            char *got = cJSON_PrintUnformatted(item);
            snprintf(err, errlen, "handler.config.field: expected a non-empty string, got %s",
                     got ? got : "something else");
            cJSON_free(got);
            goto fail;
        }
        field = item->valuestring;
    }

    struct uppercase *u = calloc(1, sizeof *u);
    if (!u || !(u->field = strdup(field))) {
        free(u);
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    cJSON_Delete(cfg);
    *state = u;
    return 0;

fail:
    cJSON_Delete(cfg);
    return -1;
}

/* True when nothing but JSON whitespace lies in [p, end). */
static int only_space(const char *p, const char *end)
{
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') return 0;
    return 1;
}

static kf_result uppercase_handle(void *state, const kf_record *rec, kf_emitter *em)
{
    const struct uppercase *u = state;

    /* A tombstone has no JSON to change. */
    if (!rec->value) return KF_FAIL;

    /* The value is not NUL-terminated: parse exactly value_len bytes, and
     * refuse trailing garbage such as `{"name":"a"} xyz`. */
    const char *text = rec->value;
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(text, rec->value_len, &end, 0);
    if (!doc || !cJSON_IsObject(doc) || !end || !only_space(end, text + rec->value_len)) {
        cJSON_Delete(doc);
        return KF_FAIL;
    }

    cJSON *f = cJSON_GetObjectItemCaseSensitive(doc, u->field);
    if (!cJSON_IsString(f)) {
        cJSON_Delete(doc);
        return KF_FAIL;
    }
    /* ASCII only (not toupper): locale-independent and never splits UTF-8. */
    for (char *p = f->valuestring; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');

    char *out = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (!out) return KF_RETRY; /* out of memory is transient */

    /* kf_emit copies `out`, so it can be freed right after. */
    int rc = kf_emit(em, NULL, rec->key, rec->key_len, out, strlen(out));
    cJSON_free(out);
    return rc == 0 ? KF_OK : KF_FAIL;
}

/* Runs once at unload, after the last handle call has returned. */
static void uppercase_fini(void *state)
{
    struct uppercase *u = state;
    if (!u) return;
    free(u->field);
    free(u);
}

static const kf_handler uppercase_handler = {
    .abi_version = KF_ABI_VERSION,
    .struct_size = sizeof(kf_handler),
    .name = "uppercase",
    .init = uppercase_init,
    .handle = uppercase_handle,
    .fini = uppercase_fini,
};

KF_HANDLER_EXPORT const kf_handler *kf_handler_entry(void)
{
    return &uppercase_handler;
}
