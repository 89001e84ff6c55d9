#!/usr/bin/env bash
# The README's configuration reference (between the config-reference:begin
# and :end markers) must be exactly what `kfleet config reference` prints:
# fails with the diff otherwise. To regenerate the section, replace what is
# between the markers with the command's output.
set -euo pipefail
src=${KF_SOURCE_DIR:?set by ctest}
kfleet=${KF_BUILD_DIR:?set by ctest}/kfleet
readme=$src/README.md

begins=$(grep -c '^<!-- config-reference:begin -->$' "$readme" || true)
ends=$(grep -c '^<!-- config-reference:end -->$' "$readme" || true)
if [ "$begins" != 1 ] || [ "$ends" != 1 ]; then
    echo "$readme: expected one config-reference:begin and one :end marker line," \
        "found $begins and $ends" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$kfleet" config reference >"$tmp/generated.md"
sed -n '/^<!-- config-reference:begin -->$/,/^<!-- config-reference:end -->$/p' "$readme" |
    sed '1d;$d' >"$tmp/readme.md"

if ! diff -u --label "README.md (config reference section)" \
    --label "kfleet config reference" "$tmp/readme.md" "$tmp/generated.md"; then
    echo "README.md's configuration reference differs from \`kfleet config reference\`" >&2
    exit 1
fi
echo "README.md's configuration reference matches \`kfleet config reference\`"
