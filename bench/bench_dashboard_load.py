#!/usr/bin/env python3
"""The dashboard under a burst of heavy chart queries: latency, /latest meanwhile, memory.

    .venv/bin/python bench/bench_dashboard_load.py [--snapshots 200000] [--clients 30]
        [--src DIR] [--scenario issue --scenario capped] [--rounds 1]

Reproduces issue 10 (7): an embedded store of ``--snapshots`` 30 s snapshots of one gateway
(40 registers, values from bench_series' sine tables; cached in /tmp), the dashboard in a
subprocess (``heatpump_monitor.web.serve.serve``, the production entry point, all settings at
their defaults) and, per scenario, a fresh server that gets:

1. a warm-up (gateways, latest, one small series), then its RSS: the baseline;
2. ``--clients`` concurrent ``/api/v1/series`` requests, half over 7 days and half over 90
   days, 39 fields (37 registers and the two derived ones) each;
3. meanwhile, one ``/api/v1/latest`` after another (each waits for the previous one), and
   its RSS sampled every 20 ms (the peak);
4. the RSS 3 s and 10 s after the last answer; with ``--rounds N`` the burst is repeated N
   times on the same server (does memory creep?).

Scenarios: ``issue`` asks 5,000 points per field (the issue's requests, 195,000 values each),
``capped`` 1,500 points (58,500 values: within the dashboard's per-request limit, so the same
requests reach the store on every version).

``--src`` is the ``src`` directory of the checkout to measure (default: this one), e.g. a
``git worktree add /tmp/dash-before HEAD`` of an older commit: the server runs with
``PYTHONPATH=<src>``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from _common import wait_listening
from bench_series import REGISTERS, T_START, Generator

from heatpump_monitor.stores.embedded import EmbeddedSink

VERSION = 1  # bump when the generated store changes
GATEWAY = "192.168.1.100"
DAY = 86_400_000
# the stored registers Thermia's catalog knows, and the two derived fields: 39
FIELDS = [r for r in REGISTERS if r not in ("indoor_2", "hot_water_bottom", "suction_gas")] + [
    "delta_t_radiator", "delta_t_brine"]
SCENARIOS = {"issue": 5000, "capped": 1500}
HERE = Path(__file__).resolve().parent

SERVER = """
import logging, sys
from heatpump_monitor.config import StoreConfig
from heatpump_monitor.web.serve import serve
logging.basicConfig(level=logging.WARNING)
sys.exit(serve("127.0.0.1", int(sys.argv[2]), StoreConfig(kind="embedded", path=sys.argv[1]), None,
               logging.getLogger("bench")))
"""


# -- the store ------------------------------------------------------------------------------


def build_store(path: Path, n: int) -> float:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)
    gen, sink = Generator(), EmbeddedSink(path)
    t0, written, d = time.perf_counter(), 0, 0
    while written < n:
        day = gen.day(d, GATEWAY)[: n - written]
        sink.write_sync(day)
        written += len(day)
        d += 1
        if d % 10 == 0:
            print(f"  {written:,}/{n:,} snapshots, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    asyncio.run(sink.close())
    elapsed = time.perf_counter() - t0
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE bench_meta (version INTEGER, n INTEGER)")
        db.execute("INSERT INTO bench_meta VALUES (?, ?)", (VERSION, n))
    return elapsed


def cached(path: Path, n: int) -> bool:
    if not path.exists():
        return False
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return db.execute("SELECT version, n FROM bench_meta").fetchone() == (VERSION, n)
    except sqlite3.Error:
        return False


# -- the server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


class Server:
    def __init__(self, src: Path, store: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(src)}
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER, str(store), str(self.port)], env=env)
        wait_listening(self.port, 60)
        self.url = f"http://127.0.0.1:{self.port}"

    def rss(self) -> float:
        return rss_mb(self.proc.pid)

    def breakdown(self) -> str:
        pid = self.proc.pid
        return (f"anonymous {rss_mb(pid, 'RssAnon'):.0f} MB, files {rss_mb(pid, 'RssFile'):.0f} MB, "
                f"{threads(pid)} threads")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.proc.kill()
            self.proc.wait()


# -- a scenario -----------------------------------------------------------------------------


async def warm_up(http: httpx.AsyncClient, end_ms: int) -> None:
    """The gateway list, the poll interval, one small series: what every server has done."""
    await http.get("/api/v1/gateways")
    await http.get("/api/v1/latest", params={"gateway": GATEWAY})
    await http.get("/api/v1/series", params={"gateway": GATEWAY, "fields": "outdoor_temp",
                                             "start": end_ms - DAY, "end": end_ms, "points": 100})
    await asyncio.sleep(1)


async def burst(http: httpx.AsyncClient, server: Server, clients: int, points: int, end_ms: int) -> dict:
    """One burst of ``clients`` chart queries with /latest polled meanwhile; RSS until 10 s after."""
    start_rss = server.rss()
    peak = [start_rss]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], server.rss())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    latest: list[float] = []
    busy = True

    async def poll_latest() -> None:
        await asyncio.sleep(0.2)  # the burst is in
        while busy:
            t = time.perf_counter()
            r = await http.get("/api/v1/latest", params={"gateway": GATEWAY})
            latest.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
            await asyncio.sleep(0.1)

    async def one(i: int) -> tuple[int, float, int, str]:
        days = 7 if i % 2 == 0 else 90
        t = time.perf_counter()
        r = await http.get("/api/v1/series", params={
            "gateway": GATEWAY, "fields": ",".join(FIELDS), "start": end_ms - days * DAY, "end": end_ms,
            "points": points})
        return r.status_code, time.perf_counter() - t, len(r.content), r.text[:160] if r.status_code != 200 else ""

    poller = asyncio.create_task(poll_latest())
    t0 = time.perf_counter()
    answers = await asyncio.gather(*(one(i) for i in range(clients)))
    wall = time.perf_counter() - t0
    busy = False
    await poller
    done.set()
    sampler.join()
    await asyncio.sleep(3)
    after3 = server.rss()
    await asyncio.sleep(7)
    after10 = server.rss()
    after_parts = server.breakdown()
    # still answering normally afterwards
    t = time.perf_counter()
    r = await http.get("/api/v1/latest", params={"gateway": GATEWAY})
    latest_after = time.perf_counter() - t
    assert r.status_code == 200
    return {"answers": answers, "wall": wall, "latest": latest, "peak": peak[0], "after3": after3,
            "after10": after10, "latest_after": latest_after, "after_parts": after_parts}


async def scenario(server: Server, clients: int, points: int, end_ms: int, rounds: int) -> tuple[float, str, list]:
    # keep-alive shorter than uvicorn's 5 s: no request on a connection the server is closing
    limits = httpx.Limits(max_connections=clients + 5, max_keepalive_connections=clients + 5, keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=server.url, timeout=600, limits=limits, trust_env=False) as http:
        await warm_up(http, end_ms)
        baseline, parts = server.rss(), server.breakdown()
        return baseline, parts, [await burst(http, server, clients, points, end_ms) for _ in range(rounds)]


def report(name: str, points: int, clients: int, baseline: float, parts: str, rounds: list[dict]) -> None:
    print(f"\nscenario {name}: {clients} concurrent /api/v1/series, {len(FIELDS)} fields x {points} points "
          f"({len(FIELDS) * points:,} values), 7 d / 90 d; RSS baseline {baseline:.0f} MB ({parts})")
    for k, res in enumerate(rounds, 1):
        answers = res["answers"]
        statuses = Counter(a[0] for a in answers)
        ok = [a[1] for a in answers if a[0] == 200]
        other = [a[1] for a in answers if a[0] != 200]
        print(f" burst {k}:")
        print(f"  statuses: {dict(sorted(statuses.items()))}; burst over after {res['wall']:.1f} s")
        if ok:
            print(f"  200 answers: median {statistics.median(ok):.2f} s, max {max(ok):.2f} s, "
                  f"{statistics.median(a[2] for a in answers if a[0] == 200) / 1e6:.1f} MB each (median)")
        if other:
            print(f"  other answers: median {statistics.median(other):.2f} s, max {max(other):.2f} s; e.g. "
                  + "; ".join(sorted({f'{a[0]} {a[3]}' for a in answers if a[0] != 200})[:3]))
        lat = res["latest"]
        if lat:
            print(f"  /api/v1/latest during the burst: {len(lat)} requests, median "
                  f"{statistics.median(lat) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms")
        print(f"  /api/v1/latest after the burst: {res['latest_after'] * 1000:.0f} ms")
        print(f"  RSS: peak {res['peak']:.0f} MB, 3 s after {res['after3']:.0f} MB, 10 s after "
              f"{res['after10']:.0f} MB ({res['after_parts']})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--snapshots", type=int, default=200_000)
    ap.add_argument("--clients", type=int, default=30)
    ap.add_argument("--src", default=str(HERE.parent / "src"), help="src directory of the checkout to measure")
    ap.add_argument("--scenario", action="append", choices=sorted(SCENARIOS),
                    help="issue (5,000 points) and/or capped (1,500 points); default both")
    ap.add_argument("--rounds", type=int, default=1, help="bursts per server, 10 s apart (default 1)")
    ap.add_argument("--dir", default="/tmp", help="where the cached store lives")
    args = ap.parse_args()

    store = Path(args.dir) / f"hpm-bench-load-v{VERSION}-{args.snapshots}.sqlite3"
    if not cached(store, args.snapshots):
        print(f"building {store} ({args.snapshots:,} snapshots)...", file=sys.stderr)
        print(f"store built in {build_store(store, args.snapshots):.0f} s", file=sys.stderr)
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        last = db.execute("SELECT max(ts_ms) FROM snapshots").fetchone()[0]
    end_ms = last + 1
    src = Path(args.src).resolve()
    print(f"store: {args.snapshots:,} snapshots of 30 s ({(last - T_START) / DAY:.1f} days), {store.stat().st_size / 1e6:.0f} MB; "
          f"code: {src}; {os.cpu_count()} CPUs")
    for name in args.scenario or list(SCENARIOS):
        server = Server(src, store)
        try:
            baseline, parts, rounds = asyncio.run(scenario(server, args.clients, SCENARIOS[name], end_ms,
                                                           args.rounds))
        finally:
            server.stop()
        report(name, SCENARIOS[name], args.clients, baseline, parts, rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
