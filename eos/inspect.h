/*
 * A partition's state in Redis as an operator reads it (`kfleet status`):
 * read-only, one pipelined round trip per partition, nothing written but
 * the script cache a kf_eos_state loads when it connects.
 *
 * What it reads, under the partition's hash tag T (eos/state.h, eos/park.h,
 * eos/crash_ledger.h): T:epoch, T:base, T:owner, every T:runs member, the
 * crash ledger T:crash and the parked keys' summaries T:pk.
 *
 * Threads: as kf_eos_state (one thread at a time per state).
 */
#ifndef KF_EOS_INSPECT_H
#define KF_EOS_INSPECT_H

#include "eos/crash_ledger.h"
#include "eos/state.h"

#include <stddef.h>
#include <stdint.h>

typedef struct kf_eos_view {
    int64_t epoch;   /* -1: no owner ever took the partition */
    int64_t base;    /* -1: never trimmed */
    int64_t runs;    /* T:runs members */
    int64_t marks;   /* (offset, sink) marks at or above `from` (kf_eos_inspect) */
    char owner[512]; /* the transactional.id holding it ("" when none) */
    int64_t parked_keys, parked_records;
    /* The crash ledger's entries that reach `from` or beyond (those below
     * are never delivered again), sorted by offset; owned (kf_eos_view_clear). */
    kf_crash_entry *crashes;
    size_t ncrashes;
} kf_eos_view;

/*
 * Reads partition `partition` of `topic` into *out. `from` is the group's
 * committed offset (-1: unknown): marks and crash entries below it, or
 * below T:base when that is higher, count for nothing (the fleet will not
 * see those offsets again). Returns KF_STATUS_OK, KF_STATUS_RETRY (Redis
 * did not answer: connect 2 s, reply 5 s at most) or KF_STATUS_FAIL (a
 * reply it cannot read, e.g. WRONGTYPE), with err.
 */
int kf_eos_inspect(kf_eos_state *c, const char *topic, int32_t partition, int64_t from,
                   kf_eos_view *out, char *err, size_t errlen);
void kf_eos_view_clear(kf_eos_view *v);

/* The marks the T:runs member m[0..len) holds at or above `from`: its
 * offsets (a run) or the set bits of its mask (a masked run,
 * eos/lua/common.lua). -1 when m is not a member. */
int64_t kf_eos_member_marks(const char *m, size_t len, int64_t from);

#endif
