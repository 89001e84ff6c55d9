/* See invoke_input.h. */
#include "src/invoke_input.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 64

kf_rec *kf_invoke_parse_line(const char *line, kf_partition **part, int64_t *next_offset, char *err,
                             size_t errlen)
{
    cJSON *j = cJSON_Parse(line);
    if (!cJSON_IsObject(j)) {
        snprintf(err, errlen, "expected a JSON object per line");
        cJSON_Delete(j);
        return NULL;
    }
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(j, "key");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(j, "value");
    const cJSON *headers = cJSON_GetObjectItemCaseSensitive(j, "headers");
    const cJSON *topic = cJSON_GetObjectItemCaseSensitive(j, "topic");
    const cJSON *pnode = cJSON_GetObjectItemCaseSensitive(j, "partition");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(j, "offset");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(j, "timestamp");
    if ((key && !cJSON_IsString(key) && !cJSON_IsNull(key)) ||
        (headers && !cJSON_IsObject(headers)) || (topic && !cJSON_IsString(topic))) {
        snprintf(err, errlen,
                 "key must be a string or null, headers an object of strings, topic a string");
        cJSON_Delete(j);
        return NULL;
    }
    kf_header hs[MAX_HEADERS];
    size_t nh = 0;
    const cJSON *h;
    cJSON_ArrayForEach(h, headers)
    {
        if (nh == MAX_HEADERS || !cJSON_IsString(h)) {
            snprintf(err, errlen, "headers.%s: expected a string (64 at most)", h->string);
            cJSON_Delete(j);
            return NULL;
        }
        hs[nh++] = (kf_header){h->string, h->valuestring, strlen(h->valuestring)};
    }
    char *vtext = NULL;
    const char *v = NULL;
    size_t vlen = 0;
    if (cJSON_IsString(value)) {
        v = value->valuestring;
        vlen = strlen(v);
    } else if (value && !cJSON_IsNull(value)) {
        v = vtext = cJSON_PrintUnformatted(value);
        vlen = strlen(v);
    }
    const char *tname = topic ? topic->valuestring : "invoke";
    int32_t pnum = cJSON_IsNumber(pnode) ? (int32_t)pnode->valuedouble : 0;
    if (!*part || strcmp((*part)->topic, tname) || (*part)->partition != pnum) {
        kf_partition_unref(*part);
        *part = kf_partition_new(tname, pnum);
    }
    int64_t offset = cJSON_IsNumber(off) ? (int64_t)off->valuedouble : *next_offset;
    *next_offset = offset + 1;
    const char *k = cJSON_IsString(key) ? key->valuestring : NULL;
    kf_rec *r = *part ? kf_rec_new(*part, offset,
                                   cJSON_IsNumber(ts) ? (int64_t)ts->valuedouble : kf_wall_ms(), k,
                                   k ? strlen(k) : 0, v, vlen, hs, nh)
                      : NULL;
    if (!r) snprintf(err, errlen, "out of memory");
    free(vtext);
    cJSON_Delete(j);
    return r;
}
