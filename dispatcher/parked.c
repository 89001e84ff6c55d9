#include "dispatcher/parked.h"

#include "dispatcher/record.h"

#include <stdlib.h>
#include <string.h>

void kf_parked_init(kf_parked *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
}

static void clear(kf_parked_entry *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i].key);
    free(items);
}

void kf_parked_destroy(kf_parked *s)
{
    clear(s->items, s->n);
    pthread_mutex_destroy(&s->lock);
    memset(s, 0, sizeof *s);
}

/* The entry of a key, under the lock; NULL when not parked. */
static kf_parked_entry *find(kf_parked *s, const void *key, size_t key_len)
{
    uint64_t h = kf_key_hash(key, key_len);
    for (size_t i = 0; i < s->n; i++) {
        kf_parked_entry *e = &s->items[i];
        if (e->hash != h || (e->key == NULL) != (key == NULL) || e->key_len != key_len) continue;
        if (!key || !key_len || memcmp(e->key, key, key_len) == 0) return e;
    }
    return NULL;
}

bool kf_parked_follows(kf_parked *s, const void *key, size_t key_len, int64_t offset)
{
    if (!kf_parked_count(s)) return false;
    pthread_mutex_lock(&s->lock);
    const kf_parked_entry *e = find(s, key, key_len);
    bool follows = e && offset > e->first_offset;
    pthread_mutex_unlock(&s->lock);
    return follows;
}

/* Appends an entry, under the lock. */
static int append(kf_parked *s, const void *key, size_t key_len, int64_t offset, int64_t count)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        kf_parked_entry *g = realloc(s->items, cap * sizeof *g);
        if (!g) return -1;
        s->items = g;
        s->cap = cap;
    }
    kf_parked_entry *e = &s->items[s->n];
    e->key = NULL;
    if (key && !(e->key = malloc(key_len ? key_len : 1))) return -1;
    if (key && key_len) memcpy(e->key, key, key_len);
    e->key_len = key ? key_len : 0;
    e->hash = kf_key_hash(key, key_len);
    e->first_offset = offset;
    e->count = count;
    s->n++;
    atomic_store(&s->count, (int)s->n);
    return 0;
}

int kf_parked_add(kf_parked *s, const void *key, size_t key_len, int64_t offset, int64_t more)
{
    pthread_mutex_lock(&s->lock);
    kf_parked_entry *e = find(s, key, key_len);
    int rc = 0;
    if (e)
        e->count += more;
    else
        rc = append(s, key, key_len, offset, more);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void kf_parked_remove(kf_parked *s, const void *key, size_t key_len)
{
    pthread_mutex_lock(&s->lock);
    kf_parked_entry *e = find(s, key, key_len);
    if (e) {
        free(e->key);
        *e = s->items[--s->n];
        atomic_store(&s->count, (int)s->n);
    }
    pthread_mutex_unlock(&s->lock);
}

int kf_parked_replace(kf_parked *s, const void *const *keys, const size_t *lens,
                      const int64_t *first, const int64_t *counts, size_t n)
{
    kf_parked fresh;
    memset(&fresh, 0, sizeof fresh);
    for (size_t i = 0; i < n; i++)
        if (append(&fresh, keys[i], lens[i], first[i], counts[i]) != 0) {
            clear(fresh.items, fresh.n);
            return -1;
        }
    pthread_mutex_lock(&s->lock);
    kf_parked_entry *old = s->items;
    size_t oldn = s->n;
    s->items = fresh.items;
    s->n = fresh.n;
    s->cap = fresh.cap;
    atomic_store(&s->count, (int)s->n);
    pthread_mutex_unlock(&s->lock);
    clear(old, oldn);
    return 0;
}

int64_t kf_parked_records(kf_parked *s)
{
    pthread_mutex_lock(&s->lock);
    int64_t sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->items[i].count;
    pthread_mutex_unlock(&s->lock);
    return sum;
}
