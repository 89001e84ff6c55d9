#!/usr/bin/env bash
# Validates docker-compose.yml without a Docker engine: Debian's docker-compose
# parses and resolves it (`config -q`), then the resolved YAML is checked for
# what `docker compose up --scale worker=N` and exactly-once need:
#   - worker: built from the Dockerfile, no container_name, no fixed host
#     port, depends_on with health/completion conditions, a healthcheck,
#     restart: unless-stopped, KFLEET_BROKERS / KFLEET_REDIS, and the config
#     file it mounts exists in the repo;
#   - redis: appendonly yes, noeviction, a healthcheck, a volume on /data;
#   - kafka: apache/kafka 4.x (the line the tests run by default), KRaft combined
#     roles, a healthcheck; topics: creates `orders` with 8 partitions;
#   - Dockerfile: multi-stage on debian:bookworm-slim, non-root user;
#   - profile `monitoring` (resolved with --profile monitoring): prometheus
#     (prom/prometheus) and grafana (grafana/grafana), each only in that
#     profile, mounting deploy/prometheus (its prometheus.yml naming job
#     kfleet and the alert rules) and deploy/grafana (provisioning and the
#     dashboard), every mounted path present in the repo.
# Negative controls: broken copies of the file (a container_name, a fixed
# worker port, AOF off, an old Kafka 3.8, Prometheus outside its profile,
# Grafana without the dashboards) must each be rejected, so this test cannot
# pass by checking nothing.
# Needs: docker-compose (1.29+) and python3-yaml (a dependency of it).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$KF_SOURCE_DIR"
command -v docker-compose >/dev/null || kf_fail "docker-compose not installed (scripts/setup.sh installs it)"
python3 -c 'import yaml' 2>/dev/null || kf_fail "python3-yaml missing (comes with docker-compose)"

COMPOSE=$KF_SOURCE_DIR/docker-compose.yml
[[ -f $COMPOSE ]] || kf_fail "no docker-compose.yml in $KF_SOURCE_DIR"

# The checker reads `docker-compose config` output on stdin; it prints one
# line per problem and exits 1 if there is any.
cat >"$KF_TMP/check.py" <<'EOF'
import os, re, sys, yaml

src = sys.argv[1]
doc = yaml.safe_load(sys.stdin)
problems = []
def bad(msg): problems.append(msg)

services = doc.get("services") or {}
for name in ("kafka", "redis", "topics", "worker"):
    if name not in services:
        bad(f"services.{name}: missing")
kafka = services.get("kafka", {})
redis = services.get("redis", {})
topics = services.get("topics", {})
worker = services.get("worker", {})

def words(cmd):
    """A command as a list of words, whether written as a list or a string."""
    if cmd is None:
        return []
    if isinstance(cmd, str):
        return cmd.split()
    return [str(w) for w in cmd]

def env(svc):
    e = svc.get("environment") or {}
    if isinstance(e, list):
        e = dict(x.split("=", 1) if "=" in x else (x, "") for x in e)
    return {k: str(v) for k, v in e.items()}

# --- worker: scalable ---------------------------------------------------
if "container_name" in worker:
    bad(f"services.worker.container_name: must be absent (got {worker['container_name']!r}); "
        "--scale worker=N needs generated names")
for p in worker.get("ports") or []:
    if isinstance(p, dict):
        fixed = p.get("published") not in (None, "", 0)
    else:
        # "[ip:]host:container[/proto]" publishes a fixed host port;
        # "container[/proto]" lets Docker pick one per replica.
        fixed = str(p).split("/")[0].count(":") >= 1
    if fixed:
        bad(f"services.worker.ports: fixed host port {p!r}; replicas would collide")
if "build" not in worker:
    bad("services.worker.build: missing (the worker image is built from the Dockerfile)")
if worker.get("restart") != "unless-stopped":
    bad(f"services.worker.restart: expected unless-stopped, got {worker.get('restart')!r}")
if not (worker.get("healthcheck") or {}).get("test"):
    bad("services.worker.healthcheck: missing")
deps = worker.get("depends_on") or {}
want = {"kafka": "service_healthy", "redis": "service_healthy",
        "topics": "service_completed_successfully"}
for dep, cond in want.items():
    got = deps.get(dep, {}).get("condition") if isinstance(deps, dict) else None
    if got != cond:
        bad(f"services.worker.depends_on.{dep}.condition: expected {cond}, got {got!r}")
wenv = env(worker)
for k in ("KFLEET_BROKERS", "KFLEET_REDIS"):
    if not wenv.get(k):
        bad(f"services.worker.environment.{k}: missing")
if "run" not in words(worker.get("command")) + words(worker.get("entrypoint")):
    bad("services.worker.command: expected `kfleet run -c FILE`")
for v in worker.get("volumes") or []:
    host = v.get("source") if isinstance(v, dict) else str(v).split(":")[0]
    if host and host.startswith("/") and not os.path.exists(host):
        bad(f"services.worker.volumes: {host} does not exist")

# --- redis: durable -----------------------------------------------------
rc = words(redis.get("command"))
def opt(ws, name):
    return ws[ws.index(name) + 1] if name in ws and ws.index(name) + 1 < len(ws) else None
if opt(rc, "--appendonly") != "yes":
    bad(f"services.redis.command: expected --appendonly yes, got {opt(rc, '--appendonly')!r}")
if opt(rc, "--maxmemory-policy") != "noeviction":
    bad("services.redis.command: expected --maxmemory-policy noeviction")
if not re.match(r"^redis:7", str(redis.get("image", ""))):
    bad(f"services.redis.image: expected redis:7, got {redis.get('image')!r}")
if not (redis.get("healthcheck") or {}).get("test"):
    bad("services.redis.healthcheck: missing")
rvols = [v.get("target") if isinstance(v, dict) else str(v).split(":")[1]
         for v in redis.get("volumes") or [] if isinstance(v, dict) or ":" in str(v)]
if "/data" not in rvols:
    bad("services.redis.volumes: no volume on /data (the AOF would die with the container)")

# --- kafka: 4.x KRaft ---------------------------------------------------
# The broker line scripts/infra.sh runs by default (README, "Broker versions").
for svc_name, svc in (("kafka", kafka), ("topics", topics)):
    img = str(svc.get("image", ""))
    if not re.match(r"^(docker\.io/)?apache/kafka:4\.\d+\.\d+$", img):
        bad(f"services.{svc_name}.image: expected apache/kafka:4.x, got {img!r}")
kenv = env(kafka)
roles = set(kenv.get("KAFKA_PROCESS_ROLES", "").split(","))
if roles != {"broker", "controller"}:
    bad(f"services.kafka.environment.KAFKA_PROCESS_ROLES: expected broker,controller, got {kenv.get('KAFKA_PROCESS_ROLES')!r}")
for k in ("KAFKA_NODE_ID", "KAFKA_CONTROLLER_QUORUM_VOTERS", "KAFKA_LISTENERS",
          "KAFKA_CONTROLLER_LISTENER_NAMES"):
    if not kenv.get(k):
        bad(f"services.kafka.environment.{k}: missing")
if kenv.get("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS") != "0":
    bad("services.kafka.environment.KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: expected 0")
for k in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
          "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"):
    if kenv.get(k) != "1":
        bad(f"services.kafka.environment.{k}: expected 1 on a single broker, got {kenv.get(k)!r}")
if not (kafka.get("healthcheck") or {}).get("test"):
    bad("services.kafka.healthcheck: missing")
tcmd = " ".join(words(topics.get("command")) + words(topics.get("entrypoint")))
if "orders:8" not in tcmd and not re.search(r"--topic\s+orders\s.*--partitions\s+8", tcmd):
    bad("services.topics.command: does not create `orders` with 8 partitions")
for t in ("orders.out", "orders.dlq"):
    if t not in tcmd:
        bad(f"services.topics.command: does not create {t}")

# --- profile monitoring: Prometheus and Grafana, off by default ---------
def mounts(svc):
    """(host source, container target) of each bind mount."""
    out = []
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            out.append((str(v.get("source", "")), str(v.get("target", ""))))
        else:
            parts = str(v).split(":")
            if len(parts) >= 2:
                out.append((parts[0], parts[1]))
    return out
want_mounts = {
    "prometheus": {"deploy/prometheus": "/etc/prometheus"},
    "grafana": {"deploy/grafana/provisioning": "/etc/grafana/provisioning",
                "deploy/grafana/dashboards": "/etc/grafana/dashboards/kfleet"},
}
images = {"prometheus": r"^(docker\.io/)?prom/prometheus:v?\d", "grafana": r"^(docker\.io/)?grafana/grafana:\d"}
for name, image in images.items():
    svc = services.get(name)
    if svc is None:
        bad(f"services.{name}: missing (profile monitoring)")
        continue
    if not re.match(image, str(svc.get("image", ""))):
        bad(f"services.{name}.image: expected a pinned {image}, got {svc.get('image')!r}")
    if list(svc.get("profiles") or []) != ["monitoring"]:
        bad(f"services.{name}.profiles: expected [monitoring] (off unless asked for), got {svc.get('profiles')!r}")
    got = mounts(svc)
    for host, target in got:
        if host.startswith("/") and not os.path.exists(host):
            bad(f"services.{name}.volumes: {host} does not exist")
    for rel, target in want_mounts[name].items():
        if (os.path.join(src, rel), target) not in got:
            bad(f"services.{name}.volumes: {rel} is not mounted on {target}")
prom_cfg = os.path.join(src, "deploy/prometheus/prometheus.yml")
if os.path.exists(prom_cfg):
    pc = yaml.safe_load(open(prom_cfg))
    jobs = [j.get("job_name") for j in pc.get("scrape_configs") or []]
    if "kfleet" not in jobs:
        bad(f"{prom_cfg}: no scrape job named kfleet (the alerts select job=\"kfleet\")")
    for rf in pc.get("rule_files") or []:
        if not os.path.exists(os.path.join(os.path.dirname(prom_cfg), rf)):
            bad(f"{prom_cfg}: rule file {rf} is not in deploy/prometheus")
    for j in pc.get("scrape_configs") or []:
        if j.get("job_name") == "kfleet":
            names = [n for d in j.get("dns_sd_configs") or [] for n in d.get("names") or []]
            if "worker" not in names:
                bad(f"{prom_cfg}: job kfleet does not discover the `worker` service's replicas")

for p in problems:
    print(p)
sys.exit(1 if problems else 0)
EOF

# check FILE — `config -q`, then the checker on the resolved YAML. Output in
# $KF_TMP/last.out.
check() {
	docker-compose -f "$1" --project-directory "$KF_SOURCE_DIR" config -q \
		>"$KF_TMP/last.out" 2>&1 || return 1
	docker-compose -f "$1" --project-directory "$KF_SOURCE_DIR" --profile monitoring config -q \
		>"$KF_TMP/last.out" 2>&1 || return 1
	docker-compose -f "$1" --project-directory "$KF_SOURCE_DIR" --profile monitoring config \
		2>"$KF_TMP/last.out" |
		python3 "$KF_TMP/check.py" "$KF_SOURCE_DIR" >>"$KF_TMP/last.out" 2>&1
}

kf_log "docker-compose -f docker-compose.yml config -q (and with --profile monitoring)"
docker-compose -f "$COMPOSE" config -q || kf_fail "docker-compose config -q rejects docker-compose.yml"
docker-compose -f "$COMPOSE" --profile monitoring config -q ||
	kf_fail "docker-compose --profile monitoring config -q rejects docker-compose.yml"

kf_log "checking the resolved configuration"
if ! check "$COMPOSE"; then
	cat "$KF_TMP/last.out" >&2
	kf_fail "docker-compose.yml does not meet the deployment contract"
fi

# Negative controls: each mutation must be caught by the checks above.
mutate() { # NAME PYTHON-STATEMENT (on `d`, the parsed file)
	python3 - "$COMPOSE" "$KF_TMP/$1.yml" "$2" <<'EOF'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
exec(sys.argv[3])
yaml.safe_dump(d, open(sys.argv[2], "w"), sort_keys=False)
EOF
	if check "$KF_TMP/$1.yml"; then
		kf_fail "negative control '$1' passed the checks; they check nothing"
	fi
	kf_log "negative control '$1' rejected: $(head -n 1 "$KF_TMP/last.out")"
}
mutate container_name 'd["services"]["worker"]["container_name"] = "kfleet-worker"'
mutate fixed_port 'd["services"]["worker"]["ports"] = ["9464:9464"]'
mutate aof_off 'c = d["services"]["redis"]["command"]; c[c.index("--appendonly") + 1] = "no"'
mutate kafka_old 'd["services"]["kafka"]["image"] = "apache/kafka:3.8.1"'
mutate no_condition 'd["services"]["worker"]["depends_on"] = ["kafka", "redis", "topics"]'
mutate prometheus_always 'del d["services"]["prometheus"]["profiles"]'
mutate grafana_no_dashboards 'd["services"]["grafana"]["volumes"] = [v for v in d["services"]["grafana"]["volumes"] if "dashboards" not in v]'

kf_log "checking the Dockerfile"
DF=$KF_SOURCE_DIR/Dockerfile
[[ -f $DF ]] || kf_fail "no Dockerfile"
n=$(grep -cE '^FROM[[:space:]]+debian:bookworm-slim' "$DF" || true)
((n >= 2)) || kf_fail "Dockerfile: expected a multi-stage build on debian:bookworm-slim (found $n FROM lines)"
grep -qE '^USER[[:space:]]+[^r0]' "$DF" || kf_fail "Dockerfile: the runtime stage must run as a non-root USER"
grep -qE '^ENTRYPOINT[[:space:]]+\["kfleet"\]' "$DF" || kf_fail 'Dockerfile: ENTRYPOINT ["kfleet"] missing'
[[ -f $KF_SOURCE_DIR/.dockerignore ]] || kf_fail "no .dockerignore (the build context would carry build/ and .infra/)"

kf_pass "docker-compose.yml and Dockerfile meet the deployment contract"
