#!/usr/bin/env bash
# test_dlq.sh — poison records land in the on_failure topic with their
# headers, everything else reaches the sinks exactly once, and retries work.
#
# A. flaky handler: "POISON" -> KF_FAIL, "RETRY" -> KF_RETRY twice then OK;
#    retry.max_attempts 5. 10,000 records, every 100th POISON, every 7th
#    RETRY (POISON wins). Sinks (Kafka, Redis) get every non-poison record
#    exactly once, RETRY ones included; the DLQ holds exactly the poison ones
#    with kfleet.error/.attempts(=1)/.source.topic/.source.partition/
#    .source.offset/.handler.
# B. retry.max_attempts 2 with RETRY records (they would need 3 attempts):
#    they land in the DLQ with kfleet.attempts=2; the others pass.
# C. a retriable sink error: the HTTP receiver answers 500 to its first 20
#    requests; those records are retried (max_attempts 30, more than 20
#    failures can use up) and every record is accepted exactly once. The
#    failures count requests, not time, so the sink's breaker probes fast
#    (20..100 ms): with the default waits (500 ms doubling to 10 s) the probes
#    that use up the 20 failures alone took longer than the wait below.
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

new_names() {
	IT_IN=$(kf_unique "dlq.$1.in")
	IT_OUT=$(kf_unique "dlq.$1.out")
	IT_DLQ=$(kf_unique "dlq.$1.dlq")
	IT_GROUP=$(kf_unique "dlq.$1.group")
	IT_LIST="$IT_PREFIX:$1:results"
	export IT_IN IT_OUT IT_DLQ IT_GROUP IT_LIST
	it_create_topic "$IT_OUT" 8
	it_create_topic "$IT_DLQ" 4
}

# --- A: poison records and records that succeed after retries ------------
N=10000
new_names poison
it_produce -t "$IT_IN" -p 8 -n "$N" -k 100 --poison-every 100 --retry-every 7
it_render dlq.json "$KF_TMP/a.json"
it_start_kfleet poison "$KF_TMP/a.json"
it_verify_until 120 "A: dlq complete" --dlq "$IT_DLQ" --expect "$N" --only-mod 100
it_verify_until 120 "A: kafka sink complete" --kafka "$IT_OUT" --expect "$N" --exclude-mod 100
it_verify_until 60 "A: redis sink complete" --redis-list "$IT_LIST" --expect "$N" --exclude-mod 100
it_stop_kfleet poison 30

it_verify_final "A: kafka sink" --kafka "$IT_OUT" --expect "$N" --exclude-mod 100
it_verify_final "A: redis sink" --redis-list "$IT_LIST" --expect "$N" --exclude-mod 100
it_verify_final "A: dlq" --dlq "$IT_DLQ" --expect "$N" --only-mod 100 --expect-dlq $((N / 100)) \
	--expect-header kfleet.attempts=1 --expect-header "kfleet.source.topic=$IT_IN" --check-source

# --- B: retries exhausted --------------------------------------------------
N=1000
new_names exhausted
it_produce -t "$IT_IN" -p 8 -n "$N" -k 100 --retry-every 10
it_render dlq.json "$KF_TMP/b.json" mappings.0.retry.max_attempts=2
it_start_kfleet exhausted "$KF_TMP/b.json"
it_verify_until 120 "B: dlq complete" --dlq "$IT_DLQ" --expect "$N" --only-mod 10
it_verify_until 60 "B: kafka sink complete" --kafka "$IT_OUT" --expect "$N" --exclude-mod 10
it_verify_until 60 "B: redis sink complete" --redis-list "$IT_LIST" --expect "$N" --exclude-mod 10
it_stop_kfleet exhausted 30

it_verify_final "B: kafka sink" --kafka "$IT_OUT" --expect "$N" --exclude-mod 10
it_verify_final "B: redis sink" --redis-list "$IT_LIST" --expect "$N" --exclude-mod 10
it_verify_final "B: dlq" --dlq "$IT_DLQ" --expect "$N" --only-mod 10 --expect-dlq $((N / 10)) \
	--expect-header kfleet.attempts=2 --expect-header "kfleet.source.topic=$IT_IN" --check-source
# --- C: HTTP 5xx retried ------------------------------------------------------
N=1000
FAILS=20
new_names http
it_produce -t "$IT_IN" -p 8 -n "$N" -k 100
it_start_receiver receiver --fail-first "$FAILS"
it_render dlq.json "$KF_TMP/c.json" mappings.0.retry.max_attempts=30 \
	'mappings.0.sinks=[{"name":"hook","type":"http","url":"http://127.0.0.1:'"$IT_HTTP_PORT"'/c","breaker":{"probe_ms":20,"max_probe_ms":100}}]'
it_start_kfleet http5xx "$KF_TMP/c.json"
it_verify_until 120 "C: http sink complete" --http-log "$IT_HTTP_LOG" --expect "$N"
it_stop_kfleet http5xx 30
it_verify_final "C: http sink (2xx)" --http-log "$IT_HTTP_LOG" --expect "$N"
it_verify_final "C: dlq empty" --dlq "$IT_DLQ" --expect-dlq 0
failed=$(grep -c '"status":500' "$IT_HTTP_LOG" || true)
kf_assert_eq "$FAILS" "$failed" "requests answered 500 (the sink must have sent them)"

kf_pass "poison records dead-lettered with headers; retries succeed or exhaust at max_attempts; HTTP 5xx retried"
