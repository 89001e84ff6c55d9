#!/usr/bin/env bash
# test_redis_latency.sh — the state Redis is far away for a while. Two
# workers reach the state Redis (and the Redis sink, which writes to it)
# through the project's fault proxy (tests/tools/fault_proxy.py); 30,000
# records arrive at 600/s through a 1 ms handler to Kafka, Redis and HTTP
# sinks. Once outputs flow, the proxy delays every byte by 100 ms each way
# (a round trip of 200 ms or more, like a Redis in another region) for
# ~20 s, then passes again.
#
# What must hold: nothing breaks, only slows down: outputs keep coming (or
# resume) by themselves, the run drains, every worker exits 0 on SIGTERM,
# and the checker (faults_lib.sh) finds every record exactly once per sink
# (FL_MODE=eos) or at least once (alo), and exactly the poison records in
# the on-failure topic.
#
# Knobs: FL_MODE (eos), FL_RECORDS (30000), FL_RATE (600 records/s),
# FL_WORKERS (2), FL_SLEEP_MS (1), FL_LATENCY_MS (100), FL_SLOW_MS (20000),
# and those of faults_lib.sh.
# fault-modes: eos alo
# fault-ci: none
set -euo pipefail
FL_RECORDS=${FL_RECORDS:-30000}
FL_SLEEP_MS=${FL_SLEEP_MS:-1}
FL_WORKERS=${FL_WORKERS:-2}
RATE=${FL_RATE:-600}
LATENCY_MS=${FL_LATENCY_MS:-100}
SLOW_MS=${FL_SLOW_MS:-20000}
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"
# shellcheck source=tests/faults/proxy_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/proxy_lib.sh"

px_start
fl_setup "redis_latency"
fl_produce --rate "$RATE"
fl_start_workers
want=$((FL_RECORDS - FL_RECORDS / FL_POISON))
fl_wait_until 90 "outputs flowing before the latency" fl_outputs_at_least $((want / 8))

px_mode latency "$LATENCY_MS"
before=$(fl_outputs)
fl_hold "$SLOW_MS" # the slow link: fault timing
during=$(fl_outputs)
px_mode pass
kf_log "latency over: outputs $before -> $during during it"
fl_wait_until 90 "progress after the latency (outputs were $during)" \
	fl_outputs_at_least $((during + 500 < want ? during + 500 : want))
kf_log "after the latency: outputs $(fl_outputs)"
fl_finish
