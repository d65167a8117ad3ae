#!/usr/bin/env python3
"""``demo --history``: seconds per gateway-week of simulated history (issue 13 item 9).

    .venv/bin/python bench/bench_demo_history.py [--days 7] [--interval 30] [--runs 3] [--brand thermia,ivt,nibe]

For each brand, ``--runs`` times into a fresh embedded store: the demo's own history writer
(model -> decode -> embedded sink in batches, the collector's path). Also the split of one
run: the model alone, decoding alone, and the store's share (the rest). Prints medians in
wall and CPU seconds per gateway-week; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from heatpump_monitor.demo import _fill_history, _gateways

WEEK = 7 * 86400


def one_run(brand: str, days: float, interval: int) -> tuple[float, float]:
    """(wall, CPU) seconds for the demo's history writer, per gateway-week. The CPU time (this
    process, the store's thread included) says more than the wall time on a busy machine."""
    history = days * 86400
    with tempfile.TemporaryDirectory() as tmp:
        gateways = _gateways([brand], 1, 0, 1.0, history)
        began, cpu = time.perf_counter(), time.process_time()
        asyncio.run(_fill_history(gateways, ["127.0.0.1:1"], Path(tmp) / "demo.sqlite3", interval, history))
        return ((time.perf_counter() - began) * WEEK / history, (time.process_time() - cpu) * WEEK / history)


def split(brand: str, days: float, interval: int) -> tuple[float, float]:
    """(model, decode) CPU seconds per gateway-week."""
    history = days * 86400
    model = _gateways([brand], 1, 0, 1.0, history)[0].model
    now = model.sim_time()
    ticks = [now - history + i * interval for i in range(int(history // interval))]
    began = time.process_time()
    raws = [model.raw_alldata(t) for t in ticks]
    mid = time.process_time()
    for raw in raws:
        model.provider.decode_poll(raw)
    end = time.process_time()
    return (mid - began) * WEEK / history, (end - mid) * WEEK / history


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--interval", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--brand", default="thermia,ivt,nibe")
    args = ap.parse_args()
    for brand in args.brand.split(","):
        runs = [one_run(brand, args.days, args.interval) for _ in range(args.runs)]
        model_s, decode_s = split(brand, args.days, args.interval)
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{brand:8s} {wall:5.2f} s per gateway-week at {args.interval} s, CPU {cpu:.2f} s "
              f"(wall per run: {', '.join(f'{w:.2f}' for w, _ in runs)}; CPU of one run's parts: "
              f"model {model_s:.2f} s, decode {decode_s:.2f} s, the store and the rest "
              f"{max(0.0, cpu - model_s - decode_s):.2f} s)", flush=True)


if __name__ == "__main__":
    main()
