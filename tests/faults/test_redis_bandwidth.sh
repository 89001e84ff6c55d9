#!/usr/bin/env bash
# test_redis_bandwidth.sh — the link to the state Redis is thin for a while.
# Two workers reach the state Redis (and the Redis sink, which writes to it)
# through the project's fault proxy (tests/tools/fault_proxy.py); 30,000
# records arrive at 600/s through a 1 ms handler to Kafka, Redis and HTTP
# sinks. Once outputs flow, the proxy caps each direction at 20,000 bytes/s
# (shared by every connection, like a saturated link) for ~20 s, then
# passes again. A completion script for a chunk of records is tens of KB:
# calls take seconds, some longer than the workers' command timeout, and
# are abandoned after Redis ran them.
#
# What must hold: outputs resume after the cap by themselves, the run
# drains, every worker exits 0 on SIGTERM, and the checker (faults_lib.sh)
# finds every record exactly once per sink (FL_MODE=eos) or at least once
# (alo), and exactly the poison records in the on-failure topic.
#
# Knobs: FL_MODE (eos), FL_RECORDS (30000), FL_RATE (600 records/s),
# FL_WORKERS (2), FL_SLEEP_MS (1), FL_BYTES_PER_S (20000), FL_SLOW_MS
# (20000), and those of faults_lib.sh.
# fault-modes: eos alo
# fault-ci: none
set -euo pipefail
FL_RECORDS=${FL_RECORDS:-30000}
FL_SLEEP_MS=${FL_SLEEP_MS:-1}
FL_WORKERS=${FL_WORKERS:-2}
RATE=${FL_RATE:-600}
BPS=${FL_BYTES_PER_S:-20000}
SLOW_MS=${FL_SLOW_MS:-20000}
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"
# shellcheck source=tests/faults/proxy_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/proxy_lib.sh"

px_start
fl_setup "redis_bandwidth"
fl_produce --rate "$RATE"
fl_start_workers
want=$((FL_RECORDS - FL_RECORDS / FL_POISON))
fl_wait_until 90 "outputs flowing before the cap" fl_outputs_at_least $((want / 8))

px_mode bandwidth "$BPS"
before=$(fl_outputs)
fl_hold "$SLOW_MS" # the thin link: fault timing
during=$(fl_outputs)
px_mode pass
kf_log "cap over: outputs $before -> $during during it"
fl_wait_until 90 "progress after the cap (outputs were $during)" \
	fl_outputs_at_least $((during + 500 < want ? during + 500 : want))
kf_log "after the cap: outputs $(fl_outputs)"
fl_finish
