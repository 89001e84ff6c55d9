#!/usr/bin/env bash
# test_park.sh — on_failure mode "park": a key that fails forever costs only
# that key, keeps its order, and goes home exactly once.
#
# Exactly-once, ordering key, sinks kafka + redis (the state Redis) + http;
# 2,000 records of 100 keys on 4 partitions. Two keys fail for good:
#   k0  every record carries "POISON" (the flaky handler fails it);
#   k7  the HTTP receiver refuses its bodies with a 400 after the Redis write
#       (its first record parks with kfleet.sinks.done "cache").
# Each parks at its first record; its later records join the park without
# running; the 98 other keys reach every sink exactly once meanwhile.
# Then, as an operator would, with the receiver fixed and the fleet
# restarted (a slow handler: 200 ms a record):
#   - 100 more records arrive; k0's and k7's join the park;
#   - `kfleet parked list` shows both keys, their counts and first errors;
#   - `kfleet parked retry --key k7` is SIGKILLed halfway and run again: k7's
#     21 records run in order, the Redis writes done before the refusals are
#     not redone, the HTTP receiver gets the refused Idempotency-Keys again;
#   - 100 more records: k7's new one runs in the fleet, after the released
#     ones;
#   - `kfleet parked drop --key k0` sends k0's 22 records to the on-failure
#     topic, each naming its source.
# At the end: Kafka (read_committed, per-key order checked), Redis and HTTP
# hold every record but k0's exactly once; nothing is parked.
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

N=2000
IT_IN=$(kf_unique park.in)
IT_OUT=$(kf_unique park.out)
IT_DLQ=$(kf_unique park.dlq)
IT_GROUP=$(kf_unique park.group)
IT_LIST="$IT_PREFIX:results"
IT_METRICS_PORT=$(kf_free_port)
export IT_IN IT_OUT IT_DLQ IT_GROUP IT_LIST IT_METRICS_PORT

it_create_topic "$IT_OUT" 4
it_create_topic "$IT_DLQ" 2
it_create_topic "$IT_IN" 4
it_start_receiver recv
control() {
	curl -sS -m 5 -X POST --data "$1" "http://127.0.0.1:$IT_HTTP_PORT/control" >/dev/null ||
		it_fail "the receiver refused /control $1"
}
control '{"mode":"refuse","contains":"\"key\":\"k7\",","status":400}'
it_render park.json "$KF_TMP/kfleet.json"
it_render park.json "$KF_TMP/fixed.json" \
	'mappings.0.handler.config={"fail_if_contains":"POISON","sleep_ms":200}'

# parked CMD ARGS... — `kfleet parked CMD -c fixed.json ARGS`; output to
# $KF_TMP/parked.out (also logged); sets RC.
parked() {
	RC=0
	timeout 120 "$KFLEET" parked "$1" -c "$KF_TMP/fixed.json" "${@:2}" >"$KF_TMP/parked.out" \
		2>>"$KF_TMP/parked.log" || RC=$?
	kf_log "kfleet parked $*: exit $RC"
	sed 's/^/    /' "$KF_TMP/parked.out" >&2
}

# --- two keys park; the others flow ----------------------------------------------------
it_start_kfleet w1 "$KF_TMP/kfleet.json"
it_wait_until 30 "w1's assignment" kf_log_has w1 "assigned 4 partition"
it_produce -t "$IT_IN" -p 4 -n "$N" -k 100 --poison-every 100
# Redis: everything but k0, k7's first record included (done before its 400).
it_wait_until 90 "1,961 records in the redis sink" it_llen_at_least "$IT_LIST" 1961
it_wait_until 30 "40 records parked" it_metric_is kfleet_records_parked_total 40
it_wait_until 30 "the parked gauges" it_metric_is kfleet_parked_keys 2
kf_log "parked: keys $(it_metric kfleet_parked_keys), records $(it_metric kfleet_parked_records)"
it_metric_is kfleet_parked_records 40 || it_fail "kfleet_parked_records is $(it_metric kfleet_parked_records), want 40"
it_stop_kfleet w1
rc=0
it_verify --kafka "$IT_OUT" --expect "$N" --exclude-mod 100 --check-key-order || rc=$?
kf_log "kafka sink while k7 is parked: $IT_LAST_VERIFY"
((rc == 3)) && [[ $(it_field lost) == 20 && $(it_field duplicates) == 0 ]] ||
	it_fail "while parked the kafka sink should lack k7's 20 records and nothing else"

# --- the fix: receiver fixed, fleet restarted; more records join the park ---------------
control '{"mode":"normal"}'
it_start_kfleet w2 "$KF_TMP/fixed.json"
it_wait_until 60 "w2 to read the parked keys" it_metric_is kfleet_parked_keys 2
it_produce -t "$IT_IN" -n 100 -s "$N" -k 100 --poison-every 100
it_wait_until 60 "42 records parked by w2" it_metric_is kfleet_records_parked_total 2
parked list
((RC == 0)) || it_fail "parked list exited $RC"
grep -qE "^park $IT_IN\[[0-3]\] key \"k7\": 21 record\(s\), offsets [0-9]+\.\.[0-9]+, parked [0-9]+s ago: http 400 from " \
	"$KF_TMP/parked.out" || it_fail "parked list does not show k7's 21 records and its first error"
grep -qE "key \"k0\": 21 record\(s\), .*: handler returned KF_FAIL" "$KF_TMP/parked.out" ||
	it_fail "parked list does not show k0's 21 records"
grep -q "^2 key(s) parked, 42 record(s)$" "$KF_TMP/parked.out" ||
	it_fail "parked list summary: $(tail -n 1 "$KF_TMP/parked.out")"

# --- retry k7, killed halfway, then to the end --------------------------------------
# The fleet is done with the new records first (98 of them reach Redis), so
# that what the retry writes is all k7's.
it_wait_until 60 "w2 to write the 98 new records" it_llen_at_least "$IT_LIST" $((1961 + 98))
# k7_accepted — k7 requests the receiver accepted (each retried record sends
# one; how many of k7's records the Redis sink already had depends on how
# many ran before the first refusal came back).
k7_accepted() { grep -F '"status":200' "$IT_HTTP_LOG" | grep -cF '\"key\":\"k7\",' || true; }
k7_at_least() { (($(k7_accepted) >= $1)); }
kf_start retry1 "$KFLEET" parked retry -c "$KF_TMP/fixed.json" --key k7
it_wait_until 60 "the first retry to send 5 of k7's records" k7_at_least 5
IT_EXPECT_EXIT[retry1]=1
kf_stop retry1 KILL 10
kf_log "SIGKILLed the retry after $(k7_accepted) of k7's records reached the receiver"
parked retry --key k7
((RC == 0)) || it_fail "the retry after the kill exited $RC: $(cat "$KF_TMP/parked.out")"
marks=$(grep -oE 'epoch [0-9]+, [0-9]+ sink mark' "$KF_TMP/parked.log" | tail -n 1 | awk '{ print $3 }')
kf_log "the retry after the kill found ${marks:-0} sink mark(s) of the killed one"
grep -qE "key \"k7\": retried [0-9]+ record\(s\); the key is released" "$KF_TMP/parked.out" ||
	it_fail "the retry did not release k7"

# --- a released key runs in the fleet again -------------------------------------------
it_produce -t "$IT_IN" -n 100 -s $((N + 100)) -k 100 --poison-every 100
it_wait_until 60 "w2 to park k0's next record" it_metric_is kfleet_records_parked_total 3

# --- drop k0 -----------------------------------------------------------------------------
parked drop --key k0
((RC == 0)) || it_fail "drop exited $RC"
grep -qE "key \"k0\": dropped 22 record\(s\) to the on-failure topic; the key is released" \
	"$KF_TMP/parked.out" || it_fail "drop did not send k0's 22 records to the on-failure topic"
parked list
grep -q "^0 key(s) parked, 0 record(s)$" "$KF_TMP/parked.out" || it_fail "keys are still parked"
it_wait_until 30 "w2 to forget the parked keys" it_metric_is kfleet_parked_keys 0
it_stop_kfleet w2

# --- every sink: all but k0, exactly once, k7 in order ---------------------------------
T=$((N + 200))
it_verify_final "redis sink (final)" --redis-list "$IT_LIST" --expect "$T" --exclude-mod 100
it_verify_final "kafka sink (final, read_committed, per-key order)" --kafka "$IT_OUT" \
	--expect "$T" --exclude-mod 100 --check-key-order
it_verify_final "http sink (final, one effect per Idempotency-Key)" --http-log "$IT_HTTP_LOG" \
	--effects --expect "$T" --exclude-mod 100
it_verify_final "on-failure topic (k0, dropped)" --dlq "$IT_DLQ" --expect "$T" --only-mod 100 \
	--expect-dlq 22 --expect-header kfleet.mapping=park --expect-header kfleet.handler=flaky \
	--check-source
# k7's records that ran before the first refusal came back were refused too
# (the sink answers after the worker moved on to the key's next record):
# each parked with its Redis write done, and each refused request's
# Idempotency-Key was accepted once released.
python3 - "$IT_HTTP_LOG" <<'EOF' || it_fail "k7's records did not keep their Idempotency-Keys"
import json, sys
refused, ok = set(), set()
for line in open(sys.argv[1]):
    e = json.loads(line)
    if '"key":"k7",' not in e.get("body", ""):
        continue
    (refused if e["status"] == 400 else ok).add(e["idempotency_key"])
print(f"k7: {len(refused)} Idempotency-Key(s) refused before the park, {len(ok)} accepted, "
      f"{len(refused & ok)} of them refused first", file=sys.stderr)
sys.exit(0 if refused and refused <= ok else 1)
EOF
kf_pass "k0 and k7 parked; the others flowed; k7 retried in order exactly once across a kill; k0 dropped to the on-failure topic"
