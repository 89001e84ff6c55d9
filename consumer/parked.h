/*
 * The consumer's side of on_failure mode "park": each partition's parked
 * keys (dispatcher/parked.h) are read from the parked store (eos/park.h)
 * when the partition is assigned, before any of its records is dispatched
 * (a record of a parked key that ran would break its key's order), and
 * read again every few seconds while any is parked, so that a key `kfleet
 * parked` released or dropped is forgotten and the gauges follow.
 *
 * Consumer thread only.
 */
#ifndef KF_CONSUMER_PARKED_H
#define KF_CONSUMER_PARKED_H

#include "common/metrics.h"
#include "config/config.h"
#include "dispatcher/partition.h"
#include "eos/state.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Reads p's parked keys into p->parked, retrying while the state Redis does
 * not answer. Returns 0, or -1 when *stop was set first. */
int kf_consumer_parked_load(kf_eos_state *s, const kf_mapping_config *m, kf_partition *p,
                            const atomic_int *stop);

/* Reads again the partitions that have parked keys (due every 5 s: *next is
 * the next time), and sets the parked gauges over all of parts. */
void kf_consumer_parked_refresh(kf_eos_state *s, const kf_mapping_config *m, kf_partition **parts,
                                size_t n, kf_metrics *metrics, int64_t now, int64_t *next);

#endif
