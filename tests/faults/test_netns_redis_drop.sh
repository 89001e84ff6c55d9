#!/usr/bin/env bash
# test_netns_redis_drop.sh — a worker cut off from its state Redis by the
# network. ONE worker, in its own network namespace (netns_lib.sh: a veth,
# relays to the host's broker, Redis and HTTP receiver), runs 30,000 records
# arriving at 500/s through a 1 ms handler to Kafka, Redis and HTTP sinks
# (the Redis sink writes to the state Redis). Once outputs flow, iptables
# inside the namespace DROPs the namespace's Redis traffic on the veth for
# 15 s: a black hole, the worker's Redis connections stay open and get no
# answer, new ones get no SYN-ACK. Kafka is not cut, so the worker keeps its
# partitions.
#
# What must hold: the worker pauses (from 3 s into the cut to its end it
# completes no record, and keeps its partitions) and resumes by itself after
# the cut, the run drains, the worker exits 0 on SIGTERM, and the checker
# (faults_lib.sh) finds every record exactly once per sink (FL_MODE=eos) or
# at least once (alo), and exactly the poison records in the on-failure
# topic (the outage must not spend the records' attempts).
#
# Needs root, ip netns and iptables (netns_lib.sh). Knobs: FL_MODE (eos),
# FL_RECORDS (30000), FL_RATE (500 records/s), FL_SLEEP_MS (1), FL_CUT_MS
# (15000), NL_HOSTS (0: host workers beside the namespaced one), NL_INNER
# (nat|relay, netns_lib.sh), and those of faults_lib.sh.
# fault-modes: eos alo
# fault-ci:
set -euo pipefail
FL_RECORDS=${FL_RECORDS:-30000}
FL_SLEEP_MS=${FL_SLEEP_MS:-1}
HOSTS=${NL_HOSTS:-0}
FL_WORKERS=$((HOSTS + 1))
RATE=${FL_RATE:-500}
CUT_MS=${FL_CUT_MS:-15000}
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"
# shellcheck source=tests/faults/netns_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns_lib.sh"

fl_setup "netns_redis_drop"
nl_setup
fl_produce --rate "$RATE"
nl_redis_cut_flow drop "$CUT_MS" "$HOSTS"
fl_finish
