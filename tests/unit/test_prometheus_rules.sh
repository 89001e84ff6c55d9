#!/usr/bin/env bash
# tests/unit/test_prometheus_rules.sh — deploy/'s monitoring, without
# infrastructure:
#   1. `promtool check rules` on deploy/prometheus/kfleet-alerts.yml and
#      `promtool check config` on deploy/prometheus/prometheus.yml;
#   2. `promtool test rules` on kfleet-alerts.test.yml: each alert fires on
#      synthetic series, with its labels and rendered annotations, and stays
#      quiet on healthy ones;
#   3. the rules' and the dashboard's shape (tests/tools/monitoring_check.py
#      lint): severities, annotations, runbooks that name README headings,
#      a firing and a quiet test per alert; the dashboard's variables,
#      panels, grid and data source;
#   4. every dashboard query parses as PromQL (each one, Grafana's variables
#      replaced, as a recording rule through `promtool check rules`);
#   5. every metric name they use is a family of `kfleet metrics reference`
#      (a histogram's with _bucket/_sum/_count), or `up`;
#   6. the Grafana provisioning files parse.
# Negative controls: a dashboard naming a family that does not exist, and a
# rules file whose alert never fires in the tests, must each be refused.
# tests/integration/test_dashboards.sh checks the names against a live
# /metrics and evaluates everything in a real Prometheus.
#
# Without promtool (Debian's `prometheus` package) the test is skipped
# (exit 77, ctest's SKIP_RETURN_CODE), except under CI=true, where it fails:
# scripts/setup.sh installs prometheus.
set -uo pipefail
src=${KF_SOURCE_DIR:?set by ctest}
build=${KF_BUILD_DIR:?set by ctest}
promtool=${PROMTOOL:-promtool}

if ! command -v "$promtool" >/dev/null 2>&1; then
	if [[ ${CI:-} == true ]]; then
		echo "test_prometheus_rules: FAIL: $promtool not found (scripts/setup.sh installs prometheus)" >&2
		exit 1
	fi
	echo "test_prometheus_rules: SKIP: $promtool not found (apt-get install prometheus)" >&2
	exit 77
fi

prom=$src/deploy/prometheus
rules=$prom/kfleet-alerts.yml
tests=$prom/kfleet-alerts.test.yml
dash=$src/deploy/grafana/dashboards/kfleet.json
check="python3 $src/tests/tools/monitoring_check.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() {
	echo "test_prometheus_rules: FAIL: $*" >&2
	failed=$((failed + 1))
}

# run WHAT CMD... — CMD's output goes to the log; a failure is counted.
run() {
	local what=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then
		echo "ok: $what"
	else
		cat "$tmp/out" >&2
		fail "$what"
	fi
}

run "promtool check rules kfleet-alerts.yml" "$promtool" check rules "$rules"
run "promtool check config prometheus.yml" "$promtool" check config "$prom/prometheus.yml"
# promtool resolves the test file's rule_files from its own directory.
run "promtool test rules kfleet-alerts.test.yml" bash -c "cd '$prom' && '$promtool' test rules kfleet-alerts.test.yml"
run "rules and dashboard lint" $check lint --rules "$rules" --tests "$tests" --dashboard "$dash" \
	--readme "$src/README.md"

if $check exprs --dashboard "$dash" --out "$tmp/dashboard-queries.yml" >"$tmp/n" 2>&1; then
	run "the dashboard's $(cut -d= -f2 "$tmp/n") queries parse (promtool check rules)" \
		"$promtool" check rules "$tmp/dashboard-queries.yml"
else
	cat "$tmp/n" >&2
	fail "could not extract the dashboard's queries"
fi

"$build/kfleet" metrics reference >"$tmp/reference.md" || fail "kfleet metrics reference failed"
run "every metric name is a kfleet family (or up)" $check reference --rules "$rules" \
	--dashboard "$dash" --reference "$tmp/reference.md"

run "Grafana provisioning parses" python3 -c '
import sys, yaml
for f in sys.argv[1:]:
    d = yaml.safe_load(open(f))
    assert d.get("apiVersion") == 1, f
    assert d.get("datasources") or d.get("providers"), f
' "$src"/deploy/grafana/provisioning/*/*.yml

# Negative controls.
sed 's/kfleet_eos_marks_held/kfleet_eos_marks_kept/' "$dash" >"$tmp/bad.json"
if $check reference --rules "$rules" --dashboard "$tmp/bad.json" \
	--reference "$tmp/reference.md" 2>/dev/null; then
	fail "negative control: a dashboard naming kfleet_eos_marks_kept passed the name check"
else
	echo "ok: negative control: a family that does not exist is refused"
fi
python3 - "$rules" "$tmp/extra.yml" <<'EOF'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
d["groups"][0]["rules"].append({"alert": "KfleetUntested", "expr": "vector(1)",
    "labels": {"severity": "warning"},
    "annotations": {"summary": "s", "description": "d", "runbook": "README.md#metrics"}})
yaml.safe_dump(d, open(sys.argv[2], "w"))
EOF
if $check lint --rules "$tmp/extra.yml" --tests "$tests" --dashboard "$dash" \
	--readme "$src/README.md" 2>/dev/null; then
	fail "negative control: an alert without a test passed the lint"
else
	echo "ok: negative control: an alert without a test is refused"
fi

if ((failed)); then
	echo "test_prometheus_rules: $failed check(s) failed" >&2
	exit 1
fi
echo "test_prometheus_rules: $("$promtool" --version 2>&1 | head -n 1); every check passed"
