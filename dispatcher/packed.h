/*
 * One allocation for a record-like thing: a header array, then the header
 * names and values, the key and the value, back to back after the struct
 * that owns them. Used by records, captured outputs and staged outputs, so
 * each costs one malloc and one free.
 */
#ifndef KF_PACKED_H
#define KF_PACKED_H

#include "kfleet/handler.h"

#include <stddef.h>

typedef struct kf_packed {
    kf_header *headers; /* NULL when there are none */
    size_t header_count;
    const void *key; /* NULL stays NULL */
    size_t key_len;
    const void *value;
    size_t value_len;
} kf_packed;

/* Bytes kf_pack writes for headers h[0..n), `extra` (may be NULL), key and value. */
size_t kf_pack_size(const kf_header *h, size_t n, const kf_header *extra, size_t key_len,
                    size_t value_len);

/* Copies everything into mem (kf_pack_size bytes, suitably aligned for
 * kf_header) and describes the copies in *out. */
void kf_pack(void *mem, const kf_header *h, size_t n, const kf_header *extra, const void *key,
             size_t key_len, const void *value, size_t value_len, kf_packed *out);

#endif
