/*
 * The parked store: where a mapping with `on_failure: {"mode": "park"}`
 * keeps the records of a key whose record failed for good, in order, under
 * the partition's hash tag T (eos/README.md, "Parked keys"):
 *   T:pk          hash: field -> the key's summary (count, when it was
 *                 parked, its first and last offsets, the first error)
 *   T:pk:<field>  list: the key's parked records (kf_park_entry), oldest first
 * A field is "k" and the key's bytes, or "n" for a null key. The live owner
 * appends (kf_park_put, fenced by its epoch like every exactly-once write);
 * `kfleet parked` lists, and takes records off the head as it releases or
 * drops them (kf_park_take): the last one taken releases the key, and its
 * next record runs again.
 *
 * Threads: as kf_eos_state (one thread at a time per state).
 */
#ifndef KF_EOS_PARK_H
#define KF_EOS_PARK_H

#include "eos/state.h"
#include "kfleet/handler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One parked record, as stored (an encoded entry) and read back. Decoded
 * strings point into the entry's bytes; kf_park_entry_encode copies. */
typedef struct kf_park_entry {
    int64_t offset;
    int64_t timestamp_ms;
    int attempts;
    const void *key; /* NULL: a null key */
    size_t key_len;
    const void *value; /* NULL: a null value */
    size_t value_len;
    kf_header *headers; /* decoded: an owned array (kf_park_entry_clear) */
    size_t header_count;
    const char *error; /* why it failed ("" for a record that followed its key) */
    size_t error_len;
    const char *sinks_done; /* comma-separated names of the sinks its effect reached */
    size_t sinks_done_len;
} kf_park_entry;

/* The bytes of e (malloc'd, *len set), starting "<offset> ". NULL when out
 * of memory. */
char *kf_park_entry_encode(const kf_park_entry *e, size_t *len);
/* Reads an entry; out's pointers point into p. Returns 0, or -1 when the
 * bytes are not an entry. */
int kf_park_entry_decode(const void *p, size_t len, kf_park_entry *out);
void kf_park_entry_clear(kf_park_entry *e);

/* The hash field of a key (into out, malloc'd; *len set). */
char *kf_park_field(const void *key, size_t key_len, bool null_key, size_t *len);

/* One record to park. */
typedef struct kf_park_item {
    const void *key; /* NULL: a null key */
    size_t key_len;
    int64_t offset;
    bool must;         /* it failed for good: park its key; else it follows a parked key */
    const void *entry; /* kf_park_entry_encode's bytes */
    size_t entry_len;
    const char *error; /* the summary's first error, when this parks the key */
} kf_park_item;

enum { KF_PARK_PARKED = 0, KF_PARK_RELEASED = 1 };

/* ONE round trip for records of one partition: parks each (result
 * KF_PARK_PARKED, also for a replay) or, for a record that only followed
 * its key, says the key is no longer parked (KF_PARK_RELEASED: run it).
 * *fenced: a newer owner holds the partition; nothing was written. Returns
 * KF_STATUS_OK, or RETRY / FAIL with err. */
int kf_park_put(kf_eos_state *c, const char *topic, int32_t partition, int64_t epoch,
                int64_t now_ms, const kf_park_item *items, size_t n, int *result, int *fenced,
                char *err, size_t errlen);

/* A parked key's summary. */
typedef struct kf_parked_key {
    char *field; /* owned: "k<key>" or "n", NUL-terminated after field_len */
    size_t field_len;
    int64_t count, first_ms, first_offset, last_offset;
    char *error; /* owned */
} kf_parked_key;

/* Every parked key of a partition (one HGETALL). *out is owned by the
 * caller (kf_parked_keys_free). */
int kf_park_keys(kf_eos_state *c, const char *topic, int32_t partition, kf_parked_key **out,
                 size_t *n, char *err, size_t errlen);
void kf_parked_keys_free(kf_parked_key *k, size_t n);

/* Up to max entries from the head of a key's list, as raw bytes (each
 * malloc'd, with *lens). Returns how many in *n. */
int kf_park_head(kf_eos_state *c, const char *topic, int32_t partition, const char *field,
                 size_t field_len, size_t max, char ***entries, size_t **lens, size_t *n, char *err,
                 size_t errlen);

/* Takes the n head entries of a key off its list when the head's offset is
 * still `head` (kf_park_take's answer: 0 more left, 1 the key is released,
 * 2 not taken: someone else did, or the list changed). */
int kf_park_take(kf_eos_state *c, const char *topic, int32_t partition, const char *field,
                 size_t field_len, int64_t head, size_t n, int *answer, char *err, size_t errlen);

/* The partitions of `group` that have parked keys, found with SCAN (for
 * `kfleet parked`): "topic" and partition pairs, owned by the caller. */
typedef struct kf_parked_partition {
    char *topic;
    int32_t partition;
} kf_parked_partition;
int kf_park_partitions(kf_eos_state *c, kf_parked_partition **out, size_t *n, char *err,
                       size_t errlen);
void kf_parked_partitions_free(kf_parked_partition *p, size_t n);

#endif
