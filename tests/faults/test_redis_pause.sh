#!/usr/bin/env bash
# test_redis_pause.sh — the state Redis stalls (a stopped container, a VM
# pause, a long fork). Two workers use scripts/infra.sh's Redis as the state
# Redis and the Redis sink; 30,000 records arrive at 600/s through a 1 ms
# handler to Kafka, Redis and HTTP sinks. Once outputs flow, redis-server is
# SIGSTOPped for ~15 s, then SIGCONT: the kernel keeps accepting connections
# and buffering requests, nothing answers (calls time out), and on SIGCONT
# Redis answers everything queued at once, also the requests the workers
# gave up on.
#
# What must hold: outputs resume after the pause by themselves, the run
# drains, every worker exits 0 on SIGTERM, and the checker (faults_lib.sh)
# finds every record exactly once per sink (FL_MODE=eos) or at least once
# (alo), and exactly the poison records in the on-failure topic.
#
# Stops the Redis of KFLEET_REDIS: run it on infrastructure of its own
# (KF_INFRA_DIR) when other tests share the machine.
#
# Knobs: FL_MODE (eos), FL_RECORDS (30000), FL_RATE (600 records/s),
# FL_WORKERS (2), FL_SLEEP_MS (1), FL_PAUSE_MS (15000), and those of
# faults_lib.sh.
# fault-modes: eos alo
# fault-ci: none
set -euo pipefail
FL_RECORDS=${FL_RECORDS:-30000}
FL_SLEEP_MS=${FL_SLEEP_MS:-1}
FL_WORKERS=${FL_WORKERS:-2}
RATE=${FL_RATE:-600}
PAUSE_MS=${FL_PAUSE_MS:-15000}
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"

fl_setup "redis_pause"
[[ $FL_STATE_REDIS == "$KFLEET_REDIS" ]] || kf_fail "FL_STATE_REDIS must be the Redis this test pauses"
redis_pid=$(kf_redis info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
[[ -n $redis_pid ]] || kf_fail "cannot read the pid of the Redis at $KFLEET_REDIS"
# A Redis left stopped would hang every later test (and this one's clean-up).
kf_on_exit "kill -CONT $redis_pid 2>/dev/null"

fl_produce --rate "$RATE"
fl_start_workers
want=$((FL_RECORDS - FL_RECORDS / FL_POISON))
fl_wait_until 90 "outputs flowing before the pause" fl_outputs_at_least $((want / 8))

before=$(fl_outputs)
kill -STOP "$redis_pid" || kf_fail "cannot SIGSTOP redis-server (pid $redis_pid)"
fl_note "SIGSTOP redis-server (pid $redis_pid) for $PAUSE_MS ms (outputs $before)"
fl_hold "$PAUSE_MS" # the stall: fault timing (nothing may read Redis meanwhile)
kill -CONT "$redis_pid" || kf_fail "cannot SIGCONT redis-server (pid $redis_pid)"
after=$(fl_outputs)
kf_log "SIGCONT redis-server: outputs $before before the pause, $after just after"
fl_wait_until 90 "progress after the pause (outputs were $after)" \
	fl_outputs_at_least $((after + 500 < want ? after + 500 : want))
kf_log "after the pause: outputs $(fl_outputs)"
fl_finish
