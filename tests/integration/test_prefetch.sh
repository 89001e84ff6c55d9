#!/usr/bin/env bash
# test_prefetch.sh — a small prefetch queue keeps fetching (consumer/prefetch.h).
# With queued.min.messages 1000 the consumer queue crosses librdkafka's
# threshold every thousand records; librdkafka 2.0.2 then stops fetching
# until its broker thread wakes, up to a second later. kfleet's nudger wakes
# it when the queue runs low with records left on the broker. A backlog of
# 60,000 records on 2 partitions must all reach the Redis sink exactly once,
# and kfleet_prefetch_nudges_total must show the nudger at work. The wall
# time is printed for the note (the bench measures speed; this asserts none).
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

N=60000
IT_IN=$(kf_unique prefetch.in)
IT_OUT=$(kf_unique prefetch.out)
IT_DLQ=$(kf_unique prefetch.dlq)
IT_GROUP=$(kf_unique prefetch.group)
IT_LIST="$IT_PREFIX:results"
export IT_IN IT_OUT IT_DLQ IT_GROUP IT_LIST
IT_METRICS_PORT=$(kf_free_port)

it_create_topic "$IT_IN" 2
it_produce -t "$IT_IN" -p 2 -n "$N" -k 100 --value-size 100
it_render scale.json "$KF_TMP/kfleet.json" -mappings.0.sinks.2 -mappings.0.sinks.1 \
	-mappings.0.on_failure mappings.0.batch.max_records=500 \
	'mappings.0.consumer={"session.timeout.ms": "6000", "queued.min.messages": "1000", "queued.max.messages.kbytes": "1024"}' \
	"metrics={\"listen\": \"127.0.0.1:$IT_METRICS_PORT\"}"

t0=$(date +%s%3N)
it_start_kfleet w1 "$KF_TMP/kfleet.json"
it_verify_until 180 "every record through a 1,000-record prefetch queue" --redis-list "$IT_LIST" \
	--expect "$N"
wall_ms=$(($(date +%s%3N) - t0))
nudges=$(it_metric kfleet_prefetch_nudges_total)
kf_log "all $N records in the sink after $wall_ms ms, ${nudges:-no} nudge(s)"
[[ -n $nudges ]] || it_fail "kfleet_prefetch_nudges_total is not exported"
((nudges >= 1)) || it_fail "the queue crossed librdkafka's threshold $((N / 1000)) times, yet no nudge"
it_stop_kfleet w1 30
it_verify_final "redis sink (final): exactly once" --redis-list "$IT_LIST" --expect "$N"
echo "prefetch records=$N wall_ms=$wall_ms nudges=$nudges"
kf_pass "$N records through a 1,000-record prefetch queue, $nudges nudge(s), in ${wall_ms} ms"
