#!/usr/bin/env bash
# scripts/check_install.sh — the packager's build works: a Release build with
# BUILD_TESTING=OFF (what the Dockerfile and a distribution package build)
# configures, builds with -Werror, and `cmake --install` puts exactly the
# installed set under the prefix; a handler author can then build a handler
# against the installed header alone, through kfleet.pc, and the installed
# daemon runs it.
#
#   scripts/check_install.sh [TREE]
#
# Everything is built and installed under a temporary directory, removed at
# exit. The checks, in order:
#   1. configure + build: -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
#      -DKF_WERROR=ON
#   2. `cmake --install --prefix P`: the installed files are exactly
#      bin/kfleet, include/kfleet/handler.h, lib/kfleet/handlers/<example>.so
#      for each handlers/examples/*.c, lib/pkgconfig/kfleet.pc and
#      share/kfleet/examples/<name>.json for each config/examples/*.json
#   3. kfleet.pc: `pkg-config --modversion` is the version `kfleet version`
#      prints (the project version)
#   4. handlers/examples/uppercase.c, copied out of the tree, compiles with
#      `cc $(pkg-config --cflags kfleet) -shared -fPIC` (and -Werror), and the
#      header it used is P/include/kfleet/handler.h
#   5. `P/bin/kfleet version`, then `P/bin/kfleet invoke` runs that handler on
#      one record and prints the uppercased value; `P/bin/kfleet check` loads
#      the installed minimal example config (its handler path points at the
#      installed echo.so)
#   6. the image's layout: `DESTDIR=S cmake --install --prefix /usr` holds
#      every handler path that config/examples/compose.json names (the
#      Dockerfile installs that way and copies S into the image)
#   7. TREE, if given (scripts/test.sh passes its Release tree, built with
#      BUILD_TESTING=ON), installs the same files: nothing of the tests,
#      fixtures or tools is installed. No compile: TREE is already built.
#
# Exit status: 0 when every check passed; 1 at the first that failed, with
# what was expected and what was found. Env: KF_JOBS (build jobs, default
# nproc).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=${KF_JOBS:-$(nproc)}
TREE=${1:-}
[[ -z $TREE || -f $TREE/CMakeCache.txt ]] || {
	echo "check_install: $TREE is not a configured build tree" >&2
	exit 1
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/kf-install.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
B=$TMP/build
P=$TMP/prefix
T0=$SECONDS

log() { printf 'check_install: %s\n' "$*" >&2; }
fail() {
	log "FAIL: $*"
	exit 1
}

# The installed set, from the sources, one relative path a line, sorted.
expected() {
	local f
	{
		echo bin/kfleet
		echo include/kfleet/handler.h
		echo lib/pkgconfig/kfleet.pc
		for f in "$ROOT"/handlers/examples/*.c; do echo "lib/kfleet/handlers/$(basename "$f" .c).so"; done
		for f in "$ROOT"/config/examples/*.json; do echo "share/kfleet/examples/$(basename "$f")"; done
	} | LC_ALL=C sort
}
# installed PREFIX — what is under PREFIX, same form.
installed() { (cd "$1" && find . -type f -o -type l) | sed 's|^\./||' | LC_ALL=C sort; }
# same_set WHAT PREFIX — the files under PREFIX are the expected ones.
same_set() {
	if ! diff -u <(expected) <(installed "$2") >"$TMP/set.diff"; then
		sed -n '3,$p' "$TMP/set.diff" | grep '^[-+]' >&2 || true
		fail "$1: the installed files differ from the expected set (- missing, + unexpected)"
	fi
}

log "1. Release build, BUILD_TESTING=OFF, KF_WERROR=ON (-j$JOBS)"
cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DKF_WERROR=ON \
	>"$TMP/configure.log" 2>&1 || {
	cat "$TMP/configure.log" >&2
	fail "configure with BUILD_TESTING=OFF"
}
cmake --build "$B" -j"$JOBS" >"$TMP/build.log" 2>&1 || {
	tail -40 "$TMP/build.log" >&2
	fail "build with BUILD_TESTING=OFF"
}

log "2. cmake --install --prefix P"
cmake --install "$B" --prefix "$P" >"$TMP/install.log" 2>&1 || {
	cat "$TMP/install.log" >&2
	fail "cmake --install"
}
same_set "cmake --install --prefix P" "$P"
installed "$P" | sed 's/^/  P\//' >&2

log "3. kfleet.pc"
export PKG_CONFIG_PATH=$P/lib/pkgconfig
pc_version=$(pkg-config --modversion kfleet) || fail "pkg-config does not find kfleet in $P/lib/pkgconfig"
bin_version=$("$P/bin/kfleet" version) || fail "$P/bin/kfleet version exited $?"
[[ $bin_version == "kfleet $pc_version "* ]] ||
	fail "kfleet.pc says Version $pc_version, \`kfleet version\` says: $bin_version"
cflags=$(pkg-config --cflags kfleet)
cflags=${cflags%% }
[[ $cflags == *"-I$P/include"* ]] || fail "pkg-config --cflags kfleet gives '$cflags', not -I$P/include"

log "4. a handler built against the installed header: cc $cflags -shared -fPIC"
mkdir -p "$TMP/handler"
cp "$ROOT/handlers/examples/uppercase.c" "$TMP/handler/"
# shellcheck disable=SC2086 # pkg-config output is a list of words
(cd "$TMP/handler" && cc $cflags -Wall -Wextra -Werror -O2 -shared -fPIC -MD -MF deps.d \
	-o uppercase.so uppercase.c $(pkg-config --libs libcjson)) ||
	fail "uppercase.c does not compile against the installed header"
grep -q "$P/include/kfleet/handler.h" "$TMP/handler/deps.d" ||
	fail "uppercase.c did not use $P/include/kfleet/handler.h: $(cat "$TMP/handler/deps.d")"

log "5. the installed kfleet: version, invoke, check"
echo "  $bin_version" >&2
cat >"$TMP/invoke.json" <<JSON
{
  "kafka": { "brokers": "unused:9092" },
  "mappings": [{
    "name": "installed",
    "topics": ["in"],
    "handler": { "path": "$TMP/handler/uppercase.so", "config": { "field": "name" } },
    "sinks": [{ "name": "out", "type": "stdout" }]
  }]
}
JSON
printf '{"key":"k1","value":{"name":"ada","id":7}}\n' >"$TMP/in.jsonl"
out=$("$P/bin/kfleet" invoke -c "$TMP/invoke.json" --input "$TMP/in.jsonl" 2>"$TMP/invoke.err") || {
	cat "$TMP/invoke.err" >&2
	fail "kfleet invoke with the handler built from the installed header exited non-zero"
}
echo "  $out" >&2
[[ $out == *'"key":"k1"'*'ADA'* ]] || fail "kfleet invoke printed '$out', not k1's uppercased value"
KFLEET_BROKERS=unused "$P/bin/kfleet" check -c "$P/share/kfleet/examples/minimal.json" >&2 ||
	fail "kfleet check of the installed minimal.json (its handler path should be the installed echo.so)"

log "6. the image's layout: DESTDIR=S cmake --install --prefix /usr"
DESTDIR=$TMP/stage cmake --install "$B" --prefix /usr >"$TMP/install.log" 2>&1 || {
	cat "$TMP/install.log" >&2
	fail "DESTDIR install"
}
while read -r path; do
	[[ -f $TMP/stage$path ]] || fail "config/examples/compose.json names $path; the image's tree has no such file"
	echo "  $path" >&2
done < <(grep -o '"path": *"[^"]*\.so"' "$ROOT/config/examples/compose.json" | sed 's/.*"\(.*\)"/\1/')

if [[ -n $TREE ]]; then
	log "7. $TREE (BUILD_TESTING=ON) installs the same files"
	cmake --install "$TREE" --prefix "$TMP/prefix-tree" >"$TMP/install.log" 2>&1 || {
		cat "$TMP/install.log" >&2
		fail "cmake --install $TREE"
	}
	same_set "cmake --install $TREE" "$TMP/prefix-tree"
fi

log "ok ($((SECONDS - T0))s)"
