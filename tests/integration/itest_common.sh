# tests/integration/itest_common.sh — what the kfleet integration tests share
# on top of lib.sh: the test tools, config templates, kfleet processes with
# their stdout kept apart from their logs, and waiting on kf_verify.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"   # sources lib.sh
#   it_setup                       # infra env, binaries, unique names
#   it_render pipeline.json "$KF_TMP/kfleet.json" mappings.0.ordering='"key"'
#   it_start_kfleet w1 "$KF_TMP/kfleet.json"
#   it_verify_until 120 "redis sink" --redis-list "$IT_LIST" --expect 50000
#
# Sets: KFLEET (the daemon), IT_TOOLS (build/tools), IT_SUFFIX (unique per
# run), IT_PREFIX (the run's Redis key prefix; every key under it is deleted
# at exit), IT_LAST_VERIFY (the last kf_verify line).
#
# On failure the last 50 lines of every kfleet log are printed.

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IT_CONFIGS=$KF_SOURCE_DIR/tests/integration/configs
IT_TOOLS=$KF_BUILD_DIR/tools
KFLEET=$KF_BUILD_DIR/kfleet
IT_KFLEET_NAMES=() # names given to it_start_kfleet, for logs and liveness
declare -gA IT_EXPECT_EXIT=()
IT_LAST_VERIFY=""

# it_need_bins — fail unless the daemon, the tools and the handlers are built.
it_need_bins() {
	local f
	for f in "$KFLEET" "$IT_TOOLS/kf_produce" "$IT_TOOLS/kf_verify" \
		"$KF_BUILD_DIR/handlers/echo.so" "$KF_BUILD_DIR/handlers/flaky.so"; do
		[[ -x $f || -f $f ]] || kf_fail "$f is missing: build first (cmake --build $KF_BUILD_DIR)"
	done
}

# it_setup — call first: needs infra and binaries, picks the run's names.
it_setup() {
	kf_require_infra
	it_need_bins
	IT_SUFFIX="$$-$RANDOM$RANDOM"
	IT_PREFIX="kfit-$KF_TEST_NAME-$IT_SUFFIX"
	export IT_PREFIX KF_BUILD_DIR KF_SOURCE_DIR
	kf_on_exit _it_cleanup
}

# Runs at exit (registered by it_setup): prints the kfleet logs when the test
# failed and deletes the run's Redis keys. `rc` is _kf_cleanup's exit status
# (bash's dynamic scope); treated as a failure when absent.
_it_cleanup() {
	local status=${rc:-1} n key
	if [[ $status != 0 ]]; then
		for n in "${IT_KFLEET_NAMES[@]}"; do
			kf_show_log "$n" 50
		done
	fi
	kf_redis --scan --pattern "*$IT_PREFIX*" 2>/dev/null | while read -r key; do
		kf_redis del "$key" >/dev/null 2>&1
	done
}

# it_fail MSG — fail the test (the kfleet logs are printed at exit).
it_fail() { kf_fail "$@"; }

# it_render TEMPLATE OUT [PATH=JSON ...] — write config OUT from
# configs/TEMPLATE: every ${VAR} is replaced by the environment's value (an
# unset variable fails the test), then each PATH=JSON override is applied,
# PATH being dot-separated keys and list indexes (mappings.0.retry.max_attempts)
# and JSON a JSON value (a bare word is taken as a string); an argument -PATH
# deletes that key.
it_render() {
	local tpl=$1 out=$2
	shift 2
	[[ $tpl == /* ]] || tpl=$IT_CONFIGS/$tpl
	python3 - "$tpl" "$out" "$@" <<'EOF' || kf_fail "could not render config $tpl"
import json, os, re, sys

tpl, out, overrides = sys.argv[1], sys.argv[2], sys.argv[3:]
text = open(tpl).read()
missing = []

def sub(m):
    name = m.group(1)
    if name not in os.environ:
        missing.append(name)
        return ""
    return os.environ[name]

text = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", sub, text)
if missing:
    sys.exit(f"it_render: {tpl}: unset variables: {', '.join(sorted(set(missing)))}")
doc = json.loads(text)
for ov in overrides:
    delete = ov.startswith("-")
    path, _, raw = ov.lstrip("-").partition("=")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    keys = path.split(".")
    node = doc
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    last = int(keys[-1]) if isinstance(node, list) else keys[-1]
    if delete:
        del node[last]
    else:
        node[last] = value
with open(out, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
EOF
}

# it_start_kfleet NAME CONFIG [EXTRA ARGS...] — `kfleet run -c CONFIG` in the
# background: stdout (the stdout sink's JSON lines) to $KF_TMP/NAME.out, logs
# (stderr) to $KF_TMP/NAME.log. exec keeps the pid kf_start records.
it_start_kfleet() {
	local name=$1 cfg=$2
	shift 2
	IT_KFLEET_NAMES+=("$name")
	# shellcheck disable=SC2016 # $1 and $@ belong to the inner bash
	kf_start "$name" bash -c 'out=$1; shift; exec "$@" >"$out"' _ "$KF_TMP/$name.out" \
		"$KFLEET" run -c "$cfg" "$@"
}

# it_stop_kfleet NAME [SECONDS] — SIGTERM, then require exit status 0 within
# SECONDS (30): a graceful drain.
it_stop_kfleet() {
	local name=$1 secs=${2:-30} t0=$SECONDS
	IT_EXPECT_EXIT[$name]=1
	kf_stop "$name" TERM "$secs"
	((KF_STATUS == 0)) || it_fail "$name exited with status $KF_STATUS after SIGTERM (want 0)"
	kf_log "$name exited 0 after SIGTERM in $((SECONDS - t0))s"
}

# it_check_alive — fail if a kfleet process died that was not asked to stop.
it_check_alive() {
	local n
	for n in "${IT_KFLEET_NAMES[@]}"; do
		[[ -n ${IT_EXPECT_EXIT[$n]:-} ]] && continue
		if ! kf_alive "$n"; then
			local st=0
			wait "${KF_PID[$n]}" 2>/dev/null || st=$?
			IT_EXPECT_EXIT[$n]=1
			it_fail "$n (pid ${KF_PID[$n]}) died unexpectedly with status $st"
		fi
	done
}

# it_verify ARGS... — run kf_verify once; its line goes to IT_LAST_VERIFY and
# stderr. Returns kf_verify's status (0 ok, 3 incomplete, 1 wrong, 2 unreadable).
it_verify() {
	local rc=0
	IT_LAST_VERIFY=$("$IT_TOOLS/kf_verify" "$@" 2>"$KF_TMP/verify.err") || rc=$?
	return $rc
}

# it_verify_until SECONDS WHAT ARGS... — poll kf_verify ARGS until it passes.
# Fails at once when it reports a problem more records cannot fix
# (duplicates, order, bad values) or a kfleet process died; fails after
# SECONDS if records are still missing.
it_verify_until() {
	local secs=$1 what=$2 rc end next
	shift 2
	end=$((SECONDS + secs))
	next=$((SECONDS + 10))
	while :; do
		rc=0
		it_verify "$@" || rc=$?
		case $rc in
		0)
			kf_log "$what: $IT_LAST_VERIFY"
			return 0
			;;
		3 | 2) ;;
		*)
			cat "$KF_TMP/verify.err" >&2
			it_fail "$what: $IT_LAST_VERIFY"
			;;
		esac
		if ((SECONDS >= end)); then
			cat "$KF_TMP/verify.err" >&2
			it_fail "$what: still incomplete after ${secs}s: ${IT_LAST_VERIFY:-(source unreadable)}"
		fi
		if ((SECONDS >= next)); then
			kf_log "$what: waiting: $IT_LAST_VERIFY"
			next=$((SECONDS + 10))
		fi
		it_check_alive
		sleep 0.3 # poll interval, not a synchronisation
	done
}

# it_verify_final WHAT ARGS... — one kf_verify run that must pass (after the
# writers stopped, so nothing more can arrive).
it_verify_final() {
	local what=$1 rc=0
	shift
	it_verify "$@" || rc=$?
	if ((rc != 0)); then
		cat "$KF_TMP/verify.err" >&2
		it_fail "$what: $IT_LAST_VERIFY"
	fi
	kf_log "$what: $IT_LAST_VERIFY"
}

# it_field NAME — the value of NAME=... in IT_LAST_VERIFY.
it_field() { sed -nE "s/.*(^| )$1=([^ ]*).*/\2/p" <<<"$IT_LAST_VERIFY"; }

# it_produce ARGS... — kf_produce with the test broker; fails the test on error.
it_produce() {
	local out
	out=$("$IT_TOOLS/kf_produce" -q "$@" 2>"$KF_TMP/produce.err") ||
		{
			cat "$KF_TMP/produce.err" >&2
			kf_fail "kf_produce $* failed: $out"
		}
	kf_log "kf_produce: $out"
}

# it_create_topic TOPIC [PARTITIONS] [kf_produce options...] — create a topic
# (8 partitions) with kf_produce, which waits until every partition has a leader.
it_create_topic() {
	local topic=$1 parts=${2:-8}
	shift 2 || shift $#
	"$IT_TOOLS/kf_produce" -q --create-only -t "$topic" -p "$parts" "$@" >/dev/null ||
		kf_fail "could not create topic $topic"
}

# it_start_receiver NAME [http_receiver options...] — start the test HTTP
# receiver, wait for its port; sets IT_HTTP_PORT and IT_HTTP_LOG.
it_start_receiver() {
	local name=$1
	shift
	IT_HTTP_LOG=$KF_TMP/$name.requests.jsonl
	kf_start "$name" python3 "$KF_SOURCE_DIR/tests/tools/http_receiver.py" \
		--port-file "$KF_TMP/$name.port" --log "$IT_HTTP_LOG" "$@"
	kf_wait_for 30 "$name to listen" test -s "$KF_TMP/$name.port"
	IT_HTTP_PORT=$(cat "$KF_TMP/$name.port")
	export IT_HTTP_PORT
}

# it_wait_until SECONDS WHAT CMD [ARGS...] — kf_wait_for that also fails at
# once when a kfleet process dies unexpectedly.
it_wait_until() {
	local secs=$1 what=$2 end
	shift 2
	end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < end)) || it_fail "timed out after ${secs}s waiting for: $what"
		it_check_alive
		sleep 0.2 # poll interval, not a synchronisation
	done
}

# it_redis_llen KEY — length of a Redis list (0 when missing).
it_redis_llen() { kf_redis llen "$1" 2>/dev/null || echo 0; }

# it_llen_at_least KEY N — for kf_wait_for.
it_llen_at_least() { (($(it_redis_llen "$1") >= $2)); }

# it_metric NAME — the value of kfleet's metric NAME (its first line: the
# mapping's, or the first sink's) on the /metrics of the kfleet listening on
# $IT_METRICS_PORT; nothing when it is not there (yet). awk reads to the
# end: quitting early would fail curl (SIGPIPE) and, under pipefail, the call.
it_metric() {
	curl -s -m 5 "http://127.0.0.1:${IT_METRICS_PORT:?}/metrics" |
		awk -v n="$1" '!found && $1 ~ "^"n"\\{" {print $2; found = 1}'
}

# it_metric_at_least NAME N — true once metric NAME is at least N.
it_metric_at_least() {
	local v
	v=$(it_metric "$1")
	[[ -n $v ]] && ((v >= $2))
}

# it_metric_is NAME VALUE — true while metric NAME is VALUE.
it_metric_is() { [[ $(it_metric "$1") == "$2" ]]; }
