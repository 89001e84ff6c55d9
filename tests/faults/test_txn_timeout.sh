#!/usr/bin/env bash
# test_txn_timeout.sh — a transaction commit that times out is fatal for its
# producer. The worker's transactional producer (and only it) reaches the
# broker through the project's fault proxy (the broker's PROXIED listener,
# scripts/infra.sh); its calls may take transaction.timeout.ms = 4000. The
# proxy is armed to black-hole the connections for 8 s on the next EndTxn
# request (Kafka API 26), twice:
#   1. "response": the commit reaches the broker and takes effect, its answer
#      is held: commit_transaction times out with the transaction COMMITTED;
#   2. "request": the commit itself is held: it times out with the
#      transaction NOT committed.
# librdkafka 2.0.2 would retry that EndTxn under the same epoch (the pattern
# that can commit or abort a later transaction without KIP-890). kfleet
# must instead replace the producer (a new epoch), rewind the transaction's
# partitions to their committed offsets, and go on: every record exactly
# once in the Kafka, Redis and HTTP sinks and exactly the poison records in
# the dead-letter topic, in both cases, and kfleet_rewinds_total >= 2.
#
# Knobs: FL_RECORDS (30000), and those of faults_lib.sh.
# fault-modes: eos
# fault-ci: eos
set -euo pipefail
FL_RECORDS=${FL_RECORDS:-30000}
FL_WORKERS=1
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"
# shellcheck source=tests/faults/proxy_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/proxy_lib.sh"
bpx_start

FL_RENDER_ARGS="mappings.0.producer={\"bootstrap.servers\":\"$KFLEET_BROKERS_VIA_PROXY\",\"transaction.timeout.ms\":\"4000\"}"
fl_setup "txn_timeout"
fl_produce --rate 1500
fl_start_workers

rewinds() {
	curl -s -m 5 "http://127.0.0.1:${FL_METRICS[1]}/metrics" |
		awk '$1 ~ /^kfleet_rewinds_total\{/ {print $2}'
}
rewinds_at_least() { local v; v=$(rewinds); [[ -n $v ]] && ((v >= $1)); }

for hold in response request; do
	fired=$(bpx_stat triggers_fired)
	bpx_trigger 26 "$hold" 8000
	fl_wait_until 60 "an EndTxn to fire the trigger ($hold held)" \
		bpx_fired_at_least $((fired + 1))
	fl_note "EndTxn $hold held for 8 s (outputs $(fl_outputs))"
	want=$((${want:-0} + 1))
	fl_wait_until 60 "kfleet_rewinds_total >= $want" rewinds_at_least "$want"
	fl_wait_until 30 "the proxy back to pass" bpx_mode_is pass
	before=$(fl_outputs)
	fl_wait_until 60 "progress after the rewind (outputs were $before)" \
		fl_outputs_at_least $((before + 100 < FL_RECORDS - FL_RECORDS / FL_POISON ? before + 100 : FL_RECORDS - FL_RECORDS / FL_POISON))
done
grep -q 'outcome unknown' "$KF_TMP/${FL_WORKER[1]}.log" || kf_fail "no 'outcome unknown' line in the worker log"
grep -q 'taken anew after a transaction of unknown outcome' "$KF_TMP/${FL_WORKER[1]}.log" ||
	kf_fail "no partition was taken anew after the unknown outcome"
fl_finish
