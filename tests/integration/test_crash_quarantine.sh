#!/usr/bin/env bash
# test_crash_quarantine.sh — a handler that segfaults on some records, three
# workers in one group, exactly-once, and a supervisor (this script) that
# restarts whichever worker dies. 3,000 records on 6 partitions; ids 0, 1001
# and 2002 are poison (tests/unit/fixtures/crashing.c writes through a bad
# pointer on them). Each crash is noted in the partition's crash ledger as
# the process dies; the next owner runs the record alone, and once it has
# crashed the process retry.max_crashes (3) times sends it to the on-failure
# topic without running it. What must hold: exactly 3 crashes per poison
# record (9 in all) and then no more, the poison records in the on-failure
# topic with kfleet.error naming SIGSEGV, every other record exactly once in
# Kafka and Redis, and every worker stops cleanly at the end.
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

N=3000
MOD=1001
POISON=$(((N + MOD - 1) / MOD))
IT_IN=$(kf_unique quarantine.in)
IT_OUT=$(kf_unique quarantine.out)
IT_DLQ=$(kf_unique quarantine.dlq)
IT_GROUP=$(kf_unique quarantine.group)
IT_LIST="$IT_PREFIX:results"
export IT_IN IT_OUT IT_DLQ IT_GROUP IT_LIST
it_create_topic "$IT_IN" 6
it_create_topic "$IT_OUT" 6
it_create_topic "$IT_DLQ" 2
it_produce -t "$IT_IN" -p 6 -n "$N" -k 100 --poison-every "$MOD"
it_render dlq.json "$KF_TMP/kfleet.json" mappings.0.exactly_once=true \
	"mappings.0.handler={\"path\": \"$KF_BUILD_DIR/fixtures/crashing.so\"}" \
	'mappings.0.retry={"max_attempts": 3, "backoff_ms": 20, "max_backoff_ms": 200, "max_crashes": 3}'

# The supervisor: worker W's runs are named W.0, W.1, ...; a run that dies
# is restarted at once, as a container's restart policy would.
declare -A RUN=([w1]=0 [w2]=0 [w3]=0)
start_worker() {
	IT_EXPECT_EXIT[$1.${RUN[$1]}]=1 # this script watches their exits itself
	it_start_kfleet "$1.${RUN[$1]}" "$KF_TMP/kfleet.json"
}
CRASHES=0
supervise() {
	local w name st
	for w in w1 w2 w3; do
		name=$w.${RUN[$w]}
		kf_alive "$name" && continue
		st=0
		wait "${KF_PID[$name]}" 2>/dev/null || st=$?
		((st == 139)) || it_fail "$name exited with status $st (want 139, a SIGSEGV)"
		CRASHES=$((CRASHES + 1))
		kf_log "$name died of SIGSEGV (crash $CRASHES): $(grep -o 'kfleet: SIGSEGV[^"]*' "$KF_TMP/$name.log" | cut -c1-160)"
		RUN[$w]=$((RUN[$w] + 1))
		start_worker "$w"
	done
}
for w in w1 w2 w3; do start_worker "$w"; done

done_all() {
	it_verify --dlq "$IT_DLQ" --expect "$N" --only-mod "$MOD" &&
		it_verify --kafka "$IT_OUT" --expect "$N" --exclude-mod "$MOD" --kafka-idle 5 &&
		it_verify --redis-list "$IT_LIST" --expect "$N" --exclude-mod "$MOD"
}
deadline=$((SECONDS + 300))
until done_all; do
	((SECONDS < deadline)) || it_fail "not drained after 300 s ($CRASHES crash(es)); last: $IT_LAST_VERIFY"
	supervise
	sleep 0.5 # the supervisor's poll interval, not a synchronisation
done
supervise
kf_log "drained with $CRASHES crash(es)"
kf_assert_eq $((3 * POISON)) "$CRASHES" "crashes (max_crashes per poison record)"

for w in w1 w2 w3; do it_stop_kfleet "$w.${RUN[$w]}" 30; done
it_verify_final "kafka sink" --kafka "$IT_OUT" --expect "$N" --exclude-mod "$MOD"
it_verify_final "redis sink" --redis-list "$IT_LIST" --expect "$N" --exclude-mod "$MOD"
it_verify_final "dlq: the poison records" --dlq "$IT_DLQ" --expect "$N" --only-mod "$MOD" \
	--expect-dlq "$POISON" --check-source \
	--expect-header "kfleet.error=the handler crashed the process (SIGSEGV) on this record 3 time(s)"
kf_pass "$CRASHES crashes for $POISON poison records, then quarantined; the rest exactly once"
