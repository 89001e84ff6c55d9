/*
 * A redriven record's first identity. `kfleet redrive` reads dead letters
 * back from the on-failure topic, and each one runs through the handler and
 * the sinks as the record it was before it failed: the handler sees its
 * source topic, partition and offset and its headers without the kfleet.*
 * ones, HTTP receivers get the Idempotency-Keys of its first run, and the
 * sinks its effect had reached then (kfleet.sinks.done) are skipped. The
 * record in flight keeps the dead letter's own coordinates for all that
 * Kafka and the exactly-once state key on (offsets, marks, the crash
 * ledger).
 *
 * Ownership: the kf_rec owns its origin and frees it with itself
 * (kf_rec_free); the view's key, value and header values point into the
 * record's buffer, so the origin never outlives the record.
 */
#ifndef KF_ORIGIN_H
#define KF_ORIGIN_H

#include "dispatcher/dead_letter.h"
#include "kfleet/handler.h"

#include <stddef.h>
#include <stdint.h>

typedef struct kf_origin {
    kf_record view;     /* what the handler sees instead of the dead letter */
    char *topic;        /* view.topic (owned) */
    kf_header *headers; /* view.headers (owned array) */
    int prior_attempts; /* attempts before this redrive (kfleet.attempts) */
    uint32_t done;      /* sinks (bit = index) its effect had reached */
} kf_origin;

/* The origin of the dead letter `dl` (a record's view) that `src` parsed;
 * `sinks` names the mapping's sinks in order (at most 32 are tracked).
 * NULL when out of memory. */
kf_origin *kf_origin_new(const kf_record *dl, const kf_dead_letter_source *src,
                         const char *const *sinks, size_t sink_count);

/* Accepts NULL. */
void kf_origin_free(kf_origin *o);

#endif
