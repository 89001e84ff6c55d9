/*
 * Exactly-once state in Redis (DESIGN.md, "Exactly-once protocol").
 *
 * Per partition, under one hash tag T = "{<prefix>:<group>:<topic>:<partition>}"
 * (one Redis Cluster slot, so one Lua script may touch all of it):
 *   T:epoch  the owner's fencing token, INCR'd by each new owner at assignment
 *   T:done   a sorted set: member "<offset>/<sink>", score <offset>; the sinks
 *            done for each offset above the committed watermark
 *   T:base   the watermark below which `done` was trimmed
 *   T:bk:<k> business-key markers (optional dedupe), with a TTL = the window
 * Memory is O(uncommitted window): `done` is trimmed below each committed
 * offset, never kept per record for days.
 *
 * Scripts are loaded once per connection (SCRIPT LOAD) and called with
 * EVALSHA; a NOSCRIPT reply (Redis restarted or SCRIPT FLUSH) reloads them
 * and retries once.
 *
 * Results: KF_IDEM_OK, KF_IDEM_RETRY (connection error or timeout: the reply
 * is ambiguous, the connection is dropped and reopened on the next call;
 * calling again is safe because every script is idempotent per offset and
 * sink), KF_IDEM_FAIL (a permanent error, message in err).
 *
 * Threads: a kf_idem is one connection, not thread-safe: one per thread.
 */
#ifndef KF_IDEMPOTENCY_H
#define KF_IDEMPOTENCY_H

#include <stddef.h>
#include <stdint.h>

typedef struct kf_idem kf_idem;

enum { KF_IDEM_OK = 0, KF_IDEM_RETRY = 1, KF_IDEM_FAIL = 2 };

/* Per item of kf_idem_complete. */
enum {
    KF_IDEM_APPLIED = 0, /* writes applied and the mark set, atomically */
    KF_IDEM_SKIPPED,     /* already done for this sink: nothing written */
    KF_IDEM_ERROR,       /* a write failed (e.g. WRONGTYPE): not marked */
    KF_IDEM_FENCED,      /* the partition's epoch moved on: nothing written */
};

/* Connects lazily: this never fails for an unreachable server (the first call
 * returns KF_IDEM_RETRY). NULL with err only for a bad URL. `url` as in the
 * config (redis://[user:password@]host:port/db). */
kf_idem *kf_idem_new(const char *url, const char *prefix, const char *group, char *err,
                     size_t errlen);
void kf_idem_destroy(kf_idem *c);

/* Writes the hash tag "{prefix:group:topic:partition}" into out. */
void kf_idem_tag(const kf_idem *c, const char *topic, int32_t partition, char *out, size_t outlen);

/* One done entry returned by assign. `sink` points into the kf_idem_assigned. */
typedef struct kf_idem_done {
    int64_t offset;
    const char *sink;
} kf_idem_done;

typedef struct kf_idem_assigned {
    int64_t epoch; /* the new owner's token */
    int64_t base;  /* the trim watermark, -1 when never trimmed */
    kf_idem_done *done;
    size_t ndone;
    /* The owner recorded before this assignment that did not release the
     * partition ("" when none): its transactional.id (kf_idem_assign_owned). */
    char prev_owner[512];
    void *mem; /* owned strings */
} kf_idem_assigned;

/* The assign script: INCR epoch, return it with base and every done entry.
 * One round trip. Fill `out`; free it with kf_idem_assigned_free. */
int kf_idem_assign(kf_idem *c, const char *topic, int32_t partition, kf_idem_assigned *out,
                   char *err, size_t errlen);

/* kf_idem_assign that also records `owner` (a transactional.id; NULL or ""
 * records nothing) as the partition's holder until kf_idem_release, and
 * returns the holder it replaces in out->prev_owner. */
int kf_idem_assign_owned(kf_idem *c, const char *topic, int32_t partition, const char *owner,
                         kf_idem_assigned *out, char *err, size_t errlen);
void kf_idem_assigned_free(kf_idem_assigned *a);

/* One Redis command a sink wants applied with a mark (binary-safe). */
typedef struct kf_idem_write {
    int argc;
    const char *const *argv;
    const size_t *argvlen;
} kf_idem_write;

/* One record's part of a completion: its writes (0 for a mark only). */
typedef struct kf_idem_item {
    int64_t offset;
    const kf_idem_write *writes;
    size_t nwrites;
} kf_idem_item;

/* One partition's part of a completion. `trim` is the partition's committed
 * offset (-1: none yet): `done` entries below it are dropped and base raised,
 * riding on this call. */
typedef struct kf_idem_part {
    const char *topic;
    int32_t partition;
    int64_t epoch;
    int64_t trim;
    const kf_idem_item *items;
    size_t nitems;
} kf_idem_part;

/*
 * The complete script, ONE round trip for any number of partitions: for each
 * part, if its epoch is stale every item is KF_IDEM_FENCED and nothing of that
 * part is written; otherwise each item not yet done for `sink` has its writes
 * applied and its mark "<offset>/<sink>" added, in the same script, so effect
 * and mark commit together. `status` has one entry per item, parts in order.
 * Returns KF_IDEM_OK (see status), KF_IDEM_RETRY or KF_IDEM_FAIL.
 */
int kf_idem_complete(kf_idem *c, const char *sink, const kf_idem_part *parts, size_t nparts,
                     int *status, char *err, size_t errlen);

/* For tests only. complete() runs a lean script instead of the generic one
 * when every part is uniform (one write per item, same command and key, a
 * mergeable command, increasing offsets: see idempotency_scripts.h), with the
 * same results. on = 0 forces the generic script (to compare the two), 1
 * (the default) lets complete() choose. */
void kf_idem_set_fast_path(kf_idem *c, int on);

/* Trims one partition's done entries below `trim` (fenced by epoch).
 * Returns KF_IDEM_OK, KF_IDEM_RETRY or KF_IDEM_FAIL; *fenced set to 1 when
 * the epoch moved on. */
int kf_idem_trim(kf_idem *c, const char *topic, int32_t partition, int64_t epoch, int64_t trim,
                 int *fenced, char *err, size_t errlen);

/* kf_idem_trim that also releases the partition when `owner` still holds it
 * (after a clean hand-over: nothing of that owner's can still commit). */
int kf_idem_release(kf_idem *c, const char *topic, int32_t partition, int64_t epoch, int64_t trim,
                    const char *owner, int *fenced, char *err, size_t errlen);

/*
 * Business-key dedupe: for each key, SET T:bk:<key> <offset> NX PX window_ms.
 * dup[i] = 1 when another offset holds the key within the window (the record
 * is a producer-side duplicate), 0 when this offset holds it (first sight or a
 * replay of the same record). Fenced by epoch (*fenced). One round trip.
 */
int kf_idem_claim(kf_idem *c, const char *topic, int32_t partition, int64_t epoch,
                  const char *const *keys, const size_t *keylens, const int64_t *offsets, size_t n,
                  int64_t window_ms, int *dup, int *fenced, char *err, size_t errlen);

#endif
