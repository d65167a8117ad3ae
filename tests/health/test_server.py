"""Liveness, readiness and the Prometheus metrics of a running collector (app level, fake clock)."""

import asyncio
from types import SimpleNamespace

import httpx
import pytest
from pydantic import SecretStr
from prometheus_client.parser import text_string_to_metric_families

from heatpump_monitor.config import MqttSettings
from heatpump_monitor.health.metrics import CollectorMetrics
from heatpump_monitor.health.server import Health, create_health_app
from heatpump_monitor.model import Snapshot
from heatpump_monitor.pipeline.contract import CollectorStats
from heatpump_monitor.pipeline.mqtt_collector import MqttCollector
from heatpump_monitor.pipeline.snapshotter import MqttStats
from heatpump_monitor.providers import load_provider
from heatpump_monitor.pipeline.grid import Ticker
from heatpump_monitor.pipeline.spool import MemorySpool
from heatpump_monitor.pipeline.writer import Writer
from heatpump_monitor.stores.base import SinkError

NOW = 1_800_000_000.0


class Sink:
    description = "InfluxDB 1.x at http://db:8086 (database hp)"

    def __init__(self):
        self.down = False

    async def write(self, snapshots):
        if self.down:
            raise SinkError("server unreachable: connection refused")

    async def check(self):
        pass

    async def close(self):
        pass


class Clock:
    def __init__(self):
        self.t = NOW

    def __call__(self):
        return self.t


@pytest.fixture
def parts():
    clock = Clock()
    ticker = Ticker(30, clock, monotonic=clock)
    collector = SimpleNamespace(ticker=ticker, interval_s=30, last_success={}, stats=CollectorStats())
    sink = Sink()
    writer = Writer(sink, MemorySpool(100))
    metrics = CollectorMetrics(collector, writer, "api", "nibe")
    health = Health(collector, writer, clock)
    app = create_health_app(health, metrics)
    return SimpleNamespace(clock=clock, collector=collector, sink=sink, writer=writer, health=health, app=app)


def get(app, path, method="GET"):
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            return await c.request(method, path)
    return asyncio.run(go())


def samples(text):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def snap(t):
    return Snapshot("g1", "nibe", "api", t, {"outdoor_temp": 1.0})


def test_not_ready_before_the_first_poll_then_ready(parts):
    r = get(parts.app, "/readyz")
    assert r.status_code == 503 and r.json()["cause"] == "no successful poll yet"
    parts.collector.last_success["g1"] = NOW - 10
    r = get(parts.app, "/readyz")
    assert r.status_code == 200 and r.json()["ready"] is True
    assert get(parts.app, "/readyz", "HEAD").status_code == 200
    assert r.json()["last_success"] == "2027-01-15T07:59:50.000Z"


def test_not_ready_when_the_last_poll_is_too_old(parts):
    parts.collector.last_success["g1"] = NOW - 91  # limit: max(3 x 30 s, 90 s)
    r = get(parts.app, "/readyz")
    assert r.status_code == 503 and "last successful poll 91 s ago (limit 90 s)" in r.json()["cause"]


def test_not_ready_while_the_sink_fails_and_the_cause_is_named(parts):
    parts.collector.last_success["g1"] = NOW
    parts.sink.down = True
    parts.writer.submit([snap(1000)])
    asyncio.run(parts.writer.flush())
    r = get(parts.app, "/readyz")
    assert r.status_code == 503
    assert r.json()["cause"] == ("sink InfluxDB 1.x at http://db:8086 (database hp) failing: "
                                 "server unreachable: connection refused")
    assert r.json()["spool_entries"] == 1
    parts.sink.down = False
    asyncio.run(parts.writer.flush())
    assert get(parts.app, "/readyz").status_code == 200


def test_start_up_check_failure_counts_until_a_write_succeeds(parts):
    parts.collector.last_success["g1"] = NOW
    parts.health.sink_check_error = "database 'hp' not found"
    assert "not usable: database 'hp' not found" in get(parts.app, "/readyz").json()["cause"]
    parts.writer.submit([snap(1000)])
    asyncio.run(parts.writer.flush())
    assert get(parts.app, "/readyz").status_code == 200


def test_live_while_ticks_complete(parts):
    assert get(parts.app, "/healthz").status_code == 200  # just started
    parts.clock.t = NOW + 100
    r = get(parts.app, "/healthz")
    assert r.status_code == 503 and "no tick completed for 100 s" in r.json()["cause"]
    parts.collector.ticker._beat()
    assert get(parts.app, "/healthz").json() == {"live": True, "ticks": 0, "clock_steps": 0, "last_tick_age_s": 0.0}


def test_metrics_expose_polls_by_cause_spool_and_write_latency(parts):
    c, w = parts.collector, parts.writer
    c.stats.polls_ok = 7
    c.stats.failures.update({"timeout": 2, "invalid_json": 1})
    c.ticker.ticks, c.ticker.missed = 10, 1
    c.last_success["g1"] = NOW - 5
    parts.sink.down = True
    w.submit([snap(1000), snap(2000)])
    asyncio.run(w.flush())
    parts.sink.down = False
    w.submit([snap(3000)])
    asyncio.run(w.flush())
    w.submit([snap(4000)])
    parts.sink.down = True
    asyncio.run(w.flush())
    r = get(parts.app, "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    m = samples(r.text)
    assert m[("heatpump_polls_total", (("result", "ok"),))] == 7
    assert m[("heatpump_polls_total", (("result", "timeout"),))] == 2
    assert m[("heatpump_polls_total", (("result", "invalid_json"),))] == 1
    assert m[("heatpump_ticks_total", ())] == 10 and m[("heatpump_ticks_missed_total", ())] == 1
    assert m[("heatpump_snapshots_stored_total", ())] == 3
    assert m[("heatpump_snapshots_rejected_total", ())] == 0
    assert m[("heatpump_spool_entries", ())] == 1 and m[("heatpump_sink_up", ())] == 0
    assert m[("heatpump_sink_write_seconds_count", (("result", "ok"),))] == 1
    assert m[("heatpump_sink_write_seconds_count", (("result", "failed"),))] == 2
    assert m[("heatpump_last_success_timestamp_seconds", (("gateway", "g1"),))] == NOW - 5
    info = [k for k in m if k[0] == "heatpump_collector_info"]
    assert dict(info[0][1])["brand"] == "nibe" and dict(info[0][1])["source"] == "api"


@pytest.mark.attack("4")
def test_liveness_follows_the_monotonic_clock_not_a_stepped_wall_clock():
    wall, mono = Clock(), Clock()
    ticker = Ticker(30, wall, monotonic=mono)
    collector = SimpleNamespace(ticker=ticker, interval_s=30, last_success={}, stats=CollectorStats())
    writer = Writer(Sink(), MemorySpool(10))
    app = create_health_app(Health(collector, writer, wall), CollectorMetrics(collector, writer, "api", "nibe"))
    ticker._beat()
    wall.t -= 600  # stepped back 10 minutes, and then no tick completes for 200 s
    mono.t += 200
    r = get(app, "/healthz")
    assert r.status_code == 503 and r.json()["last_tick_age_s"] == 200.0
    assert r.json()["cause"] == "no tick completed for 200 s (limit 90 s)"
    ticker.clock_steps = 1
    mono.t -= 150
    assert get(app, "/healthz").json() == {"live": True, "ticks": 0, "clock_steps": 1, "last_tick_age_s": 50.0}


def mqtt_collector(clock, writer, mac=""):
    settings = MqttSettings(broker="127.0.0.1", port=1883, username="", password=SecretStr(""), client_id="",
                            tls=False, ca_file="", mac=mac, gateway_name="", timestamp_mode="snapshot",
                            getall_interval_s=600, silent_limit_s=60, payload_scale="raw")
    return MqttCollector(settings, load_provider("nibe"), 30, writer, clock=clock)


def test_mqtt_metrics_count_refused_and_dropped_messages():
    clock = Clock()
    writer = Writer(Sink(), MemorySpool(10))
    collector = mqtt_collector(clock, writer)
    collector.snapshotter.stats = MqttStats(messages=17, accepted=5, rejected=7, ignored=1, refused=4, snapshots=2)
    collector.source.dropped = 9
    app = create_health_app(Health(collector, writer, clock), CollectorMetrics(collector, writer, "mqtt", "nibe"))
    got = samples(get(app, "/metrics").text)
    assert {r: got[("heatpump_mqtt_messages_total", (("result", r),))]
            for r in ("accepted", "rejected", "ignored", "refused", "dropped")} == {
        "accepted": 5, "rejected": 7, "ignored": 1, "refused": 4, "dropped": 9}
    assert got[("heatpump_values_rejected_total", ())] == 3  # the rejected messages of accepted gateways


MAC_A, MAC_B = "aabbccddeeff", "001122334455"


def test_mqtt_polls_are_one_per_gateway_and_tick():
    """A poll of the MQTT collector: one gateway at one tick, ok when it gave a snapshot, else
    silent (or never heard, when configured) or no_values (heard, nothing valid held)."""
    clock = Clock()
    writer = Writer(Sink(), MemorySpool(100))
    collector = mqtt_collector(clock, writer, mac=f"{MAC_A},{MAC_B}")
    app = create_health_app(Health(collector, writer, clock), CollectorMetrics(collector, writer, "mqtt", "nibe"))
    collector._on_message(f"{MAC_A}/HP/0007", b"12")
    asyncio.run(collector._on_tick(int(NOW * 1000)))
    collector._on_message(f"{MAC_B}/HP/0007", b"not a number")
    clock.t += 30
    asyncio.run(collector._on_tick(int(clock.t * 1000)))
    got = samples(get(app, "/metrics").text)
    polls = {dict(k[1])["result"]: v for k, v in got.items() if k[0] == "heatpump_polls_total"}
    assert polls == {"ok": 2, "silent": 1, "no_values": 1}  # B: never heard at tick 1, nothing valid at tick 2
    assert got[("heatpump_snapshots_emitted_total", ())] == 2
    assert got[("heatpump_values_rejected_total", ())] == 1
    assert "2 snapshot(s)" in collector.summary()


def test_both_collectors_expose_the_same_metric_names(parts):
    clock = Clock()
    writer = Writer(Sink(), MemorySpool(10))
    mqtt = mqtt_collector(clock, writer)
    app = create_health_app(Health(mqtt, writer, clock), CollectorMetrics(mqtt, writer, "mqtt", "nibe"))
    api_names = {name for name, _ in samples(get(parts.app, "/metrics").text)}
    mqtt_names = {name for name, _ in samples(get(app, "/metrics").text)}
    assert api_names == mqtt_names
    assert {"heatpump_polls_total", "heatpump_mqtt_messages_total", "heatpump_snapshots_emitted_total",
            "heatpump_values_rejected_total", "heatpump_sink_write_seconds_count"} <= api_names
