#include "dispatcher/record.h"

#include "dispatcher/emitter.h"
#include "dispatcher/origin.h"
#include "dispatcher/packed.h"
#include "dispatcher/record_pool.h"

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

size_t kf_rec_run_end(kf_rec *const *recs, size_t n, size_t i, size_t max)
{
    size_t end = n - i > max ? i + max : n;
    size_t j = i + 1;
    while (j < end && recs[j]->part == recs[i]->part)
        j++;
    return j;
}

/* One allocation: the struct, the header array, then key, value and header
 * names/values back to back. Aligned to KF_REC_ALIGN so that an ack can
 * carry the record and a small tag in one pointer (see completion.c), and
 * so that two records' atomics never share a cache line. */
kf_rec *kf_rec_new_in(kf_rec_pool *pool, kf_partition *part, int64_t offset, int64_t timestamp_ms,
                      const void *key, size_t key_len, const void *value, size_t value_len,
                      const kf_header *hdrs, size_t header_count)
{
    size_t extra = kf_pack_size(hdrs, header_count, NULL, key_len, value_len);
    size_t size = (sizeof(kf_rec) + extra + KF_REC_ALIGN - 1) & ~(size_t)(KF_REC_ALIGN - 1);
    size_t capacity = size;
    kf_rec *r = pool ? kf_rec_pool_get(pool, size, KF_REC_ALIGN, &capacity)
                     : aligned_alloc(KF_REC_ALIGN, size);
    if (!r) return NULL;
    memset(r, 0, sizeof *r);
    r->pool = pool;
    r->capacity = capacity;
    kf_packed pk;
    kf_pack(r + 1, hdrs, header_count, NULL, key, key_len, value, value_len, &pk);
    r->view.key = pk.key;
    r->view.key_len = pk.key_len;
    r->view.value = pk.value;
    r->view.value_len = pk.value_len;
    r->view.headers = pk.headers;
    r->view.header_count = pk.header_count;
    r->view.struct_size = sizeof(kf_record);
    r->view.topic = part->topic;
    r->view.partition = part->partition;
    r->view.offset = offset;
    r->view.timestamp_ms = timestamp_ms;
    r->view.attempt = 1;
    r->part = part;
    /* Pooled records come from the one consumer thread (the pool's taker),
     * which may buy references ahead; the others take one each. */
    if (pool)
        kf_partition_ref_record(part);
    else
        kf_partition_ref(part);
    r->key_hash = kf_key_hash(key, key_len);
    r->bytes = extra;
    r->outputs_tail = &r->outputs;
    return r;
}

kf_rec *kf_rec_new_held(kf_rec_pool *pool, kf_partition *part, int64_t offset, int64_t timestamp_ms,
                        const void *key, size_t key_len, const void *value, size_t value_len,
                        const kf_header *hdrs, size_t header_count, void *hold,
                        void (*release)(void *))
{
    kf_rec *r =
        kf_rec_new_in(pool, part, offset, timestamp_ms, NULL, 0, NULL, 0, hdrs, header_count);
    if (!r) return NULL;
    r->view.key = key;
    r->view.key_len = key_len;
    r->view.value = value;
    r->view.value_len = value_len;
    r->key_hash = kf_key_hash(key, key_len);
    r->bytes += key_len + value_len;
    r->hold = hold;
    r->hold_release = release;
    return r;
}

kf_rec *kf_rec_new(kf_partition *part, int64_t offset, int64_t timestamp_ms, const void *key,
                   size_t key_len, const void *value, size_t value_len, const kf_header *hdrs,
                   size_t header_count)
{
    return kf_rec_new_in(NULL, part, offset, timestamp_ms, key, key_len, value, value_len, hdrs,
                         header_count);
}

const kf_record *kf_rec_handler_view(kf_rec *r)
{
    if (!r->origin) return &r->view;
    r->origin->view.attempt = r->view.attempt;
    return &r->origin->view;
}

void kf_rec_free(kf_rec *r)
{
    if (!r) return;
    kf_partition *part = r->part;
    kf_rec_release(r);
    kf_partition_unref(part);
}

void kf_rec_release(kf_rec *r)
{
    kf_rec_clear_outputs(r);
    if (r->hold) r->hold_release(r->hold);
    free(atomic_load(&r->why));
    free(r->fail_reason);
    kf_origin_free(r->origin);
    if (r->pool)
        kf_rec_pool_put(r->pool, r, r->capacity);
    else
        free(r);
}
