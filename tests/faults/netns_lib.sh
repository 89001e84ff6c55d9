# shellcheck shell=bash disable=SC2034 # NL_* names are read by the scenarios
# tests/faults/netns_lib.sh — a kfleet worker in its own network namespace,
# cut off from Kafka or Redis by iptables inside the namespace. Source it
# after faults_lib.sh and call nl_setup AFTER fl_setup (it needs the HTTP
# receiver's port):
#
#   source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"
#   source "$(dirname "${BASH_SOURCE[0]}")/netns_lib.sh"
#   fl_setup netns_kafka_drop
#   nl_setup                              # namespace, veth, relays
#   nl_start_worker 1                     # a worker inside (fl_start_worker 1 "${NL_EXEC[@]}", and its /metrics read from inside)
#   fl_start_worker 2                     # one on the host
#   nl_cut_on kafka drop                  # kafka|redis  drop|reset
#   fl_hold 15000
#   nl_cut_off
#
# The network. Each run makes a namespace kfnet-<pid>-<id> and a veth pair
# kfh<id> (host, 10.X.Y.1/30) / kfn<id> (inside, 10.X.Y.2/30), X.Y picked
# per run among the 10.X.Y.0/30 that no address or route of the host uses.
# The namespace has its loopback and the veth, and no default route (the
# host does not forward: nothing inside reaches beyond the host's veth
# address). Everything is removed at exit, also when the test fails (the
# kfleet processes inside are killed first, as kf_start's cleanups run
# before ours); namespaces that a killed run left behind (their pid is
# gone) are removed by the next nl_setup.
#
# The relays. The namespace mirrors the host's loopback services: inside it,
# 127.0.0.1:<port> reaches the host's 127.0.0.1:<port> for the broker
# (KFLEET_BROKERS: the PLAINTEXT listener, which advertises 127.0.0.1:<its
# port>, so every broker connection of a client inside goes the same way),
# the state Redis (FL_STATE_REDIS) and the HTTP receiver (IT_HTTP_PORT).
# The workers' config is therefore the same inside and outside: no
# per-worker override, and no need for the broker's PROXIED listener
# (KFLEET_BROKERS_VIA_PROXY), whose port on the host other scenarios' proxies
# use: the namespace has a loopback of its own. Per service:
#   host:   tests/tools/fault_proxy.py in pass mode listening on 10.X.Y.1:H
#           (a free port), forwarding to 127.0.0.1:<port>;
#   inside: NL_INNER=nat (default): an iptables DNAT rule in the namespace's
#           nat OUTPUT chain sends 127.0.0.1:<port> to 10.X.Y.1:H
#           (route_localnet=1 and a MASQUERADE on the veth inside the
#           namespace only), so the worker's OWN sockets cross the veth and
#           a cut hits them directly: a DROP is a real black hole for
#           kfleet (SYNs unanswered, sends retransmitted), a reset is a
#           real RST on kfleet's socket;
#           NL_INNER=relay: a second fault_proxy.py inside the namespace on
#           127.0.0.1:<port> forwarding to 10.X.Y.1:H (the cut then hits
#           the relay's upstream connections; the relay passes resets on,
#           and a connection made during a DROP is accepted, then reset
#           after the relay's 5 s connect timeout).
#
# The cut (nl_cut_on SERVICE MODE): iptables rules inside the namespace for
# SERVICE's relay port H on the veth, both ways (OUTPUT -d 10.X.Y.1 --dport
# H, INPUT -i veth -s 10.X.Y.1 --sport H): MODE drop is -j DROP, MODE reset
# is -j REJECT --reject-with tcp-reset. nl_cut_off deletes them. Each is a
# fl_note. The OUTPUT rule names the destination, not the veth: a packet
# DNATed from 127.0.0.1 leaves by the veth, but the OUTPUT chain still sees
# the output device chosen before the DNAT (lo), so `-o veth` would never
# match (only 10.X.Y.1, reached by the veth alone, is matched).
#
# Sets: NL_NS (the namespace), NL_EXEC (the command prefix that runs a
# command inside: ip netns exec NL_NS), NL_HOST_IP / NL_NS_IP, NL_VETH_H /
# NL_VETH_N, NL_PORT[service] (the mirrored port), NL_RELAY_PORT[service]
# (H), NL_CUT (what is cut now, empty when nothing).
#
# Needs root, `ip netns` and iptables (installed with apt-get when missing
# and apt-get is there, as scripts/setup.sh does for its packages).

NL_PROXY=$KF_SOURCE_DIR/tests/tools/fault_proxy.py
NL_INNER=${NL_INNER:-nat}
declare -gA NL_PORT=() NL_RELAY_PORT=()
NL_CUT=""
NL_RULES=() # the iptables rules of the cut in force, one string each
NL_NS=""

# nl_ns CMD... — run CMD inside the namespace.
nl_ns() { ip netns exec "$NL_NS" "$@"; }

# _nl_need — root, ip netns, iptables; fail with what is missing.
_nl_need() {
	(($(id -u) == 0)) || kf_fail "netns scenarios need root (ip netns, veth, iptables)"
	command -v ip >/dev/null || kf_fail "netns scenarios need iproute2 (ip)"
	if ! command -v iptables >/dev/null; then
		command -v apt-get >/dev/null || kf_fail "netns scenarios need iptables"
		kf_log "iptables missing: apt-get install iptables"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q iptables >"$KF_TMP/apt.log" 2>&1 || {
			DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$KF_TMP/apt.log" 2>&1
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q iptables >>"$KF_TMP/apt.log" 2>&1
		} || kf_fail "could not install iptables ($KF_TMP/apt.log)"
	fi
}

# _nl_sweep — remove the namespaces (and their veth) of earlier runs that
# died without cleaning up: kfnet-<pid>-<id> whose pid is gone.
_nl_sweep() {
	local ns pid id p
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^kfnet-[0-9]*-[0-9a-f]*$'); do
		pid=${ns#kfnet-}
		id=${pid#*-}
		pid=${pid%%-*}
		kill -0 "$pid" 2>/dev/null && continue
		kf_log "removing namespace $ns left by a dead run (pid $pid)"
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		ip link del "kfh$id" 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
}

# _nl_pick_net — a 10.X.Y.0/30 that no address or route of the host uses.
_nl_pick_net() {
	local i x y
	for ((i = 0; i < 50; i++)); do
		x=$((100 + RANDOM % 155))
		y=$((RANDOM % 256))
		ip -4 -o addr show | grep -q " 10\.$x\.$y\." && continue
		ip -4 route show | grep -q "^10\.$x\.$y\." && continue
		NL_NET=10.$x.$y
		return 0
	done
	kf_fail "no free 10.X.Y.0/30 for the veth"
}

# nl_cleanup — kill what still runs inside, remove the veth and the namespace
# (registered by nl_setup; runs at exit).
nl_cleanup() {
	[[ -n $NL_NS ]] || return 0
	local p
	for p in $(ip netns pids "$NL_NS" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
	ip link del "$NL_VETH_H" 2>/dev/null || true
	ip netns del "$NL_NS" 2>/dev/null || true
	if ip netns list 2>/dev/null | grep -q "^$NL_NS\b"; then
		echo "[$KF_TEST_NAME] WARNING: namespace $NL_NS still there" >&2
	fi
}

# _nl_hostport URL|HOST:PORT — sets NL_H/NL_P (host and port of it).
_nl_hostport() {
	local a=$1
	a=${a#redis://}
	a=${a#http://}
	a=${a##*@}
	a=${a%%/*}
	NL_H=${a%:*}
	NL_P=${a##*:}
	[[ $NL_H == 127.0.0.1 || $NL_H == localhost ]] ||
		kf_fail "netns_lib mirrors loopback services only, got '$1'"
	[[ $NL_P =~ ^[0-9]+$ ]] || kf_fail "netns_lib: no port in '$1'"
}

# _nl_relay SERVICE PORT — the host relay 10.X.Y.1:H -> 127.0.0.1:PORT, and
# the inside path 127.0.0.1:PORT -> 10.X.Y.1:H (DNAT or a relay).
_nl_relay() {
	local svc=$1 port=$2 h
	kf_start "nl_host_$svc" python3 "$NL_PROXY" --listen "$NL_HOST_IP:0" \
		--target "127.0.0.1:$port" --port-file "$KF_TMP/nl_host_$svc.port" \
		--control-port-file "$KF_TMP/nl_host_$svc.ctl"
	kf_wait_for 30 "the host relay for $svc to listen" test -s "$KF_TMP/nl_host_$svc.port"
	h=$(cat "$KF_TMP/nl_host_$svc.port")
	NL_PORT[$svc]=$port
	NL_RELAY_PORT[$svc]=$h
	if [[ $NL_INNER == nat ]]; then
		nl_ns iptables -t nat -A OUTPUT -d 127.0.0.1/32 -p tcp --dport "$port" \
			-j DNAT --to-destination "$NL_HOST_IP:$h" ||
			kf_fail "iptables DNAT in $NL_NS refused"
	else
		kf_start "nl_ns_$svc" ip netns exec "$NL_NS" python3 "$NL_PROXY" \
			--listen "127.0.0.1:$port" --target "$NL_HOST_IP:$h" \
			--port-file "$KF_TMP/nl_ns_$svc.port" --control-port-file "$KF_TMP/nl_ns_$svc.ctl"
		kf_wait_for 30 "the relay for $svc inside $NL_NS to listen" test -s "$KF_TMP/nl_ns_$svc.port"
	fi
	kf_log "netns: $svc: inside 127.0.0.1:$port -> ($NL_INNER) $NL_HOST_IP:$h -> host 127.0.0.1:$port"
}

# _nl_probe SERVICE — a TCP connect from inside the namespace to
# 127.0.0.1:<port>, answered from the host's side (true when it connects).
_nl_probe() {
	nl_ns python3 -c 'import socket,sys
s=socket.create_connection(("127.0.0.1",int(sys.argv[1])),3)
s.close()' "${NL_PORT[$1]}"
}

# nl_setup — the namespace, the veth, the relays (kafka, redis, http); waits
# until each service answers a connect from inside.
nl_setup() {
	_nl_need
	_nl_sweep
	local id svc
	id=$(printf '%04x%02x' $(($$ & 0xffff)) $((RANDOM & 0xff)))
	NL_NS=kfnet-$$-$id
	NL_VETH_H=kfh$id
	NL_VETH_N=kfn$id
	kf_on_exit nl_cleanup
	_nl_pick_net
	NL_HOST_IP=$NL_NET.1
	NL_NS_IP=$NL_NET.2
	ip netns add "$NL_NS" || kf_fail "ip netns add $NL_NS failed"
	ip link add "$NL_VETH_H" type veth peer name "$NL_VETH_N" || kf_fail "cannot create veth $NL_VETH_H"
	ip link set "$NL_VETH_N" netns "$NL_NS"
	ip addr add "$NL_HOST_IP/30" dev "$NL_VETH_H"
	ip link set "$NL_VETH_H" up
	nl_ns ip link set lo up
	nl_ns ip addr add "$NL_NS_IP/30" dev "$NL_VETH_N"
	nl_ns ip link set "$NL_VETH_N" up
	if [[ $NL_INNER == nat ]]; then
		nl_ns sysctl -qw net.ipv4.conf.all.route_localnet=1 "net.ipv4.conf.$NL_VETH_N.route_localnet=1" ||
			kf_fail "route_localnet in $NL_NS"
		nl_ns iptables -t nat -A POSTROUTING -o "$NL_VETH_N" -j MASQUERADE ||
			kf_fail "iptables MASQUERADE in $NL_NS refused"
	elif [[ $NL_INNER != relay ]]; then
		kf_fail "NL_INNER must be nat or relay, got '$NL_INNER'"
	fi
	kf_log "netns: $NL_NS, veth $NL_VETH_H $NL_HOST_IP/30 <-> $NL_VETH_N $NL_NS_IP/30 (inside: $NL_INNER)"
	[[ $KFLEET_BROKERS != *,* ]] || kf_fail "netns_lib mirrors one broker, got '$KFLEET_BROKERS'"
	_nl_hostport "$KFLEET_BROKERS"
	_nl_relay kafka "$NL_P"
	_nl_hostport "$FL_STATE_REDIS"
	_nl_relay redis "$NL_P"
	_nl_relay http "$IT_HTTP_PORT"
	for svc in kafka redis http; do
		kf_wait_for 30 "$svc reachable from inside $NL_NS" _nl_probe "$svc"
	done
	NL_EXEC=(ip netns exec "$NL_NS")
}

# nl_cut_on SERVICE MODE — cut the namespace off from SERVICE (kafka, redis,
# http): MODE drop (a black hole) or reset (REJECT --reject-with tcp-reset),
# on the veth, both ways.
nl_cut_on() {
	local svc=$1 mode=$2 h target r
	h=${NL_RELAY_PORT[$svc]:?nl_cut_on: unknown service $svc}
	[[ -z $NL_CUT ]] || kf_fail "nl_cut_on: $NL_CUT is already cut"
	case $mode in
	drop) target="-j DROP" ;;
	reset) target="-j REJECT --reject-with tcp-reset" ;;
	*) kf_fail "nl_cut_on: MODE is drop or reset, got '$mode'" ;;
	esac
	NL_RULES=(
		"OUTPUT -p tcp -d $NL_HOST_IP --dport $h $target"
		"INPUT -i $NL_VETH_N -p tcp -s $NL_HOST_IP --sport $h $target"
	)
	for r in "${NL_RULES[@]}"; do
		# shellcheck disable=SC2086 # the rule is words
		nl_ns iptables -I $r || kf_fail "iptables -I $r refused in $NL_NS"
	done
	NL_CUT="$svc $mode"
	fl_note "netns cut: $NL_NS off $svc ($mode, port $h) (outputs $(fl_outputs))"
}

# nl_cut_off — remove the cut's rules.
nl_cut_off() {
	local r
	[[ -n $NL_CUT ]] || return 0
	for r in "${NL_RULES[@]}"; do
		# shellcheck disable=SC2086 # the rule is words
		nl_ns iptables -D $r || kf_fail "iptables -D $r refused in $NL_NS"
	done
	fl_note "netns healed: $NL_NS back on ${NL_CUT% *} (outputs $(fl_outputs))"
	NL_CUT=""
	NL_RULES=()
}

# nl_rules — the namespace's filter and nat rules now (for a report).
nl_rules() { nl_ns iptables -S; nl_ns iptables -t nat -S; }

# nl_inside SLOT — true when SLOT's worker runs inside the namespace.
declare -gA NL_INSIDE=()
nl_inside() { [[ -n ${NL_INSIDE[$1]:-} ]]; }

# nl_start_worker SLOT — fl_start_worker inside the namespace.
nl_start_worker() {
	NL_INSIDE[$1]=1
	fl_start_worker "$1" "${NL_EXEC[@]}"
}

# nl_metrics SLOT — the worker's /metrics (from inside the namespace for a
# worker there: it listens on the namespace's loopback).
nl_metrics() {
	local url="http://127.0.0.1:${FL_METRICS[$1]}/metrics"
	if nl_inside "$1"; then
		nl_ns curl -sf -m 5 "$url"
	else
		curl -sf -m 5 "$url"
	fi
}

# nl_metric SLOT NAME — one kfleet_NAME value of the worker in SLOT (the sum
# over its label sets; empty when /metrics does not answer).
nl_metric() {
	nl_metrics "$1" 2>/dev/null | awk -v n="kfleet_$2" '
		$1 == n || index($1, n "{") == 1 { s += $2; seen = 1 }
		END { if (seen) printf "%d\n", s }'
}

# nl_metric_at_least SLOT NAME N — for fl_wait_until.
nl_metric_at_least() {
	local v
	v=$(nl_metric "$1" "$2")
	[[ -n $v ]] && ((v >= $3))
}

# nl_hold_watching MS CMD [ARGS...] — hold a fault for MS milliseconds (fault
# timing) while polling CMD every 0.5 s; NL_SEEN=yes when it succeeded at
# least once, and NL_SEEN_AT the seconds into the hold it first did.
nl_hold_watching() {
	local ms=$1 end t0
	shift
	t0=$(fl_ms)
	end=$((t0 + ms))
	NL_SEEN=no
	NL_SEEN_AT=""
	while (($(fl_ms) < end)); do
		if [[ $NL_SEEN == no ]] && "$@" >/dev/null 2>&1; then
			NL_SEEN=yes
			NL_SEEN_AT=$((($(fl_ms) - t0) / 1000))
		fi
		sleep 0.5 # poll interval within the fault's duration
	done
}

# fl_diagnose, extended: the original saves each worker's /metrics from the
# host, which cannot reach a worker inside the namespace; those are taken
# again from inside, with the namespace's rules.
eval "$(declare -f fl_diagnose | sed '1s/^fl_diagnose/_nl_fl_diagnose/')"
fl_diagnose() {
	local s name
	_nl_fl_diagnose
	for s in "${!FL_WORKER[@]}"; do
		nl_inside "$s" || continue
		name=${FL_WORKER[$s]}
		kf_alive "$name" || continue
		nl_metrics "$s" >"$KF_TMP/$name.metrics" 2>&1 || true
	done
	[[ -n $NL_NS ]] && nl_rules >"$KF_TMP/netns.rules" 2>&1 || true
}

# ------------------------------------------------------- scenario flows
# The netns scenarios (tests/faults/test_netns_*.sh) share two flows. The
# namespaced worker is slot 1; host workers are slots 2.. .

# _nl_start — the namespace's worker (slot 1) and HOSTS workers on the host,
# then waits until the namespaced one holds partitions and completes
# records, and until outputs reach a share of the run (FRACTION: want/F).
_nl_start() {
	local hosts=$1 frac=$2 s
	nl_start_worker 1
	for ((s = 2; s <= hosts + 1; s++)); do
		fl_start_worker "$s"
	done
	fl_wait_until 90 "first outputs" fl_outputs_at_least 1
	fl_wait_until 90 "the namespaced worker holding partitions" \
		nl_metric_at_least 1 assigned_partitions 1
	fl_wait_until 90 "the namespaced worker completing records" \
		nl_metric_at_least 1 records_done_total 200
	NL_WANT=$((FL_RECORDS - FL_RECORDS / FL_POISON))
	fl_wait_until 90 "outputs flowing before the cut" fl_outputs_at_least $((NL_WANT / frac))
	kf_log "before the cut: outputs $(fl_outputs), namespaced worker: $(_nl_brief 1)"
}

# _nl_brief SLOT — a worker's main counters on one line.
_nl_brief() {
	local m out="" n
	for m in assigned_partitions records_done_total inflight_records retries_total \
		records_failed_total rebalances_total retakes_total sink_errors_total; do
		n=$(nl_metric "$1" "$m")
		out+="$m=${n:-?} "
	done
	echo "${out% }"
}

# _nl_host_has_all — a host worker holds all 8 input partitions.
_nl_host_has_all() {
	local s
	for s in "${!FL_WORKER[@]}"; do
		nl_inside "$s" && continue
		nl_metric_at_least "$s" assigned_partitions 8 && return 0
	done
	return 1
}

# _nl_rejoined N — the namespaced worker counted N rebalance events (revokes
# and assignments) and holds partitions.
_nl_rejoined() {
	nl_metric_at_least 1 rebalances_total "$1" && nl_metric_at_least 1 assigned_partitions 1
}

# nl_kafka_cut_flow MODE MS HOSTS — the namespaced worker and HOSTS host
# workers in one group; the namespaced one is cut off from Kafka (MODE drop
# or reset) for MS ms, past session.timeout.ms (6 s in fault.json). What
# must hold, besides fl_finish's checks:
#   - the group gives the cut-off worker's partitions to the host worker(s):
#     one host worker holds all 8 at some point during the cut or within
#     15 s of its end (before the namespaced one is back);
#   - after the cut the namespaced worker, a zombie whose session expired,
#     rejoins: its assignment is revoked and a new one comes (rebalance
#     events counted in its /metrics), and it completes records again.
nl_kafka_cut_flow() {
	local mode=$1 ms=$2 hosts=$3 done0 reb0 revoked fenced
	_nl_start "$hosts" 8
	reb0=$(nl_metric 1 rebalances_total)
	nl_cut_on kafka "$mode"
	nl_hold_watching "$ms" _nl_host_has_all
	nl_cut_off
	if [[ $NL_SEEN == yes ]]; then
		kf_log "a host worker held all 8 partitions ${NL_SEEN_AT}s into the cut"
	else
		fl_wait_until 15 "a host worker to hold all 8 partitions (the group taking the cut-off worker's)" \
			_nl_host_has_all
		kf_log "a host worker held all 8 partitions after the cut"
	fi
	kf_log "after the cut: outputs $(fl_outputs), namespaced worker: $(_nl_brief 1)"
	# The zombie rejoins: its assignment is revoked (lost) and a new one
	# comes (two rebalance events at least), then it completes records.
	fl_wait_until 90 "the namespaced worker to lose its partitions and rejoin" \
		_nl_rejoined $((${reb0:-0} + 2))
	done0=$(nl_metric 1 records_done_total)
	fl_wait_until 90 "the namespaced worker completing records after rejoining" \
		nl_metric_at_least 1 records_done_total $((${done0:-0} + 1))
	revoked=$(grep -c 'revoked' "$KF_TMP/${FL_WORKER[1]}.log" || true)
	fenced=$(grep -ciE 'fenc' "$KF_TMP/${FL_WORKER[1]}.log" || true)
	kf_log "namespaced worker rejoined: $(_nl_brief 1); its log: $revoked revoke line(s), $fenced fence line(s)"
	fl_note "rejoined; revoke lines $revoked, fence lines $fenced"
}

# _nl_completed SLOT — records the worker completed through its sinks:
# records_done_total less records_failed_total (a dead-lettered record is
# done when the on-failure topic has it, which needs no Redis), from one
# scrape of /metrics; empty when it does not answer.
_nl_completed() {
	nl_metrics "$1" 2>/dev/null | awk '
		$1 ~ /^kfleet_records_done_total[{ ]?/ { d += $2; seen = 1 }
		$1 ~ /^kfleet_records_failed_total[{ ]?/ { f += $2 }
		END { if (seen) printf "%d\n", d - f }'
}
_nl_completed_at_least() {
	local v
	v=$(_nl_completed "$1")
	[[ -n $v ]] && ((v >= $2))
}

# nl_redis_cut_flow MODE MS HOSTS — the namespaced worker (with HOSTS host
# workers) is cut off from the state Redis (which the Redis sink writes to)
# for MS ms. What must hold, besides fl_finish's checks (exactly the poison
# records in the on-failure topic: the outage must not spend attempts):
#   - the namespaced worker pauses: from 3 s into the cut to its end it
#     completes no record through its sinks (records_done_total less
#     records_failed_total flat: a poison record may still be
#     dead-lettered, that needs Kafka only), and it keeps its
#     partitions (Kafka is not cut: no rebalance takes them);
#   - with host workers, they go on: outputs grow during the cut;
#   - after the cut the namespaced worker completes records again.
nl_redis_cut_flow() {
	local mode=$1 ms=$2 hosts=$3 d1 d2 o1 o2 after
	_nl_start "$hosts" 8
	nl_cut_on redis "$mode"
	fl_hold 3000 # the cut's first 3 s: what was on its way may land
	d1=$(_nl_completed 1)
	o1=$(fl_outputs)
	kf_log "3 s into the cut: outputs $o1, namespaced worker: $(_nl_brief 1)"
	nl_hold_watching $((ms - 3000)) false
	d2=$(_nl_completed 1)
	o2=$(fl_outputs)
	kf_log "end of the cut: outputs $o2, namespaced worker: $(_nl_brief 1)"
	nl_cut_off
	[[ -n $d1 && -n $d2 ]] || kf_fail "the namespaced worker's /metrics did not answer during the cut"
	((d2 == d1)) ||
		kf_fail "the namespaced worker completed $((d2 - d1)) record(s) (not dead-lettered) while cut off from the state Redis"
	nl_metric_at_least 1 assigned_partitions 1 ||
		kf_fail "the namespaced worker lost its partitions during a Redis cut (Kafka was not cut)"
	if ((hosts > 0)); then
		((o2 > o1)) || kf_fail "the host worker(s) made no progress while the namespaced one was cut off from Redis"
		kf_log "host worker(s) went on during the cut: outputs $o1 -> $o2"
	fi
	after=$(fl_outputs)
	fl_wait_until 90 "the namespaced worker completing records after the cut" \
		_nl_completed_at_least 1 $((d2 + 1))
	kf_log "after the cut: outputs $after -> $(fl_outputs), namespaced worker: $(_nl_brief 1)"
}
