#!/usr/bin/env bash
# scripts/test.sh — every test kfleet has, the way CI runs them (.ci/run).
#
#   scripts/test.sh                  all phases, in this order:
#     build        scripts/setup.sh: install missing packages, build build/;
#                  then build-release/ (Release, the whole tree: a warning
#                  that only -O3 finds fails here) and scripts/check_install.sh
#                  (a packager's BUILD_TESTING=OFF build installs the right
#                  files, and a handler builds against them)
#     unit         ctest -L unit in build/
#     asan         build build-asan/ with -DKF_SANITIZE=ON, ctest -L unit there
#     integration  scripts/infra.sh up, ctest -L integration in build/
#     chaos        same infrastructure, ctest -L chaos in build/: workers and
#                  Redis SIGKILLed at random (tests/chaos; they set Redis
#                  appendfsync always while they run, and restore it)
#     chaos-3.9    the chaos tests again on a Kafka 3.9.x broker of its own
#                  (KAFKA_VERSION=3.9.1, .infra-3.9/), stopped afterwards:
#                  the default broker is 4.x, and 3.9.x stays supported
#     faults-ci    the bounded subset of the fault matrix (ctest -L faults-ci:
#                  zombies alone and among three, a broker bounce, a Redis
#                  black hole, a commit timeout, a crash inside a
#                  transaction), at CI size (FL_SCALE=ci)
#     fuzz         scripts/fuzz.sh 30: every libFuzzer target for 30 s
#     bench        bench/run.sh --smoke, if bench/run.sh exists
#   scripts/test.sh faults           the whole fault matrix (tests/faults,
#                                    every scenario in every mode it declares;
#                                    not part of the default run)
#   scripts/test.sh unit asan        only the phases named (build always runs
#                                    first unless KF_NO_SETUP=1)
#   scripts/test.sh integration -R compose
#                                    arguments after the phases go to ctest
#
# Infrastructure: if scripts/infra.sh is already up, its broker and Redis are
# used and left running; otherwise they are started here and stopped at exit,
# also when a test fails or the script is interrupted.
#
# Exit status: 0 only if every phase passed. The last line is
# "summary: N passed, N failed" where N counts ctest tests plus one check for
# each step that is not a ctest run (builds, infra start, bench smoke).
# Env: KF_TEST_TIMEOUT (seconds per integration or chaos test, default 900),
# KF_JOBS (parallel build jobs, default nproc), KF_NO_SETUP=1.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
JOBS=${KF_JOBS:-$(nproc)}
ALL_PHASES=(build unit asan integration chaos chaos-3.9 faults-ci fuzz bench)

phases=()
ctest_args=()
for a in "$@"; do
	case $a in
	build | unit | asan | integration | chaos | chaos-3.9 | faults-ci | faults | fuzz | bench) phases+=("$a") ;;
	-h | --help)
		sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
		exit 0
		;;
	*) ctest_args+=("$a") ;;
	esac
done
((${#phases[@]})) || phases=("${ALL_PHASES[@]}")
[[ ${KF_NO_SETUP:-0} == 1 ]] || [[ " ${phases[*]} " == *" build "* ]] ||
	phases=(build "${phases[@]}")

passed=0
failed=0
skipped=0
report=()
infra_started=0
ctest_env=() # VAR=value words run_ctest puts in ctest's environment

say() { printf '\n=== test.sh: %s ===\n' "$*"; }
# record PHASE STATUS DETAIL — one line of the final report.
record() { report+=("$(printf '%-12s %-7s %s' "$1" "$2" "$3")"); }
step_ok() {
	passed=$((passed + 1))
	record "$1" ok "$2"
}
step_fail() {
	failed=$((failed + 1))
	record "$1" FAILED "$2"
}

cleanup() {
	if ((infra_started)); then
		say "stopping the infrastructure this run started"
		scripts/infra.sh down || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_ctest PHASE BUILD_DIR LABEL [CTEST ARGS...] — runs ctest, adds its test
# counts to the totals. A ctest that fails without a count line (crash, bad
# build dir) counts as one failure; one that finds no test counts nothing.
run_ctest() {
	local phase=$1 dir=$2 label=$3 out rc=0 line total nfail t0=$SECONDS
	shift 3
	out=$(mktemp)
	env "${ctest_env[@]}" ctest --test-dir "$dir" -L "$label" --output-on-failure "$@" 2>&1 |
		tee "$out" || rc=$?
	line=$(grep -Eo '[0-9]+ tests? failed out of [0-9]+' "$out" | tail -n 1)
	if [[ -n $line ]]; then
		nfail=$(awk '{print $1}' <<<"$line")
		total=$(awk '{print $NF}' <<<"$line")
		passed=$((passed + total - nfail))
		failed=$((failed + nfail))
		if ((nfail || rc)); then
			record "$phase" FAILED "$nfail of $total tests failed ($((SECONDS - t0))s)"
			((nfail)) || failed=$((failed + 1))
		else
			record "$phase" ok "$total tests ($((SECONDS - t0))s)"
		fi
	elif grep -q 'No tests were found' "$out" && ((rc == 0)); then
		record "$phase" ok "no tests labelled $label"
	else
		step_fail "$phase" "ctest exited $rc without results"
	fi
	rm -f "$out"
}

# Sanitizer settings for the ASan build's tests: fail on the first report.
# A tests/lsan.supp, if someone adds one, silences known library leaks.
asan_env=(
	ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}"
	UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
	CK_TIMEOUT_MULTIPLIER="${CK_TIMEOUT_MULTIPLIER:-4}"
)
[[ -f $ROOT/tests/lsan.supp ]] &&
	asan_env+=(LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp}")

# Every tree the scripts build has KF_WERROR=ON: warnings fail CI, never a
# user's build. Only a failure of build/ stops the run (the other phases test
# it); a failed Release build or install check is reported with the rest.
phase_build() {
	local t0=$SECONDS tree=
	say "build: scripts/setup.sh"
	if KF_BUILD_DIR="$ROOT/build" bash scripts/setup.sh; then
		step_ok build "build/ ($((SECONDS - t0))s)"
	else
		step_fail build "scripts/setup.sh failed"
		return 1
	fi
	t0=$SECONDS
	say "Release build (build-release/, -Werror)"
	if cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DKF_WERROR=ON \
		-DBUILD_TESTING=ON >/dev/null && cmake --build build-release -j"$JOBS"; then
		step_ok release "build-release/ ($((SECONDS - t0))s)"
		tree=build-release
	else
		step_fail release "cmake build of build-release/ failed"
	fi
	t0=$SECONDS
	say "packager's build and install (scripts/check_install.sh)"
	if bash scripts/check_install.sh ${tree:+"$tree"}; then
		step_ok install "BUILD_TESTING=OFF build, cmake --install, handler via kfleet.pc ($((SECONDS - t0))s)"
	else
		step_fail install "scripts/check_install.sh failed"
	fi
}

phase_unit() {
	say "unit tests (build/)"
	ctest_env=(CK_DEFAULT_TIMEOUT="${CK_DEFAULT_TIMEOUT:-30}")
	run_ctest unit build unit -j"$JOBS" --timeout 300 "${ctest_args[@]}"
	ctest_env=()
}

phase_asan() {
	local t0=$SECONDS
	say "ASan+UBSan build (build-asan/) and its unit tests"
	if cmake -S . -B build-asan -DKF_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DKF_WERROR=ON \
		-DBUILD_TESTING=ON >/dev/null &&
		cmake --build build-asan -j"$JOBS"; then
		step_ok asan-build "build-asan/ ($((SECONDS - t0))s)"
	else
		step_fail asan-build "cmake build of build-asan/ failed"
		return 1
	fi
	ctest_env=("${asan_env[@]}" CK_DEFAULT_TIMEOUT="${CK_DEFAULT_TIMEOUT:-30}")
	run_ctest asan build-asan unit -j"$JOBS" --timeout 600 "${ctest_args[@]}"
	ctest_env=()
}

# Starts the infrastructure unless it is already up (then it is left running).
infra_up() {
	local t0=$SECONDS
	((infra_started)) && return 0
	if scripts/infra.sh status >/dev/null 2>&1; then
		echo "test.sh: using the infrastructure that is already up"
	else
		say "starting Kafka and Redis (scripts/infra.sh up)"
		if ! scripts/infra.sh up; then
			infra_started=1 # stop whatever half started
			step_fail infra "scripts/infra.sh up failed"
			return 1
		fi
		infra_started=1
		step_ok infra "Kafka + Redis up ($((SECONDS - t0))s)"
	fi
	set -a
	eval "$(scripts/infra.sh env)"
	set +a
	echo "test.sh: KFLEET_BROKERS=$KFLEET_BROKERS KFLEET_REDIS=$KFLEET_REDIS"
}

phase_integration() {
	say "integration tests (real Kafka + Redis)"
	infra_up || return 1
	run_ctest integration build integration --timeout "${KF_TEST_TIMEOUT:-900}" \
		"${ctest_args[@]}"
}

phase_chaos() {
	say "chaos tests (workers and Redis killed at random; real Kafka + Redis)"
	infra_up || return 1
	run_ctest chaos build chaos --timeout "${KF_TEST_TIMEOUT:-900}" "${ctest_args[@]}"
}

# The chaos tests on the 3.9.x line, with infrastructure of their own.
phase_chaos-3.9() {
	local t0=$SECONDS dir=${KF_INFRA_DIR:-$ROOT/.infra}-3.9 rc=0
	say "chaos tests on Kafka 3.9.1 (scripts/infra.sh with KAFKA_VERSION=3.9.1)"
	if ! KF_INFRA_DIR=$dir KAFKA_VERSION=3.9.1 scripts/infra.sh up; then
		KF_INFRA_DIR=$dir KAFKA_VERSION=3.9.1 scripts/infra.sh down || true
		step_fail chaos-3.9 "scripts/infra.sh up with Kafka 3.9.1 failed"
		return 1
	fi
	local saved=("${ctest_env[@]}") envs=() v
	mapfile -t envs < <(KF_INFRA_DIR=$dir KAFKA_VERSION=3.9.1 scripts/infra.sh env)
	# Every KFLEET_* of the default infrastructure goes (env -u), then this
	# one's come in: a test reads several (the Redis host and port too).
	ctest_env=()
	for v in $(compgen -e | grep '^KFLEET_'); do ctest_env+=(-u "$v"); done
	ctest_env+=(KF_INFRA_DIR="$dir" KAFKA_VERSION=3.9.1 "${envs[@]}")
	run_ctest chaos-3.9 build chaos --timeout "${KF_TEST_TIMEOUT:-900}" "${ctest_args[@]}" || rc=$?
	ctest_env=("${saved[@]}")
	KF_INFRA_DIR=$dir KAFKA_VERSION=3.9.1 scripts/infra.sh down || true
	echo "test.sh: chaos on Kafka 3.9.1 took $((SECONDS - t0))s"
	return $rc
}

phase_faults-ci() {
	say "fault scenarios, CI subset (tests/faults; real Kafka + Redis)"
	infra_up || return 1
	ctest_env=(FL_SCALE=ci)
	run_ctest faults-ci build faults-ci --timeout "${KF_TEST_TIMEOUT:-900}" "${ctest_args[@]}"
	ctest_env=()
}

phase_faults() {
	say "fault matrix (tests/faults, every scenario and mode; real Kafka + Redis)"
	infra_up || return 1
	run_ctest faults build faults --timeout "${KF_TEST_TIMEOUT:-900}" "${ctest_args[@]}"
}

phase_fuzz() {
	local t0=$SECONDS
	say "fuzz smoke (scripts/fuzz.sh 30)"
	if bash scripts/fuzz.sh 30; then
		step_ok fuzz "every target 30 s ($((SECONDS - t0))s)"
	else
		step_fail fuzz "scripts/fuzz.sh 30 found something (report above)"
	fi
}

phase_bench() {
	local t0=$SECONDS
	if [[ ! -f bench/run.sh ]]; then
		skipped=$((skipped + 1))
		record bench skipped "no bench/run.sh"
		return 0
	fi
	say "bench smoke (bench/run.sh --smoke)"
	infra_up || return 1
	if bash bench/run.sh --smoke; then
		step_ok bench "bench/run.sh --smoke ($((SECONDS - t0))s)"
	else
		step_fail bench "bench/run.sh --smoke failed"
	fi
}

T0=$SECONDS
for ph in "${phases[@]}"; do
	if ! "phase_$ph" && [[ $ph == build ]]; then
		echo "test.sh: the build failed; skipping the other phases" >&2
		break
	fi
done

# Stop the infrastructure before the report so the summary is the last line.
cleanup
infra_started=0

say "results ($((SECONDS - T0))s)"
printf '%s\n' "${report[@]}"
if ((skipped)); then
	echo "summary: $passed passed, $failed failed, $skipped skipped"
else
	echo "summary: $passed passed, $failed failed"
fi
((failed == 0))
