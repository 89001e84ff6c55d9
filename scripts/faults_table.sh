#!/usr/bin/env bash
# scripts/faults_table.sh — the fault matrix's results as a Markdown table.
#
#   scripts/faults_table.sh [RESULTS]     (default build/faults-results.txt)
#
# Each fault scenario run (tests/faults/faults_lib.sh, fl_finish) appends one
# line "<time> scenario=.. mode=.. records=.. duplicates=.. losses=..
# drained=.. drain_s=.. seconds=.. ..." to RESULTS. This prints one row per
# scenario and mode: records, runs, how many passed, duplicates and losses
# summed over the runs, how many runs drained, and each run's seconds, in run
# order.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS=${1:-$ROOT/build/faults-results.txt}
[[ -f $RESULTS ]] || {
	echo "faults_table: no $RESULTS (run scripts/test.sh faults first)" >&2
	exit 2
}
python3 - "$RESULTS" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    kv = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
    if "scenario" not in kv:
        continue
    key = (kv["scenario"], kv.get("mode", "?"))
    r = rows.setdefault(key, {"records": kv.get("records", "?"), "runs": 0, "passed": 0,
                              "dups": 0, "losses": 0, "drained": 0, "seconds": []})
    r["runs"] += 1
    r["passed"] += kv.get("result", "pass") == "pass"
    r["dups"] += int(kv.get("duplicates", 0))
    r["losses"] += int(kv.get("losses", 0))
    r["drained"] += kv.get("drained") == "yes"
    r["seconds"].append(kv.get("seconds", "?"))
print("| scenario | mode | records | runs | passed | duplicates | losses | drained | seconds |")
print("|---|---|---:|---:|---:|---:|---:|---:|---|")
for (scen, mode), r in sorted(rows.items()):
    print("| %s | %s | %s | %d | %d | %d | %d | %d/%d | %s |" % (
        scen, mode, r["records"], r["runs"], r["passed"], r["dups"], r["losses"], r["drained"],
        r["runs"], ", ".join(r["seconds"])))
PY
