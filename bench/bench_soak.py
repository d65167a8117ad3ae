#!/usr/bin/env python3
"""Soak: N simulated gateways polled every I s for D s into VictoriaMetrics, with random
gateway faults and a sink outage in the middle. Reports polls, failures by cause, snapshots
stored vs expected, spool peak, and the collector's RSS over time (it must not grow).

    .venv/bin/python bench/bench_soak.py [--gateways 100] [--interval 2] [--duration 600]
        [--outage-start 240] [--outage-length 120] [--seed 1] [--quick] [--keep]

Three processes besides this one share the machine: ``heatpump-monitor simulate`` (the N
gateways, on ports P..P+N-1), ``heatpump-monitor collect`` (API collector, disk spool in a
temporary DATA_DIR, METRICS_PORT for /metrics) and ``victoria-metrics`` (the sink, written
through its InfluxDB v2 write API; started with ``tests/servers.py``).

* Faults: every ``--fault-period`` s (at mid-interval, so no poll is in flight) a seeded
  random ``--fault-share`` of the gateways gets a random fault (``POST /sim/fault``), the rest
  none. Each (gateway, grid tick) under a fault is logged as one injected fault poll; the
  causes the collector should count for them are in ``CAUSE``. Faults are cleared at the end.
* Outage: the sink is stopped from ``--outage-start`` for ``--outage-length`` s and started
  again on the same port and data directory; polls wait in the spool meanwhile.
* At the end the run waits until the spool is empty, stops the collector (SIGTERM, at
  mid-interval) and counts the distinct (gateway, timestamp) of ``heatpump_outdoor_temp`` in
  the sink. Expected = the collector's polls ok; lost = expected - stored.
* Every ``--sample`` s: the collector's RSS (VmRSS), CPU time, spool entries/bytes and log
  lines. "start" RSS is the sample after ``--warmup`` s; the slope is a least-squares fit.

``--quick`` (10 gateways, 60 s, outage 25-40 s, faults every 10 s) is for development.
Prints figures; asserts nothing."""

from __future__ import annotations

import argparse
import collections
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.servers: the VictoriaMetrics helpers of the test suite
from tests.servers import free_port, start_victoriametrics, vm_export  # noqa: E402

from _common import free_port_block, raise_fd_limit, wait_listening  # noqa: E402  (bench/_common.py)

BIN = Path(sys.executable).parent / "heatpump-monitor"

#: simulator fault -> the failure cause the collector counts (heatpump_polls_total{result=...})
CAUSE = {
    "empty": "empty",
    "html": "invalid_json",
    "http500": "http_status",
    "invalid_json": "invalid_json",
    "not_object": "not_object",
    "strings": "no_valid_values",
    "timeout": "timeout",
}
FAULTS = sorted(CAUSE)
STOPPED = re.compile(r"Stopped: (\d+) tick\(s\), (\d+) poll\(s\) ok, (\d+) failed, (\d+) empty, "
                     r"(\d+) tick\(s\) skipped, (\d+) poll\(s\) stored")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_status(pid: int, key: str) -> float:
    """A kB line of /proc/<pid>/status (VmRSS, VmHWM) in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    except (OSError, IndexError, ValueError):
        return float("nan")


def line_count(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return 0


# ------------------------------------------------------------------ metrics


class Metrics(dict):
    """(sample name, sorted labels) -> value, from one scrape of /metrics."""

    def get1(self, name: str, default: float = 0.0, **labels: str) -> float:
        return self.get((name, tuple(sorted(labels.items()))), default)

    def by_label(self, name: str, label: str) -> dict[str, float]:
        return {dict(k[1])[label]: v for k, v in self.items() if k[0] == name and label in dict(k[1])}


def scrape(client: httpx.Client, url: str) -> Metrics | None:
    try:
        resp = client.get(url + "/metrics", timeout=5)
    except httpx.HTTPError:
        return None
    if resp.status_code != 200:
        return None
    m = Metrics()
    for fam in text_string_to_metric_families(resp.text):
        for s in fam.samples:
            m[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return m


def histogram(m: Metrics, name: str, result: str) -> tuple[int, float, str]:
    """(count, mean seconds, upper bound of the slowest write's bucket) of one result label."""
    count = int(m.get1(name + "_count", result=result))
    total = m.get1(name + "_sum", result=result)
    buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in m.items()
                      if k[0] == name + "_bucket" and dict(k[1]).get("result") == result))
    top = "-"
    for le, cum in buckets:
        if count and cum >= count:
            top = "+Inf" if math.isinf(le) else f"{le:g}s"
            break
    return count, (total / count if count else float("nan")), top


# ------------------------------------------------------------------ run state


@dataclass
class Sample:
    t: float  # seconds since the collector started
    rss_mb: float
    cpu_s: float
    spool_entries: float
    spool_bytes: float
    sink_up: float
    ticks: float
    polls_ok: float
    log_lines: int
    regular: bool = True


@dataclass
class FaultLog:
    """Which fault each gateway has, since when; fault-gateway-ticks injected per fault."""

    interval_ms: int
    current: dict[int, tuple[str, int]] = field(default_factory=dict)  # gateway -> (fault, on_ms)
    ticks: collections.Counter = field(default_factory=collections.Counter)  # fault -> gateway-ticks
    epochs: int = 0
    switches: int = 0
    near_tick: int = 0  # switches closer than 0.25 s to a grid tick (attribution unsure)

    def grid_ticks(self, on_ms: int, off_ms: int) -> int:
        """Grid ticks k*interval in [on, off)."""
        i = self.interval_ms
        return -(-off_ms // i) - -(-on_ms // i)

    def set(self, gw: int, fault: str | None, now_ms: int) -> None:
        phase = now_ms % self.interval_ms
        if min(phase, self.interval_ms - phase) < 250:
            self.near_tick += 1
        old = self.current.pop(gw, None)
        if old is not None:
            self.ticks[old[0]] += self.grid_ticks(old[1], now_ms)
        if fault is not None:
            self.current[gw] = (fault, now_ms)
        self.switches += 1


def mid_interval(wall: float, interval: float) -> float:
    """The first mid-interval time (tick + interval/2) at or after ``wall``."""
    return (math.ceil((wall - interval / 2) / interval)) * interval + interval / 2


def safe_phase(wall: float, interval: float) -> bool:
    """Far enough from a tick that no poll of it can still be arriving (polls start at the tick)."""
    phase = wall % interval
    return 0.3 * interval <= phase <= interval - 0.2


def slope_mb_per_10min(samples: list[Sample]) -> float:
    pts = [(s.t, s.rss_mb) for s in samples if not math.isnan(s.rss_mb)]
    if len(pts) < 3:
        return float("nan")
    mt = sum(t for t, _ in pts) / len(pts)
    mr = sum(r for _, r in pts) / len(pts)
    den = sum((t - mt) ** 2 for t, _ in pts)
    return sum((t - mt) * (r - mr) for t, r in pts) / den * 600 if den else float("nan")


def log_templates(path: Path, top: int) -> list[tuple[int, str, str]]:
    """The most frequent log messages, numbers/addresses/times replaced: (count, level, text)."""
    counts: collections.Counter = collections.Counter()
    head = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (\w+)\s+(.*)$")
    for line in path.read_text(errors="replace").splitlines():
        m = head.match(line)
        level, msg = (m.group(1), m.group(2)) if m else ("-", line)
        msg = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z?", "<time>", msg)
        msg = re.sub(r"127\.0\.0\.1:\d+", "<gw>", msg)
        msg = re.sub(r"(?<![A-Za-z])\d+(\.\d+)?", "N", msg)
        counts[(level, msg[:110])] += 1
    return [(n, lv, msg) for (lv, msg), n in counts.most_common(top)]


# ------------------------------------------------------------------ the run


def run(args: argparse.Namespace, tmp: Path) -> None:
    n, interval = args.gateways, args.interval
    rng = random.Random(args.seed)
    http = httpx.Client(trust_env=False, timeout=5)
    vm = start_victoriametrics(tmp / "vm")
    base = free_port_block(n)
    sim = subprocess.Popen([str(BIN), "simulate", "--gateways", str(n), "--port", str(base),
                            "--brand", args.brands, "--seed", str(args.seed)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=raise_fd_limit)
    col: subprocess.Popen | None = None
    log = tmp / "collect.log"
    try:
        wait_listening(base + n - 1)
        metrics_port = free_port()
        murl = f"http://127.0.0.1:{metrics_port}"
        env = {**os.environ, "H66_IP": ",".join(f"127.0.0.1:{base + i}" for i in range(n)),
               "COLLECTION_INTERVAL": str(interval), "HEATPUMP_BRAND": "auto",
               "DATA_DIR": str(tmp / "data"), "SPOOL_MAX_MB": str(args.spool_mb),
               "METRICS_PORT": str(metrics_port), "INFLUXDB_URL": vm.url, "INFLUXDB_TOKEN": "soak-token",
               "INFLUXDB_ORG": "soak", "INFLUXDB_BUCKET": "heatpump", "CONFIG_FILE": "",
               "LOG_LEVEL": args.log_level}
        for k in ("INFLUXDB_DATABASE", "INFLUXDB_USERNAME", "INFLUXDB_PASSWORD", "STORE_PATH", "SPOOL_PATH",
                  "LOG_FORMAT", "HEARTBEAT_FILE", "METRICS_HOST"):
            env.pop(k, None)
        (tmp / "data").mkdir()
        logf = open(log, "wb")
        col = subprocess.Popen([str(BIN), "collect"], env=env, stdout=logf, stderr=subprocess.STDOUT,
                               preexec_fn=raise_fd_limit)
        t0 = time.time()
        rel = lambda: time.time() - t0  # noqa: E731

        # up, and the first tick done (faults start after it, so every fault window is polled)
        deadline = time.monotonic() + 60
        while True:
            m = scrape(http, murl)
            if m is not None and m.get1("heatpump_ticks_total") >= 1:
                break
            if col.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"collector not up; log:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)

        faults = FaultLog(int(interval * 1000))
        samples: list[Sample] = []
        events: list[tuple[float, str]] = []  # (wall time, kind)

        def sample(regular: bool = True) -> Sample | None:
            m = scrape(http, murl)
            if m is None:
                print(f"  [{rel():6.1f}s] /metrics did not answer", file=sys.stderr)
                return None
            s = Sample(rel(), proc_status(col.pid, "VmRSS"), cpu_seconds(col.pid),
                       m.get1("heatpump_spool_entries"), m.get1("heatpump_spool_bytes"),
                       m.get1("heatpump_sink_up"), m.get1("heatpump_ticks_total"),
                       m.get1("heatpump_polls_total", result="ok"), line_count(log), regular)
            samples.append(s)
            return s

        def set_fault(gw: int, fault: str | None) -> None:
            resp = http.post(f"http://127.0.0.1:{base + gw}/sim/fault", json={"fault": fault})
            resp.raise_for_status()
            faults.set(gw, fault, int(time.time() * 1000))

        def new_epoch() -> None:
            k = max(1, round(args.fault_share * n))
            chosen = {gw: rng.choice(FAULTS) for gw in sorted(rng.sample(range(n), k))}
            for gw in list(faults.current):
                if gw not in chosen:
                    set_fault(gw, None)
            for gw, f in chosen.items():
                if faults.current.get(gw, (None,))[0] != f:
                    set_fault(gw, f)
            faults.epochs += 1

        def clear_faults() -> None:
            for gw in list(faults.current):
                set_fault(gw, None)

        end_wall = t0 + args.duration
        t = mid_interval(time.time() + 1, interval)
        while t < end_wall:
            events.append((t, "faults"))
            t = mid_interval(t + args.fault_period, interval)
        events.append((mid_interval(end_wall, interval), "clear"))
        events += [(t0 + args.outage_start, "sink_down"), (t0 + args.outage_start + args.outage_length, "sink_up")]
        k = 0
        while k * args.sample <= args.duration:
            events.append((t0 + k * args.sample, "sample"))
            k += 1
        events.sort()

        outage = {"down": float("nan"), "up": float("nan"), "drained": float("nan")}
        print(f"  logs and data in {tmp}", file=sys.stderr)
        next_progress = 0.0
        while events:
            when, kind = events.pop(0)
            delay = when - time.time()
            if delay > 0:
                time.sleep(delay)
            if col.poll() is not None:
                raise RuntimeError(f"collector exited with {col.returncode}; log:\n{log.read_text()[-3000:]}")
            if kind == "sample":
                s = sample()
                if s is not None and s.t >= next_progress:
                    next_progress = s.t + 60
                    print(f"  [{s.t:5.0f}s] RSS {s.rss_mb:6.1f} MB  spool {s.spool_entries:6.0f}  "
                          f"sink_up {s.sink_up:.0f}  ticks {s.ticks:.0f}  polls ok {s.polls_ok:.0f}  "
                          f"log lines {s.log_lines}", file=sys.stderr, flush=True)
            elif kind in ("faults", "clear"):
                now = time.time()
                if not safe_phase(now, interval):  # ran late: wait for the next mid-interval
                    time.sleep(mid_interval(now, interval) - now)
                new_epoch() if kind == "faults" else clear_faults()
            elif kind == "sink_down":
                sample(False)
                vm.stop()
                outage["down"] = rel()
            elif kind == "sink_up":
                sample(False)  # the spool is at its fullest just before the sink returns
                vm.start()
                outage["up"] = rel()
                events.append((time.time() + 1, "drain"))
                events.sort()
            elif kind == "drain":  # 1 s probes until the spool is empty again
                s = sample(False)
                if s is not None and s.spool_entries == 0 and s.sink_up == 1:
                    outage["drained"] = s.t
                elif rel() - outage["up"] < 300:
                    events.append((time.time() + 1, "drain"))
                    events.sort()

        # drain, then stop at mid-interval (no poll in flight, so none is abandoned)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            s = sample(False)
            if s is not None and s.spool_entries == 0 and s.sink_up == 1:
                break
            time.sleep(1)
        now = time.time()
        time.sleep(mid_interval(now, interval) - now)
        last = scrape(http, murl) or Metrics()
        rss_hwm = proc_status(col.pid, "VmHWM")
        cpu_total = cpu_seconds(col.pid)
        t_stop = rel()
        col.send_signal(signal.SIGTERM)
        try:
            rc = col.wait(30)
        except subprocess.TimeoutExpired:
            col.kill()
            rc = col.wait(10)
        logf.close()

        # what reached the sink: distinct (gateway, timestamp) of one field every poll has
        series = vm_export(vm.url, '{__name__="heatpump_outdoor_temp"}')
        points: set[tuple[str, int]] = set()
        raw_samples = 0
        off_grid = 0
        for s in series:
            gw = s["metric"].get("gateway", "?")
            raw_samples += len(s["timestamps"])
            for ts in s["timestamps"]:
                points.add((gw, ts))
                off_grid += ts % (interval * 1000) != 0
        stored_gateways = len({g for g, _ in points})
        spool_files = sum(p.stat().st_size for p in (tmp / "data").glob("spool-api.sqlite3*"))

        report(args, tmp, log, faults, samples, last, outage, rc, t_stop, rss_hwm, cpu_total,
               points, raw_samples, off_grid, stored_gateways, spool_files, vm_version(vm.proc.args[0]))
    finally:
        if col is not None and col.poll() is None:
            col.kill()
            col.wait(10)
        vm.stop()
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(20)
        except subprocess.TimeoutExpired:
            sim.kill()
        http.close()


def vm_version(binary: str) -> str:
    """The Debian package's version (the Debian build's ``-version`` prints nothing)."""
    try:
        out = subprocess.run([binary, "-version"], capture_output=True, text=True, timeout=10).stdout
        m = re.search(r"v(\d+\.\d+\.\d+)", out)
        if m:
            return m.group(1)
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "victoria-metrics"],
                             capture_output=True, text=True, timeout=10).stdout
        return out.split("+")[0].split("-")[0] or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


# ------------------------------------------------------------------ the report


def report(args, tmp, log, faults, samples, last, outage, rc, t_stop, rss_hwm, cpu_total,
           points, raw_samples, off_grid, stored_gateways, spool_files, vm_ver) -> None:
    n, interval = args.gateways, args.interval
    text = log.read_text(errors="replace")
    m = STOPPED.search(text)
    if m:
        ticks, ok, failed, empty, skipped, stored_w = (int(x) for x in m.groups())
        failed += empty  # the summary counts "empty" apart from "failed"
        source = "collector's final log line"
    else:
        ticks, ok = int(last.get1("heatpump_ticks_total")), int(last.get1("heatpump_polls_total", result="ok"))
        skipped = int(last.get1("heatpump_ticks_missed_total"))
        stored_w = int(last.get1("heatpump_snapshots_stored_total"))
        failed = int(sum(v for c, v in last.by_label("heatpump_polls_total", "result").items() if c != "ok"))
        source = "last /metrics scrape (no 'Stopped:' line found)"
    causes = {c: int(v) for c, v in last.by_label("heatpump_polls_total", "result").items() if c != "ok"}
    injected = sum(faults.ticks.values())
    stored = len(points)
    reg = [s for s in samples if s.regular]
    after_warm = [s for s in reg if s.t >= args.warmup - 1]
    w = 26

    def row(label: str, value: str) -> None:
        print(f"  {label:<{w}} {value}")

    print()
    print(f"soak: {n} gateways ({args.brands}) every {interval} s for {args.duration:g} s; collect -> "
          f"VictoriaMetrics {vm_ver} (InfluxDB v2 write API), sink down {args.outage_start:g}-"
          f"{args.outage_start + args.outage_length:g} s; faults on {args.fault_share:.0%} of the gateways, "
          f"re-drawn every {args.fault_period:g} s (seed {args.seed}); {os.cpu_count()} cores")
    print(f"(counts from the {source}; the run ends with a drain, so it is {t_stop:.0f} s long)")

    print("\npolls")
    row("ticks run", f"{ticks}   (ticks skipped: {skipped})")
    row("ticks x gateways", f"{ticks * n}")
    row("polls ok", f"{ok}")
    row("polls failed", f"{failed}   ({ticks * n - ok} = ticks x gateways - ok)")
    row("injected fault polls", f"{injected}   ({faults.epochs} fault draws, {faults.switches} switches, "
                                f"{faults.near_tick} near a tick)")
    row("unexplained by faults", f"{ticks * n - ok - injected:+d}")

    print(f"\n  {'failures by cause':<{w}} {'injected':>9} {'counted':>9} {'diff':>6}   faults")
    expected_by_cause: collections.Counter = collections.Counter()
    names_by_cause: dict[str, list[str]] = collections.defaultdict(list)
    for f, k in faults.ticks.items():
        expected_by_cause[CAUSE[f]] += k
    for f in FAULTS:
        names_by_cause[CAUSE[f]].append(f"{f} {faults.ticks.get(f, 0)}")
    for cause in sorted(set(expected_by_cause) | set(causes) | set(names_by_cause)):
        e, c = expected_by_cause.get(cause, 0), causes.get(cause, 0)
        print(f"    {cause:<{w - 2}} {e:>9} {c:>9} {c - e:>+6}   {', '.join(names_by_cause.get(cause, []))}")

    print("\nsnapshots")
    row("expected (polls ok)", f"{ok}")
    row("stored in the sink", f"{stored} distinct (gateway, time) of heatpump_outdoor_temp, "
                              f"{stored_gateways} gateways; {raw_samples - stored} duplicate samples; "
                              f"{off_grid} off the grid")
    row("lost (expected - stored)", f"{ok - stored:+d}")
    row("writer says stored", f"{stored_w}   (heatpump_snapshots_stored_total at the end: "
                              f"{last.get1('heatpump_snapshots_stored_total'):.0f})")
    row("dropped (spool full)", f"{last.get1('heatpump_snapshots_dropped_total'):.0f}")
    row("collector exit code", f"{rc}")

    print("\nsink outage and spool")
    drain = outage["drained"] - outage["up"]
    row("sink down / up again", f"{outage['down']:.1f} s / {outage['up']:.1f} s "
                                f"({outage['up'] - outage['down']:.1f} s down)")
    row("spool drained", f"{drain:.0f} s after the sink came back" if not math.isnan(drain) else "not seen")
    peak = max(samples, key=lambda s: s.spool_entries)
    row("spool peak", f"{peak.spool_entries:.0f} entries, {peak.spool_bytes / 1e6:.2f} MB (at {peak.t:.0f} s); "
                      f"expected ~{(outage['up'] - outage['down']) / interval * n * ok / max(1, ticks * n):.0f}")
    row("spool file at the end", f"{spool_files / 1e6:.2f} MB on disk")
    for result in ("ok", "failed"):
        c, mean, top = histogram(last, "heatpump_sink_write_seconds", result)
        row(f"sink writes {result}", f"{c}" + (f", mean {mean * 1000:.1f} ms, slowest <= {top}" if c else ""))

    print("\nmemory and CPU (collector)")
    if after_warm:
        first, end = after_warm[0], after_warm[-1]
        before = [s for s in samples if s.t <= outage["down"] + 0.5]
        during = [s for s in samples if outage["down"] < s.t <= outage["up"] + 0.5]
        recovered = [s for s in reg if not math.isnan(outage["drained"]) and s.t >= outage["drained"] + 30]
        rss = [s.rss_mb for s in after_warm]
        row(f"RSS start (t={first.t:.0f} s)", f"{first.rss_mb:.1f} MB")
        if before:
            row(f"RSS before outage (t={before[-1].t:.0f} s)", f"{before[-1].rss_mb:.1f} MB")
        if during:
            row(f"RSS end of outage (t={during[-1].t:.0f} s)", f"{during[-1].rss_mb:.1f} MB")
        row(f"RSS end (t={end.t:.0f} s)", f"{end.rss_mb:.1f} MB   ({end.rss_mb - first.rss_mb:+.1f} MB)")
        row("RSS min / max after warm-up", f"{min(rss):.1f} / {max(rss):.1f} MB;  peak (VmHWM) {rss_hwm:.1f} MB")
        row("RSS trend after warm-up", f"{slope_mb_per_10min(after_warm):+.2f} MB per 10 min "
                                       f"(least squares, {len(after_warm)} samples)")
        calm = [s for s in after_warm if s.t <= outage["down"] + 0.5]
        if len(calm) >= 3:
            row("RSS trend before outage", f"{slope_mb_per_10min(calm):+.2f} MB per 10 min "
                                           f"({len(calm)} samples)")
        if len(recovered) >= 3:
            row("RSS trend after recovery", f"{slope_mb_per_10min(recovered):+.2f} MB per 10 min "
                                            f"(from t={recovered[0].t:.0f} s, {len(recovered)} samples)")
    row("CPU", f"{cpu_total:.1f} s in {t_stop:.0f} s = {cpu_total / t_stop:.0%} of one core")

    print("\ncollector log")
    lines = len(text.splitlines())
    per_min = []
    for a, b in zip(reg, reg[1:]):
        if b.t > a.t:
            per_min.append(((a.t + b.t) / 2, (b.log_lines - a.log_lines) / (b.t - a.t) * 60))
    levels = collections.Counter(re.findall(r"^\S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL)\b", text, re.M))
    row("lines", f"{lines} ({', '.join(f'{k} {v}' for k, v in levels.most_common())}; "
                 f"{log.stat().st_size / 1e6:.1f} MB) = {lines / t_stop * 60:.0f} per minute")
    if per_min:
        def avg(sel):
            sel = [v for t, v in per_min if sel(t)]
            return f"{sum(sel) / len(sel):.0f}" if sel else "-"
        row("lines per minute", f"before outage {avg(lambda t: t < outage['down'])}, during "
                                f"{avg(lambda t: outage['down'] <= t < outage['up'])}, after "
                                f"{avg(lambda t: t >= outage['up'])}; max {max(v for _, v in per_min):.0f}")
    print("  most frequent messages (numbers -> N, gateway addresses -> <gw>):")
    for cnt, lv, msg in log_templates(log, args.top):
        print(f"    {cnt:>7} {lv:<7} {msg}")

    step = 60 if args.duration >= 300 else 10
    print(f"\ntimeline (one sample every {step} s; CPU and log lines since the row before)")
    print(f"  {'t':>5} {'RSS MB':>7} {'CPU %':>6} {'spool':>7} {'spool MB':>8} {'sink up':>7} {'ticks':>6} "
          f"{'polls ok':>9} {'log lines/min':>13}")
    prev: Sample | None = None
    shown: list[Sample] = []
    for s in reg:
        if not shown or s.t - shown[-1].t >= step - 1 or s is reg[-1]:
            shown.append(s)
    for s in shown:
        if prev is not None and s.t > prev.t:
            cpu = f"{(s.cpu_s - prev.cpu_s) / (s.t - prev.t):.0%}"
            lpm = f"{(s.log_lines - prev.log_lines) / (s.t - prev.t) * 60:.0f}"
        else:
            cpu = lpm = "-"
        print(f"  {s.t:>5.0f} {s.rss_mb:>7.1f} {cpu:>6} {s.spool_entries:>7.0f} {s.spool_bytes / 1e6:>8.2f} "
              f"{s.sink_up:>7.0f} {s.ticks:>6.0f} {s.polls_ok:>9.0f} {lpm:>13}")
        prev = s
    if args.keep:
        print(f"\nlogs and data kept in {tmp}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gateways", type=int, default=100)
    ap.add_argument("--interval", type=int, default=2, help="COLLECTION_INTERVAL, seconds")
    ap.add_argument("--duration", type=float, default=600, help="seconds of faults and outage (a drain follows)")
    ap.add_argument("--outage-start", type=float, default=240, help="seconds after the collector started")
    ap.add_argument("--outage-length", type=float, default=120)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fault-period", type=float, default=30, help="seconds between fault draws")
    ap.add_argument("--fault-share", type=float, default=0.1, help="share of gateways faulted per draw")
    ap.add_argument("--warmup", type=float, default=60, help="seconds before the 'start' RSS sample")
    ap.add_argument("--sample", type=float, default=10, help="seconds between samples")
    ap.add_argument("--brands", default="thermia,ivt,nibe")
    ap.add_argument("--spool-mb", type=float, default=256, help="SPOOL_MAX_MB")
    ap.add_argument("--log-level", default="INFO", help="the collector's LOG_LEVEL (its default: INFO)")
    ap.add_argument("--top", type=int, default=8, help="most frequent log messages to list")
    ap.add_argument("--quick", action="store_true",
                    help="10 gateways, 60 s, outage 25-40 s, faults every 10 s, 15 s warm-up, 5 s samples")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, spool, VM data)")
    args = ap.parse_args()
    if args.quick:
        args.gateways, args.duration, args.outage_start, args.outage_length = 10, 60, 25, 15
        args.fault_period, args.warmup, args.sample = 10, 15, 5
    raise_fd_limit()
    if args.keep:
        run(args, Path(tempfile.mkdtemp(prefix="bench-soak-")))
    else:
        with tempfile.TemporaryDirectory(prefix="bench-soak-") as d:
            run(args, Path(d))


if __name__ == "__main__":
    main()
