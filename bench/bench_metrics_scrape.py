#!/usr/bin/env python3
"""How long a /metrics scrape holds the collector's event loop, with register gauges
(METRICS_REGISTERS=true) of 1 to 1,000 gateways.

    .venv/bin/python bench/bench_metrics_scrape.py [--gateways 1,10,100,1000] [--scrapes 7] [--inline]

The collector's real health server (uvicorn on a loopback port, the collector's
``CollectorMetrics`` and ``RegisterGauges``) runs on an event loop with a heartbeat task that
sleeps 1 ms at a time and records how late it wakes: the loop's longest stall during a
scrape is how long a tick or a poll would have waited. curl scrapes (a process of its own, as Prometheus). Each gateway
holds a snapshot with every register of its brand (thermia, ivt, nibe in turn).

``--inline`` renders on the loop (what the collector did before: the copy and the text in the
request handler) for comparison. Run against a checkout without ``CollectorMetrics.freeze``
(``PYTHONPATH=<old>/src``), it uses that checkout's own scrape, ``generate_latest`` of the
registry. Prints figures (medians); asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from types import SimpleNamespace

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heatpump_monitor.health.metrics import CollectorMetrics
from heatpump_monitor.health.server import Health, HealthServer, create_health_app
from heatpump_monitor.integrations.registers import RegisterGauges
from heatpump_monitor.model import Snapshot
from heatpump_monitor.pipeline.contract import CollectorStats
from heatpump_monitor.pipeline.grid import Ticker
from heatpump_monitor.pipeline.spool import MemorySpool
from heatpump_monitor.pipeline.writer import Writer
from heatpump_monitor.providers import BRANDS, load_provider


class Sink:
    description = "bench sink"

    async def write(self, snapshots: object) -> None:
        pass

    async def check(self) -> None:
        pass

    async def close(self) -> None:
        pass


def parts(n: int, inline: bool) -> SimpleNamespace:
    clock = time.time
    names = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(n)]
    collector = SimpleNamespace(ticker=Ticker(30, clock), interval_s=30, stats=CollectorStats(),
                                last_success={g: clock() for g in names})
    writer = Writer(Sink(), MemorySpool(100))
    metrics = CollectorMetrics(collector, writer, "api", "thermia")
    gauges = RegisterGauges(load_provider, max_gateways=n)
    new = hasattr(metrics, "freeze")
    (metrics.deferred if new else metrics.extra).append(gauges.copy if new else gauges.collect)
    brands = list(BRANDS)
    snaps = []
    for i, g in enumerate(names):
        brand = brands[i % len(brands)]
        values = {r.name: float(i % 50) + 0.5 for r in load_provider(brand).registers.values()}
        snaps.append(Snapshot(g, brand, "api", 0, values))
    gauges.on_snapshots(snaps)
    app = create_health_app(Health(collector, writer), metrics)
    if inline:  # the text made in the handler, on the loop
        async def on_loop(request: Request) -> Response:
            body = metrics.freeze().render() if new else generate_latest(metrics.registry)
            return Response(body, media_type=CONTENT_TYPE_LATEST)
        app = Starlette(routes=[Route("/metrics", on_loop)])
    return SimpleNamespace(metrics=metrics, app=app, new=new)


async def scrape(url: str) -> int:
    """One scrape by curl: a process of its own, as Prometheus is (a client thread in this
    process would compete for the interpreter's lock and count its own parsing as a stall)."""
    proc = await asyncio.create_subprocess_exec("curl", "-sS", "--noproxy", "*", "-o", "/dev/null",
                                                "-w", "%{http_code} %{size_download}", url,
                                                stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    code, size = out.decode().split()
    if code != "200":
        raise SystemExit(f"/metrics answered {code}")
    return int(size)


async def run(n: int, scrapes: int, inline: bool) -> dict[str, float]:
    p = parts(n, inline)
    server = HealthServer(p.app, "127.0.0.1", 0)
    assert server.start()
    stall = {"max": 0.0}
    stop = asyncio.Event()

    async def heartbeat() -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            await asyncio.sleep(0.001)
            stall["max"] = max(stall["max"], time.perf_counter() - t0 - 0.001)

    beat = asyncio.create_task(heartbeat())
    url = f"http://127.0.0.1:{server.port}/metrics"
    walls, stalls, sizes = [], [], []
    await scrape(url)  # warm up
    await asyncio.sleep(0.05)
    stall["max"] = 0.0
    await asyncio.sleep(0.2)
    idle = stall["max"]  # the heartbeat's own noise on this machine
    for _ in range(scrapes):
        stall["max"] = 0.0
        t0 = time.perf_counter()
        sizes.append(await scrape(url))
        walls.append(time.perf_counter() - t0)
        stalls.append(stall["max"])
        await asyncio.sleep(0.05)
    copies = []
    if p.new:
        for _ in range(scrapes):
            t0 = time.perf_counter()
            p.metrics.freeze()
            copies.append(time.perf_counter() - t0)
    stop.set()
    await beat
    await server.stop()
    return {"scrape_ms": statistics.median(walls) * 1000, "stall_ms": statistics.median(stalls) * 1000,
            "stall_max_ms": max(stalls) * 1000, "idle_ms": idle * 1000,
            "copy_ms": statistics.median(copies) * 1000 if copies else float("nan"),
            "kb": statistics.median(sizes) / 1000}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gateways", default="1,10,100,1000")
    ap.add_argument("--scrapes", type=int, default=7)
    ap.add_argument("--inline", action="store_true", help="render on the loop, as before")
    args = ap.parse_args()
    mode = "on the loop (--inline)" if args.inline else "copy on the loop, text in a worker thread"
    if not hasattr(CollectorMetrics, "freeze"):
        mode = "this checkout's own scrape (generate_latest of the registry, on the loop)"
    print(f"/metrics with register gauges: {mode}; medians of {args.scrapes} scrapes")
    print(f"{'gateways':>8} {'kB':>8} {'scrape ms':>10} {'loop stall ms':>14} {'worst':>8} {'copy ms':>8} "
          f"{'idle stall':>10}")
    for n in [int(x) for x in args.gateways.split(",")]:
        r = asyncio.run(run(n, args.scrapes, args.inline))
        print(f"{n:>8} {r['kb']:>8.0f} {r['scrape_ms']:>10.1f} {r['stall_ms']:>14.1f} {r['stall_max_ms']:>8.1f} "
              f"{r['copy_ms']:>8.2f} {r['idle_ms']:>10.1f}")


if __name__ == "__main__":
    main()
