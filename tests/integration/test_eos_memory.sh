#!/usr/bin/env bash
# test_eos_memory.sh — the exactly-once state in Redis is O(in-flight), never
# O(records) (issue 3, "Memory").
#
# N=30,000 records over 8 partitions, produced at RATE=10,000/s while the
# worker runs (records flowing), sinks redis (the one sink with marks: its
# offsets as runs "<from>/<to>/cache", or masked runs
# "<from>/<to>:<mask>/cache", in T:runs; eos/lua/common.lua) and kafka
# (transactional, no marks), concurrency.max_inflight_records W=2000, batch
# B=500.
#   - While records flow, the offsets the members of the 8 partitions' T:runs
#     hold are summed and sampled continuously; every sample must be <= 2W + B: in
#     exactly-once mode a commit starts when W offsets are uncommitted and
#     the consumer pauses at 2W, so what is above the committed watermark is
#     bounded by the window (plus one batch), not by N. Runs merge, so their
#     count alone says little: a run never trimmed would grow to hold every
#     offset from 0, which this bound catches.
#   - In every sample, no member ends below its partition's T:base (the trim
#     drops those; a member straddling the base is kept whole, and only its
#     offsets at or above the base are counted above).
#   - After a graceful SIGTERM (commit, then trim on revoke) every T:runs is
#     empty and every T:base equals the partition's committed offset (its
#     end offset: everything was consumed).
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

# runs_state — "covered runs below_base": over the 8 partitions, the offsets
# at or above T:base their T:runs members hold, how many members there are,
# and how many end below T:base; read by one script, so one consistent
# snapshot.
RUNS_LUA='local c, n, bad = 0, 0, 0
for p = 1, #KEYS, 2 do
  local b = tonumber(redis.call("GET", KEYS[p + 1]) or "-1")
  for _, m in ipairs(redis.call("ZRANGE", KEYS[p], 0, -1)) do
    local _, e, f, t, sep = string.find(m, "^(%d+)/(%d+)([/:])")
    f, t = tonumber(f), tonumber(t)
    if sep == "/" then c = c + math.max(0, t - math.max(f, b) + 1)
    else
      for o = math.max(f, b), t do
        local x = string.byte(m, e + 1 + math.floor(o / 8) - math.floor(f / 8))
        if bit.band(x, bit.lshift(1, o % 8)) ~= 0 then c = c + 1 end
      end
    end
    n = n + 1
    if t < b then bad = bad + 1 end
  end
end
return {c, n, bad}'
runs_state() {
	local p keys=()
	for ((p = 0; p < PARTS; p++)); do
		keys+=("$(tag "$p"):runs" "$(tag "$p"):base")
	done
	kf_redis EVAL "$RUNS_LUA" "${#keys[@]}" "${keys[@]}" | tr '\n' ' '
}
# base_sum — the T:base values (trim points) summed over the partitions.
base_sum() {
	local p
	for ((p = 0; p < PARTS; p++)); do
		printf 'GET %s:base\n' "$(tag "$p")"
	done | kf_redis | awk '{ s += $1 } END { print s + 0 }'
}

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
samples=0 max=0 maxruns=0 nonzero=0 below_seen=0 trace=""
end=$((SECONDS + 90))
while :; do
	read -r s nr below <<<"$(runs_state)"
	samples=$((samples + 1))
	((s > 0)) && nonzero=$((nonzero + 1))
	((s > max)) && max=$s
	((nr > maxruns)) && maxruns=$nr
	((samples % 10 == 1)) && trace+="$s/$nr "
	if ((s > 2 * W + B)) && ((${#failures[@]} == 0)); then
		failures+=("sample $samples at +$((SECONDS))s: the runs of T:runs cover $s offsets summed over the partitions > 2 x max_inflight_records + batch = $((2 * W + B)) ($nr runs; then T:base summed: $(base_sum), records in the redis sink: $(it_redis_llen "$IT_LIST"))")
	fi
	if ((below > 0)) && ((below_seen++ == 0)); then
		failures+=("sample $samples at +$((SECONDS))s: $below member(s) of T:runs end below their partition's T:base (not trimmed)")
	fi
	(($(it_redis_llen "$IT_LIST") >= N)) && break
	((SECONDS < end)) || it_fail "timed out after 90s waiting for $N records in the redis sink"
	it_check_alive
done
kf_log "T:runs while running: samples=$samples nonzero=$nonzero max_covered=$max max_runs=$maxruns bound=$((2 * W + B)); every 10th (covered/runs): $trace"
kf_wait_exit producer 30
((KF_STATUS == 0)) || it_fail "kf_produce failed (status $KF_STATUS): $(cat "$KF_TMP/producer.log")"
# A run so short that nothing was ever seen in flight proves nothing.
((nonzero > 0)) || it_fail "no sample saw a run in T:runs: the sampling missed the run (or no marks are written)"

it_verify_until 60 "kafka sink" --kafka "$IT_OUT" --expect "$N"
it_stop_kfleet w1 30

read -r after after_runs _ <<<"$(runs_state)"
kf_log "T:runs after SIGTERM: $after offsets in $after_runs runs"
((after_runs == 0)) ||
	failures+=("after a graceful stop, T:runs still holds $after_runs runs covering $after offsets, want none")

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
echo "runs records=$N rate=$RATE max_inflight=$W batch=$B bound=$((2 * W + B)) samples=$samples nonzero_samples=$nonzero max_covered=$max max_runs=$maxruns after_stop=$after_runs"
if ((${#failures[@]})); then
	for f in "${failures[@]}"; do
		printf '[%s] FAIL: %s\n' "$KF_TEST_NAME" "$f" >&2
	done
	it_fail "${#failures[@]} check(s) failed (above)"
fi
kf_pass "T:runs held <= $((2 * W + B)) offsets above T:base (max $max, at most $maxruns members, over $samples samples), none ending below T:base, and was empty after SIGTERM"
