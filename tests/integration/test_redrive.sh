#!/usr/bin/env bash
# test_redrive.sh — `kfleet redrive` takes the dead letters home, exactly once.
#
# Run (exactly-once; sinks kafka, redis on the state Redis, http): 2,000
# records on 4 partitions; every 50th carries "POISON" (the flaky handler
# fails it: 40 dead letters), and the HTTP receiver refuses with a 400 every
# body of key k7 (20 records: their Redis write is done when the HTTP
# refusal dead-letters them, so their dead letters say
# kfleet.sinks.done=cache).
#
# Then the handler is "fixed" (a config that fails only key k0, the 20
# poison records with id % 100 == 0, and sleeps 150 ms per record on one
# thread), the receiver accepts everything, and:
#   1. --dry-run lists the 60 dead letters and writes nothing; --until before
#      the first one and --since now take none;
#   2. --limit 10 redrives 10 and exits 0;
#   3. a redrive is SIGKILLed halfway through the rest, before any commit
#      (commit_interval_ms is 60 s), and run again to the end (exit 0): it
#      replays what the killed one wrote, over its marks;
#   4. a last --dry-run finds only the 20 dead letters of k0 the redrives
#      wrote last, each with kfleet.attempts 2 or 3 and its first source:
#      nothing else is taken twice.
# At the end every sink holds every record but the k0 poison ones exactly
# once: the redis sink did not get the k7 records again, the killed redrive
# redid nothing, and the k7 records reached the receiver with the
# Idempotency-Keys of their refused first requests.
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

N=2000
POISON=50
IT_IN=$(kf_unique redrive.in)
IT_OUT=$(kf_unique redrive.out)
IT_DLQ=$(kf_unique redrive.dlq)
IT_GROUP=$(kf_unique redrive.group)
IT_LIST="$IT_PREFIX:results"
export IT_IN IT_OUT IT_DLQ IT_GROUP IT_LIST

it_create_topic "$IT_OUT" 4
it_create_topic "$IT_DLQ" 2
it_create_topic "$IT_IN" 4
it_start_receiver recv
control() {
	curl -sS -m 5 -X POST --data "$1" "http://127.0.0.1:$IT_HTTP_PORT/control" >/dev/null ||
		it_fail "the receiver refused /control $1"
}
control '{"mode":"refuse","contains":"\"key\":\"k7\",","status":400}'
it_render redrive.json "$KF_TMP/kfleet.json"
it_render redrive.json "$KF_TMP/fixed.json" \
	'mappings.0.handler.config={"fail_if_contains":"\"key\":\"k0\",","sleep_ms":150}' \
	'mappings.0.concurrency.threads=1' 'mappings.0.commit_interval_ms=60000'
before_ms=$(date +%s%3N)

# dlq_headers — one line of headers per dead letter (read_committed).
dlq_headers() { kf_consume "$IT_DLQ" -f '%h\n'; }
dlq_count() { (($(dlq_headers | wc -l) == $1)); }

# --- the run that makes the dead letters --------------------------------------------
it_start_kfleet w1 "$KF_TMP/kfleet.json"
it_wait_until 30 "w1's assignment" kf_log_has w1 "assigned 4 partition"
it_produce -t "$IT_IN" -p 4 -n "$N" -k 100 --poison-every "$POISON"
it_verify_until 90 "redis sink after the run" --redis-list "$IT_LIST" --expect "$N" \
	--exclude-mod "$POISON"
it_wait_until 60 "60 dead letters" dlq_count 60
it_stop_kfleet w1
headers=$(dlq_headers)
cached=$(grep -c 'kfleet.sinks.done=cache$' <<<"$headers" || true)
none=$(grep -c 'kfleet.sinks.done=$' <<<"$headers" || true)
mapped=$(grep -c 'kfleet.mapping=redrive,' <<<"$headers" || true)
kf_log "dead letters: 60; kfleet.sinks.done=cache: $cached, none: $none; kfleet.mapping=redrive: $mapped"
((cached == 20 && none == 40 && mapped == 60)) ||
	it_fail "want 20 dead letters with kfleet.sinks.done=cache and 40 with none: $headers"
llen0=$(it_redis_llen "$IT_LIST")
control '{"mode":"normal"}'

# redrive NAME ARGS... — `kfleet redrive` in the foreground; its summary to
# $KF_TMP/NAME.out, its log and progress lines to $KF_TMP/NAME.log. Sets RC.
redrive() {
	local name=$1
	shift
	RC=0
	timeout 120 "$KFLEET" redrive "$@" >"$KF_TMP/$name.out" 2>"$KF_TMP/$name.log" || RC=$?
	kf_log "kfleet redrive $* -> exit $RC: $(tail -n 1 "$KF_TMP/$name.out")"
}

# --- 1. dry runs ---------------------------------------------------------------------
redrive dry1 -c "$KF_TMP/fixed.json" --dry-run
((RC == 0)) || it_fail "--dry-run exited $RC: $(cat "$KF_TMP/dry1.log")"
would=$(grep -c '^would redrive ' "$KF_TMP/dry1.out" || true)
((would == 60)) || it_fail "--dry-run listed $would dead letters, want 60"
grep -q "60 read, 60 would be redriven, 0 skipped" "$KF_TMP/dry1.out" ||
	it_fail "--dry-run summary: $(tail -n 1 "$KF_TMP/dry1.out")"
grep -qE "^would redrive $IT_IN\[[0-3]\]@[0-9]+ \(dead letter $IT_DLQ\[[01]\]@[0-9]+, 1 attempt\(s\), error: http 400 from .*; sinks done: cache\)" \
	"$KF_TMP/dry1.out" || it_fail "no k7 line names its source, error and done sink: $(head -n 3 "$KF_TMP/dry1.out")"
redrive dry2 -c "$KF_TMP/fixed.json" --dry-run --until "$before_ms"
grep -q " 0 would be redriven" "$KF_TMP/dry2.out" || it_fail "--until before them: $(cat "$KF_TMP/dry2.out")"
redrive dry3 -c "$KF_TMP/fixed.json" --dry-run --since 0s
grep -q "60 read, 0 would be redriven, 60 skipped" "$KF_TMP/dry3.out" ||
	it_fail "--since now: $(cat "$KF_TMP/dry3.out")"
(($(it_redis_llen "$IT_LIST") == llen0)) || it_fail "a dry run wrote to the redis sink"

# --- 2. --limit 10 -----------------------------------------------------------------------
redrive limit -c "$KF_TMP/fixed.json" --limit 10
((RC == 0)) || it_fail "--limit 10 exited $RC: $(tail -n 20 "$KF_TMP/limit.log")"
grep -qE "redrive redrive: 10 read, 10 redriven, [0-9]+ done, [0-9]+ failed again, 0 skipped" \
	"$KF_TMP/limit.out" || it_fail "--limit 10 summary: $(cat "$KF_TMP/limit.out")"
grep -q "redrive redrive: .* read, .* redriven (.* done, .* failed again, .* in flight), .* skipped" \
	"$KF_TMP/limit.log" || it_fail "no progress line in $KF_TMP/limit.log"

# --- 3. killed halfway, then run to the end -------------------------------------------
llen1=$(it_redis_llen "$IT_LIST")
kf_start killed "$KFLEET" redrive -c "$KF_TMP/fixed.json"
it_wait_until 60 "the killed redrive to write 8 records" it_llen_at_least "$IT_LIST" $((llen1 + 8))
IT_EXPECT_EXIT[killed]=1
kf_stop killed KILL 10
kf_log "SIGKILLed a redrive with $(($(it_redis_llen "$IT_LIST") - llen1)) record(s) written"
redrive rest -c "$KF_TMP/fixed.json"
((RC == 0)) || it_fail "the redrive after the kill exited $RC: $(tail -n 20 "$KF_TMP/rest.log")"
# Commits come only at the end (commit_interval_ms 60000): the killed run
# committed nothing, so this one replayed what it had written, over marks.
marks=$(grep -oE 'epoch [0-9]+, [0-9]+ sink mark' "$KF_TMP/rest.log" | awk '{ s += $3 } END { print s + 0 }')
kf_log "the redrive after the kill loaded $marks sink mark(s) of the killed one"
((marks > 0)) || it_fail "the killed redrive left no marks: the replay over them was not tested"

# --- 4. what is left: only the dead letters the redrives wrote ------------------------
# The run after the kill also took the dead letters the --limit run had
# written (they were there when it reached its partitions' ends): each k0
# record has 2 or 3 attempts now, one dead letter each left to redrive.
redrive dry4 -c "$KF_TMP/fixed.json" --dry-run
grep -q "20 read, 20 would be redriven, 0 skipped" "$KF_TMP/dry4.out" ||
	it_fail "after the redrives: $(cat "$KF_TMP/dry4.out")"
again=$(grep -E '^would redrive .* [23] attempt\(s\), error: handler returned KF_FAIL; sinks done: none\)' \
	"$KF_TMP/dry4.out" | grep -oE "^would redrive $IT_IN\[[0-9]+\]@[0-9]+" | sort -u | wc -l)
((again == 20)) || it_fail "want 20 k0 records with 2 or 3 attempts: $(cat "$KF_TMP/dry4.out")"
limit_failed=$(sed -nE 's/.* ([0-9]+) failed again.*/\1/p' "$KF_TMP/limit.out")
headers=$(dlq_headers)
later=$(grep -E 'kfleet.attempts=[23],' <<<"$headers" | grep -c "kfleet.source.topic=$IT_IN," || true)
((later == 20 + limit_failed)) ||
	it_fail "want $((20 + limit_failed)) dead letters written by redrives, with the first source topic: $later"
kf_log "dead letters written by the redrives: $later ($limit_failed by --limit 10), each naming its first source"

# --- the sinks: everything but k0's poison, exactly once ------------------------------
it_verify_final "redis sink (final)" --redis-list "$IT_LIST" --expect "$N" --exclude-mod 100
it_verify_final "kafka sink (final, read_committed)" --kafka "$IT_OUT" --expect "$N" \
	--exclude-mod 100
it_verify_final "http sink (final, one effect per Idempotency-Key)" --http-log "$IT_HTTP_LOG" \
	--effects --expect "$N" --exclude-mod 100
python3 - "$IT_HTTP_LOG" <<'EOF' || it_fail "the k7 records did not keep their Idempotency-Keys"
import json, sys
refused, ok = set(), set()
for line in open(sys.argv[1]):
    e = json.loads(line)
    if '"key":"k7",' not in e.get("body", ""):
        continue
    (refused if e["status"] == 400 else ok).add(e["idempotency_key"])
print(f"k7: {len(refused)} key(s) refused in the run, {len(ok)} accepted in the redrive, "
      f"{len(refused & ok)} the same", file=sys.stderr)
sys.exit(0 if len(refused) == 20 and refused == ok else 1)
EOF
kf_pass "60 dead letters; dry runs 60/0/0; --limit 10; a redrive killed and run again; 20 failed again with 2 attempts; every sink exactly once"
