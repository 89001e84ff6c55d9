#include "dispatcher/partition.h"

#include "eos/crash_ledger.h"

#include "dispatcher/packed.h"

#include <stdlib.h>
#include <string.h>

kf_partition *kf_partition_new(const char *topic, int32_t partition)
{
    /* aligned_alloc: the struct's counters sit on cache lines of their own. */
    kf_partition *p = aligned_alloc(_Alignof(kf_partition), sizeof *p);
    if (!p) return NULL;
    memset(p, 0, sizeof *p);
    p->topic = strdup(topic);
    p->tracker = kf_tracker_new();
    if (!p->topic || !p->tracker) {
        free(p->topic);
        kf_tracker_destroy(p->tracker);
        free(p);
        return NULL;
    }
    p->partition = partition;
    p->committed = -1;
    p->first_offset = -1;
    p->redrive_hw = -1;
    p->wd.seen_last = p->wd.seen_wm = p->wd.seen_committed = -1;
    p->wd.next_offset = p->wd.hi_offset = p->wd.ls_offset = p->wd.committed_offset = -1;
    atomic_init(&p->trim, -1);
    atomic_init(&p->refs, 1);
    pthread_mutex_init(&p->stage_lock, NULL);
    kf_parked_init(&p->parked);
    return p;
}

int kf_partition_retake(kf_partition *p, int why)
{
    int before = atomic_fetch_or(&p->retake, why);
    atomic_store(&p->fenced, true);
    return before;
}

void kf_partition_ref(kf_partition *p)
{
    atomic_fetch_add(&p->refs, 1);
}

/* References bought per block: one shared write per this many records. */
#define REF_BLOCK 256

void kf_partition_ref_record(kf_partition *p)
{
    if (p->ref_credit == 0) {
        atomic_fetch_add(&p->refs, REF_BLOCK);
        p->ref_credit = REF_BLOCK;
    }
    p->ref_credit--;
}

void kf_partition_release(kf_partition *p)
{
    if (!p) return;
    int n = 1 + p->ref_credit;
    p->ref_credit = 0;
    kf_partition_unref_n(p, n);
}

void kf_partition_unref(kf_partition *p)
{
    kf_partition_unref_n(p, 1);
}

void kf_partition_unref_n(kf_partition *p, int n)
{
    if (!p || n <= 0 || atomic_fetch_sub(&p->refs, n) != n) return;
    kf_tracker_destroy(p->tracker);
    kf_staged_free_list(p->staged);
    pthread_mutex_destroy(&p->stage_lock);
    kf_parked_destroy(&p->parked);
    free(p->done_mask);
    free(p->done_offsets);
    free(p->crash);
    free(p->topic);
    free(p);
}

int64_t kf_partition_crashes(const kf_partition *p, int64_t offset, bool *suspect, const char **sig)
{
    int64_t count = 0;
    *suspect = false;
    *sig = "";
    /* A handful of entries at most: the uncommitted window's crashes. */
    for (size_t i = 0; i < p->ncrash && p->crash[i].offset <= offset; i++) {
        const kf_crash_entry *e = &p->crash[i];
        if (e->n == 1 && e->offset == offset) {
            count = e->count;
            *sig = e->sig;
        }
        if (offset < e->offset + e->n) *suspect = true;
    }
    return count;
}

/* ------------------------------------------------------------- done masks */

static size_t slot_of(int64_t offset, size_t cap)
{
    uint64_t x = (uint64_t)offset * 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 17) & (cap - 1);
}

static int grow_done(kf_partition *p)
{
    size_t cap = p->done_cap ? p->done_cap * 2 : 64;
    int64_t *offs = malloc(cap * sizeof *offs);
    uint32_t *masks = calloc(cap, sizeof *masks);
    if (!offs || !masks) {
        free(offs);
        free(masks);
        return -1;
    }
    for (size_t i = 0; i < cap; i++)
        offs[i] = -1;
    for (size_t i = 0; i < p->done_cap; i++) {
        if (p->done_offsets[i] < 0) continue;
        size_t k = slot_of(p->done_offsets[i], cap);
        while (offs[k] >= 0)
            k = (k + 1) & (cap - 1);
        offs[k] = p->done_offsets[i];
        masks[k] = p->done_mask[i];
    }
    free(p->done_offsets);
    free(p->done_mask);
    p->done_offsets = offs;
    p->done_mask = masks;
    p->done_cap = cap;
    return 0;
}

int kf_partition_mark_done(kf_partition *p, int64_t offset, int sink)
{
    if (sink < 0 || sink >= 32 || offset < 0) return -1;
    /* Keep the load at most one half. */
    if ((p->done_used + 1) * 2 > p->done_cap && grow_done(p) != 0) return -1;
    size_t k = slot_of(offset, p->done_cap);
    while (p->done_offsets[k] >= 0 && p->done_offsets[k] != offset)
        k = (k + 1) & (p->done_cap - 1);
    if (p->done_offsets[k] < 0) p->done_used++;
    p->done_offsets[k] = offset;
    p->done_mask[k] |= 1u << sink;
    return 0;
}

int kf_partition_mark_done_run(kf_partition *p, int64_t from, int64_t to, int sink)
{
    for (int64_t o = from; o <= to; o++)
        if (kf_partition_mark_done(p, o, sink) != 0) return -1;
    return 0;
}

uint32_t kf_partition_done_mask(const kf_partition *p, int64_t offset)
{
    if (!p->done_cap) return 0;
    size_t k = slot_of(offset, p->done_cap);
    while (p->done_offsets[k] >= 0) {
        if (p->done_offsets[k] == offset) return p->done_mask[k];
        k = (k + 1) & (p->done_cap - 1);
    }
    return 0;
}

/* ---------------------------------------------------------------- staging */

kf_staged *kf_staged_new(int64_t offset, unsigned seq, const char *topic, const void *key,
                         size_t key_len, const void *value, size_t value_len,
                         const kf_header *headers, size_t header_count)
{
    kf_staged *s =
        malloc(sizeof *s + kf_pack_size(headers, header_count, NULL, key_len, value_len));
    if (!s) return NULL;
    kf_packed pk;
    kf_pack(s + 1, headers, header_count, NULL, key, key_len, value, value_len, &pk);
    s->key = pk.key;
    s->key_len = pk.key_len;
    s->value = pk.value;
    s->value_len = pk.value_len;
    s->headers = pk.headers;
    s->header_count = pk.header_count;
    s->offset = offset;
    s->seq = seq;
    s->topic = topic;
    s->next = NULL;
    return s;
}

void kf_staged_free_list(kf_staged *s)
{
    while (s) {
        kf_staged *n = s->next;
        free(s);
        s = n;
    }
}

void kf_partition_stage(kf_partition *p, kf_staged *list)
{
    if (!list) return;
    kf_staged *last = list;
    while (last->next)
        last = last->next;
    pthread_mutex_lock(&p->stage_lock);
    last->next = p->staged;
    p->staged = list;
    pthread_mutex_unlock(&p->stage_lock);
}

static int by_offset_seq(const void *a, const void *b)
{
    const kf_staged *x = *(kf_staged *const *)a, *y = *(kf_staged *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

kf_staged *kf_partition_take_staged(kf_partition *p, int64_t below)
{
    pthread_mutex_lock(&p->stage_lock);
    kf_staged *take = NULL, *keep = NULL;
    size_t n = 0;
    for (kf_staged *s = p->staged, *next; s; s = next) {
        next = s->next;
        if (s->offset < below) {
            s->next = take;
            take = s;
            n++;
        } else {
            s->next = keep;
            keep = s;
        }
    }
    p->staged = keep;
    pthread_mutex_unlock(&p->stage_lock);
    if (n < 2) return take;
    kf_staged **v = malloc(n * sizeof *v);
    if (!v) return take; /* unsorted beats lost; order is per key anyway */
    size_t i = 0;
    for (kf_staged *s = take; s; s = s->next)
        v[i++] = s;
    qsort(v, n, sizeof *v, by_offset_seq);
    for (i = 0; i + 1 < n; i++)
        v[i]->next = v[i + 1];
    v[n - 1]->next = NULL;
    take = v[0];
    free(v);
    return take;
}
