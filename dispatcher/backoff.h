/*
 * Retry backoff: exponential with jitter. For attempt n (1 = the first retry)
 * the ceiling is min(max_ms, base_ms * 2^(n-1)); the delay is drawn uniformly
 * from [ceiling/2, ceiling] ("equal jitter"), so retries of many records spread
 * out yet never come back sooner than half the ceiling.
 */
#ifndef KF_BACKOFF_H
#define KF_BACKOFF_H

#include <stdint.h>

/* `rnd` is any 64-bit random value (tests pass fixed ones). */
int64_t kf_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, uint64_t rnd);

/* A thread-safe cheap random source for kf_backoff_ms. */
uint64_t kf_backoff_random(void);

#endif
