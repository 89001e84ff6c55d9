#!/usr/bin/env bash
# test_sizes.sh — 0-byte and 1 MiB values pass through the echo handler to
# the Kafka and Redis sinks byte-exact; null values are tried too.
#
# Each case is its own kfleet run on fresh topics. 1 MiB needs the 2 MB
# limits everywhere: input and output topics (max.message.bytes=2000000),
# the test producer and kfleet's sink producer (message.max.bytes=2000000,
# the mapping's "producer" object), kfleet's consumer (fetch.max.bytes,
# max.partition.fetch.bytes in "consumer").
# A null value (a tombstone) should stay null through the Kafka sink; that is
# checked and reported, and fails the test only if records go missing.
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

big_topic=(--topic-config max.message.bytes=2000000)

# start_case NAME — fresh names, output topic, rendered config.
start_case() {
	IT_IN=$(kf_unique "sizes.$1.in")
	IT_OUT=$(kf_unique "sizes.$1.out")
	IT_DLQ=$(kf_unique "sizes.$1.dlq")
	IT_GROUP=$(kf_unique "sizes.$1.group")
	IT_LIST="$IT_PREFIX:$1"
	export IT_IN IT_OUT IT_DLQ IT_GROUP IT_LIST
	it_create_topic "$IT_OUT" 4 "${big_topic[@]}"
	it_create_topic "$IT_DLQ" 1 "${big_topic[@]}"
}

# Keys are "k<id>" (-k larger than the count): the id of a 0-byte value is
# known from its key in Kafka; the Redis list only counts them.

# --- 0-byte values ---------------------------------------------------------
N=500
start_case empty
it_produce -t "$IT_IN" -p 4 -n "$N" -k 1000000 --value-bytes 0
it_render sizes.json "$KF_TMP/empty.json"
it_start_kfleet empty "$KF_TMP/empty.json"
it_verify_until 120 "0-byte: kafka sink" --kafka "$IT_OUT" --expect "$N" --raw-bytes 0
it_verify_until 60 "0-byte: redis sink" --redis-list "$IT_LIST" --expect "$N" --raw-bytes 0
it_stop_kfleet empty 30
it_verify_final "0-byte: kafka sink (final)" --kafka "$IT_OUT" --expect "$N" --raw-bytes 0
it_verify_final "0-byte: redis sink (final)" --redis-list "$IT_LIST" --expect "$N" --raw-bytes 0
it_verify_final "0-byte: dlq empty" --dlq "$IT_DLQ" --expect-dlq 0

# --- 1 MiB values ----------------------------------------------------------
N=12
MIB=1048576
start_case big
it_produce -t "$IT_IN" -p 4 -n "$N" -k 1000000 --value-bytes "$MIB" "${big_topic[@]}"
it_render sizes.json "$KF_TMP/big.json"
it_start_kfleet big "$KF_TMP/big.json"
it_verify_until 120 "1 MiB: kafka sink" --kafka "$IT_OUT" --expect "$N" --raw-bytes "$MIB"
it_verify_until 60 "1 MiB: redis sink" --redis-list "$IT_LIST" --expect "$N" --raw-bytes "$MIB"
it_stop_kfleet big 30
it_verify_final "1 MiB: kafka sink (final)" --kafka "$IT_OUT" --expect "$N" --raw-bytes "$MIB"
it_verify_final "1 MiB: redis sink (final)" --redis-list "$IT_LIST" --expect "$N" --raw-bytes "$MIB"
it_verify_final "1 MiB: dlq empty" --dlq "$IT_DLQ" --expect-dlq 0

# --- null values (Kafka sink only) ------------------------------------------
N=50
start_case null
it_produce -t "$IT_IN" -p 4 -n "$N" -k 1000000 --null-values
it_render sizes.json "$KF_TMP/null.json" \
	'mappings.0.sinks=[{"name":"out","type":"kafka","topic":"'"$IT_OUT"'"}]'
it_start_kfleet null "$KF_TMP/null.json"
# Complete = N records whatever their value; then judge null-ness.
it_wait_until 120 "null: $N records in the kafka sink" kf_count_at_least "$IT_OUT" "$N"
it_stop_kfleet null 30
rc=0
it_verify --kafka "$IT_OUT" --expect "$N" --null-values || rc=$?
if ((rc == 0)); then
	kf_log "null values stay null: $IT_LAST_VERIFY"
else
	kf_log "warning: null values did not stay null through the kafka sink: $IT_LAST_VERIFY"
	kf_log "$(head -n 2 "$KF_TMP/verify.err")"
	[[ $(it_field lost) == 0 || $(it_field bad) == "$N" ]] ||
		it_fail "null values: records lost: $IT_LAST_VERIFY"
fi
kf_pass "0-byte and 1 MiB values byte-exact in the kafka and redis sinks"
