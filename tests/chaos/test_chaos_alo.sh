#!/usr/bin/env bash
# test_chaos_alo.sh — the control for test_chaos_eos.sh: the same chaos
# (three workers SIGKILLed and restarted at random every 1-3 s, the state
# Redis SIGKILLed once and restarted) with "exactly_once": false, on fewer
# records and kills. At-least-once replays from the last committed offset
# after a SIGKILL, so the checker must see duplicates in at least one sink:
# this proves it can see a failure. Losses are still not allowed.
#
# For the HTTP sink a duplicate is a second 2xx request for an id (the
# receiver's Idempotency-Key dedupe would hide it, so effects are not used).
# Prints "<sink>: duplicates=D lost=L kills=K" per sink and "chaos: ...".
#
# Knobs: CHAOS_RECORDS (40000), CHAOS_KILLS (6), CHAOS_SEED, CHAOS_FINISH_S
# (150); see chaos_lib.sh.
set -euo pipefail
CHAOS_RECORDS=${CHAOS_RECORDS:-40000}
CHAOS_KILLS=${CHAOS_KILLS:-6}
# shellcheck source=tests/chaos/chaos_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/chaos_lib.sh"

ch_setup false
ch_produce_initial
ch_start_workers
ch_run_chaos
ch_wait_complete
ch_stop_workers
ch_log_summary

ch_verify_sink redis --redis-list "$CH_LIST"
ch_verify_sink kafka --kafka "$CH_OUT"
ch_verify_sink http --http-log "$IT_HTTP_LOG"
kf_log "http receiver: requests=$(ch_receiver_stats requests) effects=$(ch_receiver_stats effects) duplicate_keys=$(ch_receiver_stats duplicate_keys)"
echo "chaos: exactly_once=false records=$CH_RECORDS kills=$CH_KILLS_DONE kills_owning=$CH_KILLS_OWNING kills_flowing=$CH_KILLS_FLOWING redis_kills=$CH_REDIS_KILLS crashes=$CH_CRASHES seed=$CH_SEED seconds=$SECONDS"

((CH_CRASHES == 0)) || kf_fail "$CH_CRASHES worker(s) died without being killed (CRASH lines above)"
((CH_FAILED == 0)) || kf_fail "at-least-once lost records or a worker did not stop cleanly (lines above)"
((CH_DUP_TOTAL > 0)) ||
	kf_fail "no duplicate in any sink: SIGKILL with exactly_once false should replay; the checker saw nothing"
kf_pass "at-least-once under chaos: $CH_DUP_TOTAL duplicates seen, none lost, in ${SECONDS}s"
