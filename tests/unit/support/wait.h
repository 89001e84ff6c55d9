/*
 * Waiting in the unit suites: never a bare sleep, always a poll of a
 * condition with a deadline (kf_now_ms, common/clock.h); kf_test_pause_ms is
 * the pause between two polls.
 */
#ifndef KF_TEST_WAIT_H
#define KF_TEST_WAIT_H

/* Sleeps ms milliseconds, resuming after a signal. */
void kf_test_pause_ms(int ms);

#endif
