#!/usr/bin/env bash
# test_eos_replay.sh — the marks make a replay effect-free: a crash between
# the effects and the offset commit, and the next owner redoes nothing that
# was done.
#
# 30,000 records over 8 partitions, produced at 8,000/s while the worker
# runs; exactly_once, sinks kafka (transactional), redis (RPUSH on the state
# Redis) and http (the test receiver). Once the Redis sink holds a third of
# them, the worker is SIGKILLed mid-stream: records done in Redis and at the
# receiver but not yet committed are replayed by a second worker on the same
# group. At the end:
#   - redis sink: every id exactly once;
#   - kafka sink read with read_committed: every id exactly once (the killed
#     worker's open transaction is aborted, never read);
#   - http receiver: exactly one effect per id (the first 2xx of each
#     Idempotency-Key); its duplicate_keys (requests repeating a key) may be
#     > 0 and is printed;
#   - the second worker loaded done marks above the committed watermark
#     (proof that the kill landed between effect and commit, so a replay
#     happened and had to be skipped).
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

N=${IT_EOS_RECORDS:-30000}
RATE=${IT_EOS_RATE:-8000}
KILL_AT=$((N / 3))
IT_IN=$(kf_unique eosrp.in)
IT_OUT=$(kf_unique eosrp.out)
IT_GROUP=$(kf_unique eosrp.group)
IT_LIST="$IT_PREFIX:results"
export IT_IN IT_OUT IT_GROUP IT_LIST

receiver_stat() {
	python3 -c 'import json,sys,urllib.request
print(json.load(urllib.request.urlopen(sys.argv[1]))[sys.argv[2]])' \
		"http://127.0.0.1:$IT_HTTP_PORT/stats" "$1"
}

it_create_topic "$IT_OUT" 8
it_create_topic "$IT_IN" 8
it_start_receiver receiver
it_render eos_pipeline.json "$KF_TMP/kfleet.json"

it_start_kfleet w1 "$KF_TMP/kfleet.json"
it_wait_until 30 "w1 to take the 8 partitions" kf_log_has w1 "assigned 8 partition"
kf_start producer "$IT_TOOLS/kf_produce" -q -t "$IT_IN" -p 8 -n "$N" -k 100 \
	--value-size 100 --rate "$RATE"

# --- crash mid-stream ----------------------------------------------------------
it_wait_until 60 "$KILL_AT records in the redis sink" it_llen_at_least "$IT_LIST" "$KILL_AT"
IT_EXPECT_EXIT[w1]=1
kf_stop w1 KILL 10
at_kill=$(it_redis_llen "$IT_LIST")
http_at_kill=$(receiver_stat ok)
kf_log "SIGKILLed w1 (status $KF_STATUS) with $at_kill records in redis, $http_at_kill 2xx at the receiver"
((at_kill < N)) || it_fail "w1 finished all $N records before the kill: not mid-stream (raise N or lower the rate)"

it_start_kfleet w2 "$KF_TMP/kfleet.json"
kf_wait_exit producer 60
((KF_STATUS == 0)) || it_fail "kf_produce failed (status $KF_STATUS): $(cat "$KF_TMP/producer.log")"

# The killed worker's transaction stays open until the broker aborts it
# (transaction.timeout.ms), holding back read_committed readers: allow for it.
it_verify_until 90 "redis sink" --redis-list "$IT_LIST" --expect "$N"
it_verify_until 60 "http sink (effects)" --http-log "$IT_HTTP_LOG" --effects --expect "$N"
it_verify_until 60 "kafka sink (read_committed)" --kafka "$IT_OUT" --expect "$N"
it_stop_kfleet w2 30

# --- nothing can arrive any more: exactly once everywhere ----------------------
it_verify_final "redis sink (final)" --redis-list "$IT_LIST" --expect "$N"
it_verify_final "kafka sink (final, read_committed)" --kafka "$IT_OUT" --expect "$N"
it_verify_final "http sink (final, one effect per Idempotency-Key)" --http-log "$IT_HTTP_LOG" \
	--effects --expect "$N"
repeated=$(it_field repeated_key_requests)
dup_keys=$(receiver_stat duplicate_keys)
effects=$(receiver_stat effects)
kf_assert_eq "$N" "$effects" "effects counted by the receiver"

# The replay was real: w2 found done marks above the committed watermark.
marks=$(grep -oE 'epoch [0-9]+, [0-9]+ sink mark' "$KF_TMP/w2.log" | awk '{ s += $3 } END { print s + 0 }')
kf_log "w2 loaded $marks sink mark(s) above the committed watermarks at assignment"
((marks > 0)) ||
	it_fail "w2 found no done marks above the watermark: the kill did not land between effect and commit, nothing was replayed"

echo "replay records=$N killed_at_redis=$at_kill killed_at_http_2xx=$http_at_kill marks_loaded=$marks http_duplicate_keys=$dup_keys http_repeated_key_requests=$repeated http_effects=$effects"
kf_pass "SIGKILL mid-stream: every id exactly once in redis and kafka, one effect per id at the receiver (duplicate_keys=$dup_keys)"
