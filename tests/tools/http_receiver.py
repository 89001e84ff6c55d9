#!/usr/bin/env python3
"""http_receiver.py: the HTTP endpoint kfleet's http sink posts to in tests.

Listens on 127.0.0.1 (port 0 = any free port; the chosen port is written to
--port-file once the socket listens, so a test waits for that file instead of
sleeping). Every POST is answered and logged as one JSON line to --log:

    {"t_ms": <unix ms>, "path": "/..", "status": 200,
     "idempotency_key": "<header or null>", "body": "<body as text>"}

(a body that is not UTF-8 is logged as "body_b64" instead of "body").
kf_verify --http-log reads that file and counts the 2xx lines.

An "effect" is what a receiver that honours Idempotency-Key applies: once per
distinct key (a request without the header is always an effect).
GET /stats returns {"requests": n, "ok": n, "effects": n, "duplicate_keys": n,
"failed": n, "mode": "..", "slowed": n, "hung": n, "dropped": n}.
--fail-first N answers 500 to the first N POSTs, to make the sink retry.

Fault modes, switched while it runs (tests/faults/http_faults_lib.sh):
POST /control with a JSON object sets the mode for every later request (and
releases the requests a "hang" holds); GET /control returns the mode in
force. /control requests are neither logged nor counted.

    {"mode": "normal"}                       answer 200 (the default)
    {"mode": "slow", "min_ms": 1000, "max_ms": 2000}
                                             wait a random time in the range,
                                             then apply, log and answer 200
    {"mode": "hang"}                         read the request, never answer;
                                             when the mode changes, close the
                                             connection (not applied, not logged)
    {"mode": "5xx", "status": 503}           answer that status (logged as such)
    {"mode": "apply_drop", "share": 0.5}     that share of the requests is
                                             applied and logged as usual (status
                                             200: the receiver applied it), then
                                             the connection is reset without an
                                             answer; the rest are answered 200
    {"mode": "refuse", "contains": "k7", "status": 400}
                                             answer that status (logged as such)
                                             to the requests whose body holds the
                                             text, 200 to the others
Optional "seed" (an integer) seeds the choice of apply_drop's requests.
A dropped request's log line carries "answer": "dropped" besides its usual
fields.

Python standard library only. Stops on SIGTERM or SIGINT.
"""
import argparse
import base64
import json
import os
import random
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


MODES = ("normal", "slow", "hang", "5xx", "apply_drop", "refuse")


class State:
    """Counters and the log file, shared by the handler threads under one lock."""

    def __init__(self, log_path, fail_first):
        self.lock = threading.Lock()
        self.log = open(log_path, "a", encoding="utf-8")
        self.fail_first = fail_first
        self.requests = 0
        self.ok = 0
        self.failed = 0
        self.effects = 0
        self.duplicate_keys = 0
        self.keys = set()
        # Fault mode (POST /control); `changed` wakes the requests a hang holds.
        self.changed = threading.Condition(self.lock)
        self.mode = {"mode": "normal"}
        self.generation = 0
        self.rng = random.Random()
        self.slowed = 0
        self.hung = 0
        self.dropped = 0

    def set_mode(self, mode):
        """Sets the fault mode; raises ValueError when it makes no sense."""
        name = mode.get("mode")
        seed = mode.get("seed")
        if name not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {name!r}")
        if name == "slow":
            lo, hi = int(mode.get("min_ms", 1000)), int(mode.get("max_ms", 2000))
            if not 0 <= lo <= hi:
                raise ValueError("slow needs 0 <= min_ms <= max_ms")
            mode = {"mode": name, "min_ms": lo, "max_ms": hi}
        elif name == "5xx":
            st = int(mode.get("status", 503))
            if not 500 <= st <= 599:
                raise ValueError("5xx needs a status 500..599")
            mode = {"mode": name, "status": st}
        elif name == "apply_drop":
            share = float(mode.get("share", 0.5))
            if not 0.0 <= share <= 1.0:
                raise ValueError("apply_drop needs a share 0..1")
            mode = {"mode": name, "share": share}
        elif name == "refuse":
            st, text = int(mode.get("status", 400)), mode.get("contains")
            if not 400 <= st <= 599 or not isinstance(text, str) or not text:
                raise ValueError("refuse needs a status 400..599 and a non-empty contains")
            mode = {"mode": name, "status": st, "contains": text}
        else:
            mode = {"mode": name}
        with self.lock:
            if seed is not None:
                self.rng.seed(int(seed))
            self.mode = mode
            self.generation += 1
            self.changed.notify_all()
            return dict(self.mode)

    def fault(self):
        """The mode for one request: (mode dict, generation, random draw)."""
        with self.lock:
            return dict(self.mode), self.generation, self.rng.random()

    def hold(self, generation):
        """Blocks a hung request until the mode changes."""
        with self.lock:
            self.hung += 1
            while self.generation == generation:
                self.changed.wait()

    def record(self, path, key, body, force_status=None, answer=None):
        """Counts one POST, logs it, and returns the status to answer.
        force_status answers (and logs) that status instead; answer is noted in
        the log line ("dropped": applied, but never answered)."""
        with self.lock:
            self.requests += 1
            if answer == "dropped":
                self.dropped += 1
            if force_status is not None:
                status = force_status
                self.failed += 1
            elif self.requests <= self.fail_first:
                status = 500
                self.failed += 1
            else:
                status = 200
                self.ok += 1
                if key is None:
                    self.effects += 1
                elif key in self.keys:
                    self.duplicate_keys += 1
                else:
                    self.keys.add(key)
                    self.effects += 1
            entry = {
                "t_ms": int(time.time() * 1000),
                "path": path,
                "status": status,
                "idempotency_key": key,
            }
            if answer is not None:
                entry["answer"] = answer
            try:
                entry["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                entry["body_b64"] = base64.b64encode(body).decode("ascii")
            self.log.write(json.dumps(entry, separators=(",", ":")) + "\n")
            self.log.flush()
            return status

    def stats(self):
        with self.lock:
            return {
                "requests": self.requests,
                "ok": self.ok,
                "failed": self.failed,
                "effects": self.effects,
                "duplicate_keys": self.duplicate_keys,
                "mode": self.mode["mode"],
                "slowed": self.slowed,
                "hung": self.hung,
                "dropped": self.dropped,
            }


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, as libcurl expects from a real service.
    protocol_version = "HTTP/1.1"
    # http.server writes the headers and the body with two send()s; with Nagle
    # on, the body waits for the client's delayed ACK (40 ms per request).
    disable_nagle_algorithm = True
    state = None  # set in main()

    def _reply(self, status, obj):
        data = json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _drop(self):
        """Resets the connection without an answer (SO_LINGER 0: an RST)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.connection.close()

    def _control(self, body):
        try:
            mode = json.loads(body or b"{}")
            if not isinstance(mode, dict):
                raise ValueError("expected a JSON object")
            now = self.state.set_mode(mode)
        except (TypeError, ValueError) as e:
            self._reply(400, {"error": str(e)})
            return
        self._reply(200, now)

    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        if self.path.rstrip("/") == "/control":
            self._control(body)
            return
        key = self.headers.get("Idempotency-Key")
        mode, generation, draw = self.state.fault()
        name = mode["mode"]
        if name == "hang":
            self.state.hold(generation)
            self._drop()
            return
        if name == "slow":
            with self.state.lock:
                self.state.slowed += 1
            time.sleep(random.uniform(mode["min_ms"], mode["max_ms"]) / 1000.0)
        if name == "5xx" or (name == "refuse" and mode["contains"].encode() in body):
            status = self.state.record(self.path, key, body, force_status=mode["status"])
        elif name == "apply_drop" and draw < mode["share"]:
            self.state.record(self.path, key, body, answer="dropped")
            self._drop()
            return
        else:
            status = self.state.record(self.path, key, body)
        self._reply(status, {"status": "ok" if status == 200 else "failed on purpose"})

    do_PUT = do_POST

    def do_GET(self):  # noqa: N802
        path = self.path.rstrip("/")
        if path == "/stats":
            self._reply(200, self.state.stats())
        elif path == "/control":
            with self.state.lock:
                self._reply(200, dict(self.state.mode))
        else:
            self._reply(404, {"error": "only GET /stats, GET|POST /control and POST"})

    def log_message(self, fmt, *args):
        pass  # one line per request on stderr would drown the test output


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0, help="port to listen on (0 = any free)")
    ap.add_argument("--port-file", required=True, help="file that receives the chosen port")
    ap.add_argument("--log", required=True, help="JSON-lines log of every POST")
    ap.add_argument("--fail-first", type=int, default=0, help="answer 500 to the first N POSTs")
    args = ap.parse_args()

    Handler.state = State(args.log, args.fail_first)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    port = server.server_address[1]

    # Write then rename, so a reader never sees a half-written port.
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, args.port_file)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"http_receiver: listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    server.serve_forever()
    print(f"http_receiver: stopped, {json.dumps(Handler.state.stats())}", file=sys.stderr)


if __name__ == "__main__":
    main()
