#!/usr/bin/env python3
"""Peak RSS and CPU per poll of the ``heatpump-monitor collect`` process, per store and
number of gateways (issue 12: <= 46 MB at 1 gateway, <= 10 KB more per extra gateway,
<= 1.0 ms of CPU per poll at 1 gateway).

    .venv/bin/python bench/bench_rss.py [--gateways 1,100] [--stores embedded,influxdb1,influxdb2]
        [--interval 2] [--duration 60] [--warmup 6] [--rounds 1]

The fake gateways run in another process (``heatpump-monitor simulate``); InfluxDB 1.x
(``influxd``) and VictoriaMetrics (written through its InfluxDB v2 API, ``STORE=influxdb2``)
are started with ``tests/servers.py``. Each collector runs with a disk spool in a fresh
DATA_DIR, no METRICS_PORT (the default) and LOG_LEVEL=INFO.

* peak RSS: ``VmHWM`` of ``/proc/<pid>/status`` just before SIGTERM.
* CPU per poll: the process's utime + stime between two mid-interval samples ``--duration``
  s apart (the first after ``--warmup`` s, so start-up is not counted), divided by the polls
  of the ticks between them (gateways x ticks; the failed polls of the run are printed).

Run the code under test with ``PYTHONPATH=<tree>/src`` (the collector inherits it), e.g. the
baseline of issue 12 with ``PYTHONPATH=/work/baseline12/src``. Rounds alternate the stores and
sizes so that load on the shared machine spreads over all of them; medians are printed.
Prints figures; asserts nothing."""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.servers: the server starters of the test suite
from tests.servers import influx1_query, start_influxdb1, start_victoriametrics  # noqa: E402

from _common import free_port_block, raise_fd_limit, wait_listening  # noqa: E402  (bench/_common.py)

BIN = Path(sys.executable).parent / "heatpump-monitor"
CLK_TCK = os.sysconf("SC_CLK_TCK")
STOPPED = re.compile(r"Stopped: (\d+) tick\(s\), (\d+) poll\(s\) ok, (\d+) failed")
DATABASE = "bench"


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def sleep_to_mid_interval(interval: float) -> float:
    """Sleep until the next tick + interval/2 (no poll in flight); that wall time."""
    now = time.time()
    target = (math.floor(now / interval) + 1) * interval + interval / 2
    if target - now < interval / 2:
        target += interval
    time.sleep(target - now)
    return target


def store_env(store: str, servers: dict[str, str], data: Path) -> dict[str, str]:
    if store == "embedded":
        return {"STORE": "embedded", "STORE_PATH": str(data / "heatpump.sqlite3")}
    if store == "influxdb1":
        return {"STORE": "influxdb1", "INFLUXDB_URL": servers["influxdb1"], "INFLUXDB_DATABASE": DATABASE}
    return {"STORE": "influxdb2", "INFLUXDB_URL": servers["influxdb2"], "INFLUXDB_TOKEN": "bench-token",
            "INFLUXDB_ORG": "bench", "INFLUXDB_BUCKET": "heatpump"}


def one_run(store: str, n: int, base: int, servers: dict[str, str], args: argparse.Namespace,
            tmp: Path) -> tuple[float, float, str]:
    """(peak RSS MB, CPU ms per poll, failed-poll note) of one collector run."""
    data = Path(tempfile.mkdtemp(dir=tmp))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFLUXDB_", "STORE", "SPOOL_", "METRICS_"))}
    env.update({"H66_IP": ",".join(f"127.0.0.1:{base + i}" for i in range(n)),
                "COLLECTION_INTERVAL": str(args.interval), "HEATPUMP_BRAND": "auto", "DATA_DIR": str(data),
                "CONFIG_FILE": "", "LOG_LEVEL": "INFO", **store_env(store, servers, data)})
    log = data / "collect.log"
    with open(log, "wb") as logf:
        col = subprocess.Popen([str(BIN), "collect"], env=env, stdout=logf, stderr=subprocess.STDOUT,
                               preexec_fn=raise_fd_limit)
        try:
            time.sleep(args.warmup)
            sleep_to_mid_interval(args.interval)
            cpu0 = cpu_seconds(col.pid)
            t0 = time.time()
            time.sleep(args.duration)
            t1 = sleep_to_mid_interval(args.interval)
            cpu1 = cpu_seconds(col.pid)
            hwm = vm_hwm_mb(col.pid)
        except OSError:  # the collector exited: its log says why
            hwm = cpu0 = cpu1 = t1 = math.nan
            t0 = 0.0
        finally:
            col.send_signal(signal.SIGTERM)
            col.wait(30)
    ticks = round((t1 - t0) / args.interval) if not math.isnan(t1) else 1
    m = STOPPED.search(log.read_text())
    note = f"{m.group(3)} failed of {m.group(2)}" if m else "no Stopped line: " + log.read_text()[-500:]
    return hwm, (cpu1 - cpu0) / (ticks * n) * 1000, note


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gateways", default="1,100")
    ap.add_argument("--stores", default="embedded,influxdb1,influxdb2")
    ap.add_argument("--interval", type=int, default=2)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--warmup", type=float, default=6.0)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    sizes = [int(x) for x in args.gateways.split(",")]
    stores = args.stores.split(",")
    print(f"code: {os.environ.get('PYTHONPATH') or 'the installed package'}; interval {args.interval:g} s, "
          f"{args.duration:g} s measured per run, {args.rounds} round(s)")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        servers: dict[str, str] = {}
        handles = []
        if "influxdb1" in stores:
            h = start_influxdb1(tmp / "influx1")
            influx1_query(h.url, None, f'CREATE DATABASE "{DATABASE}"')
            handles.append(h)
            servers["influxdb1"] = h.url
        if "influxdb2" in stores:
            h = start_victoriametrics(tmp / "vm")
            handles.append(h)
            servers["influxdb2"] = h.url
        most = max(sizes)
        base = free_port_block(most)
        sim = subprocess.Popen([str(BIN), "simulate", "--gateways", str(most), "--port", str(base)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=raise_fd_limit)
        results: dict[tuple[str, int], list[tuple[float, float]]] = {}
        try:
            wait_listening(base + most - 1)
            for r in range(args.rounds):
                for store in stores:
                    for n in sizes:
                        hwm, cpu, note = one_run(store, n, base, servers, args, tmp)
                        results.setdefault((store, n), []).append((hwm, cpu))
                        print(f"  round {r + 1} {store:10} {n:5} gateway(s): peak RSS {hwm:6.1f} MB, "
                              f"CPU {cpu:6.3f} ms/poll ({note})", flush=True)
        finally:
            sim.send_signal(signal.SIGTERM)
            sim.wait(30)
            for h in handles:
                h.stop()
        print(f"\n{'store':10} {'gateways':>8} {'peak RSS MB':>12} {'CPU ms/poll':>12}   (medians)")
        for store in stores:
            for n in sizes:
                rows = results[(store, n)]
                print(f"{store:10} {n:8} {statistics.median(h for h, _ in rows):12.1f} "
                      f"{statistics.median(c for _, c in rows):12.3f}")
            if len(sizes) > 1:
                lo, hi = min(sizes), max(sizes)
                per = (statistics.median(h for h, _ in results[(store, hi)])
                       - statistics.median(h for h, _ in results[(store, lo)])) * 1024 / (hi - lo)
                print(f"{store:10} {'':8} {per:9.1f} KB per extra gateway")


if __name__ == "__main__":
    main()
