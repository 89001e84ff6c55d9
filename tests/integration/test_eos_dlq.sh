#!/usr/bin/env bash
# test_eos_dlq.sh — exactly-once with poison records: the on-failure topic is
# written through the mapping's transaction, so a crash never duplicates a
# dead letter, and the other records still reach every sink exactly once.
#
# 20,000 records over 8 partitions, produced at 5,000/s while the worker
# runs: every 100th carries "POISON" (the flaky handler answers KF_FAIL: to
# the DLQ at once), every 7th "RETRY" (KF_RETRY twice, then OK; POISON
# wins). exactly_once, sinks kafka (transactional) and redis (state Redis),
# on_failure topic. Once the Redis sink holds a third of the records, the
# worker is SIGKILLed and a second one takes over the group. At the end:
#   - DLQ (read_committed): exactly the poison records, each once, with
#     kfleet.error/.attempts(=1)/.source.topic/.source.partition/
#     .source.offset/.handler, pointing at the source record (--check-source);
#   - kafka (read_committed) and redis sinks: every other record exactly once
#     (RETRY ones included: a retried attempt's outputs are discarded);
#   - the second worker loaded done marks above the committed watermark (the
#     kill landed between effects and commit: a replay happened), and the
#     first worker had committed dead letters (DLQ records stamped before the
#     kill), so the replay had some to leave alone.
# (Kafka is not read while the stream runs: a read_committed reader reaches
# the end of a partition only between two transactions, which can take
# seconds while kfleet commits every 100 ms.)
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

N=${IT_EOS_RECORDS:-20000}
RATE=${IT_EOS_RATE:-5000}
POISON=100
RETRY=7
KILL_AT=$((N / 3))
IT_IN=$(kf_unique eosdlq.in)
IT_OUT=$(kf_unique eosdlq.out)
IT_DLQ=$(kf_unique eosdlq.dlq)
IT_GROUP=$(kf_unique eosdlq.group)
IT_LIST="$IT_PREFIX:results"
export IT_IN IT_OUT IT_DLQ IT_GROUP IT_LIST

it_create_topic "$IT_OUT" 8
it_create_topic "$IT_DLQ" 4
it_create_topic "$IT_IN" 8
it_render eos_dlq.json "$KF_TMP/kfleet.json"

it_start_kfleet w1 "$KF_TMP/kfleet.json"
it_wait_until 30 "w1 to take the 8 partitions" kf_log_has w1 "assigned 8 partition"
kf_start producer "$IT_TOOLS/kf_produce" -q -t "$IT_IN" -p 8 -n "$N" -k 100 \
	--poison-every "$POISON" --retry-every "$RETRY" --rate "$RATE"

# --- crash mid-stream -------------------------------------------------------------
it_wait_until 60 "$KILL_AT records in the redis sink" it_llen_at_least "$IT_LIST" "$KILL_AT"
IT_EXPECT_EXIT[w1]=1
kill_ms=$(date +%s%3N)
kf_stop w1 KILL 10
at_kill=$(it_redis_llen "$IT_LIST")
kf_log "SIGKILLed w1 (status $KF_STATUS) with $at_kill records in redis"
((at_kill < N - N / POISON)) || it_fail "w1 finished every record before the kill: not mid-stream"

it_start_kfleet w2 "$KF_TMP/kfleet.json"
kf_wait_exit producer 60
((KF_STATUS == 0)) || it_fail "kf_produce failed (status $KF_STATUS): $(cat "$KF_TMP/producer.log")"

# w1's open transaction blocks read_committed readers until the broker
# aborts it (transaction.timeout.ms): allow for it.
it_verify_until 90 "dlq" --dlq "$IT_DLQ" --expect "$N" --only-mod "$POISON"
it_verify_until 60 "kafka sink" --kafka "$IT_OUT" --expect "$N" --exclude-mod "$POISON"
it_verify_until 60 "redis sink" --redis-list "$IT_LIST" --expect "$N" --exclude-mod "$POISON"
it_stop_kfleet w2 30

# --- nothing can arrive any more ------------------------------------------------
it_verify_final "dlq (final, read_committed)" --dlq "$IT_DLQ" --expect "$N" --only-mod "$POISON" \
	--expect-dlq $((N / POISON)) --expect-header kfleet.attempts=1 \
	--expect-header "kfleet.source.topic=$IT_IN" --expect-header kfleet.handler=flaky --check-source
it_verify_final "kafka sink (final, read_committed)" --kafka "$IT_OUT" --expect "$N" \
	--exclude-mod "$POISON"
it_verify_final "redis sink (final)" --redis-list "$IT_LIST" --expect "$N" --exclude-mod "$POISON"

marks=$(grep -oE 'epoch [0-9]+, [0-9]+ sink mark' "$KF_TMP/w2.log" | awk '{ s += $3 } END { print s + 0 }')
kf_log "w2 loaded $marks sink mark(s) above the committed watermarks at assignment"
((marks > 0)) ||
	it_fail "w2 found no done marks above the watermark: the kill did not land between effect and commit"

# Dead letters committed by w1: read_committed shows none of its aborted
# transaction, so those stamped before the kill are w1's committed ones.
dlq_w1=$(kf_consume "$IT_DLQ" -f '%T\n' | awk -v k="$kill_ms" '$1 > 0 && $1 < k' | wc -l)
kf_log "dead letters committed by w1 before the kill: $dlq_w1 of $((N / POISON))"
((dlq_w1 > 0)) || it_fail "w1 committed no dead letter before the kill: the crash did not cover the DLQ"

echo "eos_dlq records=$N dead_letters=$((N / POISON)) killed_at_redis=$at_kill dlq_committed_by_w1=$dlq_w1 marks_loaded=$marks"
kf_pass "SIGKILL mid-stream: $((N / POISON)) dead letters exactly once (read_committed, with headers), other records exactly once"
