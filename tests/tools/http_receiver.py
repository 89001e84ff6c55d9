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
"failed": n}. --fail-first N answers 500 to the first N POSTs, to make the
sink retry.

Python standard library only. Stops on SIGTERM or SIGINT.
"""
import argparse
import base64
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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

    def record(self, path, key, body):
        """Counts one POST, logs it, and returns the status to answer."""
        with self.lock:
            self.requests += 1
            if self.requests <= self.fail_first:
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

    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        key = self.headers.get("Idempotency-Key")
        status = self.state.record(self.path, key, body)
        self._reply(status, {"status": "ok" if status == 200 else "failed on purpose"})

    do_PUT = do_POST

    def do_GET(self):  # noqa: N802
        if self.path.rstrip("/") == "/stats":
            self._reply(200, self.state.stats())
        else:
            self._reply(404, {"error": "only GET /stats and POST"})

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
