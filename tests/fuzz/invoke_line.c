/*
 * Fuzz target: the `kfleet invoke` input (src/invoke_input.c), one JSON
 * object per line turned into a record.
 *
 * The input is a JSONL file: it is split into lines and each line that is
 * not blank goes through kf_invoke_parse_line as kf_cmd_invoke does, with
 * the partition and the next offset carried from line to line. Checks:
 *   - a refused line comes with a message;
 *   - a record has the topic, partition, key, value and headers of its line
 *     (read back from the line with cJSON), offsets count up from the last
 *     one given, and the partition is the one the record points at;
 *   - the record prints as one valid JSON line through the stdout sink's
 *     formatter, which `invoke` uses for every output.
 */
#include "dispatcher/partition.h"
#include "dispatcher/record.h"
#include "sinks/sink.h"
#include "sinks/sink_priv.h"
#include "src/invoke_input.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz invoke_line: check failed: %s (line %d)\n", #c, __LINE__);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_record(const char *line, const kf_rec *r, const kf_partition *part,
                         int64_t expect_offset)
{
    cJSON *j = cJSON_Parse(line);
    CHECK(j);
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(j, "key");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(j, "value");
    const cJSON *topic = cJSON_GetObjectItemCaseSensitive(j, "topic");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(j, "offset");
    const kf_record *v = &r->view;
    CHECK(r->part == part && v->topic == part->topic && v->partition == part->partition);
    CHECK(strcmp(v->topic, topic ? topic->valuestring : "invoke") == 0);
    if (!off) CHECK(v->offset == expect_offset);
    if (cJSON_IsString(key))
        CHECK(v->key && v->key_len == strlen(key->valuestring) &&
              memcmp(v->key, key->valuestring, v->key_len) == 0);
    else
        CHECK(v->key == NULL && v->key_len == 0);
    if (cJSON_IsString(value))
        CHECK(v->value && v->value_len == strlen(value->valuestring) &&
              memcmp(v->value, value->valuestring, v->value_len) == 0);
    else if (!value || cJSON_IsNull(value))
        CHECK(v->value == NULL);
    CHECK(v->header_count ==
          (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "headers")));
    cJSON_Delete(j);

    kf_sink_msg msg = {.src_topic = v->topic,
                       .src_partition = v->partition,
                       .src_offset = v->offset,
                       .key = v->key,
                       .key_len = v->key_len,
                       .value = v->value,
                       .value_len = v->value_len,
                       .headers = v->headers,
                       .header_count = v->header_count};
    size_t len;
    char *out = kf_sink_stdout_format("out", &msg, &len);
    CHECK(out && len > 0 && out[len - 1] == '\n' && strlen(out) == len);
    cJSON *printed = cJSON_Parse(out);
    CHECK(cJSON_IsObject(printed));
    cJSON_Delete(printed);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    char *text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = '\0';

    kf_partition *part = NULL;
    int64_t next_offset = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strspn(line, " \t\r") == strlen(line)) continue;
        char err[1024] = "";
        int64_t expect = next_offset;
        kf_rec *r = kf_invoke_parse_line(line, &part, &next_offset, err, sizeof err);
        if (!r) {
            CHECK(err[0] != '\0');
            break; /* kfleet invoke stops at the first bad line */
        }
        check_record(line, r, part, expect);
        CHECK(next_offset == r->view.offset + 1);
        kf_rec_free(r);
    }
    kf_partition_unref(part);
    free(text);
    return 0;
}
