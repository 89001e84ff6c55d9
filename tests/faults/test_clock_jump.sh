#!/usr/bin/env bash
# test_clock_jump.sh — the workers' wall clock jumps (an NTP step, a VM
# resumed with a stale clock). Two workers run under libfaketime with a
# clock offset they re-read every second from a file; they run FL_RECORDS
# records (30,000, produced over ~30 s) through a 1 ms handler to Kafka,
# Redis and HTTP sinks, and 3-5 s apart the offset steps through CJ_OFFSETS
# (seconds: "+3600 +3000 -600 +0": forward 1 h, back 10 min, back to 10 min
# behind the real time, forward to it again). Only the wall clock
# (CLOCK_REALTIME, time(), gettimeofday) jumps: FAKETIME_DONT_FAKE_MONOTONIC=1
# keeps CLOCK_MONOTONIC real, which is what a clock step does to a machine
# (CJ_FAKE_MONOTONIC=1 fakes it too, which no real clock does). Kafka, Redis
# and the receiver keep the real time. What must hold: the jumps reached the
# workers (their Kafka outputs or log lines carry times 1 h ahead and 10 min
# behind),
# the run drains, the checker (faults_lib.sh) finds every record exactly once
# per sink (eos) or at least once (alo), and only the poison records in the
# on-failure topic.
#
# Timed waits. librdkafka 2.0.2 (Debian's) times its waits with glibc's C11
# cnd_timedwait on CLOCK_REALTIME deadlines it computes with timespec_get or
# gettimeofday. libfaketime fakes those two but not cnd_timedwait, which
# waits on the kernel's real clock: under a lasting offset every librdkafka
# wait would be wrong by the offset (an offset of +1 h makes each idle wait
# last up to an hour), which no real clock does. So the workers also preload
# a small shim (built here with cc) whose cnd_timedwait compares the deadline
# with the faked clock every 50 ms: a wait running when the clock steps back
# by D lasts D longer and one running when it steps forward ends at once,
# exactly as after a real step (librdkafka issue #2145), and waits that start
# after the step are right. CJ_STEP_SHIM=0 leaves it out. kfleet's own timed
# waits are on CLOCK_MONOTONIC, or go through pthread_cond_timedwait, which
# libfaketime converts when the wait starts (a jump during such a wait is not
# seen).
#
# Knobs: FL_MODE (eos), FL_RECORDS (30000), FL_SLEEP_MS (1), FL_WORKERS (2),
# CJ_OFFSETS, CJ_FAKE_MONOTONIC (0), CJ_STEP_SHIM (1), CJ_LIBFAKETIME (the
# libfaketimeMT.so.1 of the Debian package faketime), and those of
# faults_lib.sh.
# fault-modes: eos alo
# fault-ci:
set -euo pipefail
FL_RECORDS=${FL_RECORDS:-30000}
FL_SLEEP_MS=${FL_SLEEP_MS:-1}
FL_WORKERS=${FL_WORKERS:-2}
OFFSETS=${CJ_OFFSETS:-+3600 +3000 -600 +0}
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"

LIB=${CJ_LIBFAKETIME:-$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -n 1)}
[[ -n $LIB && -f $LIB ]] || kf_fail "libfaketime is missing: apt-get install faketime (or set CJ_LIBFAKETIME)"
[[ " ${FL_SINKS:-kafka redis http} " == *" kafka "* ]] ||
	kf_fail "clock_jump reads the Kafka sink's timestamps: keep kafka in FL_SINKS"

fl_setup "clock_jump"
RC=$KF_TMP/faketime.rc
echo "+0" >"$RC"
PRELOAD=$LIB
if [[ ${CJ_STEP_SHIM:-1} == 1 ]]; then
	# librdkafka's C11 waits see a step as after a real one (header).
	cat >"$KF_TMP/step_shim.c" <<'C'
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <threads.h>
#include <time.h>
/* A deadline on the (faked) wall clock, looked at every 50 ms of real time:
 * returning thrd_success is a wake-up, after which the caller looks again. */
int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict abs)
{
    struct timespec now, until;
    clock_gettime(CLOCK_REALTIME, &now);
    long long left = (long long)(abs->tv_sec - now.tv_sec) * 1000000000LL +
                     (abs->tv_nsec - now.tv_nsec);
    if (left <= 0) return thrd_timedout;
    if (left > 50000000LL) left = 50000000LL;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += left / 1000000000LL;
    until.tv_nsec += left % 1000000000LL;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    int r = pthread_cond_clockwait((pthread_cond_t *)c, (pthread_mutex_t *)m, CLOCK_MONOTONIC,
                                   &until);
    return r == 0 || r == ETIMEDOUT ? thrd_success : thrd_error;
}
C
	"${CC:-cc}" -shared -fPIC -O2 -o "$KF_TMP/step_shim.so" "$KF_TMP/step_shim.c" -lpthread ||
		kf_fail "cannot build the clock-step shim (a C compiler is needed; CJ_STEP_SHIM=0 goes without)"
	PRELOAD="$KF_TMP/step_shim.so $LIB" # the shim first: its cnd_timedwait wins
fi
# Not the faketime wrapper: it forks and waits, so the pid kf_start keeps
# would not be kfleet's. env execs, and the process is kfleet under the preload.
PREFIX=(env "LD_PRELOAD=$PRELOAD" "FAKETIME_TIMESTAMP_FILE=$RC" FAKETIME_CACHE_DURATION=1
	"FAKETIME_DONT_FAKE_MONOTONIC=$((${CJ_FAKE_MONOTONIC:-0} ? 0 : 1))")
T0_MS=$(fl_ms)
fl_produce --rate $((FL_RECORDS / 30))
for ((s = 1; s <= FL_WORKERS; s++)); do
	fl_start_worker "$s" "${PREFIX[@]}"
done
fl_wait_until 90 "first outputs" fl_outputs_at_least 1
for off in $OFFSETS; do
	fl_random 3000 5000
	fl_hold "$FL_R" # between jumps: fault timing
	fl_check_workers
	echo "$off" >"$RC.tmp"
	mv "$RC.tmp" "$RC" # whole, so a worker never reads half a line
	fl_note "workers' wall clock offset now ${off} s (outputs $(fl_outputs))"
done
fl_random 3000 5000
fl_hold "$FL_R" # the last offset in force a while: fault timing

# The jumps reached the workers: the wall-clock times they wrote, their Kafka
# outputs' CreateTime (the producer's clock) and their log lines' "ts", span
# the offsets. (Kafka outputs alone may miss an offset: a transaction that
# fails under it is written again under the next.)
{
	kf_consume "$FL_OUT" -f '%T\n'
	for ((s = 1; s <= FL_WORKERS; s++)); do
		cat "$KF_TMP"/w"$s".*.log
	done | python3 -c '
import datetime, json, sys
for line in sys.stdin:
    try:
        ts = json.loads(line)["ts"]
    except (ValueError, KeyError, TypeError):
        continue
    t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    print(int(t.timestamp() * 1000))'
} >"$KF_TMP/wall_ms.txt"
read -r lo hi < <(sort -n "$KF_TMP/wall_ms.txt" | sed -n '1p;$p' | paste -s -d ' ')
kf_log "workers' wall clock seen from $(((lo - T0_MS) / 1000)) s to $(((hi - T0_MS) / 1000)) s of the real start"
max_off=0 min_off=0
for off in $OFFSETS; do
	((off > max_off)) && max_off=$off
	((off < min_off)) && min_off=$off
done
((hi - T0_MS >= max_off * 1000 - 60000)) ||
	kf_fail "nothing the workers wrote carries the +${max_off} s clock: the jump did not reach them"
((lo - T0_MS <= min_off * 1000 + 60000)) ||
	kf_fail "nothing the workers wrote carries the ${min_off} s clock: the jump did not reach them"
fl_finish
