#!/usr/bin/env bash
# test_eos_dedupe.sh — business-key dedupe (eos/README.md, "Business keys"):
# with exactly_once and `idempotency.key`, a second record carrying the same
# business key within window_ms is skipped (never reaches the handler or a
# sink) and counted.
#
# One kfleet process, two mappings (configs/eos_dedupe.json), each with a
# Redis sink:
#   json    idempotency {"key": "json:order_id", "window_ms": 60000}; a
#           handler of 1 ms per record on threads {"min": 1, "max": 4}, so
#           workers added under load claim through state connections of
#           their own.
#           N=5,000 orders (value {"id","key","seq","order_id":"o-<id>"});
#           after every 10th order a copy with the same order_id and the same
#           Kafka key (same partition, next offset): 500 adjacent
#           duplicates. 50 more records have no order_id (nothing to dedupe:
#           all must pass). Once those are through, the first 100 orders are
#           sent again (late duplicates, other batches, within the window).
#   header  idempotency {"key": "header:x-order-id", "window_ms": 60000}.
#           200 orders with the header x-order-id=o-<id> (kcat -H, one kcat
#           per order), every 10th followed by a copy: 20 duplicates; then
#           the first 10 orders again: 10 late duplicates.
# Records are written with `kcat -P` (kf_produce has no business keys).
# Checks, each must hold:
#   - each Redis sink holds every id exactly once (a duplicate that got
#     through repeats its id);
#   - /metrics: handler_calls_total{mapping} = the unique records (the
#     duplicates never reach the handler), and a kfleet_records_duplicate*
#     counter per mapping equals the duplicates sent;
#   - Redis: one T:bk:<order_id> marker per order under the partitions' hash
#     tags, with a TTL of at most window_ms.
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

N=${IT_EOS_ORDERS:-5000}
NOKEY=50
LATE=100
M=200
LATE_H=10
WINDOW_MS=60000
IT_IN=$(kf_unique dedupe.json.in)
IT_IN_H=$(kf_unique dedupe.hdr.in)
IT_GROUP=$(kf_unique dedupe.json.group)
IT_GROUP_H=$(kf_unique dedupe.hdr.group)
IT_LIST="$IT_PREFIX:json:results"
IT_LIST_H="$IT_PREFIX:header:results"
IT_METRICS_PORT=$(kf_free_port)
export IT_IN IT_IN_H IT_GROUP IT_GROUP_H IT_LIST IT_LIST_H IT_METRICS_PORT

# The business-key markers are thousands of keys: delete them in bulk before
# it_setup's per-key cleanup runs (kf_on_exit runs the last registered first).
# shellcheck disable=SC2016 # expanded when the cleanup runs
kf_on_exit 'kf_redis --scan --pattern "*$IT_PREFIX*" | xargs -r -n 500 redis-cli -h "$KFLEET_REDIS_HOST" -p "$KFLEET_REDIS_PORT" del >/dev/null'

failures=()
# expect MESSAGE CMD [ARGS...] — run CMD; if it fails, collect MESSAGE (every
# check runs; the test fails at the end listing those that did not hold).
expect() {
	local msg=$1
	shift
	"$@" || failures+=("$msg")
}
metrics() { curl -sf "http://127.0.0.1:$IT_METRICS_PORT/metrics"; }
# metric NAME MAPPING — the value of kfleet_NAME{mapping="MAPPING"} (empty if absent).
metric() { metrics | awk -v n="kfleet_$1{mapping=\"$2\"}" '$1 == n { print $2 }'; }
metric_is() { [[ $(metric "$1" "$2") == "$3" ]]; }
# dup_metric MAPPING — "name value" of the duplicates counter, whatever its
# exact name (kfleet_records_duplicate_total, ..._duplicates_total, ...).
dup_metric() {
	metrics | grep -E "^kfleet_records_(duplicate|duplicates|deduplicated|deduped|dedupe)[a-z_]*\{mapping=\"$1\"\} " |
		head -1 || true
}

it_create_topic "$IT_IN" 8
it_create_topic "$IT_IN_H" 8

# --- json: the main stream ---------------------------------------------------
python3 - "$N" "$NOKEY" >"$KF_TMP/json.tsv" <<'EOF'
import json, sys
n, nokey = int(sys.argv[1]), int(sys.argv[2])
def line(i, **extra):
    key = f"k{i % 100}"
    v = {"id": i, "key": key, "seq": i // 100, **extra}
    return f"{key}\t{json.dumps(v, separators=(',', ':'))}"
for i in range(n):
    print(line(i, order_id=f"o-{i}"))
    if i % 10 == 9:  # a producer-side duplicate: same order, same key, next offset
        print(line(i, order_id=f"o-{i}", dup=True))
for j in range(nokey):  # no business key at all
    print(line(n + j))
EOF
DUPS=$((N / 10))
kf_produce "$IT_IN" -K $'\t' <"$KF_TMP/json.tsv" || it_fail "kcat could not produce $KF_TMP/json.tsv"
kf_log "json: produced $((N + DUPS + NOKEY)) records ($N orders, $DUPS adjacent duplicates, $NOKEY without order_id)"

# --- header: one kcat per order (kcat -H sets a header for the whole run) ----
header_order() { # header_order ID [copies]
	local i=$1 copies=${2:-1} key="k$(($1 % 20))" c
	for ((c = 0; c < copies; c++)); do
		printf '{"id":%d,"key":"%s","seq":%d,"copy":%d}\n' "$i" "$key" $((i / 20)) "$c"
	done | "$KCAT" -P -b "$KFLEET_BROKERS" -t "$IT_IN_H" -k "$key" -H "x-order-id=o-$i"
}
export -f header_order
export KCAT
for ((i = 0; i < M; i++)); do
	echo "$i $((i % 10 == 9 ? 2 : 1))"
done | xargs -P 4 -L 1 bash -c 'header_order "$@"' _ || it_fail "kcat could not produce the header records"
DUPS_H=$((M / 10))
kf_log "header: produced $((M + DUPS_H)) records ($M orders, $DUPS_H duplicates)"

it_render eos_dedupe.json "$KF_TMP/kfleet.json"
it_start_kfleet w1 "$KF_TMP/kfleet.json"
it_verify_until 90 "json: redis sink" --redis-list "$IT_LIST" --expect $((N + NOKEY))
it_verify_until 60 "header: redis sink" --redis-list "$IT_LIST_H" --expect "$M"

# --- late duplicates: the same orders again, in later batches ---------------
head -n $((LATE + LATE / 10)) "$KF_TMP/json.tsv" | grep -v '"dup":true' >"$KF_TMP/late.tsv"
kf_produce "$IT_IN" -K $'\t' <"$KF_TMP/late.tsv" || it_fail "kcat could not produce the late duplicates"
for ((i = 0; i < LATE_H; i++)); do header_order "$i"; done
kf_log "late duplicates: $LATE json, $LATE_H header"
total=$((N + DUPS + NOKEY + LATE))
total_h=$((M + DUPS_H + LATE_H))
# Every record read, including the skipped ones (they are done without a handler).
it_wait_until 60 "json: $total records done" metric_is records_done_total json "$total"
it_wait_until 60 "header: $total_h records done" metric_is records_done_total header "$total_h"

# --- checks ------------------------------------------------------------------
metrics >"$KF_TMP/metrics.txt" || it_fail "GET /metrics failed"
grep -E '^kfleet_(records|handler|worker)' "$KF_TMP/metrics.txt" | sed 's/^/  /' >&2

expect "json: redis sink: not each order once" \
	it_verify --redis-list "$IT_LIST" --expect $((N + NOKEY)) --check-key-order
kf_log "json: redis sink (final): $IT_LAST_VERIFY"
expect "header: redis sink: not each order once" it_verify --redis-list "$IT_LIST_H" --expect "$M"
kf_log "header: redis sink (final): $IT_LAST_VERIFY"

calls=$(metric handler_calls_total json)
calls_h=$(metric handler_calls_total header)
expect "json: handler_calls_total is '$calls', want $((N + NOKEY)) (duplicates must not reach the handler)" \
	test "$calls" = $((N + NOKEY))
expect "header: handler_calls_total is '$calls_h', want $M" test "$calls_h" = "$M"

dm=$(dup_metric json)
dm_h=$(dup_metric header)
kf_log "duplicates counters: json: '${dm:-absent}' header: '${dm_h:-absent}'"
expect "json: /metrics has no kfleet_records_duplicate* counter: the skipped duplicates are not shown (want $((DUPS + LATE)))" \
	test -n "$dm"
[[ -z $dm ]] || expect "json: duplicates counter is '${dm##* }', want $((DUPS + LATE))" \
	test "${dm##* }" = $((DUPS + LATE))
expect "header: /metrics has no kfleet_records_duplicate* counter (want $((DUPS_H + LATE_H)))" \
	test -n "$dm_h"
[[ -z $dm_h ]] || expect "header: duplicates counter is '${dm_h##* }', want $((DUPS_H + LATE_H))" \
	test "${dm_h##* }" = $((DUPS_H + LATE_H))

# The markers: T:bk:<order_id> under the partitions' hash tags, TTL <= window.
bk_count() { kf_redis --scan --pattern "{$IT_PREFIX:$1:$2:*}:bk:*" | wc -l; }
bk=$(bk_count "$IT_GROUP" "$IT_IN")
bk_h=$(bk_count "$IT_GROUP_H" "$IT_IN_H")
expect "json: $bk business-key markers under {$IT_PREFIX:$IT_GROUP:$IT_IN:*}:bk:*, want $N (one per order_id)" \
	test "$bk" = "$N"
expect "header: $bk_h business-key markers, want $M" test "$bk_h" = "$M"
sample=$(kf_redis --scan --pattern "{$IT_PREFIX:$IT_GROUP:$IT_IN:*}:bk:o-7" | head -1)
ttl=$([[ -n $sample ]] && kf_redis pttl "$sample" || echo missing)
ttl_ok() { [[ $ttl =~ ^[0-9]+$ ]] && ((ttl > 0 && ttl <= WINDOW_MS)); }
expect "json: marker of o-7 ('$sample') has PTTL '$ttl', want 1..$WINDOW_MS" ttl_ok
kf_log "markers: json=$bk header=$bk_h; o-7: $sample pttl=$ttl"

it_stop_kfleet w1 30
echo "dedupe json_records=$total json_unique=$((N + NOKEY)) json_duplicates_sent=$((DUPS + LATE)) json_counter='${dm##* }' header_records=$total_h header_unique=$M header_duplicates_sent=$((DUPS_H + LATE_H)) header_counter='${dm_h##* }' handler_calls=$calls/$calls_h markers=$bk/$bk_h"
if ((${#failures[@]})); then
	for f in "${failures[@]}"; do printf '[%s] FAIL: %s\n' "$KF_TEST_NAME" "$f" >&2; done
	it_fail "${#failures[@]} check(s) failed (above)"
fi
kf_pass "business-key duplicates skipped and counted (json: $((DUPS + LATE)), header: $((DUPS_H + LATE_H)))"
