#!/usr/bin/env bash
# test_cli.sh — the command line: exit codes (0 ok, 1 runtime failure, 2 bad
# usage or config), `check` naming the JSON path of what is wrong, and
# `invoke` running records through a handler without Kafka or Redis (the
# config points at closed ports on purpose).
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_need_bins
export KF_BUILD_DIR

# run NAME CMD... — run CMD with stdout/stderr in $KF_TMP/NAME.{out,err};
# sets RC.
run() {
	local name=$1
	shift
	RC=0
	"$@" >"$KF_TMP/$name.out" 2>"$KF_TMP/$name.err" </dev/null || RC=$?
}
expect_rc() { # WANT NAME
	if [[ $RC != "$1" ]]; then
		kf_log "stdout:"
		head -n 20 "$KF_TMP/$2.out" >&2
		kf_log "stderr:"
		head -n 20 "$KF_TMP/$2.err" >&2
		kf_fail "$2: exit status $RC, expected $1"
	fi
}

# --- version, help, usage errors ---------------------------------------------
run version "$KFLEET" version
expect_rc 0 version
[[ -s $KF_TMP/version.out ]] || kf_fail "kfleet version printed nothing"
kf_log "version: $(head -n 1 "$KF_TMP/version.out")"

run help "$KFLEET" --help
expect_rc 0 help
grep -q run "$KF_TMP/help.out" || kf_fail "kfleet --help does not mention the run command"

run unknown "$KFLEET" frobnicate
expect_rc 2 unknown
run noargs "$KFLEET"
expect_rc 2 noargs
run run-no-config "$KFLEET" run
expect_rc 2 run-no-config

# --- check -------------------------------------------------------------------
it_render cli.json "$KF_TMP/good.json"
run check-good "$KFLEET" check -c "$KF_TMP/good.json"
expect_rc 0 check-good

# bad_config NAME NEEDLE OVERRIDE... — `check` must exit 2 and name NEEDLE
# (the JSON path, a file, a variable) on stderr.
bad_config() {
	local name=$1 needle=$2
	shift 2
	it_render cli.json "$KF_TMP/$name.json" "$@"
	run "$name" "$KFLEET" check -c "$KF_TMP/$name.json"
	expect_rc 2 "$name"
	grep -qF -- "$needle" "$KF_TMP/$name.err" ||
		kf_fail "$name: stderr does not name '$needle': $(head -c 400 "$KF_TMP/$name.err")"
	kf_log "$name: $(head -n 1 "$KF_TMP/$name.err")"
}
bad_config bad-type 'mappings[0].batch.max_records' mappings.0.batch.max_records='"lots"'
bad_config bad-range 'mappings[0].concurrency.threads' mappings.0.concurrency.threads=0
bad_config unknown-key 'mappings[0].bogus' mappings.0.bogus=1
bad_config missing-key 'mappings[0].topics' -mappings.0.topics
bad_config bad-enum 'mappings[0].ordering' mappings.0.ordering=sideways
bad_config bad-sink 'mappings[0].sinks[0].type' mappings.0.sinks.0.type=pigeon
bad_config brokers-type 'kafka.brokers' kafka.brokers=5
# shellcheck disable=SC2016 # the ${...} is for kfleet to expand, not bash
bad_config unset-var 'KFIT_SURELY_UNSET_VAR' 'kafka.brokers="${KFIT_SURELY_UNSET_VAR}"'
bad_config no-handler '/nonexistent/kfit/handler.so' \
	mappings.0.handler.path=/nonexistent/kfit/handler.so

printf '{ "kafka": ' >"$KF_TMP/truncated.json"
run truncated "$KFLEET" check -c "$KF_TMP/truncated.json"
expect_rc 2 truncated
grep -qF truncated.json "$KF_TMP/truncated.err" || kf_fail "truncated: stderr does not name the file"

run missing-file "$KFLEET" check -c "$KF_TMP/does-not-exist.json"
expect_rc 2 missing-file
grep -qF does-not-exist.json "$KF_TMP/missing-file.err" ||
	kf_fail "missing-file: stderr does not name the file"

# --- invoke ------------------------------------------------------------------
# input_line ID [MARK] — one invoke input line carrying kf_produce's JSON value.
input_line() {
	python3 -c 'import json,sys
i=int(sys.argv[1]); v={"id":i,"key":"k%d"%(i%2),"seq":i//2,"name":"item-%d"%i}
if len(sys.argv)>2: v["mark"]=sys.argv[2]
print(json.dumps({"key":v["key"],"value":json.dumps(v)}))' "$@"
}
for i in 0 1 2 3; do input_line "$i"; done >"$KF_TMP/in.jsonl"

run invoke "$KFLEET" invoke -c "$KF_TMP/good.json" --input "$KF_TMP/in.jsonl"
expect_rc 0 invoke
# One JSON line per output per sink: 4 records x 2 sinks, in record order.
"$IT_TOOLS/kf_verify" --jsonl "$KF_TMP/invoke.out" --sink out --expect 4 --check-key-order ||
	kf_fail "invoke: sink out outputs wrong (stdout: $(head -c 600 "$KF_TMP/invoke.out"))"
"$IT_TOOLS/kf_verify" --jsonl "$KF_TMP/invoke.out" --sink log --expect 4 --check-key-order ||
	kf_fail "invoke: sink log outputs wrong"

# A failing record (flaky with POISON) makes invoke exit non-zero.
{
	input_line 10
	input_line 11 POISON
	input_line 12
} >"$KF_TMP/poison.jsonl"
run invoke-poison "$KFLEET" invoke -c "$KF_TMP/good.json" --input "$KF_TMP/poison.jsonl"
((RC != 0)) || kf_fail "invoke with a POISON record exited 0"
kf_log "invoke with a failing record: exit $RC: $(head -n 1 "$KF_TMP/invoke-poison.err")"

# The uppercase handler through invoke.
it_render cli.json "$KF_TMP/upper.json" \
	mappings.0.handler.path="$KF_BUILD_DIR/handlers/uppercase.so" \
	'mappings.0.handler.config={"field":"name"}'
run invoke-upper "$KFLEET" invoke -c "$KF_TMP/upper.json" --input "$KF_TMP/in.jsonl"
expect_rc 0 invoke-upper
"$IT_TOOLS/kf_verify" --jsonl "$KF_TMP/invoke-upper.out" --sink log --expect 4 \
	--field name --upper || kf_fail "invoke: uppercase handler output not uppercased"

# A missing input file fails (1 or 2) and names the file.
run invoke-noinput "$KFLEET" invoke -c "$KF_TMP/good.json" --input "$KF_TMP/nope.jsonl"
[[ $RC == 1 || $RC == 2 ]] || kf_fail "invoke with a missing input file: exit $RC, expected 1 or 2"
grep -qF nope.jsonl "$KF_TMP/invoke-noinput.err" ||
	kf_fail "invoke with a missing input file: stderr does not name the file"
# --- redrive and parked: usage errors name what is wrong, exit 2 -------------------------
# usage NAME NEEDLE CMD... — exit 2 and NEEDLE on stderr.
usage() {
	local name=$1 needle=$2
	shift 2
	run "$name" "$@"
	expect_rc 2 "$name"
	grep -qF -- "$needle" "$KF_TMP/$name.err" ||
		kf_fail "$name: stderr does not name '$needle': $(head -c 400 "$KF_TMP/$name.err")"
	kf_log "$name: $(head -n 1 "$KF_TMP/$name.err")"
}
it_render cli.json "$KF_TMP/no-dlq.json" -mappings.0.on_failure
usage redrive-no-dlq "has no on_failure.topic" "$KFLEET" redrive -c "$KF_TMP/no-dlq.json"
# An on-failure topic that was never written: said, exit 1, no wait.
it_render cli.json "$KF_TMP/real.json" "kafka.brokers=${KFLEET_BROKERS:?}" \
	"mappings.0.on_failure.topic=$(kf_unique cli.never)"
run redrive-no-topic "$KFLEET" redrive -c "$KF_TMP/real.json"
expect_rc 1 redrive-no-topic
grep -qF "does not exist" "$KF_TMP/redrive-no-topic.err" ||
	kf_fail "redrive of a missing topic: $(head -c 400 "$KF_TMP/redrive-no-topic.err")"
kf_log "redrive-no-topic: $(tail -n 1 "$KF_TMP/redrive-no-topic.err")"
usage redrive-bad-since '--since: "yesterday" is not a time' \
	"$KFLEET" redrive -c "$KF_TMP/good.json" --since yesterday
usage redrive-bad-limit "--limit 0" "$KFLEET" redrive -c "$KF_TMP/good.json" --limit 0
usage redrive-no-mapping "--mapping nope" "$KFLEET" redrive -c "$KF_TMP/good.json" --mapping nope
usage parked-no-key "name the key" "$KFLEET" parked retry -c "$KF_TMP/good.json"
usage parked-not-park "does not park" "$KFLEET" parked list -c "$KF_TMP/good.json" \
	--mapping "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mappings"][0]["name"])' "$KF_TMP/good.json")"
usage parked-bad-sub "expected list, retry or drop" "$KFLEET" parked frob -c "$KF_TMP/good.json"
bad_config park-needs-eos '"park" needs "exactly_once": true' 'mappings.0.on_failure={"mode":"park"}'
kf_pass "version, help, usage errors, check (good and 12 bad), invoke, redrive and parked usage"
