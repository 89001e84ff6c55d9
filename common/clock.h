/*
 * Clocks in milliseconds. kf_now_ms (CLOCK_MONOTONIC) is for every deadline,
 * interval and age; kf_wall_ms (CLOCK_REALTIME) only for what leaves the
 * process (timestamps in logs and records), because it jumps with the clock.
 * kf_now_ns is CLOCK_MONOTONIC in nanoseconds, for durations (histograms);
 * it costs a vDSO call (about 20 ns here), so hot paths read it per call or
 * per chunk, not more.
 */
#ifndef KF_CLOCK_H
#define KF_CLOCK_H

#include <stdint.h>

int64_t kf_now_ms(void);
int64_t kf_wall_ms(void);
int64_t kf_now_ns(void);

#endif /* KF_CLOCK_H */
