#!/usr/bin/env bash
# The /status page (src/status_page.html) is one self-contained document: no
# external reference of any kind (no URL with a scheme or a protocol-relative
# one, no <link>, no <script src>, no <img>/<iframe>/<object>, no CSS @import
# or url()), one inline <style> and one inline <script>, and the only thing
# it fetches is the relative "status.json" its own daemon serves. The build
# embeds the same bytes the file holds (generated/src/status_page.h). When
# node is installed, the script's syntax is checked too (the browser test,
# tests/integration/test_status_page.sh, runs it).
# Negative control: a copy with an external stylesheet must be refused.
set -euo pipefail
src=${KF_SOURCE_DIR:?set by ctest}
build=${KF_BUILD_DIR:?set by ctest}
page=$src/src/status_page.html

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# problems FILE — one line per external reference or structure problem.
problems() {
	python3 - "$1" <<'EOF'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
bad = []
def no(pattern, what, flags=re.I):
    for m in re.finditer(pattern, text, flags):
        line = text.count("\n", 0, m.start()) + 1
        bad.append(f"line {line}: {what}: {m.group(0)[:60]!r}")
no(r"[a-z][a-z0-9+.-]*://", "a URL with a scheme")
no(r"""(src|href|action|poster|data)\s*=\s*["']?\s*//""", "a protocol-relative URL")
no(r"<link\b", "a <link> element")
no(r"<script\b[^>]*\bsrc\s*=", "an external script")
no(r"<(img|iframe|object|embed|audio|video|source|frame)\b", "an element that loads a resource")
no(r"@import\b", "a CSS @import")
no(r"\burl\s*\(", "a CSS url()")
no(r"\b(XMLHttpRequest|WebSocket|EventSource|importScripts|navigator\.sendBeacon)\b",
   "a request other than fetch")
fetches = re.findall(r"\bfetch\s*\(\s*([^,)]*)", text)
if fetches != ['"status.json"']:
    bad.append(f"fetch calls: expected exactly fetch(\"status.json\"), found {fetches}")
for tag in ("style", "script"):
    n = len(re.findall(rf"<{tag}\b", text, re.I))
    if n != 1:
        bad.append(f"expected one inline <{tag}>, found {n}")
if not text.lstrip().lower().startswith("<!doctype html>"):
    bad.append("does not start with <!DOCTYPE html>")
print("\n".join(bad))
EOF
}

out=$(problems "$page")
if [[ -n $out ]]; then
	echo "$page is not self-contained:" >&2
	echo "$out" >&2
	exit 1
fi

# Negative control: the checks must see an external stylesheet and a CDN script.
sed 's|</head>|<link rel="stylesheet" href="https://cdn.example/x.css"><script src="//cdn.example/x.js"></script></head>|' \
	"$page" >"$tmp/bad.html"
out=$(problems "$tmp/bad.html")
if [[ $(grep -c . <<<"$out") -lt 3 ]]; then
	echo "negative control: a page with an external stylesheet and script passed: $out" >&2
	exit 1
fi

# The daemon serves the file's bytes: the generated header holds the same count.
header=$build/generated/src/status_page.h
[[ -f $header ]] || {
	echo "$header is missing (build first)" >&2
	exit 1
}
size=$(stat -c %s "$page")
grep -q "^#define STATUS_PAGE_LEN ${size}u$" "$header" || {
	echo "$header does not hold the $size bytes of $page (rebuild)" >&2
	exit 1
}

js="not checked (no node here; the browser test runs it)"
if command -v node >/dev/null 2>&1; then
	python3 - "$page" "$tmp/page.js" <<'EOF'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
open(sys.argv[2], "w").write(re.search(r"<script>(.*?)</script>", text, re.S).group(1))
EOF
	node --check "$tmp/page.js" || {
		echo "$page: the inline script does not parse" >&2
		exit 1
	}
	js="parses (node --check)"
fi
echo "status page: self-contained, $size bytes, embedded as built; script $js"
