#!/usr/bin/env python3
"""prom_text_check.py — checks a Prometheus text exposition (format 0.0.4).

usage: prom_text_check.py FILE [--require FAMILY]... [--prefix P]

What it checks, and what a scraper or a dashboard would trip on otherwise:
  - every sample belongs to a family with one HELP and one TYPE line, both
    before its first sample, and a family's samples are contiguous;
  - metric and label names are valid, label values quoted and escaped,
    values numbers (counters and histogram parts never negative);
  - counters are named *_total;
  - no series appears twice;
  - histograms: per series (its labels without `le`), buckets in increasing
    `le` ending with le="+Inf", cumulative (never decreasing), a _count equal
    to the +Inf bucket, and a _sum;
  - each --require'd family is declared and has at least one sample.
Families named --prefix (default "kfleet_") are the only ones allowed.

Exit status 0 when the text passes, 1 with one line per problem, 2 when the
file cannot be read. Prints "families=<n> samples=<m>" on success.
"""
import argparse
import math
import re
import sys

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_labels(text, problems, where):
    labels = {}
    rest = text
    while rest:
        m = LABEL.match(rest)
        if not m:
            problems.append(f"{where}: bad labels {{{text}}}")
            return labels
        name, value = m.group(1), m.group(2)
        if re.search(r'\\[^\\"n]', value):
            problems.append(f"{where}: bad escape in label {name}")
        if name in labels:
            problems.append(f"{where}: label {name} twice")
        labels[name] = value
        rest = rest[m.end():]
    return labels


def parse_value(text, problems, where):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    try:
        return float(text)
    except ValueError:
        problems.append(f"{where}: value {text!r} is not a number")
        return math.nan


def family_of(name, types):
    """The declared family a sample name belongs to, and its suffix."""
    if name in types and types[name] != "histogram":
        return name, ""
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) == "histogram":
            return base, suffix
    return None, None


def check(lines, prefix, required):
    problems = []
    helps, types = {}, {}
    seen_series = set()
    done_families = set()  # families whose samples ended
    current = None
    samples = {}  # family -> count
    hist = {}  # (family, labels without le) -> {"buckets": [(le, v)], "sum":, "count":}
    for no, line in enumerate(lines, 1):
        where = f"line {no}"
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                fam = parts[2]
                if not NAME.match(fam):
                    problems.append(f"{where}: bad family name {fam}")
                book = helps if parts[1] == "HELP" else types
                if fam in book:
                    problems.append(f"{where}: second {parts[1]} for {fam}")
                if fam in samples:
                    problems.append(f"{where}: {parts[1]} for {fam} after its samples")
                if parts[1] == "TYPE":
                    kind = parts[3].strip() if len(parts) > 3 else ""
                    if kind not in TYPES:
                        problems.append(f"{where}: unknown type {kind!r} for {fam}")
                    types[fam] = kind
                else:
                    helps[fam] = parts[3] if len(parts) > 3 else ""
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$", line)
        if not m:
            problems.append(f"{where}: not a sample line: {line[:120]}")
            continue
        name, label_text, value_text = m.group(1), m.group(3) or "", m.group(4)
        labels = parse_labels(label_text, problems, where)
        value = parse_value(value_text, problems, where)
        fam, suffix = family_of(name, types)
        if fam is None:
            problems.append(f"{where}: sample {name} has no TYPE line before it")
            continue
        if not fam.startswith(prefix):
            problems.append(f"{where}: family {fam} does not start with {prefix}")
        if fam not in helps:
            problems.append(f"{where}: family {fam} has no HELP line")
        if fam != current:
            if fam in done_families:
                problems.append(f"{where}: samples of {fam} are not contiguous")
            if current:
                done_families.add(current)
            current = fam
        samples[fam] = samples.get(fam, 0) + 1
        series = (name, tuple(sorted(labels.items())))
        if series in seen_series:
            problems.append(f"{where}: series {name}{{{label_text}}} twice")
        seen_series.add(series)
        kind = types[fam]
        if kind == "counter":
            if not fam.endswith("_total"):
                problems.append(f"{where}: counter {fam} is not named *_total")
            if value < 0:
                problems.append(f"{where}: counter {name} is negative")
        if kind == "histogram":
            if value < 0:
                problems.append(f"{where}: {name} is negative")
            key = (fam, tuple(sorted((k, v) for k, v in labels.items() if k != "le")))
            h = hist.setdefault(key, {"buckets": [], "sum": None, "count": None})
            if suffix == "_bucket":
                if "le" not in labels:
                    problems.append(f"{where}: bucket without le")
                    continue
                h["buckets"].append((parse_value(labels["le"], problems, where), value, where))
            elif suffix == "_sum":
                h["sum"] = value
            else:
                h["count"] = value
    for (fam, labels), h in hist.items():
        what = f"{fam}{{{','.join(f'{k}={v}' for k, v in labels)}}}"
        b = h["buckets"]
        if not b:
            problems.append(f"{what}: no buckets")
            continue
        for (le0, v0, _), (le1, v1, w1) in zip(b, b[1:]):
            if not le1 > le0:
                problems.append(f"{w1}: {what}: le {le1} after {le0}")
            if v1 < v0:
                problems.append(f"{w1}: {what}: bucket le={le1} ({v1}) below le={le0} ({v0})")
        if b[-1][0] != math.inf:
            problems.append(f"{what}: the last bucket is not le=\"+Inf\"")
        if h["count"] is None or h["sum"] is None:
            problems.append(f"{what}: _sum or _count missing")
        elif h["count"] != b[-1][1]:
            problems.append(f"{what}: _count {h['count']} != +Inf bucket {b[-1][1]}")
    for fam in required:
        if fam not in types:
            problems.append(f"required family {fam} is not declared")
        elif not samples.get(fam):
            problems.append(f"required family {fam} has no sample")
    return problems, len(types), sum(samples.values())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--require", action="append", default=[])
    ap.add_argument("--prefix", default="kfleet_")
    a = ap.parse_args()
    try:
        with open(a.file, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except OSError as e:
        print(f"prom_text_check: {e}", file=sys.stderr)
        return 2
    problems, nfam, nsamples = check(lines, a.prefix, a.require)
    for p in problems:
        print(f"prom_text_check: {a.file}: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"families={nfam} samples={nsamples}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
