/*
 * Fuzz target: the parked store's record decoder (eos/park.c), which reads
 * bytes back from Redis (`kfleet parked` reads what any client with access
 * could have written there).
 *
 * The input is one stored entry. Checks:
 *   - a refusal leaves nothing to free, never reads past the bytes;
 *   - an entry that decodes encodes again to bytes that decode to the same
 *     record (offset, timestamp, attempts, key, value, headers, error, sinks),
 *     and every header name is a C string of the entry.
 */
#include "eos/park.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz park_entry: check failed: %s (line %d)\n", #c, __LINE__);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int same_bytes(const void *a, size_t al, const void *b, size_t bl)
{
    if ((a == NULL) != (b == NULL) || al != bl) return 0;
    return !al || memcmp(a, b, al) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 20) return 0;
    kf_park_entry e;
    if (kf_park_entry_decode(data, size, &e) != 0) {
        CHECK(e.headers == NULL);
        return 0;
    }
    for (size_t i = 0; i < e.header_count; i++)
        CHECK(e.headers[i].name != NULL);
    size_t len;
    char *again = kf_park_entry_encode(&e, &len);
    CHECK(again);
    kf_park_entry d;
    CHECK(kf_park_entry_decode(again, len, &d) == 0);
    CHECK(d.offset == e.offset && d.timestamp_ms == e.timestamp_ms && d.attempts == e.attempts);
    CHECK(same_bytes(d.key, d.key_len, e.key, e.key_len));
    CHECK(same_bytes(d.value, d.value_len, e.value, e.value_len));
    CHECK(d.header_count == e.header_count);
    for (size_t i = 0; i < e.header_count; i++) {
        CHECK(strcmp(d.headers[i].name, e.headers[i].name) == 0);
        CHECK(same_bytes(d.headers[i].value, d.headers[i].value_len, e.headers[i].value,
                         e.headers[i].value_len));
    }
    CHECK(same_bytes(d.error, d.error_len, e.error, e.error_len));
    CHECK(same_bytes(d.sinks_done, d.sinks_done_len, e.sinks_done, e.sinks_done_len));
    kf_park_entry_clear(&d);
    kf_park_entry_clear(&e);
    free(again);
    return 0;
}
