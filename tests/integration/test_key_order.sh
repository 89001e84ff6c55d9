#!/usr/bin/env bash
# test_key_order.sh — per-key order holds in the output.
#
# 1. ordering "key": 20,000 records, 100 keys, 8 partitions, Kafka sink. Every
#    37th record asks the flaky handler for one retry (KF_RETRY, then OK), so a
#    dispatcher that let later records of a key overtake a retrying one would
#    show up as an order violation, not only one that runs a key on two
#    threads at once.
# 2. ordering "partition": the same check on 5,000 records, quickly.
# 3. ordering "key" with concurrency.threads {"min": 1, "max": 8} and a
#    handler of 1 ms per record: the pool grows and shrinks while the check
#    runs; every record must come out once, in per-key order.
# 4. a control run with ordering "unordered" on the same kind of input: it is
#    expected to reorder (that shows the check can see reordering); reported,
#    never a failure, since unordered promises nothing either way.
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

# run_case NAME ORDERING RECORDS KEYS [kf_verify args...] — one kfleet run on
# fresh topics; leaves the output topic's verdict in IT_LAST_VERIFY.
# RENDER_EXTRA: more it_render overrides for the config.
RENDER_EXTRA=()
run_case() {
	local name=$1 ordering=$2 n=$3 keys=$4
	shift 4
	IT_IN=$(kf_unique "order.$name.in")
	IT_OUT=$(kf_unique "order.$name.out")
	IT_DLQ=$(kf_unique "order.$name.dlq")
	IT_GROUP=$(kf_unique "order.$name.group")
	export IT_IN IT_OUT IT_DLQ IT_GROUP
	it_create_topic "$IT_OUT" 8
	it_produce -t "$IT_IN" -p 8 -n "$n" -k "$keys" --retry-every 37
	it_render key_order.json "$KF_TMP/$name.json" mappings.0.ordering="\"$ordering\"" \
		"${RENDER_EXTRA[@]}"
	it_start_kfleet "$name" "$KF_TMP/$name.json"
	it_verify_until 120 "$name: kafka sink complete" --kafka "$IT_OUT" --expect "$n" "$@"
	it_stop_kfleet "$name" 30
}

run_case bykey key 20000 100 --check-key-order
it_verify_final "key mode: per-key order" --kafka "$IT_OUT" --expect 20000 --check-key-order
it_verify_final "key mode: dlq empty" --dlq "$IT_DLQ" --expect-dlq 0

run_case bypartition partition 5000 20 --check-key-order
it_verify_final "partition mode: per-key order" --kafka "$IT_OUT" --expect 5000 --check-key-order

RENDER_EXTRA=('mappings.0.concurrency={"threads": {"min": 1, "max": 8}}'
	'mappings.0.handler.config={"retry_if_contains": "RETRY", "retry_times": 1, "sleep_ms": 1}')
run_case autoscaled key 5000 100 --check-key-order
RENDER_EXTRA=()
it_verify_final "autoscaled key mode: per-key order" --kafka "$IT_OUT" --expect 5000 --check-key-order
it_verify_final "autoscaled key mode: dlq empty" --dlq "$IT_DLQ" --expect-dlq 0
kf_log "autoscaled pool: $(grep -ho '"msg":"mapping ordered: [0-9]* worker thread[^"]*' "$KF_TMP"/autoscaled.* 2>/dev/null | tail -1 || true)"

# The control: complete and exactly once, but order is only observed.
run_case unordered unordered 5000 20
it_verify --kafka "$IT_OUT" --expect 5000 --check-key-order || true
if [[ $(it_field order_violations) == 0 ]]; then
	kf_log "control: unordered mode kept key order this time ($IT_LAST_VERIFY); the check still ran"
else
	kf_log "control: unordered mode reordered, as it may: order_violations=$(it_field order_violations)"
fi
kf_pass "per-key order held in key and partition modes, and with an autoscaled pool"
