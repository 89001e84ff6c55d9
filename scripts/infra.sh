#!/usr/bin/env bash
# scripts/infra.sh — real test infrastructure on loopback: one Apache Kafka
# broker in KRaft mode (combined broker + controller, jars from Maven Central
# through scripts/kafka/pom.xml; KAFKA_VERSION picks the release, 4.4.0 by
# default, 3.9.x too) and one redis-server with AOF on.
#
#   scripts/infra.sh up            start both (no-op for what already runs)
#   scripts/infra.sh down          stop both and delete their data
#   scripts/infra.sh env [--export]  print KFLEET_BROKERS=..., KFLEET_REDIS=...
#                                  and, for a fault proxy in front of the
#                                  broker, KFLEET_BROKERS_VIA_PROXY (clients
#                                  bootstrap there; the broker's PROXIED
#                                  listener advertises it) and
#                                  KFLEET_PROXIED_LISTENER (where the proxy
#                                  forwards to)
#   scripts/infra.sh status        say what runs; exit 0 only if both answer
#   scripts/infra.sh logs [N]      last N (40) lines of each log
#   scripts/infra.sh redis-kill | redis-stop | redis-start
#   scripts/infra.sh kafka-kill | kafka-stop | kafka-start
#                                  chaos helpers: SIGKILL, SIGTERM, or start
#                                  again on the same port with the same data
#   scripts/infra.sh topic-create NAME [PARTITIONS]   (default 8)
#   scripts/infra.sh kafka-topics ARGS...           TopicCommand
#   scripts/infra.sh kafka-consumer-groups ARGS...  ConsumerGroupCommand
#                                  (both get --bootstrap-server added)
#
# Use the environment with `eval "$(scripts/infra.sh env --export)"`, or
# `export $(scripts/infra.sh env)`, or `set -a; eval "$(...env)"; set +a`.
#
# Everything lives under .infra/ (or $KF_INFRA_DIR): kafka-libs/ is the jar
# cache and survives `down`; run/ holds the state (ports, pids, configs, data,
# logs) and is deleted by `down`. Ports are picked free at the first `up`.
# Tunables: KAFKA_VERSION (a 4.x.y or 3.x.y release on Maven Central, default
# 4.4.0; each version has its own jar cache, .infra/kafka-libs-<version>),
# KF_INFRA_TIMEOUT (seconds to wait for readiness, default 120),
# KF_KAFKA_HEAP (default "-Xms128m -Xmx512m"), KF_REDIS_APPENDFSYNC
# (everysec | always | no, default everysec).
#
# Concurrency: every command that starts or stops something holds an flock on
# .infra/lock, so two `up`s racing start one broker. The daemons are started
# with the lock fd closed so they never hold it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
INFRA_DIR=${KF_INFRA_DIR:-$ROOT/.infra}
# The broker's version: 4.x logs through log4j2, 3.9.x through log4j 1.
KAFKA_VERSION=${KAFKA_VERSION:-4.4.0}
KAFKA_MAJOR=${KAFKA_VERSION%%.*}
[[ $KAFKA_VERSION =~ ^[34]\.[0-9]+\.[0-9]+$ ]] ||
	{ echo "infra: KAFKA_VERSION=$KAFKA_VERSION: expected a 3.x.y or 4.x.y release" >&2 && exit 2; }
LIBS_DIR=$INFRA_DIR/kafka-libs-$KAFKA_VERSION
RUN_DIR=$INFRA_DIR/run
STATE=$RUN_DIR/state.env
POM=$ROOT/scripts/kafka/pom.xml
TIMEOUT=${KF_INFRA_TIMEOUT:-120}
HEAP=${KF_KAFKA_HEAP:--Xms128m -Xmx512m}
APPENDFSYNC=${KF_REDIS_APPENDFSYNC:-everysec}
HOST=127.0.0.1

log() { printf 'infra: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

now_ms() { date +%s%3N; }
secs_since() { # $1 = start in ms; prints seconds with one decimal
	local d=$(($(now_ms) - $1))
	printf '%d.%d' $((d / 1000)) $((d % 1000 / 100))
}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

lock() {
	mkdir -p "$INFRA_DIR"
	exec 9>"$INFRA_DIR/lock"
	flock -w 600 9 || die "another infra.sh holds $INFRA_DIR/lock"
}

kcat_bin() {
	command -v kcat || command -v kafkacat ||
		die "kcat not found: run scripts/setup.sh"
}

# --- jars ------------------------------------------------------------------

# Copies the broker's jars once; a changed pom.xml (hash stamp) fetches again.
# The copy goes to a temporary dir first so an interrupted download never
# leaves a half-filled kafka-libs/ that looks complete.
fetch_libs() {
	local want have="" tmp t0
	want=$({
		cat "$POM"
		echo "$KAFKA_VERSION"
	} | sha256sum | cut -d' ' -f1)
	[[ -f $LIBS_DIR/.pom.sha256 ]] && have=$(cat "$LIBS_DIR/.pom.sha256")
	[[ $want == "$have" ]] && return 0
	command -v mvn >/dev/null || die "mvn not found: run scripts/setup.sh"
	command -v java >/dev/null || die "java not found: run scripts/setup.sh"
	log "fetching Kafka jars with Maven (first run only)..."
	t0=$(now_ms)
	tmp=$INFRA_DIR/kafka-libs.tmp
	rm -rf "$tmp"
	if ! mvn -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
		-Dkafka.version="$KAFKA_VERSION" -Dkafka.major="$KAFKA_MAJOR" \
		-DincludeScope=runtime -DoutputDirectory="$tmp" \
		>"$INFRA_DIR/maven.log" 2>&1; then
		tail -n 40 "$INFRA_DIR/maven.log" >&2
		die "maven could not fetch the Kafka jars (log: $INFRA_DIR/maven.log)"
	fi
	echo "$want" >"$tmp/.pom.sha256"
	rm -rf "$LIBS_DIR"
	mv "$tmp" "$LIBS_DIR"
	log "jars ready in $(secs_since "$t0")s ($(find "$LIBS_DIR" -name "*.jar" | wc -l) jars)"
}

# --- state -----------------------------------------------------------------

# Binds all sockets before closing any, so the ports are distinct; another
# process could still take one before the daemon binds it, which `up` handles
# by picking again (see start_all).
free_ports() {
	python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

new_cluster_id() { # a KRaft cluster id: 16 random bytes, base64url, no padding,
	# never starting with '-' (StorageTool would read it as an option)
	python3 -c 'import base64,uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"): break
print(s)'
}

new_state() {
	local ports
	read -r -a ports <<<"$(free_ports 5)"
	mkdir -p "$RUN_DIR"
	cat >"$STATE" <<EOF
KAFKA_PORT=${ports[0]}
CONTROLLER_PORT=${ports[1]}
REDIS_PORT=${ports[2]}
PROXIED_PORT=${ports[3]}
PROXY_PORT=${ports[4]}
CLUSTER_ID=$(new_cluster_id)
EOF
}

load_state() {
	[[ -f $STATE ]] || return 1
	# shellcheck disable=SC1090
	source "$STATE"
}

# --- processes -------------------------------------------------------------

# A pid file is trusted only if the process still runs the expected command,
# so a recycled pid or a zombie is never mistaken for (or killed as) ours.
pid_of() { # $1 = kafka|redis; prints the pid if alive and ours
	local f=$RUN_DIR/$1.pid pid cmd
	[[ -f $f ]] || return 1
	pid=$(cat "$f")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	{ cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline"); } 2>/dev/null || return 1
	case $1 in
	kafka) [[ $cmd == *kafka.Kafka*"$RUN_DIR/server.properties"* ]] || return 1 ;;
	# A redis-server that has not renamed its process yet shows its config
	# path instead of host:port.
	redis) [[ $cmd == *redis-server*":$REDIS_PORT"* || $cmd == *redis-server*"$RUN_DIR/redis.conf"* ]] || return 1 ;;
	esac
	echo "$pid"
}

# Sends $2 (TERM or KILL) and waits up to $3 seconds for the exit; a TERM that
# is not obeyed in time becomes a KILL.
stop_proc() {
	local name=$1 sig=$2 wait_s=$3 pid end
	pid=$(pid_of "$name") || {
		rm -f "$RUN_DIR/$name.pid"
		return 0
	}
	kill -s "$sig" "$pid" 2>/dev/null || true
	end=$(($(now_ms) + wait_s * 1000))
	while pid_of "$name" >/dev/null; do
		if (($(now_ms) > end)); then
			[[ $sig == KILL ]] && die "$name (pid $pid) does not exit"
			log "$name (pid $pid) ignored SIGTERM for ${wait_s}s: SIGKILL"
			kill -s KILL "$pid" 2>/dev/null || true
			sig=KILL
			end=$(($(now_ms) + 10000))
		fi
		sleep 0.1
	done
	rm -f "$RUN_DIR/$name.pid"
	log "$name stopped (SIG$sig)"
}

write_kafka_config() {
	cat >"$RUN_DIR/server.properties" <<EOF
# Written by scripts/infra.sh: a single-node KRaft cluster for tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$CONTROLLER_PORT${PROXIED_PORT:+,PROXIED://$HOST:$PROXIED_PORT}
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT${PROXIED_PORT:+,PROXIED://$HOST:$PROXY_PORT}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,PROXIED:PLAINTEXT
log.dirs=$RUN_DIR/kafka-data
num.partitions=8
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
# Fast tests: no delay before the first rebalance, short sessions allowed.
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=500
# 1 MiB values plus key, headers and batch overhead exceed the 1 MB default.
message.max.bytes=10485760
replica.fetch.max.bytes=10485760
# After a SIGKILL (kafka-kill) the restarted broker is refused as a duplicate
# until its old registration expires: 5 s instead of the default 9 s.
broker.session.timeout.ms=5000
broker.heartbeat.interval.ms=500
# Two cores: few threads, a small cleaner buffer (the default is 128 MiB).
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=2
log.cleaner.dedupe.buffer.size=16777216
EOF
}

# log_flag broker|tools — the JVM flag that points the version's logging at
# scripts/kafka/: log4j2 (4.x) or log4j 1 (3.x) configuration.
log_flag() {
	local base=log4j
	[[ $1 == tools ]] && base=tools-log4j
	if ((KAFKA_MAJOR >= 4)); then
		echo "-Dlog4j2.configurationFile=file:$ROOT/scripts/kafka/${base}2.properties"
	else
		echo "-Dlog4j.configuration=file:$ROOT/scripts/kafka/$base.properties"
	fi
}

java_opts() {
	# shellcheck disable=SC2206
	local heap=($HEAP)
	printf '%s\n' "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
}

start_kafka() {
	local opts
	mapfile -t opts < <(java_opts)
	write_kafka_config
	if [[ ! -f $RUN_DIR/kafka-data/meta.properties ]]; then
		java "${opts[@]}" -cp "$LIBS_DIR/*" \
			"$(log_flag tools)" \
			kafka.tools.StorageTool format -t "$CLUSTER_ID" \
			-c "$RUN_DIR/server.properties" --ignore-formatted \
			>>"$RUN_DIR/kafka.log" 2>&1 </dev/null || {
			fail_logs kafka
			log "kafka-storage format failed"
			return 1
		}
	fi
	java "${opts[@]}" -cp "$LIBS_DIR/*" \
		"$(log_flag broker)" \
		-Dkafka.logs.dir="$RUN_DIR" \
		kafka.Kafka "$RUN_DIR/server.properties" \
		>>"$RUN_DIR/kafka.log" 2>&1 </dev/null 9>&- &
	echo $! >"$RUN_DIR/kafka.pid"
	disown $!
}

start_redis() {
	mkdir -p "$RUN_DIR/redis-data"
	cat >"$RUN_DIR/redis.conf" <<EOF
# Written by scripts/infra.sh. AOF on, as kfleet's exactly-once state needs.
bind $HOST
port $REDIS_PORT
protected-mode yes
daemonize no
dir $RUN_DIR/redis-data
logfile $RUN_DIR/redis.log
appendonly yes
appendfsync $APPENDFSYNC
save ""
maxmemory-policy noeviction
EOF
	redis-server "$RUN_DIR/redis.conf" >>"$RUN_DIR/redis.log" 2>&1 </dev/null 9>&- &
	echo $! >"$RUN_DIR/redis.pid"
	disown $!
}

kafka_answers() {
	local out
	out=$("$KCAT" -L -b "$HOST:$KAFKA_PORT" -m 2 2>/dev/null) || return 1
	[[ $out == *"broker 1 at $HOST:$KAFKA_PORT"* ]]
}

redis_answers() {
	[[ $(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
}

fail_logs() { # prints the last 40 lines of the named logs
	local n
	for n in "$@"; do
		[[ -f $RUN_DIR/$n.log ]] || continue
		printf -- '--- last 40 lines of %s ---\n' "$RUN_DIR/$n.log" >&2
		tail -n 40 "$RUN_DIR/$n.log" >&2
	done
}

# Waits until $1 answers, with a deadline. Returns 2 if the process died with
# "Address already in use" (the caller may pick other ports), 1 otherwise.
wait_ready() {
	local name=$1 t0=$2 end=$(($2 + TIMEOUT * 1000))
	while :; do
		if "${name}_answers"; then
			log "$name ready at $HOST:$(port_of "$name") in $(secs_since "$t0")s"
			return 0
		fi
		if ! pid_of "$name" >/dev/null; then
			if grep -q 'Address already in use' "$RUN_DIR/$name.log" 2>/dev/null; then
				return 2
			fi
			fail_logs "$name"
			log "$name exited during start-up"
			return 1
		fi
		if (($(now_ms) > end)); then
			fail_logs "$name"
			log "$name did not answer within ${TIMEOUT}s"
			return 1
		fi
		sleep 0.2
	done
}

port_of() {
	case $1 in
	kafka) echo "$KAFKA_PORT" ;;
	redis) echo "$REDIS_PORT" ;;
	esac
}

# Starts $1 unless it runs and waits for it. On failure stops what it started.
ensure() {
	local name=$1 t0 rc=0
	if pid_of "$name" >/dev/null; then
		"${name}_answers" && return 0
		wait_ready "$name" "$(now_ms)" || rc=$?
		return $rc
	fi
	t0=$(now_ms)
	"start_$name" || return 1
	wait_ready "$name" "$t0" || rc=$?
	((rc == 0)) || stop_proc "$name" KILL 10
	return $rc
}

# --- commands --------------------------------------------------------------

cmd_up() {
	local t0 attempt rc fresh=0
	t0=$(now_ms)
	lock
	KCAT=$(kcat_bin)
	command -v redis-server >/dev/null || die "redis-server not found: run scripts/setup.sh"
	command -v python3 >/dev/null || die "python3 not found: run scripts/setup.sh"
	fetch_libs
	if ! load_state; then
		new_state
		load_state
		fresh=1
	fi
	if pid_of kafka >/dev/null && pid_of redis >/dev/null && kafka_answers && redis_answers; then
		log "already up: kafka $HOST:$KAFKA_PORT, redis $HOST:$REDIS_PORT"
		return 0
	fi
	# A port taken between picking and binding is only retried on a fresh
	# state: a restart must keep its ports, clients already know them.
	for attempt in 1 2 3; do
		rc=0
		ensure redis || rc=$?
		((rc == 0)) && { ensure kafka || rc=$?; }
		((rc == 0)) && break
		if ((rc == 2 && fresh && attempt < 3)); then
			log "a port was taken; picking new ports"
			stop_proc kafka KILL 10
			stop_proc redis KILL 10
			rm -rf "$RUN_DIR"
			new_state
			load_state
			continue
		fi
		((rc == 2)) && fail_logs kafka redis
		stop_proc kafka KILL 10
		stop_proc redis KILL 10
		die "up failed (logs in $RUN_DIR)"
	done
	log "up in $(secs_since "$t0")s: KFLEET_BROKERS=$HOST:$KAFKA_PORT KFLEET_REDIS=redis://$HOST:$REDIS_PORT/0"
}

cmd_down() {
	lock
	if load_state; then
		stop_proc kafka TERM 15
		stop_proc redis TERM 10
	fi
	rm -rf "$RUN_DIR"
	log "down"
}

cmd_env() {
	local prefix=""
	[[ ${1:-} == --export ]] && prefix="export "
	load_state || die "not up: run scripts/infra.sh up"
	printf '%sKFLEET_BROKERS=%s:%s\n' "$prefix" "$HOST" "$KAFKA_PORT"
	printf '%sKFLEET_REDIS=redis://%s:%s/0\n' "$prefix" "$HOST" "$REDIS_PORT"
	printf '%sKFLEET_REDIS_HOST=%s\n' "$prefix" "$HOST"
	printf '%sKFLEET_REDIS_PORT=%s\n' "$prefix" "$REDIS_PORT"
	if [[ -n ${PROXIED_PORT:-} ]]; then
		printf '%sKFLEET_BROKERS_VIA_PROXY=%s:%s\n' "$prefix" "$HOST" "$PROXY_PORT"
		printf '%sKFLEET_PROXIED_LISTENER=%s:%s\n' "$prefix" "$HOST" "$PROXIED_PORT"
	fi
}

cmd_status() {
	local ok=0 pid
	if ! load_state; then
		echo "not up"
		return 1
	fi
	KCAT=$(kcat_bin)
	if pid=$(pid_of kafka) && kafka_answers; then
		echo "kafka: up, pid $pid, $HOST:$KAFKA_PORT"
	else
		echo "kafka: down (port $KAFKA_PORT)"
		ok=1
	fi
	if pid=$(pid_of redis) && redis_answers; then
		echo "redis: up, pid $pid, $HOST:$REDIS_PORT"
	else
		echo "redis: down (port $REDIS_PORT)"
		ok=1
	fi
	return $ok
}

cmd_one() { # $1 = kafka|redis, $2 = kill|stop|start
	lock
	load_state || die "not up: run scripts/infra.sh up first"
	KCAT=$(kcat_bin)
	case $2 in
	kill) stop_proc "$1" KILL 10 ;;
	stop) stop_proc "$1" TERM 15 ;;
	start) ensure "$1" || die "$1 did not start" ;;
	esac
}

cmd_tool() { # $1 = main class, rest = its arguments
	local cls=$1 opts
	shift
	load_state || die "not up: run scripts/infra.sh up first"
	mapfile -t opts < <(java_opts)
	java "${opts[@]}" -cp "$LIBS_DIR/*" \
		"$(log_flag tools)" \
		"$cls" --bootstrap-server "$HOST:$KAFKA_PORT" "$@"
}

main() {
	local cmd=${1:-}
	(($#)) && shift
	case $cmd in
	up) cmd_up ;;
	down) cmd_down ;;
	env) cmd_env "$@" ;;
	status) cmd_status ;;
	logs)
		load_state || die "not up"
		local n=${1:-40} f
		for f in kafka redis; do
			printf -- '--- %s ---\n' "$RUN_DIR/$f.log"
			tail -n "$n" "$RUN_DIR/$f.log" 2>/dev/null || true
		done
		;;
	redis-kill | redis-stop | redis-start | kafka-kill | kafka-stop | kafka-start)
		cmd_one "${cmd%%-*}" "${cmd#*-}"
		;;
	topic-create)
		[[ $# -ge 1 ]] || die "usage: infra.sh topic-create NAME [PARTITIONS]"
		cmd_tool org.apache.kafka.tools.TopicCommand --create --if-not-exists \
			--topic "$1" --partitions "${2:-8}" --replication-factor 1
		;;
	kafka-topics) cmd_tool org.apache.kafka.tools.TopicCommand "$@" ;;
	kafka-consumer-groups)
		cmd_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "$@"
		;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
