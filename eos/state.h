/*
 * Exactly-once state in Redis (eos/README.md).
 *
 * Per partition, under one hash tag T = "{<prefix>:<group>:<topic>:<partition>}"
 * (one Redis Cluster slot, so one Lua script may touch all of it):
 *   T:epoch  the owner's fencing token, INCR'd by each new owner at assignment
 *   T:runs   a sorted set, score <to>: member "<from>/<to>/<sink>" (`sink` is
 *            done for every offset from..to) or "<from>/<to>:<mask>/<sink>"
 *            (done for the offsets whose bit is set in the raw mask;
 *            eos/lua/common.lua); one member per completion part, runs
 *            merged; members that end below the committed watermark are
 *            dropped
 *   T:base   the trim point: offsets below it are done and committed, and
 *            no member of `runs` ends below it
 *   T:owner  the transactional.id of the process that holds the partition,
 *            until it releases it (kf_eos_state_assign_owned, _release)
 *   T:bk:<k> business-key markers (optional dedupe), with a TTL = the window
 *   T:done   the one-mark-per-record sorted set of kfleet before runs: turned
 *            into runs and deleted by the next assign (upgrade)
 * Memory is O(uncommitted window): `runs` is trimmed below each committed
 * offset, and a completion merges its runs with those it touches.
 *
 * Scripts are loaded once per connection (SCRIPT LOAD) and called with
 * EVALSHA; a NOSCRIPT reply (Redis restarted or SCRIPT FLUSH) reloads them
 * and retries once.
 *
 * Results: KF_STATUS_OK, KF_STATUS_RETRY (connection error or timeout: the
 * reply is ambiguous, the connection is dropped and reopened on the next call;
 * calling again is safe because a script applies a record's writes for a sink
 * at most once and skips what is marked), KF_STATUS_FAIL (a permanent error,
 * message in err).
 *
 * Threads: a kf_eos_state is one connection, not thread-safe: one per thread.
 */
#ifndef KF_EOS_STATE_H
#define KF_EOS_STATE_H

#include "common/metrics.h"
#include "common/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kf_eos_state kf_eos_state;

/* Per item of kf_eos_state_complete. */
enum {
    KF_EOS_APPLIED = 0, /* writes applied and the mark set, atomically */
    KF_EOS_SKIPPED,     /* already done for this sink: nothing written */
    KF_EOS_ERROR,       /* a write failed (e.g. WRONGTYPE): not marked */
    KF_EOS_FENCED,      /* the partition's epoch moved on: nothing written */
};

/* Connects lazily: this never fails for an unreachable server (the first call
 * returns KF_STATUS_RETRY). NULL with err only for a bad URL. `url` as in the
 * config (redis://[user:password@]host:port/db). */
kf_eos_state *kf_eos_state_new(const char *url, const char *prefix, const char *group, char *err,
                               size_t errlen);
void kf_eos_state_destroy(kf_eos_state *c);

/* Times each script's round trip into metrics->redis_calls (borrowed, must
 * outlive c; NULL, the default, times nothing). Same thread as the calls. */
void kf_eos_state_set_metrics(kf_eos_state *c, kf_metrics *metrics);

/* Writes the hash tag "{prefix:group:topic:partition}" into out. */
void kf_eos_state_tag(const kf_eos_state *c, const char *topic, int32_t partition, char *out,
                      size_t outlen);

/* One run returned by assign: `sink` is done for offsets from..to (inclusive).
 * `sink` points into the kf_eos_assigned. */
typedef struct kf_eos_run {
    int64_t from, to;
    const char *sink;
} kf_eos_run;

typedef struct kf_eos_assigned {
    int64_t epoch;    /* the new owner's token */
    int64_t base;     /* the trim watermark, -1 when never trimmed */
    kf_eos_run *runs; /* in order of `to`; each at or above base */
    size_t nruns;
    /* The owner recorded before this assignment that did not release the
     * partition ("" when none): its transactional.id (kf_eos_state_assign_owned). */
    char prev_owner[512];
    void *mem; /* owned strings */
} kf_eos_assigned;

/* The assign script: INCR epoch, return it with base and every run (an old
 * T:done is turned into runs first). One round trip. Fill `out`; free it with kf_eos_assigned_free.
 */
int kf_eos_state_assign(kf_eos_state *c, const char *topic, int32_t partition, kf_eos_assigned *out,
                        char *err, size_t errlen);

/* kf_eos_state_assign that also records `owner` (a transactional.id; NULL or ""
 * records nothing) as the partition's holder until kf_eos_state_release, and
 * returns the holder it replaces in out->prev_owner. */
int kf_eos_state_assign_owned(kf_eos_state *c, const char *topic, int32_t partition,
                              const char *owner, kf_eos_assigned *out, char *err, size_t errlen);
void kf_eos_assigned_free(kf_eos_assigned *a);

/* One Redis command a sink wants applied with a mark (binary-safe). */
typedef struct kf_eos_write {
    int argc;
    const char *const *argv;
    const size_t *argvlen;
} kf_eos_write;

/* One record's part of a completion: its writes (0 for a mark only). */
typedef struct kf_eos_item {
    int64_t offset;
    const kf_eos_write *writes;
    size_t nwrites;
    /* The caller knows no mark of this offset can exist for the sink: no
     * earlier attempt of the record sent it in this epoch, and the assign
     * loaded none (a newer owner's marks come with a newer epoch, which
     * fences this call anyway). The uniform script then adds the mark
     * without reading the sink's members first. false is always safe. */
    bool fresh;
} kf_eos_item;

/* One partition's part of a completion. `trim` is the partition's committed
 * offset (-1: none yet): members of the runs that end below it are dropped
 * and base raised, riding on this call. */
typedef struct kf_eos_part {
    const char *topic;
    int32_t partition;
    int64_t epoch;
    int64_t trim;
    const kf_eos_item *items;
    size_t nitems;
} kf_eos_part;

/*
 * The complete script, ONE round trip for any number of partitions: for each
 * part, if its epoch is stale every item is KF_EOS_FENCED and nothing of that
 * part is written; otherwise each item not yet done for `sink` has its writes
 * applied and its offset added to the sink's runs, in the same script, so
 * effect and mark commit together. `status` has one entry per item, parts in order.
 * Returns KF_STATUS_OK (see status), KF_STATUS_RETRY or KF_STATUS_FAIL.
 */
int kf_eos_state_complete(kf_eos_state *c, const char *sink, const kf_eos_part *parts,
                          size_t nparts, int *status, char *err, size_t errlen);

/* For tests only. complete() runs a lean script instead of the generic one
 * when every part is uniform (one write per item, same command and key, a
 * mergeable command, increasing offsets: see eos/lua/complete_uniform.lua),
 * with the same results. on = 0 forces the generic script (to compare the
 * two), 1 (the default) lets complete() choose. */
void kf_eos_state_set_fast_path(kf_eos_state *c, int on);

/* Trims one partition's runs below `trim` (fenced by epoch).
 * Returns KF_STATUS_OK, KF_STATUS_RETRY or KF_STATUS_FAIL; *fenced set to 1 when
 * the epoch moved on. */
int kf_eos_state_trim(kf_eos_state *c, const char *topic, int32_t partition, int64_t epoch,
                      int64_t trim, int *fenced, char *err, size_t errlen);

/* kf_eos_state_trim that also releases the partition when `owner` still holds it
 * (after a clean hand-over: nothing of that owner's can still commit). */
int kf_eos_state_release(kf_eos_state *c, const char *topic, int32_t partition, int64_t epoch,
                         int64_t trim, const char *owner, int *fenced, char *err, size_t errlen);

/*
 * Business-key dedupe: for each key, SET T:bk:<key> <offset> NX PX window_ms.
 * dup[i] = 1 when another offset holds the key within the window (the record
 * is a producer-side duplicate), 0 when this offset holds it (first sight or a
 * replay of the same record). Fenced by epoch (*fenced). One round trip.
 */
int kf_eos_state_claim(kf_eos_state *c, const char *topic, int32_t partition, int64_t epoch,
                       const char *const *keys, const size_t *keylens, const int64_t *offsets,
                       size_t n, int64_t window_ms, int *dup, int *fenced, char *err,
                       size_t errlen);

#endif /* KF_EOS_STATE_H */
