# shellcheck shell=bash disable=SC2034 # KF_STATUS, KF_TMP... are set for the tests
# tests/integration/lib.sh — shared helpers for the integration tests.
#
# Source it first thing in a test:
#
#   #!/usr/bin/env bash
#   set -euo pipefail
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   kf_require_infra                 # KFLEET_BROKERS / KFLEET_REDIS or fail
#   topic=$(kf_unique orders)        # names no other test run shares
#   kf_start worker "$KF_BUILD_DIR/kfleet" run -c "$KF_TMP/kfleet.json"
#   kf_wait_for 60 "50000 records in orders.out" \
#       kf_count_at_least "$topic.out" 50000
#
# What it sets: KF_SOURCE_DIR and KF_BUILD_DIR (ctest passes both; otherwise
# the repo root and <root>/build), KF_TMP (a fresh directory removed at exit
# unless KF_KEEP_TMP=1), KCAT (kcat or kafkacat).
#
# Cleanup: kf_on_exit registers commands that run at exit, last first, even
# when the test fails; processes started with kf_start are killed then. The
# lib owns the EXIT trap: tests use kf_on_exit instead of `trap ... EXIT`.
#
# Waiting: never a bare sleep. kf_wait_for polls a command until it succeeds
# or a deadline passes, then fails the test with the description.

KF_SOURCE_DIR=${KF_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
KF_BUILD_DIR=${KF_BUILD_DIR:-$KF_SOURCE_DIR/build}
export KF_SOURCE_DIR KF_BUILD_DIR
# The test is the outermost script, also when lib.sh is sourced through
# another helper file (BASH_SOURCE's last entry is the script bash runs).
KF_TEST_NAME=$(basename "${BASH_SOURCE[-1]:-$0}" .sh)
KF_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$KF_TEST_NAME.XXXXXX")
KCAT=$(command -v kcat || command -v kafkacat || echo kcat)

_kf_exit_cmds=()
KF_STATUS=0

# Runs the registered cleanups in reverse order; a failing cleanup does not
# stop the others, and the test's exit status is kept.
_kf_cleanup() {
	local rc=$? i
	set +e
	for ((i = ${#_kf_exit_cmds[@]} - 1; i >= 0; i--)); do
		eval "${_kf_exit_cmds[i]}"
	done
	if [[ ${KF_KEEP_TMP:-0} == 1 || $rc != 0 ]]; then
		echo "[$KF_TEST_NAME] files kept in $KF_TMP" >&2
	else
		rm -rf "$KF_TMP"
	fi
	exit "$rc"
}
trap _kf_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# kf_on_exit CMD... — run CMD (one shell string, eval'd) at exit.
kf_on_exit() { _kf_exit_cmds+=("$*"); }

# kf_log MSG — a progress line on stderr, prefixed with the test name and the
# seconds since the test started.
kf_log() { printf '[%s +%ss] %s\n' "$KF_TEST_NAME" "$SECONDS" "$*" >&2; }

# kf_fail MSG — print FAIL and the message, exit 1 (cleanups still run).
kf_fail() {
	printf '[%s] FAIL: %s\n' "$KF_TEST_NAME" "$*" >&2
	exit 1
}

# kf_pass [MSG] — print PASS; call it last.
kf_pass() { printf '[%s] PASS%s\n' "$KF_TEST_NAME" "${1:+: $1}" >&2; }

# kf_assert_eq WANT GOT WHAT — fail with WHAT if the two strings differ.
kf_assert_eq() {
	[[ $1 == "$2" ]] || kf_fail "$3: expected '$1', got '$2'"
}

# kf_wait_for SECONDS DESCRIPTION CMD [ARGS...] — run CMD every 0.1 s (its
# output discarded) until it exits 0; fail the test with DESCRIPTION if it
# has not after SECONDS. Returns as soon as CMD succeeds.
kf_wait_for() {
	local secs=$1 what=$2 end
	shift 2
	end=$(($(date +%s%N) / 1000000 + secs * 1000))
	until "$@" >/dev/null 2>&1; do
		if (($(date +%s%N) / 1000000 > end)); then
			kf_fail "timed out after ${secs}s waiting for: $what"
		fi
		sleep 0.1
	done
}

# kf_unique PREFIX — PREFIX plus the test name, pid and a random suffix: a
# topic, group or Redis key no other run (or earlier run) on the same broker
# uses. Kafka topic names allow [a-zA-Z0-9._-].
kf_unique() { printf '%s.%s.%s-%s\n' "$1" "${KF_TEST_NAME//[^a-zA-Z0-9_-]/_}" "$$" "$RANDOM$RANDOM"; }

# kf_require_infra — make sure KFLEET_BROKERS and KFLEET_REDIS are set: take
# them from `scripts/infra.sh env` if it is up, else fail saying what to run.
kf_require_infra() {
	if [[ -z ${KFLEET_BROKERS:-} || -z ${KFLEET_REDIS:-} ]]; then
		local env
		env=$("$KF_SOURCE_DIR/scripts/infra.sh" env 2>/dev/null) ||
			kf_fail "no KFLEET_BROKERS/KFLEET_REDIS: run scripts/infra.sh up (scripts/test.sh does)"
		set -a
		eval "$env"
		set +a
	fi
	KFLEET_REDIS_HOST=${KFLEET_REDIS_HOST:-$(sed -E 's|^redis://([^:/]+).*|\1|' <<<"$KFLEET_REDIS")}
	KFLEET_REDIS_PORT=${KFLEET_REDIS_PORT:-$(sed -E 's|^redis://[^:/]+:([0-9]+).*|\1|' <<<"$KFLEET_REDIS")}
	export KFLEET_BROKERS KFLEET_REDIS KFLEET_REDIS_HOST KFLEET_REDIS_PORT
}

# kf_start NAME CMD [ARGS...] — start CMD in the background with its stdout
# and stderr in $KF_TMP/NAME.log; its pid goes to KF_PID[NAME]. It is sent
# SIGKILL at exit if still running (use kf_stop for a graceful stop).
declare -gA KF_PID=()
kf_start() {
	local name=$1
	shift
	"$@" >"$KF_TMP/$name.log" 2>&1 </dev/null &
	KF_PID[$name]=$!
	kf_on_exit "kill -KILL ${KF_PID[$name]} 2>/dev/null; wait ${KF_PID[$name]} 2>/dev/null"
	kf_log "started $name (pid ${KF_PID[$name]}): $*"
}

# kf_alive NAME — true while the process started as NAME runs (an exited
# child not yet reaped, a zombie, counts as not running).
kf_alive() { ! _kf_dead "${KF_PID[$1]}"; }

# kf_stop NAME [SIGNAL] [SECONDS] — send SIGNAL (TERM) and wait up to SECONDS
# (30) for the exit; fail the test if it does not exit. Sets KF_STATUS to its
# exit status (128+N when a signal killed it).
kf_stop() {
	local name=$1 sig=${2:-TERM} secs=${3:-30} pid=${KF_PID[$1]}
	kill -s "$sig" "$pid" 2>/dev/null || true
	kf_wait_exit "$name" "$secs"
}

# kf_wait_exit NAME SECONDS — wait for the process to exit by itself; fail the
# test after SECONDS. Sets KF_STATUS to its exit status.
kf_wait_exit() {
	local name=$1 secs=$2 pid=${KF_PID[$1]}
	kf_wait_for "$secs" "$name (pid $pid) to exit" _kf_dead "$pid"
	KF_STATUS=0
	wait "$pid" 2>/dev/null || KF_STATUS=$?
}
_kf_dead() {
	local st
	st=$(sed -E 's/.*\) ([A-Z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 0
	[[ -z $st || $st == Z || $st == X ]]
}

# kf_log_has NAME REGEX — true if NAME's log matches REGEX (grep -E); use
# with kf_wait_for to wait for a log line.
kf_log_has() { grep -qE -- "$2" "$KF_TMP/$1.log" 2>/dev/null; }

# kf_show_log NAME [LINES] — print the tail of NAME's log to stderr (for a
# failure message).
kf_show_log() {
	printf -- '--- last %s lines of %s ---\n' "${2:-40}" "$KF_TMP/$1.log" >&2
	tail -n "${2:-40}" "$KF_TMP/$1.log" >&2 || true
}

# kf_free_port — a free loopback TCP port (for test receivers, metrics).
kf_free_port() {
	python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

# kf_topic_create TOPIC [PARTITIONS] — create a topic (8 partitions by
# default) on the test broker; a no-op if it exists.
kf_topic_create() {
	"$KF_SOURCE_DIR/scripts/infra.sh" topic-create "$1" "${2:-8}" >/dev/null
}

# kf_consume TOPIC [KCAT ARGS...] — print every record now in TOPIC, one line
# each, with read_committed isolation (aborted transactions are not seen), and
# return at the end of every partition. The default format is "key\tvalue";
# pass -f '...' to change it (see kcat -h), e.g. -f '%p %o %k\n'.
kf_consume() {
	local topic=$1
	shift
	local fmt=('-f' '%k\t%s\n')
	[[ " $* " == *" -f "* ]] && fmt=()
	"$KCAT" -C -b "$KFLEET_BROKERS" -t "$topic" -o beginning -e -q \
		-X isolation.level=read_committed "${fmt[@]}" "$@"
}

# kf_count TOPIC — number of (committed) records now in TOPIC.
kf_count() { kf_consume "$1" -f 'x\n' | wc -l; }

# kf_count_at_least TOPIC N — true if TOPIC holds at least N records; for
# kf_wait_for.
kf_count_at_least() { (($(kf_count "$1") >= $2)); }

# kf_produce TOPIC [KCAT ARGS...] — produce stdin to TOPIC, one record per
# line; "key<TAB>value" lines when -K $'\t' is passed.
kf_produce() {
	local topic=$1
	shift
	"$KCAT" -P -b "$KFLEET_BROKERS" -t "$topic" "$@"
}

# kf_redis ARGS... — redis-cli against the test Redis (raw output: one
# value per line, as redis-cli prints when stdout is not a terminal).
kf_redis() { redis-cli -h "$KFLEET_REDIS_HOST" -p "$KFLEET_REDIS_PORT" "$@"; }
