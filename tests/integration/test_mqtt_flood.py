"""Issue 10: a flood of made-up gateways against the real MQTT collector process.

Before the fix, 30,000 messages on random ``<mac>/HP/0001`` topics (H66_MAC unset) gave
thousands of fake gateways in the store, a spool of hundreds of thousands of entries,
ingestion collapsing to ~150 messages/s, SIGTERM ignored for minutes (only SIGKILL stopped
it), and the retained garbage brought fake gateways back on every restart; a 60,000-character
MAC was stored and logged, and a topic's first level went unchecked into the `gateway` tag
(bench/bench_mqtt_flood.py measures it). These tests replay that flood, with a real gateway
publishing beside it, and check outcomes only: what is stored, what is logged, that SIGTERM
ends the process with exit code 0 (waiting with a generous limit, never timing it)."""

from __future__ import annotations

import re
import sqlite3
import sys
import time
from pathlib import Path

import httpx
import paho.mqtt.publish as publish
import pytest

from heatpump_monitor.providers import load_provider
from heatpump_monitor.simulator.mqtt import MqttSimulatorThread

from ..mqtt_flood import start_flood
from ..servers import free_port
from .conftest import FROZEN

pytestmark = pytest.mark.realserver

MQTT_CMD = [sys.executable, "-m", "heatpump_monitor", "collect", "--source", "mqtt"]
FLOOD_MESSAGES = 30_000
MAC_RE = re.compile(r"[0-9a-f]{12}")


class Flood:
    """The hostile publisher of tests/mqtt_flood.py, until stopped."""

    def __init__(self, port: int, tmp: Path) -> None:
        self.counter = tmp / "flood-count"
        self.proc = start_flood(port, counter=self.counter)

    @property
    def published(self) -> int:
        try:
            return int(self.counter.read_text() or 0)
        except (OSError, ValueError):
            return 0

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def flood(broker, tmp_path):
    floods: list[Flood] = []

    def start() -> Flood:
        f = Flood(broker.port, tmp_path)
        floods.append(f)
        return f

    yield start
    for f in floods:
        f.stop()


@pytest.fixture
def real_gateway(broker):
    sims: list[MqttSimulatorThread] = []

    def start() -> MqttSimulatorThread:
        sim = MqttSimulatorThread(["thermia"], "127.0.0.1", broker.port, max_delay=0.3, clock=lambda: FROZEN)
        sim.start()
        sims.append(sim)
        return sim

    yield start
    for s in sims:
        s.stop()


def stored(store: Path) -> list[tuple[str, int, str]]:
    if not store.exists():
        return []
    with sqlite3.connect(store) as db:
        return db.execute("SELECT gateway, ts_ms, data FROM snapshots ORDER BY ts_ms").fetchall()


def wait(predicate, what: str, limit: float = 120.0) -> None:
    """Poll until ``predicate()``; ``limit`` is how long to wait at most, not an expectation."""
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.2)


def messages_read(metrics_port: int) -> dict[str, int]:
    """heatpump_mqtt_messages_total by result (accepted, rejected, ignored) from /metrics;
    {} while it does not answer."""
    try:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5, trust_env=False).text
    except httpx.HTTPError:
        return {}
    counts = {k: int(float(v)) for k, v in
              re.findall(r'^heatpump_mqtt_messages_total\{result="([a-z]+)"\} (\S+)', text, re.M)}
    # refused is a part of rejected, dropped never reached the snapshotter: not messages read
    return {k: v for k, v in counts.items() if k in ("accepted", "rejected", "ignored")}


def full_values(sim) -> dict[str, float]:
    gw = sim.gateways[0]
    return load_provider(gw.brand).decode_poll(gw.model.raw_alldata()).values


@pytest.mark.attack("2", "10")
def test_a_flood_of_made_up_gateways_is_bounded_and_sigterm_still_stops_it(broker, flood, real_gateway, collector,
                                                                             tmp_path):
    import json

    store = tmp_path / "s.sqlite3"
    # retained garbage left on the broker from an earlier flood: it must not discover anything
    publish.multiple([{"topic": f"{0xdead00000000 + i:012x}/HP/0007", "payload": "12", "retain": True}
                      for i in range(200)], hostname="127.0.0.1", port=broker.port)
    metrics = free_port()
    env = {"MQTT_BROKER": "127.0.0.1", "MQTT_PORT": str(broker.port), "COLLECTION_INTERVAL": "1",
           "STORE_PATH": str(store), "MQTT_MAX_GATEWAYS": "3", "MQTT_PAYLOAD_SCALE": "raw",
           "METRICS_PORT": str(metrics)}
    t0 = time.monotonic()
    c = collector(env, name="flooded", argv=MQTT_CMD)
    c.wait_for(r"Connected to MQTT broker .*; subscribed to \+/HP/\+; up to 3 gateways discovered")
    c.wait_for(r"Refused 1 MQTT message\(s\): 1 retained from a gateway not seen yet")
    sim = real_gateway()  # after the collector subscribed: it discovers the gateway by its messages
    real = sim.gateways[0].mac
    want = full_values(sim)
    c.wait_for(f"Stored {len(want)} metrics .* from {real}")

    f = flood()
    flood_ms = time.time() * 1000
    # while the flood runs: the collector has read the 30,000 messages (the broker drops
    # more for it when it cannot keep up), and the real gateway's snapshots went on being stored
    wait(lambda: sum(messages_read(metrics).values()) >= FLOOD_MESSAGES, f"{FLOOD_MESSAGES} flood messages read",
         limit=300)
    wait(lambda: sum(g == real and t > flood_ms for g, t, _ in stored(store)) >= 3,
         "3 snapshots of the real gateway during the flood")
    assert f.running() and sum(messages_read(metrics).values()) >= FLOOD_MESSAGES
    rc, _ = c.terminate()  # SIGTERM in the middle of the flood; waits up to 15 s, never timed
    assert rc == 0
    f.stop()
    elapsed = time.monotonic() - t0

    rows = stored(store)
    gateways = {g for g, _, _ in rows}
    assert real in gateways and len(gateways) <= 3  # the real one and at most 2 made up
    assert all(MAC_RE.fullmatch(g) for g in gateways)  # nothing long, not hex, with \ , = or space
    real_rows = [json.loads(d) for g, t, d in rows if g == real and t > flood_ms]
    assert len(real_rows) >= 3 and all(v == want for v in real_rows)  # exact, nothing bogus mixed in
    ticks = {t for _, t, _ in rows}
    assert len(rows) <= 3 * len(ticks)  # one snapshot per accepted gateway and tick, no more

    log = c.log
    lines = log.splitlines()
    assert "Traceback" not in log and "Received SIGTERM" in log
    assert max(len(line) for line in lines) < 600  # the 60,000-character MAC is never written out
    assert "a" * 100 not in log
    seen = [line for line in lines if "seen on MQTT" in line]
    assert len(seen) <= 3 and any(real in line for line in seen)
    refused = [line for line in lines if "Refused " in line]
    assert 1 <= len(refused) <= 2 + elapsed / 60  # at most one line a minute (and the first)
    assert len(lines) < 100 + 2 * elapsed  # start-up, one "Stored" line per tick, a few others
    summary = next(line for line in lines if "Stopped:" in line)
    refused_n = int(re.search(r" dropped \((\d+) of no accepted gateway\)", summary).group(1))
    assert refused_n >= FLOOD_MESSAGES // 2  # most of the flood: made-up gateways beyond the limit

    # the retained garbage (200 + the flood's) is still on the broker: a restart finds none of it
    sim.stop()
    c2 = collector(env, name="restarted", argv=MQTT_CMD)
    c2.wait_for(r"Refused \d+ MQTT message\(s\): \d+ retained from a gateway not seen yet")
    wait(lambda: messages_read(metrics).get("rejected", 0) >= 200, "the 200 retained messages read")
    rc2, _ = c2.terminate()
    assert rc2 == 0
    assert "seen on MQTT" not in c2.log and not stored(store)[len(rows):]
    assert re.search(r"Stopped: .* dropped \(\d+ of no accepted gateway\)", c2.log)


@pytest.mark.attack("2")
def test_with_h66_mac_set_the_flood_never_reaches_the_collector(broker, flood, real_gateway, collector, tmp_path):
    store = tmp_path / "s.sqlite3"
    sim = real_gateway()
    real = sim.gateways[0].mac
    other = "0123456789ab"
    env = {"MQTT_BROKER": "127.0.0.1", "MQTT_PORT": str(broker.port), "COLLECTION_INTERVAL": "1",
           "STORE_PATH": str(store), "H66_MAC": f"{real.upper()},{other}", "MQTT_PAYLOAD_SCALE": "raw"}
    c = collector(env, name="configured", argv=MQTT_CMD)
    c.wait_for(f"subscribed to {real}/HP/\\+, {other}/HP/\\+$")
    c.wait_for(f"Stored {len(full_values(sim))} metrics .* from {real}")
    f = flood()
    flood_ms = time.time() * 1000
    wait(lambda: f.published >= FLOOD_MESSAGES, f"{FLOOD_MESSAGES} flood messages published")
    wait(lambda: sum(g == real and t > flood_ms for g, t, _ in stored(store)) >= 2,
         "2 snapshots of the real gateway during the flood")
    rc, _ = c.terminate()
    assert rc == 0
    assert {g for g, _, _ in stored(store)} == {real}
    log = c.log
    assert "Refused" not in log and "Traceback" not in log
    summary = next(line for line in log.splitlines() if "Stopped:" in line)
    assert " 0 dropped" in summary  # the broker sent nothing but the two gateways' topics
