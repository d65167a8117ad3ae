"""The MQTT collector end to end with a real Mosquitto: simulated gateways publish one message
per register at random moments; the collector stores aligned snapshots."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time

import httpx
import paho.mqtt.publish as publish
import pytest
from prometheus_client.parser import text_string_to_metric_families

from heatpump_monitor.providers import load_provider
from heatpump_monitor.simulator.mqtt import MqttSimulatorThread

from ..servers import free_port, influx1_query, influx1_rows
from .conftest import FROZEN, ROOT, addr, create_database

pytestmark = pytest.mark.realserver

MQTT_ENTRY = [sys.executable, str(ROOT / "collector" / "collector.py")]  # seed-compatible file
MQTT_CMD = [sys.executable, "-m", "heatpump_monitor", "collect", "--source", "mqtt"]


@pytest.fixture
def mqtt_sim():
    sims = []

    def start(port, brands=("thermia",), **options):
        options.setdefault("clock", lambda: FROZEN)
        wait = options.pop("wait_connected", True)
        sim = MqttSimulatorThread(list(brands), "127.0.0.1", port, **options)
        sim.start(wait_connected=wait)
        sims.append(sim)
        return sim

    yield start
    for s in sims:
        s.stop()


def mqtt_env(broker, **extra):
    return {"MQTT_BROKER": "127.0.0.1", "MQTT_PORT": str(broker.port), "COLLECTION_INTERVAL": "1", **extra}


def rows(path):
    with sqlite3.connect(path) as db:
        return [(g, t, json.loads(d)) for g, t, d in
                db.execute("SELECT gateway, ts_ms, data FROM snapshots ORDER BY ts_ms")]


def verify(store, first_ms, last_ms):
    """`heatpump-monitor verify` over exactly the ticks first..last; (exit code, coverage %)."""
    r = subprocess.run(MQTT_CMD[:3] + ["verify", "--interval", "1", "--since", f"{(last_ms - first_ms) // 1000 + 1}s",
                                       "--now", str(last_ms + 1000)],
                       env={**os.environ, "STORE_PATH": str(store)}, capture_output=True, text=True)
    coverage = re.search(r" mqtt .*? (\d+\.\d+)%", r.stdout)
    assert coverage, r.stdout + r.stderr
    return r.returncode, float(coverage.group(1))


def full_values(sim, i=0):
    gw = sim.gateways[i]
    return load_provider(gw.brand).decode_poll(gw.model.raw_alldata()).values


def test_snapshots_hold_every_register_under_one_timestamp(broker, mqtt_sim, collector, tmp_path):
    sim = mqtt_sim(broker.port, max_delay=1.5)
    mac = sim.gateways[0].mac
    store = tmp_path / "s.sqlite3"
    c = collector(mqtt_env(broker, H66_MAC=mac, STORE_PATH=str(store)), name="mqtt", argv=MQTT_ENTRY)
    c.wait_for(f"Connected to MQTT broker 127.0.0.1:{broker.port}; subscribed to {mac}/HP/\\+")
    c.wait_for("Stored ", count=6)
    assert c.terminate()[0] == 0
    want = full_values(sim)
    got = rows(store)
    assert all(g == mac and t % 1000 == 0 for g, t, _ in got)
    complete = [v for _, _, v in got if v == want]
    # GETALL answers within max_delay (1.5 s): from then on every tick has every register
    first_full = next(i for i, (_, _, v) in enumerate(got) if v == want)
    assert first_full <= 3 and len(complete) == len(got) - first_full >= 3
    assert "MQTT collector: broker 127.0.0.1" in c.log and "snapshot mode" in c.log
    assert verify(store, got[0][1], got[-1][1]) == (0, 100.0)


def test_round_mode_reproduces_incomplete_rows(broker, mqtt_sim, collector, tmp_path):
    store = tmp_path / "s.sqlite3"
    # raw: every message is its own row at once (auto mode may release held values together)
    c = collector(mqtt_env(broker, MQTT_TIMESTAMP_MODE="round", STORE_PATH=str(store), MQTT_PAYLOAD_SCALE="raw"),
                  name="round", argv=MQTT_CMD)
    # no H66_MAC: the gateway is discovered by a message, so the collector listens before it starts
    c.wait_for("Connected to MQTT broker")
    sim = mqtt_sim(broker.port, max_delay=2.0)
    want = full_values(sim)
    c.wait_for("Stored 1 metrics", count=len(want))

    def merged():
        out = {}
        for _, _, v in rows(store):
            out.update(v)
        return out

    deadline = time.monotonic() + 20
    while merged() != want and time.monotonic() < deadline:
        time.sleep(0.2)
    assert c.terminate()[0] == 0
    assert merged() == want  # nothing lost, only split...
    got = rows(store)
    # ...because messages spread over 2 s fall into several 1 s windows: no row is whole
    assert len(got) >= 2 and all(set(v) < set(want) for _, _, v in got)
    # and rows only where messages happened to arrive: verify reports the lower coverage
    rc, coverage = verify(store, got[0][1], got[-1][1] + 5000)
    assert rc == 1 and coverage < 99.0


def test_into_influxdb1_with_gateway_name(broker, mqtt_sim, collector, influxdb1):
    create_database(influxdb1.url, "hp_mqtt")
    sim = mqtt_sim(broker.port, brands=("nibe",), max_delay=0.5)
    mac = sim.gateways[0].mac
    c = collector(mqtt_env(broker, H66_MAC=mac, GATEWAY_NAME="house", HEATPUMP_BRAND="nibe",
                           INFLUXDB_URL=influxdb1.url, INFLUXDB_DATABASE="hp_mqtt"), name="mqtt-influx",
                  argv=MQTT_CMD)
    c.wait_for("Stored ", count=4)
    assert c.terminate()[0] == 0
    want = full_values(sim)
    result = influx1_rows(influx1_query(influxdb1.url, "hp_mqtt", "SELECT * FROM heatpump GROUP BY *"))
    full = [r for r in result if {k: r.get(k) for k in want} == pytest.approx(want)]
    assert len(full) >= 2
    assert all(r["gateway"] == "house" and r["source"] == "mqtt" and r["time"] % 1000 == 0 for r in result)


def test_bad_messages_warned_never_stored(broker, mqtt_sim, collector, tmp_path):
    sim = mqtt_sim(broker.port, max_delay=0.2)
    mac = sim.gateways[0].mac
    store = tmp_path / "s.sqlite3"
    c = collector(mqtt_env(broker, H66_MAC=mac, STORE_PATH=str(store)), name="bad",
                  argv=MQTT_CMD)
    c.wait_for("Stored ")
    bad = [("0007", b"abc", "not a number"), ("0007", b"", "empty payload"), ("0009", b"27,5", "not a number"),
           ("0001", b"70000", "outside -32768..65535"), ("0002", b"x" * 5000, "oversized payload"),
           ("0009", b"540.0", "540 °C outside plausible range"), ("6C60", b"-5", "outside 0..4294967295"),
           ("EEEE", b"5", "Unknown register: EEEE"),
           ("ZZ", b"1", re.escape("Refused 1 MQTT message(s): 1 with a topic not <12 hex digits>/HP/<register>"))]
    for idx, payload, _ in bad:
        publish.single(f"{mac}/HP/{idx}", payload, hostname="127.0.0.1", port=broker.port)
    publish.single(f"{mac}/HP/STATUS", b'{"x":1}', hostname="127.0.0.1", port=broker.port)
    for _, _, message in bad:
        c.wait_for(message)
    n = len(rows(store))
    c.wait_for("Stored ", count=n + 2)
    assert c.terminate()[0] == 0
    want = full_values(sim)
    assert all(v == want for _, _, v in rows(store)[-2:])  # the good values still there, nothing bogus
    assert "Traceback" not in c.log


def test_broker_down_at_start_then_restarted_midway(broker, mqtt_sim, collector, tmp_path):
    broker.stop()
    store = tmp_path / "s.sqlite3"
    sim = mqtt_sim(broker.port, max_delay=0.3, wait_connected=False)
    mac = sim.gateways[0].mac
    c = collector(mqtt_env(broker, H66_MAC=mac, STORE_PATH=str(store)), name="restart", argv=MQTT_CMD)
    c.wait_for(f"Cannot connect to MQTT broker 127.0.0.1:{broker.port}: .*connection refused")
    broker.start()
    c.wait_for("Connected to MQTT broker")
    c.wait_for("Stored ", count=3)
    broker.restart()
    c.wait_for("Lost the MQTT broker")
    c.wait_for("Connected to MQTT broker", count=2, timeout=40)
    before = len(rows(store))
    c.wait_for("Stored ", count=before + 3)
    assert c.terminate()[0] == 0
    log = c.log
    assert log.count("Cannot connect to MQTT broker") == 1  # one line per state change, not per attempt
    ticks = [t for _, t, _ in rows(store)]
    # held values keep the snapshots going through the short outage: no tick lost at all
    assert ticks == list(range(ticks[0], ticks[-1] + 1, 1000))
    assert all(v == full_values(sim) for _, _, v in rows(store)[-2:])


def test_broker_outage_loses_only_the_outage_ticks(broker, mqtt_sim, collector, tmp_path):
    """The broker is down longer than MQTT_SILENT_LIMIT: the collector stops emitting (held
    values are not passed off as fresh), resumes after the reconnect, and every missing tick
    lies inside the outage."""
    store = tmp_path / "s.sqlite3"
    # a running clock, 10 simulated minutes per second: values change, so the gateway publishes
    sim = mqtt_sim(broker.port, max_delay=0.3, clock=time.time, time_scale=600)
    mac = sim.gateways[0].mac
    c = collector(mqtt_env(broker, H66_MAC=mac, STORE_PATH=str(store), MQTT_SILENT_LIMIT="2"),
                  name="outage", argv=MQTT_CMD)
    c.wait_for("Connected to MQTT broker")
    c.wait_for("Stored ", count=3)
    down_ms = time.time() * 1000
    broker.stop()
    c.wait_for("Lost the MQTT broker")
    c.wait_for(r"Gateway .* silent for \d+ s")
    time.sleep(1.5)
    broker.start()
    c.wait_for("Connected to MQTT broker", count=2, timeout=40)
    deadline = time.monotonic() + 40  # until snapshots flow again (the simulator reconnects too)
    while time.monotonic() < deadline and not any(t > time.time() * 1000 - 1500 for _, t, _ in rows(store)):
        time.sleep(0.3)
    back_ms = time.time() * 1000
    stored_before = len(rows(store))
    while time.monotonic() < deadline and len(rows(store)) < stored_before + 2:
        time.sleep(0.3)
    assert c.terminate()[0] == 0

    ticks = [t for _, t, _ in rows(store)]
    missing = sorted(set(range(ticks[0], ticks[-1] + 1, 1000)) - set(ticks))
    assert missing, "the outage outlasted the silent limit: some ticks must be missing"
    assert all(down_ms - 1000 <= m <= back_ms for m in missing), (down_ms, back_ms, missing)
    assert ticks[-1] > back_ms - 1500  # collection resumed
    assert "Traceback" not in c.log


def metric_names(port: int) -> set[str]:
    """The names a collector's /metrics exposes: its samples', a histogram's by its own name."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5, trust_env=False).text
    names = set()
    for family in text_string_to_metric_families(text):
        if family.name.endswith("_created"):  # the client library's creation times, not ours
            continue
        plain = {s.name for s in family.samples if not s.name.endswith(("_bucket", "_count", "_sum", "_created"))}
        names |= plain or {family.name}
    return names


def test_both_collectors_expose_the_same_metrics(broker, mqtt_sim, simulator, collector, tmp_path):
    """The metric set README lists, from both real collectors: the same families and samples."""
    sim = mqtt_sim(broker.port)
    mac = sim.gateways[0].mac
    api_sim = simulator(["thermia"], frozen=True)
    mqtt_port, api_port = free_port(), free_port()
    m = collector(mqtt_env(broker, H66_MAC=mac, STORE_PATH=str(tmp_path / "m.sqlite3"),
                           METRICS_PORT=str(mqtt_port)), name="mqtt", argv=MQTT_CMD)
    a = collector({"H66_IP": addr(api_sim.urls[0]), "COLLECTION_INTERVAL": "1",
                   "STORE_PATH": str(tmp_path / "a.sqlite3"), "METRICS_PORT": str(api_port)}, name="api")
    m.wait_for("Stored ", count=2)
    a.wait_for("Stored ", count=2)
    mqtt, api = metric_names(mqtt_port), metric_names(api_port)
    assert mqtt == api
    documented = set(re.findall(r"^\| `(heatpump_[a-z_]+)`", (ROOT / "README.md").read_text(), re.M))
    assert documented == api
    assert 'heatpump_polls_total{result="ok"}' in httpx.get(f"http://127.0.0.1:{mqtt_port}/metrics",
                                                             trust_env=False).text
    assert m.terminate()[0] == 0 and a.terminate()[0] == 0
