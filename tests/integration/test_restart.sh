#!/usr/bin/env bash
# test_restart.sh — SIGTERM mid-stream drains gracefully and a restart loses
# nothing: 30,000 records arrive at 6,000/s while kfleet runs; once outputs
# appear kfleet gets SIGTERM and must exit 0 within 30 s; a second kfleet in
# the same group finishes the job. A graceful stop commits what it finished,
# so the sinks (Redis RPUSH, Kafka) must hold every record exactly once, and
# the running second kfleet commits to the end without being stopped.
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

N=30000
IT_IN=$(kf_unique restart.in)
IT_OUT=$(kf_unique restart.out)
IT_DLQ=$(kf_unique restart.dlq)
IT_GROUP=$(kf_unique restart.group)
IT_LIST="$IT_PREFIX:results"
export IT_IN IT_OUT IT_DLQ IT_GROUP IT_LIST

it_create_topic "$IT_OUT" 8
it_create_topic "$IT_IN" 8
it_render restart.json "$KF_TMP/kfleet.json"

kf_start producer "$IT_TOOLS/kf_produce" -t "$IT_IN" -p 8 -n "$N" -k 100 --rate 6000
it_start_kfleet first "$KF_TMP/kfleet.json"
it_wait_until 90 "first outputs in redis" it_llen_at_least "$IT_LIST" 3000

it_stop_kfleet first 30
at_stop=$(it_redis_llen "$IT_LIST")
kf_log "outputs when the first run stopped: $at_stop of $N"
((at_stop < N)) || kf_log "warning: the first run finished everything before SIGTERM; the stop was not mid-stream"

# What the first run left must already be duplicate-free.
# (kf_verify: 0 = complete, 3 = only incomplete, anything else is wrong.)
rc=0
it_verify --redis-list "$IT_LIST" --expect "$N" || rc=$?
((rc == 0 || rc == 3)) || it_fail "after the graceful stop, redis: $IT_LAST_VERIFY"
kf_log "after the graceful stop, redis: $IT_LAST_VERIFY"

it_start_kfleet second "$KF_TMP/kfleet.json"
kf_wait_exit producer 120
kf_assert_eq 0 "$KF_STATUS" "kf_produce exit status"
it_verify_until 120 "redis sink complete" --redis-list "$IT_LIST" --expect "$N"
it_verify_until 60 "kafka sink complete" --kafka "$IT_OUT" --expect "$N"
# The periodic commit is asynchronous (its result comes back on its own
# queue): while the second run still runs, the group's committed offsets must
# reach the end. A commit result never served would stall them at the
# first run's.
"$IT_TOOLS/bench_kafka" watch -b "$KFLEET_BROKERS" -t "$IT_IN" -g "$IT_GROUP" -n "$N" \
	--interval-ms 100 --timeout 30 >&2 ||
	it_fail "the running consumer's commits did not reach offset $N within 30 s"
it_stop_kfleet second 30

it_verify_final "redis sink (final)" --redis-list "$IT_LIST" --expect "$N"
it_verify_final "kafka sink (final)" --kafka "$IT_OUT" --expect "$N"
kf_pass "SIGTERM at $at_stop/$N outputs, exit 0, restart: nothing lost, nothing twice"
