#!/usr/bin/env python3
"""MQTT collector: (a) messages per second ingested through a real Mosquitto on loopback,
(b) cost of emitting one tick of snapshots for 1,000 gateways.

    .venv/bin/python bench/bench_mqtt.py [--messages 200000]

(a) A publisher in ANOTHER process floods the broker with valid register messages
(``<mac>/HP/<index>``, 100 gateways); this process runs the collector's MQTT source and
snapshotter (aiomqtt -> decode -> hold) and counts messages from the first to the last.
(b) In-process: a snapshotter holding 40 registers for each of 1,000 gateways; timed
``tick()`` alone and with line-protocol serialization. Prints figures; asserts nothing."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

from pydantic import SecretStr

from heatpump_monitor.config import MqttSettings
from heatpump_monitor.pipeline.snapshotter import Snapshotter
from heatpump_monitor.providers import load_provider
from heatpump_monitor.simulator.model import PumpModel
from heatpump_monitor.stores.influx.lineproto import to_lines
from heatpump_monitor.sources.mqtt import MqttSource

PUBLISHER = r"""
import sys, time
import paho.mqtt.client as mqtt
port, n, gateways = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
raw = eval(sys.argv[4])
items = list(raw.items())
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-publisher")
c.max_queued_messages_set(0)
c.connect("127.0.0.1", port)
c.loop_start()
for i in range(n):
    idx, value = items[i % len(items)]
    mac = "%012x" % (i // len(items) % gateways)
    c.publish(f"{mac}/HP/{idx}", str(value))
    if i % 5000 == 0:
        while len(c._out_packet) > 20000:
            time.sleep(0.001)
while c._out_packet:
    time.sleep(0.01)
c.loop_stop(); c.disconnect()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def ingest(n: int, gateways: int) -> dict:
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    tmp = Path(tempfile.mkdtemp())
    conf = tmp / "m.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 0\nmax_inflight_messages 0\n")
    broker = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        provider = load_provider("thermia")
        snap = Snapshotter(provider, 30_000, 300_000)
        seen = {"n": 0, "first": 0.0, "last": 0.0}

        def on_message(topic: str, payload: bytes) -> None:
            now = time.perf_counter()
            if not seen["n"]:
                seen["first"] = now
            seen["n"] += 1
            seen["last"] = now
            snap.accept(topic, payload, int(time.time() * 1000))

        settings = MqttSettings(broker="127.0.0.1", port=port, username="", password=SecretStr(""),
                                client_id="bench-collector", tls=False, ca_file="", mac="", gateway_name="",
                                timestamp_mode="snapshot", getall_interval_s=600, silent_limit_s=300)
        stop = asyncio.Event()
        source = MqttSource(settings, on_message, lambda: [])
        task = asyncio.create_task(source.run(stop))
        while not source.connected:
            await asyncio.sleep(0.01)
        raw = PumpModel("thermia", seed=1).raw_alldata()
        pub = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(port), str(n), str(gateways), repr(raw)])
        idle_since = time.monotonic()
        last_n = 0
        while seen["n"] < n and time.monotonic() - idle_since < 5:
            await asyncio.sleep(0.1)
            if seen["n"] != last_n:
                last_n, idle_since = seen["n"], time.monotonic()
        pub.wait(30)
        stop.set()
        await asyncio.wait_for(task, 10)
        span = seen["last"] - seen["first"]
        return {"published": n, "received": seen["n"], "seconds": span,
                "rate": seen["n"] / span if span else 0.0, "accepted": snap.stats.accepted,
                "gateways": len(snap.gateways)}
    finally:
        broker.terminate()
        broker.wait(10)


def emit_cost(gateways: int = 1000) -> tuple[float, float, int]:
    provider = load_provider("nibe")
    snap = Snapshotter(provider, 30_000, 300_000)
    raw = PumpModel("nibe", seed=1).raw_alldata()
    items = list(raw.items())[:40]
    for g in range(gateways):
        for idx, value in items:
            snap.accept(f"{g:012x}/HP/{idx}", str(value).encode(), 1_000)
    registers = len(next(iter(snap.gateways.values())).values)
    n = 20
    tick = min(timeit.repeat(lambda: snap.tick(30_000, 30_000), number=n, repeat=5)) / n
    both = min(timeit.repeat(lambda: to_lines(snap.tick(30_000, 30_000)), number=n, repeat=5)) / n
    return tick * 1e3, both * 1e3, registers


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=200_000)
    args = ap.parse_args()
    r = asyncio.run(ingest(args.messages, 100))
    print(f"(a) ingest through Mosquitto on loopback: {r['received']}/{r['published']} messages from "
          f"{r['gateways']} gateways in {r['seconds']:.2f} s = {r['rate']:,.0f} messages/s "
          f"({r['accepted']} accepted and decoded)")
    tick_ms, both_ms, registers = emit_cost()
    print(f"(b) one tick for 1,000 gateways x {registers} registers: snapshots {tick_ms:.2f} ms, "
          f"snapshots + line protocol {both_ms:.2f} ms ({both_ms:.2f} us per gateway)")


if __name__ == "__main__":
    main()
