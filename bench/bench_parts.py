#!/usr/bin/env python3
"""Where the CPU of one tick of one gateway goes in the running collector (issue 12: <= 1.0 ms
per poll at 1 gateway): ``collect`` run in this process against the simulator (in another),
one tick a second, with ``process_time`` taken around its parts. No profiler: cProfile's own
cost is several times the figures it would attribute.

    .venv/bin/python bench/bench_parts.py [--stores embedded,influxdb1] [--duration 20] [--rounds 3]
    .venv/bin/python bench/bench_parts.py --stores embedded,embedded+alerts   # the alerts' cost

``STORE+rules`` runs the rules without delivery (an ``alerts:`` section, no NOTIFY_URLS);
``STORE+alerts`` runs with NOTIFY_URLS set (a json:// target nobody listens on: no rule fires
on a healthy simulated pump, so nothing is sent; what is measured is the rules' work per poll).

Unlike bench_tick.py's hot loops, each part here runs once a second with cold caches, as in
production. Parts nest (the tick holds the GET and the decode; the flush holds the store write,
the log line and the spool's read-back and removal); an async part counts whatever the event
loop runs during its awaits (at one gateway: the loop's own turns). Prints figures; asserts
nothing."""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.servers: the server starters of the test suite
from tests.servers import influx1_query, start_influxdb1  # noqa: E402

from _common import free_port_block, wait_listening  # noqa: E402  (bench/_common.py)

BIN = Path(sys.executable).parent / "heatpump-monitor"
#: (owner module, class or None, attribute, label); async ones are awaited
PARTS = [
    ("heatpump_monitor.pipeline.collector", "ApiCollector", "_on_tick", "tick: poll_all + submit"),
    ("heatpump_monitor.sources.http", "Origin", "get", "  HTTP GET"),
    ("heatpump_monitor.sources.api", None, "parse_alldata", "  JSON decode of the answer"),
    ("heatpump_monitor.providers.registry", "Provider", "decode_poll", "  decode (provider)"),
    ("heatpump_monitor.pipeline.spool", "DiskSpool", "append", "spool append (encode, fsync'd commit)"),
    ("heatpump_monitor.pipeline.writer", "Writer", "flush", "writer flush"),
    ("heatpump_monitor.pipeline.writer", "Writer", "_write", "  store write"),
    ("heatpump_monitor.pipeline.writer", "Writer", "_succeeded", '  "Stored ..." log line'),
    ("heatpump_monitor.pipeline.spool", "DiskSpool", "head", "  spool read-back"),
    ("heatpump_monitor.pipeline.spool", "DiskSpool", "ack", "  spool removal"),
    ("heatpump_monitor.alerts.service", "AlertService", "on_snapshots", "alerts: rules on the snapshot"),
    ("heatpump_monitor.alerts.service", "AlertService", "check", "alerts: clock, store and spool"),
]


def instrument(acc: collections.Counter[str], on: list[bool]) -> None:
    import importlib
    import inspect

    for module, cls, name, label in PARTS:
        owner: Any = importlib.import_module(module)
        owner = getattr(owner, cls) if cls else owner
        f = getattr(owner, name)

        def timed(f: Any = f, label: str = label) -> Any:
            if inspect.iscoroutinefunction(f):
                @functools.wraps(f)
                async def aw(*a: Any, **k: Any) -> Any:
                    t = time.process_time()
                    try:
                        return await f(*a, **k)
                    finally:
                        if on[0]:
                            acc[label] += time.process_time() - t
                return aw

            @functools.wraps(f)
            def w(*a: Any, **k: Any) -> Any:
                t = time.process_time()
                try:
                    return f(*a, **k)
                finally:
                    if on[0]:
                        acc[label] += time.process_time() - t
            return w
        setattr(owner, name, timed())


def one_run(store: str, port: int, influx: str, seconds: float) -> dict[str, float]:
    """Runs in a child process (a fresh interpreter per run); ms per tick by part, and 'total'."""
    from heatpump_monitor.config import env_secrets, load_collector_config
    from heatpump_monitor.logs import setup_logging
    from heatpump_monitor.pipeline.run import run_collector

    data = tempfile.mkdtemp()
    store, _, extra = store.partition("+")
    if extra == "alerts":
        os.environ["NOTIFY_URLS"] = "json://127.0.0.1:9/bench"
    elif extra == "rules":  # the rules without delivery (an alerts: section, no NOTIFY_URLS): no apprise
        Path(data, "config.yaml").write_text("alerts: {}\n")
        os.environ["CONFIG_FILE"] = data + "/config.yaml"
    os.environ.setdefault("CONFIG_FILE", "")
    os.environ.update(H66_IP=f"127.0.0.1:{port}", COLLECTION_INTERVAL="1", HEATPUMP_BRAND="auto",
                      DATA_DIR=data, LOG_LEVEL="INFO")
    if store == "embedded":
        os.environ.update(STORE="embedded", STORE_PATH=data + "/hp.sqlite3")
    else:
        os.environ.update(STORE="influxdb1", INFLUXDB_URL=influx, INFLUXDB_DATABASE="bench")
    setup_logging("INFO", secrets=env_secrets(), stream=open(os.devnull, "w"))
    acc: collections.Counter[str] = collections.Counter()
    on = [False]
    instrument(acc, on)
    cfg = load_collector_config()
    out: dict[str, float] = {}

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_collector(cfg, stop))
        await asyncio.sleep(4)  # start-up, the brand's detection, the first ticks
        c0 = time.process_time()
        on[0] = True
        await asyncio.sleep(seconds)
        on[0] = False
        out["total"] = (time.process_time() - c0) * 1000 / seconds
        stop.set()
        await task

    asyncio.run(main())
    out.update({k: v * 1000 / seconds for k, v in acc.items()})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stores", default="embedded,influxdb1")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # store port influx-url
    args = ap.parse_args()
    if args.child:
        store, port, influx = args.child
        print(repr(one_run(store, int(port), influx, args.duration)))
        return
    stores = args.stores.split(",")
    port = free_port_block(1)
    sim = subprocess.Popen([str(BIN), "simulate", "--gateways", "1", "--port", str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    handle = None
    results: dict[str, list[dict[str, float]]] = {}
    try:
        wait_listening(port)
        influx = ""
        if any(s.startswith("influxdb1") for s in stores):
            handle = start_influxdb1(Path(tempfile.mkdtemp()) / "influx1")
            influx1_query(handle.url, None, 'CREATE DATABASE "bench"')
            influx = handle.url
        for _ in range(args.rounds):
            for store in stores:
                out = subprocess.run([sys.executable, __file__, "--duration", str(args.duration), "--child",
                                      store, str(port), influx or "-"], capture_output=True, text=True, check=True)
                results.setdefault(store, []).append(eval(out.stdout.strip().splitlines()[-1]))  # our own repr
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(30)
        if handle is not None:
            handle.stop()
    labels = ["total"] + [label for *_, label in PARTS]
    print(f"CPU ms per tick of one gateway (medians of {args.rounds} runs of {args.duration:g} ticks)")
    print(f"{'part':42} " + " ".join(f"{s:>10}" for s in stores))
    for label in labels:
        row = [statistics.median(r.get(label, 0.0) for r in results[s]) for s in stores]
        print(f"{label if label != 'total' else 'whole process':42} " + " ".join(f"{v:10.3f}" for v in row))


if __name__ == "__main__":
    main()
