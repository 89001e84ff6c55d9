#!/usr/bin/env python3
"""status_page_check.py — loads kfleet's /status in headless Chromium and
waits until the page shows what a test expects.

usage: status_page_check.py --url URL --mapping NAME --partitions N
           [--failure TOPIC:PARTITION:OFFSET]... [--timeout S]
           [--screenshot FILE.png] [--dom FILE.html] [--window W,H] [--settle S]

It drives Debian's chromium through chromedriver (the W3C WebDriver
protocol, plain HTTP and JSON: no Selenium, nothing from npm), with
--headless=new. The page polls status.json every 2 s and computes records
per second from two samples, so the test waits on real time; Chromium's
--dump-dom with a virtual time budget would fire the page's timers in a few
real milliseconds, and two samples that close apart see no record done.

It waits, up to --timeout seconds (60), until the rendered DOM holds:
  - a section for mapping NAME (data-mapping);
  - N rows in its lag table (one per assigned partition), each with a lag;
  - a records done/s figure above 0;
  - for each --failure, a row of the latest failures table whose place is
    TOPIC[PARTITION]@OFFSET, of kind dead_letter, with its reason;
  - the header saying "live" (the last fetch succeeded).
Then, after --settle more seconds (0; the page keeps refreshing, and its
throughput line fills), it saves the DOM (--dom), a screenshot of the whole
page (--screenshot) and prints what it saw as one JSON line. Exit status: 0 when every condition
held in time, 1 otherwise (the last observation is printed), 2 when the
browser could not be started.

Env: CHROMEDRIVER (default chromedriver), CHROMIUM (default
/usr/lib/chromium/chromium, Debian's binary behind the /usr/bin/chromium
wrapper, or chromium on PATH).
"""
import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

# What the page shows, read in the browser (the data-* attributes are the
# page's test hooks, src/status_page.html).
OBSERVE = """
const text = (e) => e ? e.textContent.trim() : null;
return {
  state: text(document.getElementById('state')),
  meta: text(document.getElementById('meta')),
  mappings: Array.from(document.querySelectorAll('section.mapping')).map(s => ({
    name: s.dataset.mapping,
    done_rate: text(s.querySelector('[data-field="done-rate"] .value')),
    lag_rows: Array.from(s.querySelectorAll('table[data-table="lag"] tbody tr')).map(r => ({
      partition: r.dataset.partition, lag: text(r.querySelector('[data-field="lag"]'))})),
    uncommitted: text(s.querySelector('[data-field="uncommitted"] .value')),
    failures: Array.from(s.querySelectorAll('table[data-table="failures"] tbody tr')).map(r => ({
      kind: r.dataset.kind, where: r.dataset.where,
      reason: text(r.querySelector('.reason'))})),
  })),
};
"""


class WebDriver:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.session = None

    def call(self, method, path, body=None, timeout=60):
        url = self.base + path
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: HTTP {e.code}: {e.read()[:500]!r}") from None

    def s(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium_binary():
    env = os.environ.get("CHROMIUM")
    if env:
        return env
    if os.access("/usr/lib/chromium/chromium", os.X_OK):
        return "/usr/lib/chromium/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"


def number(text):
    try:
        return float((text or "").replace(",", ""))
    except ValueError:
        return None


def unmet(obs, a):
    """What the page does not show yet, as sentences (empty: all of it)."""
    missing = []
    if obs.get("state") != "live":
        missing.append(f"the header says {obs.get('state')!r}, not 'live'")
    m = next((x for x in obs.get("mappings", []) if x["name"] == a.mapping), None)
    if m is None:
        return missing + [f"no section for mapping {a.mapping!r}"]
    rows = m["lag_rows"]
    if len(rows) != a.partitions or any(number(r["lag"]) is None for r in rows):
        missing.append(f"{len(rows)} lag row(s) with a lag, want {a.partitions}")
    rate = number(m["done_rate"])
    if not rate or rate <= 0:
        missing.append(f"records done/s is {m['done_rate']!r}, want a number above 0")
    for f in a.failure:
        topic, part, off = f.rsplit(":", 2)
        where = f"{topic}[{part}]@{off}"
        if not any(x["where"] == where and x["kind"] == "dead_letter" and x["reason"]
                   for x in m["failures"]):
            missing.append(f"no dead_letter failure row at {where}")
    return missing


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--mapping", required=True)
    ap.add_argument("--partitions", type=int, required=True)
    ap.add_argument("--failure", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--screenshot")
    ap.add_argument("--dom")
    ap.add_argument("--window", default="1280,900")
    ap.add_argument("--settle", type=float, default=0)
    a = ap.parse_args()

    driver_bin = os.environ.get("CHROMEDRIVER", "chromedriver")
    port = free_port()
    profile = tempfile.mkdtemp(prefix="kf-chromium-")
    log = open(os.path.join(profile, "chromedriver.log"), "w")
    proc = subprocess.Popen([driver_bin, f"--port={port}"], stdout=log, stderr=log)
    wd = WebDriver(port)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if (wd.call("GET", "/status", timeout=2) or {}).get("ready"):
                    break
            except (OSError, RuntimeError):
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                print("status_page_check: chromedriver did not start:", file=sys.stderr)
                log.flush()
                sys.stderr.write(open(log.name).read()[-2000:])
                return 2
            time.sleep(0.1)  # poll interval
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium_binary(),
                # --no-sandbox: the tests run as root in a container, where
                # Chromium's sandbox cannot start.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", f"--window-size={a.window}",
                         f"--user-data-dir={profile}/profile", "--hide-scrollbars"],
            }}}}
        try:
            wd.session = wd.call("POST", "/session", caps, timeout=90)["sessionId"]
        except (OSError, RuntimeError, KeyError, TypeError) as e:
            print(f"status_page_check: Chromium did not start: {e}", file=sys.stderr)
            log.flush()
            sys.stderr.write(open(log.name).read()[-2000:])
            return 2
        t0 = time.monotonic()
        wd.s("POST", "/url", {"url": a.url})
        obs, missing = {}, ["nothing observed"]
        while time.monotonic() - t0 < a.timeout:
            obs = wd.s("POST", "/execute/sync", {"script": OBSERVE, "args": []}) or {}
            missing = unmet(obs, a)
            if not missing:
                break
            time.sleep(0.5)  # poll interval; the page itself refreshes every 2 s
        took = time.monotonic() - t0
        if not missing and a.settle > 0:
            time.sleep(a.settle)  # a fuller page to look at, not a synchronisation
        if a.dom:
            with open(a.dom, "w", encoding="utf-8") as f:
                f.write(wd.s("GET", "/source") or "")
        if a.screenshot:
            # The whole page: the viewport as tall as the document (capped),
            # the window's own frame added to the document's height.
            w = int(a.window.split(",")[0])
            doc_h, frame = wd.s("POST", "/execute/sync", {"script": (
                "return [document.documentElement.scrollHeight,"
                " window.outerHeight - window.innerHeight];"), "args": []})
            wd.s("POST", "/window/rect", {"width": w, "height": min(doc_h + frame, 2400)})
            png = base64.b64decode(wd.s("GET", "/screenshot"))
            with open(a.screenshot, "wb") as f:
                f.write(png)
        summary = {"seconds": round(took, 1), "missing": missing, "observed": obs}
        print(json.dumps(summary))
        if missing:
            for m in missing:
                print(f"status_page_check: not shown after {a.timeout:.0f} s: {m}",
                      file=sys.stderr)
            return 1
        return 0
    finally:
        if wd.session:
            try:
                wd.s("DELETE", "")
            except (OSError, RuntimeError):
                pass
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
