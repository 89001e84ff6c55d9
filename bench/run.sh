#!/usr/bin/env bash
# bench/run.sh — kfleet side by side with a raw librdkafka consumer, kcat,
# Kafka Streams and the Confluent Parallel Consumer, in ONE run on the broker and Redis of scripts/infra.sh, so
# every figure is also a ratio that holds on a noisy machine (bench/README.md).
#
#   bench/run.sh            full: 1,000,000 records x 3 runs, 30 s latency runs,
#                           10,000 slow-handler records (about 15 minutes)
#   bench/run.sh --quick    200,000 records x 3, 10 s latency, 2,000 slow records
#   bench/run.sh --smoke    20,000 records x 1, 2 s latency, 200 slow records:
#                           checks the harness works (every contender processed
#                           every record, the JSON is well-formed); asserts no
#                           timing; what scripts/test.sh runs
#   --only LIST             comma list of what to run: raw_consumer, kcat,
#                           kfleet_alo, kfleet_eos_redis, kfleet_eos_kafka,
#                           kstreams_eos, parallel_consumer, scale_out,
#                           slow_handler, pc_slow_key, footprint
#   --keep-work             keep the logs and configs of a successful run
#
# Every latency run also measures the probe's own floor (Kafka alone, no
# kfleet) and reports each p99 over it; scale_out runs 1, 2 and 3 kfleet
# processes in one consumer group (bench/README.md).
#
# Output: a Markdown table on stdout; bench/results/latest.json and
# bench/results/latest.png (full and --quick only: a smoke run writes to a
# temporary directory and leaves bench/results/ alone).
#
# Needs: scripts/infra.sh up (or KFLEET_BROKERS and KFLEET_REDIS set). The
# build goes through scripts/setup.sh into $KF_BUILD_DIR (default build/);
# KF_NO_SETUP=1 skips it. Installs gnuplot-nox when it is missing and builds
# the Kafka Streams and Parallel Consumer peers (bench/peers/kstreams,
# bench/peers/parallel-consumer, Maven) when they are stale.
# Tunables (env): KF_BENCH_RECORDS, KF_BENCH_REPS, KF_BENCH_LAT_RATE,
# KF_BENCH_LAT_SECONDS, KF_BENCH_LAT_WARMUP, KF_BENCH_SLOW_RECORDS,
# KF_BENCH_SLOW_KEYS, KF_BENCH_IDLE_SECONDS, KF_BENCH_SCALE_RECORDS (override
# the mode's counts),
# KF_BENCH_LAT_WINDOW_MS (kfleet batch.window_ms in the latency runs, 1),
# KF_BENCH_KSTREAMS_THREADS (num.stream.threads, default nproc),
# KF_BENCH_WORK (logs directory).
#
# Exit status: 0 when every contender processed every record; 1 when one
# failed (the table and the JSON say which and why); 2 on bad usage.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${KF_BUILD_DIR:-$ROOT/build}
KSTREAMS=$ROOT/bench/peers/kstreams
PCPEER=$ROOT/bench/peers/parallel-consumer
MODE=full
ONLY=""
KEEP=()

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

while (($#)); do
	case $1 in
	--smoke) MODE=smoke ;;
	--quick) MODE=quick ;;
	--full) MODE=full ;;
	--only)
		[[ $# -ge 2 ]] || {
			log "--only needs a list"
			exit 2
		}
		ONLY=$2
		shift
		;;
	--keep-work) KEEP=(--keep-work) ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		log "unknown argument $1 (see bench/run.sh --help)"
		exit 2
		;;
	esac
	shift
done

# --- what the bench needs ----------------------------------------------------

if [[ ${KF_NO_SETUP:-0} != 1 ]]; then
	KF_BUILD_DIR=$BUILD_DIR bash "$ROOT/scripts/setup.sh" >&2 || die "scripts/setup.sh failed"
fi
for f in kfleet tools/raw_consume tools/bench_kafka tools/bench_latency tools/kf_produce \
	handlers/echo.so handlers/flaky.so; do
	[[ -e $BUILD_DIR/$f ]] || die "$BUILD_DIR/$f is missing: build first (scripts/setup.sh)"
done

# The chart needs gnuplot; install it like scripts/setup.sh installs its
# packages. Without it the run goes on and only the PNG is missing.
if ! dpkg-query -W -f='${Status}' gnuplot-nox 2>/dev/null | grep -q 'ok installed' &&
	! command -v gnuplot >/dev/null; then
	log "installing gnuplot-nox (for the chart)"
	SUDO=()
	((EUID == 0)) || SUDO=(sudo)
	if ! { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
		"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends gnuplot-nox; } >&2; then
		log "could not install gnuplot-nox: no chart this time"
	fi
fi

# The JVM peers (Kafka Streams, Confluent Parallel Consumer): compiled
# classes and their jars under target/ (git-ignored), rebuilt only when
# pom.xml or a source changed.  peer_build DIR WHAT JAR-PREFIX
peer_build() {
	local dir=$1 what=$2 jar=$3 want have=""
	want=$({
		cat "$dir/pom.xml"
		find "$dir/src" -type f -print0 | sort -z | xargs -0 cat
	} | sha256sum | cut -d' ' -f1)
	[[ -f $dir/target/.bench-stamp ]] && have=$(cat "$dir/target/.bench-stamp")
	if [[ $want == "$have" ]] && compgen -G "$dir/target/lib/$jar-*.jar" >/dev/null; then
		return 0
	fi
	command -v mvn >/dev/null || die "mvn not found: run scripts/setup.sh"
	command -v java >/dev/null || die "java not found: run scripts/setup.sh"
	log "building the $what peer (Maven)..."
	mkdir -p "$dir/target"
	if ! mvn -B -q -Dstyle.color=never -f "$dir/pom.xml" compile \
		dependency:copy-dependencies >"$dir/target/maven.log" 2>&1; then
		tail -n 30 "$dir/target/maven.log" >&2
		die "maven could not build ${dir#"$ROOT"/} (log: $dir/target/maven.log)"
	fi
	echo "$want" >"$dir/target/.bench-stamp"
}
peer_build "$KSTREAMS" "Kafka Streams" kafka-streams
peer_build "$PCPEER" "Confluent Parallel Consumer" parallel-consumer-core

command -v kcat >/dev/null || die "kcat not found: run scripts/setup.sh"

# --- infrastructure ------------------------------------------------------------

if [[ -z ${KFLEET_BROKERS:-} || -z ${KFLEET_REDIS:-} ]]; then
	env_lines=$("$ROOT/scripts/infra.sh" env 2>/dev/null) ||
		die "no KFLEET_BROKERS/KFLEET_REDIS and scripts/infra.sh is not up: run scripts/infra.sh up"
	set -a
	eval "$env_lines"
	set +a
fi
export KFLEET_BROKERS KFLEET_REDIS
kcat -L -b "$KFLEET_BROKERS" -m 5 >/dev/null 2>&1 ||
	die "the broker at $KFLEET_BROKERS does not answer (scripts/infra.sh status)"
[[ $(redis-cli -u "$KFLEET_REDIS" ping 2>/dev/null) == PONG ]] ||
	die "Redis at $KFLEET_REDIS does not answer (scripts/infra.sh status)"

# --- run -------------------------------------------------------------------------

WORK=${KF_BENCH_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/kfleet-bench.XXXXXX")}
mkdir -p "$WORK"
if [[ $MODE == smoke ]]; then
	JSON=$WORK/smoke.json
	PNG=$WORK/smoke.png
else
	mkdir -p "$ROOT/bench/results"
	JSON=$ROOT/bench/results/latest.json
	PNG=$ROOT/bench/results/latest.png
fi

rc=0
python3 "$ROOT/bench/lib/bench.py" --mode "$MODE" --root "$ROOT" --build-dir "$BUILD_DIR" \
	--json "$JSON" --png "$PNG" --work-dir "$WORK" ${ONLY:+--only "$ONLY"} || rc=$?

# The JSON parses, has the issue's shape, and every contender that ran has
# its figures (so it processed every record). Timings are never judged.
if [[ -f $JSON ]]; then
	python3 "$ROOT/bench/lib/check_results.py" "$JSON" ${ONLY:+--only "$ONLY"} || rc=1
else
	log "no results file $JSON"
	rc=1
fi
if ((rc == 0)) && ((${#KEEP[@]} == 0)); then
	rm -rf "$WORK"
else
	log "logs and configs in $WORK"
fi
if ((rc == 0)); then
	log "$MODE run ok"
else
	log "$MODE run FAILED"
fi
exit "$rc"
