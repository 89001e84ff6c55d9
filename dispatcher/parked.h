/*
 * The keys of one partition that are parked (on_failure mode "park";
 * eos/park.h holds their records), as the partition's owner knows them: a
 * record of such a key, above the offset that parked it, is parked too
 * instead of running. Loaded by the consumer at assignment and refreshed
 * while any is parked; a worker adds the key of a record it parks, and
 * drops one the store says was released.
 *
 * Threads: every function takes the set's lock; kf_parked_count is a
 * relaxed read that lets the hot path skip the lock while none is parked.
 */
#ifndef KF_PARKED_H
#define KF_PARKED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kf_parked_entry {
    uint64_t hash;
    char *key; /* owned; NULL: the null key */
    size_t key_len;
    int64_t first_offset; /* the record that parked it */
    int64_t count;        /* its records in the store, as last known */
} kf_parked_entry;

typedef struct kf_parked {
    pthread_mutex_t lock;
    kf_parked_entry *items;
    size_t n, cap;
    atomic_int count; /* n, for the lock-free check */
} kf_parked;

void kf_parked_init(kf_parked *s);
void kf_parked_destroy(kf_parked *s);

static inline int kf_parked_count(kf_parked *s)
{
    return atomic_load_explicit(&s->count, memory_order_relaxed);
}

/* Whether a record of `key` (NULL: null key) at `offset` follows a parked
 * record of its key. */
bool kf_parked_follows(kf_parked *s, const void *key, size_t key_len, int64_t offset);

/* Notes the key parked from `offset` on (kept when already parked, its
 * count raised by `more`). Returns -1 when out of memory. */
int kf_parked_add(kf_parked *s, const void *key, size_t key_len, int64_t offset, int64_t more);

void kf_parked_remove(kf_parked *s, const void *key, size_t key_len);

/* Replaces the whole set (a refresh from the store): `keys[i]` NULL for the
 * null key. Returns -1 when out of memory (the set is then unchanged). */
int kf_parked_replace(kf_parked *s, const void *const *keys, const size_t *lens,
                      const int64_t *first, const int64_t *counts, size_t n);

/* The records the set counts, all keys together. */
int64_t kf_parked_records(kf_parked *s);

#endif
