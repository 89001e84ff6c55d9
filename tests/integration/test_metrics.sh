#!/usr/bin/env bash
# test_metrics.sh — /metrics of a running kfleet has every family an
# operator expects, in valid Prometheus text, with values that agree with
# what happened.
#
# An exactly-once mapping (Kafka sink through the transaction, Redis sink on
# the state Redis, an on-failure topic) with a slow handler (flaky, 10 ms a
# record, 4 threads: about 400 records/s) and the stall watchdog off
# (lag must not depend on it). 3,000 records on 4 partitions are produced
# before kfleet starts, so it starts behind: every 100th is poison (to the
# dead-letter topic), every 7th asks for two retries.
#   1. While it works through the backlog: kfleet_partition_lag_records is
#      above 0 and kfleet_uncommitted_records too.
#   2. Once every record is in the sinks: each partition's lag is 0, its end
#      offsets add up to the records produced and its committed offsets
#      too; the window is back to 0; the scrape passes prom_text_check.py
#      (HELP/TYPE, _total counters, cumulative buckets, +Inf = _count) with
#      every family of this test's list present; handler calls all timed
#      and none under 5 ms (the handler sleeps 10), every done record in
#      produce-to-done, batch sizes adding up to the records dispatched,
#      commits, transactional calls and state scripts timed, the Redis
#      sink's flushes timed, dead letters and retries counted, no fence.
#   3. The worker is SIGKILLed while 3,000 more records are processed and a
#      second one takes over: it starts behind (lag above 0), holds the
#      done marks it loaded (kfleet_eos_marks_held equals the marks its log
#      reports), and drains to lag 0.
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

N=3000
POISON=100
RETRY=7
IT_IN=$(kf_unique metrics.in)
IT_OUT=$(kf_unique metrics.out)
IT_DLQ=$(kf_unique metrics.dlq)
IT_GROUP=$(kf_unique metrics.group)
IT_LIST="$IT_PREFIX:results"
IT_METRICS_PORT=$(kf_free_port)
export IT_IN IT_OUT IT_DLQ IT_GROUP IT_LIST IT_METRICS_PORT
M='mapping="metrics"'

# Every family this test expects on /metrics (without the kfleet_ prefix).
FAMILIES=(
	records_in_total records_done_total records_failed_total retries_total handler_calls_total
	commits_total commit_errors_total sink_outputs_total sink_errors_total inflight_records
	assigned_partitions paused_partitions stalled_partitions dead_partitions rewinds_total
	fences_total fenced_partitions uncommitted_records eos_marks_held
	handler_duration_seconds handler_batch_records batch_records produce_to_done_seconds
	commit_duration_seconds redis_call_duration_seconds kafka_call_duration_seconds
	sink_flush_duration_seconds partition_lag_records partition_end_offset
	partition_committed_offset handler_init_seconds
)

# scrape FILE — /metrics into FILE.
scrape() { curl -sS -m 5 "http://127.0.0.1:$IT_METRICS_PORT/metrics" >"$1"; }

# val FILE SERIES — the value of one series (name{labels} exactly), or nothing.
val() { awk -v s="$2" '$1 == s { print $2 }' "$1"; }

# total FILE NAME — the sum of every series of metric NAME (0 when none).
total() { awk -v n="$2" 'index($1, n "{") == 1 { s += $2 } END { printf "%.0f\n", s }' "$1"; }

# lines FILE NAME — how many series of metric NAME there are.
lines() { awk -v n="$2" 'index($1, n "{") == 1 { c++ } END { print c + 0 }' "$1"; }

# want WHAT COND — fail with WHAT unless the arithmetic COND holds.
want() { (($2)) || it_fail "$1 (${2})"; }

lag_total() {
	local f=$KF_TMP/poll.txt
	scrape "$f" || return 1
	total "$f" kfleet_partition_lag_records
}
lag_above_zero() { (($(lag_total) > 0)); }
window_above_zero() {
	local f=$KF_TMP/poll.txt
	scrape "$f" && (($(val "$f" "kfleet_uncommitted_records{$M}") > 0))
}
# drained PARTITIONS — every partition has a lag line and they are all 0.
drained() {
	local f=$KF_TMP/poll.txt
	scrape "$f" || return 1
	(($(lines "$f" kfleet_partition_lag_records) == $1)) &&
		(($(total "$f" kfleet_partition_lag_records) == 0)) &&
		(($(val "$f" "kfleet_uncommitted_records{$M}") == 0))
}

it_create_topic "$IT_OUT" 4
it_create_topic "$IT_DLQ" 4
it_create_topic "$IT_IN" 4
it_produce -t "$IT_IN" -p 4 -n "$N" -k 100 --poison-every "$POISON" --retry-every "$RETRY"
it_render metrics.json "$KF_TMP/kfleet.json"

# --- 1. behind ---------------------------------------------------------------------------------
it_start_kfleet w1 "$KF_TMP/kfleet.json"
it_wait_until 30 "w1 to take the 4 partitions" kf_log_has w1 "assigned 4 partition"
it_wait_until 20 "a partition lag above 0 while the backlog is worked off" lag_above_zero
kf_log "lag while behind: $(lag_total) record(s)"
it_wait_until 20 "kfleet_uncommitted_records above 0 while records are in flight" window_above_zero
kf_log "uncommitted while behind: $(val "$KF_TMP/poll.txt" "kfleet_uncommitted_records{$M}")"

# --- 2. drained --------------------------------------------------------------------------------
GOOD=$((N - N / POISON))
it_verify_until 90 "redis sink" --redis-list "$IT_LIST" --expect "$N" --exclude-mod "$POISON"
it_verify_until 60 "dlq" --dlq "$IT_DLQ" --expect "$N" --only-mod "$POISON"
it_wait_until 30 "every partition's lag and the window back to 0" drained 4

F=$KF_TMP/drained.txt
scrape "$F"
req=()
for f in "${FAMILIES[@]}"; do req+=(--require "kfleet_$f"); done
python3 "$KF_SOURCE_DIR/tests/tools/prom_text_check.py" "$F" "${req[@]}" ||
	it_fail "the scrape is not valid Prometheus text with every family (kept in $F)"
kf_log "scrape: $(python3 "$KF_SOURCE_DIR/tests/tools/prom_text_check.py" "$F" "${req[@]}")"

want "end offsets add up to the records produced" "$(total "$F" kfleet_partition_end_offset) == N"
want "committed offsets add up to the records produced" \
	"$(total "$F" kfleet_partition_committed_offset) == N"
calls=$(val "$F" "kfleet_handler_calls_total{$M}")
timed=$(val "$F" "kfleet_handler_duration_seconds_count{$M}")
want "every handler call timed ($timed of $calls)" "timed == calls && calls >= N"
fast=$(val "$F" "kfleet_handler_duration_seconds_bucket{$M,le=\"0.005\"}")
want "no call of a 10 ms handler under 5 ms ($fast)" "fast == 0"
done_n=$(val "$F" "kfleet_records_done_total{$M}")
p2d=$(val "$F" "kfleet_produce_to_done_seconds_count{$M}")
want "every done record in produce-to-done ($p2d of $done_n)" "p2d == done_n && done_n >= N"
in_n=$(val "$F" "kfleet_records_in_total{$M}")
want "batch sizes add up to the records dispatched" \
	"$(val "$F" "kfleet_batch_records_sum{$M}") == in_n"
commits=$(val "$F" "kfleet_commits_total{$M}")
want "transactions timed ($commits committed)" \
	"$(val "$F" "kfleet_commit_duration_seconds_count{$M}") >= commits && commits > 0"
want "commit_transaction timed" \
	"$(val "$F" "kfleet_kafka_call_duration_seconds_count{$M,call=\"commit_transaction\"}") >= commits"
want "send_offsets_to_transaction timed" \
	"$(val "$F" "kfleet_kafka_call_duration_seconds_count{$M,call=\"send_offsets_to_transaction\"}") > 0"
want "init_transactions timed" \
	"$(val "$F" "kfleet_kafka_call_duration_seconds_count{$M,call=\"init_transactions\"}") > 0"
want "an assign script per partition" \
	"$(val "$F" "kfleet_redis_call_duration_seconds_count{$M,call=\"assign\"}") >= 4"
want "complete scripts timed" \
	"$(val "$F" "kfleet_redis_call_duration_seconds_count{$M,call=\"complete\"}") > 0"
want "the Redis sink's flushes timed" \
	"$(val "$F" "kfleet_sink_flush_duration_seconds_count{$M,sink=\"cache\"}") > 0"
want "every poison record dead-lettered" "$(val "$F" "kfleet_records_failed_total{$M}") == N / POISON"
retry_records=$(((N + RETRY - 1) / RETRY - (N + RETRY * POISON - 1) / (RETRY * POISON)))
want "two retries for each of the $retry_records RETRY records" \
	"$(val "$F" "kfleet_retries_total{$M}") >= 2 * retry_records"
want "no fence" "$(val "$F" "kfleet_fences_total{$M}") == 0 && $(val "$F" "kfleet_fenced_partitions{$M}") == 0"
kf_log "drained: handler calls within 25 ms $(val "$F" "kfleet_handler_duration_seconds_bucket{$M,le=\"0.025\"}")/$timed," \
	"produce-to-done sum=$(val "$F" "kfleet_produce_to_done_seconds_sum{$M}")s," \
	"commits=$commits, transactions sum=$(val "$F" "kfleet_commit_duration_seconds_sum{$M}")s"

# --- 3. a crash, a successor behind, the marks it loaded ----------------------------------------
kf_start producer "$IT_TOOLS/kf_produce" -q -t "$IT_IN" -p 4 -n "$N" -s "$N" -k 100 \
	--poison-every "$POISON" --retry-every "$RETRY" --rate 2000
it_wait_until 60 "w1 to be a quarter through the second batch" \
	it_llen_at_least "$IT_LIST" $((GOOD + N / 4))
IT_EXPECT_EXIT[w1]=1
kf_stop w1 KILL 10
kf_wait_exit producer 60
((KF_STATUS == 0)) || it_fail "kf_produce failed (status $KF_STATUS)"

it_start_kfleet w2 "$KF_TMP/kfleet.json"
it_wait_until 30 "w2 to take the 4 partitions" kf_log_has w2 "assigned 4 partition"
it_wait_until 20 "w2 to start behind (lag above 0)" lag_above_zero
marks=$(grep -oE 'epoch [0-9]+, [0-9]+ sink mark' "$KF_TMP/w2.log" | awk '{ s += $3 } END { print s + 0 }')
held=$(val "$KF_TMP/poll.txt" "kfleet_eos_marks_held{$M}")
kf_log "w2 loaded $marks mark(s); kfleet_eos_marks_held=$held"
want "kfleet_eos_marks_held is the marks w2 loaded ($held vs $marks)" "held == marks"
it_verify_until 90 "redis sink after the crash" --redis-list "$IT_LIST" --expect $((2 * N)) \
	--exclude-mod "$POISON"
it_wait_until 30 "w2's lag and window back to 0" drained 4
scrape "$F"
want "committed offsets add up to both batches" \
	"$(total "$F" kfleet_partition_committed_offset) == 2 * N"
python3 "$KF_SOURCE_DIR/tests/tools/prom_text_check.py" "$F" "${req[@]}" >/dev/null ||
	it_fail "w2's scrape is not valid Prometheus text with every family (kept in $F)"
it_stop_kfleet w2 30

echo "metrics families=${#FAMILIES[@]} records=$((2 * N)) handler_calls=$calls commits=$commits marks_loaded=$marks"
kf_pass "every family on /metrics, valid text, lag to 0 per partition, histograms consistent with the run"
