#!/usr/bin/env bash
# The README's Metrics table (between the metrics-reference:begin and :end
# markers) must be exactly what `kfleet metrics reference` prints: a family
# added, renamed or dropped without the README saying so fails here with the
# diff. To regenerate the section, replace what is between the markers with
# the command's output.
set -euo pipefail
src=${KF_SOURCE_DIR:?set by ctest}
kfleet=${KF_BUILD_DIR:?set by ctest}/kfleet
readme=$src/README.md

begins=$(grep -c '^<!-- metrics-reference:begin -->$' "$readme" || true)
ends=$(grep -c '^<!-- metrics-reference:end -->$' "$readme" || true)
if [ "$begins" != 1 ] || [ "$ends" != 1 ]; then
    echo "$readme: expected one metrics-reference:begin and one :end marker line," \
        "found $begins and $ends" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$kfleet" metrics reference >"$tmp/generated.md"
sed -n '/^<!-- metrics-reference:begin -->$/,/^<!-- metrics-reference:end -->$/p' "$readme" |
    sed '1d;$d' >"$tmp/readme.md"

if ! diff -u --label "README.md (metrics reference section)" \
    --label "kfleet metrics reference" "$tmp/readme.md" "$tmp/generated.md"; then
    echo "README.md's metrics reference differs from \`kfleet metrics reference\`" >&2
    exit 1
fi
echo "README.md's metrics reference matches \`kfleet metrics reference\`"
