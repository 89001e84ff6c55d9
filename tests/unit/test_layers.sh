#!/usr/bin/env bash
# tests/unit/test_layers.sh — the layering check (scripts/check_layers.sh)
# passes on the tree and refuses each kind of include it exists to refuse,
# on a scratch tree built here.
set -euo pipefail
ROOT=${KF_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CHECK=$ROOT/scripts/check_layers.sh

bash "$CHECK" "$ROOT"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{common,eos,sinks,dispatcher,src,handlers/examples}
printf '#include "common/log.h"\n#include "dispatcher/lanes.h"\n' >"$tmp/common/up.c"
printf '#include "kfleet/handler.h"\n#include "common/log.h"\n' >"$tmp/handlers/examples/ex.c"
printf '#include "state.h"\n' >"$tmp/sinks/bare.c"
printf '#include "sinks/sink.h"\n' >"$tmp/eos/loop.h"
printf '#include "src/cli.h"\n' >"$tmp/dispatcher/cli.c"
printf '#include "consumer/consumer.h"\n#include "eos/state.h"\n#include <stdio.h>\n' >"$tmp/src/ok.c"

set +e
out=$(bash "$CHECK" "$tmp" 2>&1)
rc=$?
set -e
echo "$out"
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
((rc == 1)) || fail "check_layers exited $rc on a tree with bad includes, want 1"
for want in 'common/up.c:2: #include "dispatcher/lanes.h"' \
	'handlers/examples/ex.c:2: #include "common/log.h"' \
	'sinks/bare.c:1: #include "state.h" names no folder' \
	'eos/loop.h:1: #include "sinks/sink.h"' \
	'dispatcher/cli.c:1: #include "src/cli.h"'; do
	grep -qF "$want" <<<"$out" || fail "no offence reported for: $want"
done
! grep -q 'src/ok.c\|common/up.c:1:\|ex.c:1:' <<<"$out" || fail "an allowed include was reported"
echo "check_layers self-test: ok"
