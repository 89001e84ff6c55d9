#!/usr/bin/env bash
# tests/unit/lua_syntax.sh — every eos Lua script parses with Lua 5.1, the
# Lua inside Redis: each eos/lua/*.lua as written (common.lua included), and
# each script as eos/state.c loads it, which the build writes to
# <build>/generated/eos/lua/ (cmake/embed_lua.cmake: the prelude joined onto
# line 1).
#
#   bash tests/unit/lua_syntax.sh <eos/lua dir> <build>/generated/eos/lua
#
# `luac5.1 -p` parses without running anything: a syntax error fails the
# test, a name that is not defined does not (Redis reports that when the
# script runs; tests/unit/test_eos_*.c run them). Every script must
# have its loaded copy, so an embedding that did not run fails too.
# Without luac5.1 the test is skipped (exit 77, ctest's SKIP_RETURN_CODE),
# except under CI=true, where it fails: scripts/setup.sh installs lua5.1.
set -uo pipefail

src=${1:?usage: lua_syntax.sh <eos/lua dir> <generated lua dir>}
gen=${2:?usage: lua_syntax.sh <eos/lua dir> <generated lua dir>}
luac=${LUAC:-luac5.1}

if ! command -v "$luac" >/dev/null 2>&1; then
	if [[ ${CI:-} == true ]]; then
		echo "lua_syntax: FAIL: $luac not found (scripts/setup.sh installs lua5.1)" >&2
		exit 1
	fi
	echo "lua_syntax: SKIP: $luac not found (apt-get install lua5.1)" >&2
	exit 77
fi

shopt -s nullglob
sources=("$src"/*.lua)
if ((${#sources[@]} == 0)); then
	echo "lua_syntax: FAIL: no .lua file in $src" >&2
	exit 1
fi

checked=0
failed=0
missing=0
check() {
	checked=$((checked + 1))
	if ! "$luac" -p -o /dev/null "$1"; then
		echo "lua_syntax: FAIL: $1 does not parse" >&2
		failed=$((failed + 1))
	fi
}

for f in "${sources[@]}"; do
	check "$f"
	name=$(basename "$f")
	[[ $name == common.lua ]] && continue
	if [[ -f $gen/$name ]]; then
		check "$gen/$name"
	else
		echo "lua_syntax: FAIL: $gen/$name is missing (build first: the build embeds the scripts)" >&2
		missing=$((missing + 1))
	fi
done

echo "lua_syntax: $((checked - failed)) of $checked file(s) parse; $missing loaded copy(ies) missing"
((failed == 0 && missing == 0))
