#!/usr/bin/env bash
# test_broker_kill.sh — the Kafka broker crashes. Two workers run FL_RECORDS
# records (30,000, produced over ~30 s) through a 1 ms handler to Kafka,
# Redis and HTTP sinks; 3-6 s after the first outputs the single broker (the
# group coordinator, the transaction coordinator and every partition leader)
# is SIGKILLed, left down 3-5 s, and started again on the same port with the
# same data (scripts/infra.sh kafka-kill / kafka-start). Transactions open at
# the crash are aborted or committed by the restarted coordinator; the
# workers reconnect by themselves. What must hold: progress after the broker
# is back, the run drains, the checker (faults_lib.sh) finds every record
# exactly once per sink (eos: Kafka read with read_committed) or at least
# once (alo), and only the poison records in the on-failure topic.
#
# Run it on an infrastructure of its own (broker_lib.sh says why).
# Knobs: FL_MODE (eos), FL_RECORDS (30000), FL_SLEEP_MS (1), FL_WORKERS (2),
# and those of faults_lib.sh.
# fault-modes: eos alo
# fault-ci:
set -euo pipefail
FL_RECORDS=${FL_RECORDS:-30000}
FL_SLEEP_MS=${FL_SLEEP_MS:-1}
FL_WORKERS=${FL_WORKERS:-2}
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"
# shellcheck source=tests/faults/broker_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/broker_lib.sh"

fl_setup "broker_kill"
bl_setup
fl_produce --rate $((FL_RECORDS / 30))
fl_start_workers
fl_random 3000 6000
fl_hold "$FL_R" # records flowing before the fault: fault timing
bl_kill
fl_random 3000 5000
fl_hold "$FL_R" # the broker stays down: fault timing
bl_start
bl_wait_progress 120 "after the broker came back"
fl_finish
