#!/usr/bin/env bash
# test_eos_pipeline.sh — exactly_once: true end to end on the real broker and
# the real Redis. 50,000 records over 8 partitions go through the echo
# handler (ordering "key") to a Kafka sink (transactional; read back with
# read_committed), a Redis sink (RPUSH on the state Redis: writes and marks
# in one script) and an HTTP sink (the test receiver): each sink holds every
# record exactly once, in key order, and the receiver never sees an
# Idempotency-Key twice. Prints "throughput records_per_s=<x>" measured like
# test_pipeline.sh (first to last output at the HTTP receiver), so EOS can be
# compared with at-least-once.
#
# Then SIGTERM (graceful: commit through the transaction, trim), a new
# worker on the same group, 10,000 more records: all 60,000 still exactly
# once everywhere (the restart replays nothing and loses nothing), and the
# new worker took every partition with a higher epoch.
#
# Last, unless IT_EOS_BASELINE=0: the same 50,000 records, same config and
# sinks with exactly_once false, printed as "baseline_at_least_once
# records_per_s=<x>": the EOS cost measured on the same machine, same load.
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

N=${IT_EOS_RECORDS:-50000}
M=${IT_EOS_MORE_RECORDS:-10000}
IT_IN=$(kf_unique eos.in)
IT_OUT=$(kf_unique eos.out)
IT_GROUP=$(kf_unique eos.group)
IT_LIST="$IT_PREFIX:results"
export IT_IN IT_OUT IT_GROUP IT_LIST

# receiver_stat FIELD — one counter of the receiver's GET /stats.
receiver_stat() {
	python3 -c 'import json,sys,urllib.request
print(json.load(urllib.request.urlopen(sys.argv[1]))[sys.argv[2]])' \
		"http://127.0.0.1:$IT_HTTP_PORT/stats" "$1"
}

# verify_all WHAT COUNT [kf_verify options] — each sink holds ids 0..COUNT-1
# exactly once (one kf_verify run each: the writers have stopped).
verify_all() {
	local what=$1 count=$2
	shift 2
	it_verify_final "$what: redis sink" --redis-list "$IT_LIST" --expect "$count" "$@"
	it_verify_final "$what: kafka sink (read_committed)" --kafka "$IT_OUT" --expect "$count" "$@"
	it_verify_final "$what: http sink" --http-log "$IT_HTTP_LOG" --expect "$count" "$@"
	kf_assert_eq 0 "$(receiver_stat duplicate_keys)" "$what: requests repeating an Idempotency-Key"
	kf_assert_eq "$count" "$(receiver_stat effects)" "$what: effects at the receiver"
}

it_create_topic "$IT_OUT" 8
it_produce -t "$IT_IN" -p 8 -n "$N" -k 100 --value-size 100
it_start_receiver receiver
it_render eos_pipeline.json "$KF_TMP/kfleet.json"

# --- 1: 50,000 records, throughput -----------------------------------------
t0=$(date +%s%3N)
it_start_kfleet w1 "$KF_TMP/kfleet.json"
it_verify_until 120 "redis sink" --redis-list "$IT_LIST" --expect "$N"
it_verify_until 60 "kafka sink" --kafka "$IT_OUT" --expect "$N"
it_verify_until 60 "http sink" --http-log "$IT_HTTP_LOG" --expect "$N"
wall_ms=$(($(date +%s%3N) - t0))
it_verify_final "http sink (timing)" --http-log "$IT_HTTP_LOG" --expect "$N"
http_first=$(it_field first_ts_ms)
http_last=$(it_field last_ts_ms)
it_verify_final "kafka sink (timing)" --kafka "$IT_OUT" --expect "$N"
kafka_span=$(($(it_field last_ts_ms) - $(it_field first_ts_ms)))

kf_log_has w1 'epoch [0-9]+' || it_fail "w1 logged no partition epoch: is exactly_once on?"
it_stop_kfleet w1 30
verify_all "after SIGTERM" "$N" --check-key-order

span=$((http_last - http_first))
((span > 0)) || span=1
rate=$(awk -v n="$N" -v ms="$span" 'BEGIN { printf "%.0f", n * 1000 / ms }')
wall_rate=$(awk -v n="$N" -v ms="$wall_ms" 'BEGIN { printf "%.0f", n * 1000 / ms }')
echo "throughput records_per_s=$rate first_to_last_output_ms=$span kafka_output_span_ms=$kafka_span wall_ms=$wall_ms wall_records_per_s=$wall_rate records=$N sinks=3 exactly_once=true"

# --- 2: restart on the same group, 10,000 more -------------------------------
it_start_kfleet w2 "$KF_TMP/kfleet.json"
it_produce -t "$IT_IN" -p 8 -n "$M" -s "$N" -k 100 --value-size 100
total=$((N + M))
it_verify_until 90 "restart: redis sink" --redis-list "$IT_LIST" --expect "$total"
it_verify_until 60 "restart: kafka sink" --kafka "$IT_OUT" --expect "$total"
it_verify_until 60 "restart: http sink" --http-log "$IT_HTTP_LOG" --expect "$total"
it_stop_kfleet w2 30
verify_all "after the restart" "$total" --check-key-order

# The second owner fenced the first: every partition got epoch >= 2.
epochs=$(grep -oE '\[[0-9]+\] epoch [0-9]+' "$KF_TMP/w2.log" | sort -u || true)
[[ -n $epochs ]] || it_fail "w2 logged no partition assignment with an epoch"
low=$(awk '$3 < 2' <<<"$epochs" | head -3)
[[ -z $low ]] || it_fail "w2 took partitions with epoch < 2 (no fencing of w1): $low"
kf_log "w2 epochs: $(tr '\n' ' ' <<<"$epochs")"

# --- baseline: the same pipeline at-least-once ----------------------------------
if [[ ${IT_EOS_BASELINE:-1} != 0 ]]; then
	IT_IN=$(kf_unique alo.in)
	IT_OUT=$(kf_unique alo.out)
	IT_GROUP=$(kf_unique alo.group)
	IT_LIST="$IT_PREFIX:alo:results"
	export IT_IN IT_OUT IT_GROUP IT_LIST
	it_create_topic "$IT_OUT" 8
	it_produce -t "$IT_IN" -p 8 -n "$N" -k 100 --value-size 100
	it_start_receiver receiver_alo
	it_render eos_pipeline.json "$KF_TMP/alo.json" mappings.0.exactly_once=false
	it_start_kfleet alo "$KF_TMP/alo.json"
	it_verify_until 120 "baseline: redis sink" --redis-list "$IT_LIST" --expect "$N"
	it_verify_until 60 "baseline: kafka sink" --kafka "$IT_OUT" --expect "$N"
	it_verify_until 60 "baseline: http sink" --http-log "$IT_HTTP_LOG" --expect "$N"
	it_stop_kfleet alo 30
	alo_span=$(($(it_field last_ts_ms) - $(it_field first_ts_ms)))
	((alo_span > 0)) || alo_span=1
	alo_rate=$(awk -v n="$N" -v ms="$alo_span" 'BEGIN { printf "%.0f", n * 1000 / ms }')
	echo "baseline_at_least_once records_per_s=$alo_rate first_to_last_output_ms=$alo_span records=$N sinks=3 exactly_once=false eos_vs_alo=$(awk -v a="$rate" -v b="$alo_rate" 'BEGIN { printf "%.2f", a / b }')"
fi

kf_pass "$total records (EOS, restart after SIGTERM), each sink exactly once; $rate records/s"
