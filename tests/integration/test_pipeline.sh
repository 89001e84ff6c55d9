#!/usr/bin/env bash
# test_pipeline.sh — 50,000 records over 8 partitions go through the echo
# handler (ordering "key") to a Kafka, a Redis (RPUSH), an HTTP (the test
# receiver) and a stdout sink; when nothing fails, each sink holds every
# record exactly once. Prints "throughput records_per_s=<x>" (first output to
# last, measured at the HTTP receiver) for the issue's note.
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

N=${IT_PIPELINE_RECORDS:-50000}
IT_IN=$(kf_unique pipe.in)
IT_OUT=$(kf_unique pipe.out)
IT_DLQ=$(kf_unique pipe.dlq)
IT_GROUP=$(kf_unique pipe.group)
IT_LIST="$IT_PREFIX:results"
export IT_IN IT_OUT IT_DLQ IT_GROUP IT_LIST

it_create_topic "$IT_OUT" 8
it_create_topic "$IT_DLQ" 1
it_produce -t "$IT_IN" -p 8 -n "$N" -k 100 --value-size 100
it_start_receiver receiver
it_render pipeline.json "$KF_TMP/kfleet.json"

t0=$(date +%s%3N)
it_start_kfleet kfleet "$KF_TMP/kfleet.json"

# Wait until every sink holds everything (fails early on a duplicate).
it_verify_until 180 "redis sink" --redis-list "$IT_LIST" --expect "$N"
it_verify_until 60 "kafka sink" --kafka "$IT_OUT" --expect "$N"
it_verify_until 60 "http sink" --http-log "$IT_HTTP_LOG" --expect "$N"
it_verify_until 60 "stdout sink" --jsonl "$KF_TMP/kfleet.out" --sink log --expect "$N"
wall_ms=$(($(date +%s%3N) - t0))

it_stop_kfleet kfleet 30

# Nothing can arrive any more: each sink exactly once, and nothing dead-lettered.
it_verify_final "redis sink (final)" --redis-list "$IT_LIST" --expect "$N" --check-key-order
it_verify_final "kafka sink (final)" --kafka "$IT_OUT" --expect "$N" --check-key-order
kafka_span=$(($(it_field last_ts_ms) - $(it_field first_ts_ms)))
it_verify_final "http sink (final)" --http-log "$IT_HTTP_LOG" --expect "$N" --check-key-order
http_first=$(it_field first_ts_ms)
http_last=$(it_field last_ts_ms)
it_verify_final "stdout sink (final)" --jsonl "$KF_TMP/kfleet.out" --sink log --expect "$N" \
	--check-key-order
it_verify_final "dlq (empty)" --dlq "$IT_DLQ" --expect-dlq 0

stats=$(python3 -c 'import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
	"http://127.0.0.1:$IT_HTTP_PORT/stats")
kf_log "receiver stats: $stats"
dup_keys=$(python3 -c 'import json,sys;print(json.loads(sys.argv[1])["duplicate_keys"])' "$stats")
kf_assert_eq 0 "$dup_keys" "requests repeating an Idempotency-Key"

span=$((http_last - http_first))
((span > 0)) || span=1
rate=$(awk -v n="$N" -v ms="$span" 'BEGIN { printf "%.0f", n * 1000 / ms }')
wall_rate=$(awk -v n="$N" -v ms="$wall_ms" 'BEGIN { printf "%.0f", n * 1000 / ms }')
echo "throughput records_per_s=$rate first_to_last_output_ms=$span kafka_output_span_ms=$kafka_span wall_ms=$wall_ms wall_records_per_s=$wall_rate records=$N sinks=4"
kf_pass "$N records, each sink exactly once"
