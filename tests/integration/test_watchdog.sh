#!/usr/bin/env bash
# test_watchdog.sh — the stall watchdog names a stall and its cause, counts
# it, and sees it end. An exactly-once mapping (read_committed) is stuck
# behind a transaction a producer opened on its input topic and never
# finishes (kf_produce --hold-transaction, then SIGKILL): kfleet can read
# nothing past the last stable offset, so 4 partitions have lag and nothing
# in flight or done. With stall_timeout_ms 3000 the worker must log
# "stalled" with the cause (an open transaction upstream) within seconds,
# count it in kfleet_stalls_total and kfleet_stalled_partitions, and, once
# the broker aborts the abandoned transaction (transaction.timeout.ms), read
# on: "moves again", the gauge back to 0, and every committed record in the
# Redis sink exactly once (the aborted ones never).
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

N=2000
LATE=500
IT_IN=$(kf_unique wd.in)
IT_OUT=$(kf_unique wd.out)
IT_DLQ=$(kf_unique wd.dlq)
IT_GROUP=$(kf_unique wd.group)
IT_LIST="$IT_PREFIX:results"
export IT_IN IT_OUT IT_DLQ IT_GROUP IT_LIST
IT_METRICS_PORT=$(kf_free_port)

it_create_topic "$IT_IN" 4
it_render scale.json "$KF_TMP/kfleet.json" mappings.0.exactly_once=true \
	mappings.0.stall_timeout_ms=3000 -mappings.0.sinks.2 -mappings.0.sinks.1 \
	-mappings.0.on_failure "metrics={\"listen\": \"127.0.0.1:$IT_METRICS_PORT\"}"
it_produce -t "$IT_IN" -p 4 -n "$N" -k 100

it_start_kfleet w1 "$KF_TMP/kfleet.json"
it_verify_until 60 "the first $N records" --redis-list "$IT_LIST" --expect "$N"

# An upstream producer opens a transaction, writes, and dies without ending
# it; records produced after it wait behind the last stable offset.
kf_start holder "$IT_TOOLS/kf_produce" -t "$IT_IN" -p 4 -n 100 -k 100 -s 900000 \
	--hold-transaction -X "transactional.id=$IT_GROUP-holder" -X transaction.timeout.ms=20000 \
	-X message.timeout.ms=15000
it_wait_until 60 "the upstream transaction to be open" kf_log_has holder 'holding a transaction'
kf_stop holder KILL 10
t_open=$SECONDS
it_produce -t "$IT_IN" -p 4 -n "$LATE" -s "$N" -k 100

it_wait_until 30 "the watchdog to report the stall" kf_log_has w1 'stalled: .*open transaction upstream'
it_wait_until 10 "kfleet_stalls_total >= 1" it_metric_at_least kfleet_stalls_total 1
it_wait_until 10 "kfleet_stalled_partitions >= 1" it_metric_at_least kfleet_stalled_partitions 1
kf_log "reported: $(grep -m1 -o 'stalled: [^"]*' "$KF_TMP/w1.log" | cut -c1-300)"
((SECONDS - t_open < 20)) || it_fail "the stall was reported only after the transaction could have timed out"

# The broker aborts the abandoned transaction; the later records flow.
it_verify_until 90 "the records behind the aborted transaction" --redis-list "$IT_LIST" \
	--expect $((N + LATE))
it_wait_until 30 "the worker to say the partition moves again" kf_log_has w1 'moves again'
it_wait_until 15 "kfleet_stalled_partitions back to 0" it_metric_is kfleet_stalled_partitions 0
it_stop_kfleet w1 30
it_verify_final "redis sink (final): exactly once, no aborted record" --redis-list "$IT_LIST" \
	--expect $((N + LATE))
kf_pass "stall behind an open upstream transaction reported with its cause, counted, and over once it was aborted"
