#!/usr/bin/env python3
"""(b) polls per second one ``collect`` process sustains against the simulator for 1, 100 and
1,000 gateways; (d) peak RSS of ``collect``.

    .venv/bin/python bench/bench_collect.py [--duration 30] [--runs 1:1,100:1,1000:5]

A run ``N:I`` polls N simulated gateways every I seconds into the embedded store. The
simulator runs in ANOTHER process (``heatpump-monitor simulate``), so the two share this
machine's cores. "sustained" means every tick of the run stored every gateway (no failed
poll, no skipped tick). Prints figures; asserts nothing."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import free_port_block, raise_fd_limit, wait_listening  # bench/_common.py

BIN = Path(sys.executable).parent / "heatpump-monitor"


def rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(n: int, interval: int, duration: float, tmp: Path) -> dict:
    base = free_port_block(n)
    sim = subprocess.Popen([str(BIN), "simulate", "--gateways", str(n), "--port", str(base),
                            "--brand", "thermia,ivt,nibe"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=raise_fd_limit)
    try:
        wait_listening(base + n - 1)
        store = tmp / f"bench-{n}-{interval}.sqlite3"
        log = tmp / f"collect-{n}-{interval}.log"
        env = {**os.environ, "H66_IP": ",".join(f"127.0.0.1:{base + i}" for i in range(n)),
               "COLLECTION_INTERVAL": str(interval), "HEATPUMP_BRAND": "auto", "STORE_PATH": str(store),
               "CONFIG_FILE": "", "LOG_LEVEL": "WARNING"}
        for k in ("INFLUXDB_URL", "INFLUXDB_TOKEN", "INFLUXDB_DATABASE"):
            env.pop(k, None)
        with open(log, "wb") as f:
            col = subprocess.Popen([str(BIN), "collect"], env=env, stdout=f, stderr=subprocess.STDOUT,
                                   preexec_fn=raise_fd_limit)
            time.sleep(duration)
            rss = rss_peak_mb(col.pid)
            col.send_signal(signal.SIGTERM)
            col.wait(30)
        with sqlite3.connect(store) as db:
            rows, t0, t1 = db.execute("SELECT count(*), min(ts_ms), max(ts_ms) FROM snapshots").fetchone()
            per_tick = [c for (c,) in db.execute("SELECT count(*) FROM snapshots GROUP BY ts_ms ORDER BY ts_ms")]
        text = log.read_text()
        failed = len(re.findall("Failed to fetch data from API", text))
        skipped = sum(int(m) for m in re.findall(r"Skipped (\d+) tick", text))
        ticks = (t1 - t0) // (interval * 1000) + 1 if rows else 0
        span = ticks * interval
        return {"gateways": n, "interval": interval, "ticks": ticks, "stored": rows, "expected": ticks * n,
                "polls_per_s": rows / span if span else 0.0, "failed": failed,
                "skipped": skipped, "rss_mb": rss,
                # after the first tick (which also opens connections and detects brands)
                "steady_min": min(per_tick[1:]) if len(per_tick) > 1 else 0}
    finally:
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(20)
        except subprocess.TimeoutExpired:
            sim.kill()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--runs", default="1:1,100:1,1000:5", help="gateways:interval,...")
    args = ap.parse_args()
    print(f"collect -> embedded store; simulator in another process; {args.duration:g} s per run; "
          f"{os.cpu_count()} cores")
    print(f"{'gateways':>8} {'interval':>8} {'ticks':>6} {'stored':>7} {'expected':>8} {'polls/s':>8} "
          f"{'failed':>7} {'skipped':>8} {'sustained':>9} {'steady min/tick':>15} {'peak RSS':>9}")
    with tempfile.TemporaryDirectory() as d:
        for spec in args.runs.split(","):
            n, interval = (int(x) for x in spec.split(":"))
            r = run(n, interval, args.duration, Path(d))
            ok = r["stored"] == r["expected"] and not r["failed"] and not r["skipped"]
            print(f"{r['gateways']:>8} {r['interval']:>7}s {r['ticks']:>6} {r['stored']:>7} {r['expected']:>8} "
                  f"{r['polls_per_s']:>8.1f} {r['failed']:>7} {r['skipped']:>8} {'yes' if ok else 'no':>9} "
                  f"{r['steady_min']:>15} {r['rss_mb']:>7.1f}MB", flush=True)


if __name__ == "__main__":
    main()
