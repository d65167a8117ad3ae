#!/usr/bin/env python3
"""Summaries on a year of 30 s snapshots in the embedded store (issue 13: daily summaries for
the whole year <= 300 ms warm, today's KPIs <= 100 ms).

    .venv/bin/python bench/bench_summary.py [--days 365] [--store /tmp/bench-summary-365d.sqlite3] [--runs 5] [--http]

Builds (once; kept for the next run) a store with ``--days`` of one Thermia gateway at 30 s,
ending now: compressor cycles, hot-water charges, power and a wrapping energy counter, written
through the embedded sink in batches like the collector's. Then, with one ``Summarizer`` (as
the dashboard keeps one):

* cold: daily summaries of the whole range, first call (reads every snapshot's dozen fields);
* warm: the same again (closed hours from the cache), ``--runs`` times;
* KPIs: today, yesterday, 7 days and 30 days as periods (the overview's cards), warm.

With ``--http`` the same through the dashboard (a real uvicorn server on loopback, one
``Summarizer`` per app): ``GET /api/v1/summary`` of the whole range by day (cold: asked again
after each 503 at the 30 s budget, which keeps the months read so far; then warm), and the
overview's KPI requests (``since=2d`` by day, ``7d`` and ``30d`` as periods, one after the
other as summary.js asks them), warm.

Prints medians in ms; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from heatpump_monitor.analytics import Prices, Summarizer
from heatpump_monitor.config import AnalyticsConfig
from heatpump_monitor.model import Snapshot
from heatpump_monitor.stores.embedded import EmbeddedReader, EmbeddedSink
from zoneinfo import ZoneInfo

I = 30_000


def build(path: Path, days: int) -> None:
    end = int(time.time()) // 30 * 30 * 1000
    start = end - days * 86_400_000
    sink = EmbeddedSink(path)
    kwh, batch, t0 = 60_000.0, [], time.monotonic()
    for k, t in enumerate(range(start, end, I)):
        minute = (k // 2) % 40
        hot = (k // 2) % 360 < 35
        on = minute < 22 or hot
        kwh += 0.016 if on else 0.0002
        batch.append(Snapshot("gw", "thermia", "api", t, {
            "compressor": float(on), "switch_valve": float(hot), "hot_water_top": 45.0 + (0.2 * ((k // 2) % 360) if hot else 0.0),
            "outdoor_temp": -2.0 + 6.0 * ((k % 2880) / 2880), "degree_minutes": -60.0 + (k % 80),
            "radiator_forward": 36.0 + (3.0 if on else 0.0), "radiator_return": 34.0, "power_w": 1900.0 if on else 12.0,
            "energy_kwh": float(int(kwh) % 65536), "alarm": 0.0, "alarm_code": 0.0, "indoor_temp": 21.0,
            "brine_in_evaporator": 3.0, "brine_out_condenser": 0.5, "additional_heat": 0.0,
        }))
        if len(batch) == 2880:
            sink.write_sync(batch)
            batch = []
    if batch:
        sink.write_sync(batch)
    print(f"built {path}: {days} days, {(end - start) // I:,} snapshots in {time.monotonic() - t0:.0f} s")


def ms(f) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = f()
    return (time.perf_counter() - t0) * 1000, out


def http(path: Path, runs: int, tz: ZoneInfo) -> None:
    import httpx

    from heatpump_monitor.config import StoreConfig
    from heatpump_monitor.web import DashboardThread

    with DashboardThread(StoreConfig(kind="embedded", path=str(path)), analytics=AnalyticsConfig(tz=tz)) as url, \
            httpx.Client(base_url=url, trust_env=False, timeout=120) as c:
        first = c.get("/api/v1/gateways").json()["gateways"][0]
        days = (int(time.time() * 1000) - first["first_ms"]) // 86_400_000 + 2
        year = {"gateway": "gw", "since": f"{days}d", "by": "day"}
        t0, stopped = time.perf_counter(), 0
        while (r := c.get("/api/v1/summary", params=year)).status_code == 503:
            stopped += 1
        assert r.status_code == 200, r.text
        cold = (time.perf_counter() - t0) * 1000
        warm = [ms(lambda: c.get("/api/v1/summary", params=year))[0] for _ in range(runs)]

        def kpis() -> None:
            for q in ({"since": "2d", "by": "day"}, {"since": "7d", "by": "period"}, {"since": "30d", "by": "period"}):
                assert c.get("/api/v1/summary", params={"gateway": "gw", **q}).status_code == 200
        k = [ms(kpis)[0] for _ in range(runs)]
        size = len(c.get("/api/v1/summary", params=year).content)
        csv_ms = statistics.median(ms(lambda: c.get("/api/v1/summary", params={**year, "format": "csv"}))[0]
                                   for _ in range(runs))
    print(f"HTTP /api/v1/summary, {days} days by day ({size / 1e6:.1f} MB JSON): cold {cold:,.0f} ms "
          f"({stopped} x 503 at the time budget first), warm median {statistics.median(warm):.0f} ms "
          f"(min {min(warm):.0f}, max {max(warm):.0f}); as CSV warm median {csv_ms:.0f} ms")
    print(f"HTTP KPIs (3 requests: 2 d by day, 7 d, 30 d), warm: median {statistics.median(k):.1f} ms "
          f"(min {min(k):.1f}, max {max(k):.1f})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--store", default="")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--http", action="store_true", help="through the dashboard's /api/v1/summary")
    args = ap.parse_args()
    path = Path(args.store or f"/tmp/bench-summary-{args.days}d.sqlite3")
    if not path.exists():
        build(path, args.days)
    tz = ZoneInfo("Europe/Stockholm")
    if args.http:
        http(path, args.runs, tz)
        return
    s = Summarizer(EmbeddedReader(path), AnalyticsConfig(tz=tz), Prices(2.0, "SEK"))
    info = s.gateway("gw")
    today = datetime.now(tz).date()
    first = datetime.fromtimestamp(info.first_ms / 1000, tz).date()
    year = lambda: s.periods(s.gateway("gw"), first, today, "day")  # noqa: E731

    def kpis():
        g = s.gateway("gw")
        return [s.periods(g, today - timedelta(days=n - 1), today, "period") for n in (1, 7, 30)] + \
            [s.periods(g, today - timedelta(days=1), today - timedelta(days=1), "period")]

    cold, days = ms(year)
    warm = [ms(year)[0] for _ in range(args.runs)]
    k = [ms(kpis)[0] for _ in range(args.runs)]
    print(f"{info.snapshots:,} snapshots, {len(days)} local days ({first} .. {today}), Europe/Stockholm")
    print(f"daily summaries, whole range: cold {cold:,.0f} ms, warm median {statistics.median(warm):.0f} ms "
          f"(min {min(warm):.0f}, max {max(warm):.0f})")
    print(f"KPIs (today, yesterday, 7 d, 30 d), warm: median {statistics.median(k):.1f} ms "
          f"(min {min(k):.1f}, max {max(k):.1f})")
    last = days[-2].as_dict()
    print(f"yesterday: starts {last['compressor_starts']}, runtime {last['compressor_runtime_h']} h, "
          f"{last['energy_kwh']} kWh, COP {last['cop']} (estimated), hot-water cycles {last['hot_water_cycles']}")


if __name__ == "__main__":
    main()
