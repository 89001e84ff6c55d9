#!/usr/bin/env bash
# scripts/setup.sh — install the Debian packages kfleet needs that are missing,
# then configure and build into build/.
#
#   scripts/setup.sh              install what is missing, build
#   scripts/setup.sh --no-build   install only
#
# Only missing packages are installed (dpkg -s decides), so a second run costs
# nothing and never runs apt-get at all. Java comes from default-jdk-headless
# only when no `java` is on PATH (any JDK 11+ runs the test broker).
# Uses sudo only when not root. The tree is a development one: warnings are
# errors and the tests, test tools and fixtures are built (BUILD_TESTING).
# Env: KF_BUILD_DIR (default build), KF_BUILD_TYPE (default RelWithDebInfo),
# KF_JOBS (default nproc), KF_WERROR (default ON; OFF for a compiler newer
# than CI's that warns about something CI's does not).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${KF_BUILD_DIR:-$ROOT/build}
BUILD_TYPE=${KF_BUILD_TYPE:-RelWithDebInfo}
WERROR=${KF_WERROR:-ON}
JOBS=${KF_JOBS:-$(nproc)}

# Build: compiler, cmake, the C libraries. Tests: check, redis-server, kcat,
# python3, maven + a JDK (the real Kafka broker), docker-compose (validating
# docker-compose.yml), clang-format (the repo's style); the fault scenarios
# (tests/faults): faketime (clock jumps), iproute2 and iptables (a worker in
# its own network namespace), gdb (a stalled run's thread stacks); lua5.1
# (luac5.1 parses the eos Lua scripts: tests/unit/lua_syntax.sh);
# prometheus (promtool checks and unit-tests deploy/'s alert rules, and the
# server evaluates them against a live kfleet: test_prometheus_rules,
# test_dashboards; where systemd runs, Debian's package also enables a
# prometheus service on :9090, which no test uses: they start their own on a
# free port); chromium and chromium-driver (the /status page in a headless
# browser: test_status_page).
PACKAGES=(build-essential cmake pkg-config librdkafka-dev libhiredis-dev
	libcjson-dev check libcurl4-openssl-dev libmicrohttpd-dev redis-server
	redis-tools kcat python3 clang-format docker-compose maven curl
	faketime iproute2 iptables gdb lua5.1 prometheus chromium chromium-driver)
command -v java >/dev/null 2>&1 || PACKAGES+=(default-jdk-headless)

log() { printf 'setup: %s\n' "$*" >&2; }

missing=()
for p in "${PACKAGES[@]}"; do
	# "install ok installed" only: a removed package leaves config-files.
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing+=("$p")
	fi
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
	export DEBIAN_FRONTEND=noninteractive
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}"
else
	log "all ${#PACKAGES[@]} packages present"
fi

[[ ${1:-} == --no-build ]] && exit 0

log "building into $BUILD_DIR ($BUILD_TYPE, KF_WERROR=$WERROR, -j$JOBS)"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DKF_WERROR="$WERROR" \
	-DBUILD_TESTING=ON >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS"
