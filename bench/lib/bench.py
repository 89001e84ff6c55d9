#!/usr/bin/env python3
"""bench/lib/bench.py - the measurements behind bench/run.sh (read bench/README.md).

bench/run.sh installs, builds and finds the infrastructure, then runs this with
the build dir and the mode. Everything here talks to real processes: kfleet,
raw_consume, kcat and the Kafka Streams peer are started as children, timed
from exec to the moment their last record is processed (visible in the sink
where there is one), and their CPU and peak RSS come from wait4(2).

Only the Python standard library: Redis is spoken in RESP over a socket, the
metrics endpoint through urllib, Kafka through the bench's C tools.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

# Counts per mode. Env KF_BENCH_<KEY> (upper case) overrides any of them.
MODES = {
    "full": dict(records=1_000_000, reps=3, lat_rate=10_000, lat_seconds=30, lat_warmup=2,
                 slow_records=10_000, slow_keys=1000, idle_seconds=2, scale_records=2_000_000),
    "quick": dict(records=200_000, reps=3, lat_rate=10_000, lat_seconds=10, lat_warmup=2,
                  slow_records=2_000, slow_keys=1000, idle_seconds=2, scale_records=1_000_000),
    "smoke": dict(records=20_000, reps=1, lat_rate=10_000, lat_seconds=2, lat_warmup=0.5,
                  slow_records=200, slow_keys=100, idle_seconds=1, scale_records=20_000),
}

THROUGHPUT = ["raw_consumer", "kcat", "kfleet_alo", "kfleet_eos_redis", "kfleet_eos_kafka",
              "kstreams_eos", "parallel_consumer"]
LATENCY = ["kfleet_eos_redis", "kfleet_eos_kafka", "kstreams_eos"]
ORDERINGS = ["partition", "key", "unordered"]
# Scale-out: 1, 2, 3 kfleet processes in one group on one topic with enough
# partitions for 3 members to get the same share.
SCALE_MEMBERS = [1, 2, 3]
SCALE_PARTITIONS = 6
PARTITIONS = 8
# kfleet's default concurrency.threads: the Parallel Consumer throughput peer
# gets as many workers as kfleet_alo (KF_BENCH_MAPPING's threads if it sets some).
KFLEET_DEFAULT_THREADS = 8
VALUE_SIZE = 100
KEYS = 100

# Client-level Redis commands: what costs a round trip (pipelined or not).
# The commands a script runs inside Redis are counted by INFO commandstats
# too, so they are reported apart ("commands per record").
CLIENT_CMDS = {"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro",
               "script|load", "script|exists", "script|flush", "select", "auth", "hello",
               "ping", "client|setname", "multi", "exec"}


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def now():
    return time.monotonic()


# ---------------------------------------------------------------- processes

class Proc:
    """A child process whose output lines are logged with the time they came.

    Lines go to <workdir>/<name>.log prefixed with seconds since exec; the
    first line matching each regex given to wait_line is remembered with
    its arrival time. reap() uses wait4 so CPU time and peak RSS are known.
    """

    def __init__(self, name, argv, workdir, cwd=None, stdout_path=None, env=None):
        self.name = name
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.logf = open(self.log_path, "w", encoding="utf-8", errors="replace")
        self.logf.write("$ " + " ".join(argv) + "\n")
        self.logf.flush()
        self.lines = []  # (t, text)
        self.cond = threading.Condition()
        self.rc = None
        self.rusage = None
        self.t_exit = None
        out = open(stdout_path, "wb") if stdout_path else subprocess.PIPE
        self.t0 = now()
        self.p = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, cwd=cwd, env=env)
        if stdout_path:
            out.close()
        self.pid = self.p.pid
        # ru_maxrss from wait4 is no use here: Linux carries the high-water
        # mark across exec, so every child would report at least the forked
        # Python's RSS. VmHWM belongs to the exec'd image: sample it.
        self.hwm_mb = None
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()
        self.readers = []
        for pipe in (self.p.stdout, self.p.stderr):
            if pipe is not None:
                t = threading.Thread(target=self._read, args=(pipe,), daemon=True)
                t.start()
                self.readers.append(t)

    def _sample(self):
        while self.rc is None:
            st = self.proc_status()
            if st and "VmHWM" in st:
                self.hwm_mb = max(self.hwm_mb or 0.0, st["VmHWM"])
            elif st is None:
                return
            time.sleep(0.02)

    def _read(self, pipe):
        for raw in iter(pipe.readline, b""):
            t = now()
            text = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                self.lines.append((t, text))
                self.logf.write(f"{t - self.t0:9.3f} {text}\n")
                self.cond.notify_all()
        pipe.close()

    def first_line(self, regex):
        """(time, match) of the first line matching regex, or (None, None)."""
        rx = re.compile(regex)
        with self.cond:
            for t, text in self.lines:
                m = rx.search(text)
                if m:
                    return t, m
        return None, None

    def wait_line(self, regex, timeout):
        """Waits for a line matching regex; (time, match) or (None, None) on
        timeout or when the process exits first."""
        deadline = now() + timeout
        while True:
            t, m = self.first_line(regex)
            if t is not None:
                return t, m
            if self.poll() is not None or now() > deadline:
                # One more look: the readers may still hold the last lines.
                for r in self.readers:
                    r.join(timeout=1)
                return self.first_line(regex)
            with self.cond:
                self.cond.wait(timeout=0.05)

    def poll(self):
        if self.rc is None:
            try:
                pid, status, ru = os.wait4(self.pid, os.WNOHANG)
            except ChildProcessError:
                return self.rc
            if pid == self.pid:
                self._exited(status, ru)
        return self.rc

    def _exited(self, status, ru):
        self.t_exit = now()
        self.rc = os.waitstatus_to_exitcode(status)
        self.rusage = ru
        self.p.returncode = self.rc  # Popen must not wait for it again

    def reap(self, timeout):
        deadline = now() + timeout
        while self.poll() is None:
            if now() > deadline:
                return None
            time.sleep(0.01)
        for r in self.readers:
            r.join(timeout=2)
        return self.rc

    def stop(self, timeout=60, sig=signal.SIGTERM):
        """Signals, waits; SIGKILL after timeout. Returns True if it stopped in time."""
        if self.poll() is not None:
            return True
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass
        if self.reap(timeout) is not None:
            return True
        log(f"{self.name} (pid {self.pid}) did not exit {timeout}s after {sig.name}: SIGKILL")
        os.kill(self.pid, signal.SIGKILL)
        self.reap(10)
        return False

    def proc_status(self):
        """VmHWM and VmRSS in MB from /proc/PID/status (None if gone)."""
        out = {}
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    k, _, v = line.partition(":")
                    if k in ("VmHWM", "VmRSS"):
                        out[k] = int(v.split()[0]) / 1024.0
        except OSError:
            return None
        return out

    def cpu_s(self):
        return self.rusage.ru_utime + self.rusage.ru_stime if self.rusage else None

    def peak_rss_mb(self):
        """Peak RSS of the exec'd program (VmHWM, sampled every 20 ms)."""
        st = self.proc_status()
        if st and "VmHWM" in st:
            self.hwm_mb = max(self.hwm_mb or 0.0, st["VmHWM"])
        return self.hwm_mb

    def tail(self, n=15):
        with self.cond:
            return [text for _, text in self.lines[-n:]]

    def close(self):
        self.poll()
        if self.rc is None:
            self.stop(timeout=10, sig=signal.SIGKILL)
        self.logf.close()


def run_tool(argv, timeout=600, check=True):
    """Runs a short helper to completion; returns its stdout."""
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.strip()[-600:]}")
    return r.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_ticks(pid):
    """utime + stime of a process in clock ticks (/proc/PID/stat), or None."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def machine_ticks():
    """(busy, total) clock ticks of every CPU together (/proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    total = sum(v[:8])  # guest time is already counted in user
    return total - v[3] - v[4], total


def broker_pid(brokers):
    """The pid of the Kafka broker at `brokers` (KF_BENCH_BROKER_PID, or the
    kafka.Kafka process whose server.properties listens on that port), or
    None: the broker's CPU figures are then missing, nothing else."""
    if os.environ.get("KF_BENCH_BROKER_PID"):
        return int(os.environ["KF_BENCH_BROKER_PID"])
    port = brokers.split(",")[0].rsplit(":", 1)[-1]
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"kafka.Kafka" not in argv:
            continue
        props = [a.decode() for a in argv if a.endswith(b".properties")]
        try:
            with open(props[-1]) as f:
                if re.search(rf":{port}\b", f.read()):
                    return int(d)
        except (OSError, IndexError):
            continue
    return None


def http_get(port, path, timeout=2.0):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except (urllib.error.URLError, OSError):
        return None, None


def metric(body, name):
    """Sum of a metric's samples in a Prometheus text body (None if absent)."""
    total, found = 0.0, False
    for line in body.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    return total if found else None


# -------------------------------------------------------------------- redis

class Redis:
    """Just enough RESP2 for the harness: one connection, one command at a time."""

    def __init__(self, url):
        m = re.match(r"redis://(?:([^:@/]*):?([^@/]*)@)?([^:/]+)(?::(\d+))?(?:/(\d+))?$", url)
        if not m:
            raise ValueError(f"cannot parse Redis URL {url}")
        user, password, host, port, db = m.groups()
        if user and not password:
            user, password = None, user
        self.sock = socket.create_connection((host, int(port or 6379)), timeout=30)
        self.f = self.sock.makefile("rb")
        if password:
            self.cmd("AUTH", *([user, password] if user else [password]))
        if db and db != "0":
            self.cmd("SELECT", db)

    def cmd(self, *args):
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        return self._reply()

    def _reply(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError("redis: " + rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError(f"redis: unexpected reply {line!r}")

    def info(self, section):
        out = {}
        for line in self.cmd("INFO", section).splitlines():
            k, sep, v = line.partition(":")
            if sep:
                out[k] = v.strip()
        return out

    def settle_aof(self, timeout=120):
        """Rewrites the AOF now and waits for the rewrite to end, so that
        the fork and write of a rewrite owed to earlier runs' writes does not
        land in the middle of the next measurement. Returns seconds waited."""
        t0 = now()
        if self.info("persistence").get("aof_enabled") != "1":
            return 0.0
        try:
            self.cmd("BGREWRITEAOF")
        except RuntimeError:
            pass  # one is already running or scheduled: wait for it
        while now() - t0 < timeout:
            st = self.info("persistence")
            if st.get("aof_rewrite_in_progress") == "0" and st.get("aof_rewrite_scheduled") == "0":
                break
            time.sleep(0.05)
        return now() - t0

    def commandstats(self):
        """{command: (calls, usec)} from INFO commandstats."""
        stats = {}
        for line in self.cmd("INFO", "commandstats").splitlines():
            m = re.match(r"cmdstat_([^:]+):calls=(\d+),usec=(\d+)", line)
            if m:
                stats[m.group(1)] = (int(m.group(2)), int(m.group(3)))
        return stats

    def delete_matching(self, pattern):
        cursor, n = "0", 0
        while True:
            cursor, keys = self.cmd("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            if keys:
                self.cmd("UNLINK", *keys)
                n += len(keys)
            if cursor == "0":
                return n


# ------------------------------------------------------------------- bench

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


class Bench:
    def __init__(self, a):
        self.a = a
        self.root = a.root
        self.build = a.build_dir
        self.tools = os.path.join(self.build, "tools")
        self.kfleet = os.path.join(self.build, "kfleet")
        self.brokers = os.environ["KFLEET_BROKERS"]
        self.redis_url = os.environ["KFLEET_REDIS"]
        self.p = dict(MODES[a.mode])
        for k in self.p:
            env = os.environ.get("KF_BENCH_" + k.upper())
            if env:
                self.p[k] = type(self.p[k])(float(env)) if "." in env else type(self.p[k])(int(env))
        # KF_BENCH_MAPPING: extra keys for every kfleet mapping (JSON object),
        # e.g. to try a tuning on all kfleet contenders without editing this.
        self.mapping = json.loads(os.environ.get("KF_BENCH_MAPPING") or "{}")
        self.lat_window_ms = int(os.environ.get("KF_BENCH_LAT_WINDOW_MS", "1"))
        # Extra keys for the kfleet mapping of the latency runs (JSON object,
        # merged one level deep), to try a tuning without editing the harness.
        self.lat_mapping = {"batch": {"window_ms": self.lat_window_ms}}
        for k, v in json.loads(os.environ.get("KF_BENCH_LAT_MAPPING") or "{}").items():
            if isinstance(v, dict) and isinstance(self.lat_mapping.get(k), dict):
                self.lat_mapping[k].update(v)
            else:
                self.lat_mapping[k] = v
        self.ks_threads = int(os.environ.get("KF_BENCH_KSTREAMS_THREADS", str(os.cpu_count() or 2)))
        self.run_id = f"kfbench-{time.strftime('%H%M%S')}-{os.getpid()}"
        self.work = a.work_dir or tempfile.mkdtemp(prefix="kfleet-bench.")
        os.makedirs(self.work, exist_ok=True)
        self.redis = Redis(self.redis_url)
        self.errors = []
        self.cold = []    # exec -> "running" log line, ms, every kfleet start
        self.ready = []   # exec -> /readyz 200, ms
        self.init_ms = {}  # handler name -> [kfleet_handler_init_seconds in ms]
        self.seq = 0
        self.only = set(a.only.split(",")) if a.only else None
        self.ks_cp = os.path.join(self.root, "bench/peers/kstreams/target/classes") + ":" + \
            os.path.join(self.root, "bench/peers/kstreams/target/lib/*")
        self.pc_cp = os.path.join(self.root, "bench/peers/parallel-consumer/target/classes") + ":" + \
            os.path.join(self.root, "bench/peers/parallel-consumer/target/lib/*")
        self.run_timeout = max(120.0, self.p["records"] / 2000.0)
        self.stall_s = 30.0 if a.mode == "smoke" else 60.0

    def wanted(self, name):
        return self.only is None or name in self.only

    def name(self, what):
        self.seq += 1
        return f"{self.run_id}.{self.seq:02d}.{what}"

    def fail(self, what, detail):
        msg = f"{what}: {detail}"
        log("FAILED " + msg)
        self.errors.append(msg)
        return msg

    # -- kafka chores (the bench's C tools) --

    def create_topic(self, topic, partitions=PARTITIONS):
        run_tool([f"{self.tools}/kf_produce", "-b", self.brokers, "-t", topic,
                  "-p", str(partitions), "--create-only", "-q"], timeout=120)

    def produce(self, topic, n, partitions=PARTITIONS, keys=KEYS):
        t = now()
        run_tool([f"{self.tools}/kf_produce", "-b", self.brokers, "-t", topic, "-n", str(n),
                  "-p", str(partitions), "-k", str(keys), "--value-size", str(VALUE_SIZE), "-q"],
                 timeout=1200)
        log(f"produced {n} records to {topic} ({partitions} partitions) in {now() - t:.1f}s")

    def count(self, topic):
        out = run_tool([f"{self.tools}/bench_kafka", "count", "-b", self.brokers, "-t", topic,
                        "--read-committed", "--timeout", "300"], timeout=330)
        return int(re.search(r"records=(\d+)", out).group(1))

    def delete_topics(self, prefix):
        run_tool([f"{self.tools}/bench_kafka", "delete", "-b", self.brokers, "--prefix", prefix],
                 timeout=120, check=False)

    def watcher(self, name, topic, group, n):
        return Proc(name, [f"{self.tools}/bench_kafka", "watch", "-b", self.brokers, "-t", topic,
                           "-g", group, "-n", str(n), "--interval-ms", "20",
                           "--timeout", str(int(self.run_timeout))], self.work)

    # -- kfleet --

    def kfleet_config(self, name, topic, group, port, exactly_once, sinks, handler="echo",
                      handler_config=None, extra=None):
        m = {
            "name": "bench",
            "topics": [topic],
            "group_id": group,
            "starting_position": "earliest",
            "handler": {"path": os.path.join(self.build, "handlers", f"{handler}.so")},
            "exactly_once": exactly_once,
            "sinks": sinks,
        }
        if handler_config is not None:
            m["handler"]["config"] = handler_config
        for more in (self.mapping, extra or {}):  # merged one level deep
            for k, v in more.items():
                if isinstance(v, dict) and isinstance(m.get(k), dict):
                    m[k] = dict(m[k], **v)
                else:
                    m[k] = v
        cfg = {
            "kafka": {"brokers": self.brokers},
            "redis": {"url": self.redis_url, "key_prefix": self.run_id},
            "metrics": {"listen": f"127.0.0.1:{port}"},
            "log": {"level": "info"},
            "mappings": [m],
        }
        path = os.path.join(self.work, f"{name}.json")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)
        return path

    def start_kfleet(self, name, cfg, handler="echo"):
        p = Proc(name, [self.kfleet, "run", "-c", cfg], self.work, cwd=self.root)
        p.handler = handler
        return p

    def kfleet_started(self, proc, port, timeout=60):
        """Waits for /readyz; records cold start (exec -> "running") and
        ready (exec -> partitions assigned). Returns True when ready."""
        deadline = now() + timeout
        t_ready = None
        while now() < deadline and proc.poll() is None:
            code, _ = http_get(port, "/readyz", timeout=1)
            if code == 200:
                t_ready = now()
                break
            time.sleep(0.005)
        t_run, _ = proc.first_line(r"running \d+ mapping")
        if t_run is not None:
            self.cold.append((t_run - proc.t0) * 1000)
        if t_ready is None:
            return False
        self.ready.append((t_ready - proc.t0) * 1000)
        _, body = http_get(port, "/metrics")
        v = metric(body or "", "kfleet_handler_init_seconds")
        if v is not None:
            self.init_ms.setdefault(proc.handler, []).append(v * 1000)
        return True

    def wait_done(self, proc, port, n, watch=None):
        """Polls /metrics until records_done_total >= n (or, with a watcher,
        until the watcher saw the offsets committed). Returns (t_done, None)
        or (None, error)."""
        deadline = now() + self.run_timeout
        last_done, last_change = -1, now()
        interval = 0.1 if watch else 0.01
        last_poll = 0.0
        body = ""

        def snapshot():
            vals = {k: metric(body or "", f"kfleet_{k}") for k in
                    ("records_in_total", "records_done_total", "inflight_records",
                     "commits_total", "commit_errors_total", "retries_total")}
            return ", ".join(f"{k}={int(v)}" for k, v in vals.items() if v is not None)
        while True:
            t = now()
            if proc.poll() is not None:
                return None, f"kfleet exited with status {proc.rc} (log {proc.log_path}): " + \
                    " | ".join(proc.tail(5))
            if watch is not None and watch.poll() is not None:
                t_line, _ = watch.wait_line(r"^watch: committed=", 2)  # joins its readers
                if watch.rc == 0 and t_line is not None:
                    return t_line, None
                return None, "offset watcher failed: " + " | ".join(watch.tail(3))
            if t - last_poll >= interval:
                last_poll = t
                _, got = http_get(port, "/metrics")
                if got:
                    body = got
                    done = metric(body, "kfleet_records_done_total") or 0
                    if watch is None and done >= n:
                        return now(), None
                    if done != last_done:
                        last_done, last_change = done, t
                    elif t - last_change > self.stall_s:
                        return None, (f"stalled: no record done for {self.stall_s:.0f}s, "
                                      f"{int(done)} of {n} done ({snapshot()}); "
                                      f"log {proc.log_path}")
            if t > deadline:
                return None, (f"not done after {self.run_timeout:.0f}s: {int(last_done)} of {n} "
                              f"done ({snapshot()}); log {proc.log_path}")
            time.sleep(0.005)

    def redis_stats_reset(self):
        self.redis.cmd("CONFIG", "RESETSTAT")

    def redis_stats(self, n):
        # A script's usec includes the commands it calls, so Redis's time is
        # the client-level commands' usec; the inner ones show where it goes.
        st = self.redis.commandstats()
        client = sum(c for k, (c, _) in st.items() if k in CLIENT_CMDS)
        client_us = sum(u for k, (_, u) in st.items() if k in CLIENT_CMDS)
        inner = sum(c for k, (c, _) in st.items()
                    if k not in CLIENT_CMDS and not k.startswith(("info", "config")))
        top = sorted(st.items(), key=lambda kv: -kv[1][1])[:8]
        return {"redis_calls_per_record": client / n, "redis_commands_per_record": (client + inner) / n,
                "redis_us_per_record": round(client_us / n, 4),
                "redis_top": {k: {"calls": c, "us_per_record": round(u / n, 4)}
                              for k, (c, u) in top}}

    def redis_cleanup(self, *keys):
        for k in keys:
            self.redis.cmd("UNLINK", k)
        self.redis.delete_matching(f"*{self.run_id}*")

    # -- throughput --

    def throughput_run(self, who, topic, rep):
        n = self.p["records"]
        r = {"ok": False}
        tag = f"tp{rep}.{who}"
        if who == "raw_consumer":
            p = Proc(tag, [f"{self.tools}/raw_consume", "-b", self.brokers, "-t", topic, "-n", str(n),
                           "-g", self.name("raw"), "--timeout", str(int(self.run_timeout))],
                     self.work)
            t_done, m = p.wait_line(r"raw_consume: done records=(\d+)", self.run_timeout + 10)
            p.reap(30)
            if t_done is None or int(m.group(1)) != n:
                r["error"] = f"raw_consume failed (status {p.rc}): " + " | ".join(p.tail(3))
            else:
                r.update(ok=True, seconds=t_done - p.t0)
        elif who == "kcat":
            out = os.path.join(self.work, f"{tag}.out")
            p = Proc(tag, ["kcat", "-C", "-b", self.brokers, "-t", topic, "-o", "beginning", "-e",
                           "-q", "-f", "."], self.work, stdout_path=out)
            if p.reap(self.run_timeout) is None:
                p.stop(5, signal.SIGKILL)
            got = os.path.getsize(out)
            os.unlink(out)
            if p.rc != 0 or got != n:
                r["error"] = f"kcat exited {p.rc} after {got} of {n} records"
            else:
                r.update(ok=True, seconds=p.t_exit - p.t0)
        elif who.startswith("kfleet_"):
            return self.kfleet_throughput(who, topic, tag)
        elif who == "kstreams_eos":
            return self.kstreams_throughput(topic, tag)
        elif who == "parallel_consumer":
            return self.pc_run(tag, topic, n, "KEY", self.pc_threads())
        self.finish_run(r, p, n)
        p.close()
        return r

    def finish_run(self, r, p, n):
        r["cpu_s_per_million"] = p.cpu_s() / n * 1e6 if p.cpu_s() is not None else None
        r["peak_rss_mb"] = p.peak_rss_mb()
        if r.get("ok"):
            r["records_per_s"] = n / r["seconds"]

    def kfleet_throughput(self, who, topic, tag):
        n = self.p["records"]
        port = free_port()
        group = self.name(who)
        out_topic = self.name(who + ".out")
        out_list = f"{self.run_id}:{who}:out"
        if who == "kfleet_alo":
            eos, sinks = False, [{"name": "out", "type": "null"}]
        elif who == "kfleet_eos_redis":
            eos, sinks = True, [{"name": "out", "type": "redis", "command": "RPUSH",
                                 "key": out_list}]
        else:
            eos, sinks = True, [{"name": "out", "type": "kafka", "topic": out_topic}]
            self.create_topic(out_topic)
        cfg = self.kfleet_config(tag, topic, group, port, eos, sinks)
        if eos:
            self.redis_stats_reset()
        watch = self.watcher(tag + ".watch", topic, group, n) if who == "kfleet_eos_kafka" else None
        p = self.start_kfleet(tag, cfg)
        r = {"ok": False}
        if not self.kfleet_started(p, port):
            r["error"] = f"kfleet not ready in 60s (status {p.poll()}): " + " | ".join(p.tail(3))
        else:
            t_done, err = self.wait_done(p, port, n, watch)
            if err:
                r["error"] = err
            else:
                r.update(ok=True, seconds=t_done - p.t0)
            st = p.proc_status()
            if st:
                r["rss_hwm_mb"] = st["VmHWM"]
        t_term = now()
        if not p.stop(60):
            # The figures of a run that finished stay valid; the hang is
            # reported as a failure of its own.
            r["stop_error"] = ("kfleet did not exit within 60s of SIGTERM (SIGKILLed); "
                               "last lines: " + " | ".join(p.tail(2)))
        else:
            r["stop_s"] = now() - t_term
        if watch:
            watch.close()
        self.finish_run(r, p, n)
        if eos:
            r.update(self.redis_stats(n))
        if r["ok"] and who == "kfleet_eos_redis":
            got = self.redis.cmd("LLEN", out_list)
            if got != n:
                r.update(ok=False, error=f"redis sink holds {got} records, expected {n}")
        if r["ok"] and who == "kfleet_eos_kafka":
            got = self.count(out_topic)
            if got != n:
                r.update(ok=False, error=f"kafka sink holds {got} committed records, expected {n}")
        if eos:
            self.redis_cleanup(out_list)
        if who == "kfleet_eos_kafka":
            self.delete_topics(out_topic)
        p.close()
        return r

    def start_kstreams(self, tag, topic, out_topic, app):
        state = os.path.join(self.work, "kstreams-state")
        return Proc(tag, ["java", "-cp", self.ks_cp, "dev.kfleet.bench.KStreamsPeer",
                          "--brokers", self.brokers, "--in", topic, "--out", out_topic,
                          "--app-id", app, "--threads", str(self.ks_threads),
                          "--state-dir", state], self.work)

    def kstreams_throughput(self, topic, tag):
        n = self.p["records"]
        app = self.name("kstreams")
        out_topic = self.name("kstreams.out")
        self.create_topic(out_topic)
        watch = self.watcher(tag + ".watch", topic, app, n)
        p = self.start_kstreams(tag, topic, out_topic, app)
        r = {"ok": False}
        while True:
            if watch.poll() is not None:
                t_line, _ = watch.wait_line(r"^watch: committed=", 2)  # joins its readers
                if watch.rc == 0 and t_line is not None:
                    r.update(ok=True, seconds=t_line - p.t0)
                else:
                    r["error"] = "offset watcher failed: " + " | ".join(watch.tail(3))
                break
            if p.poll() is not None:
                r["error"] = f"kstreams exited {p.rc}: " + " | ".join(p.tail(4))
                break
            time.sleep(0.01)
        t_run, _ = p.first_line(r"kstreams: state RUNNING")
        if t_run is not None:
            r["ready_ms"] = (t_run - p.t0) * 1000
        p.stop(60)
        watch.close()
        self.finish_run(r, p, n)
        if r["ok"]:
            got = self.count(out_topic)
            if got != n:
                r.update(ok=False, error=f"output topic holds {got} committed records, expected {n}")
        self.delete_topics(out_topic)
        p.close()
        return r

    # -- Confluent Parallel Consumer (bench/peers/parallel-consumer) --

    def pc_threads(self):
        return int((self.mapping.get("concurrency") or {}).get("threads", KFLEET_DEFAULT_THREADS))

    def pc_run(self, tag, topic, n, ordering, concurrency, sleep_ms=0):
        """Runs the Parallel Consumer peer over the n records of topic in a
        fresh group: timed from exec to its "pc: done records=n" line (its
        handler returned for the n-th record), like raw_consume. Then it
        drains and closes, which commits, and the group's committed offsets
        must add up to n: PC saw every record done, not n calls by chance."""
        group = self.name("pc")
        p = Proc(tag, ["java", "-cp", self.pc_cp, "dev.kfleet.bench.ParallelConsumerPeer",
                       "--brokers", self.brokers, "--topic", topic, "--group", group,
                       "--records", str(n), "--ordering", ordering,
                       "--concurrency", str(concurrency), "--sleep-ms", str(sleep_ms)],
                 self.work)
        r = {"ok": False}
        t_done, m = p.wait_line(r"^pc: (done records=\d+|error.*)$", self.run_timeout)
        t_asg, _ = p.first_line(r"^pc: assigned")
        if t_asg is not None:
            r["ready_ms"] = (t_asg - p.t0) * 1000
        if t_done is None or not m.group(1).startswith("done"):
            r["error"] = (f"parallel consumer did not finish in {self.run_timeout:.0f}s "
                          f"(status {p.poll()}; log {p.log_path}): " + " | ".join(p.tail(4)))
            p.stop(30)
        else:
            r["seconds"] = t_done - p.t0
            if p.reap(90) is None:
                p.stop(10)
                r["error"] = "parallel consumer did not close within 90s of its last record"
            elif p.rc != 0:
                r["error"] = f"parallel consumer exited {p.rc}: " + " | ".join(p.tail(4))
            else:
                _, mc = p.first_line(r"^pc: closed handled=(\d+)")
                handled = int(mc.group(1)) if mc else None
                r["handled"] = handled
                watch = self.watcher(tag + ".watch", topic, group, n)
                watch.reap(self.run_timeout + 10)
                _, mw = watch.first_line(r"^watch: committed=(\d+)")
                committed = int(mw.group(1)) if mw else None
                watch.close()
                if committed != n:
                    r["error"] = (f"after close the group committed {committed} of {n} records: "
                                  + " | ".join(watch.tail(2)))
                elif handled is None or handled < n:
                    r["error"] = f"the handler ran {handled} times for {n} records"
                else:
                    r["ok"] = True
                    # At-least-once may redeliver; a fresh group that never
                    # rebalances should not, so any is reported.
                    r["duplicates"] = handled - n
        self.finish_run(r, p, n)
        p.close()
        return r

    def pc_slow(self, topic, n, threads):
        """The slow-handler run of the Parallel Consumer: KEY ordering, 5 ms
        sleep per record, maxConcurrency = kfleet's threads."""
        r = self.pc_run("slow.pc_key", topic, n, "KEY", threads, sleep_ms=5)
        out = {"ordering": "KEY", "concurrency": threads, "sleep_ms": 5,
               "wall_s": r.get("seconds") if r["ok"] else None,
               "records_per_s": r.get("records_per_s"),
               # Wall minus exec-to-assigned (JVM start, group join): the
               # processing alone, for reading small counts.
               "after_ready_s": (r["seconds"] - r["ready_ms"] / 1000
                                 if r["ok"] and r.get("ready_ms") is not None else None),
               "cpu_s_per_million": r.get("cpu_s_per_million"),
               "peak_rss_mb": r.get("peak_rss_mb"), "ready_ms": r.get("ready_ms")}
        if r["ok"]:
            log(f"slow handler pc_slow_key: {r['seconds']:.2f}s ({r['records_per_s']:,.0f} records/s)")
        else:
            out["errors"] = [self.fail("slow handler pc_slow_key", r.get("error"))]
        return out

    def throughput(self):
        who = [w for w in THROUGHPUT if self.wanted(w)]
        if not who:
            return {}
        topic = self.name("tp.in")
        self.produce(topic, self.p["records"])
        runs = {w: [] for w in who}
        for rep in range(self.p["reps"]):
            for w in who:
                r = self.throughput_run(w, topic, rep)
                runs[w].append(r)
                if r.get("stop_error"):
                    self.fail(f"throughput {w} run {rep + 1}", r["stop_error"])
                if r["ok"]:
                    log(f"throughput {w} run {rep + 1}: {r['records_per_s']:,.0f} records/s "
                        f"({r['seconds']:.2f}s, cpu {r['cpu_s_per_million'] or 0:.2f}s/M, "
                        f"rss {r['peak_rss_mb'] or 0:.0f} MB)")
                else:
                    self.fail(f"throughput {w} run {rep + 1}", r.get("error"))
        self.delete_topics(topic)
        out = {}
        for w, rs in runs.items():
            ok = [r for r in rs if r["ok"]]
            res = {"records_per_s": median([r["records_per_s"] for r in ok]),
                   "runs_records_per_s": [round(r["records_per_s"]) if r["ok"] else None for r in rs],
                   "cpu_s_per_million": median([r.get("cpu_s_per_million") for r in ok]),
                   "peak_rss_mb": median([r.get("peak_rss_mb") for r in ok])}
            if w.startswith("kfleet_eos"):
                res["redis_calls_per_record"] = median([r.get("redis_calls_per_record") for r in rs])
                res["redis_commands_per_record"] = median(
                    [r.get("redis_commands_per_record") for r in rs])
                res["redis_us_per_record"] = median([r.get("redis_us_per_record") for r in rs])
                tops = [r.get("redis_top") for r in ok if r.get("redis_top")]
                if tops:
                    res["redis_top"] = tops[-1]
            if w == "kstreams_eos":
                res["ready_ms"] = median([r.get("ready_ms") for r in rs])
            if w == "parallel_consumer":
                res.update(ordering="KEY", concurrency=self.pc_threads(),
                           ready_ms=median([r.get("ready_ms") for r in rs]))
            errs = [r["error"] for r in rs if not r["ok"]] + \
                [r["stop_error"] for r in rs if r.get("stop_error")]
            if errs:
                res["errors"] = errs
            out[w] = res
        return out

    # -- latency --

    def latency_run(self, who):
        p_ = self.p
        topic = self.name(f"lat.{who}.in")
        out_topic = self.name(f"lat.{who}.out")
        out_list = f"{self.run_id}:lat:{who}"
        group = self.name(f"lat.{who}")
        self.create_topic(topic)
        tag = f"lat.{who}"
        lat_argv = [f"{self.tools}/bench_latency", "-b", self.brokers, "-t", topic,
                    "--rate", str(p_["lat_rate"]), "--seconds", str(p_["lat_seconds"]),
                    "--warmup-seconds", str(p_["lat_warmup"]), "--value-size", str(VALUE_SIZE),
                    "--drain-timeout", "30"]
        res = {"ok": False}
        if who == "kstreams_eos":
            self.create_topic(out_topic)
            p = self.start_kstreams(tag, topic, out_topic, group)
            t, _ = p.wait_line(r"kstreams: state RUNNING", 120)
            ready = t is not None
            lat_argv += ["--kafka", out_topic]
        else:
            port = free_port()
            if who == "kfleet_eos_redis":
                sinks = [{"name": "out", "type": "redis", "command": "RPUSH", "key": out_list}]
                lat_argv += ["--redis-list", out_list, "--redis", self.redis_url]
            else:
                self.create_topic(out_topic)
                sinks = [{"name": "out", "type": "kafka", "topic": out_topic}]
                lat_argv += ["--kafka", out_topic]
            cfg = self.kfleet_config(tag, topic, group, port, True, sinks,
                                     extra=self.lat_mapping)
            p = self.start_kfleet(tag, cfg)
            ready = self.kfleet_started(p, port)
        if not ready:
            res["error"] = f"{who} not ready (status {p.poll()}): " + " | ".join(p.tail(4))
        else:
            res.update(self.latency_probe(tag + ".probe", lat_argv, "latency probe"))
            if "missing" in res and not res["ok"]:
                res["error"] += f"; {who} alive: {p.poll() is None}"
        if not p.stop(60):
            res.setdefault("error", f"{who} did not stop within 60s of SIGTERM")
        p.close()
        self.delete_topics(topic)
        self.delete_topics(out_topic)
        self.redis_cleanup(out_list)
        return res

    def latency_floor_run(self):
        """The probe's own floor: bench_latency --floor produces at the same
        rate and reads the same topic back with the Kafka reader the sinks
        use (same clock, same percentiles): produce -> broker -> consume,
        no kfleet, no handler, no sink."""
        p_ = self.p
        topic = self.name("lat.floor.in")
        self.create_topic(topic)
        argv = [f"{self.tools}/bench_latency", "-b", self.brokers, "-t", topic, "--floor",
                "--rate", str(p_["lat_rate"]), "--seconds", str(p_["lat_seconds"]),
                "--warmup-seconds", str(p_["lat_warmup"]), "--value-size", str(VALUE_SIZE),
                "--drain-timeout", "30"]
        res = self.latency_probe("lat.floor.probe", argv, "floor probe")
        self.delete_topics(topic)
        return res

    def latency_probe(self, tag, argv, what):
        """Runs one bench_latency (killed when it overruns the run's length
        by 120 s) and returns its JSON line as a result: ok when it exited 0,
        else an error naming what it saw or how it ended."""
        p_ = self.p
        probe = Proc(tag, argv, self.work)
        res = {"ok": False}
        if probe.reap(p_["lat_seconds"] + p_["lat_warmup"] + 120) is None:
            probe.stop(5, signal.SIGKILL)
        _, m = probe.first_line(r"^\{.*\}$")
        if m is None:
            res["error"] = f"{what} exited {probe.rc}: " + " | ".join(probe.tail(3))
        else:
            res.update(json.loads(m.group(0)))
            res["ok"] = probe.rc == 0
            if not res["ok"]:
                res["error"] = (f"{what} saw missing={res['missing']} "
                                f"duplicates={res['duplicates']} (status {probe.rc})")
        probe.close()
        return res

    def latency(self):
        out = {}
        if any(self.wanted(w) for w in LATENCY):
            # First, in the same run: what the probe measures with no kfleet.
            waited = self.redis.settle_aof()
            log(f"latency floor: Redis AOF rewritten first ({waited:.1f}s)")
            r = self.latency_floor_run()
            if r["ok"]:
                log(f"latency floor (Kafka alone): p50 {r['p50_ms']:.1f} ms, "
                    f"p99 {r['p99_ms']:.1f} ms, p99.9 {r['p999_ms']:.1f} ms")
            else:
                self.fail("latency floor", r.get("error"))
            out["floor"] = r
        for w in LATENCY:
            if not self.wanted(w):
                continue
            waited = self.redis.settle_aof()
            log(f"latency {w}: Redis AOF rewritten first ({waited:.1f}s)")
            r = self.latency_run(w)
            if r["ok"]:
                log(f"latency {w}: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                    f"p99.9 {r['p999_ms']:.1f} ms")
            else:
                self.fail(f"latency {w}", r.get("error"))
            out[w] = r
        return out

    # -- scale-out --

    def scale_run(self, topic, n_members, rep):
        """n_members kfleet_alo processes (echo, null sink) in one fresh group
        on a fresh topic, whose N records wait in ONE open transaction
        (kf_produce --commit-on-usr1) while the members start and the group
        forms: the members read with isolation.level=read_committed, so they
        see nothing until the commit, then everything at once and together.
        Timed from the commit signal to the members' records_done_total
        adding up to N; then stopped, and the group's committed offsets must
        add up to N. CPU over that window from /proc/<pid>/stat: each member,
        the broker, the machine."""
        n = self.p["scale_records"]
        group = self.name(f"scale{n_members}")
        tag = f"scale{rep}.{n_members}"
        r = {"ok": False, "members": n_members}
        broker = broker_pid(self.brokers)
        gate = Proc(f"{tag}.produce",
                    [f"{self.tools}/kf_produce", "-b", self.brokers, "-t", topic, "-n", str(n),
                     "-p", str(SCALE_PARTITIONS), "-k", str(KEYS), "--value-size", str(VALUE_SIZE),
                     "-q", "--commit-on-usr1", "-X", f"transactional.id={topic}",
                     "-X", "transaction.timeout.ms=300000"], self.work)
        procs, ports = [], []
        for i in range(n_members):
            port = free_port()
            cfg = self.kfleet_config(f"{tag}.{i}", topic, group, port, False,
                                     [{"name": "out", "type": "null"}],
                                     extra={"consumer": {"isolation.level": "read_committed"}})
            procs.append(self.start_kfleet(f"{tag}.{i}", cfg))
            ports.append(port)
        t_exec = procs[0].t0
        err = None

        def scrape():
            bodies = [http_get(port, "/metrics")[1] or "" for port in ports]
            done = sum(metric(b, "kfleet_records_done_total") or 0 for b in bodies)
            return done, [metric(b, "kfleet_assigned_partitions") or 0 for b in bodies]

        def dead():
            d = [p for p in procs if p.poll() is not None]
            return f"{d[0].name} exited with status {d[0].rc}: " + " | ".join(d[0].tail(4)) if d else None

        # 1. the group formed (every member holds partitions, all of them
        # assigned) and the records wait in the transaction.
        t_joined = None
        timeout = max(self.run_timeout, n / 2000.0)
        deadline = now() + timeout
        while err is None:
            err = dead()
            if err:
                break
            if gate.poll() is not None:
                err = f"kf_produce exited {gate.rc} before the commit: " + " | ".join(gate.tail(3))
                break
            done, assigned = scrape()
            if t_joined is None and all(a > 0 for a in assigned) and \
                    sum(assigned) == SCALE_PARTITIONS:
                t_joined = now()
            if done:
                err = f"{int(done)} records done before the commit (read_uncommitted?)"
            elif t_joined is not None and gate.first_line(r"^holding a transaction")[0]:
                break
            if now() > deadline:
                err = f"group not formed or records not produced in {timeout:.0f}s " \
                      f"(partitions per member {assigned})"
            time.sleep(0.02)
        # 2. commit: every record becomes visible to every member at once.
        t_done = None
        if err is None:
            r["join_ms"] = (t_joined - t_exec) * 1000
            m0, b0 = machine_ticks(), proc_ticks(broker)
            member0 = [proc_ticks(p.pid) for p in procs]
            t0 = now()
            os.kill(gate.pid, signal.SIGUSR1)
            deadline = t0 + timeout
            last, last_change = -1, t0
            while err is None:
                t = now()
                err = dead()
                if err:
                    break
                done, assigned = scrape()
                if done >= n:
                    t_done = now()
                    break
                if done != last:
                    last, last_change = done, t
                elif t - last_change > self.stall_s:
                    err = f"stalled: {int(done)} of {n} done, partitions per member {assigned}"
                if t > deadline:
                    err = f"not done after {timeout:.0f}s: {int(done)} of {n} done"
                time.sleep(0.01)
            t_win = now()
            m1, b1 = machine_ticks(), proc_ticks(broker)
            member1 = [proc_ticks(p.pid) for p in procs]
            done_final, _ = scrape()
        if t_done is None and gate.poll() is None:
            gate.stop(5)  # never committed: SIGTERM aborts it
        elif gate.reap(60) is None:
            gate.stop(5, signal.SIGKILL)
        if err is None and (gate.rc != 0 or not gate.first_line(r"^committed:")[0]):
            err = f"kf_produce did not commit (status {gate.rc}): " + " | ".join(gate.tail(3))
        gate.close()
        stopped = [p.stop(60) for p in procs]
        if err is None and not all(stopped):
            err = "a member did not exit within 60s of SIGTERM"
        if err is None:
            # Every record processed: the members commit on their way out, so
            # the group's committed offsets must now cover the whole topic.
            w = Proc(f"{tag}.watch",
                     [f"{self.tools}/bench_kafka", "watch", "-b", self.brokers, "-t", topic,
                      "-g", group, "-n", str(n), "--interval-ms", "50", "--timeout", "30"],
                     self.work)
            w.reap(45)
            if w.rc != 0:
                err = "committed offsets do not cover every record: " + " | ".join(w.tail(2))
            w.close()
        if err is None:
            tick = os.sysconf("SC_CLK_TCK")
            win = t_win - t0
            r.update(ok=True, seconds=t_done - t0, records_per_s=n / (t_done - t0),
                     redelivered=int(done_final - n))
            mt = [None if a is None or b is None else b - a for a, b in zip(member0, member1)]
            r["member_cpu_pct"] = [None if t is None else 100.0 * t / tick / win for t in mt]
            if all(t is not None for t in mt):
                r["cpu_s_per_million"] = sum(mt) / tick / n * 1e6
            if b0 is not None and b1 is not None:
                r["broker_cpu_s_per_million"] = (b1 - b0) / tick / n * 1e6
                r["broker_cpu_pct"] = 100.0 * (b1 - b0) / tick / win
            if m0 and m1:
                busy, total = m1[0] - m0[0], m1[1] - m0[1]
                r["machine_busy_pct"] = 100.0 * busy / total if total else None
        else:
            r["error"] = err + f" (logs {self.work}/{tag}.*.log)"
        r["peak_rss_mb"] = max((p.peak_rss_mb() or 0) for p in procs)
        for p in procs:
            p.close()
        self.delete_topics(topic)
        return r

    def scale_out(self):
        if not self.wanted("scale_out"):
            return None
        n = self.p["scale_records"]
        # One fresh topic per run (its records become visible at the commit),
        # all created first so none is used the moment it was created.
        topics = {}
        for rep in range(self.p["reps"]):
            for k in SCALE_MEMBERS:
                topics[rep, k] = self.name(f"scale.{rep}.{k}.in")
                self.create_topic(topics[rep, k], SCALE_PARTITIONS)
        runs = {k: [] for k in SCALE_MEMBERS}
        for rep in range(self.p["reps"]):
            for k in SCALE_MEMBERS:
                r = self.scale_run(topics[rep, k], k, rep)
                runs[k].append(r)
                if r["ok"]:
                    log(f"scale-out {k} process(es) run {rep + 1}: {r['records_per_s']:,.0f} "
                        f"records/s ({r['seconds']:.2f}s; group formed {r['join_ms']:.0f} ms after "
                        f"exec; kfleet cpu {r.get('cpu_s_per_million') or 0:.2f}s/M, members "
                        f"{[round(x or 0) for x in r['member_cpu_pct']]}%, broker "
                        f"{r.get('broker_cpu_pct') or 0:.0f}% "
                        f"({r.get('broker_cpu_s_per_million') or 0:.2f}s/M), machine busy "
                        f"{r.get('machine_busy_pct') or 0:.0f}%)")
                else:
                    self.fail(f"scale-out {k} process(es) run {rep + 1}", r.get("error"))
        out = {"records": n, "partitions": SCALE_PARTITIONS, "members": {}}
        for k, rs in runs.items():
            ok = [r for r in rs if r["ok"]]
            m = {"records_per_s": median([r["records_per_s"] for r in ok]),
                 "runs_records_per_s": [round(r["records_per_s"]) if r["ok"] else None for r in rs]}
            for f in ("join_ms", "cpu_s_per_million", "broker_cpu_s_per_million",
                      "broker_cpu_pct", "machine_busy_pct", "peak_rss_mb", "redelivered"):
                m[f] = median([r.get(f) for r in ok])
            # Per member, the median over the runs of each member's CPU %.
            per = [r["member_cpu_pct"] for r in ok]
            m["member_cpu_pct"] = [median([x[i] for x in per]) for i in range(k)] if per else None
            if m["records_per_s"] is not None:
                m["records_per_s"] = round(m["records_per_s"])
            errs = [r["error"] for r in rs if not r["ok"]]
            if errs:
                m["errors"] = errs
            out["members"][str(k)] = m
        one = out["members"]["1"].get("records_per_s")
        for k in SCALE_MEMBERS:
            out["members"][str(k)]["vs_one"] = ratio(out["members"][str(k)].get("records_per_s"), one)
        return out

    # -- slow handler --

    def slow(self):
        kf, pc = self.wanted("slow_handler"), self.wanted("pc_slow_key")
        if not (kf or pc):
            return None
        n, keys = self.p["slow_records"], self.p["slow_keys"]
        topic = self.name("slow.in")
        self.produce(topic, n, partitions=1, keys=keys)
        out = {"records": n, "keys": keys, "sleep_ms": 5, "threads": 64}
        for order in ORDERINGS if kf else []:
            port = free_port()
            tag = f"slow.{order}"
            cfg = self.kfleet_config(tag, topic, self.name(f"slow.{order}"), port, False,
                                     [{"name": "out", "type": "null"}], handler="flaky",
                                     handler_config={"sleep_ms": 5},
                                     extra={"ordering": order, "concurrency": {"threads": 64}})
            p = self.start_kfleet(tag, cfg, handler="flaky")
            if not self.kfleet_started(p, port):
                err = "not ready: " + " | ".join(p.tail(3))
            else:
                out[f"{order}_ready_s"] = self.ready[-1] / 1000
                t_done, err = self.wait_done(p, port, n)
            if err:
                out[f"{order}_s"] = None
                self.fail(f"slow handler {order}", err)
            else:
                out[f"{order}_s"] = t_done - p.t0
                log(f"slow handler {order}: {out[f'{order}_s']:.2f}s")
            p.stop(60)
            p.close()
        if pc:
            out["pc_slow_key"] = self.pc_slow(topic, n, out["threads"])
        self.delete_topics(topic)
        return out

    # -- footprint --

    def idle(self):
        if not self.wanted("footprint"):
            return None
        topic = self.name("idle.in")
        self.create_topic(topic)
        port = free_port()
        cfg = self.kfleet_config("idle", topic, self.name("idle"), port, False,
                                 [{"name": "out", "type": "null"}])
        p = self.start_kfleet("idle", cfg)
        res = {}
        if self.kfleet_started(p, port):
            # Idle = assigned, nothing to do: sample for a while, keep the peak.
            end = now() + self.p["idle_seconds"]
            while now() < end and p.poll() is None:
                time.sleep(0.1)
            st = p.proc_status() or {}
            res = {"rss_idle_mb": st.get("VmHWM"), "rss_idle_now_mb": st.get("VmRSS")}
        else:
            self.fail("footprint idle", "kfleet not ready: " + " | ".join(p.tail(3)))
        p.stop(60)
        res["idle_cpu_s"] = p.cpu_s()
        p.close()
        self.delete_topics(topic)
        return res


# ------------------------------------------------------------------ output

def machine():
    model, cores = "unknown CPU", os.cpu_count()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        pass
    nproc = len(os.sched_getaffinity(0))
    load = os.getloadavg()[0]
    return (f"{model}, nproc {nproc}, {mem:.1f} GiB RAM, Linux {platform.release()}, "
            f"load average {load:.2f} at start")


def fmt(v, nd=0, suffix=""):
    if v is None:
        return "n/a"
    return f"{v:,.{nd}f}{suffix}"


def ratio(a, b):
    return a / b if a and b else None


def build_results(b, tp, lat, slow, idle, scale=None):
    res = {}
    raw = tp.get("raw_consumer", {}).get("records_per_s")
    ks = tp.get("kstreams_eos", {}).get("records_per_s")
    for w in THROUGHPUT:
        if w not in tp and w not in lat:
            continue
        r = dict(tp.get(w, {}))
        if r.get("records_per_s") is not None:
            r["records_per_s"] = round(r["records_per_s"])
            r["vs_raw_consumer"] = ratio(r["records_per_s"], raw)
            r["vs_kstreams_eos"] = ratio(r["records_per_s"], ks)
        if w in lat:
            l = lat[w]
            for k in ("p50_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms"):
                r[k] = l.get(k)
            r["latency_missing"] = l.get("missing")
            r["latency_duplicates"] = l.get("duplicates")
            if not l.get("ok"):
                r.setdefault("errors", []).append("latency: " + str(l.get("error")))
        res[w] = r
    if "floor" in lat:
        # The probe's own floor next to each contender's p99, in one place.
        fl = lat["floor"]
        floor = {k: fl.get(k) for k in ("p50_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms",
                                         "missing", "duplicates")}
        if not fl.get("ok"):
            floor["errors"] = ["floor: " + str(fl.get("error"))]
        res["latency"] = {"floor": floor}
        fp99 = fl.get("p99_ms") if fl.get("ok") else None
        for w in LATENCY:
            if w not in lat:
                continue
            l = lat[w]
            p99 = l.get("p99_ms") if l.get("ok") else None
            over = p99 - fp99 if p99 is not None and fp99 is not None else None
            res["latency"][w] = {"p50_ms": l.get("p50_ms"), "p99_ms": l.get("p99_ms"),
                                 "p999_ms": l.get("p999_ms"), "max_ms": l.get("max_ms"),
                                 "floor_p99_ms": fp99, "p99_over_floor_ms": over}
            if w in res:
                res[w]["p99_over_floor_ms"] = over
    if scale is not None:
        res["scale_out"] = scale
    if slow is not None:
        slow = dict(slow)
        pcs = slow.pop("pc_slow_key", None)
        if any(f"{o}_s" in slow for o in ORDERINGS):
            res["slow_handler"] = slow
        if pcs is not None:
            res["pc_slow_key"] = pc_slow_results(slow, pcs)
    if "kfleet_alo" in res and "parallel_consumer" in res:
        res["kfleet_alo"]["vs_parallel_consumer"] = ratio(
            res["kfleet_alo"].get("records_per_s"), res["parallel_consumer"].get("records_per_s"))
    fp = {}
    if idle:
        fp.update({k: idle.get(k) for k in ("rss_idle_mb",)})
    alo = tp.get("kfleet_alo", {})
    fp["rss_load_mb"] = alo.get("peak_rss_mb")
    fp["cpu_s_per_million"] = alo.get("cpu_s_per_million")
    fp["cold_start_ms"] = median(b.cold)
    fp["ready_ms"] = median(b.ready)
    # echo has no init (0); flaky's init parses its JSON config: the figure
    # is flaky's when the slow-handler runs ran, echo's otherwise.
    fp["handler_init_ms"] = median(b.init_ms.get("flaky") or b.init_ms.get("echo") or [])
    fp["handler_init_ms_by_handler"] = {h: median(v) for h, v in b.init_ms.items()}
    res["footprint"] = fp
    return res


def pc_slow_results(slow, pcs):
    """results.pc_slow_key: the Parallel Consumer's slow-handler figures and
    kfleet's key mode against them (when it ran too)."""
    r = dict(pcs, records=slow["records"], keys=slow["keys"])
    key_s = slow.get("key_s")
    r["kfleet_key_s"] = key_s
    kr = slow.get("key_ready_s")
    r["kfleet_key_after_ready_s"] = key_s - kr if key_s and kr is not None else None
    r["kfleet_key_records_per_s"] = slow["records"] / key_s if key_s else None
    # > 1: kfleet's key mode is faster (shorter wall, more records/s).
    r["kfleet_key_vs_pc_wall"] = ratio(r.get("wall_s"), key_s)
    r["kfleet_key_vs_pc_records_per_s"] = ratio(r["kfleet_key_records_per_s"], r.get("records_per_s"))
    return r


def goals(res):
    """The goals of bench/README.md ("Goals"), each with what this run measured."""
    def g(name, value, ok):
        return {"goal": name, "measured": value, "met": ok}

    out = []
    get = lambda w, k: (res.get(w) or {}).get(k)
    v = get("kfleet_alo", "vs_raw_consumer")
    out.append(g("at-least-once >= 0.95x raw_consumer", v and f"{v:.2f}x", v and v >= 0.95))
    v = ratio(get("kfleet_alo", "cpu_s_per_million"), get("raw_consumer", "cpu_s_per_million"))
    out.append(g("at-least-once CPU s / M records <= 1.1x raw_consumer's", v and f"{v:.2f}x",
                 v and v <= 1.1))
    v = get("kfleet_eos_redis", "vs_raw_consumer")
    out.append(g("exactly-once Redis >= 0.5x raw_consumer", v and f"{v:.2f}x", v and v >= 0.5))
    v = ratio(get("kfleet_eos_redis", "records_per_s"), get("kfleet_alo", "records_per_s"))
    out.append(g("exactly-once Redis >= 0.6x kfleet_alo", v and f"{v:.2f}x", v and v >= 0.6))
    v = get("kfleet_eos_redis", "vs_kstreams_eos")
    out.append(g("exactly-once Redis >= 5x kstreams_eos", v and f"{v:.2f}x", v and v >= 5))
    v = get("kfleet_eos_kafka", "vs_kstreams_eos")
    out.append(g("exactly-once Kafka >= 2x kstreams_eos", v and f"{v:.2f}x", v and v >= 2))
    v = get("kfleet_eos_redis", "p99_over_floor_ms")
    out.append(g("exactly-once Redis p99 <= floor p99 + 5 ms at 10k records/s",
                 None if v is None else f"{v:+.1f} ms", v is not None and v <= 5))
    s = res.get("slow_handler") or {}
    v = ratio(s.get("partition_s"), s.get("key_s"))
    out.append(g("key mode >= 8x faster than partition mode", v and f"{v:.1f}x", v and v >= 8))
    v = get("pc_slow_key", "kfleet_key_vs_pc_wall")
    out.append(g("key mode at least as fast as the Parallel Consumer's on the slow handler",
                 v and f"{v:.2f}x", v and v >= 1))
    v = get("kfleet_alo", "vs_parallel_consumer")
    out.append(g("at-least-once >= 3x the Parallel Consumer's records/s", v and f"{v:.2f}x",
                 v and v >= 3))
    rss = [get(w, "peak_rss_mb") for w in ("kfleet_alo", "kfleet_eos_redis", "kfleet_eos_kafka")]
    rss += [m.get("peak_rss_mb") for m in ((res.get("scale_out") or {}).get("members") or {}).values()]
    rss = [x for x in rss if x is not None]
    v = max(rss) if rss else None
    out.append(g("RSS under load <= 128 MB in every kfleet run", v and f"{v:.0f} MB (most)",
                 v is not None and v <= 128))
    fp = res.get("footprint", {})
    v = fp.get("rss_idle_mb")
    out.append(g("RSS idle <= 32 MB", v and f"{v:.1f} MB", v is not None and v <= 32))
    v = fp.get("cold_start_ms")
    out.append(g("cold start <= 20 ms", v and f"{v:.1f} ms", v is not None and v <= 20))
    for x in out:
        x["met"] = bool(x["met"])
    return out


def markdown(b, res, gl):
    p = b.p
    L = []
    L.append(f"### kfleet benchmark ({b.a.mode}: {p['records']:,} records x {p['reps']} runs, "
             f"{PARTITIONS} partitions, {VALUE_SIZE}-byte JSON values)")
    L.append("")
    L.append(f"Machine: {b.machine}")
    L.append("")
    L.append("| contender | records/s (median) | vs raw_consumer | vs kstreams_eos | "
             "CPU s / M records | peak RSS MB | runs (records/s) |")
    L.append("|---|---:|---:|---:|---:|---:|---|")
    for w in THROUGHPUT:
        r = res.get(w)
        if not r or "runs_records_per_s" not in r:
            continue
        runs = ", ".join("FAILED" if x is None else f"{x:,}" for x in r["runs_records_per_s"])
        L.append(f"| {w} | {fmt(r.get('records_per_s'))} | {fmt(r.get('vs_raw_consumer'), 2, 'x')} | "
                 f"{fmt(r.get('vs_kstreams_eos'), 2, 'x')} | {fmt(r.get('cpu_s_per_million'), 2)} | "
                 f"{fmt(r.get('peak_rss_mb'), 0)} | {runs} |")
    v = (res.get("kfleet_alo") or {}).get("vs_parallel_consumer")
    if "parallel_consumer" in res and "kfleet_alo" in res:
        pcr = res["parallel_consumer"]
        L.append("")
        L.append(f"kfleet_alo vs parallel_consumer (Confluent Parallel Consumer, ordering "
                 f"{pcr.get('ordering')}, maxConcurrency {pcr.get('concurrency')}): "
                 f"{fmt(v, 2, 'x')} records/s")
    if any("p50_ms" in (res.get(w) or {}) for w in LATENCY):
        L.append("")
        L.append(f"Latency, produce to visible in the sink, {p['lat_rate']:,} records/s for "
                 f"{p['lat_seconds']} s (after {p['lat_warmup']} s warm-up; kfleet mapping "
                 f"{json.dumps(b.lat_mapping)}; Kafka sinks read with read_committed):")
        L.append("")
        L.append("| contender | p50 ms | p99 ms | p99.9 ms | max ms | p99 - floor p99 ms | "
                 "missing | duplicates |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        fl = (res.get("latency") or {}).get("floor")
        if fl:
            L.append(f"| floor (Kafka alone: probe -> broker -> probe) | {fmt(fl.get('p50_ms'), 1)} | "
                     f"{fmt(fl.get('p99_ms'), 1)} | {fmt(fl.get('p999_ms'), 1)} | "
                     f"{fmt(fl.get('max_ms'), 1)} | 0 | {fmt(fl.get('missing'))} | "
                     f"{fmt(fl.get('duplicates'))} |")
        for w in LATENCY:
            r = res.get(w) or {}
            if "p50_ms" not in r:
                continue
            over = r.get("p99_over_floor_ms")
            L.append(f"| {w} | {fmt(r.get('p50_ms'), 1)} | {fmt(r.get('p99_ms'), 1)} | "
                     f"{fmt(r.get('p999_ms'), 1)} | {fmt(r.get('max_ms'), 1)} | "
                     f"{'n/a' if over is None else f'{over:+.1f}'} | "
                     f"{fmt(r.get('latency_missing'))} | {fmt(r.get('latency_duplicates'))} |")
    eos = [w for w in ("kfleet_eos_redis", "kfleet_eos_kafka") if "redis_calls_per_record" in (res.get(w) or {})]
    if eos:
        L.append("")
        L.append("| exactly-once run | Redis round trips / record | Redis commands / record (incl. inside scripts) | Redis µs / record |")
        L.append("|---|---:|---:|---:|")
        for w in eos:
            r = res[w]
            L.append(f"| {w} | {fmt(r.get('redis_calls_per_record'), 4)} | "
                     f"{fmt(r.get('redis_commands_per_record'), 3)} | "
                     f"{fmt(r.get('redis_us_per_record'), 3)} |")
    so = res.get("scale_out")
    if so:
        L.append("")
        L.append(f"Scale-out: N kfleet processes (at-least-once, echo, null sink; consumer "
                 f"read_committed) in one consumer group, {so['records']:,} records in "
                 f"{so['partitions']} partitions, made visible in one transaction once the group "
                 f"formed; records/s from the commit to the last record done; CPU over that "
                 f"window from /proc (100 % = one core; the machine has "
                 f"{len(os.sched_getaffinity(0))}):")
        L.append("")
        L.append("| processes | records/s (median) | vs 1 | group formed ms | "
                 "kfleet CPU s / M | CPU % per process | broker CPU s / M | broker CPU % | "
                 "machine busy % | redelivered | runs (records/s) |")
        L.append("|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|")
        for k in SCALE_MEMBERS:
            m = so["members"].get(str(k)) or {}
            runs = ", ".join("FAILED" if x is None else f"{x:,}" for x in m.get("runs_records_per_s", []))
            per = " / ".join(fmt(x, 0) for x in (m.get("member_cpu_pct") or []))
            L.append(f"| {k} | {fmt(m.get('records_per_s'))} | {fmt(m.get('vs_one'), 2, 'x')} | "
                     f"{fmt(m.get('join_ms'), 0)} | "
                     f"{fmt(m.get('cpu_s_per_million'), 2)} | {per or 'n/a'} | "
                     f"{fmt(m.get('broker_cpu_s_per_million'), 2)} | {fmt(m.get('broker_cpu_pct'), 0)} | "
                     f"{fmt(m.get('machine_busy_pct'), 0)} | {fmt(m.get('redelivered'))} | {runs} |")
    s = res.get("slow_handler")
    if s:
        L.append("")
        L.append(f"Slow handler (flaky.so, sleep_ms 5; {s['records']:,} records, 1 partition, "
                 f"{s['keys']:,} keys, 64 threads):")
        L.append("")
        L.append("| ordering | wall s | vs partition |")
        L.append("|---|---:|---:|")
        for o in ORDERINGS:
            v = s.get(f"{o}_s")
            L.append(f"| {o} | {fmt(v, 2)} | {fmt(ratio(s.get('partition_s'), v), 1, 'x')} |")
    pcs = res.get("pc_slow_key")
    if pcs:
        L.append("")
        L.append(f"Key ordering, 5 ms handler, {pcs['records']:,} records, 1 partition, "
                 f"{pcs['keys']:,} keys, {pcs['concurrency']} threads: kfleet key mode vs "
                 f"Confluent Parallel Consumer (KEY, maxConcurrency {pcs['concurrency']}):")
        L.append("")
        L.append("| contender | wall s | records/s | kfleet key vs it (wall) | kfleet key vs it (records/s) "
                 "| s after assigned |")
        L.append("|---|---:|---:|---:|---:|---:|")
        if pcs.get("kfleet_key_s") is not None:
            L.append(f"| kfleet key | {fmt(pcs['kfleet_key_s'], 2)} | "
                     f"{fmt(pcs.get('kfleet_key_records_per_s'))} | | | "
                     f"{fmt(pcs.get('kfleet_key_after_ready_s'), 2)} |")
        L.append(f"| pc_slow_key | {fmt(pcs.get('wall_s'), 2)} | {fmt(pcs.get('records_per_s'))} | "
                 f"{fmt(pcs.get('kfleet_key_vs_pc_wall'), 2, 'x')} | "
                 f"{fmt(pcs.get('kfleet_key_vs_pc_records_per_s'), 2, 'x')} | "
                 f"{fmt(pcs.get('after_ready_s'), 2)} |")
    fp = res.get("footprint", {})
    L.append("")
    L.append("| RSS idle MB | RSS under load MB | CPU s / M records (alo) | cold start ms | "
             "ready (assigned) ms | handler init ms (flaky.so) |")
    L.append("|---:|---:|---:|---:|---:|---:|")
    L.append(f"| {fmt(fp.get('rss_idle_mb'), 1)} | {fmt(fp.get('rss_load_mb'), 1)} | "
             f"{fmt(fp.get('cpu_s_per_million'), 2)} | {fmt(fp.get('cold_start_ms'), 1)} | "
             f"{fmt(fp.get('ready_ms'), 0)} | {fmt(fp.get('handler_init_ms'), 3)} |")
    L.append("")
    L.append("| goal | measured | met |")
    L.append("|---|---:|---|")
    for x in gl:
        L.append(f"| {x['goal']} | {x['measured'] or 'n/a'} | {'yes' if x['met'] else 'NO'} |")
    if b.errors:
        L.append("")
        L.append("Failures:")
        L.append("")
        for e in b.errors:
            L.append(f"- {e}")
    return "\n".join(L)


def chart(b, res, png):
    gp = shutil.which("gnuplot")
    if not gp:
        log("gnuplot not found: no chart")
        return False
    tp = os.path.join(b.work, "chart-throughput.dat")
    lt = os.path.join(b.work, "chart-latency.dat")
    with open(tp, "w") as f:
        for w in THROUGHPUT:
            v = (res.get(w) or {}).get("records_per_s")
            if v:
                f.write(f'"{w}" {v / 1000:.1f}\n')
    with open(lt, "w") as f:
        fl = (res.get("latency") or {}).get("floor") or {}
        if fl.get("p50_ms") is not None and fl["p50_ms"] >= 0:
            f.write(f'"floor" {fl["p50_ms"]:.2f} {fl["p99_ms"]:.2f} {fl["p999_ms"]:.2f}\n')
        for w in LATENCY:
            r = res.get(w) or {}
            if r.get("p50_ms") is not None and r.get("p50_ms") >= 0:
                f.write(f'"{w}" {r["p50_ms"]:.2f} {r["p99_ms"]:.2f} {r["p999_ms"]:.2f}\n')
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chart.gp")
    r = subprocess.run([gp, "-e", f"tp='{tp}'; lt='{lt}'; out='{png}'; "
                        f"subtitle='{b.a.mode}: {b.p['records']:,} records, "
                        f"{b.p['lat_rate']:,} rec/s latency'", script],
                       capture_output=True, text=True)
    if r.returncode != 0:
        log("gnuplot failed: " + r.stderr.strip()[-400:])
        return False
    return True


def tidy(v):
    """Floats to 5 significant digits, so the JSON reads like the table."""
    if isinstance(v, float):
        return float(f"{v:.5g}")
    if isinstance(v, dict):
        return {k: tidy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [tidy(x) for x in v]
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mode", choices=sorted(MODES), default="full")
    ap.add_argument("--root", required=True)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--json", required=True, help="where the results JSON goes")
    ap.add_argument("--png", help="where the chart goes (none if omitted)")
    ap.add_argument("--work-dir", help="logs and configs (default: a new temp dir)")
    ap.add_argument("--only", help="comma list: contenders, scale_out, slow_handler, pc_slow_key, "
                    "footprint")
    a = ap.parse_args()

    b = Bench(a)
    b.machine = machine()
    t0 = now()
    log(f"{a.mode}: {b.p} work dir {b.work}")
    tp, lat, slow, idle, scale = {}, {}, None, None, None
    try:
        idle = b.idle()
        tp = b.throughput()
        scale = b.scale_out()
        lat = b.latency()
        slow = b.slow()
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        b.delete_topics(b.run_id)
        try:
            b.redis.delete_matching(f"*{b.run_id}*")
        except Exception as e:  # cleanup must not hide the real failure
            log(f"redis cleanup: {e}")

    res = build_results(b, tp, lat, slow, idle, scale)
    gl = goals(res)
    doc = {
        "machine": b.machine,
        "results": res,
        "params": dict(b.p, mode=a.mode, partitions=PARTITIONS, value_bytes=VALUE_SIZE,
                       scale_out_partitions=SCALE_PARTITIONS,
                       kfleet_mapping=b.mapping,
                       latency_kfleet_mapping=b.lat_mapping,
                       kstreams_threads=b.ks_threads,
                       parallel_consumer_threads=b.pc_threads(),
                       date=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                       seconds=round(now() - t0, 1)),
        "goals": gl,
        "errors": b.errors,
    }
    text = json.dumps(tidy(doc), indent=2)
    json.loads(text)  # well-formed, or this raises
    os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
    with open(a.json, "w") as f:
        f.write(text + "\n")
    print(markdown(b, res, gl))
    print()
    print(f"results: {a.json}")
    if a.png and chart(b, res, a.png):
        print(f"chart: {a.png}")
    log(f"done in {now() - t0:.0f}s")
    if b.errors:
        log(f"{len(b.errors)} failure(s); logs in {b.work}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
