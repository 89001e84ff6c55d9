#!/usr/bin/env bash
# test_eos_memory.sh — the exactly-once state in Redis is O(in-flight), never
# O(records) (issue 3, "Memory").
#
# N=30,000 records over 8 partitions, produced at RATE=10,000/s while the
# worker runs (records flowing), sinks redis (the one sink with marks: one
# "<offset>/cache" member per record in T:done) and kafka (transactional, no
# marks), concurrency.max_inflight_records W=2000, batch B=500.
#   - While records flow, the sum of ZCARD T:done over the 8 partitions is
#     sampled continuously; every sample must be <= 2W + B: in exactly-once
#     mode a commit starts when W offsets are uncommitted and the consumer
#     pauses at 2W, so what is above the committed watermark is bounded by
#     the window (plus one batch), not by N.
#   - After a graceful SIGTERM (commit, then trim on revoke) every T:done is
#     empty (ZCARD 0) and every T:base equals the partition's committed
#     offset (its end offset: everything was consumed).
# The sinks still hold every record exactly once. Every check runs; the test
# fails at the end listing each one that did not hold.
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

N=${IT_EOS_RECORDS:-30000}
RATE=${IT_EOS_RATE:-10000}
W=2000
B=500
PARTS=8
IT_IN=$(kf_unique eosmem.in)
IT_OUT=$(kf_unique eosmem.out)
IT_GROUP=$(kf_unique eosmem.group)
IT_LIST="$IT_PREFIX:results"
export IT_IN IT_OUT IT_GROUP IT_LIST

# The partition state keys (eos/README.md): T = {prefix:group:topic:partition}.
tag() { printf '{%s:%s:%s:%d}' "$IT_PREFIX" "$IT_GROUP" "$IT_IN" "$1"; }

# done_sizes — "z0 z1 ... z7": ZCARD of each partition's T:done, read in one
# pipelined redis-cli call (one connection, back to back).
done_sizes() {
	local p
	for ((p = 0; p < PARTS; p++)); do
		printf 'ZCARD %s:done\n' "$(tag "$p")"
	done | kf_redis | tr '\n' ' '
}
# base_sum — the T:base values (trim points) summed over the partitions.
base_sum() {
	local p
	for ((p = 0; p < PARTS; p++)); do
		printf 'GET %s:base\n' "$(tag "$p")"
	done | kf_redis | awk '{ s += $1 } END { print s + 0 }'
}
sum() { awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print s }' <<<"$1"; }

it_create_topic "$IT_OUT" 8
it_create_topic "$IT_IN" "$PARTS"
it_render eos_redis_kafka.json "$KF_TMP/kfleet.json" \
	mappings.0.concurrency.threads=8 mappings.0.concurrency.max_inflight_records="$W" \
	mappings.0.batch.max_records="$B"

it_start_kfleet w1 "$KF_TMP/kfleet.json"
it_wait_until 30 "w1 to take the $PARTS partitions" kf_log_has w1 "assigned $PARTS partition"
kf_start producer "$IT_TOOLS/kf_produce" -q -t "$IT_IN" -p "$PARTS" -n "$N" -k 100 \
	--value-size 100 --rate "$RATE"
failures=()

# Sample while the records flow: until the Redis sink holds all of them.
samples=0 max=0 nonzero=0 trace=""
end=$((SECONDS + 90))
while :; do
	sizes=$(done_sizes)
	s=$(sum "$sizes")
	samples=$((samples + 1))
	((s > 0)) && nonzero=$((nonzero + 1))
	((s > max)) && max=$s
	((samples % 10 == 1)) && trace+="$s "
	if ((s > 2 * W + B)) && ((${#failures[@]} == 0)); then
		failures+=("sample $samples at +$((SECONDS))s: ZCARD of T:done summed over the partitions is $s > 2 x max_inflight_records + batch = $((2 * W + B)) (per partition: $sizes; then T:base summed: $(base_sum), records in the redis sink: $(it_redis_llen "$IT_LIST"))")
	fi
	(($(it_redis_llen "$IT_LIST") >= N)) && break
	((SECONDS < end)) || it_fail "timed out after 90s waiting for $N records in the redis sink"
	it_check_alive
done
kf_log "T:done sum while running: samples=$samples nonzero=$nonzero max=$max bound=$((2 * W + B)); every 10th: $trace"
kf_wait_exit producer 30
((KF_STATUS == 0)) || it_fail "kf_produce failed (status $KF_STATUS): $(cat "$KF_TMP/producer.log")"
# A run so short that nothing was ever seen in flight proves nothing.
((nonzero > 0)) || it_fail "no sample saw a T:done entry: the sampling missed the run (or no marks are written)"

it_verify_until 60 "kafka sink" --kafka "$IT_OUT" --expect "$N"
it_stop_kfleet w1 30

sizes=$(done_sizes)
kf_log "T:done after SIGTERM: $sizes"
(($(sum "$sizes") == 0)) ||
	failures+=("after a graceful stop, T:done still holds $(sum "$sizes") entries (per partition: $sizes), want 0")

# base = the committed offset = the end of each partition (all consumed).
declare -A end_of=()
while read -r p o; do end_of[$p]=$o; done < <(
	"$KCAT" -C -b "$KFLEET_BROKERS" -t "$IT_IN" -o -1 -e -q -f '%p %o\n' |
		awk '{ print $1, $2 + 1 }'
)
bases=""
for ((p = 0; p < PARTS; p++)); do
	b=$(kf_redis get "$(tag "$p"):base")
	bases+="$p:$b "
	[[ -n ${end_of[$p]:-} ]] || it_fail "could not read the end offset of ${IT_IN}[$p]"
	[[ $b == "${end_of[$p]}" ]] ||
		failures+=("T:base of partition $p is '$b', want its committed (end) offset ${end_of[$p]}")
done
kf_log "T:base per partition: $bases"

it_verify_final "redis sink (final)" --redis-list "$IT_LIST" --expect "$N"
it_verify_final "kafka sink (final, read_committed)" --kafka "$IT_OUT" --expect "$N"
echo "zcard records=$N rate=$RATE max_inflight=$W batch=$B bound=$((2 * W + B)) samples=$samples nonzero_samples=$nonzero max_sum=$max after_stop=$(sum "$sizes")"
if ((${#failures[@]})); then
	for f in "${failures[@]}"; do
		printf '[%s] FAIL: %s\n' "$KF_TEST_NAME" "$f" >&2
	done
	it_fail "${#failures[@]} check(s) failed (above)"
fi
kf_pass "T:done stayed <= $((2 * W + B)) (max $max over $samples samples) and was empty after SIGTERM"
