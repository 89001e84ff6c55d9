#!/usr/bin/env bash
# tests/unit/test_eos_code_map.sh — every `file:function` that eos/README.md's code
# map names exists: the file is there and defines (or, for a .lua file,
# declares) that function. A rename or a move that forgets the map fails here.
set -euo pipefail
ROOT=${KF_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
MAP=$ROOT/eos/README.md

refs=$(grep -oE '`[a-z_]+/[a-z_/]+\.(c|h|lua):[A-Za-z_][A-Za-z0-9_]*`' "$MAP" | tr -d '`' | sort -u)
[[ -n $refs ]] || {
	echo "FAIL: no file:function references found in $MAP" >&2
	exit 1
}
bad=0
n=0
for ref in $refs; do
	file=${ref%%:*}
	fn=${ref##*:}
	n=$((n + 1))
	if [[ ! -f $ROOT/$file ]]; then
		echo "eos/README.md names $ref: no file $file"
		bad=$((bad + 1))
		continue
	fi
	case $file in
	*.lua) pat="^[[:space:]]*(local[[:space:]]+)?function[[:space:]]+$fn[[:space:]]*\\(" ;;
	*) pat="^[A-Za-z_].*[^A-Za-z0-9_]$fn\\(|^$fn\\(" ;;
	esac
	if ! grep -qE "$pat" "$ROOT/$file"; then
		echo "eos/README.md names $ref: $file defines no $fn"
		bad=$((bad + 1))
	fi
done
if ((bad)); then
	echo "FAIL: $bad of $n code map references are stale" >&2
	exit 1
fi
echo "eos code map: $n references, all defined"
