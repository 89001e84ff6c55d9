#!/usr/bin/env python3
"""fault_proxy.py: a TCP proxy that injects network faults, for kfleet's tests.

    fault_proxy.py --listen 127.0.0.1:0 --target 127.0.0.1:6379 \\
        --port-file P [--control-port-file C] [--control-listen 127.0.0.1:0] \\
        [--mode pass]

Every connection accepted on --listen is forwarded to --target, bytes both
ways. The port chosen for --listen (0 = any free port) is written to
--port-file, and the control endpoint's to --control-port-file, once each
socket listens (the control file first), so a test waits for the file
instead of sleeping.

The control endpoint is a small HTTP server on its own loopback port:

    POST /mode  {"mode": "pass"}
                {"mode": "blackhole"}
                {"mode": "reset"}
                {"mode": "latency", "ms": 100}
                {"mode": "bandwidth", "bytes_per_s": 20000}
    GET  /mode  the mode now (JSON)
    GET  /stats counters (JSON; GET /stats?format=text gives name=value lines)

Modes (they apply at once, to open connections and new ones alike):

  pass       forward everything.
  blackhole  a partition: connections stay open and new ones are accepted,
             but nothing is forwarded in either direction. Bytes are held,
             not delivered (the proxy stops reading, so the senders' kernel
             buffers fill up and their writes block). Leaving blackhole (for
             any other mode) closes every connection that saw it, with a TCP
             RST, and drops what it held: a partition that heals finds the
             peers' connections gone, and clients reconnect.
  reset      every open connection is closed with a TCP RST (SO_LINGER 0),
             each side; new connections are accepted and reset at once.
  latency    each direction's bytes are delivered N ms after the proxy read
             them, in order (a round trip gains 2 x N ms).
  bandwidth  each direction is capped at N bytes/s, shared by every
             connection (a link's capacity, not a per-connection one), with
             a burst of at most 50 ms worth of bytes.

With --kafka-frames (the target is a Kafka broker) the proxy follows the
client's request frames and can be armed to start a black hole on the
next request of one API, for the faults that must land on one call:

    POST /trigger {"kafka_api_key": 26, "hold": "response", "ms": 8000}

arms a one-shot trigger: the next request with that API key (26 EndTxn, 24
AddPartitionsToTxn, 28 TxnOffsetCommit, ...) on any connection starts a
black hole of "ms" milliseconds, then the mode goes back to pass. With
"hold": "response" the request reaches the broker and its answer is held
(the call took effect and its caller cannot know); with "request" the
request itself is held (it never takes effect). GET /stats counts
triggers_fired.

A connection the target refuses (or does not accept within 5 s) is reset.
An error or RST on one side of a connection resets the other side; an EOF
is passed on as a half-close (shutdown SHUT_WR) once the bytes before it
are delivered.

Python standard library only (asyncio). Stops on SIGTERM or SIGINT. Mode
changes and errors are logged on stderr.
"""
import argparse
import asyncio
import json
import os
import signal
import socket
import struct
import sys
import time

MODES = ("pass", "blackhole", "reset", "latency", "bandwidth")
CHUNK = 65536
QUEUE_CHUNKS = 256  # per direction and connection: at most 16 MiB read ahead
CONNECT_TIMEOUT_S = 5.0
BURST_S = 0.05


def log(msg):
    sys.stderr.write("%s fault_proxy: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def parse_addr(text):
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError("want HOST:PORT, got %r" % text)
    try:
        return host, int(port)
    except ValueError:
        raise argparse.ArgumentTypeError("bad port in %r" % text) from None


def write_file_atomically(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def rst(writer):
    """Closes the connection under writer with a TCP RST (SO_LINGER 0)."""
    if writer is None:
        return
    try:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


class Bucket:
    """A shared rate limit: virtual time, each send reserves len/rate seconds."""

    def __init__(self):
        self.t = 0.0

    async def take(self, n, rate):
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.t = max(self.t, now - BURST_S) + n / rate
        delay = self.t - now
        if delay > 0:
            await asyncio.sleep(delay)


class Stats:
    def __init__(self):
        self.connections_total = 0
        self.connections_reset = 0  # RSTs the proxy sent to clients
        self.connections_refused = 0  # the target refused or did not answer
        self.bytes_up = 0  # delivered client -> target
        self.bytes_down = 0  # delivered target -> client
        self.bytes_dropped = 0  # read but never delivered (closed while held)
        self.mode_changes = 0
        self.triggers_fired = 0


class Proxy:
    def __init__(self, target, mode, kafka_frames=False):
        self.target = target
        self.mode = mode
        self.kafka_frames = kafka_frames
        self.trigger = None  # armed: {"kafka_api_key", "hold", "ms"}
        self.ms = 0
        self.bytes_per_s = 0
        self.since = time.time()
        self.conns = set()
        self.stats = Stats()
        self.buckets = {"up": Bucket(), "down": Bucket()}
        self._changed = asyncio.Event()

    # ----------------------------------------------------------- modes

    async def changed(self, timeout=None):
        """Waits for the next mode change (True) or the timeout (False)."""
        ev = self._changed
        if timeout is None:
            await ev.wait()
            return True
        try:
            await asyncio.wait_for(ev.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def set_mode(self, mode, ms=0, bytes_per_s=0):
        old = self.mode
        if old == "blackhole" and mode != "blackhole":
            held = [c for c in self.conns if c.held]
            for c in held:
                c.abort("the black hole is over")
            log("leaving blackhole: %d held connection(s) reset" % len(held))
        self.mode, self.ms, self.bytes_per_s = mode, ms, bytes_per_s
        self.since = time.time()
        self.stats.mode_changes += 1
        if mode == "blackhole":
            for c in self.conns:
                c.held = True
        elif mode == "reset":
            n = len(self.conns)
            for c in list(self.conns):
                c.abort("reset mode")
            log("reset: %d connection(s) reset" % n)
        log("mode %s -> %s%s" % (old, mode, self.describe_args()))
        ev, self._changed = self._changed, asyncio.Event()
        ev.set()

    def fire(self, api_key):
        """A request the armed trigger waits for was seen: black hole now,
        back to pass after its ms."""
        t, self.trigger = self.trigger, None
        self.stats.triggers_fired += 1
        log("trigger: Kafka API %d request (%s held) -> blackhole for %d ms" % (api_key, t["hold"], t["ms"]))
        self.set_mode("blackhole")
        asyncio.get_running_loop().call_later(t["ms"] / 1000.0, self.end_trigger)

    def end_trigger(self):
        if self.mode == "blackhole":
            self.set_mode("pass")

    def describe_args(self):
        if self.mode == "latency":
            return " (%d ms)" % self.ms
        if self.mode == "bandwidth":
            return " (%d bytes/s)" % self.bytes_per_s
        return ""

    def snapshot(self):
        s = self.stats
        held = sum(c.queued for c in self.conns if c.held)
        return {
            "mode": self.mode,
            "ms": self.ms,
            "bytes_per_s": self.bytes_per_s,
            "mode_age_s": round(time.time() - self.since, 3),
            "connections_open": len(self.conns),
            "connections_held": sum(1 for c in self.conns if c.held),
            "connections_total": s.connections_total,
            "connections_reset": s.connections_reset,
            "connections_refused": s.connections_refused,
            "bytes_up": s.bytes_up,
            "bytes_down": s.bytes_down,
            "bytes_queued": sum(c.queued for c in self.conns),
            "bytes_held": held,
            "bytes_dropped": s.bytes_dropped,
            "mode_changes": s.mode_changes,
            "triggers_fired": s.triggers_fired,
            "trigger_armed": self.trigger is not None,
        }

    # ----------------------------------------------------- connections

    async def accept(self, reader, writer):
        self.stats.connections_total += 1
        conn = Conn(self, reader, writer)
        self.conns.add(conn)
        try:
            await conn.run()
        finally:
            self.conns.discard(conn)


class Conn:
    """One client connection and its connection to the target."""

    seq = 0

    def __init__(self, proxy, creader, cwriter):
        Conn.seq += 1
        self.id = Conn.seq
        self.proxy = proxy
        self.creader, self.cwriter = creader, cwriter
        self.ureader = self.uwriter = None
        self.held = proxy.mode == "blackhole"
        self.closed = False
        self.queued = 0  # bytes read and not yet delivered, both directions
        self.task = None
        # Kafka request framing, client -> target (--kafka-frames): bytes
        # left of the current frame, and a frame head being collected.
        self.k_left = 0
        self.k_head = bytearray()
        self.k_fire_at_end = None  # api key whose frame fires once delivered

    def kafka_cut(self, data):
        """Follows the request frames in data (the next bytes to deliver up)
        and returns (n, api): deliver n bytes, then fire the trigger for api;
        (len(data), None) when nothing fires in them."""
        t = self.proxy.trigger
        i = 0
        while i < len(data):
            if self.k_left > 0:
                take = min(self.k_left, len(data) - i)
                self.k_left -= take
                i += take
                if self.k_left == 0 and self.k_fire_at_end is not None:
                    api, self.k_fire_at_end = self.k_fire_at_end, None
                    return i, api
                continue
            start = i
            take = min(6 - len(self.k_head), len(data) - i)
            self.k_head += data[i:i + take]
            i += take
            if len(self.k_head) < 6:
                break
            length, api = struct.unpack(">ih", bytes(self.k_head))
            self.k_head = bytearray()
            self.k_left = max(0, length - 2)
            if t is not None and api == t["kafka_api_key"]:
                if t["hold"] == "request":
                    return start, api
                self.k_fire_at_end = api
                if self.k_left == 0:
                    self.k_fire_at_end = None
                    return i, api
        return len(data), None

    def abort(self, why):
        """Resets both sides now; what was read and not delivered is dropped."""
        if self.closed:
            return
        self.closed = True
        self.proxy.stats.connections_reset += 1
        self.proxy.stats.bytes_dropped += self.queued
        self.queued = 0
        rst(self.cwriter)
        rst(self.uwriter)
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    def close(self):
        if self.closed:
            return
        self.closed = True
        self.proxy.stats.bytes_dropped += self.queued
        self.queued = 0
        for w in (self.cwriter, self.uwriter):
            if w is not None:
                w.close()

    async def run(self):
        self.task = asyncio.current_task()
        p = self.proxy
        try:
            if p.mode == "reset":
                self.abort("reset mode")
                return
            # A connection accepted in a black hole waits (it is reset when
            # the black hole ends).
            while p.mode == "blackhole":
                await p.changed()
            if self.closed:
                return
            try:
                self.ureader, self.uwriter = await asyncio.wait_for(
                    asyncio.open_connection(*p.target), CONNECT_TIMEOUT_S)
            except (OSError, asyncio.TimeoutError) as e:
                p.stats.connections_refused += 1
                log("connection %d: target %s:%d: %s" % (self.id, p.target[0], p.target[1], e or "timeout"))
                self.abort("target unreachable")
                return
            if self.closed:  # reset while connecting
                rst(self.uwriter)
                return
            up = asyncio.Queue(QUEUE_CHUNKS)
            down = asyncio.Queue(QUEUE_CHUNKS)
            tasks = [
                asyncio.ensure_future(self.pump_in(self.creader, up)),
                asyncio.ensure_future(self.pump_out(up, self.uwriter, "up")),
                asyncio.ensure_future(self.pump_in(self.ureader, down)),
                asyncio.ensure_future(self.pump_out(down, self.cwriter, "down")),
            ]
            try:
                # Both writers done (EOF passed on both ways) is a clean end;
                # any error resets the whole connection.
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                for t in done:
                    if t.exception() is not None:
                        raise t.exception()
                if not all(t.done() for t in tasks):
                    await asyncio.gather(*tasks)
                self.close()
            finally:
                for t in tasks:
                    t.cancel()
        except asyncio.CancelledError:
            pass  # abort() did it
        except (ConnectionError, OSError) as e:
            if not self.closed:
                self.abort("peer error: %s" % e)

    async def pump_in(self, reader, q):
        """Reads one side into q (None = EOF); stops reading in a black hole."""
        p = self.proxy
        while True:
            while p.mode == "blackhole":
                await p.changed()
            data = await reader.read(CHUNK)
            if not data:
                await q.put(None)
                return
            self.queued += len(data)
            await q.put((asyncio.get_running_loop().time(), data))

    async def pump_out(self, q, writer, direction):
        """Delivers q's bytes to writer as the mode allows."""
        p = self.proxy
        loop = asyncio.get_running_loop()
        while True:
            item = await q.get()
            if item is None:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            t_read, data = item
            view = memoryview(data)
            while view:
                mode = p.mode
                if mode == "blackhole":
                    await p.changed()
                    continue
                if mode == "latency":
                    delay = t_read + p.ms / 1000.0 - loop.time()
                    if delay > 0 and await p.changed(delay):
                        continue  # the mode changed meanwhile: look again
                    n = len(view)
                elif mode == "bandwidth":
                    n = min(len(view), max(1, p.bytes_per_s // 20))
                    await p.buckets[direction].take(n, p.bytes_per_s)
                    if p.mode != "bandwidth":
                        continue
                else:
                    n = len(view)
                fire = None
                if direction == "up" and p.kafka_frames:
                    n, fire = self.kafka_cut(view[:n])
                    if fire is not None and p.trigger is None:
                        fire = None  # another connection fired it first
                if self.closed:
                    return
                writer.write(view[:n])
                self.queued -= n
                if direction == "up":
                    p.stats.bytes_up += n
                else:
                    p.stats.bytes_down += n
                view = view[n:]
                await writer.drain()
                if fire is not None:
                    p.fire(fire)


# ------------------------------------------------------------ control

def parse_mode(body):
    try:
        doc = json.loads(body.decode("utf-8") or "{}")
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError("the body is not JSON: %s" % e) from None
    if not isinstance(doc, dict):
        raise ValueError("the body must be a JSON object")
    mode = doc.get("mode")
    if mode not in MODES:
        raise ValueError("mode must be one of %s, got %r" % (", ".join(MODES), mode))
    ms = doc.get("ms")
    bps = doc.get("bytes_per_s")
    if mode == "latency" and (type(ms) is not int or ms < 0):
        raise ValueError("latency needs \"ms\": a non-negative integer")
    if mode == "bandwidth" and (type(bps) is not int or bps <= 0):
        raise ValueError("bandwidth needs \"bytes_per_s\": a positive integer")
    return mode, (ms if mode == "latency" else 0), (bps if mode == "bandwidth" else 0)


def parse_trigger(body, kafka_frames):
    if not kafka_frames:
        raise ValueError("triggers need --kafka-frames")
    try:
        doc = json.loads(body.decode("utf-8") or "{}")
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError("the body is not JSON: %s" % e) from None
    if not isinstance(doc, dict):
        raise ValueError("the body must be a JSON object")
    key, hold, ms = doc.get("kafka_api_key"), doc.get("hold", "response"), doc.get("ms")
    if type(key) is not int or not 0 <= key < 32768:
        raise ValueError("kafka_api_key must be an integer 0..32767")
    if hold not in ("request", "response"):
        raise ValueError("hold must be \"request\" or \"response\"")
    if type(ms) is not int or ms <= 0:
        raise ValueError("ms must be a positive integer")
    return {"kafka_api_key": key, "hold": hold, "ms": ms}


async def control(proxy, reader, writer):
    status, doc = 200, None
    try:
        line = await asyncio.wait_for(reader.readline(), 10)
        parts = line.decode("latin-1").split()
        if len(parts) < 2:
            raise ValueError("bad request line")
        method, target = parts[0], parts[1]
        length = 0
        while True:
            h = await asyncio.wait_for(reader.readline(), 10)
            if h in (b"\r\n", b"\n", b""):
                break
            name, _, value = h.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        body = await asyncio.wait_for(reader.readexactly(length), 10) if length else b""
        path, _, query = target.partition("?")
        if method == "POST" and path == "/mode":
            try:
                mode, ms, bps = parse_mode(body)
                proxy.set_mode(mode, ms, bps)
                doc = proxy.snapshot()
            except ValueError as e:
                status, doc = 400, {"error": str(e)}
        elif method == "POST" and path == "/trigger":
            try:
                proxy.trigger = parse_trigger(body, proxy.kafka_frames)
                log("trigger armed: %s" % json.dumps(proxy.trigger))
                doc = proxy.snapshot()
            except ValueError as e:
                status, doc = 400, {"error": str(e)}
        elif method == "GET" and path in ("/stats", "/mode"):
            doc = proxy.snapshot()
            if path == "/mode":
                doc = {k: doc[k] for k in ("mode", "ms", "bytes_per_s", "mode_age_s")}
        else:
            status, doc = 404, {"error": "no %s %s (POST /mode, POST /trigger, GET /mode, GET /stats)" % (method, path)}
        if "format=text" in query and status == 200:
            text = "".join("%s=%s\n" % kv for kv in doc.items())
            ctype = "text/plain"
        else:
            text = json.dumps(doc) + "\n"
            ctype = "application/json"
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[status]
        out = text.encode()
        writer.write(("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                      "Connection: close\r\n\r\n" % (status, reason, ctype, len(out))).encode() + out)
        await writer.drain()
    except (ValueError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError) as e:
        log("control: %s" % e)
    finally:
        writer.close()


async def main_async(args):
    proxy = Proxy(args.target, args.mode, args.kafka_frames)
    if args.mode == "latency":
        proxy.ms = args.ms
    if args.mode == "bandwidth":
        proxy.bytes_per_s = args.bytes_per_s
    ctl = await asyncio.start_server(lambda r, w: control(proxy, r, w), *args.control_listen)
    srv = await asyncio.start_server(proxy.accept, *args.listen, backlog=512)
    cport = ctl.sockets[0].getsockname()[1]
    port = srv.sockets[0].getsockname()[1]
    if args.control_port_file:
        write_file_atomically(args.control_port_file, "%d\n" % cport)
    write_file_atomically(args.port_file, "%d\n" % port)
    log("listening on %s:%d -> %s:%d, control on %s:%d, mode %s" % (
        args.listen[0], port, args.target[0], args.target[1], args.control_listen[0], cport, args.mode))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    srv.close()
    ctl.close()
    for c in list(proxy.conns):
        c.close()
    log("stopped: %s" % json.dumps(proxy.snapshot()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", type=parse_addr, default=("127.0.0.1", 0))
    ap.add_argument("--target", type=parse_addr, required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--control-port-file")
    ap.add_argument("--control-listen", type=parse_addr, default=("127.0.0.1", 0))
    ap.add_argument("--mode", choices=MODES, default="pass")
    ap.add_argument("--ms", type=int, default=0, help="latency at start (--mode latency)")
    ap.add_argument("--bytes-per-s", type=int, default=0, help="cap at start (--mode bandwidth)")
    ap.add_argument("--kafka-frames", action="store_true",
                    help="the target is a Kafka broker: follow request frames (POST /trigger)")
    args = ap.parse_args()
    if args.mode == "bandwidth" and args.bytes_per_s <= 0:
        ap.error("--mode bandwidth needs --bytes-per-s")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
