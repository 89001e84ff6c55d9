#!/usr/bin/env bash
# The kfleet demo: installs what is missing, builds, and runs the main job on an
# embedded default. Kafka is librdkafka's in-process mock cluster (inside the
# kfleet process); Redis is a redis-server this script starts on a free
# loopback port and stops afterwards. Shows a live progress line and a summary.
#
#   scripts/demo.sh [--records N] [-c config/examples/demo.json]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

work=$(mktemp -d /tmp/kfleet-demo.XXXXXX)
redis_pid=
cleanup() {
    if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
    --logfile "$work/redis.log" &
redis_pid=$!
deadline=$((SECONDS + 20))
until redis-cli -p "$port" ping >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then echo "demo: redis-server did not start:"; tail -20 "$work/redis.log"; exit 1; fi
    sleep 0.1
done

export KFLEET_REDIS="redis://127.0.0.1:$port/0"
echo "demo: redis-server on 127.0.0.1:$port; Kafka is embedded in the kfleet process"
# Logs go to a file so the progress line stays readable; shown on failure.
if build/kfleet demo "$@" 2>"$work/kfleet.log"; then
    echo "demo: the Redis sink holds $(redis-cli -p "$port" llen demo:out) outputs (list demo:out)"
else
    rc=$?
    echo "demo: kfleet failed (exit $rc); last log lines:"
    tail -30 "$work/kfleet.log"
    exit $rc
fi
