"""MqttSource against a real Mosquitto: messages handed on, GETALL sent, stop honoured."""

import asyncio

import paho.mqtt.publish as publish
import pytest
from pydantic import SecretStr

from heatpump_monitor.config import MqttSettings
from heatpump_monitor.sources.mqtt import MqttSource

from ..servers import start_mosquitto

pytestmark = pytest.mark.realserver
MAC = "cd4dee258efa"


def settings(port, mac=MAC):
    return MqttSettings(broker="127.0.0.1", port=port, username="", password=SecretStr(""), client_id="",
                        tls=False, ca_file="", mac=mac, gateway_name="", timestamp_mode="snapshot",
                        getall_interval_s=600, silent_limit_s=300)


def test_messages_getall_and_stop(tmp_path):
    broker = start_mosquitto(tmp_path)
    got = []

    async def go():
        stop = asyncio.Event()
        src = MqttSource(settings(broker.port), lambda t, p: got.append((t, p)), lambda: [])
        task = asyncio.create_task(src.run(stop))
        while not src.connected:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(publish.single, f"{MAC}/HP/0007", b"65483", hostname="127.0.0.1", port=broker.port)
        await asyncio.to_thread(publish.single, "aabbccddeeff/HP/0007", b"1", hostname="127.0.0.1", port=broker.port)
        # both may come in either order (two clients), and late on a busy machine: wait for
        # each (wait_until below polls on this loop, where the source hands its messages over)
        for message in [(f"{MAC}/HP/CMD", b"GETALL"), (f"{MAC}/HP/0007", b"65483")]:
            assert await wait_until(lambda m=message: m in got, 30), f"no {message} within 30 s; got {got}"
        stop.set()
        await asyncio.wait_for(task, 5)  # returns on stop while reading messages
        return src

    try:
        src = asyncio.run(go())
    finally:
        broker.stop()
    assert (f"{MAC}/HP/CMD", b"GETALL") in got  # our own GETALL on connect, seen on <mac>/HP/+
    assert (f"{MAC}/HP/0007", b"65483") in got
    assert all(t.startswith(MAC) for t, _ in got)  # subscribed to this gateway only
    assert src.connects == 1 and not src.connected


# ------------------------------------------------------------------ bounds (issue 10)

import logging  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402

import paho.mqtt.client as paho  # noqa: E402

from heatpump_monitor.config import ConfigError, load_mqtt_config  # noqa: E402
from heatpump_monitor.pipeline.mqtt_collector import MqttCollector  # noqa: E402
from heatpump_monitor.providers import load_provider  # noqa: E402
from heatpump_monitor.sources import mqtt as mqtt_module  # noqa: E402

OTHER = "aabbccddeeff"


def wait_until(predicate, limit=20.0):
    """Poll ``predicate`` until true; a limit to wait, not a timing under test."""
    async def go():
        for _ in range(int(limit * 100)):
            if predicate():
                return True
            await asyncio.sleep(0.01)
        return False
    return go()


class Listener:
    """A paho client recording every message on ``topic`` (e.g. the GETALLs we send)."""

    def __init__(self, port, topic):
        self.got = []
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self.c.on_message = lambda c, u, m: self.got.append((m.topic, m.payload))
        subscribed = threading.Event()
        self.c.on_subscribe = lambda *a: subscribed.set()
        self.c.on_connect = lambda c, *a: c.subscribe(topic)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert subscribed.wait(10)

    def stop(self):
        self.c.loop_stop()
        self.c.disconnect()


def publish_many(port, messages, retain=False):
    publish.multiple([{"topic": t, "payload": p, "retain": retain} for t, p in messages],
                     hostname="127.0.0.1", port=port)


def test_configured_list_subscribes_to_each_mac_and_asks_each(tmp_path):
    broker = start_mosquitto(tmp_path)
    listener = Listener(broker.port, "+/HP/CMD")
    got = []

    async def go():
        stop = asyncio.Event()
        src = MqttSource(settings(broker.port, mac=f"{MAC},{OTHER}"), lambda t, p: got.append(t), lambda: [])
        task = asyncio.create_task(src.run(stop))
        assert await wait_until(lambda: src.connected)
        publish_many(broker.port, [(f"{MAC}/HP/0007", b"1"), (f"{OTHER}/HP/0007", b"2"),
                                   ("112233445566/HP/0007", b"3"), (f"{MAC}/HP/0009", b"4")])
        assert await wait_until(lambda: f"{MAC}/HP/0009" in got)
        # the listener's thread receives the GETALLs on its own time (a flake under load)
        await wait_until(lambda: len(listener.got) >= 2)
        stop.set()
        await asyncio.wait_for(task, 30)
        return src

    try:
        src = asyncio.run(go())
    finally:
        listener.stop()
        broker.stop()
    assert src.topics == [f"{MAC}/HP/+", f"{OTHER}/HP/+"] and src.mqtt5
    assert "112233445566/HP/0007" not in got  # not subscribed
    assert sorted(t for t, _ in listener.got) == [f"{OTHER}/HP/CMD", f"{MAC}/HP/CMD"]


class StubWriter:
    def __init__(self):
        self.snapshots = []

    def submit(self, snapshots):
        self.snapshots.extend(snapshots)


def test_new_gateways_asked_once_up_to_the_limit_and_retained_ones_never_found(tmp_path):
    """The collector's wiring: GETALL once per accepted gateway (not per message, not to the
    refused ones); a retained message does not discover its gateway."""
    broker = start_mosquitto(tmp_path)
    publish_many(broker.port, [("0000000000aa/HP/0007", b"12")], retain=True)  # left on the broker
    listener = Listener(broker.port, "+/HP/CMD")
    s = MqttSettings(**{**settings(broker.port, mac="").__dict__, "max_gateways": 3, "payload_scale": "raw"})
    collector = MqttCollector(s, load_provider("thermia"), 1, StubWriter())
    macs = [f"{0x100000000000 + i:012x}" for i in range(20)]

    async def go():
        stop = asyncio.Event()
        task = asyncio.create_task(collector.run(stop))
        assert await wait_until(lambda: collector.source.connected)
        publish_many(broker.port, [(f"{mac}/HP/0007", b"12") for mac in macs for _ in range(5)])
        assert await wait_until(lambda: collector.snapshotter.stats.accepted + collector.snapshotter.stats.refused
                                >= 101)
        assert await wait_until(lambda: len(listener.got) >= 3)
        await asyncio.sleep(0.5)  # room for GETALLs that should not come (checked below)
        stop.set()
        await asyncio.wait_for(task, 30)

    try:
        asyncio.run(go())
    finally:
        listener.stop()
        broker.stop()
    st = collector.snapshotter.stats
    assert list(collector.snapshotter.gateways) == macs[:3]
    assert sorted(listener.got) == [(f"{mac}/HP/CMD", b"GETALL") for mac in macs[:3]]
    assert (st.accepted, st.refused, st.messages - st.ignored) == (15, 86, 101)  # 85 beyond the limit, 1 retained
    assert "86 dropped (86 of no accepted gateway)" in collector.summary()


def test_oversized_messages_are_held_back_by_the_broker(tmp_path):
    """MQTT 5 Maximum Packet Size: the broker never sends the collector a large message."""
    broker = start_mosquitto(tmp_path)
    got = []

    async def go():
        stop = asyncio.Event()
        src = MqttSource(settings(broker.port, mac=""), lambda t, p: got.append(len(p)), lambda: [])
        task = asyncio.create_task(src.run(stop))
        assert await wait_until(lambda: src.connected)
        big = mqtt_module.MAX_PACKET_BYTES
        publish_many(broker.port, [(f"{MAC}/HP/0001", b"1" * big), (f"{MAC}/HP/0001", b"1" * 200_000),
                                   (f"{MAC}/HP/0001", b"1" * 5000), (f"{MAC}/HP/0002", b"1")])
        assert await wait_until(lambda: 1 in got)
        stop.set()
        await asyncio.wait_for(task, 30)

    try:
        asyncio.run(go())
    finally:
        broker.stop()
    assert got == [5000, 1]  # the two over the limit never arrived
    assert "Dropping too large outgoing PUBLISH" in broker.log_tail(100)


def test_a_broker_without_mqtt5_is_spoken_to_in_3_1_1(caplog):
    """A 3.1.1-only broker answers an MQTT 5 CONNECT with 'unacceptable protocol version'."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    levels = []

    def broker():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            data = conn.recv(4096)
            level = data[data.find(b"MQTT") + 4]
            levels.append(level)
            if level == 5:
                conn.sendall(b"\x20\x02\x00\x01")  # CONNACK: unacceptable protocol version
                conn.close()
            else:
                conn.sendall(b"\x20\x02\x00\x00")  # accepted; then SUBACK for the subscription
                conn.recv(4096)
                conn.sendall(b"\x90\x03\x00\x01\x00")

    threading.Thread(target=broker, daemon=True).start()

    async def go():
        stop = asyncio.Event()
        src = MqttSource(settings(srv.getsockname()[1], mac=""), lambda t, p: None, lambda: [])
        task = asyncio.create_task(src.run(stop))
        assert await wait_until(lambda: src.connected)
        stop.set()
        await asyncio.wait_for(task, 30)
        return src

    with caplog.at_level(logging.WARNING, logger="heatpump_monitor.mqtt"):
        src = asyncio.run(go())
    srv.close()
    assert levels[:2] == [5, 4] and not src.mqtt5
    lines = [r.getMessage() for r in caplog.records if r.name == "heatpump_monitor.mqtt"]
    assert len(lines) == 1 and "does not speak MQTT 5" in lines[0] and "Unsupported protocol version" in lines[0]


def test_messages_beyond_the_queue_are_dropped_counted_and_said_once_a_minute(caplog):
    src = MqttSource(settings(1883), lambda t, p: None, lambda: [])
    queue = mqtt_module._Incoming(src, 2)
    with caplog.at_level(logging.DEBUG):
        for i in range(1000):
            queue.put_nowait(i)
        src._dropped_said -= mqtt_module.DROPPED_EVERY_S  # as if a minute had passed
        queue.put_nowait(1000)
    assert queue.qsize() == 2 and src._queue is queue and src.dropped == 999
    line = ("MQTT: {} message(s) dropped: more arrive than the collector can read ({} waiting at most; {} dropped "
            "since start); said at most once a minute")
    assert [r.getMessage() for r in caplog.records] == [line.format(1, mqtt_module.MAX_QUEUED, 1),
                                                        line.format(998, mqtt_module.MAX_QUEUED, 999)]


def test_paho_never_logs_a_line_per_packet():
    root, before = logging.getLogger(), logging.getLogger().level
    root.setLevel(logging.DEBUG)  # LOG_LEVEL=DEBUG
    try:
        assert not logging.getLogger("heatpump_monitor.mqtt.client").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(before)


def test_stop_is_honoured_in_the_middle_of_a_flood(tmp_path):
    broker = start_mosquitto(tmp_path)
    got = [0]
    flooding = threading.Event()

    def flood():
        c = paho.Client(paho.CallbackAPIVersion.VERSION2)
        c.max_queued_messages_set(0)
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        i = 0
        while not flooding.is_set():
            c.publish(f"{i % 100000:012x}/HP/0001", b"215")
            i += 1
            if i % 2000 == 0:
                while len(c._out_packet) > 20000 and not flooding.is_set():
                    flooding.wait(0.001)
        c.loop_stop()
        c.disconnect()

    async def go():
        stop = asyncio.Event()
        src = MqttSource(settings(broker.port, mac=""), lambda t, p: got.__setitem__(0, got[0] + 1), lambda: [])
        task = asyncio.create_task(src.run(stop))
        assert await wait_until(lambda: src.connected)
        threading.Thread(target=flood, daemon=True).start()
        assert await wait_until(lambda: got[0] > 20_000, limit=60)  # well inside the flood
        stop.set()
        done, _ = await asyncio.wait({task}, timeout=30)  # a limit to wait, not a measure
        return done

    try:
        done = asyncio.run(go())
    finally:
        flooding.set()
        broker.stop()
    assert done, "the source did not stop during the flood"


# ------------------------------------------------------------------ settings (config.py's MQTT part)


def mqtt_cfg(**env):
    return load_mqtt_config({"CONFIG_FILE": "", **env}).mqtt


@pytest.mark.parametrize(("value", "mac", "macs"), [
    ("", "", ()),
    ("CD:4D:EE:25:8E:FA", MAC, (MAC,)),
    ("cd-4d-ee-25-8e-fa", MAC, (MAC,)),
    (f" {MAC} , AA:BB:CC:DD:EE:FF ,", f"{MAC},{OTHER}", (MAC, OTHER)),
])
def test_h66_mac_one_or_a_list_normalised(value, mac, macs):
    s = mqtt_cfg(H66_MAC=value)
    assert (s.mac, s.macs) == (mac, macs)


@pytest.mark.parametrize(("value", "says"), [
    ("zz:zz", "12 hex digits"),
    (f"{MAC},cd4dee258ef", "12 hex digits"),
    (f"{MAC}0", "12 hex digits"),
    ("cd4dee258efa\n", None),  # surrounding whitespace is stripped: fine
    (f"{MAC},{MAC.upper()}", f"each MAC once ({MAC} is listed twice)"),
    ("٠" * 12, "12 hex digits"),  # Arabic-Indic digits are not hex digits
])
def test_h66_mac_mistakes(value, says):
    if says is None:
        assert mqtt_cfg(H66_MAC=value).macs == (MAC,)
        return
    with pytest.raises(ConfigError) as e:
        mqtt_cfg(H66_MAC=value)
    assert str(e.value).startswith("Invalid H66_MAC=") and says in str(e.value)


def test_max_gateways_default_and_values():
    assert mqtt_cfg().max_gateways == 10
    assert mqtt_cfg(MQTT_MAX_GATEWAYS=" 1 ").max_gateways == 1
    assert mqtt_cfg(MQTT_MAX_GATEWAYS="1000").max_gateways == 1000


@pytest.mark.parametrize("value", ["0", "1001", "-1", "1_0", "١٠", "ten", "", "2.5"])
def test_max_gateways_mistakes(value):
    with pytest.raises(ConfigError) as e:
        mqtt_cfg(MQTT_MAX_GATEWAYS=value)
    assert str(e.value) == f"Invalid MQTT_MAX_GATEWAYS={value!r}: expected a whole number of gateways from 1 to 1000"


def test_gateway_name_needs_exactly_one_mac():
    assert mqtt_cfg(H66_MAC=MAC, GATEWAY_NAME=" house ").gateway_name == "house"
    for mac in ("", f"{MAC},{OTHER}"):
        with pytest.raises(ConfigError) as e:
            mqtt_cfg(H66_MAC=mac, GATEWAY_NAME="house")
        assert str(e.value) == "GATEWAY_NAME needs exactly one MAC in H66_MAC: it names one gateway"


@pytest.mark.parametrize("name", ["a\nb", "house\\", "a\\,b", "x\tb", "x" * 101, "a\u2028b"])
def test_gateway_name_that_would_break_line_protocol_is_refused(name):
    with pytest.raises(ConfigError) as e:
        mqtt_cfg(H66_MAC=MAC, GATEWAY_NAME=name)
    assert "expected at most 100 printable characters without a backslash" in str(e.value)
    assert "\n" not in str(e.value)


def test_gateway_name_may_be_an_address_or_words():
    for name in ("192.168.1.100", "h66.local:8080", "Haus Küche", "x" * 100):
        assert mqtt_cfg(H66_MAC=MAC, GATEWAY_NAME=name).gateway_name == name


def test_collector_forgets_last_success_of_a_forgotten_gateway():
    start = 1_764_324_000.0
    now = [start]
    s = MqttSettings(**{**settings(1883, mac="").__dict__, "silent_limit_s": 10, "payload_scale": "raw"})
    c = MqttCollector(s, load_provider("thermia"), 1, StubWriter(), clock=lambda: now[0])
    c._on_message(f"{MAC}/HP/0007", b"12")
    asyncio.run(c._on_tick(int(start * 1000) + 1000))
    assert list(c.last_success) == [MAC] and c.source._new == [MAC]  # GETALL asked for it
    now[0] += 21
    asyncio.run(c._on_tick(int(now[0] * 1000)))
    assert c.last_success == {} and c.snapshotter.gateways == {}


def test_gateway_names_one_rule_for_the_collector_and_the_alerts():
    """MqttSettings.names / gateway_names: what MqttCollector stores under and what the alerts
    name (pipeline/run.py), from one property."""
    def mqtt(**env):
        cfg = load_mqtt_config({"HEATPUMP_BRAND": "nibe", "CONFIG_FILE": "", **env})
        assert cfg.mqtt is not None
        return cfg.mqtt

    named = mqtt(H66_MAC=MAC, GATEWAY_NAME="192.168.1.100")
    assert named.names == {MAC: "192.168.1.100"} and named.gateway_names == ["192.168.1.100"]
    plain = mqtt(H66_MAC=f"{MAC},{OTHER}")
    assert plain.names == {} and plain.gateway_names == [MAC, OTHER]
    assert mqtt().gateway_names == []  # discovered: no names known up front
    collector = MqttCollector(named, load_provider("nibe"), 30, StubWriter())
    assert collector.snapshotter.names == {MAC: "192.168.1.100"}


def test_the_alerts_name_mqtt_gateways_as_they_are_stored(tmp_path, monkeypatch):
    from heatpump_monitor.alerts import service
    from heatpump_monitor.pipeline import run
    from types import SimpleNamespace

    from heatpump_monitor.pipeline.spool import MemorySpool

    seen = {}

    class Recorder:
        def __init__(self, config, owner, brand_of, *, gateways=(), **kwargs):
            seen["gateways"] = list(gateways)

        def on_snapshots(self, snapshots):
            pass

        def describe(self):
            return "recorded"

    monkeypatch.setattr(service, "AlertService", Recorder)
    cfg = load_mqtt_config({"HEATPUMP_BRAND": "nibe", "CONFIG_FILE": "", "H66_MAC": MAC, "GATEWAY_NAME": "house",
                            "NOTIFY_URLS": "json://127.0.0.1:9/x", "ALERTS_DIR": str(tmp_path)})
    writer = SimpleNamespace(listeners=[], failing_since=None)
    run._start_alerts(cfg, SimpleNamespace(), writer, MemorySpool(10))  # type: ignore[arg-type]
    assert seen["gateways"] == ["house"] == cfg.mqtt.gateway_names
