#!/usr/bin/env bash
# test_zombie_alone.sh — a worker paused past its session timeout is its own
# successor. ONE worker (session.timeout.ms 6000) runs 60,000 records through
# a 3 ms handler to Kafka, Redis and HTTP sinks; it is frozen with SIGSTOP for
# 10 s three times (its session times out each time: on SIGCONT it is a
# zombie whose partitions the group gave back to itself). Each thaw must be
# followed by progress, the run must drain, and the checker (faults_lib.sh)
# must find every record exactly once (FL_MODE=eos) or at least once (alo).
#
# Knobs: FL_MODE (eos), FL_RECORDS (60000), FL_FREEZES (3), FL_FREEZE_MS
# (10000), FL_SLEEP_MS (3), and those of faults_lib.sh; FL_SCALE=ci
# (scripts/test.sh) runs 30,000 records.
# fault-modes: eos alo
# fault-ci: eos
set -euo pipefail
[[ ${FL_SCALE:-} == ci ]] && FL_RECORDS=${FL_RECORDS:-30000} # scripts/test.sh's subset
FL_RECORDS=${FL_RECORDS:-60000}
FL_SLEEP_MS=${FL_SLEEP_MS:-3}
FL_WORKERS=1
FREEZES=${FL_FREEZES:-3}
FREEZE_MS=${FL_FREEZE_MS:-10000}
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"

fl_setup "zombie_alone"
fl_produce
fl_start_workers
for ((i = 1; i <= FREEZES; i++)); do
	before=$(fl_outputs)
	fl_freeze 1 "$FREEZE_MS"
	# Progress after the thaw: the zombie rejoins as its own successor.
	fl_wait_until 60 "progress after thaw $i (outputs were $before)" \
		fl_outputs_at_least $((before + 500 < FL_RECORDS - FL_RECORDS / FL_POISON ? before + 500 : FL_RECORDS - FL_RECORDS / FL_POISON))
	kf_log "thaw $i: outputs $(fl_outputs)"
	fl_random 1000 5000
	fl_hold "$FL_R" # running between faults: fault timing
done
fl_finish
