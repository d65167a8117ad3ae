#!/usr/bin/env python3
"""MQTT flood of made-up gateways against the real MQTT collector process (issue 10).

    .venv/bin/python bench/bench_mqtt_flood.py [--messages 30000] [--src DIR]

A real Mosquitto on loopback, one simulated gateway (thermia) publishing as a real one does,
and ``python -m heatpump_monitor collect --source mqtt`` with H66_MAC unset (auto-discovery),
an embedded store, a disk spool and /metrics. A publisher in another process then floods the
broker as fast as it can: valid values on random ``<mac>/HP/0001`` topics (the issue's
attack), some of them retained, MACs that are too long (up to 60,000 characters), not hex, or
carry a backslash, a space, a comma or '=' (Mosquitto itself drops a client that publishes a
topic with a control character such as a newline: those are covered by the unit tests). Figures printed (nothing asserted):

1. the flood: published messages/s; the collector's messages/s while it lasts (from
   /metrics), whether /metrics answered at all, and how long until it had read everything;
2. what the flood left: gateways in the store, spool entries, the real gateway's snapshots
   during the flood against its ticks, peak RSS, log lines;
3. SIGTERM in the middle of a second flood: seconds until the process exited (SIGKILL after
   ``--stop-limit`` seconds), exit code;
4. a restart with only the retained garbage on the broker: gateways discovered from it.

``--src DIR`` runs the collector from another source tree (e.g. the code before a change:
``git archive HEAD src | tar -x -C /tmp/before`` then ``--src /tmp/before/src``).
"""

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

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))  # tests.servers and tests.mqtt_flood: the test suite's broker and flood

from heatpump_monitor.simulator.mqtt import MqttSimulatorThread  # noqa: E402
from tests.mqtt_flood import start_flood  # noqa: E402
from tests.servers import free_port, start_mosquitto  # noqa: E402

class Collector:
    def __init__(self, src: Path, tmp: Path, port: int, name: str, scale: str) -> None:
        self.metrics_port = free_port()
        self.log_path = tmp / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("H66_", "INFLUXDB_", "MQTT_"))}
        env.update({"PYTHONPATH": str(src), "MQTT_BROKER": "127.0.0.1", "MQTT_PORT": str(port),
                    "COLLECTION_INTERVAL": "1", "HEATPUMP_BRAND": "thermia", "CONFIG_FILE": "",
                    "STORE_PATH": str(tmp / "store.sqlite3"), "SPOOL_PATH": str(tmp / "spool.sqlite3"),
                    "METRICS_PORT": str(self.metrics_port), "PYTHONUNBUFFERED": "1",
                    "MQTT_PAYLOAD_SCALE": scale})
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "heatpump_monitor", "collect", "--source", "mqtt"],
                                     env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=tmp,
                                     start_new_session=True)
        self.peak_rss_kb = 0

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.log):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"no {pattern!r} in the collector's log:\n{self.log[-3000:]}")
            time.sleep(0.05)

    def sample_rss(self) -> None:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_rss_kb = max(self.peak_rss_kb, int(line.split()[1]))
        except OSError:
            pass

    def messages(self) -> int | None:
        """Messages the collector has read (accepted + rejected + ignored), or None when
        /metrics does not answer within 2 s."""
        try:
            text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2, trust_env=False).text
        except httpx.HTTPError:
            return None
        # refused is a part of rejected, dropped never reached the collector: not counted again
        return int(sum(float(v) for v in re.findall(
            r'^heatpump_mqtt_messages_total\{result="(?:accepted|rejected|ignored)"\} (\S+)', text, re.M)))

    def stop(self, limit: float) -> tuple[float, int | None]:
        """SIGTERM; (seconds until exit, exit code), or (limit, None) after a SIGKILL."""
        self.sample_rss()
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc: int | None = self.proc.wait(limit)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        took = time.monotonic() - t0
        self._log.close()
        return took, rc


def count(path: Path, sql: str) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        return db.execute(sql).fetchone()[0]


def flood(port: int, n: int, seed: int) -> subprocess.Popen:
    return start_flood(port, messages=n, seed=seed, stdout=subprocess.PIPE)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=30_000)
    ap.add_argument("--src", default=str(ROOT / "src"), help="source tree the collector runs from")
    ap.add_argument("--payload-scale", default="raw", help="MQTT_PAYLOAD_SCALE of the collector (raw: every "
                    "made-up value is decoded at once, the issue's case; auto holds a new gateway's first integers)")
    ap.add_argument("--drain-limit", type=float, default=90.0, help="longest wait for the collector to read the flood")
    ap.add_argument("--stop-limit", type=float, default=60.0, help="SIGKILL when SIGTERM took longer than this")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-flood-"))
    broker = start_mosquitto(tmp / "mosquitto")
    port = broker.port
    sim = MqttSimulatorThread(["thermia"], "127.0.0.1", port, max_delay=0.5, clock=lambda: 1_764_324_000.0)
    real = sim.gateways[0].mac
    store = tmp / "store.sqlite3"
    try:
        print(f"collector from {args.src}; {args.messages:,} flood messages; real gateway {real}")
        c = Collector(Path(args.src), tmp, port, "collector", args.payload_scale)
        c.wait_for("Connected to MQTT broker")
        sim.start()  # after the collector subscribed: its first publish carries every register
        c.wait_for("Stored ", 30)
        time.sleep(3)
        base = c.messages() or 0
        real_before = count(store, f"SELECT COUNT(*) FROM snapshots WHERE gateway='{real}'")

        # 1. the flood
        t0 = time.monotonic()
        pub = flood(port, args.messages, 1)
        samples: list[tuple[float, int | None]] = []
        last_change, last_n = time.monotonic(), base
        while time.monotonic() - t0 < args.drain_limit:
            n = c.messages()
            c.sample_rss()
            samples.append((time.monotonic() - t0, n))
            if n is not None and n != last_n:
                last_n, last_change = n, time.monotonic()
            if pub.poll() is not None and time.monotonic() - last_change > 3:
                break
            time.sleep(0.5)
        pub_s = float(pub.communicate(timeout=300)[0].strip() or "nan")
        t_flood = time.monotonic() - t0
        answered = [(t, n) for t, n in samples if n is not None]
        read = (answered[-1][1] - base) if answered else 0
        drained = next((t for t, n in answered if n - base >= read and read), None)
        real_after = count(store, f"SELECT COUNT(*) FROM snapshots WHERE gateway='{real}'")
        print(f"1. flood: published {args.messages:,} in {pub_s:.2f} s ({args.messages / pub_s:,.0f} messages/s); "
              f"collector read {read:,} (metrics: {len(answered)}/{len(samples)} samples answered), "
              f"all read after {drained if drained is not None else float('nan'):.1f} s "
              f"= {read / drained if drained else 0:,.0f} messages/s")
        print(f"   real gateway: {real_after - real_before} snapshots stored during the {t_flood:.1f} s of flood "
              f"(1 per second expected: ~{t_flood:.0f})")

        # 3. SIGTERM in the middle of a second flood
        pub2 = flood(port, args.messages * 4, 2)
        time.sleep(2.0)
        stop_s, rc = c.stop(args.stop_limit)
        pub2.kill()
        pub2.wait()
        log = c.log
        gateways = count(store, "SELECT COUNT(DISTINCT gateway) FROM snapshots")
        spool = count(tmp / "spool.sqlite3", "SELECT COUNT(*) FROM spool")
        long_tags = count(store, "SELECT COUNT(*) FROM snapshots WHERE length(gateway) != 12")
        print(f"2. left behind: {gateways} gateway(s) in the store ({long_tags} snapshot rows with a gateway tag "
              f"that is not 12 characters), {spool} spool entries; peak RSS {c.peak_rss_kb / 1024:.0f} MB; "
              f"log {len(log.splitlines())} lines, {len(log):,} bytes, longest line {max(map(len, log.splitlines())):,}")
        print("3. SIGTERM during a flood: " + (f"exited after {stop_s:.2f} s, exit code {rc}" if rc is not None
                                                 else f"still running after {stop_s:.0f} s: SIGKILLed"))
        stopped = [line for line in log.splitlines() if "Stopped:" in line]
        if stopped:
            print("   " + stopped[-1].split("Stopped:", 1)[1].strip())

        # 4. restart with the retained garbage still on the broker
        store.unlink(missing_ok=True)
        c2 = Collector(Path(args.src), tmp, port, "restart", args.payload_scale)
        c2.wait_for("Connected to MQTT broker")
        time.sleep(5)
        c2.stop(args.stop_limit)
        seen = len(set(re.findall(r"Gateway ([0-9a-f]{12}) seen on MQTT", c2.log)))
        print(f"4. restart with retained garbage on the broker: {seen} gateway(s) discovered within 5 s")
    finally:
        sim.stop()
        broker.stop()
    print(f"(work files in {tmp})")


if __name__ == "__main__":
    main()
