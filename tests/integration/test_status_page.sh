#!/usr/bin/env bash
# test_status_page.sh — /status, the status page on the metrics listener,
# rendered by a real headless browser (Debian's chromium, driven through
# chromedriver by tests/tools/status_page_check.py) against a live kfleet.
#
# An exactly-once mapping "orders" (Kafka sink through the transaction,
# Redis sink on the state Redis, an on-failure topic) on 4 partitions.
# 1,000 records of 100 keys, every 250th poison: the 4 poison records are
# dead-lettered, and the dead letters' headers say where each came from
# (kfleet.source.partition, kfleet.source.offset). Then a stream of records
# at 300/s while the page is loaded.
#   1. /status is HTML (one document, served as text/html) and /status.json
#      is JSON with the mapping, its 4 partitions and the 4 failures.
#   2. In Chromium, within 60 s, the page shows: the mapping's section; a lag
#      row per partition; records done/s above 0 (computed by the page from
#      two samples 2 s apart); each poison record's failure at its
#      topic[partition]@offset with its reason; the header "live". The
#      rendered DOM (saved) holds the mapping name and the failures' places.
#   3. The page's screenshot is a PNG (kept with the test's files; with
#      KF_STATUS_SCREENSHOT=FILE it is taken 20 s later, so that the
#      throughput line has some history, and copied to FILE: that is how
#      docs/status.png is made).
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

for tool in chromedriver chromium; do
	command -v "$tool" >/dev/null ||
		kf_fail "$tool not installed (scripts/setup.sh installs chromium and chromium-driver)"
done

N=1000
POISON=250
IT_IN=$(kf_unique status.in)
IT_OUT=$(kf_unique status.out)
IT_DLQ=$(kf_unique status.dlq)
IT_GROUP=$(kf_unique status.group)
IT_LIST="$IT_PREFIX:results"
IT_METRICS_PORT=$(kf_free_port)
export IT_IN IT_OUT IT_DLQ IT_GROUP IT_LIST IT_METRICS_PORT
BASE=http://127.0.0.1:$IT_METRICS_PORT

lag_lines() {
	curl -sS -m 5 "$BASE/metrics" >"$KF_TMP/poll.txt" &&
		(($(grep -c '^kfleet_partition_lag_records{mapping="orders"' "$KF_TMP/poll.txt") == $1))
}

it_create_topic "$IT_OUT" 4
it_create_topic "$IT_DLQ" 4
it_create_topic "$IT_IN" 4
it_produce -t "$IT_IN" -p 4 -n "$N" -k 100 --poison-every "$POISON"
it_render status_page.json "$KF_TMP/kfleet.json"
it_start_kfleet w1 "$KF_TMP/kfleet.json"
it_wait_until 30 "w1 to take the 4 partitions" kf_log_has w1 "assigned 4 partition"
it_verify_until 60 "dlq" --dlq "$IT_DLQ" --expect "$N" --only-mod "$POISON"
it_wait_until 30 "a lag line for each of the 4 partitions" lag_lines 4

# Where each poison record came from, as its dead letter says.
failures=()
while read -r part off; do
	failures+=(--failure "$IT_IN:$part:$off")
done < <(kf_consume "$IT_DLQ" -f '%h\n' |
	sed -nE 's/.*kfleet\.source\.partition=([0-9]+).*kfleet\.source\.offset=([0-9]+).*/\1 \2/p')
((${#failures[@]} == 2 * N / POISON)) ||
	it_fail "expected $((N / POISON)) dead letters with their source, found $((${#failures[@]} / 2))"
kf_log "dead letters at: $(printf '%s ' "${failures[@]}" | sed 's/--failure //g')"

# --- 1. the endpoints ----------------------------------------------------------------------------
type=$(curl -sS -m 5 -o "$KF_TMP/status.html" -w '%{content_type}' "$BASE/status")
[[ $type == text/html* ]] || it_fail "/status is served as '$type', not text/html"
cmp -s "$KF_TMP/status.html" "$KF_SOURCE_DIR/src/status_page.html" ||
	it_fail "/status is not src/status_page.html as it is"
curl -sS -m 5 "$BASE/status.json" >"$KF_TMP/status.json"
python3 - "$KF_TMP/status.json" "$((N / POISON))" <<'EOF' || it_fail "/status.json is not what the page needs"
import json, sys
doc = json.load(open(sys.argv[1]))
want = int(sys.argv[2])
m = doc["mappings"][0]
assert m["name"] == "orders" and m["exactly_once"] is True, m["name"]
assert len(m["partitions"]) == 4, m["partitions"]
assert m["failures"]["total"] == want, m["failures"]
assert all(f["kind"] == "dead_letter" and f["reason"] for f in m["failures"]["latest"])
assert m["metrics"]["records_failed_total"] == want
print(f"status.json: {len(m['partitions'])} partitions, {m['failures']['total']} failures, "
      f"{m['metrics']['records_done_total']:.0f} records done")
EOF

# --- 2. the page in Chromium, with records flowing ---------------------------------------------
kf_start producer "$IT_TOOLS/kf_produce" -q -t "$IT_IN" -p 4 -n 100000 -s "$N" -k 100 --rate 300
settle=0
[[ -n ${KF_STATUS_SCREENSHOT:-} ]] && settle=20 # a screenshot with a throughput line to see
python3 "$KF_SOURCE_DIR/tests/tools/status_page_check.py" --url "$BASE/status" --mapping orders \
	--partitions 4 "${failures[@]}" --timeout 60 --window 1280,900 --settle "$settle" \
	--dom "$KF_TMP/status.dom.html" --screenshot "$KF_TMP/status.png" >"$KF_TMP/browser.json" ||
	it_fail "the status page did not show what it should in Chromium (DOM: $KF_TMP/status.dom.html)"
python3 - "$KF_TMP/browser.json" <<'EOF' >&2
import json, sys
d = json.load(open(sys.argv[1]))
m = d["observed"]["mappings"][0]
print(f"[browser] after {d['seconds']} s: mapping {m['name']}, records done/s {m['done_rate']}, "
      f"lag rows {[r['partition'] + '=' + r['lag'] for r in m['lag_rows']]}, "
      f"failures {[f['where'] for f in m['failures']]}")
EOF
grep -q 'data-mapping="orders"' "$KF_TMP/status.dom.html" ||
	it_fail "the saved DOM has no section for the mapping"
for ((i = 1; i < ${#failures[@]}; i += 2)); do
	IFS=: read -r t p o <<<"${failures[i]}"
	grep -qF "data-where=\"$t[$p]@$o\"" "$KF_TMP/status.dom.html" ||
		it_fail "the saved DOM has no failure row at $t[$p]@$o"
done
[[ $(head -c 8 "$KF_TMP/status.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] ||
	it_fail "the screenshot is not a PNG"
kf_log "screenshot: $(stat -c %s "$KF_TMP/status.png") bytes"
if [[ -n ${KF_STATUS_SCREENSHOT:-} ]]; then
	cp "$KF_TMP/status.png" "$KF_STATUS_SCREENSHOT"
	kf_log "screenshot copied to $KF_STATUS_SCREENSHOT"
fi

kf_stop producer TERM 10
it_stop_kfleet w1 30
kf_pass "the status page renders the mapping, lag per partition, throughput and the poison records' failures"
