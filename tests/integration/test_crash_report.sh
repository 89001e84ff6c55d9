#!/usr/bin/env bash
# test_crash_report.sh — a handler that crashes the process (a write through
# a bad pointer in tests/unit/fixtures/crashing.c, on the record whose value
# holds "SEGV") takes kfleet down with SIGSEGV (exit status 139), and before
# it goes kfleet logs which mapping, handler, topic, partition and offset the
# crashing worker was running. 20 good records precede the bad one on a
# one-partition topic, so the bad one is at offset 20.
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

IT_IN=$(kf_unique crash.in)
IT_OUT=$(kf_unique crash.out)
IT_DLQ=$(kf_unique crash.dlq)
IT_GROUP=$(kf_unique crash.group)
IT_LIST="$IT_PREFIX:results"
export IT_IN IT_OUT IT_DLQ IT_GROUP IT_LIST
it_create_topic "$IT_IN" 1
{
	for i in $(seq 0 19); do printf 'k%d\tgood %d\n' "$i" "$i"; done
	printf 'k20\tthis one will SEGV\n'
} | kf_produce "$IT_IN" -K $'\t' -p 0

it_render dlq.json "$KF_TMP/kfleet.json" -mappings.0.on_failure -mappings.0.sinks.0 \
	"mappings.0.handler={\"path\": \"$KF_BUILD_DIR/fixtures/crashing.so\"}" \
	'mappings.0.batch={"max_records": 1, "window_ms": 0}'
it_start_kfleet w1 "$KF_TMP/kfleet.json"
IT_EXPECT_EXIT[w1]=1
kf_wait_exit w1 60
kf_assert_eq 139 "$KF_STATUS" "exit status (128 + SIGSEGV)"
want="kfleet: SIGSEGV at address 0x8 in a handler call: mapping failing, handler crashing: $IT_IN\\[0\\]@20 \\(1 record\\)"
kf_log_has w1 "$want" || it_fail "no crash line naming the record in the log (want /$want/)"
kf_log "$(grep -o 'kfleet: SIGSEGV[^"]*' "$KF_TMP/w1.log")"
kf_pass "the crash names mapping, handler and record; the process died of SIGSEGV"
