#!/usr/bin/env bash
# test_netns_kafka_reset.sh — a worker whose Kafka connections are reset by
# the network, past its session. Two workers in one group
# (session.timeout.ms 6000): one in its own network namespace (netns_lib.sh:
# a veth, relays to the host's broker, Redis and HTTP receiver), one on the
# host. 30,000 records arrive at 400/s through a 1 ms handler to Kafka,
# Redis and HTTP sinks. Once outputs flow, iptables inside the namespace
# answers the namespace's Kafka traffic on the veth with REJECT
# --reject-with tcp-reset for 10 s: every packet either way is answered with
# a RST, so open connections are reset and new ones refused at once. The
# group gives its partitions to the host worker; when the cut heals the
# namespaced worker is a zombie (its session expired, its transaction's
# group generation is stale) that must be fenced and rejoin.
#
# What must hold: a host worker holds all 8 partitions during (or just
# after) the cut, the namespaced worker holds partitions and completes
# records again after it, the run drains, every worker exits 0 on SIGTERM,
# and the checker (faults_lib.sh) finds every record exactly once per sink
# (FL_MODE=eos) or at least once (alo), and exactly the poison records in
# the on-failure topic.
#
# Needs root, ip netns and iptables (netns_lib.sh). Knobs: FL_MODE (eos),
# FL_RECORDS (30000), FL_RATE (400 records/s), FL_SLEEP_MS (1), FL_CUT_MS
# (10000), NL_INNER (nat|relay, netns_lib.sh), and those of faults_lib.sh.
# fault-modes: eos alo
# fault-ci:
set -euo pipefail
FL_RECORDS=${FL_RECORDS:-30000}
FL_SLEEP_MS=${FL_SLEEP_MS:-1}
FL_WORKERS=2
RATE=${FL_RATE:-400}
CUT_MS=${FL_CUT_MS:-10000}
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"
# shellcheck source=tests/faults/netns_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns_lib.sh"

fl_setup "netns_kafka_reset"
nl_setup
fl_produce --rate "$RATE"
nl_kafka_cut_flow reset "$CUT_MS" 1
fl_finish
