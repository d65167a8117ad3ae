#!/usr/bin/env python3
"""Where the fixed per-tick cost of one gateway goes: CPU and wall time of each step a tick
takes after the poll, in this process (issue 12's target: <= 1.0 ms of CPU per poll for the
whole collector at 1 gateway).

    .venv/bin/python bench/bench_tick.py [--runs 300] [--registers 40]

Steps: the spool's append (fsync'd commit), its read-back (from memory for a small backlog)
and removal after the store's acknowledgement (as the writer does for a tick), the embedded
store's write called directly, through ``EmbeddedSink.write`` (what the collector calls: on
the event loop for a small tick) and through a worker thread (what it did before, and still
does for large or locked writes), and the "Stored ..." log line with the secret masking.
``process_time`` counts every thread of the process, so the thread hop's own cost shows.

These are hot loops: in the collector each step runs once per tick with cold caches and costs
several times more (``bench_rss.py`` measures the whole process). Prints figures; asserts
nothing."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Awaitable, Callable

from heatpump_monitor.config import env_secrets
from heatpump_monitor.logs import setup_logging
from heatpump_monitor.model import Snapshot
from heatpump_monitor.pipeline.spool import DiskSpool
from heatpump_monitor.stores.embedded import EmbeddedSink

T0 = 1764324000000


def measure(runs: int, step: Callable[[int], object]) -> tuple[float, float]:
    """(CPU ms, wall ms) per call."""
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(runs):
        step(i)
    return (time.process_time() - cpu) / runs * 1000, (time.perf_counter() - wall) / runs * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--registers", type=int, default=40)
    args = ap.parse_args()
    values = {f"reg_{i}": i * 1.5 for i in range(args.registers)}

    def snap(i: int) -> Snapshot:
        return Snapshot("192.168.1.100", "thermia", "api", T0 + i * 30_000, dict(values))

    rows = []
    with tempfile.TemporaryDirectory() as d:
        spool = DiskSpool(Path(d) / "spool.sqlite3", 256_000_000)
        sink = EmbeddedSink(Path(d) / "store.sqlite3")

        def spool_tick(i: int) -> None:
            spool.append([snap(i)])
            spool.ack(spool.head(1000))

        async def through(write: Callable[[list[Snapshot]], Awaitable[None]], first: int) -> tuple[float, float]:
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(args.runs):
                await write([snap(first + i)])
            return (time.process_time() - cpu) / args.runs * 1000, (time.perf_counter() - wall) / args.runs * 1000

        async def hopped(snapshots: list[Snapshot]) -> None:
            await asyncio.to_thread(sink.write_sync, snapshots)

        rows.append(("spool: append (fsync) + read back + remove", measure(args.runs, spool_tick)))
        rows.append(("embedded store: write_sync, in this thread",
                     measure(args.runs, lambda i: sink.write_sync([snap(args.runs + i)]))))
        rows.append(("embedded store: write (on the event loop)", asyncio.run(through(sink.write, 2 * args.runs))))
        rows.append(("embedded store: write_sync in a worker thread",
                     asyncio.run(through(hopped, 3 * args.runs))))
        with open(os.devnull, "w") as null:
            setup_logging("INFO", secrets=env_secrets(), stream=null)
            log = logging.getLogger("heatpump_monitor.writer")
            rows.append(('"Stored ..." log line (masked)', measure(args.runs, lambda i: log.info(
                "Stored %d metrics with timestamp %s from %s", args.registers, "2026-01-01T00:00:00.000Z", "gw"))))
        asyncio.run(sink.close())
        spool.close()
    print(f"one tick of one gateway ({args.registers} registers), {args.runs} runs, per call")
    print(f"{'step':50} {'CPU ms':>8} {'wall ms':>8}")
    for name, (c, w) in rows:
        print(f"{name:50} {c:8.3f} {w:8.3f}")


if __name__ == "__main__":
    main()
