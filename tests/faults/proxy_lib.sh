# shellcheck shell=bash disable=SC2034 # PX_* names are read by the scenarios
# tests/faults/proxy_lib.sh — the project's TCP fault proxy
# (tests/tools/fault_proxy.py) in front of the state Redis, for the fault
# scenarios. Source it after faults_lib.sh and start the proxy BEFORE
# fl_setup, which renders the workers' config from FL_STATE_REDIS:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"
#   source "$(dirname "${BASH_SOURCE[0]}")/proxy_lib.sh"
#   px_start                       # proxy -> KFLEET_REDIS; FL_STATE_REDIS -> proxy
#   fl_setup redis_blackhole
#   ...
#   px_mode blackhole              # pass | blackhole | reset | latency MS | bandwidth BYTES_PER_S
#   fl_hold 15000
#   px_mode pass
#
# The workers reach the state Redis (and so the Redis sink, which writes to
# the state Redis) only through the proxy; the test's own reads (fl_outputs,
# kf_verify, kf_redis) go to the real Redis (KFLEET_REDIS), so the checker
# sees what Redis holds whatever the proxy does.
#
# Modes (see fault_proxy.py): pass; blackhole (connections stay open, new
# ones are accepted, nothing is forwarded; leaving it resets the connections
# that saw it); reset (every connection reset with a TCP RST, new ones at
# once); latency MS (each direction); bandwidth BYTES_PER_S (each direction,
# shared by every connection).
#
# Sets: PX_PORT (the proxy's port), PX_CTL (its control port), and
# FL_STATE_REDIS (exported). Each mode change is a fl_note.
#
# bpx_start puts a second proxy in front of the broker instead (below), for
# the faults that must land on one Kafka call (a commit).

PX_PROXY=$KF_SOURCE_DIR/tests/tools/fault_proxy.py

# px_start [HOST:PORT] — start the proxy in front of HOST:PORT (the state
# Redis of KFLEET_REDIS by default) and point FL_STATE_REDIS at it.
px_start() {
	kf_require_infra
	local target=${1:-$KFLEET_REDIS_HOST:$KFLEET_REDIS_PORT} db
	kf_start proxy python3 "$PX_PROXY" --listen 127.0.0.1:0 --target "$target" \
		--port-file "$KF_TMP/proxy.port" --control-port-file "$KF_TMP/proxy.ctl"
	kf_wait_for 30 "the fault proxy to listen" test -s "$KF_TMP/proxy.port"
	PX_PORT=$(cat "$KF_TMP/proxy.port")
	PX_CTL=$(cat "$KF_TMP/proxy.ctl")
	db=$(sed -nE 's|^redis://[^/]*(/[0-9]+)?$|\1|p' <<<"$KFLEET_REDIS")
	FL_STATE_REDIS=redis://127.0.0.1:$PX_PORT${db:-/0}
	export FL_STATE_REDIS
	kf_log "fault proxy 127.0.0.1:$PX_PORT -> $target (control $PX_CTL): workers use $FL_STATE_REDIS"
}

# px_mode MODE [N] — switch the proxy: pass, blackhole, reset, latency MS,
# bandwidth BYTES_PER_S. Fails the test if the proxy does not take it.
px_mode() {
	local body
	case $1 in
	latency) body="{\"mode\":\"latency\",\"ms\":${2:?px_mode latency MS}}" ;;
	bandwidth) body="{\"mode\":\"bandwidth\",\"bytes_per_s\":${2:?px_mode bandwidth BYTES_PER_S}}" ;;
	pass | blackhole | reset) body="{\"mode\":\"$1\"}" ;;
	*) kf_fail "px_mode: unknown mode '$1'" ;;
	esac
	curl -sf -m 5 -X POST --data "$body" "http://127.0.0.1:$PX_CTL/mode" >/dev/null ||
		kf_fail "the fault proxy did not take mode $body (is it alive? $KF_TMP/proxy.log)"
	fl_note "proxy $1${2:+ $2} (outputs $(fl_outputs), proxy: $(px_stats_line))"
}

# px_stat NAME — one of the proxy's counters (GET /stats).
px_stat() { curl -sf -m 5 "http://127.0.0.1:$PX_CTL/stats?format=text" | sed -n "s/^$1=//p"; }

# px_stats_line — the counters that tell what the proxy did, on one line.
px_stats_line() {
	curl -sf -m 5 "http://127.0.0.1:$PX_CTL/stats?format=text" |
		grep -E '^(connections_open|connections_held|connections_total|connections_reset|bytes_up|bytes_down|bytes_dropped)=' |
		tr '\n' ' ' | sed 's/ $//'
}

# px_reset_pulse MS — reset every connection and refuse new ones for MS
# milliseconds, then pass again.
px_reset_pulse() {
	px_mode reset
	fl_hold "$1"
	px_mode pass
}

# ------------------------------------------------------- the broker proxy

# bpx_start — the fault proxy in front of the broker's PROXIED listener
# (scripts/infra.sh), following Kafka request frames so that a trigger can
# land on one call (bpx_trigger). Clients that bootstrap from
# KFLEET_BROKERS_VIA_PROXY reach the broker only through it. Sets BPX_CTL.
bpx_start() {
	kf_require_infra
	[[ -n ${KFLEET_BROKERS_VIA_PROXY:-} && -n ${KFLEET_PROXIED_LISTENER:-} ]] ||
		kf_fail "scripts/infra.sh env gives no KFLEET_BROKERS_VIA_PROXY: restart the infrastructure (scripts/infra.sh down && up) for the broker's PROXIED listener"
	kf_start bproxy python3 "$PX_PROXY" --kafka-frames \
		--listen "$KFLEET_BROKERS_VIA_PROXY" --target "$KFLEET_PROXIED_LISTENER" \
		--port-file "$KF_TMP/bproxy.port" --control-port-file "$KF_TMP/bproxy.ctl"
	kf_wait_for 30 "the broker proxy to listen" test -s "$KF_TMP/bproxy.port"
	BPX_CTL=$(cat "$KF_TMP/bproxy.ctl")
}

# bpx_stat NAME — one of the broker proxy's counters.
bpx_stat() { curl -sf -m 5 "http://127.0.0.1:$BPX_CTL/stats?format=text" | sed -n "s/^$1=//p"; }
bpx_mode_is() { [[ $(bpx_stat mode) == "$1" ]]; }
bpx_fired_at_least() {
	local n
	n=$(bpx_stat triggers_fired)
	[[ -n $n ]] && ((n >= $1))
}

# bpx_trigger API_KEY request|response MS — arm the one-shot trigger: the
# next request of that Kafka API starts a black hole of MS milliseconds,
# holding the request itself or only its answer (fault_proxy.py).
bpx_trigger() {
	curl -sf -m 5 -X POST --data "{\"kafka_api_key\": $1, \"hold\": \"$2\", \"ms\": $3}" \
		"http://127.0.0.1:$BPX_CTL/trigger" >/dev/null || kf_fail "the broker proxy refused the trigger"
}
