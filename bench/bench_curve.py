#!/usr/bin/env python3
"""The heat-curve and signature answers over 30 days of one gateway (issue 16).

    .venv/bin/python bench/bench_curve.py [--days 30] [--store /tmp/bench-curve-30d.sqlite3] [--runs 7]

Builds (once; kept for the next run) a store with ``--days`` of one Thermia gateway at 30 s,
ending now: compressor cycles, hot-water charges, an outdoor temperature that swings by day and
by week, a forward temperature on a curve, indoor, the curve registers, power and an energy
counter, written through the embedded sink in batches like the collector's. Then through the
dashboard (a real uvicorn server on loopback):

* ``GET /api/v1/heatcurve?since=30d`` (1000 buckets of 7 fields: the chart query, the fits);
* ``GET /api/v1/signature?since=30d``: the first (cold: the summaries read every snapshot) and
  then warm (closed hours from the summarizer's cache), and with a second period of 30 days.

Prints medians in ms over ``--runs``; asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import httpx

from heatpump_monitor.config import StoreConfig
from heatpump_monitor.model import Snapshot
from heatpump_monitor.stores.embedded import EmbeddedSink
from heatpump_monitor.web import DashboardThread

I = 30_000


def build(path: Path, days: int) -> None:
    end = int(time.time()) // 30 * 30 * 1000
    start = end - days * 86_400_000
    sink = EmbeddedSink(path)
    kwh, batch, t0 = 6_000.0, [], time.monotonic()
    for k, t in enumerate(range(start, end, I)):
        day = k / 2880
        outdoor = -3.0 + 6.0 * math.sin(2 * math.pi * day / 7) + 3.0 * math.sin(2 * math.pi * day)
        minute = (k // 2) % 40
        hot = (k // 2) % 360 < 35
        on = minute < 22 or hot
        kwh += (0.016 if on else 0.0002) * (1.0 + max(0.0, -outdoor) / 10)
        forward = 55.0 if hot else 40.0 - 0.8 * outdoor + (1.5 if on else -1.5)
        batch.append(Snapshot("gw", "thermia", "api", t, {
            "compressor": float(on), "switch_valve": float(hot), "hot_water_top": 48.0, "outdoor_temp": round(outdoor, 1),
            "radiator_forward": round(forward, 1), "radiator_return": round(forward - 5.0, 1),
            "indoor_temp": round(21.0 + 0.02 * (forward - 40.0 + 0.8 * outdoor), 1),
            "heating_setpoint": round(40.0 - 0.8 * outdoor, 1), "heat_curve": 40.0, "heat_curve_max": 55.0,
            "room_temp_setpoint": 21.0, "power_w": 1900.0 if on else 12.0, "energy_kwh": float(int(kwh) % 65536),
            "alarm": 0.0, "additional_heat": 0.0, "degree_minutes": -60.0 + (k % 80),
        }))
        if len(batch) == 2880:
            sink.write_sync(batch)
            batch = []
    if batch:
        sink.write_sync(batch)
    import asyncio

    asyncio.run(sink.close())
    print(f"built {days} days ({(end - start) // I} snapshots) in {time.monotonic() - t0:.1f} s: {path}")


def timed(client: httpx.Client, path: str, params: dict[str, str]) -> float:
    t = time.perf_counter()
    r = client.get(path, params=params)
    ms = (time.perf_counter() - t) * 1000
    assert r.status_code == 200, r.text[:300]
    return ms


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--store", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    path = args.store or Path(f"/tmp/bench-curve-{args.days}d.sqlite3")
    if not path.exists():
        build(path, args.days)
    since = {"gateway": "gw", "since": f"{args.days}d"}
    with DashboardThread(StoreConfig(kind="embedded", path=str(path))) as url, \
            httpx.Client(base_url=url, trust_env=False, timeout=120) as c:
        cold = timed(c, "/api/v1/signature", since)
        curve = [timed(c, "/api/v1/heatcurve", since) for _ in range(args.runs)]
        warm = [timed(c, "/api/v1/signature", since) for _ in range(args.runs)]
        both = [timed(c, "/api/v1/signature", {**since, "compare_from": "2000-01-01", "compare_to": "2000-01-30"})
                for _ in range(args.runs)]
    print(f"heatcurve {args.days}d:        median {statistics.median(curve):7.1f} ms  (min {min(curve):.1f})")
    print(f"signature {args.days}d cold:   {cold:7.1f} ms")
    print(f"signature {args.days}d warm:   median {statistics.median(warm):7.1f} ms  (min {min(warm):.1f})")
    print(f"signature + compare:  median {statistics.median(both):7.1f} ms  (min {min(both):.1f})")


if __name__ == "__main__":
    main()
