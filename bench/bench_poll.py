#!/usr/bin/env python3
"""CPU per poll of the request path, and of the whole ``collect`` process, against the
simulator (in another process) at 1, 100 and 1,000 gateways.

    .venv/bin/python bench/bench_poll.py clients [--gateways 1,100,1000] [--rounds 20]
    .venv/bin/python bench/bench_poll.py collect [--runs 1:1,100:1,1000:5] [--duration 40]

``clients``: in this process, every option for the one GET of a poll (the JSON decode
included), each polling every gateway ``--rounds`` times back to back (500 polls at least; at
most 512 requests in flight), after one round that opens the connections; CPU time of this
process per poll.
Options: ``httpx-before`` (the client as it was: one httpx.AsyncClient per gateway, default
5 s keep-alive expiry), ``httpx-tuned`` (the same with keep-alive expiry 1 h, HTTP/1.1 only, no
environment), ``aiohttp`` (one ClientSession; only if importable, e.g. PYTHONPATH=<a pip
--target dir>), ``minimal`` (sources/http.py, what ApiClient uses).

``collect``: the ``collect`` process's CPU (user + system, /proc) from the end of a warm-up
(the first ticks open connections and detect brands) to the end of the run, divided by the
polls stored for the ticks in that window. The whole process: polling, decoding, spooling and
the store write. Also the failed polls of the whole run (start-up included) by cause with the
times they were logged, the simulator's CPU (share of one core) in the window and the
machine's 5-minute load average at its end, to tell a saturated simulator or machine from a
slow collector. Prints figures; asserts nothing."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

from _common import free_port_block, raise_fd_limit, wait_listening  # bench/_common.py

BIN = Path(sys.executable).parent / "heatpump-monitor"
IN_FLIGHT = 512


def start_simulator(n: int) -> tuple[subprocess.Popen, list[str]]:
    base = free_port_block(n)
    sim = subprocess.Popen([str(BIN), "simulate", "--gateways", str(n), "--port", str(base),
                            "--brand", "thermia,ivt,nibe"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=raise_fd_limit)
    wait_listening(base + n - 1)
    # 127.1 is 127.0.0.1 (inet_aton): the short form keeps H66_IP of 10,000 gateways under the
    # kernel's 128 KB limit for one environment string
    return sim, [f"127.1:{base + i}" for i in range(n)]


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


# ---------------------------------------------------------------------------- clients

Fetch = Callable[[str], Awaitable[dict[str, Any]]]


async def httpx_client(tuned: bool) -> tuple[Fetch, Callable[[], Awaitable[None]]]:
    import httpx
    clients: dict[str, httpx.AsyncClient] = {}

    async def fetch(addr: str) -> dict[str, Any]:
        c = clients.get(addr)
        if c is None:
            limits = httpx.Limits(max_connections=2, max_keepalive_connections=1,
                                  keepalive_expiry=3600 if tuned else 5)
            c = clients[addr] = httpx.AsyncClient(timeout=10, trust_env=False, limits=limits, http1=True)
        async with c.stream("GET", f"http://{addr}/api/alldata") as resp:
            body = b"".join([chunk async for chunk in resp.aiter_bytes()])
        return json.loads(body)

    async def close() -> None:
        await asyncio.gather(*(c.aclose() for c in clients.values()))
    return fetch, close


async def aiohttp_client() -> tuple[Fetch, Callable[[], Awaitable[None]]]:
    import aiohttp
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=3600),
                                    trust_env=False, timeout=aiohttp.ClientTimeout(total=10))

    async def fetch(addr: str) -> dict[str, Any]:
        async with session.get(f"http://{addr}/api/alldata") as resp:
            body = await resp.content.read(1_000_001)
        return json.loads(body)
    return fetch, session.close


async def minimal_client() -> tuple[Fetch, Callable[[], Awaitable[None]]]:
    from heatpump_monitor.sources.api import ApiClient
    from heatpump_monitor.sources.gateway import parse_gateway
    client = ApiClient(10)
    gws: dict[str, Any] = {}

    async def fetch(addr: str) -> dict[str, Any]:
        gw = gws.get(addr) or gws.setdefault(addr, parse_gateway(addr))
        return await client.fetch_alldata(gw)
    return fetch, client.aclose


CLIENTS: dict[str, Callable[[], Awaitable[tuple[Fetch, Callable[[], Awaitable[None]]]]]] = {
    "httpx-before": lambda: httpx_client(False), "httpx-tuned": lambda: httpx_client(True),
    "aiohttp": aiohttp_client, "minimal": minimal_client,
}


async def measure_client(name: str, addrs: list[str], rounds: int) -> float | None:
    try:
        fetch, close = await CLIENTS[name]()
    except ImportError:
        return None
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one(addr: str) -> None:
        async with slots:
            await fetch(addr)

    try:
        await asyncio.gather(*(one(a) for a in addrs))  # connections opened
        rounds = max(rounds, 500 // len(addrs))  # enough polls to measure at 1 gateway too
        cpu = time.process_time()
        for _ in range(rounds):
            await asyncio.gather(*(one(a) for a in addrs))
        return (time.process_time() - cpu) / (rounds * len(addrs)) * 1000
    finally:
        await close()


def clients(args: argparse.Namespace) -> None:
    print(f"CPU per poll (ms) of the request path in one process, >= {args.rounds} rounds back to back; "
          f"{os.cpu_count()} cores")
    print(f"{'gateways':>8} " + " ".join(f"{n:>13}" for n in CLIENTS))
    for n in (int(x) for x in args.gateways.split(",")):
        sim, addrs = start_simulator(n)
        try:
            figures = [asyncio.run(measure_client(name, addrs, args.rounds)) for name in CLIENTS]
        finally:
            stop(sim)
        print(f"{n:>8} " + " ".join(f"{f:>13.3f}" if f is not None else f"{'n/a':>13}" for f in figures),
              flush=True)


# ---------------------------------------------------------------------------- collect

def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run_collect(n: int, interval: int, duration: float, warmup: float, tmp: Path) -> dict[str, Any]:
    sim, addrs = start_simulator(n)
    try:
        store = tmp / f"poll-{n}-{interval}.sqlite3"
        env = {**os.environ, "H66_IP": ",".join(addrs), "COLLECTION_INTERVAL": str(interval),
               "HEATPUMP_BRAND": "auto", "STORE_PATH": str(store), "CONFIG_FILE": "", "LOG_LEVEL": "WARNING",
               "DATA_DIR": str(tmp)}
        for k in ("INFLUXDB_URL", "INFLUXDB_TOKEN", "INFLUXDB_DATABASE"):
            env.pop(k, None)
        log = tmp / f"collect-{n}-{interval}.log"
        with open(log, "wb") as f:
            col = subprocess.Popen([str(BIN), "collect"], env=env, stdout=f, stderr=subprocess.STDOUT,
                                   preexec_fn=raise_fd_limit)
            samples = [(time.time(), cpu_s(col.pid), cpu_s(sim.pid))]
            while time.time() < samples[0][0] + warmup:  # the first ticks: CPU of both per interval
                time.sleep(min(1.0, interval / 10))
                samples.append((time.time(), cpu_s(col.pid), cpu_s(sim.pid)))
            t0, c0, s0 = samples[-1]
            time.sleep(duration)
            t1, c1, s1 = time.time(), cpu_s(col.pid), cpu_s(sim.pid)
            stop(col)
        # ticks scheduled inside the window (each tick's polls finish within its interval)
        with sqlite3.connect(store) as db:
            polls = db.execute("SELECT count(*) FROM snapshots WHERE ts_ms >= ? AND ts_ms < ?",
                               (int(t0 * 1000), int((t1 - interval) * 1000))).fetchone()[0]
            ticks = db.execute("SELECT count(DISTINCT ts_ms) FROM snapshots WHERE ts_ms >= ? AND ts_ms < ?",
                               (int(t0 * 1000), int((t1 - interval) * 1000))).fetchone()[0]
        text = log.read_text()
        stopped = STOPPED.search(text)
        return {"cpu_ms_per_poll": (c1 - c0) * 1000 / polls if polls else float("nan"), "polls": polls,
                "ticks": ticks, "failed": int(stopped.group(1)) if stopped else text.count(FAILED),
                "skipped": text.count("Skipped "), "sim_cpu": (s1 - s0) / (t1 - t0), "causes": causes(text),
                "load": os.getloadavg()[1], "warmup": per_interval(samples, interval),
                # polls left in the spool at the stop (written at the next start): not in the store
                "unwritten": sum(int(n) for n in re.findall(r"Exiting with (\d+) poll", text))}
    finally:
        stop(sim)


def per_interval(samples: list[tuple[float, float, float]], interval: int) -> list[tuple[float, float, float]]:
    """(grid tick, collector CPU s, simulator CPU s) of each whole interval of the warm-up."""
    out = []
    first = (int(samples[0][0]) // interval + 1) * interval
    for tick in range(first, int(samples[-1][0]) - interval + 1, interval):
        a = min(samples, key=lambda x: abs(x[0] - tick))
        b = min(samples, key=lambda x: abs(x[0] - tick - interval))
        out.append((tick, b[1] - a[1], b[2] - a[2]))
    return out


FAILED = "Failed to fetch data from API: "
STOPPED = re.compile(r"poll\(s\) ok, (\d+) failed")
#: a failed poll's line: its time and cause (the gateway and numbers taken out, to count by cause)
FAILED_LINE = re.compile(r"^(\S+ \S+) ERROR +" + FAILED + r"(.*) \(gateway (\S+?)[;)]", re.M)


def causes(log: str) -> dict[str, list[str]]:
    """The logged failed polls by cause: the times they were logged (the first of each outage
    of a gateway; its repeats are counted in the Stopped line only)."""
    out: dict[str, list[str]] = {}
    for when, cause, gateway in FAILED_LINE.findall(log):
        out.setdefault(re.sub(r"\d+(\.\d+)?", "N", cause.replace(gateway, "GW")), []).append(when)
    return out


def collect(args: argparse.Namespace) -> None:
    print(f"CPU per poll (ms) of the whole collect process (embedded store), {args.duration:g} s after "
          f"{args.warmup:g} s of warm-up; {os.cpu_count()} cores")
    print(f"{'gateways':>8} {'interval':>8} {'ticks':>6} {'polls':>7} {'failed':>7} {'skipped':>8} {'CPU/poll':>9} "
          f"{'simulator':>9} {'load':>5}")
    with tempfile.TemporaryDirectory() as d:
        for spec in args.runs.split(","):
            n, interval = (int(x) for x in spec.split(":"))
            r = run_collect(n, interval, args.duration, args.warmup, Path(d))
            print(f"{n:>8} {interval:>7}s {r['ticks']:>6} {r['polls']:>7} {r['failed']:>7} {r['skipped']:>8} "
                  f"{r['cpu_ms_per_poll']:>7.3f}ms {r['sim_cpu']:>8.0%} {r['load']:>5.1f}", flush=True)
            for tick, col_cpu, sim_cpu in r["warmup"]:
                print(f"{'':>10}warm-up interval from {time.strftime('%H:%M:%S', time.gmtime(tick))}: "
                      f"collector {col_cpu:.1f} s CPU, simulator {sim_cpu:.1f} s", flush=True)
            if r["unwritten"]:
                print(f"{'':>10}{r['unwritten']:>6} polls still in the spool at the stop (not counted)")
            for cause, times in r["causes"].items():  # where failed polls come from, when
                print(f"{'':>10}{len(times):>6} x {cause} ({times[0]} .. {times[-1]})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    c = sub.add_parser("clients")
    c.add_argument("--gateways", default="1,100,1000")
    c.add_argument("--rounds", type=int, default=20)
    p = sub.add_parser("collect")
    p.add_argument("--runs", default="1:1,100:1,1000:5")
    p.add_argument("--duration", type=float, default=40)
    p.add_argument("--warmup", type=float, default=12)
    args = ap.parse_args()
    raise_fd_limit()
    clients(args) if args.what == "clients" else collect(args)


if __name__ == "__main__":
    main()
