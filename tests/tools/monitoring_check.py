#!/usr/bin/env python3
"""monitoring_check.py — checks deploy/'s alert rules and Grafana dashboard
against kfleet's metrics.

usage:
  monitoring_check.py prom      --rules R --dashboard D --url PROMETHEUS [--expect-alert A]...
  monitoring_check.py lint      --rules R --tests T --dashboard D --readme README
  monitoring_check.py names     --rules R --dashboard D
  monitoring_check.py reference --rules R --dashboard D --reference REF.md
  monitoring_check.py live      --rules R --dashboard D --metrics SCRAPE.txt
  monitoring_check.py exprs     --dashboard D --out RULES.yml

lint       the rules: every alert has a `severity` of critical or warning and
           the annotations summary, description and runbook; a runbook
           "README.md#anchor" names a heading of the README; every alert
           fires in at least one test of T and is checked quiet somewhere
           in T. The dashboard: JSON with schemaVersion >= 38, a uid, the
           variables datasource, mapping and instance, unique panel ids,
           panels inside the 24 columns and not overlapping, every panel
           and target on the ${datasource} variable, every target with an
           expr and a refId unique in its panel.
names      prints every metric name the rules and the dashboard query, one a
           line, with where it is used.
reference  every kfleet_ name used is a family of REF.md (the output of
           `kfleet metrics reference`), a histogram's only with _bucket, _sum
           or _count, any other family's bare; the only other names are
           those Prometheus makes itself (up).
live       every kfleet_ name used has a sample in SCRAPE.txt (a /metrics
           scrape), and every label an expression names (in a matcher, by,
           on, without or ignoring) is on a series it selects (or is one of
           the target labels instance and job, or le).
exprs      writes each dashboard query, Grafana's variables replaced by
           values Prometheus accepts, as a recording rule into RULES.yml,
           so that `promtool check rules` parses them.
prom       against a real Prometheus (--url) that scrapes a live kfleet and
           loads the rules: waits, up to --timeout seconds, until every rule
           of R has been evaluated with health "ok", every dashboard query
           returns at least one series, and each --expect-alert is pending
           or firing; prints what it found.

Exit status: 0 when the check passes, 1 with one line per problem on stderr,
2 on bad usage or an unreadable file.
"""
import argparse
import json
import re
import sys
import time

import yaml

# Names Prometheus adds to every target: not on /metrics, and never wrong.
SYNTHETIC = {"up"}
TARGET_LABELS = {"instance", "job"}
# Grafana's variables, as a query sent to Prometheus would have them.
VARIABLES = [
    ("$__rate_interval", "1m"),
    ("$__interval", "15s"),
    ("$__range", "1h"),
    ("$mapping", ".*"),
    ("$instance", ".*"),
]
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "offset", "bool", "inf", "nan",
}
METRIC = re.compile(r"\b(kfleet_[a-z0-9_]+)\b")
NAME_BEFORE_SELECTOR = re.compile(r"(?<![\w.\"'])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{)")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*\"")
GROUPING = re.compile(r"\b(by|on|without|ignoring)\s*\(([^)]*)\)")
HIST_SUFFIXES = ("_bucket", "_sum", "_count")


def load_rules(path):
    doc = yaml.safe_load(open(path, encoding="utf-8"))
    rules = []
    for g in doc.get("groups") or []:
        for r in g.get("rules") or []:
            rules.append((g.get("name"), r))
    return rules


def panels_of(dash):
    """Every panel, rows' collapsed panels included."""
    out = []
    for p in dash.get("panels") or []:
        out.append(p)
        out.extend(p.get("panels") or [])
    return out


def used_exprs(rules_path, dash_path):
    """(where, expr) for every query the rules and the dashboard make."""
    exprs = []
    if rules_path:
        for group, r in load_rules(rules_path):
            name = r.get("alert") or r.get("record")
            exprs.append((f"{rules_path}: {group}/{name}", str(r.get("expr", ""))))
    if dash_path:
        dash = json.load(open(dash_path, encoding="utf-8"))
        for p in panels_of(dash):
            for t in p.get("targets") or []:
                if "expr" in t:
                    exprs.append((f"{dash_path}: panel {p.get('title')!r} {t.get('refId')}",
                                  t["expr"]))
        for v in (dash.get("templating") or {}).get("list") or []:
            q = v.get("query")
            if isinstance(q, dict):
                q = q.get("query")
            if v.get("type") == "query" and isinstance(q, str):
                exprs.append((f"{dash_path}: variable {v.get('name')}", q))
    return exprs


def without_strings(expr):
    """expr with its string literals emptied (label values are not names)."""
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


def names_in(expr):
    """Metric names in one query: kfleet_ names, and any other name that
    stands before a selector's braces."""
    bare = without_strings(expr)
    names = set(METRIC.findall(bare))
    for n in NAME_BEFORE_SELECTOR.findall(bare):
        if n not in PROMQL_WORDS:
            names.add(n)
    return names


def labels_in(expr):
    labels = {m[0] for m in MATCHER.findall(expr)}
    for _, inside in GROUPING.findall(without_strings(expr)):
        labels.update(x.strip() for x in inside.split(",") if x.strip())
    return labels


def substituted(expr):
    for var, value in VARIABLES:
        expr = expr.replace(var, value)
    return expr


# ---------------------------------------------------------------- lint

def slug(heading):
    """A heading's anchor as GitHub makes it."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def lint(a, bad):
    anchors = set()
    for line in open(a.readme, encoding="utf-8"):
        m = re.match(r"^#{1,6}\s+(.*)$", line)
        if m:
            anchors.add(slug(m.group(1)))
    alerts = set()
    for group, r in load_rules(a.rules):
        name = r.get("alert")
        if not name:
            continue
        alerts.add(name)
        where = f"{a.rules}: {name}"
        sev = (r.get("labels") or {}).get("severity")
        if sev not in ("critical", "warning"):
            bad(f"{where}: severity {sev!r}, expected critical or warning")
        ann = r.get("annotations") or {}
        for k in ("summary", "description", "runbook"):
            if not str(ann.get(k, "")).strip():
                bad(f"{where}: no {k} annotation")
        rb = str(ann.get("runbook", ""))
        m = re.match(r"^README\.md#([\w-]+)$", rb)
        if not m:
            bad(f"{where}: runbook {rb!r} is not README.md#<anchor>")
        elif m.group(1) not in anchors:
            bad(f"{where}: runbook {rb!r}: README.md has no such heading")
    tests = yaml.safe_load(open(a.tests, encoding="utf-8"))
    fired, quiet = set(), set()
    for t in tests.get("tests") or []:
        for c in t.get("alert_rule_test") or []:
            (fired if c.get("exp_alerts") else quiet).add(c.get("alertname"))
    for name in sorted(alerts - fired):
        bad(f"{a.tests}: no test where {name} fires")
    for name in sorted(alerts - quiet):
        bad(f"{a.tests}: no test where {name} stays quiet")
    for name in sorted((fired | quiet) - alerts):
        bad(f"{a.tests}: tests {name}, which {a.rules} does not define")

    dash = json.load(open(a.dashboard, encoding="utf-8"))
    where = a.dashboard
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 38:
        bad(f"{where}: schemaVersion {dash.get('schemaVersion')!r}, expected >= 38")
    if not dash.get("uid") or not dash.get("title"):
        bad(f"{where}: no uid or title")
    variables = {v.get("name"): v for v in (dash.get("templating") or {}).get("list") or []}
    if (variables.get("datasource") or {}).get("type") != "datasource" or \
            (variables.get("datasource") or {}).get("query") != "prometheus":
        bad(f"{where}: no datasource variable of type prometheus")
    for v in ("mapping", "instance"):
        q = (variables.get(v) or {}).get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if not (isinstance(q, str) and q.startswith("label_values(")):
            bad(f"{where}: variable {v} is not a label_values query")
    ids, cells = set(), {}
    for p in panels_of(dash):
        pw = f"{where}: panel {p.get('title')!r}"
        pid = p.get("id")
        if pid in ids:
            bad(f"{pw}: id {pid} used twice")
        ids.add(pid)
        g = p.get("gridPos") or {}
        if not all(isinstance(g.get(k), int) for k in ("x", "y", "w", "h")):
            bad(f"{pw}: gridPos {g!r}")
            continue
        if g["x"] < 0 or g["x"] + g["w"] > 24:
            bad(f"{pw}: gridPos beyond the 24 columns")
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])}
        others = {cells[c] for c in mine if c in cells}
        if others:
            bad(f"{pw}: overlaps panel(s) {sorted(others)}")
        cells.update((c, p.get("title")) for c in mine)
        if p.get("type") == "row":
            continue
        if (p.get("datasource") or {}).get("uid") != "${datasource}":
            bad(f"{pw}: datasource is not the ${{datasource}} variable")
        targets = p.get("targets") or []
        if not targets:
            bad(f"{pw}: no target")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or None in refs:
            bad(f"{pw}: refIds {refs} not unique")
        for t in targets:
            if (t.get("datasource") or {}).get("uid") != "${datasource}":
                bad(f"{pw} {t.get('refId')}: datasource is not the ${{datasource}} variable")
            if not str(t.get("expr", "")).strip():
                bad(f"{pw} {t.get('refId')}: no expr")


# ---------------------------------------------------------------- names

def reference_families(path):
    fams = {}
    for line in open(path, encoding="utf-8"):
        m = re.match(r"^\| `(kfleet_[a-z0-9_]+)` \| (\w+) \|", line)
        if m:
            fams[m.group(1)] = m.group(2)
    return fams


def check_reference(a, bad):
    fams = reference_families(a.reference)
    if not fams:
        bad(f"{a.reference}: no family found (expected `kfleet metrics reference` output)")
        return
    for where, expr in used_exprs(a.rules, a.dashboard):
        for n in sorted(names_in(expr)):
            if not n.startswith("kfleet_"):
                if n not in SYNTHETIC:
                    bad(f"{where}: {n} is neither a kfleet family nor one Prometheus makes")
                continue
            if fams.get(n) in ("counter", "gauge"):
                continue
            base = next((n[: -len(s)] for s in HIST_SUFFIXES if n.endswith(s)), None)
            if base and fams.get(base) == "histogram":
                continue
            if fams.get(n) == "histogram":
                bad(f"{where}: {n} is a histogram: query its _bucket, _sum or _count")
            else:
                bad(f"{where}: {n} is not a kfleet metric family")


def scrape_series(path):
    """name -> set of label names, from a Prometheus text scrape."""
    series = {}
    sample = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+\S+")
    for line in open(path, encoding="utf-8"):
        if line.startswith("#"):
            continue
        m = sample.match(line)
        if not m:
            continue
        labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or ""))
        series.setdefault(m.group(1), set()).update(labels)
    return series


def check_live(a, bad):
    series = scrape_series(a.metrics)
    if not series:
        bad(f"{a.metrics}: no sample in the scrape")
        return
    checked = set()
    for where, expr in used_exprs(a.rules, a.dashboard):
        names = names_in(expr)
        labels = set(TARGET_LABELS) | {"le"}
        missing = False
        for n in sorted(names):
            if n in SYNTHETIC:
                continue
            checked.add(n)
            if n not in series:
                bad(f"{where}: {n} has no sample on the live /metrics")
                missing = True
            else:
                labels |= series[n]
        if missing:
            continue  # its labels cannot be judged without its series
        if where.split(": ")[1].startswith("variable"):
            # label_values(metric, label): the label is the second argument.
            m = re.match(r"label_values\((.*),\s*(\w+)\)$", expr)
            if m and m.group(2) not in labels:
                bad(f"{where}: label {m.group(2)} is not on {m.group(1)}")
            continue
        for lbl in sorted(labels_in(expr) - labels):
            bad(f"{where}: label {lbl} is on no series the expression selects")
    return checked


def prom_get(url, path, params=None):
    import urllib.parse
    import urllib.request
    q = "?" + urllib.parse.urlencode(params) if params else ""
    with urllib.request.urlopen(url + path + q, timeout=10) as r:
        doc = json.loads(r.read())
    if doc.get("status") != "success":
        raise ValueError(f"{path}: {doc.get('errorType')}: {doc.get('error')}")
    return doc["data"]


def prom_problems(a, queries):
    """What the Prometheus at a.url does not show yet (empty: everything)."""
    problems = []
    want = {r.get("alert") for _, r in load_rules(a.rules) if r.get("alert")}
    seen = set()
    for g in prom_get(a.url, "/api/v1/rules")["groups"]:
        for r in g["rules"]:
            seen.add(r["name"])
            if r.get("health") != "ok":
                problems.append(f"rule {r['name']}: health {r.get('health')!r}: "
                                f"{r.get('lastError', '')}")
    for name in sorted(want - seen):
        problems.append(f"rule {name}: not loaded by Prometheus")
    for where, q in queries:
        try:
            res = prom_get(a.url, "/api/v1/query", {"query": q})["result"]
        except ValueError as e:
            problems.append(f"{where}: {e}")
            continue
        if not res:
            problems.append(f"{where}: no series for {q}")
    firing = {x["labels"].get("alertname"): x["state"]
              for x in prom_get(a.url, "/api/v1/alerts")["alerts"]}
    for name in a.expect_alert:
        if firing.get(name) not in ("pending", "firing"):
            problems.append(f"alert {name}: not pending or firing (alerts: {firing})")
    return problems, firing


def check_prom(a, bad):
    queries = [(w, substituted(e)) for w, e in used_exprs(None, a.dashboard)
               if "label_values(" not in e]
    deadline = time.monotonic() + a.timeout
    while True:
        try:
            problems, firing = prom_problems(a, queries)
        except (OSError, ValueError) as e:
            problems, firing = [f"{a.url}: {e}"], {}
        if not problems or time.monotonic() > deadline:
            break
        time.sleep(1)  # poll interval: Prometheus scrapes and evaluates every second here
    for p in problems:
        bad(p)
    if not problems:
        print(f"rules_ok={len([1 for _, r in load_rules(a.rules)])} queries_with_data={len(queries)} "
              f"alerts={','.join(f'{k}:{v}' for k, v in sorted(firing.items())) or 'none'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command",
                    choices=["lint", "names", "reference", "live", "exprs", "prom"])
    ap.add_argument("--rules")
    ap.add_argument("--tests")
    ap.add_argument("--dashboard")
    ap.add_argument("--readme")
    ap.add_argument("--reference")
    ap.add_argument("--metrics")
    ap.add_argument("--out")
    ap.add_argument("--url")
    ap.add_argument("--expect-alert", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    need = {"lint": ["rules", "tests", "dashboard", "readme"], "names": [],
            "reference": ["reference"], "live": ["metrics"], "exprs": ["dashboard", "out"], "prom": ["rules", "dashboard", "url"]}[a.command]
    for n in need:
        if not getattr(a, n):
            ap.error(f"{a.command} needs --{n}")
    problems = []
    bad = problems.append
    try:
        if a.command == "lint":
            lint(a, bad)
        elif a.command == "names":
            seen = {}
            for where, expr in used_exprs(a.rules, a.dashboard):
                for n in names_in(expr):
                    seen.setdefault(n, []).append(where)
            for n in sorted(seen):
                print(f"{n}\t{len(seen[n])} use(s)")
        elif a.command == "reference":
            check_reference(a, bad)
        elif a.command == "prom":
            check_prom(a, bad)
        elif a.command == "live":
            checked = check_live(a, bad)
            if not problems:
                print(f"names={len(checked)} exprs={len(used_exprs(a.rules, a.dashboard))}")
        elif a.command == "exprs":
            qs = [(w, substituted(e)) for w, e in used_exprs(None, a.dashboard)
                  if "label_values(" not in e]
            rules = [{"record": f"kfleet:dashboard_query_{i}", "expr": q}
                     for i, (_, q) in enumerate(qs)]
            yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]},
                           open(a.out, "w"), sort_keys=False, width=1000)
            print(f"queries={len(qs)}")
    except (OSError, ValueError, yaml.YAMLError) as e:
        print(f"monitoring_check: {e}", file=sys.stderr)
        return 2
    for p in problems:
        print(f"monitoring_check: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
