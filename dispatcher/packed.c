#include "dispatcher/packed.h"

#include <string.h>

size_t kf_pack_size(const kf_header *h, size_t n, const kf_header *extra, size_t key_len,
                    size_t value_len)
{
    size_t total = key_len + value_len + (n + (extra ? 1 : 0)) * sizeof(kf_header) + 1;
    for (size_t i = 0; i < n; i++)
        total += strlen(h[i].name) + 1 + h[i].value_len;
    if (extra) total += strlen(extra->name) + 1 + extra->value_len;
    return total;
}

void kf_pack(void *mem, const kf_header *h, size_t n, const kf_header *extra, const void *key,
             size_t key_len, const void *value, size_t value_len, kf_packed *out)
{
    size_t total_h = n + (extra ? 1 : 0);
    kf_header *dst = mem;
    char *p = (char *)(dst + total_h);
    for (size_t i = 0; i < total_h; i++) {
        const kf_header *src = i < n ? &h[i] : extra;
        size_t nl = strlen(src->name) + 1;
        memcpy(p, src->name, nl);
        dst[i].name = p;
        p += nl;
        dst[i].value = src->value ? p : NULL;
        dst[i].value_len = src->value_len;
        if (src->value) memcpy(p, src->value, src->value_len);
        p += src->value_len;
    }
    out->headers = total_h ? dst : NULL;
    out->header_count = total_h;
    out->key = key ? p : NULL;
    out->key_len = key ? key_len : 0;
    if (key) memcpy(p, key, key_len);
    p += key_len;
    out->value = value ? p : NULL;
    out->value_len = value ? value_len : 0;
    if (value) memcpy(p, value, value_len);
}
