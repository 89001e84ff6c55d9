#!/usr/bin/env bash
# test_redis_disk_full.sh — the state Redis's disk fills up, then space comes
# back. The test starts its own redis-server (appendonly yes, appendfsync
# everysec, noeviction) with its data dir on a size-limited tmpfs; two
# workers use it as the state Redis and the Redis sink, and the checker
# reads it too; 30,000 records arrive at 600/s through a 1 ms handler to
# Kafka, Redis and HTTP sinks. Once outputs flow, a ballast file fills the
# tmpfs: Redis's next AOF write fails with ENOSPC and from then on it
# refuses every write (and PING) with -MISCONF until a write succeeds again.
# After ~15 s the ballast is deleted; Redis retries the AOF write each
# second and accepts writes again.
#
# (With appendfsync always an AOF write error makes Redis exit instead: that
# is a crash, test_redis_kill.sh's fault.)
#
# What must hold: kfleet pauses while Redis refuses writes and resumes by
# itself, without spending the records' attempts (a refused write is not a
# handler failure: no record may reach the on-failure topic for it), the
# run drains, every worker exits 0 on SIGTERM, and the checker
# (faults_lib.sh) finds every record exactly once per sink (FL_MODE=eos) or
# at least once (alo), and exactly the poison records in the on-failure
# topic.
#
# Needs root (mount -t tmpfs). Knobs: FL_MODE (eos), FL_RECORDS (30000),
# FL_RATE (600 records/s), FL_WORKERS (2), FL_SLEEP_MS (1), FL_FULL_MS
# (15000), FL_TMPFS_MB (256), and those of faults_lib.sh.
# fault-modes: eos alo
# fault-ci: none
set -euo pipefail
FL_RECORDS=${FL_RECORDS:-30000}
FL_SLEEP_MS=${FL_SLEEP_MS:-1}
FL_WORKERS=${FL_WORKERS:-2}
RATE=${FL_RATE:-600}
FULL_MS=${FL_FULL_MS:-15000}
TMPFS_MB=${FL_TMPFS_MB:-256}
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"

# The broker of the environment (or scripts/infra.sh); the Redis is ours.
kf_require_infra
DATA=$KF_TMP/redis-data
mkdir -p "$DATA"
mount -t tmpfs -o "size=${TMPFS_MB}m,mode=0755" tmpfs "$DATA" ||
	kf_fail "cannot mount a ${TMPFS_MB} MB tmpfs on $DATA (this test needs root)"
# Registered before the Redis starts, so it runs after the Redis is killed.
kf_on_exit "umount '$DATA' 2>/dev/null || umount -l '$DATA'"
REDIS_PORT=$(kf_free_port)
kf_start diskredis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DATA" \
	--appendonly yes --appendfsync everysec --save "" --maxmemory-policy noeviction
KFLEET_REDIS=redis://127.0.0.1:$REDIS_PORT/0
KFLEET_REDIS_HOST=127.0.0.1
KFLEET_REDIS_PORT=$REDIS_PORT
FL_STATE_REDIS=$KFLEET_REDIS
export KFLEET_REDIS KFLEET_REDIS_HOST KFLEET_REDIS_PORT FL_STATE_REDIS
kf_wait_for 30 "our redis-server on port $REDIS_PORT to answer" kf_redis ping

aof_status() { kf_redis info persistence | sed -n 's/^aof_last_write_status:\([a-z]*\).*/\1/p'; }
aof_is() { [[ $(aof_status) == "$1" ]]; }
space() { df -k --output=used,avail "$DATA" | tail -1 | awk '{ printf "%d KB used, %d KB free", $1, $2 }'; }

fl_setup "redis_disk_full"
fl_produce --rate "$RATE"
fl_start_workers
want=$((FL_RECORDS - FL_RECORDS / FL_POISON))
fl_wait_until 90 "outputs flowing before the disk fills" fl_outputs_at_least $((want / 8))

before=$(fl_outputs)
# Fills the tmpfs: dd stops at ENOSPC.
dd if=/dev/zero of="$DATA/ballast" bs=1M 2>/dev/null || true
fl_note "the Redis data dir is full ($(space); outputs $before)"
kf_wait_for 30 "Redis to fail an AOF write" aof_is err
kf_log "redis: aof_last_write_status err; a write gets: $(kf_redis set "$IT_PREFIX:probe" 1 2>&1 | head -1)"
fl_hold "$FULL_MS" # the full disk: fault timing
during=$(fl_outputs)
rm -f "$DATA/ballast"
fl_note "ballast deleted ($(space); outputs $during, $((during - before)) more while full)"
kf_wait_for 30 "Redis to write its AOF again" aof_is ok
fl_wait_until 90 "progress after the disk full (outputs were $during)" \
	fl_outputs_at_least $((during + 500 < want ? during + 500 : want))
kf_log "after the disk full: outputs $(fl_outputs); $(grep -c MISCONF "$KF_TMP"/w*.log | tr '\n' ' ')MISCONF log lines"
fl_finish
