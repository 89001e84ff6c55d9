#!/usr/bin/env bash
# test_bisect.sh — retry.bisect on the real broker and Redis, exactly-once: a
# batch handler that fails a whole call when one of its records is bad
# (tests/unit/fixtures/all_or_nothing.c: KF_FAIL for every record of a call
# that holds a "POISON" value). 5,000 records, every 100th poison, batches of
# up to 250. With bisect each failing call is halved down to the poison
# record: exactly the 50 poison records reach the on-failure topic (one
# attempt each, headers pointing at their source), every other record
# reaches the Kafka and Redis sinks exactly once. Without bisect every record
# that shared a call with a poison record would be dead-lettered with it.
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

N=5000
IT_IN=$(kf_unique bisect.in)
IT_OUT=$(kf_unique bisect.out)
IT_DLQ=$(kf_unique bisect.dlq)
IT_GROUP=$(kf_unique bisect.group)
IT_LIST="$IT_PREFIX:results"
IT_METRICS_PORT=$(kf_free_port)
export IT_IN IT_OUT IT_DLQ IT_GROUP IT_LIST IT_METRICS_PORT
it_create_topic "$IT_OUT" 4
it_create_topic "$IT_DLQ" 4
it_produce -t "$IT_IN" -p 4 -n "$N" -k 100 --poison-every 100

it_render dlq.json "$KF_TMP/kfleet.json" mappings.0.exactly_once=true \
	"mappings.0.handler={\"path\": \"$KF_BUILD_DIR/fixtures/all_or_nothing.so\"}" \
	'mappings.0.batch={"max_records": 250, "window_ms": 20}' \
	'mappings.0.retry={"max_attempts": 3, "backoff_ms": 20, "max_backoff_ms": 200, "bisect": true}' \
	"metrics={\"listen\": \"127.0.0.1:$IT_METRICS_PORT\"}"
it_start_kfleet w1 "$KF_TMP/kfleet.json"
it_verify_until 120 "the poison records in the on-failure topic" --dlq "$IT_DLQ" --expect "$N" --only-mod 100
it_verify_until 120 "kafka sink complete" --kafka "$IT_OUT" --expect "$N" --exclude-mod 100
it_verify_until 60 "redis sink complete" --redis-list "$IT_LIST" --expect "$N" --exclude-mod 100
splits=$(it_metric kfleet_batch_bisections_total)
failed=$(it_metric kfleet_records_failed_total)
kf_log "bisections: $splits, records dead-lettered: $failed"
((splits >= 1)) || it_fail "no batch call was bisected"
kf_assert_eq $((N / 100)) "$failed" "records sent to the on-failure topic"
it_stop_kfleet w1 30

it_verify_final "kafka sink" --kafka "$IT_OUT" --expect "$N" --exclude-mod 100
it_verify_final "redis sink" --redis-list "$IT_LIST" --expect "$N" --exclude-mod 100
it_verify_final "dlq: the poison records only" --dlq "$IT_DLQ" --expect "$N" --only-mod 100 \
	--expect-dlq $((N / 100)) --expect-header kfleet.attempts=1 \
	--expect-header "kfleet.source.topic=$IT_IN" --check-source
kf_pass "bisect: $splits split(s) left exactly the $((N / 100)) poison records in the on-failure topic"
