#!/usr/bin/env bash
# scripts/fuzz.sh — run the libFuzzer targets of tests/fuzz/ for a while each.
#
#   scripts/fuzz.sh                 every target, 30 seconds each
#   scripts/fuzz.sh 600 config      only `config`, for 10 minutes
#
# Installs clang-14 and libclang-rt-14-dev (and the build's libraries) when
# missing, builds into build-fuzz/ (cmake -DKF_FUZZ=ON with clang-14: ASan,
# UBSan and libFuzzer), then runs each target over a temporary copy of its
# seed corpus (tests/fuzz/corpus/<target>/), so a run never writes into the
# repository. Two targets run at a time.
#
# Exit status: 0 when no target found anything; 1 when one crashed, leaked,
# timed out (10 s for one input) or ran out of memory: its report is printed
# with the reproducer's path (kept in a temporary directory), to replay as
#   build-fuzz/fuzz/<target> <reproducer>
# The last lines are one summary line per target: executions, coverage
# (edges), seconds.
#
# To refresh a seed corpus from a longer run's corpus (keep it small):
#   build-fuzz/fuzz/<target> -merge=1 tests/fuzz/corpus/<target> <run corpus>
#
# Env: KF_FUZZ_BUILD_DIR (default build-fuzz), KF_FUZZ_PARALLEL (targets at a
# time, default 2), KF_JOBS (build jobs, default nproc).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${KF_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
PARALLEL=${KF_FUZZ_PARALLEL:-2}
JOBS=${KF_JOBS:-$(nproc)}
SECONDS_EACH=30
if [[ ${1:-} =~ ^[0-9]+$ ]]; then
	SECONDS_EACH=$1
	shift
fi
log() { printf 'fuzz: %s\n' "$*" >&2; }

# ---- packages: only what is missing ("install ok installed" per dpkg-query)
PACKAGES=(clang-14 libclang-rt-14-dev cmake make pkg-config librdkafka-dev libhiredis-dev
	libcjson-dev libcurl4-openssl-dev libmicrohttpd-dev)
missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	log "installing ${missing[*]}"
	SUDO=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null || {
			log "not root and no sudo: install these yourself: ${missing[*]}"
			exit 1
		}
		SUDO=(sudo)
	fi
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
		"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends "${missing[@]}" || exit 1
fi

# ---- build
log "building into $BUILD_DIR (clang-14, -j$JOBS)"
mkdir -p "$BUILD_DIR"
cmake -S "$ROOT" -B "$BUILD_DIR" -DKF_FUZZ=ON -DCMAKE_C_COMPILER=clang-14 \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo -DKF_WERROR=ON >"$BUILD_DIR/fuzz-build.log" 2>&1 &&
	cmake --build "$BUILD_DIR" --target kf_fuzz -j"$JOBS" >>"$BUILD_DIR/fuzz-build.log" 2>&1 ||
	{
		tail -50 "$BUILD_DIR/fuzz-build.log" >&2
		exit 1
	}

targets=("$@")
if ((${#targets[@]} == 0)); then
	for src in "$ROOT"/tests/fuzz/*.c; do targets+=("$(basename "$src" .c)"); done
fi
for t in "${targets[@]}"; do
	[[ -x $BUILD_DIR/fuzz/$t ]] || { log "no such target: $t"; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/kf-fuzz.XXXXXX")
keep_tmp=0
cleanup() { ((keep_tmp)) || rm -rf "$TMP"; }
trap cleanup EXIT

# run_one TARGET: fuzzes a copy of the corpus; writes $TMP/TARGET.{log,status}.
run_one() {
	local t=$1 dir=$TMP/$1 start end rc
	mkdir -p "$dir/corpus" "$dir/artifacts"
	[[ -d $ROOT/tests/fuzz/corpus/$t ]] && cp -r "$ROOT/tests/fuzz/corpus/$t/." "$dir/corpus/"
	start=$(date +%s)
	# The first crash, leak, timeout or OOM ends the run, non-zero.
	(cd "$dir" && UBSAN_OPTIONS=print_stacktrace=1 "$BUILD_DIR/fuzz/$t" \
		-max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$dir/artifacts/" corpus >"$TMP/$t.log" 2>&1)
	rc=$?
	end=$(date +%s)
	echo "$rc $((end - start))" >"$TMP/$t.status"
}

log "running ${#targets[@]} target(s), ${SECONDS_EACH}s each, $PARALLEL at a time"
running=0
for t in "${targets[@]}"; do
	run_one "$t" &
	running=$((running + 1))
	if ((running >= PARALLEL)); then
		wait -n
		running=$((running - 1))
	fi
done
wait

failed=0
summary=()
for t in "${targets[@]}"; do
	read -r rc secs <"$TMP/$t.status"
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$TMP/$t.log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$TMP/$t.log" | tail -1 | cut -d' ' -f2)
	artifact=$(find "$TMP/$t/artifacts" -type f | head -1)
	if ((rc != 0)) || [[ -n $artifact ]]; then
		failed=1
		keep_tmp=1
		printf '\n=== fuzz: %s FAILED (exit %s) ===\n' "$t" "$rc"
		grep -v -E '^#[0-9]+|^(INFO|MERGE|\*\*\*)' "$TMP/$t.log" | tail -60
		printf 'reproducer: %s\n  replay: %s %s\n' "${artifact:-none (see $TMP/$t.log)}" \
			"$BUILD_DIR/fuzz/$t" "${artifact:-}"
		summary+=("$(printf '%-12s FAILED  execs %-10s cov %-6s %ss' "$t" "${execs:-?}" "${cov:-?}" "$secs")")
	else
		summary+=("$(printf '%-12s ok      execs %-10s cov %-6s %ss' "$t" "${execs:-?}" "${cov:-?}" "$secs")")
	fi
done
printf '\n'
printf 'fuzz: %s\n' "${summary[@]}"
exit "$failed"
