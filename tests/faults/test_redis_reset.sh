#!/usr/bin/env bash
# test_redis_reset.sh — the state Redis's connections are reset again and
# again. Two workers reach the state Redis (and the Redis sink, which writes
# to it) through the project's fault proxy (tests/tools/fault_proxy.py);
# 30,000 records arrive at 600/s through a 1 ms handler to Kafka, Redis and
# HTTP sinks. Once outputs flow, for ~15 s the proxy resets every connection
# with a TCP RST every 1-2 s (and, for 100-300 ms each time, resets new
# connections at once too): calls die mid-flight, some after Redis ran them
# (the reply is lost: an ambiguous outcome the workers must re-check, not
# redo blindly).
#
# What must hold: outputs resume after the resets by themselves, the run
# drains, every worker exits 0 on SIGTERM, and the checker (faults_lib.sh)
# finds every record exactly once per sink (FL_MODE=eos) or at least once
# (alo), and exactly the poison records in the on-failure topic.
#
# Knobs: FL_MODE (eos), FL_RECORDS (30000), FL_RATE (600 records/s),
# FL_WORKERS (2), FL_SLEEP_MS (1), FL_RESET_S (15), and those of
# faults_lib.sh.
# fault-modes: eos alo
# fault-ci: none
set -euo pipefail
FL_RECORDS=${FL_RECORDS:-30000}
FL_SLEEP_MS=${FL_SLEEP_MS:-1}
FL_WORKERS=${FL_WORKERS:-2}
RATE=${FL_RATE:-600}
RESET_S=${FL_RESET_S:-15}
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"
# shellcheck source=tests/faults/proxy_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/proxy_lib.sh"

px_start
fl_setup "redis_reset"
fl_produce --rate "$RATE"
fl_start_workers
want=$((FL_RECORDS - FL_RECORDS / FL_POISON))
fl_wait_until 90 "outputs flowing before the resets" fl_outputs_at_least $((want / 8))

before=$(fl_outputs)
end=$((SECONDS + RESET_S))
resets=0
while ((SECONDS < end)); do
	fl_random 100 300
	px_reset_pulse "$FL_R"
	resets=$((resets + 1))
	fl_random 1000 2000
	fl_hold "$FL_R" # between resets: fault timing
done
during=$(fl_outputs)
kf_log "$resets reset(s) in ${RESET_S}s: outputs $before -> $during meanwhile"
fl_wait_until 90 "progress after the resets (outputs were $during)" \
	fl_outputs_at_least $((during + 500 < want ? during + 500 : want))
kf_log "after the resets: outputs $(fl_outputs)"
fl_finish
