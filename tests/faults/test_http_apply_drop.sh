#!/usr/bin/env bash
# test_http_apply_drop.sh — an HTTP sink endpoint that applies a request and
# then loses the answer (a proxy or a crash between commit and reply). Two
# workers run FL_RECORDS records (30,000, produced over ~30 s) through a 1 ms
# handler to Kafka, Redis and HTTP sinks; 2-4 s after the first outputs, for
# HF_DROP_MS (15 s), the test receiver applies HF_DROP_SHARE (0.3) of the
# requests (logged as 2xx effects: it did apply them) and resets the
# connection without answering. The sink sees a transport error and resends
# with the same Idempotency-Key, which the receiver honours. What must hold:
# the run drains and the checker (faults_lib.sh) finds every HTTP effect
# exactly once per Idempotency-Key and every record exactly once per sink
# (eos) or at least once (alo; kf_verify --effects still counts one effect per
# key, so a duplicate there is a new key for an old record).
#
# Knobs: FL_MODE (eos), FL_RECORDS (30000), FL_SLEEP_MS (1), HF_DROP_MS
# (15000), HF_DROP_SHARE (0.3), and those of faults_lib.sh.
# fault-modes: eos alo
# fault-ci:
set -euo pipefail
FL_RECORDS=${FL_RECORDS:-30000}
FL_SLEEP_MS=${FL_SLEEP_MS:-1}
FL_WORKERS=${FL_WORKERS:-2}
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"
# shellcheck source=tests/faults/http_faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/http_faults_lib.sh"

hf_setup
# The receiver's choice of requests to drop follows the run's seed too.
FL_SEED=${FL_SEED:-$((($$ ^ $(date +%s)) % 32768))}
hf_scenario "http_apply_drop" "${HF_DROP_MS:-15000}" apply_drop \
	share="${HF_DROP_SHARE:-0.3}" seed="$FL_SEED"
fl_finish
