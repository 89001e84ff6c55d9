#!/usr/bin/env bash
# test_crash_open_txn.sh — a process that dies inside a transaction leaves it
# open; its successor aborts it at once instead of waiting for
# transaction.timeout.ms. The worker's transactional producer reaches the
# broker through the fault proxy, with transaction.timeout.ms = 60000. The
# proxy holds the next EndTxn request (Kafka API 26) for 5 s, and the worker
# is SIGKILLed while it is held: its transaction stays open on the broker
# (Ongoing, with outputs and offsets). A new worker (a new process, so a new
# transactional.id) takes the partitions: the exactly-once state in Redis
# names the old producer as a holder that never released them, so the new
# worker fences it (InitProducerId with its id) and the transaction is
# aborted at once. Without that, the new owner's offset fetch and every
# read_committed reader of the outputs would wait up to 60 s.
#
# Passes when the new worker logs the fence, the run drains within 30 s of
# the new worker's start (half of transaction.timeout.ms), and every record
# is exactly once in every sink.
#
# Knobs: FL_RECORDS (20000), and those of faults_lib.sh.
# fault-modes: eos
# fault-ci: eos
set -euo pipefail
FL_RECORDS=${FL_RECORDS:-20000}
FL_WORKERS=1
FL_DRAIN_S=${FL_DRAIN_S:-30}
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"
# shellcheck source=tests/faults/proxy_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/proxy_lib.sh"
bpx_start

FL_RENDER_ARGS="mappings.0.producer={\"bootstrap.servers\":\"$KFLEET_BROKERS_VIA_PROXY\",\"transaction.timeout.ms\":\"60000\"}"
fl_setup "crash_open_txn"
fl_produce --rate 2000
fl_start_workers

bpx_trigger 26 request 5000
fl_wait_until 60 "an EndTxn to be held" bpx_fired_at_least 1
fl_kill_only() {
	local name=${FL_WORKER[1]}
	IT_EXPECT_EXIT[$name]=1
	kill -KILL "${KF_PID[$name]}"
	kf_wait_exit "$name" 10
}
fl_kill_only
fl_note "SIGKILL ${FL_WORKER[1]} with its commit held (outputs $(fl_outputs))"
fl_wait_until 30 "the proxy back to pass" bpx_mode_is pass
fl_start_worker 1
fl_wait_drained
[[ $FL_DRAINED == yes ]] ||
	kf_fail "not drained within ${FL_DRAIN_S}s of the new worker's start: the dead process's transaction was left to transaction.timeout.ms"
kf_log_has "${FL_WORKER[1]}" "fenced the previous owner's producer" ||
	kf_fail "the new worker did not fence the dead one's producer"
fl_finish
