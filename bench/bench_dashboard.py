#!/usr/bin/env python3
"""The dashboard's charts page in headless Chromium: bytes transferred and time to first chart.

    .venv/bin/python bench/bench_dashboard.py [--hours 48] [--range 24h] [--runs 5] [--server-process]

Builds an embedded store with ``--hours`` of 30 s snapshots of one simulated Thermia pump
(decoded from the simulator's ``PumpModel``), serves the dashboard on loopback
(``DashboardThread``) and opens ``/charts?range=24h`` ``--runs`` times, each in a fresh
browser context (empty cache), then once more with a warm cache. ``--server-process``: the
dashboard as ``heatpump-monitor serve`` in a process of its own, as deployed (in this process
its threads share the interpreter with Playwright's client, which slows its answers).

* transferred: the sum of Chromium's ``encodedDataLength`` (CDP ``Network.loadingFinished``:
  bytes on the wire, headers included, gzip on) of every response of the page load; the
  table also lists each response's body size as sent (``Content-Length``) and unpacked.
* time to first chart: ``window.__firstChartMs``, set by the page's app.js with
  ``performance.now()`` (milliseconds since navigation start) when the first chart with data
  has been drawn (uPlot's ``draw`` hook of that chart: its canvas is painted); "all charts" is
  ``window.__chartsReadyMs``. The breakdown uses app.js's ``performance.mark``
  ``hp:uplot-ready`` (the chart library loaded and run) and the Resource Timing of the series
  requests: the page asks for the data in two parts (the first chart's fields, then the rest),
  both named in the page's ``<link rel=preload>``, so they start while the page is read.

Before and after issue 12 on this machine (``--runs 5``, medians, 24 h page): see README's
Benchmarks; run the old code from a checkout of the commit before for a side-by-side figure.

Chromium: /usr/bin/chromium (override with $CHROMIUM_BIN). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from heatpump_monitor.config import StoreConfig
from heatpump_monitor.model import Snapshot
from heatpump_monitor.simulator.model import PumpModel
from heatpump_monitor.stores.embedded import EmbeddedSink
from heatpump_monitor.web import DashboardThread

from _common import free_port_block, wait_listening  # bench/_common.py

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
GATEWAY = "192.168.1.50"


def build_store(path: Path, hours: float) -> int:
    model = PumpModel("thermia", 7)
    now = int(time.time()) // 30 * 30
    sink = EmbeddedSink(path)
    batch: list[Snapshot] = []
    n = 0
    for t in range(now - int(hours * 3600), now + 1, 30):
        batch.append(Snapshot(GATEWAY, "thermia", "api", t * 1000,
                              model.provider.decode_poll(model.raw_alldata(float(t))).values))
        if len(batch) >= 2000:
            sink.write_sync(batch)
            n += len(batch)
            batch = []
    sink.write_sync(batch)
    n += len(batch)
    asyncio.run(sink.close())
    return n


def load_once(context, url: str) -> dict:
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    urls: dict[str, str] = {}
    wire: dict[str, int] = {}
    cdp.on("Network.responseReceived", lambda e: urls.__setitem__(e["requestId"], e["response"]["url"]))
    cdp.on("Network.loadingFinished", lambda e: wire.__setitem__(e["requestId"], int(e["encodedDataLength"])))
    bodies: dict[str, tuple[int | None, int]] = {}

    def on_response(resp) -> None:
        try:
            size = len(resp.body())
        except Exception:  # redirects, 304s
            size = 0
        cl = resp.headers.get("content-length")
        bodies[resp.url] = (int(cl) if cl else None, size)

    page.on("response", on_response)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_function("() => window.__chartsReadyMs !== undefined", timeout=60_000)
    marks = dict(page.evaluate("() => performance.getEntriesByType('mark').map(m => [m.name, m.startTime])"))
    # each series request (in the order asked): [asked at, answered at], ms since navigation
    parts = page.evaluate("() => performance.getEntriesByType('resource').filter(r => r.name.includes('/api/v1/series'))"
                          ".sort((a, b) => a.startTime - b.startTime).map(r => [r.startTime, r.responseEnd])")
    first = page.evaluate("() => window.__firstChartMs")
    ready = page.evaluate("() => window.__chartsReadyMs")
    points = page.evaluate("() => Math.max(...Object.values(window.__charts).map(u => u.data[0].length))")
    page.wait_for_timeout(300)  # late loadingFinished events
    per_url = {}
    for rid, u in urls.items():
        per_url[u] = per_url.get(u, 0) + wire.get(rid, 0)
    page.close()
    return {"first": first, "ready": ready, "lib": marks.get("hp:uplot-ready"), "parts": parts, "wire": per_url, "bodies": bodies, "errors": errors, "points": points}


@contextlib.contextmanager
def server_process(store: Path):
    """``heatpump-monitor serve`` on the store, in a process of its own; yields its base URL."""
    port = free_port_block(1)
    cli = Path(sys.executable).with_name("heatpump-monitor")
    proc = subprocess.Popen([str(cli), "serve", "--store", str(store), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(10)


def short(u: str, base: str) -> str:
    u = u.removeprefix(base.rstrip("/"))
    return u if len(u) <= 60 else u[:57] + "..."


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=48, help="hours of data in the store (default 48)")
    ap.add_argument("--range", default="24h", help="range preset to open (default 24h)")
    ap.add_argument("--runs", type=int, default=5, help="cold-cache page loads (default 5)")
    ap.add_argument("--server-process", action="store_true",
                    help="the dashboard in a process of its own (default: a thread of this one)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "bench.sqlite3"
        t0 = time.perf_counter()
        n = build_store(store, args.hours)
        print(f"store: {n} snapshots ({args.hours:g} h at 30 s) built in {time.perf_counter() - t0:.1f} s")
        server = (server_process(store) if args.server_process
                  else DashboardThread(StoreConfig(kind="embedded", path=str(store))))
        with server as base, sync_playwright() as p:
            url = f"{base}charts?gateway={GATEWAY}&range={args.range}"
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            print(f"chromium {browser.version}; page {url}")
            runs = []
            for _ in range(args.runs):
                ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                runs.append(load_once(ctx, url))
                ctx.close()
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            load_once(ctx, url)
            warm = load_once(ctx, url)  # same context: uPlot, app.js etc. from the browser cache
            ctx.close()
            browser.close()

    last = runs[-1]
    print(f"\nresponses of one cold load (range {args.range}, {last['points']} points per series at most):")
    print(f"  {'resource':<62} {'on the wire':>12} {'body sent':>10} {'unpacked':>10}")
    for u, w in sorted(last["wire"].items(), key=lambda kv: -kv[1]):
        cl, size = last["bodies"].get(u, (None, 0))
        print(f"  {short(u, base):<62} {w:>12,} {cl if cl is not None else '-':>10} {size:>10,}")
    totals = [sum(r["wire"].values()) for r in runs]
    bodies_sent = sum(cl or 0 for cl, _ in last["bodies"].values())
    unpacked = sum(size for _, size in last["bodies"].values())
    print(f"  {'total':<62} {totals[-1]:>12,} {bodies_sent:>10,} {unpacked:>10,}")
    firsts = [r["first"] for r in runs]
    readies = [r["ready"] for r in runs]
    print(f"\ncold cache, {len(runs)} loads:")
    print(f"  transferred:          {statistics.median(totals) / 1e6:.2f} MB (median; {min(totals):,}..{max(totals):,} bytes)")
    print(f"  time to first chart:  {statistics.median(firsts):.0f} ms median (min {min(firsts):.0f}, max {max(firsts):.0f})")
    print(f"  all six charts drawn: {statistics.median(readies):.0f} ms median")
    print(f"  of which: uPlot loaded and run by {statistics.median(r['lib'] for r in runs):.0f} ms (median)")
    for i in range(max(len(r["parts"]) for r in runs)):
        got = [r["parts"][i] for r in runs if len(r["parts"]) > i]
        print(f"  /api/v1/series part {i + 1}: asked at {statistics.median(a for a, _ in got):.0f} ms, "
              f"answered by {statistics.median(b for _, b in got):.0f} ms (medians)")
    print("warm cache (uPlot, app.js, style.css cached):")
    print(f"  transferred:          {sum(warm['wire'].values()) / 1e3:.0f} kB")
    print(f"  time to first chart:  {warm['first']:.0f} ms; all charts {warm['ready']:.0f} ms")
    errors = [e for r in runs + [warm] for e in r["errors"]]
    if errors:
        print(f"console errors: {errors[:5]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
