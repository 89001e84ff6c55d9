#!/usr/bin/env bash
# test_breaker.sh — a sink that is down for every record opens its circuit
# breaker: the mapping's partitions pause, one record probes the sink at a
# growing interval, no record spends an attempt (retry.max_attempts is 1 and
# there is an on-failure topic: one spent attempt would put a record there),
# and the first probe that gets through closes the breaker and everything is
# delivered. Retries back off 1-4 ms here, so without the breaker the records
# would hit the sink hundreds of times a second.
#
# A. An HTTP endpoint answering 503 to everything (the test receiver's 5xx
#    mode), 5,000 records on 4 partitions; while the breaker is open a second
#    worker joins the group (the revoke must not wait for held records); then
#    the endpoint is back.
# B. A Kafka topic that refuses writes: the sink's topic does not exist and
#    the producer may not create it (allow.auto.create.topics=false: the
#    broker answers UNKNOWN_TOPIC_OR_PARTITION), 2,000 records, then the
#    topic is created. (A topic with min.insync.replicas above its
#    replication factor is no fault here: the broker caps it at the factor.)
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

new_names() {
	IT_IN=$(kf_unique "breaker.$1.in")
	IT_OUT=$(kf_unique "breaker.$1.out")
	IT_DLQ=$(kf_unique "breaker.$1.dlq")
	IT_GROUP=$(kf_unique "breaker.$1.group")
	IT_LIST="$IT_PREFIX:$1:results"
	IT_METRICS_PORT=$(kf_free_port)
	export IT_IN IT_OUT IT_DLQ IT_GROUP IT_LIST IT_METRICS_PORT
	it_create_topic "$IT_DLQ" 4
}

BREAKER='"breaker":{"failures":5,"probe_ms":200,"max_probe_ms":1000}'
RETRY='mappings.0.retry={"max_attempts":1,"backoff_ms":1,"max_backoff_ms":4}'

receiver_mode() {
	curl -sS -m 5 -X POST --data "$1" "http://127.0.0.1:$IT_HTTP_PORT/control" >/dev/null ||
		it_fail "the receiver refused /control $1"
}
receiver_requests() {
	curl -sS -m 5 "http://127.0.0.1:$IT_HTTP_PORT/stats" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])'
}

# held_probes NAME — while the breaker is open, the sink sees nothing but the
# probes: over five more probes, at most one request more than there were
# probes (a probe counted just before the first reading). NAME counts the
# sink's requests.
held_probes() {
	local p1 r1 p2 r2
	p1=$(it_metric kfleet_sink_breaker_probes_total)
	r1=$($1)
	it_wait_until 30 "five more probes" it_metric_at_least kfleet_sink_breaker_probes_total $((p1 + 5))
	r2=$($1)
	p2=$(it_metric kfleet_sink_breaker_probes_total)
	kf_log "while open: $((r2 - r1)) request(s) to the sink for $((p2 - p1)) probe(s)"
	((r2 - r1 <= p2 - p1 + 1)) ||
		it_fail "the sink got $((r2 - r1)) requests during $((p2 - p1)) probes: records ran past the open breaker"
}

# --- A: an HTTP endpoint down ---------------------------------------------
N=5000
new_names http
it_produce -t "$IT_IN" -p 4 -n "$N" -k 100
it_start_receiver hook
receiver_mode '{"mode":"5xx","status":503}'
it_render dlq.json "$KF_TMP/a.json" "$RETRY" \
	'mappings.0.sinks=[{"name":"hook","type":"http","url":"http://127.0.0.1:'"$IT_HTTP_PORT"'/a","timeout_ms":2000,'"$BREAKER"'}]' \
	mappings.0.revoke_timeout_ms=60000 "metrics={\"listen\": \"127.0.0.1:$IT_METRICS_PORT\"}"
it_start_kfleet a "$KF_TMP/a.json"
it_wait_until 60 "the breaker to open" it_metric_at_least kfleet_sink_breaker_opens_total 1
it_wait_until 10 "the breaker's warning" kf_log_has a 'sink hook failed 5 times in a row.*circuit open'
it_wait_until 15 "the 4 partitions paused" it_metric_is kfleet_paused_partitions 4
held_probes receiver_requests
it_wait_until 10 "a failed probe in the log" kf_log_has a 'sink hook failed its probe \(http 503'
[[ $(it_metric kfleet_records_done_total) == 0 ]] || it_fail "records were done while every request failed"

# A rebalance while the breaker is open: the revoked partitions' queued
# records go at once, instead of holding the group's rebalance up for
# revoke_timeout_ms (60 s here) waiting for records that cannot run.
it_render "$KF_TMP/a.json" "$KF_TMP/a2.json" -metrics
t0=$SECONDS
it_start_kfleet a2 "$KF_TMP/a2.json"
it_wait_until 30 "a second worker's assignment (60 s if the revoke waited for the held records)" \
	kf_log_has a2 'assigned [1-9][0-9]* partition'
kf_log "a second worker joined and got partitions in $((SECONDS - t0)) s while the breaker was open"
it_wait_until 10 "the first worker's line about its dropped records" \
	kf_log_has a 'revoked while a sink.s circuit breaker is open: [0-9]+ queued record'

receiver_mode '{"mode":"normal"}'
it_verify_until 120 "A: every record delivered after the outage" --http-log "$IT_HTTP_LOG" --expect "$N" \
	--allow-duplicates
it_wait_until 10 "the breaker to close" it_metric_is kfleet_sink_breaker_state 0
it_wait_until 10 "the breaker's closing line" kf_log_has a 'sink hook answered its probe: circuit closed'
it_wait_until 15 "the partitions resumed" it_metric_is kfleet_paused_partitions 0
kf_assert_eq 1 "$(it_metric kfleet_sink_breaker_opens_total)" "times the breaker opened"
it_stop_kfleet a2 30
it_stop_kfleet a 30
it_verify_final "A: http sink" --http-log "$IT_HTTP_LOG" --expect "$N" --allow-duplicates
it_verify_final "A: no record in the on-failure topic" --dlq "$IT_DLQ" --expect-dlq 0
kf_stop hook

# --- B: a Kafka topic that refuses writes ------------------------------------
N=2000
new_names kafka
it_produce -t "$IT_IN" -p 4 -n "$N" -k 100
it_render dlq.json "$KF_TMP/b.json" "$RETRY" \
	'mappings.0.sinks=[{"name":"out","type":"kafka","topic":"'"$IT_OUT"'",'"$BREAKER"'}]' \
	'mappings.0.producer={"allow.auto.create.topics":"false","topic.metadata.propagation.max.ms":"1000","topic.metadata.refresh.interval.ms":"1000","message.timeout.ms":"3000"}' \
	"metrics={\"listen\": \"127.0.0.1:$IT_METRICS_PORT\"}"
it_start_kfleet b "$KF_TMP/b.json"
it_wait_until 60 "the breaker to open" it_metric_at_least kfleet_sink_breaker_opens_total 1
it_wait_until 10 "the breaker's warning" kf_log_has b 'sink out failed 5 times in a row.*circuit open'
it_wait_until 15 "the 4 partitions paused" it_metric_is kfleet_paused_partitions 4
it_wait_until 30 "a failed probe" kf_log_has b 'sink out failed its probe'
[[ $(it_metric kfleet_records_done_total) == 0 ]] || it_fail "records were done while the topic was missing"

it_create_topic "$IT_OUT" 4
it_verify_until 120 "B: every record in the topic once it exists" --kafka "$IT_OUT" --expect "$N" \
	--allow-duplicates
it_wait_until 10 "the breaker to close" it_metric_is kfleet_sink_breaker_state 0
it_wait_until 15 "the partitions resumed" it_metric_is kfleet_paused_partitions 0
it_stop_kfleet b 30
it_verify_final "B: kafka sink" --kafka "$IT_OUT" --expect "$N" --allow-duplicates
it_verify_final "B: no record in the on-failure topic" --dlq "$IT_DLQ" --expect-dlq 0

kf_pass "a sink down for every record opens its breaker: partitions paused, probes only, no attempt spent, all delivered once it is back"
