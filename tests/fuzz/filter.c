/*
 * Fuzz target: filter patterns (dispatcher/filter.c), compiled from JSON and
 * matched against records.
 *
 * Input fields (fuzz_input.h): the filters JSON, then the record's key and
 * value, then header name/value pairs. Key, value and header values are
 * copied into buffers of exactly their length, so a read past one is an ASan
 * report. Checks:
 *   - a refused pattern list comes with an error message;
 *   - matching is deterministic;
 *   - "a record passes when ANY pattern matches" (filter.h): for up to 8
 *     patterns, the list's answer is the OR of each pattern on its own
 *     (which also checks that the per-record parse cache changes nothing).
 */
#include "dispatcher/filter.h"
#include "fuzz_input.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 16

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz filter: check failed: %s (line %d)\n", #c, __LINE__);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Each pattern of the list alone; -1 when a pattern alone is refused. */
static int or_of_each(const char *filters_json, const kf_record *r)
{
    cJSON *arr = cJSON_Parse(filters_json);
    int any = 0;
    if (!arr || cJSON_GetArraySize(arr) > 8) {
        cJSON_Delete(arr);
        return -2; /* not checked */
    }
    for (cJSON *p = arr->child; p; p = p->next) {
        cJSON *one = cJSON_CreateArray();
        cJSON *copy = cJSON_Duplicate(p, 1);
        if (!one || !copy) abort();
        cJSON_AddItemToArray(one, copy);
        char *text = cJSON_PrintUnformatted(one);
        cJSON_Delete(one);
        if (!text) abort();
        char err[256];
        kf_filter *f = kf_filter_new(text, "f", err, sizeof err);
        free(text);
        if (!f) {
            any = -1;
            break;
        }
        any |= kf_filter_match(f, r);
        kf_filter_destroy(f);
    }
    cJSON_Delete(arr);
    return any;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    fuzz_in in = fuzz_in_make(data, size);
    char *filters = fuzz_strdup(fuzz_next(&in));
    fuzz_field key = fuzz_next(&in), value = fuzz_next(&in);

    kf_header hs[MAX_HEADERS];
    char *names[MAX_HEADERS];
    size_t nh = 0;
    while (nh < MAX_HEADERS && !in.done) {
        fuzz_field n = fuzz_next(&in), v = fuzz_next(&in);
        names[nh] = fuzz_strdup(n);
        hs[nh] = (kf_header){names[nh], fuzz_bytes(v), v.len};
        nh++;
    }
    kf_record r = {.struct_size = sizeof r,
                   .topic = "t",
                   .key = fuzz_bytes(key),
                   .key_len = key.len,
                   .value = fuzz_bytes(value),
                   .value_len = value.len,
                   .headers = hs,
                   .header_count = nh,
                   .attempt = 1};

    char err[512] = "";
    kf_filter *f = kf_filter_new(filters, "mappings[0].filters", err, sizeof err);
    if (!f) {
        CHECK(err[0] != '\0');
    } else {
        int m = kf_filter_match(f, &r);
        CHECK(m == 0 || m == 1);
        CHECK(kf_filter_match(f, &r) == m);
        int each = or_of_each(filters, &r);
        CHECK(each != -1); /* every pattern of an accepted list is acceptable alone */
        CHECK(each == -2 || each == m);
        kf_filter_destroy(f);
    }

    free(filters);
    free((void *)r.key);
    free((void *)r.value);
    for (size_t i = 0; i < nh; i++) {
        free(names[i]);
        free((void *)hs[i].value);
    }
    return 0;
}
