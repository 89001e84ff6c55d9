#!/usr/bin/env bash
# test_scale.sh — workers joining and leaving one consumer group lose
# nothing. 60,000 records arrive at 3,000/s. Worker 1 starts; once it makes
# progress workers 2 and 3 join (same config, same group); once both have
# processed records, worker 2 and then worker 3 get SIGTERM (each must exit 0
# within 30 s); worker 1 finishes. At the end the Redis and Kafka sinks hold
# every record (lost=0). Duplicates are allowed (at-least-once across
# rebalances) but reported.
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

N=60000
IT_IN=$(kf_unique scale.in)
IT_OUT=$(kf_unique scale.out)
IT_DLQ=$(kf_unique scale.dlq)
IT_GROUP=$(kf_unique scale.group)
IT_LIST="$IT_PREFIX:results"
export IT_IN IT_OUT IT_DLQ IT_GROUP IT_LIST

it_create_topic "$IT_OUT" 8
it_create_topic "$IT_IN" 8
it_render scale.json "$KF_TMP/kfleet.json"

# lines_at_least FILE N — the stdout sink wrote at least N lines to FILE.
lines_at_least() { [[ -f $1 ]] && (($(wc -l <"$1") >= $2)); }
progress_by() { # wait until the Redis list grew by $1 more outputs
	local want=$(($(it_redis_llen "$IT_LIST") + $1))
	((want <= N)) || want=$N
	it_wait_until 90 "$want outputs in redis" it_llen_at_least "$IT_LIST" "$want"
}

kf_start producer "$IT_TOOLS/kf_produce" -t "$IT_IN" -p 8 -n "$N" -k 100 --rate 3000
it_start_kfleet w1 "$KF_TMP/kfleet.json"
it_wait_until 90 "worker 1 makes progress" it_llen_at_least "$IT_LIST" 2000

it_start_kfleet w2 "$KF_TMP/kfleet.json"
it_start_kfleet w3 "$KF_TMP/kfleet.json"
it_wait_until 90 "worker 2 processes records" lines_at_least "$KF_TMP/w2.out" 100
it_wait_until 90 "worker 3 processes records" lines_at_least "$KF_TMP/w3.out" 100
progress_by 9000

it_stop_kfleet w2 30
progress_by 9000
it_stop_kfleet w3 30

kf_wait_exit producer 120
kf_assert_eq 0 "$KF_STATUS" "kf_produce exit status"
it_verify_until 120 "redis sink complete" --redis-list "$IT_LIST" --expect "$N" --allow-duplicates
it_verify_until 60 "kafka sink complete" --kafka "$IT_OUT" --expect "$N" --allow-duplicates
it_stop_kfleet w1 30

it_verify_final "redis sink (final)" --redis-list "$IT_LIST" --expect "$N" --allow-duplicates
redis_dups=$(it_field duplicates)
it_verify_final "kafka sink (final)" --kafka "$IT_OUT" --expect "$N" --allow-duplicates
kafka_dups=$(it_field duplicates)
per_worker=""
for w in w1 w2 w3; do
	per_worker+=" $w=$(wc -l <"$KF_TMP/$w.out")"
done
echo "scale duplicates redis=$redis_dups kafka=$kafka_dups outputs_per_worker:$per_worker"
kf_pass "3 workers joined and left: lost=0 (duplicates: redis $redis_dups, kafka $kafka_dups)"
