/* See invoke_input.h. */
#include "src/invoke_input.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 64
#define MAX_EXACT   INT64_C(9007199254740991) /* 2^53 - 1: a double holds it exactly */

/* The optional integer `name` of j in min..max (min and max within
 * +-MAX_EXACT): 1 with *out set, 0 when absent, -1 with err when it is not
 * such an integer (a double out of range must never reach a cast). */
static int int_field(const cJSON *j, const char *name, int64_t min, int64_t max, int64_t *out,
                     char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!v) return 0;
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || !(d >= (double)min && d <= (double)max) || (double)(int64_t)d != d) {
        snprintf(err, errlen, "%s: expected an integer %lld..%lld", name, (long long)min,
                 (long long)max);
        return -1;
    }
    *out = (int64_t)d;
    return 1;
}

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
    if ((key && !cJSON_IsString(key) && !cJSON_IsNull(key)) ||
        (headers && !cJSON_IsObject(headers)) || (topic && !cJSON_IsString(topic))) {
        snprintf(err, errlen,
                 "key must be a string or null, headers an object of strings, topic a string");
        cJSON_Delete(j);
        return NULL;
    }
    int64_t pnum = 0, offset = *next_offset, ts = 0;
    int has_ts = 0;
    if (int_field(j, "partition", 0, INT32_MAX, &pnum, err, errlen) < 0 ||
        int_field(j, "offset", 0, MAX_EXACT, &offset, err, errlen) < 0 ||
        (has_ts = int_field(j, "timestamp", -1, MAX_EXACT, &ts, err, errlen)) < 0) {
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
        if (!vtext) {
            snprintf(err, errlen, "out of memory");
            cJSON_Delete(j);
            return NULL;
        }
        vlen = strlen(v);
    }
    const char *tname = topic ? topic->valuestring : "invoke";
    if (!*part || strcmp((*part)->topic, tname) || (*part)->partition != (int32_t)pnum) {
        kf_partition_unref(*part);
        *part = kf_partition_new(tname, (int32_t)pnum);
    }
    *next_offset = offset + 1;
    const char *k = cJSON_IsString(key) ? key->valuestring : NULL;
    kf_rec *r = *part ? kf_rec_new(*part, offset, has_ts ? ts : kf_wall_ms(), k, k ? strlen(k) : 0,
                                   v, vlen, hs, nh)
                      : NULL;
    if (!r) snprintf(err, errlen, "out of memory");
    free(vtext);
    cJSON_Delete(j);
    return r;
}
