#!/usr/bin/env python3
"""bench/lib/check_results.py RESULTS.json [--only LIST]

Checks the shape of bench/run.sh's results, never its timings: the file
parses, "machine" is a description, and every contender that was run has a
number for each field issue 4 names (a contender that did not process every
record has none), and the ratios to the Parallel Consumer when both sides of
one ran; a latency run has the probe's floor from the same run
(results.latency.floor) and its p99 over it; scale_out has records/s for 1,
2 and 3 processes. Prints one line per problem; exit 0 when there is none.
"""

import argparse
import json
import sys

REQUIRED = {
    "raw_consumer": ["records_per_s"],
    "kcat": ["records_per_s"],
    "kfleet_alo": ["records_per_s"],
    "kfleet_eos_redis": ["records_per_s", "p50_ms", "p99_ms", "redis_calls_per_record"],
    "kfleet_eos_kafka": ["records_per_s", "p50_ms", "p99_ms", "redis_calls_per_record"],
    "kstreams_eos": ["records_per_s", "p50_ms", "p99_ms"],
    "parallel_consumer": ["records_per_s", "cpu_s_per_million", "peak_rss_mb"],
    "slow_handler": ["partition_s", "key_s", "unordered_s"],
    "pc_slow_key": ["wall_s", "records_per_s"],
    "footprint": ["rss_idle_mb", "rss_load_mb", "cold_start_ms", "handler_init_ms"],
}
# Every latency run brings the probe's own floor, measured in the same run,
# and the contender's p99 over it.
LATENCY = ["kfleet_eos_redis", "kfleet_eos_kafka", "kstreams_eos"]
REQUIRED["latency"] = ["floor"] + LATENCY
# scale_out: records/s for 1, 2 and 3 processes in one group.
REQUIRED["scale_out"] = ["1", "2", "3"]
NESTED = {  # results.<sect>.<key> is itself an object with these numbers
    "latency": {"floor": ["p50_ms", "p99_ms", "p999_ms"],
                **{w: ["p99_ms", "floor_p99_ms", "p99_over_floor_ms"] for w in LATENCY}},
    "scale_out": {k: ["records_per_s", "cpu_s_per_million"] for k in ("1", "2", "3")},
}
# What each --only name brings into the results.
BRINGS = {
    "footprint": {"footprint": ["rss_idle_mb", "cold_start_ms", "handler_init_ms"]},
    "kfleet_alo": {"kfleet_alo": REQUIRED["kfleet_alo"], "footprint": ["rss_load_mb"]},
    **{w: {w: REQUIRED[w], "latency": ["floor", w]} for w in LATENCY},
}
# Ratios that exist when both sides of them ran (in a full run, always).
PAIRS = [
    ({"kfleet_alo", "parallel_consumer"}, "kfleet_alo", "vs_parallel_consumer"),
    ({"slow_handler", "pc_slow_key"}, "pc_slow_key", "kfleet_key_vs_pc_wall"),
    ({"slow_handler", "pc_slow_key"}, "pc_slow_key", "kfleet_key_vs_pc_records_per_s"),
]


def check_nested(sect, obj, keys, problems):
    """results.latency.<k> / results.scale_out.members.<k>: objects of numbers."""
    holder = obj.get("members") if sect == "scale_out" else obj
    for k in sorted(keys):
        sub = holder.get(k) if isinstance(holder, dict) else None
        if not isinstance(sub, dict):
            problems.append(f"results.{sect}.{k}: missing")
            continue
        for f in NESTED[sect][k]:
            v = sub.get(f)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                problems.append(f"results.{sect}.{k}.{f}: not a number ({v!r})")
        for e in sub.get("errors", []):
            problems.append(f"results.{sect}.{k}: {e}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json")
    ap.add_argument("--only")
    a = ap.parse_args()
    problems = []
    try:
        with open(a.json) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print(f"check_results: {a.json}: {e}")
        return 1
    if not isinstance(doc.get("machine"), str) or not doc["machine"]:
        problems.append("machine: missing or not a string")
    res = doc.get("results")
    if not isinstance(res, dict):
        print("check_results: results: missing or not an object")
        return 1
    want = {}
    if a.only:
        for name in a.only.split(","):
            for sect, keys in BRINGS.get(name, {name: REQUIRED.get(name, [])}).items():
                want.setdefault(sect, set()).update(keys)
    else:
        want = {k: set(v) for k, v in REQUIRED.items()}
    ran = set(a.only.split(",")) if a.only else set(REQUIRED)
    for both, sect, key in PAIRS:
        if both <= ran:
            want.setdefault(sect, set()).add(key)
    for sect, keys in sorted(want.items()):
        obj = res.get(sect)
        if not isinstance(obj, dict):
            problems.append(f"results.{sect}: missing")
            continue
        if sect in NESTED:
            check_nested(sect, obj, keys, problems)
            continue
        for k in sorted(keys):
            v = obj.get(k)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                problems.append(f"results.{sect}.{k}: not a number ({v!r})")
        for e in obj.get("errors", []):
            problems.append(f"results.{sect}: {e}")
    for p in problems:
        print(f"check_results: {p}")
    if not problems:
        print(f"check_results: {a.json}: well-formed, every contender has its figures")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
