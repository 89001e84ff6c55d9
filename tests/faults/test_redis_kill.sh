#!/usr/bin/env bash
# test_redis_kill.sh — the state Redis crashes and comes back. Two workers
# use scripts/infra.sh's Redis (appendonly yes; this test sets appendfsync
# always with CONFIG SET and puts the old value back at exit) as the state
# Redis and the Redis sink; 30,000 records arrive at 600/s through a 1 ms
# handler to Kafka, Redis and HTTP sinks. Once outputs flow, redis-server is
# SIGKILLed (scripts/infra.sh redis-kill), left down 2-4 s, and started again
# on the same port and data (redis-start, appendfsync always), twice: the
# workers see refused connections, then a Redis that loads its AOF (LOADING)
# and holds exactly what it acknowledged.
#
# What must hold: outputs resume after each restart by themselves, the run
# drains, every worker exits 0 on SIGTERM, and the checker (faults_lib.sh)
# finds every record exactly once per sink (FL_MODE=eos) or at least once
# (alo), and exactly the poison records in the on-failure topic.
#
# Needs KFLEET_REDIS to be scripts/infra.sh's Redis (the kill goes through
# infra.sh): run it on infrastructure of its own (KF_INFRA_DIR) when other
# tests share the machine.
#
# Knobs: FL_MODE (eos), FL_RECORDS (30000), FL_RATE (600 records/s),
# FL_WORKERS (2), FL_SLEEP_MS (1), FL_REDIS_KILLS (2), and those of
# faults_lib.sh.
# fault-modes: eos alo
# fault-ci: none
set -euo pipefail
FL_RECORDS=${FL_RECORDS:-30000}
FL_SLEEP_MS=${FL_SLEEP_MS:-1}
FL_WORKERS=${FL_WORKERS:-2}
RATE=${FL_RATE:-600}
KILLS=${FL_REDIS_KILLS:-2}
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"

redis_config() { kf_redis config get "$1" 2>/dev/null | sed -n 2p; }

# redis_start — infra.sh redis-start with appendfsync always, tried up to 8
# times: infra.sh can lose track of a Redis that has not retitled its
# process yet (see tests/chaos/chaos_lib.sh, ch_redis_start); such an
# orphan is stopped by its pid before the next try.
redis_start() {
	local attempt pid
	for ((attempt = 1; attempt <= 8; attempt++)); do
		KF_REDIS_APPENDFSYNC=always "$FL_INFRA" redis-start 2>>"$KF_TMP/infra.log" && return 0
		kf_log "infra.sh redis-start failed (attempt $attempt; $KF_TMP/infra.log)"
		pid=$({ kf_redis info server 2>/dev/null || true; } | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
		if [[ -n $pid ]]; then
			kill -TERM "$pid" 2>/dev/null || true
			kf_wait_for 30 "the untracked Redis (pid $pid) to exit" redis_gone "$pid"
		fi
	done
	kf_fail "infra.sh redis-start failed 8 times (see $KF_TMP/infra.log)"
}
redis_gone() { ! kill -0 "$1" 2>/dev/null && ! kf_redis ping >/dev/null 2>&1; }

# At exit: the Redis up again (if the test died while it was down) with its
# original appendfsync.
restore_redis() {
	"$FL_INFRA" status >/dev/null 2>&1 ||
		(KF_REDIS_APPENDFSYNC=$ORIG_FSYNC "$FL_INFRA" redis-start 2>>"$KF_TMP/infra.log") ||
		kf_log "could not restart the Redis: run scripts/infra.sh up"
	kf_redis config set appendfsync "$ORIG_FSYNC" >/dev/null 2>&1
}

fl_setup "redis_kill"
infra_port=$("$FL_INFRA" env 2>/dev/null | sed -n 's/^KFLEET_REDIS_PORT=//p')
[[ -n $infra_port && $infra_port == "$KFLEET_REDIS_PORT" ]] ||
	kf_fail "KFLEET_REDIS (port $KFLEET_REDIS_PORT) is not scripts/infra.sh's Redis (port ${infra_port:-none}; KF_INFRA_DIR=${KF_INFRA_DIR:-default})"
[[ $FL_STATE_REDIS == "$KFLEET_REDIS" ]] || kf_fail "FL_STATE_REDIS must be the Redis this test kills"
[[ $(redis_config appendonly) == yes ]] || kf_fail "the state Redis must run with appendonly yes"
ORIG_FSYNC=$(redis_config appendfsync)
[[ -n $ORIG_FSYNC ]] || kf_fail "cannot read the Redis appendfsync setting"
kf_on_exit restore_redis
kf_redis config set appendfsync always >/dev/null || kf_fail "CONFIG SET appendfsync always failed"
kf_log "redis: appendonly yes, appendfsync always (was $ORIG_FSYNC; restored at exit)"

fl_produce --rate "$RATE"
fl_start_workers
want=$((FL_RECORDS - FL_RECORDS / FL_POISON))
fl_wait_until 90 "outputs flowing before the first kill" fl_outputs_at_least $((want / 8))

for ((i = 1; i <= KILLS; i++)); do
	before=$(fl_outputs)
	"$FL_INFRA" redis-kill 2>>"$KF_TMP/infra.log" || kf_fail "infra.sh redis-kill failed"
	fl_random 2000 4000
	fl_note "SIGKILL redis-server (outputs $before), down for $FL_R ms"
	fl_hold "$FL_R" # the outage: fault timing
	t0=$(fl_ms)
	redis_start
	kf_assert_eq always "$(redis_config appendfsync)" "appendfsync after the Redis restart"
	after=$(fl_outputs)
	kf_log "redis-server back in $(($(fl_ms) - t0)) ms (outputs after the AOF load: $after, before the kill: $before)"
	fl_wait_until 90 "progress after Redis restart $i (outputs were $after)" \
		fl_outputs_at_least $((after + 500 < want ? after + 500 : want))
	kf_log "restart $i: outputs $(fl_outputs) $(($(fl_ms) - t0)) ms after the restart began"
	if ((i < KILLS)); then
		fl_random 3000 6000
		fl_hold "$FL_R" # running between faults: fault timing
	fi
done
fl_finish
