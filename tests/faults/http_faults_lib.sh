# shellcheck shell=bash
# tests/faults/http_faults_lib.sh — HTTP sink faults for the fault scenarios:
# the test receiver (tests/tools/http_receiver.py) switched at run time into
# a fault mode through its POST /control, held there, then back to normal.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/http_faults_lib.sh"  # after faults_lib.sh
#   hf_setup                           # before fl_setup: config overrides (below)
#   fl_setup http_5xx ...
#   hf_fault 15000 5xx status=503      # that mode for 15 s, then normal again
#
# Modes (http_receiver.py's docstring has the details): slow (min_ms, max_ms:
# apply and answer after a random delay), hang (read the request, never
# answer; when the mode changes the connection is reset, nothing applied),
# 5xx (status: answer that status), apply_drop (share: that share of requests
# is applied, logged as a 2xx effect, and the connection reset unanswered).
#
# Config (hf_setup adds it to FL_RENDER_ARGS): the HTTP sink's timeout_ms
# (HF_TIMEOUT_MS, 2000: a hung request costs that much, not the default 5 s).
# The mapping keeps its default retry.max_attempts: a sink that is down (a
# 5xx, a timeout, a dropped connection) spends no attempt in either mode, so
# no live record may reach the on-failure topic during the outage, and the
# checker fails the run if one does; the poison records fail permanently
# (KF_FAIL) either way.

# hf_setup — the overrides every HTTP fault scenario needs; call before fl_setup.
hf_setup() {
	local sinks=" ${FL_SINKS:-kafka redis http} " i=0 s
	HF_TIMEOUT_MS=${HF_TIMEOUT_MS:-2000}
	[[ $sinks == *" http "* ]] || kf_fail "the HTTP fault scenarios need the http sink in FL_SINKS"
	# The http sink's index once faults_lib.sh dropped the sinks FL_SINKS leaves out.
	for s in kafka redis; do
		[[ $sinks == *" $s "* ]] && i=$((i + 1))
	done
	FL_RENDER_ARGS="${FL_RENDER_ARGS:-} mappings.0.sinks.$i.timeout_ms=$HF_TIMEOUT_MS"
}

# hf_control JSON — POST it to the receiver's /control; prints its answer.
hf_control() {
	curl -sS -m 5 -X POST --data "$1" "http://127.0.0.1:$IT_HTTP_PORT/control" ||
		kf_fail "the HTTP receiver refused /control $1"
}

# hf_mode MODE [NAME=VALUE ...] — switch the receiver to MODE with those
# numeric parameters (min_ms=1000 max_ms=2000, status=503, share=0.5, seed=N).
hf_mode() {
	local json="{\"mode\":\"$1\"" kv
	shift
	for kv in "$@"; do
		json+=",\"${kv%%=*}\":${kv#*=}"
	done
	json+="}"
	HF_LAST=$(hf_control "$json")
	[[ $HF_LAST == *"\"mode\""* ]] || kf_fail "receiver /control answered: $HF_LAST"
}

# hf_stat FIELD — one counter of the receiver's GET /stats.
hf_stat() {
	curl -sS -m 5 "http://127.0.0.1:$IT_HTTP_PORT/stats" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# hf_ok — how many 2xx requests the receiver logged so far (progress of the
# HTTP sink alone: the other sinks go on while it is down).
hf_ok() {
	local n
	n=$(grep -c '"status":2[0-9][0-9]' "$IT_HTTP_LOG" 2>/dev/null) || true
	echo "${n:-0}"
}

# hf_progressed N — true once the receiver logged more than N 2xx requests,
# or as many as there are records to deliver.
hf_progressed() {
	local n
	n=$(hf_ok)
	((n > $1 || n >= FL_RECORDS - FL_RECORDS / FL_POISON))
}

# hf_fault MS MODE [NAME=VALUE ...] — the receiver in MODE for MS
# milliseconds, then normal again; a fault note says what it did.
hf_fault() {
	local ms=$1 before
	shift
	before=$(hf_ok)
	hf_mode "$@"
	fl_note "receiver $HF_LAST for $ms ms (2xx requests $before, outputs $(fl_outputs))"
	fl_hold "$ms"
	hf_mode normal
	kf_log "receiver normal again: 2xx requests $(hf_ok) (were $before); slowed=$(hf_stat slowed) hung=$(hf_stat hung) dropped=$(hf_stat dropped) failed=$(hf_stat failed)"
}

# hf_scenario NAME MS MODE [NAME=VALUE ...] — the shape the four HTTP
# scenarios share: records produced at a rate that spreads them over the run,
# workers started, the fault once outputs flow (after 2-4 s), then progress
# must resume and fl_finish judges. FL_RECORDS / HF_PRODUCE_S records/s.
hf_scenario() {
	local name=$1 ms=$2 before
	shift 2
	fl_setup "$name"
	fl_produce --rate $((FL_RECORDS / ${HF_PRODUCE_S:-30}))
	fl_start_workers
	fl_random 2000 4000
	fl_hold "$FL_R" # records flowing before the fault: fault timing
	hf_fault "$ms" "$@"
	before=$(hf_ok)
	fl_wait_until 60 "HTTP progress after the receiver recovered (2xx requests were $before)" \
		hf_progressed "$before"
	kf_log "HTTP sink progressing: $(hf_ok) 2xx requests (were $before)"
}
