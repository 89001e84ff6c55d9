/*
 * Exactly-once completion for the sinks that keep marks in the state Redis
 * (redis, http): turns one flush's outputs into ONE kf_eos_state_complete call and
 * maps its result back onto each output (eos/README.md).
 *
 * Grouping: outputs are grouped into parts by (topic, partition, epoch) and,
 * within a part, into items by record offset, so a record with several
 * outputs to one sink is one item (several writes, one mark "<offset>/<sink>").
 * Items are sent in offset order and an item's writes in the order the outputs
 * were given, which keeps every per-partition and per-key order the
 * dispatcher guarantees. A part's trim is the largest eos_trim among its
 * outputs (the committed offset only grows).
 *
 * A record is marked only when every one of its outputs in the call comes in
 * with KF_STATUS_OK: one failed output (a non-2xx, a failed external write)
 * leaves the whole record unmarked, and its outputs keep the status they came
 * in with (the dispatcher retries the record as a whole).
 *
 * Statuses after the call:
 *   APPLIED, SKIPPED            KF_STATUS_OK
 *   FENCED                      KF_STATUS_FENCED (a newer owner has the partition)
 *   ERROR                       KF_STATUS_FAIL, or KF_STATUS_RETRY when the error
 *                               is a transient one (LOADING, BUSY, OOM...)
 *   call RETRY                  KF_STATUS_RETRY for every output sent: the reply
 *                               is ambiguous, and the retry re-runs complete,
 *                               which skips what was applied
 *   call FAIL                   KF_STATUS_FAIL for every output sent
 *
 * Ownership and threads: a kf_eos_marks owns one kf_eos_state connection and
 * scratch arrays; it belongs to one worker thread. The outputs given to
 * kf_eos_marks_complete are the caller's; their `why` points into the
 * kf_eos_marks and lives until the next call.
 */
#ifndef KF_EOS_MARKS_H
#define KF_EOS_MARKS_H

#include "eos/state.h"
#include "common/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kf_eos_marks kf_eos_marks;

/* One output of a flush. */
typedef struct kf_eos_out {
    const char *topic; /* the input record's, as in kf_sink_msg */
    int32_t partition;
    int64_t offset;
    int64_t epoch; /* eos_epoch */
    int64_t trim;  /* eos_trim */
    bool fresh;    /* eos_fresh: no mark of this record can exist */
    /* The command to apply atomically with the mark, NULL for a mark only
     * (its effect already happened elsewhere: HTTP, another Redis). */
    const kf_eos_write *write;
    /* In: KF_STATUS_OK when the output's effect is done (or is the write above);
     * anything else keeps its record unmarked. Out: the status to ack. */
    kf_status status;
    /* In: the sentence for a status that is not OK (may be NULL). Out: left
     * as is for outputs not sent, set for outputs the call made not OK. */
    const char *why;
} kf_eos_out;

/* Creates the per-worker state; the connection opens lazily (kf_eos_state_new).
 * `sink` is the sink's config name, the mark's suffix. NULL with err for a
 * bad URL or no memory. */
kf_eos_marks *kf_eos_marks_new(const char *state_url, const char *prefix, const char *group,
                               const char *sink, char *err, size_t errlen);
void kf_eos_marks_destroy(kf_eos_marks *m);

/* Times the completion round trips (kf_eos_state_set_metrics); `metrics` is
 * borrowed and outlives m, NULL times nothing. */
void kf_eos_marks_set_metrics(kf_eos_marks *m, kf_metrics *metrics);

/* Makes at most ONE kf_eos_state_complete call for outs[0..n) (none when no
 * record qualifies) and sets each output's final status (see above). */
void kf_eos_marks_complete(kf_eos_marks *m, kf_eos_out *outs, size_t n);

#endif /* KF_EOS_MARKS_H */
