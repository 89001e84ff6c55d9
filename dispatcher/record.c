#include "dispatcher/record.h"

#include "dispatcher/emitter.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t kf_key_hash(const void *key, size_t len)
{
    if (!key) return 0;
    uint64_t h = 1469598103934665603ull;
    const unsigned char *k = key;
    for (size_t i = 0; i < len; i++) {
        h ^= k[i];
        h *= 1099511628211ull;
    }
    return h ? h : 1;
}

int64_t kf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t kf_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One allocation: the struct, the header array, then key, value and header
 * names/values back to back. */
kf_rec *kf_rec_new(kf_partition *part, int64_t offset, int64_t timestamp_ms, const void *key,
                   size_t key_len, const void *value, size_t value_len, const kf_header *hdrs,
                   size_t header_count)
{
    size_t extra = key_len + value_len + header_count * sizeof(kf_header);
    for (size_t i = 0; i < header_count; i++)
        extra += strlen(hdrs[i].name) + 1 + hdrs[i].value_len;
    kf_rec *r = malloc(sizeof *r + extra + 1);
    if (!r) return NULL;
    memset(r, 0, sizeof *r);
    kf_header *h = (kf_header *)(r + 1);
    char *p = (char *)(h + header_count);
    for (size_t i = 0; i < header_count; i++) {
        size_t nl = strlen(hdrs[i].name) + 1;
        memcpy(p, hdrs[i].name, nl);
        h[i].name = p;
        p += nl;
        h[i].value_len = hdrs[i].value_len;
        h[i].value = hdrs[i].value ? p : NULL;
        if (hdrs[i].value) memcpy(p, hdrs[i].value, hdrs[i].value_len);
        p += hdrs[i].value_len;
    }
    if (key) memcpy(p, key, key_len);
    r->view.key = key ? p : NULL;
    r->view.key_len = key ? key_len : 0;
    p += key_len;
    if (value) memcpy(p, value, value_len);
    r->view.value = value ? p : NULL;
    r->view.value_len = value ? value_len : 0;

    r->view.struct_size = sizeof(kf_record);
    r->view.topic = part->topic;
    r->view.partition = part->partition;
    r->view.offset = offset;
    r->view.timestamp_ms = timestamp_ms;
    r->view.headers = header_count ? h : NULL;
    r->view.header_count = header_count;
    r->view.attempt = 1;
    r->part = part;
    kf_partition_ref(part);
    r->key_hash = kf_key_hash(key, key_len);
    r->bytes = extra;
    r->first_seen_ms = kf_now_ms();
    r->outputs_tail = &r->outputs;
    return r;
}

void kf_rec_free(kf_rec *r)
{
    if (!r) return;
    kf_rec_clear_outputs(r);
    free(atomic_load(&r->why));
    free(r->fail_reason);
    kf_partition_unref(r->part);
    free(r);
}
