#!/usr/bin/env python3
"""Chart queries on a year of data in the embedded store, and the write cost of the rollup.

    .venv/bin/python bench/bench_series.py [--days 365] [--runs 7] [--fresh]

1. Fills an embedded store with DAYS of 30 s polls of one gateway (365 days = 1,051,200
   snapshots of 40 registers; values from precomputed sine tables, no numpy) through
   ``EmbeddedSink.write_sync`` in one-day batches - the normal write path, so the rollup is
   what poll-by-poll writes give (checked: one day is also written poll by poll into a
   second store and its rollup rows compared for equality). The filled store is cached in
   /tmp under a version key, so a rerun skips the fill (``--fresh`` forces it).
2. Times ``EmbeddedReader.series`` (median of RUNS, after one warm-up) for 24 h, 7 d, 30 d,
   90 d and 365 d ending at the last poll, 6 fields (one derived), 1,500 points.
3. Store size on disk (db + wal) and the fill time.
4. ``EmbeddedReader.gateways()`` on that store (median of RUNS).
5. Write cost: 1,000 gateways x 40 registers in one write batch on a store with rollup
   history, 81 ticks from hh:40: median and max of the ticks inside a bucket, of those that
   open a 10-minute bucket and of the one that opens an hour; then the replay of a tick into
   a closed bucket and hour. ``--write-only`` runs just this part (to alternate two versions
   of the code on the same load: PYTHONPATH=<their src>).

Prints tables; asserts nothing (targets: <= 200 ms for the 365-day query; no tick over ~2x
the median tick inside a bucket).
"""

from __future__ import annotations

import argparse
import math
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from heatpump_monitor.derived import DERIVED, increase, ratio
from heatpump_monitor.model import Snapshot
from heatpump_monitor.stores.embedded import EmbeddedReader
from heatpump_monitor.stores.base import bucket_plan
from heatpump_monitor.stores.embedded.schema import ROLLUP_BUCKET_MS, ROLLUP_HOUR_MS, ROLLUP_LEVELS, rollup_version
from heatpump_monitor.stores.embedded import EmbeddedSink

VERSION = 5  # bump when the store layout or the generated data change
INTERVAL_MS = 30_000
T_START = 1_735_689_600_000  # 2025-01-01T00:00:00Z
GATEWAY = "192.168.1.100"
FIELDS = ["outdoor_temp", "indoor_temp", "radiator_forward", "radiator_return", "heating_setpoint",
          "delta_t_radiator"]
SPANS = [("24 h", 1), ("7 d", 7), ("30 d", 30), ("90 d", 90), ("365 d", 365)]
# what a definition computed in Python per snapshot (not SQL) costs on the raw path
NON_LINEAR = [ratio("bench_ratio", "radiator_forward", "radiator_return", "", "bench"),
              increase("bench_increase", "energy_kwh", "", "bench")]

REGISTERS = [
    "radiator_return", "radiator_forward", "brine_in_evaporator", "brine_out_condenser", "outdoor_temp",
    "indoor_temp", "hot_water_top", "hot_gas", "cooling_temp", "heating_setpoint", "room_temp_setpoint",
    "heat_curve", "heat_curve_max", "hot_water_stop_temp", "heating_stop_temp", "hot_water_start_temp",
    "cooling_setpoint", "outdoor_offset", "external_control_reduction", "compressor", "brine_pump",
    "radiator_pump", "switch_valve", "alarm", "operating_mode", "room_sensor_influence", "alarm_code",
    "additional_heat", "circulation_pump_speed", "brine_pump_speed", "energy_kwh", "compressor_hours",
    "aux_3kw_hours", "hot_water_hours", "aux_6kw_hours", "degree_minutes", "power_w", "indoor_2",
    "hot_water_bottom", "suction_gas",
]
assert len(REGISTERS) == 40

PER_DAY = 86_400_000 // INTERVAL_MS  # 2880 polls


class Generator:
    """Cheap plausible values: per register a daily sine table (pre-rounded to 0.1) plus, for
    the temperatures, a seasonal offset per day (also pre-rounded)."""

    def __init__(self) -> None:
        self.daily = []
        for r, _name in enumerate(REGISTERS):
            amp, base, phase = 1 + (r % 7), 10 + 3 * (r % 9), r * 0.7
            self.daily.append([round(base + amp * math.sin(2 * math.pi * i / PER_DAY + phase), 1)
                               for i in range(PER_DAY)])
        self.seasonal = [round(-8 * math.cos(2 * math.pi * d / 365), 1) for d in range(400)]
        self.seasonal_regs = {REGISTERS.index(n) for n in ("outdoor_temp", "radiator_forward", "radiator_return",
                                                           "brine_in_evaporator", "brine_out_condenser")}

    def day(self, d: int, gateway: str = GATEWAY) -> list[Snapshot]:
        season = self.seasonal[d % 400]
        t0 = T_START + d * 86_400_000
        out = []
        for i in range(PER_DAY):
            values = {name: (table[i] + season if r in self.seasonal_regs else table[i])
                      for r, (name, table) in enumerate(zip(REGISTERS, self.daily))}
            out.append(Snapshot(gateway, "thermia", "api", t0 + i * INTERVAL_MS, values))
        return out


def store_files(path: Path) -> list[Path]:
    return [path, Path(f"{path}-wal"), Path(f"{path}-shm")]


def fill(path: Path, days: int) -> float:
    for p in store_files(path):
        p.unlink(missing_ok=True)
    gen = Generator()
    sink = EmbeddedSink(path)
    t0 = time.perf_counter()
    for d in range(days):
        sink.write_sync(gen.day(d))
        if d % 30 == 29:
            print(f"  filled {d + 1}/{days} days, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    elapsed = time.perf_counter() - t0
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE bench_meta (version INTEGER, days INTEGER, fill_s REAL)")
        db.execute("INSERT INTO bench_meta VALUES (?, ?, ?)", (VERSION, days, elapsed))
    return elapsed


def cached_fill_s(path: Path, days: int) -> float | None:
    if not path.exists():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            row = db.execute("SELECT version, days, fill_s FROM bench_meta").fetchone()
    except sqlite3.Error:
        return None
    return row[2] if row and row[0] == VERSION and row[1] == days else None


def rollup_rows(path: Path, lo: int, hi: int) -> list[list[tuple]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return [db.execute(f"SELECT gateway, source, field, bucket_ms, n, vmin, vmax, vsum FROM {table} "
                           "WHERE bucket_ms >= ? AND bucket_ms < ? ORDER BY gateway, source, field, bucket_ms",
                           (lo, hi)).fetchall() for _, table in ROLLUP_LEVELS]


def check_identical(path: Path, days: int) -> bool:
    """Day DAYS//2 written poll by poll into a new store (plus the next day's first poll, which
    closes its last bucket and hour): the same rollup rows for that day as the bulk fill."""
    d = days // 2
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "tick.sqlite3"
        sink = EmbeddedSink(other)
        for s in Generator().day(d) + Generator().day(d + 1)[:1]:
            sink.write_sync([s])
        lo = T_START + d * 86_400_000
        mine = rollup_rows(other, lo, lo + 86_400_000)
        return mine == rollup_rows(path, lo, lo + 86_400_000) and all(mine)


def time_queries(path: Path, days: int, runs: int) -> list[tuple]:
    reader = EmbeddedReader(path)
    end = T_START + days * 86_400_000
    rows = []
    for label, span_days in SPANS:
        if span_days > days:
            continue
        start = end - span_days * 86_400_000
        _, bucket = bucket_plan(start, end, 1500)
        t = time.perf_counter()
        series = reader.series(GATEWAY, FIELDS, start, end)
        first = time.perf_counter() - t
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            reader.series(GATEWAY, FIELDS, start, end)
            times.append(time.perf_counter() - t)
        path_name = ("1h" if bucket % ROLLUP_HOUR_MS == 0 else "10min") if bucket >= ROLLUP_BUCKET_MS else "raw"
        rows.append((label, path_name, bucket / 1000, len(series[0].t), first * 1000,
                     statistics.median(times) * 1000, max(times) * 1000))
    start = end - 7 * 86_400_000
    fields = FIELDS + [d.name for d in NON_LINEAR]
    DERIVED.update((d.name, d) for d in NON_LINEAR)
    try:
        times = []
        for _ in range(runs + 1):
            t = time.perf_counter()
            series = reader.series(GATEWAY, fields, start, end)
            times.append(time.perf_counter() - t)
    finally:
        for d in NON_LINEAR:
            del DERIVED[d.name]
    _, bucket = bucket_plan(start, end, 1500)
    rows.append(("7 d +2", "raw", bucket / 1000, len(series[0].t), times[0] * 1000,
                 statistics.median(times[1:]) * 1000, max(times[1:]) * 1000))
    times = []
    for _ in range(runs + 1):
        t = time.perf_counter()
        reader.gateways()
        times.append(time.perf_counter() - t)
    reader.close()
    return rows + [("gateways()", "", 0, 0, times[0] * 1000, statistics.median(times[1:]) * 1000,
                    max(times[1:]) * 1000)]


def write_cost(gateways: int = 1000, history_h: int = 12) -> dict[str, list[float]]:
    """Write times (ms) of batches of `gateways` snapshots of 40 registers, on a store whose
    rollup already holds `history_h` hours of every gateway (synthetic rows: what matters is
    that each field's newest rows sit on their own pages, as in a store that has been running):
    81 ticks from hh:40 - 77 inside a bucket (the first included), the three opening hh:50, hh+1:10 and hh+1:20
    (each closes a 10-minute bucket of every gateway), the one opening the next hour (closes a
    bucket and the hour) - then the replay of a tick of a closed bucket and hour."""
    gen = Generator()
    hour0 = T_START + 48 * ROLLUP_HOUR_MS
    base = hour0 + 40 * 60_000
    names = [f"10.0.{g // 250}.{g % 250}" for g in range(gateways)]
    with tempfile.TemporaryDirectory() as tmp:
        sink = EmbeddedSink(Path(tmp) / "w.sqlite3")
        db = sink._db()
        fields = REGISTERS + ["delta_t_radiator", "delta_t_brine", ""]
        with db:
            for table, size in (("rollup", ROLLUP_BUCKET_MS), ("rollup_1h", ROLLUP_HOUR_MS)):
                for name in names:
                    db.executemany(f"INSERT INTO {table} VALUES (?,?,?,?,?,?,?,?)",
                                   [(name, "api", f, t, 20, 1.0, 2.0, 30.0) for f in fields
                                    for t in range(hour0 - history_h * ROLLUP_HOUR_MS, hour0, size)])

        def tick(k: int) -> list[Snapshot]:
            i = k % PER_DAY
            return [Snapshot(name, "thermia", "api", base + k * INTERVAL_MS,
                             {r: table[(i + g) % PER_DAY] for r, table in zip(REGISTERS, gen.daily)})
                    for g, name in enumerate(names)]

        def timed(batch: list[Snapshot]) -> float:
            t = time.perf_counter()
            sink.write_sync(batch)
            return (time.perf_counter() - t) * 1000

        out: dict[str, list[float]] = {"inside": [], "bucket": [], "hour": [], "replay": []}
        for k in range(81):
            kind = "inside" if k % 20 or k == 0 else "hour" if k == 40 else "bucket"  # k = 0: the first poll
            out[kind].append(timed(tick(k)))
        out["replay"].append(timed(tick(5)))
        return out


def mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--fresh", action="store_true", help="ignore the cached store in /tmp")
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="where the cached store lives")
    ap.add_argument("--write-only", action="store_true", help="only the write cost (no store to fill)")
    args = ap.parse_args()
    if args.write_only:
        print_write_cost()
        return

    # the rollup version in the name: a store whose rollups are of other code would be read
    # from the snapshots (the reader's fallback) and time that instead
    path = Path(args.dir) / f"hpm-bench-series-v{VERSION}-r{rollup_version()}-{args.days}d.sqlite3"
    fill_s = None if args.fresh else cached_fill_s(path, args.days)
    if fill_s is None:
        print(f"filling {path} with {args.days} days of 30 s polls ({args.days * PER_DAY:,} snapshots)...",
              file=sys.stderr)
        fill_s = fill(path, args.days)
        cached = ""
    else:
        cached = " (cached store, time of its fill)"
    sizes = {p.name: p.stat().st_size for p in store_files(path)[:2] if p.exists()}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        n_snap = db.execute("SELECT count(*) FROM snapshots").fetchone()[0]
        n_roll = db.execute("SELECT count(*) FROM rollup").fetchone()[0]
        n_hour = db.execute("SELECT count(*) FROM rollup_1h").fetchone()[0]
        try:
            per_table = dict(db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
        except sqlite3.Error:
            per_table = {}

    print(f"\nstore: {n_snap:,} snapshots, {n_roll:,} 10-minute and {n_hour:,} hourly rollup rows; "
          f"fill {fill_s:.0f} s{cached}")
    print("on disk: " + ", ".join(f"{name} {mb(size)}" for name, size in sizes.items())
          + f" (total {mb(sum(sizes.values()))})")
    if per_table:
        print("tables: " + ", ".join(f"{k} {mb(v)}" for k, v in sorted(per_table.items()) if v > 1e6))
    print(f"rollup identical to poll-by-poll writes (one day checked): {check_identical(path, args.days)}")

    print(f"\nseries(): {len(FIELDS)} fields ({', '.join(FIELDS)}), max_points=1500, "
          f"{os.cpu_count()} CPUs, median of {args.runs} warm runs; "
          f"'7 d +2' adds {', '.join(d.formula for d in NON_LINEAR)} (computed in Python per snapshot)")
    print(f"{'range':10} {'table':6} {'bucket':>9} {'points':>6} {'first':>9} {'median':>9} {'max':>9}")
    for label, how, bucket, points, first, med, worst in time_queries(path, args.days, args.runs):
        if label == "gateways()":
            print(f"{label:10} {'(the gateway list)':26} {first:6.2f} ms {med:6.2f} ms {worst:6.2f} ms")
        else:
            print(f"{label:10} {how:6} {bucket:7.0f} s {points:6d} {first:6.1f} ms {med:6.1f} ms {worst:6.1f} ms")

    print_write_cost()


def print_write_cost() -> None:
    w = write_cost()
    inside = statistics.median(w["inside"])
    print("\nwrite_sync of 1,000 gateways x 40 registers (one batch), rollup holding 12 h of history:")
    print(f"  {'tick':44} {'count':>5} {'median':>9} {'max':>9} {'max/median inside':>18}")
    for kind, label in (("inside", "inside a bucket"), ("bucket", "opening a 10-minute bucket"),
                        ("hour", "opening an hour"), ("replay", "replay into a closed bucket and hour")):
        xs = w[kind]
        print(f"  {label:44} {len(xs):5d} {statistics.median(xs):6.0f} ms {max(xs):6.0f} ms "
              f"{max(xs) / inside:17.1f}x")
    ticks = w["inside"] + w["bucket"] + w["hour"]
    print(f"  average over these {len(ticks)} ticks: {statistics.mean(ticks):.0f} ms per tick")

if __name__ == "__main__":
    main()
