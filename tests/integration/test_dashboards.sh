#!/usr/bin/env bash
# test_dashboards.sh — every metric the alert rules (deploy/prometheus/
# kfleet-alerts.yml) and the Grafana dashboard (deploy/grafana/dashboards/
# kfleet.json) use is on a live kfleet's /metrics, and a real Prometheus
# scraping that kfleet evaluates every rule and answers every dashboard query.
#
# An exactly-once mapping (Kafka sink through the transaction, Redis sink on
# the state Redis, on_failure mode park with a topic) on 4 partitions; 2,000
# records of 100 keys, every 500th poison (its key parks), then a stream at
# 200 records/s while the checks run.
#   1. The scrape has a sample of every kfleet_ name the rules and the
#      dashboard query (a histogram's _bucket by name), and every label an
#      expression names is on a series it selects
#      (tests/tools/monitoring_check.py live). Negative controls: a dashboard
#      naming a family that does not exist, and one grouping by a label no
#      series has, are refused by the same check.
#   2. Prometheus (Debian's, the `prometheus` package), scraping every second
#      and loading the alert rules: every rule is evaluated with health "ok"
#      (a query that only fails at evaluation, such as a many-to-many match,
#      fails here), every dashboard query returns at least one series, and
#      KfleetParkedKeys is pending or firing for the parked key.
# Without prometheus the second part is skipped, except under CI=true.
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

N=2000
POISON=500
RULES=$KF_SOURCE_DIR/deploy/prometheus/kfleet-alerts.yml
DASH=$KF_SOURCE_DIR/deploy/grafana/dashboards/kfleet.json
CHECK=(python3 "$KF_SOURCE_DIR/tests/tools/monitoring_check.py")
IT_IN=$(kf_unique dash.in)
IT_OUT=$(kf_unique dash.out)
IT_DLQ=$(kf_unique dash.dlq)
IT_GROUP=$(kf_unique dash.group)
IT_LIST="$IT_PREFIX:results"
IT_METRICS_PORT=$(kf_free_port)
export IT_IN IT_OUT IT_DLQ IT_GROUP IT_LIST IT_METRICS_PORT
M='mapping="dashboards"'

PROMETHEUS=$(command -v prometheus || true)
if [[ -z $PROMETHEUS && ${CI:-} == true ]]; then
	kf_fail "prometheus not installed (scripts/setup.sh installs the prometheus package)"
fi

scrape() { curl -sS -m 5 "http://127.0.0.1:$IT_METRICS_PORT/metrics" >"$1"; }
lag_lines() {
	scrape "$KF_TMP/poll.txt" &&
		(($(grep -c "^kfleet_partition_lag_records{$M" "$KF_TMP/poll.txt") == $1))
}

it_create_topic "$IT_OUT" 4
it_create_topic "$IT_DLQ" 4
it_create_topic "$IT_IN" 4
it_produce -t "$IT_IN" -p 4 -n "$N" -k 100 --poison-every "$POISON"
it_render dashboards.json "$KF_TMP/kfleet.json"
it_start_kfleet w1 "$KF_TMP/kfleet.json"
it_wait_until 30 "w1 to take the 4 partitions" kf_log_has w1 "assigned 4 partition"
it_wait_until 60 "a parked key (kfleet_parked_keys)" it_metric_at_least kfleet_parked_keys 1
it_wait_until 30 "a lag line for each of the 4 partitions" lag_lines 4
kf_start producer "$IT_TOOLS/kf_produce" -q -t "$IT_IN" -p 4 -n 100000 -s "$N" -k 100 --rate 200
it_wait_until 60 "records of the stream done (parked ones count as done)" \
	it_metric_at_least kfleet_records_done_total $((N + 100))

# --- 1. every name and label on the live /metrics ------------------------------------------------
F=$KF_TMP/metrics.txt
scrape "$F"
"${CHECK[@]}" live --rules "$RULES" --dashboard "$DASH" --metrics "$F" >"$KF_TMP/live.out" ||
	it_fail "the rules or the dashboard use what the live /metrics lacks (scrape kept in $F)"
kf_log "live /metrics has everything the rules and the dashboard use: $(cat "$KF_TMP/live.out")"
"${CHECK[@]}" names --rules "$RULES" --dashboard "$DASH" | cut -f1 | tr '\n' ' ' >"$KF_TMP/names"
kf_log "names used: $(cat "$KF_TMP/names")"

sed 's/kfleet_eos_marks_held/kfleet_eos_marks_kept/' "$DASH" >"$KF_TMP/bad-name.json"
if "${CHECK[@]}" live --rules "$RULES" --dashboard "$KF_TMP/bad-name.json" --metrics "$F" \
	2>"$KF_TMP/neg.out"; then
	it_fail "negative control: a dashboard querying kfleet_eos_marks_kept passed"
fi
kf_log "negative control refused: $(head -n 1 "$KF_TMP/neg.out")"
sed 's/max by (mapping, topic, partition) (kfleet_partition_lag_records/max by (mapping, topic, partitions) (kfleet_partition_lag_records/' \
	"$DASH" >"$KF_TMP/bad-label.json"
if "${CHECK[@]}" live --rules "$RULES" --dashboard "$KF_TMP/bad-label.json" --metrics "$F" \
	2>"$KF_TMP/neg.out"; then
	it_fail "negative control: a dashboard grouping by a label no series has passed"
fi
kf_log "negative control refused: $(head -n 1 "$KF_TMP/neg.out")"

# --- 2. a real Prometheus: rules evaluated, queries answered, the parked-key alert --------------
if [[ -z $PROMETHEUS ]]; then
	kf_log "prometheus is not installed: Prometheus evaluation skipped (apt-get install prometheus)"
	it_stop_kfleet w1 30
	kf_pass "every name and label on the live /metrics (Prometheus evaluation skipped)"
	exit 0
fi
PROM_PORT=$(kf_free_port)
cat >"$KF_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $RULES
scrape_configs:
  - job_name: kfleet
    static_configs:
      - targets: ["127.0.0.1:$IT_METRICS_PORT"]
EOF
kf_start prometheus "$PROMETHEUS" --config.file="$KF_TMP/prometheus.yml" \
	--storage.tsdb.path="$KF_TMP/prometheus-data" --web.listen-address="127.0.0.1:$PROM_PORT"
kf_wait_for 30 "Prometheus to answer" curl -fsS -m 2 "http://127.0.0.1:$PROM_PORT/-/ready"
"${CHECK[@]}" prom --rules "$RULES" --dashboard "$DASH" --url "http://127.0.0.1:$PROM_PORT" \
	--expect-alert KfleetParkedKeys --timeout 90 >"$KF_TMP/prom.out" || {
	kf_show_log prometheus 30
	it_fail "Prometheus does not evaluate the rules or answer the dashboard's queries"
}
kf_log "Prometheus: $(cat "$KF_TMP/prom.out")"
kf_stop prometheus TERM 20
kf_stop producer TERM 10
it_stop_kfleet w1 30

echo "dashboards $(cat "$KF_TMP/live.out") $(cat "$KF_TMP/prom.out")"
kf_pass "every metric and label of the rules and the dashboard on a live /metrics; Prometheus evaluates them all"
