#!/usr/bin/env bash
# scripts/check_layers.sh — fails when an #include runs against the layering
# the README's "Layout" section gives:
#
#   common <- config <- eos <- sinks <- handlers <- dispatcher <- consumer <- src
#
# A file in one of these folders includes only its own folder and folders to
# its left. handlers/ here is the loader (host side), which sits beside the
# dispatcher: the dispatcher calls it, it knows nothing of the dispatcher.
# Everyone may include the ABI header (include/kfleet/handler.h, as
# "kfleet/handler.h") and system headers (<...>). Example handlers
# (handlers/examples/) are user code: they include the ABI header and nothing
# else of kfleet. tests/ and bench/ sit outside and may include anything.
#
# Every quoted include names its folder ("eos/state.h", never "state.h"), so
# that this check sees where it points.
#
#   scripts/check_layers.sh [ROOT]     ROOT defaults to the repository
#
# Exit status: 0 when every include is allowed; 1 with one line per offence
# (file:line: the include, and what the file may include).
set -euo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
LAYERS=(common config eos sinks handlers dispatcher consumer src)

rank() { # $1 = folder; prints its rank, or nothing for a folder outside the layers
	local i
	for i in "${!LAYERS[@]}"; do
		[[ ${LAYERS[$i]} == "$1" ]] && {
			echo "$i"
			return
		}
	done
	return 0
}

bad=0
checked=0
while IFS= read -r -d '' file; do
	rel=${file#"$ROOT"/}
	folder=${rel%%/*}
	examples=0
	[[ $rel == handlers/examples/* ]] && examples=1
	own=$(rank "$folder")
	[[ -n $own ]] || continue
	checked=$((checked + 1))
	allowed="${LAYERS[*]:0:own+1}"
	((examples)) && allowed="nothing of kfleet's"
	while IFS= read -r hit; do
		line=${hit%%:*}
		inc=$(sed -E 's/^[0-9]+:[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/' <<<"$hit")
		[[ $inc == kfleet/handler.h ]] && continue
		target=${inc%%/*}
		if [[ $inc != */* ]]; then
			echo "$rel:$line: #include \"$inc\" names no folder (write \"<folder>/$inc\")"
			bad=$((bad + 1))
			continue
		fi
		trank=$(rank "$target")
		if ((examples)) || [[ -z $trank ]] || ((trank > own)); then
			echo "$rel:$line: #include \"$inc\" runs against the layering: $folder/ may include $allowed"
			bad=$((bad + 1))
		fi
	done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" || true)
done < <(find "$ROOT" \( -path "$ROOT/.git" -o -path "$ROOT/build*" \) -prune -o \
	-type f \( -name '*.c' -o -name '*.h' \) -print0)

if ((checked == 0)); then
	echo "check_layers: no source files under $ROOT" >&2
	exit 1
fi
if ((bad)); then
	echo "check_layers: $bad include(s) against the layering (${LAYERS[*]}; see README \"Layout\")" >&2
	exit 1
fi
echo "check_layers: $checked files, every include follows ${LAYERS[*]}"
