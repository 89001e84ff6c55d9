#!/usr/bin/env bash
# test_redis_blackhole.sh — the state Redis goes silent mid-run. Two workers
# reach the state Redis (and the Redis sink, which writes to it) through the
# project's fault proxy (tests/tools/fault_proxy.py); 30,000 records arrive
# at 600/s through a 1 ms handler to Kafka, Redis and HTTP sinks. Once
# outputs flow, the proxy turns into a black hole for ~15 s: every
# connection stays open and new ones are accepted, but nothing is forwarded
# either way (calls hang until the workers' command timeouts). Then it
# passes again, resetting the connections that saw the black hole, as a
# partition that heals leaves the peers' connections dead.
#
# What must hold: outputs resume after the black hole by themselves (no
# worker restarted), the run drains, every worker exits 0 on SIGTERM, and
# the checker (faults_lib.sh) finds every record exactly once per sink
# (FL_MODE=eos) or at least once (alo), and exactly the poison records in
# the on-failure topic (a Redis outage must not spend the records'
# attempts).
#
# Knobs: FL_MODE (eos), FL_RECORDS (30000), FL_RATE (600 records/s),
# FL_WORKERS (2), FL_SLEEP_MS (1), FL_HOLE_MS (15000), and those of
# faults_lib.sh.
# fault-modes: eos alo
# fault-ci: eos
set -euo pipefail
FL_RECORDS=${FL_RECORDS:-30000}
FL_SLEEP_MS=${FL_SLEEP_MS:-1}
FL_WORKERS=${FL_WORKERS:-2}
RATE=${FL_RATE:-600}
HOLE_MS=${FL_HOLE_MS:-15000}
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"
# shellcheck source=tests/faults/proxy_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/proxy_lib.sh"

px_start
fl_setup "redis_blackhole"
fl_produce --rate "$RATE"
fl_start_workers
want=$((FL_RECORDS - FL_RECORDS / FL_POISON))
fl_wait_until 90 "outputs flowing before the black hole" fl_outputs_at_least $((want / 8))

px_mode blackhole
before=$(fl_outputs)
fl_hold "$HOLE_MS" # the outage: fault timing
during=$(fl_outputs)
px_mode pass
kf_log "black hole over: outputs $before -> $during during it"
fl_wait_until 90 "progress after the black hole (outputs were $during)" \
	fl_outputs_at_least $((during + 500 < want ? during + 500 : want))
kf_log "after the black hole: outputs $(fl_outputs)"
fl_finish
