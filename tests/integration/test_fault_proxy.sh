#!/usr/bin/env bash
# test_fault_proxy.sh — tests/tools/fault_proxy.py, mode by mode, against a
# real redis-server (its own, on a free port: this test needs no
# scripts/infra.sh), with redis-cli through the proxy:
#   pass       PING answers; a stream of commands arrives in order
#   blackhole  an open connection stops (its next INCR never lands), a new
#              connection is accepted and hangs (PING times out), a write
#              sent meanwhile is held and never applied; back to pass, the
#              held connections are reset and new ones work
#   reset      an open connection is reset (its redis-cli exits at once), a
#              new one fails fast with "reset by peer"
#   latency    N ms each way: PING takes >= 2 N ms; 5,000 pipelined RPUSHes
#              (several reads of the proxy) land in order
#   bandwidth  a 200,000-byte value read (and written) through a 50,000
#              bytes/s cap takes ~4 s, not milliseconds
# and the control endpoint refuses what it does not know (400, 404).
#
# Every wait is on a condition with a deadline; the only sleep is the
# black hole's observation window (how long nothing must happen).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROXY=$KF_SOURCE_DIR/tests/tools/fault_proxy.py
LAT_MS=300
BPS=50000
BIG=200000
command -v redis-server >/dev/null || kf_fail "redis-server not found: run scripts/setup.sh"

RPORT=$(kf_free_port)
direct() { redis-cli -h 127.0.0.1 -p "$RPORT" "$@"; }
kf_start redis redis-server --bind 127.0.0.1 --port "$RPORT" --save "" --appendonly no \
	--dir "$KF_TMP"
kf_wait_for 30 "redis-server on port $RPORT to answer" direct ping

kf_start proxy python3 "$PROXY" --listen 127.0.0.1:0 --target "127.0.0.1:$RPORT" \
	--port-file "$KF_TMP/proxy.port" --control-port-file "$KF_TMP/proxy.ctl"
kf_wait_for 30 "the proxy to listen" test -s "$KF_TMP/proxy.port"
PPORT=$(cat "$KF_TMP/proxy.port")
CPORT=$(cat "$KF_TMP/proxy.ctl")
kf_log "redis-server on $RPORT, proxy on $PPORT, control on $CPORT"

VIA=(redis-cli -h 127.0.0.1 -p "$PPORT")
ms() { date +%s%3N; }

# mode JSON — switch the proxy's mode.
mode() {
	curl -sf -m 5 -X POST --data "$1" "http://127.0.0.1:$CPORT/mode" >/dev/null ||
		kf_fail "the proxy refused mode $1"
	kf_log "mode $1"
}
# stat NAME — one counter of GET /stats.
stat() { curl -sf -m 5 "http://127.0.0.1:$CPORT/stats?format=text" | sed -n "s/^$1=//p"; }
stat_at_least() { (($(stat "$1") >= $2)); }

# timed SECONDS CMD... — run CMD under `timeout SECONDS`; sets RC (124 =
# timed out), OUT (stdout and stderr) and T (milliseconds taken).
timed() {
	local secs=$1 t0
	shift
	t0=$(ms)
	RC=0
	OUT=$(timeout "$secs" "$@" 2>&1) || RC=$?
	T=$(($(ms) - t0))
}

# A redis-cli that INCRs KEY every 0.1 s on ONE connection, in the background.
start_incr() {
	direct del "$2" >/dev/null
	kf_start "$1" redis-cli -h 127.0.0.1 -p "$PPORT" -r 100000 -i 0.1 incr "$2"
	kf_wait_for 10 "$1 to count through the proxy" key_at_least "$2" 2
}
key_at_least() { (($(direct get "$1") >= $2)); }

# ------------------------------------------------------------------ pass
timed 5 "${VIA[@]}" ping
[[ $RC == 0 && $OUT == PONG ]] || kf_fail "pass: PING through the proxy: status $RC, '$OUT'"
((T < 2000)) || kf_fail "pass: PING took ${T} ms"
kf_log "pass: PONG in ${T} ms"

# ------------------------------------------------------------- blackhole
start_incr held1 cnt1
mode '{"mode":"blackhole"}'
v1=$(direct get cnt1)
sleep 1.5 # the observation window: nothing may arrive in it (not a synchronisation)
v2=$(direct get cnt1)
((v2 <= v1 + 1)) || kf_fail "blackhole: an open connection still delivers (cnt1 $v1 -> $v2)"
kf_alive held1 || kf_fail "blackhole: the open connection was closed (redis-cli exited)"
timed 2 "${VIA[@]}" ping
((RC == 124)) || kf_fail "blackhole: PING on a new connection should hang, got status $RC after ${T} ms: '$OUT'"
timed 1 "${VIA[@]}" set held:key x
((RC == 124)) || kf_fail "blackhole: SET on a new connection should hang, got status $RC: '$OUT'"
kf_wait_for 5 "the black hole to hold 3 connections" stat_at_least connections_held 3
kf_assert_eq 0 "$(direct exists held:key)" "blackhole: the held SET must not reach Redis"
kf_log "blackhole: cnt1 $v1 -> $v2 in 1.5 s, PING and SET on new connections hang, $(stat connections_held) held"

resets=$(stat connections_reset)
mode '{"mode":"pass"}'
kf_wait_exit held1 10
((KF_STATUS != 0)) || kf_fail "pass after blackhole: the held redis-cli exited 0 (want an error: its connection was reset)"
kf_wait_for 5 "the held connections to be reset" stat_at_least connections_reset $((resets + 3))
kf_assert_eq 0 "$(direct exists held:key)" "pass after blackhole: the held SET must be dropped, not delivered"
timed 5 "${VIA[@]}" ping
[[ $RC == 0 && $OUT == PONG ]] || kf_fail "pass after blackhole: PING: status $RC, '$OUT'"
kf_log "pass after blackhole: held connections reset (redis-cli status $KF_STATUS), held SET dropped, PONG in ${T} ms"

# ----------------------------------------------------------------- reset
start_incr held2 cnt2
mode '{"mode":"reset"}'
kf_wait_exit held2 5
((KF_STATUS != 0)) || kf_fail "reset: the open connection's redis-cli exited 0"
kf_show_log held2 1
timed 5 "${VIA[@]}" ping
((RC != 0 && RC != 124)) || kf_fail "reset: PING should fail at once, got status $RC: '$OUT'"
((T < 1000)) || kf_fail "reset: PING took ${T} ms to fail (want < 1000)"
[[ $OUT == *reset* ]] || kf_fail "reset: PING failed without a reset: '$OUT'"
kf_log "reset: open connection reset, new one failed in ${T} ms: $OUT"
mode '{"mode":"pass"}'
timed 5 "${VIA[@]}" ping
[[ $RC == 0 && $OUT == PONG ]] || kf_fail "pass after reset: PING: status $RC, '$OUT'"

# --------------------------------------------------------------- latency
mode "{\"mode\":\"latency\",\"ms\":$LAT_MS}"
timed 10 "${VIA[@]}" ping
[[ $RC == 0 && $OUT == PONG ]] || kf_fail "latency: PING: status $RC, '$OUT'"
((T >= 2 * LAT_MS)) || kf_fail "latency: PING took ${T} ms, want >= $((2 * LAT_MS)) ms"
((T < 2 * LAT_MS + 3000)) || kf_fail "latency: PING took ${T} ms, far more than $((2 * LAT_MS)) ms"
kf_log "latency ${LAT_MS} ms: PONG in ${T} ms"
direct del order >/dev/null
seq 1 5000 | awk '{ printf "*3\r\n$5\r\nRPUSH\r\n$5\r\norder\r\n$%d\r\n%s\r\n", length($1), $1 }' \
	>"$KF_TMP/order.resp"
timed 30 "${VIA[@]}" --pipe <"$KF_TMP/order.resp"
((RC == 0)) || kf_fail "latency: redis-cli --pipe failed ($RC): $OUT"
((T >= 2 * LAT_MS)) || kf_fail "latency: the pipeline took ${T} ms, want >= $((2 * LAT_MS)) ms"
direct lrange order 0 -1 >"$KF_TMP/order.got"
seq 1 5000 | cmp -s - "$KF_TMP/order.got" || kf_fail "latency: the pipelined RPUSHes did not land in order"
kf_log "latency: 5000 pipelined RPUSHes in order in ${T} ms"

# ------------------------------------------------------------- bandwidth
head -c "$BIG" /dev/zero | tr '\0' x >"$KF_TMP/big"
direct -x set big <"$KF_TMP/big" >/dev/null
mode '{"mode":"pass"}'
timed 10 "${VIA[@]}" --raw get big
[[ $RC == 0 && ${#OUT} == "$BIG" ]] || kf_fail "pass: GET big: status $RC, ${#OUT} bytes"
pass_ms=$T
want=$((BIG * 1000 / BPS))
mode "{\"mode\":\"bandwidth\",\"bytes_per_s\":$BPS}"
timed 60 "${VIA[@]}" --raw get big
[[ $RC == 0 && ${#OUT} == "$BIG" ]] || kf_fail "bandwidth: GET big: status $RC, ${#OUT} bytes"
((T >= want * 8 / 10)) || kf_fail "bandwidth: $BIG bytes down in ${T} ms, want >= $((want * 8 / 10)) ms at $BPS bytes/s"
((T <= want * 3)) || kf_fail "bandwidth: $BIG bytes down in ${T} ms, far more than ${want} ms"
kf_log "bandwidth $BPS bytes/s: $BIG bytes down in ${T} ms (pass: ${pass_ms} ms, ideal ${want} ms)"
timed 60 "${VIA[@]}" -x set big2 <"$KF_TMP/big"
[[ $RC == 0 && $OUT == OK ]] || kf_fail "bandwidth: SET big2: status $RC, '$OUT'"
((T >= want * 8 / 10)) || kf_fail "bandwidth: $BIG bytes up in ${T} ms, want >= $((want * 8 / 10)) ms"
((T <= want * 3)) || kf_fail "bandwidth: $BIG bytes up in ${T} ms, far more than ${want} ms"
kf_assert_eq "$BIG" "$(direct strlen big2)" "bandwidth: the value written through the cap"
kf_log "bandwidth: $BIG bytes up in ${T} ms"

mode '{"mode":"pass"}'
timed 10 "${VIA[@]}" --raw get big
[[ $RC == 0 && ${#OUT} == "$BIG" ]] || kf_fail "pass after bandwidth: GET big: status $RC"
((T < want / 2)) || kf_fail "pass after bandwidth: GET big still slow (${T} ms)"
kf_log "pass after bandwidth: $BIG bytes in ${T} ms"

# --------------------------------------------------------------- control
code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 -X POST --data '{"mode":"teleport"}' \
	"http://127.0.0.1:$CPORT/mode")
kf_assert_eq 400 "$code" "an unknown mode"
code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 -X POST --data '{"mode":"latency"}' \
	"http://127.0.0.1:$CPORT/mode")
kf_assert_eq 400 "$code" "latency without ms"
code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 "http://127.0.0.1:$CPORT/nowhere")
kf_assert_eq 404 "$code" "an unknown path"
kf_assert_eq pass "$(stat mode)" "the mode after refused changes"

kf_stop proxy TERM 10
kf_assert_eq 0 "$KF_STATUS" "the proxy's exit status after SIGTERM"
kf_pass "pass, blackhole, reset, latency and bandwidth behave"
