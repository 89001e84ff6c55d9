/*
 * The fleet: every mapping of one config, started together, stopped together,
 * and the signal handling of the daemon around them.
 *
 * Signals: kf_fleet_block_signals() must run before any thread starts, so
 * that SIGINT/SIGTERM reach only kf_fleet_wait's sigtimedwait. The first one
 * starts a graceful shutdown (stop fetching, finish in-flight records, flush
 * producers, commit); a second one exits at once with status 1, committing
 * nothing more.
 */
#ifndef KF_FLEET_H
#define KF_FLEET_H

#include "config/config.h"
#include "src/mapping.h"

#include <stdint.h>

typedef struct kf_fleet kf_fleet;

typedef struct kf_totals {
    uint64_t in, done, filtered, failed, retries, outputs;
    int64_t inflight;
} kf_totals;

void kf_fleet_block_signals(void);

kf_fleet *kf_fleet_start(const kf_config *cfg, char *err, size_t errlen);

size_t kf_fleet_count(const kf_fleet *f);
kf_mapping *kf_fleet_mapping(kf_fleet *f, size_t i);
void kf_fleet_totals(kf_fleet *f, kf_totals *t);

/* Returns when a signal asked to stop, or when *done (may be NULL) becomes
 * non-zero. Calls tick every second (may be NULL). */
void kf_fleet_wait(kf_fleet *f, const volatile int *done, void (*tick)(kf_fleet *, void *),
                   void *arg);

/* Graceful shutdown of every mapping, bounded by shutdown_timeout_ms; a
 * second signal during it exits the process at once. Frees the fleet.
 * Returns 0 when everything in flight finished. */
int kf_fleet_finish(kf_fleet *f);

#endif
