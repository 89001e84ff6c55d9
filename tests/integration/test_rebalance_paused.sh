#!/usr/bin/env bash
# test_rebalance_paused.sh — a worker whose partitions are paused by
# backpressure when a rebalance comes must take up the partitions it gets
# back. librdkafka keeps a partition's pause across a revoke and a new
# assignment; a consumer that forgets that leaves those partitions paused
# for good, assigned with lag and nothing in flight.
#
# Worker 1 runs 4,000 records (4 partitions) through a 10 ms handler on 2
# threads with max_inflight_records 100, so it pauses its partitions within a
# few seconds (never within 2 s of their assignment, see consumer.c). While it is paused, worker 2 joins: the eager rebalance revokes
# everything from worker 1 and gives part of it back. Both must then finish
# every record (at-least-once: duplicates allowed, losses not) within the
# deadline, and exit 0 on SIGTERM.
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

N=8000
IT_IN=$(kf_unique paused.in)
IT_OUT=$(kf_unique paused.out)
IT_DLQ=$(kf_unique paused.dlq)
IT_GROUP=$(kf_unique paused.group)
IT_LIST="$IT_PREFIX:results"
export IT_IN IT_OUT IT_DLQ IT_GROUP IT_LIST

it_create_topic "$IT_OUT" 4
it_create_topic "$IT_IN" 4
it_render scale.json "$KF_TMP/kfleet.json" log.level=debug \
	'mappings.0.handler={"path": "'"$KF_BUILD_DIR"'/handlers/flaky.so", "config": {"sleep_ms": 10}}' \
	'mappings.0.concurrency={"threads": 2, "max_inflight_records": 100}' \
	'mappings.0.batch={"max_records": 50, "window_ms": 10}' mappings.0.stall_timeout_ms=0 \
	-mappings.0.sinks.2
it_produce -t "$IT_IN" -p 4 -n "$N" -k 100

it_start_kfleet w1 "$KF_TMP/kfleet.json"
it_wait_until 60 "worker 1 pauses its partitions (in-flight limit)" \
	kf_log_has w1 'paused [1-9][0-9]* partition'
before=$(it_redis_llen "$IT_LIST")
((before < N / 2)) || it_fail "worker 1 did $before of $N records before the rebalance: too fast to test"
kf_log "worker 1 paused with $before outputs; worker 2 joins"

it_start_kfleet w2 "$KF_TMP/kfleet.json"
it_wait_until 60 "worker 2 gets partitions" kf_log_has w2 'assigned [1-9][0-9]* partition'
it_verify_until 60 "redis sink complete after the rebalance" --redis-list "$IT_LIST" --expect "$N" \
	--allow-duplicates
it_stop_kfleet w2 30
it_stop_kfleet w1 30
it_verify_final "redis sink (final)" --redis-list "$IT_LIST" --expect "$N" --allow-duplicates
kf_pass "a worker paused by backpressure at a rebalance took up the partitions it got back: lost=0"
