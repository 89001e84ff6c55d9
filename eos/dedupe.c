#include "eos/dedupe.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static char *copy(const void *p, size_t n, size_t *len)
{
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, p, n);
    s[n] = '\0';
    *len = n;
    return s;
}

char *kf_business_key(const kf_mapping_config *m, const kf_record *r, size_t *len)
{
    if (m->idempotency.key_header) {
        for (size_t i = 0; i < r->header_count; i++)
            if (strcmp(r->headers[i].name, m->idempotency.key_header) == 0 && r->headers[i].value)
                return copy(r->headers[i].value, r->headers[i].value_len, len);
        return NULL;
    }
    if (!m->idempotency.key_json || !r->value) return NULL;
    cJSON *doc = cJSON_ParseWithLength(r->value, r->value_len);
    const cJSON *node = doc;
    char path[256];
    size_t pl = strlen(m->idempotency.key_json);
    if (pl >= sizeof path) pl = sizeof path - 1;
    memcpy(path, m->idempotency.key_json, pl);
    path[pl] = '\0';
    for (char *save = NULL, *part = strtok_r(path, ".", &save); part && node;
         part = strtok_r(NULL, ".", &save))
        node = cJSON_IsObject(node) ? cJSON_GetObjectItemCaseSensitive(node, part) : NULL;
    char *out = NULL;
    if (cJSON_IsString(node)) {
        out = copy(node->valuestring, strlen(node->valuestring), len);
    } else if (cJSON_IsNumber(node) || cJSON_IsBool(node)) {
        char *t = cJSON_PrintUnformatted(node);
        if (t) out = copy(t, strlen(t), len);
        free(t);
    }
    cJSON_Delete(doc);
    return out;
}
