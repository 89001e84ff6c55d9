#!/usr/bin/env bash
# test_broker_pause.sh — the Kafka broker stalls (a GC pause, a stopped VM)
# for longer than the clients' request timeouts. Two workers run FL_RECORDS
# records (30,000, produced over ~30 s) through a 1 ms handler to Kafka,
# Redis and HTTP sinks, their requests timing out after BL_REQUEST_TIMEOUT_MS
# (5000: the producer's request.timeout.ms and both clients'
# socket.timeout.ms, librdkafka's per-request timeout for consumers, set
# through FL_RENDER_ARGS); 3-6 s after the first outputs the single broker is
# frozen with SIGSTOP for BL_PAUSE_MS (12 s: past the request timeouts and
# the 6 s session timeout), then SIGCONTed. Its connections stay open, the
# kernel still accepts new ones, nothing is answered; on SIGCONT it serves
# stale requests and expires the group's sessions. What must hold: progress
# after the thaw, the run drains, the checker (faults_lib.sh) finds every
# record exactly once per sink (eos) or at least once (alo), and only the
# poison records in the on-failure topic.
#
# Run it on an infrastructure of its own (broker_lib.sh says why).
# Knobs: FL_MODE (eos), FL_RECORDS (30000), FL_SLEEP_MS (1), FL_WORKERS (2),
# BL_PAUSE_MS (12000), BL_REQUEST_TIMEOUT_MS (5000), and those of
# faults_lib.sh.
# fault-modes: eos alo
# fault-ci:
set -euo pipefail
FL_RECORDS=${FL_RECORDS:-30000}
FL_SLEEP_MS=${FL_SLEEP_MS:-1}
FL_WORKERS=${FL_WORKERS:-2}
PAUSE_MS=${BL_PAUSE_MS:-12000}
T=${BL_REQUEST_TIMEOUT_MS:-5000}
# The whole objects: it_render's paths split at dots, and the librdkafka
# property names have dots. The consumer keeps fault.json's session settings.
FL_RENDER_ARGS="${FL_RENDER_ARGS:-} mappings.0.consumer={\"session.timeout.ms\":6000,\"heartbeat.interval.ms\":1000,\"socket.timeout.ms\":$T} mappings.0.producer={\"request.timeout.ms\":$T,\"socket.timeout.ms\":$T}"
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"
# shellcheck source=tests/faults/broker_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/broker_lib.sh"

((PAUSE_MS > T)) || kf_fail "BL_PAUSE_MS ($PAUSE_MS) must exceed BL_REQUEST_TIMEOUT_MS ($T)"
fl_setup "broker_pause"
bl_setup
fl_produce --rate $((FL_RECORDS / 30))
fl_start_workers
fl_random 3000 6000
fl_hold "$FL_R" # records flowing before the fault: fault timing
bl_pause "$PAUSE_MS"
bl_wait_progress 120 "after the broker thawed"
fl_finish
