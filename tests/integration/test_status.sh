#!/usr/bin/env bash
# test_status.sh — `kfleet status` against a real fleet, and the record's
# identity on its failure's log line.
#
# Exactly-once, ordering key, on_failure mode park, sinks kafka + redis; a
# topic of 4 partitions. 400 records of 20 keys (k0's first record carries
# "POISON": the flaky handler fails it and k0's 20 records park), and one
# record of key "traced" that fails too and carries a W3C traceparent (kcat
# -H): 401 records, 2 keys and 21 records parked.
#   1. Before any worker ran: every partition listed once, nothing
#      committed, the lag the whole topic (401), no member, no epoch.
#   2. Two workers drain it: every partition once, lag 0, epochs >= 1, a
#      holder per partition, the group Stable with 2 members whose
#      partitions are disjoint and cover the topic, 2 keys / 21 records
#      parked; the text table says the same.
#   3. The traced record's failure line (a worker's JSON log) carries
#      mapping, topic, partition, offset (where kcat finds the record) and
#      the trace id.
#   4. Both workers stopped, 100 more records: no member, the group Empty,
#      the lag 100, the epochs kept, no holder (each let go cleanly). Then
#      one worker that commits only every 60 s takes them: the lag stays
#      100 while the marks above the committed offset are the 95 records
#      its Redis sink wrote, and k0's 5 join its park (2 keys, 26 records).
#   5. Exit 1 naming Redis, or Kafka, when one does not answer; exit 2 for
#      bad usage.
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

N=400
IT_IN=$(kf_unique status.in)
IT_OUT=$(kf_unique status.out)
IT_DLQ=$(kf_unique status.dlq)
IT_GROUP=$(kf_unique status.group)
IT_LIST="$IT_PREFIX:results"
export IT_IN IT_OUT IT_DLQ IT_GROUP IT_LIST
TRACEPARENT=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
TRACE_ID=4bf92f3577b34da6a3ce929d0e0e4736

it_create_topic "$IT_OUT" 4
it_create_topic "$IT_DLQ" 2
it_create_topic "$IT_IN" 4
it_render status.json "$KF_TMP/kfleet.json"

# status NAME [ARGS...] — `kfleet status -c kfleet.json ARGS`: stdout to
# $KF_TMP/NAME.out, stderr to NAME.err; sets RC.
status() {
	local name=$1
	shift
	RC=0
	"$KFLEET" status -c "$KF_TMP/kfleet.json" "$@" >"$KF_TMP/$name.out" 2>"$KF_TMP/$name.err" ||
		RC=$?
}

# check FILE WHAT PARTITIONS [NAME=VALUE...] — assertions on a --json
# output (the python below says which NAMEs): returns 1 after printing what
# is wrong, and the whole output.
check() {
	python3 - "$@" <<'EOF'
import json, sys
path, what, parts = sys.argv[1], sys.argv[2], int(sys.argv[3])
opts = dict(a.split("=", 1) for a in sys.argv[4:])
doc = json.load(open(path))
bad = []
def want(cond, msg):
    if not cond:
        bad.append(msg)
m = doc["mappings"][0]
ps = m["partitions"]
want(doc["ok"] is True, "ok is not true")
want(m["end_is"] == "last_stable_offset", f"end_is {m['end_is']}")
want(sorted(p["partition"] for p in ps) == list(range(parts)),
     f"partitions {[p['partition'] for p in ps]}, want each of 0..{parts - 1} once")
if "lag" in opts:
    want(m["lag"] == int(opts["lag"]), f"lag {m['lag']}, want {opts['lag']}")
    want(sum(p["lag"] for p in ps) == m["lag"], "the partitions' lags do not add up")
if opts.get("lag_each") == "0":
    want(all(p["lag"] == 0 for p in ps), f"lags {[p['lag'] for p in ps]}, want 0 each")
if opts.get("committed") == "none":
    want(all(p["committed"] is None for p in ps), "a committed offset before any worker ran")
    want(all(p["lag"] == p["end"] - p["start"] for p in ps), "lag is not end - start")
else:
    want(all(p["committed"] is not None and p["lag"] == p["end"] - p["committed"] for p in ps),
         "lag is not end - committed")
if opts.get("epochs") == "none":
    want(all(p["epoch"] is None for p in ps), f"epochs {[p['epoch'] for p in ps]}")
elif "epochs" in opts:
    want(all(p["epoch"] is not None and p["epoch"] >= 1 for p in ps),
         f"epochs {[p['epoch'] for p in ps]}, want >= 1")
members = m["members"]
if "members" in opts:
    want(len(members) == int(opts["members"]), f"{len(members)} member(s), want {opts['members']}")
if opts.get("members") == "2":
    held = [(tp["topic"], tp["partition"]) for mb in members for tp in mb["partitions"]]
    want(all(mb["partitions"] for mb in members), "a member without partitions")
    want(len(held) == len(set(held)), f"a partition held twice: {held}")
    want(sorted(p for _, p in held) == list(range(parts)), f"members hold {held}")
    ids = {mb["member_id"] for mb in members}
    want(all(p["member"] in ids for p in ps), "a partition without its member")
    want(all(p["holder"] for p in ps), f"holders {[p['holder'] for p in ps]}")
if "state" in opts:
    want(m["group_state"] == opts["state"], f"group state {m['group_state']}")
if opts.get("holders") == "none":
    want(all(p["holder"] is None for p in ps), f"holders {[p['holder'] for p in ps]}")
if opts.get("holders") == "all":
    want(all(p["holder"] for p in ps), f"holders {[p['holder'] for p in ps]}")
if "marks" in opts:
    want(sum(p["marks"] for p in ps) == int(opts["marks"]),
         f"marks {[p['marks'] for p in ps]}, want {opts['marks']} in all")
if "parked" in opts:
    k, r = map(int, opts["parked"].split("/"))
    want((m["parked_keys"], m["parked_records"]) == (k, r),
         f"parked {m['parked_keys']}/{m['parked_records']}, want {k}/{r}")
    want(sum(p["parked_keys"] for p in ps) == k, "parked keys do not add up")
want(all(p.get("error") is None for p in ps), "a partition error")
for b in bad:
    print(f"status --json ({what}): {b}", file=sys.stderr)
if bad:
    print(json.dumps(doc, indent=1), file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

# wait_json SECONDS WHAT [NAME=VALUE...] — poll `status --json` until it
# passes check; at the deadline fail with what the last poll got wrong.
wait_json() {
	local secs=$1 what=$2 end
	shift 2
	end=$((SECONDS + secs))
	until status poll --json && check "$KF_TMP/poll.out" "$what" 4 "$@" 2>"$KF_TMP/poll.why"; do
		if ((SECONDS >= end)); then
			cat "$KF_TMP/poll.why" "$KF_TMP/poll.err" >&2
			it_fail "timed out after ${secs}s waiting for status: $what"
		fi
		it_check_alive
		sleep 0.5 # poll interval, not a synchronisation
	done
	kf_log "status: $what"
}

show() { sed 's/^/    /' "$KF_TMP/$1.out" >&2; }

# --- 1. before any worker ----------------------------------------------------------------
it_produce -t "$IT_IN" -p 4 -n "$N" -k 20 --poison-every 100
printf 'traced\t{"id":"traced","mark":"POISON"}\n' |
	kf_produce "$IT_IN" -K $'\t' -H "traceparent=$TRACEPARENT"
status fresh --json
((RC == 0)) || it_fail "status before any worker exited $RC: $(cat "$KF_TMP/fresh.err")"
check "$KF_TMP/fresh.out" "before any worker" 4 lag=$((N + 1)) committed=none epochs=none \
	members=0 || it_fail "status before any worker: see above"
status fresh_text
((RC == 0)) || it_fail "status (text) exited $RC"
kf_log "kfleet status before any worker ran:"
show fresh_text

# --- 2. two workers drain it -------------------------------------------------------------
it_start_kfleet w1 "$KF_TMP/kfleet.json"
it_start_kfleet w2 "$KF_TMP/kfleet.json"
it_wait_until 60 "380 records in the redis sink" it_llen_at_least "$IT_LIST" $((N - 20))
wait_json 60 "drained, 2 keys parked, 2 members" lag=0 lag_each=0 epochs=1 members=2 \
	state=Stable parked=2/21
status running --json
((RC == 0)) || it_fail "status while running exited $RC: $(cat "$KF_TMP/running.err")"
check "$KF_TMP/running.out" "two workers, drained" 4 lag=0 lag_each=0 epochs=1 members=2 \
	state=Stable parked=2/21 || it_fail "status with two workers: see above"
status running_text
((RC == 0)) || it_fail "status (text) while running exited $RC"
kf_log "kfleet status with two workers, drained:"
show running_text
grep -q "^  group Stable, 2 member(s)$" "$KF_TMP/running_text.out" ||
	it_fail "the text does not say the group is Stable with 2 members"
rows=$(grep -cE "^  $IT_IN +[0-3] " "$KF_TMP/running_text.out" || true)
((rows == 4)) || it_fail "the text lists $rows partition rows, want 4"
grep -qE "^  4 partition\(s\), lag 0, 2 parked key\(s\), 21 parked record\(s\)$" \
	"$KF_TMP/running_text.out" || it_fail "the text's summary line is off"

# --- 3. the traced record's failure line ----------------------------------------------------
where=$(kf_consume "$IT_IN" -f '%k %p %o\n' | awk '$1 == "traced" { print $2, $3 }')
[[ -n $where ]] || it_fail "kcat does not find the traced record"
read -r tp to <<<"$where"
python3 - "$TRACE_ID" "$IT_IN" "$tp" "$to" "$KF_TMP/w1.log" "$KF_TMP/w2.log" <<'EOF' ||
import json, sys
trace, topic, part, off = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
lines = []
for path in sys.argv[5:]:
    for line in open(path):
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if j.get("trace_id") == trace:
            lines.append(j)
fails = [j for j in lines if "failed for good" in j.get("msg", "")]
if not fails:
    sys.exit(f"no 'failed for good' line with trace_id {trace} ({len(lines)} line(s) with it)")
j = fails[0]
got = (j.get("mapping"), j.get("topic"), j.get("partition"), j.get("offset"))
if got != ("status", topic, part, off):
    sys.exit(f"the line names {got}, want {('status', topic, part, off)}: {j}")
print(f"failure line: {json.dumps(j)}", file=sys.stderr)
EOF
	it_fail "the traced record's failure line does not carry its identity"

# --- 4. the workers stopped, more records ---------------------------------------------------
it_stop_kfleet w1
it_stop_kfleet w2
it_produce -t "$IT_IN" -n 100 -s "$N" -k 20 --poison-every 100
wait_json 30 "no member, lag 100" lag=100 members=0 state=Empty
status stopped --json
((RC == 0)) || it_fail "status with the workers stopped exited $RC: $(cat "$KF_TMP/stopped.err")"
check "$KF_TMP/stopped.out" "workers stopped" 4 lag=100 epochs=1 members=0 state=Empty \
	holders=none parked=2/21 || it_fail "status with the workers stopped: see above"
status stopped_text
kf_log "kfleet status with the workers stopped and 100 records since:"
show stopped_text
it_render status.json "$KF_TMP/slow-commit.json" mappings.0.commit_interval_ms=60000
llen=$(it_redis_llen "$IT_LIST")
it_start_kfleet w3 "$KF_TMP/slow-commit.json"
it_wait_until 60 "w3 to write the 95 new records" it_llen_at_least "$IT_LIST" $((llen + 95))
wait_json 30 "one member, done but not committed" lag=100 members=1 marks=95 holders=all \
	parked=2/26
status uncommitted_text
kf_log "kfleet status with one worker that has not committed yet:"
show uncommitted_text
it_stop_kfleet w3

# --- 5. what it says when Kafka or Redis does not answer, and bad usage -------------------
closed=$(kf_free_port)
it_render status.json "$KF_TMP/no-redis.json" "redis.url=redis://127.0.0.1:$closed/0"
RC=0
"$KFLEET" status -c "$KF_TMP/no-redis.json" >"$KF_TMP/no-redis.out" 2>"$KF_TMP/no-redis.err" ||
	RC=$?
((RC == 1)) || it_fail "status with Redis down exited $RC, want 1"
grep -q "redis redis://127.0.0.1:$closed/0: cannot connect" "$KF_TMP/no-redis.err" ||
	it_fail "status with Redis down does not name it: $(cat "$KF_TMP/no-redis.err")"
grep -q "parked keys unknown (Redis not read)" "$KF_TMP/no-redis.out" ||
	it_fail "status with Redis down counts parked keys it could not read"
kf_log "Redis down: exit 1, $(grep -m1 redis "$KF_TMP/no-redis.err")"
it_render status.json "$KF_TMP/no-kafka.json" "kafka.brokers=127.0.0.1:$closed"
RC=0
t0=$SECONDS
"$KFLEET" status -c "$KF_TMP/no-kafka.json" --timeout-ms 2000 >"$KF_TMP/no-kafka.out" \
	2>"$KF_TMP/no-kafka.err" || RC=$?
((RC == 1)) || it_fail "status with Kafka down exited $RC, want 1"
grep -q "kafka 127.0.0.1:$closed: no metadata" "$KF_TMP/no-kafka.err" ||
	it_fail "status with Kafka down does not name it: $(grep -v '"component"' "$KF_TMP/no-kafka.err")"
((SECONDS - t0 <= 10)) || it_fail "status with Kafka down took $((SECONDS - t0))s with --timeout-ms 2000"
kf_log "Kafka down: exit 1 in $((SECONDS - t0))s, $(grep -m1 'no metadata' "$KF_TMP/no-kafka.err")"
for bad in "--mapping nope" "--timeout-ms soon" "--frobnicate" "--json --mapping"; do
	# shellcheck disable=SC2086 # the options split on purpose
	status usage $bad
	((RC == 2)) || it_fail "status $bad exited $RC, want 2"
	kf_log "status $bad: exit 2: $(head -n 1 "$KF_TMP/usage.err")"
done

kf_pass "status: partitions, lag, epochs, members, parked keys; trace id on the failure line"
