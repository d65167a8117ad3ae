"""The emulated H66 gateway over MQTT, against a real mosquitto on a loopback port: every
register after GETALL, messages spread over time, STATUS, change-only publishing, garbage
payloads, broker restarts, forced drops, credentials, and the command line.

Timing assertions are only ordering/spread facts with generous bounds; waits poll with long
timeouts."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Callable

import aiomqtt
import httpx
import paho.mqtt.client as paho
import pytest

import heatpump_monitor
from heatpump_monitor.providers import BRANDS, brand_for_h1ver, load_provider
from heatpump_monitor.providers.registry import Register, signed_raw
from heatpump_monitor.simulator import cli, make_gateways, raw_to_value
from heatpump_monitor.simulator.model import FIRMWARES
from heatpump_monitor.simulator.mqtt import (
    GARBAGE_PAYLOADS,
    GatewayPublisher,
    MqttSimulatorThread,
    _Session,
    publish_gateways,
)
from tests.servers import mqtt_host_port, start_mosquitto

pytestmark = pytest.mark.realserver

T0 = 1768453200.0  # 2026-01-15 05:00 UTC
FIXED = {"clock": lambda: T0}  # a frozen model: values never change, only GETALL republishes
REGISTER_TOPIC = re.compile(r"([0-9a-f]{12})/HP/([0-9A-Fa-f]{4})")
USER, PASSWORD = "sim-user", "s3cret-Pw-!x"


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    handle = start_mosquitto(tmp_path_factory.mktemp("mosquitto"))
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def auth_broker(tmp_path_factory):
    handle = start_mosquitto(tmp_path_factory.mktemp("mosquitto-auth"), username=USER, password=PASSWORD)
    yield handle
    handle.stop()


class Recorder:
    """A paho client (own network thread, reconnects by itself) recording every message on
    ``topic`` as (monotonic arrival time, topic, payload bytes)."""

    def __init__(self, handle, topic: str = "+/HP/+", auth: tuple[str, str] | None = None) -> None:
        self.messages: list[tuple[float, str, bytes]] = []
        self.subscribes = 0
        self._lock = threading.Lock()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"rec-{uuid.uuid4().hex[:8]}")
        if auth:
            self.client.username_pw_set(*auth)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic)
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        host, port = mqtt_host_port(handle)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        assert wait_for(lambda: self.subscribes >= 1), "recorder did not subscribe"

    def _on_subscribe(self, *args) -> None:
        self.subscribes += 1

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.messages.append((time.monotonic(), msg.topic, msg.payload))

    def since(self, t0: float = 0.0) -> list[tuple[float, str, bytes]]:
        with self._lock:
            return [m for m in self.messages if m[0] >= t0]

    def registers(self, mac: str, t0: float = 0.0) -> list[tuple[float, str, bytes]]:
        """Register messages (4-hex last level) of gateway ``mac`` since ``t0``: (t, INDEX, payload)."""
        out = []
        for t, topic, payload in self.since(t0):
            m = REGISTER_TOPIC.fullmatch(topic)
            if m and m.group(1) == mac:
                out.append((t, m.group(2), payload))
        return out

    def send(self, topic: str, payload: str) -> None:
        self.client.publish(topic, payload, qos=0).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


#: the integers a register message may carry, by register size, in the current firmware's form
#: (signed 16-bit numbers as they are, 32-bit counters whole); old firmware: all 0..65535
CURRENT_DOMAIN = {"s16": (-32768, 32767), "u16": (0, 65535), "u32": (0, 2**32 - 1)}


def is_raw_value(payload: bytes, reg: Register | None = None, firmware: str = "current") -> bool:
    """What a healthy gateway sends: decimal text of an integer that fits a register -- of
    ``reg``'s size and the ``firmware``'s form when given, of any register otherwise
    (-32768..2**32-1)."""
    try:
        text = payload.decode("ascii")
    except UnicodeDecodeError:
        return False
    if re.fullmatch(r"-?\d{1,10}", text) is None:
        return False
    if reg is None:
        lo, hi = -32768, 2**32 - 1
    elif firmware == "old":
        lo, hi = 0, 65535
    else:
        lo, hi = CURRENT_DOMAIN[reg.size]
    return lo <= int(text) <= hi


def has_all(rec: Recorder, gw, t0: float = 0.0) -> bool:
    return {idx.upper() for _, idx, _ in rec.registers(gw.mac, t0)} >= set(gw.model.provider.registers)


@pytest.fixture
def recorder(broker):
    rec = Recorder(broker)
    yield rec
    rec.close()


# ---------------------------------------------------------------- GETALL, STATUS, changes


def test_getall_publishes_every_register_spread_over_time(broker, recorder):
    host, port = mqtt_host_port(broker)
    with MqttSimulatorThread(BRANDS, host, port, max_delay=1.0, poll_every=0.2, seed=3, **FIXED) as sim:
        assert [g.brand for g in sim.gateways] == list(BRANDS)
        # the first poll publishes everything (nothing published yet); a frozen model then
        # stays silent, so what comes after GETALL is GETALL's answer
        assert wait_for(lambda: all(has_all(recorder, g) for g in sim.gateways))
        t0 = time.monotonic()
        for gw in sim.gateways:
            recorder.send(f"{gw.mac}/HP/CMD", "GETALL")
        assert wait_for(lambda: all(has_all(recorder, g, t0) for g in sim.gateways))
        for gw, pub in zip(sim.gateways, sim.publishers):
            provider = load_provider(gw.brand)
            msgs = recorder.registers(gw.mac, t0)
            counts = Counter(idx for _, idx, _ in msgs)
            assert set(counts) == set(provider.registers) and max(counts.values()) == 1, counts
            assert all(re.fullmatch(r"[0-9A-F]{4}", idx) for idx in counts)  # upper case, as the sheets
            assert all(is_raw_value(p, provider.registers[idx]) for _, idx, p in msgs), msgs
            assert any(p.startswith(b"-") for _, _, p in msgs)  # a January morning: signed
            assert any(int(p) > 65535 for _, _, p in msgs)  # 32-bit counters, whole
            raw = {idx: int(p) for _, idx, p in msgs}
            assert raw == gw.model.raw_alldata()
            decoded = provider.decode_poll(raw)
            assert decoded.rejected == [] and decoded.unknown == []
            times = [t for t, _, _ in msgs]
            assert max(times) - min(times) > 0.3  # each message waited its own random delay
            assert [idx for _, idx, _ in msgs] != sorted(counts)  # not in index order
            assert pub.commands == {"GETALL": 1} and pub.connects == 1


def test_status_and_reset(broker, recorder):
    host, port = mqtt_host_port(broker)
    with MqttSimulatorThread(["nibe"], host, port, max_delay=0.2, seed=5, **FIXED) as sim:
        mac = sim.gateways[0].mac
        t0 = time.monotonic()
        recorder.send(f"{mac}/HP/CMD", "RESET")  # logged and ignored
        recorder.send(f"{mac}/HP/CMD", "status")  # commands are case-insensitive
        status_topic = f"{mac}/HP/STATUS"
        assert wait_for(lambda: any(t == status_topic for _, t, _ in recorder.since(t0)))
        payload = next(p for _, t, p in recorder.since(t0) if t == status_topic)
        status = json.loads(payload)["status"]
        assert status["mac"] == mac and status["API_ENABLED"] == 1 and status["hp_connected"] is True
        assert brand_for_h1ver(status["H1ver"]) == "nibe"
        assert status["mqtt_connects"] == 1
        assert sim.publishers[0].commands == {"RESET": 1, "STATUS": 1}
        assert sim.publishers[0].connected


def test_changes_are_published_without_getall(broker, recorder):
    """A fast model (10 simulated minutes per second): registers keep coming without any
    command, and per register each message carries a value different from the one before."""
    host, port = mqtt_host_port(broker)
    with MqttSimulatorThread(["thermia"], host, port, max_delay=0.3, poll_every=0.25, time_scale=600,
                             seed=2) as sim:
        gw = sim.gateways[0]
        assert wait_for(lambda: has_all(recorder, gw))
        first = len(recorder.registers(gw.mac))
        assert wait_for(lambda: len(recorder.registers(gw.mac)) >= first + 5, timeout=15)
        msgs = recorder.registers(gw.mac)
        by_index: dict[str, list[int]] = {}
        regs = load_provider("thermia").registers
        for _, idx, p in msgs:
            assert is_raw_value(p, regs[idx]), (idx, p)
            by_index.setdefault(idx, []).append(int(p))
        changed = {idx: vals for idx, vals in by_index.items() if len(vals) > 1}
        assert changed
        for idx, vals in changed.items():
            assert all(a != b for a, b in zip(vals, vals[1:])), (idx, vals)  # only changes
        assert load_provider("thermia").decode_poll({i: v[-1] for i, v in by_index.items()}).rejected == []
        assert sim.publishers[0].commands == {}


def test_garbage_replaces_every_payload(broker, recorder):
    host, port = mqtt_host_port(broker)
    with MqttSimulatorThread(["ivt"], host, port, max_delay=0.2, garbage=1.0, seed=1, **FIXED) as sim:
        gw, pub = sim.gateways[0], sim.publishers[0]
        assert wait_for(lambda: has_all(recorder, gw))
        msgs = recorder.registers(gw.mac)
        payloads = [p for _, _, p in msgs]
        assert not any(is_raw_value(p) for p in payloads), payloads
        assert set(payloads) <= set(GARBAGE_PAYLOADS)
        regs = gw.model.provider.registers
        for _, idx, p in msgs:  # not a number of this register in either firmware's form
            assert not is_raw_value(p, regs[idx]) and not is_raw_value(p, regs[idx], "old")
        assert len(set(payloads)) >= 3  # several kinds of garbage
        raw = {idx: p.decode("utf-8", "replace") for _, idx, p in msgs}
        decoded = load_provider("ivt").decode_poll(raw)  # what a collector must survive
        assert decoded.values == {} and decoded.rejected
        # the counters move right after the publish returns, maybe after the message arrived
        assert wait_for(lambda: pub.garbage_sent == pub.sent >= len(gw.model.provider.registers))


def test_old_firmware_publishes_wrapped_raw_values(broker, recorder):
    """``firmware="old"`` reaches the MQTT side: every payload 0..65535, negatives wrapped,
    and each one the model's old-form number."""
    host, port = mqtt_host_port(broker)
    with MqttSimulatorThread(["ivt"], host, port, max_delay=0.2, seed=3, firmware="old", **FIXED) as sim:
        gw = sim.gateways[0]
        assert gw.model.firmware == "old"
        assert wait_for(lambda: has_all(recorder, gw))
        regs = gw.model.provider.registers
        msgs = recorder.registers(gw.mac)
        assert all(is_raw_value(p, regs[idx], "old") for _, idx, p in msgs), msgs
        raw = {idx: int(p) for _, idx, p in msgs}
        assert raw == gw.model.raw_alldata()
        assert raw["0007"] > 32767  # -x C wrapped
        decoded = load_provider("ivt").decode_poll(raw)
        assert decoded.rejected == [] and decoded.values["outdoor_temp"] < 0


# ---------------------------------------------------------------- scaled payloads


def session(gw, payload: str) -> _Session:
    """A publisher's session, enough to call its ``text`` helper (no broker needed)."""
    pub = GatewayPublisher(gw, "127.0.0.1", payload=payload)

    async def make() -> _Session:
        return _Session(pub, None)  # type: ignore[arg-type]
    return asyncio.run(make())


def scaled_number(text: str) -> int | float:
    """A scaled payload as a collector reads it: a decimal is a float, an integer an int."""
    return float(text) if "." in text else int(text)


@pytest.mark.parametrize("brand", BRANDS)
@pytest.mark.parametrize("firmware", FIRMWARES)
def test_scaled_text_is_the_value_in_real_units(brand, firmware):
    gw = make_gateways([brand], seed=6, firmware=firmware, **FIXED)[0]
    scaled, raw_form = session(gw, "scaled"), session(gw, "raw")
    provider = gw.model.provider
    raw = gw.model.raw_alldata()
    texts = {}
    for idx, r in raw.items():
        reg = provider.registers[idx]
        assert raw_form.text(idx, r) == str(r)
        text = texts[idx] = scaled.text(idx, r)
        number = signed_raw(reg, r)  # what the value is, whichever form the firmware sent
        if reg.factor == 1:
            assert re.fullmatch(r"-?\d+", text) and int(text) == number, (idx, r, text)
        else:
            decimals = {10: 1, 100: 2, 1000: 3}[reg.factor]
            assert re.fullmatch(rf"-?\d+\.\d{{{decimals}}}", text), (idx, text)
            assert Decimal(text) * reg.factor == number, (idx, r, text)  # exactly raw / factor
            assert float(text) == pytest.approx(raw_to_value(reg, r))
    assert any(provider.registers[i].factor == 10 for i in texts)
    assert any(t.startswith("-") and "." in t for t in texts.values())  # a negative temperature
    # decoding the scaled payloads gives what decoding the raw answer gives
    from_scaled = provider.decode_poll({i: scaled_number(t) for i, t in texts.items()}, scaled=True)
    from_raw = provider.decode_poll(raw)
    assert from_scaled.rejected == [] and from_scaled.absent == from_raw.absent
    assert from_scaled.values == {n: pytest.approx(v) for n, v in from_raw.values.items()}


def test_scaled_text_examples():
    ivt = make_gateways(["ivt"], firmware="old", **FIXED)[0]
    nibe = make_gateways(["nibe"], **FIXED)[0]
    s_ivt, s_nibe = session(ivt, "scaled"), session(nibe, "scaled")
    assert s_ivt.text("0208", 540) == "54.0"  # hot water stop, tenths
    assert s_ivt.text("0007", -26) == s_ivt.text("0007", 65510) == "-2.6"
    assert s_ivt.text("0002", 65053) == "-48.3"  # an uninstalled sensor, either form
    assert s_ivt.text("6C56", 107260) == "107260"  # hours as is, 32-bit
    assert s_ivt.text("5C52", 844329) == "8443.29"  # capture-stampzilla-316: /100
    assert s_ivt.text("5C55", 4758500) == "4758.500"  # /1000
    assert s_nibe.text("8255", 65436) == s_nibe.text("8255", -100) == "-100"  # factor 1, signed
    assert s_nibe.text("0011", 32758) == "3275.8"  # NIBE's "no sensor", scaled
    assert load_provider("nibe").decode_poll({"0011": 3275.8}, scaled=True).absent == ["pool"]
    with pytest.raises(ValueError, match="payload"):
        GatewayPublisher(ivt, "127.0.0.1", payload="decimal")


@pytest.mark.parametrize("firmware", FIRMWARES)
def test_scaled_payloads_over_the_broker(broker, recorder, firmware):
    host, port = mqtt_host_port(broker)
    gw = make_gateways(["ivt"], seed=8, api_mode=2, firmware=firmware, **FIXED)[0]
    gw.model.set_register("0208", 540)  # hot water stop 54.0 C
    with MqttSimulatorThread(gateways=[gw], host=host, port=port, max_delay=0.2, payload="scaled") as sim:
        assert sim.publishers[0].payload == "scaled"
        assert wait_for(lambda: has_all(recorder, gw))
        msgs = {idx: p.decode("ascii") for _, idx, p in recorder.registers(gw.mac)}
        assert msgs["0208"] == "54.0"
        regs = gw.model.provider.registers
        raw = gw.model.raw_alldata()
        values = gw.model.values()
        tenths = [idx for idx in msgs if regs[idx].factor == 10]
        assert len(tenths) > 10
        for idx in tenths:
            assert re.fullmatch(r"-?\d+\.\d", msgs[idx]), (idx, msgs[idx])
            assert Decimal(msgs[idx]) == Decimal(signed_raw(regs[idx], raw[idx])) / 10
            assert float(msgs[idx]) == pytest.approx(values[regs[idx].name])
        assert float(msgs["0007"]) < 0 and msgs["0007"].startswith("-")
        decoded = load_provider("ivt").decode_poll({i: scaled_number(t) for i, t in msgs.items()},
                                                   scaled=True)
        assert decoded.rejected == [] and "pool" in decoded.absent
        assert decoded.values["hot_water_stop_temp"] == 54.0


# ---------------------------------------------------------------- connection trouble


def test_broker_restart_and_outage(tmp_path):
    """The broker restarts (same port), then is down for a while: the simulator reconnects
    each time, never dies, and answers GETALL afterwards."""
    handle = start_mosquitto(tmp_path)
    rec = Recorder(handle)
    try:
        host, port = mqtt_host_port(handle)
        with MqttSimulatorThread(["thermia"], host, port, max_delay=0.2, poll_every=0.2, **FIXED) as sim:
            gw, pub = sim.gateways[0], sim.publishers[0]
            assert wait_for(lambda: has_all(rec, gw))
            assert (pub.connects, pub.losses) == (1, 0)

            handle.restart()
            assert handle.port == port
            assert wait_for(lambda: pub.connects >= 2 and pub.connected, timeout=15), pub
            assert pub.losses >= 1
            assert wait_for(lambda: rec.subscribes >= 2, timeout=15)
            t0 = time.monotonic()
            rec.send(f"{gw.mac}/HP/CMD", "GETALL")
            assert wait_for(lambda: has_all(rec, gw, t0))

            handle.stop()
            assert wait_for(lambda: pub.failures >= 1, timeout=15)  # retrying, not crashed
            assert not pub.connected and sim._thread.is_alive()
            connects = pub.connects
            handle.start()
            assert wait_for(lambda: pub.connects > connects and pub.connected, timeout=20), pub
            assert wait_for(lambda: rec.subscribes >= 3, timeout=15)
            t1 = time.monotonic()
            rec.send(f"{gw.mac}/HP/CMD", "GETALL")
            assert wait_for(lambda: has_all(rec, gw, t1))
    finally:
        rec.close()
        handle.stop()


def test_drop_every_forces_reconnects(broker, recorder):
    host, port = mqtt_host_port(broker)
    with MqttSimulatorThread(["thermia"], host, port, max_delay=0.2, poll_every=0.2, drop_every=1.0,
                             **FIXED) as sim:
        gw, pub = sim.gateways[0], sim.publishers[0]
        assert wait_for(lambda: pub.connects >= 3, timeout=15), pub
        assert pub.drops >= 2
        # abrupt: the broker logs a closed connection, not an MQTT DISCONNECT
        assert wait_for(lambda: f"Client sim-{gw.mac} closed its connection" in broker.log_tail(500))
        assert wait_for(lambda: pub.connected, timeout=10)
        t0 = time.monotonic()
        recorder.send(f"{gw.mac}/HP/CMD", "GETALL")
        # a drop may swallow messages that were still waiting; a later GETALL fills the gaps
        ok = wait_for(lambda: has_all(recorder, gw, t0), timeout=4)
        if not ok:
            assert wait_for(lambda: pub.connected, timeout=10)
            recorder.send(f"{gw.mac}/HP/CMD", "GETALL")
            assert wait_for(lambda: has_all(recorder, gw, t0), timeout=8)


def test_credentials(auth_broker):
    rec = Recorder(auth_broker, auth=(USER, PASSWORD))
    host, port = mqtt_host_port(auth_broker)
    try:
        bad = MqttSimulatorThread(["nibe"], host, port, username=USER, password="wrong", seed=9, **FIXED)
        bad.start(wait_connected=False)
        try:
            with MqttSimulatorThread(["thermia"], host, port, username=USER, password=PASSWORD,
                                     max_delay=0.2, **FIXED) as good:
                assert wait_for(lambda: has_all(rec, good.gateways[0]))
            assert wait_for(lambda: bad.publishers[0].failures >= 2, timeout=10)
            assert bad.publishers[0].connects == 0 and bad._thread.is_alive()
            assert PASSWORD not in repr(good.publishers[0])
        finally:
            bad.stop()
        assert not bad._thread.is_alive()
    finally:
        rec.close()


# ---------------------------------------------------------------- the async API


def test_publish_gateways_async(broker):
    """``publish_gateways`` in the caller's loop, read back with an aiomqtt subscriber."""
    host, port = mqtt_host_port(broker)
    gateways = make_gateways(["ivt"], seed=4, **FIXED)
    mac = gateways[0].mac
    want = set(gateways[0].model.provider.registers)

    async def main():
        stop = asyncio.Event()
        got: dict[str, bytes] = {}
        async with aiomqtt.Client(host, port, identifier=f"t-{uuid.uuid4().hex[:6]}") as sub:
            await sub.subscribe(f"{mac}/HP/+")
            task = asyncio.ensure_future(publish_gateways(
                gateways, host, port, stop=stop, max_delay=0.3, poll_every=0.2))

            async def collect():
                async for msg in sub.messages:
                    last = msg.topic.value.rsplit("/", 1)[1]
                    if re.fullmatch(r"[0-9A-F]{4}", last):
                        got[last] = msg.payload
                    if set(got) >= want:
                        return

            await asyncio.wait_for(collect(), 10)
            stop.set()
            publishers = await asyncio.wait_for(task, 10)
        return got, publishers

    got, publishers = asyncio.run(main())
    assert {k: int(v) for k, v in got.items()} == gateways[0].model.raw_alldata()
    assert publishers[0].sent == len(want) and publishers[0].connects == 1
    assert not publishers[0].connected


def test_bad_options_are_refused(broker):
    host, port = mqtt_host_port(broker)
    for bad in ({"garbage": 1.5}, {"max_delay": -1}, {"poll_every": 0}, {"drop_every": -2},
                {"payload": "json"}, {"firmware": "2019"}):
        with pytest.raises(ValueError):
            MqttSimulatorThread(["thermia"], host, port, **bad)


# ---------------------------------------------------------------- the command line


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_mqtt_options():
    assert cli.parse_mqtt_address("broker") == ("broker", 1883)
    assert cli.parse_mqtt_address("127.0.0.1:1884") == ("127.0.0.1", 1884)
    assert cli.parse_mqtt_address("[::1]:1885") == ("::1", 1885)
    assert cli.parse_mqtt_address("::1") == ("::1", 1883)
    for bad in ("", "host:0", "host:x", "[::1", ":1883"):
        with pytest.raises(ValueError):
            cli.parse_mqtt_address(bad)
    args = parse()
    assert (args.mqtt, args.no_http, args.max_delay, args.garbage, args.drop_every) == (None, False, 2.0, 0.0, 0.0)
    assert cli.main(parse("--no-http")) == 2
    assert cli.main(parse("--mqtt", "127.0.0.1:1", "--garbage", "2")) == 2
    assert cli.main(parse("--mqtt", "127.0.0.1:1", "--max-delay", "-1")) == 2
    assert cli.main(parse("--mqtt", "127.0.0.1:99999")) == 2


def test_cli_mqtt_payload_option(monkeypatch):
    assert parse().mqtt_payload == "raw"
    assert parse("--mqtt-payload", "scaled").mqtt_payload == "scaled"
    for bad in ("decimal", "", "RAW"):
        with pytest.raises(SystemExit) as e:
            parse("--mqtt-payload", bad)
        assert e.value.code == 2
    seen = {}

    async def fake_run(gateways, host, http, mqtt_options):
        seen.update(gateways=gateways, mqtt=mqtt_options)
    monkeypatch.setattr(cli, "_run", fake_run)
    assert cli.main(parse("--mqtt", "127.0.0.1:1883", "--mqtt-payload", "scaled", "--firmware", "old")) == 0
    assert seen["mqtt"]["payload"] == "scaled"
    assert [g.model.firmware for g in seen["gateways"]] == ["old"]
    assert cli.main(parse("--mqtt", "127.0.0.1:1883")) == 0
    assert seen["mqtt"]["payload"] == "raw"


def test_cli_publishes_scaled_payloads(broker, recorder):
    host, port = mqtt_host_port(broker)
    proc = _cli("--brand", "ivt", "--mqtt", f"{host}:{port}", "--no-http", "--max-delay", "0.2",
                "--mqtt-payload", "scaled", "--firmware", "old")
    try:
        line = proc.stdout.readline().strip()
        m = re.fullmatch(rf"Simulated ivt gateway on MQTT 127\.0\.0\.1:{port} as ([0-9a-f]{{12}})/HP/\+", line)
        assert m, line
        mac = m.group(1)
        regs = load_provider("ivt").registers
        assert wait_for(lambda: {i for _, i, _ in recorder.registers(mac)} >= set(regs))
        msgs = {idx: p.decode("ascii") for _, idx, p in recorder.registers(mac)}
        for idx, text in msgs.items():
            if regs[idx].factor == 10:
                assert re.fullmatch(r"-?\d+\.\d", text), (idx, text)
        decoded = load_provider("ivt").decode_poll({i: scaled_number(t) for i, t in msgs.items()}, scaled=True)
        assert decoded.rejected == [] and decoded.values
    finally:
        out, err = _finish(proc)
    assert err == ""


def _cli(*argv: str, env: dict | None = None) -> subprocess.Popen:
    src = str(Path(heatpump_monitor.__file__).resolve().parents[1])
    full_env = dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    full_env.pop("MQTT_PASSWORD", None)
    full_env.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "heatpump_monitor.simulator.cli", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)


def _finish(proc: subprocess.Popen) -> tuple[str, str]:
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        return proc.stdout.read(), proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_cli_publishes_over_mqtt_and_http(broker, recorder):
    host, port = mqtt_host_port(broker)
    proc = _cli("--brand", "nibe", "--port", "0", "--mqtt", f"{host}:{port}", "--max-delay", "0.2")
    try:
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        mq = [re.fullmatch(rf"Simulated nibe gateway on MQTT 127\.0\.0\.1:{port} as ([0-9a-f]{{12}})/HP/\+", l)
              for l in lines]
        web = [re.fullmatch(r"Simulated nibe gateway at (http://127\.0\.0\.1:\d+) \(mac ([0-9a-f]{12})\)", l)
               for l in lines]
        assert any(mq) and any(web), lines
        mac = next(m for m in mq if m).group(1)
        url, http_mac = next((m.group(1), m.group(2)) for m in web if m)
        assert http_mac == mac
        assert wait_for(lambda: {i for _, i, _ in recorder.registers(mac)} >= set(load_provider("nibe").registers))
        assert httpx.get(url + "/api/alldata", timeout=5).json()
    finally:
        out, err = _finish(proc)
    assert err == ""


def test_cli_mqtt_only_with_password_from_env(auth_broker):
    rec = Recorder(auth_broker, auth=(USER, PASSWORD))
    host, port = mqtt_host_port(auth_broker)
    try:
        proc = _cli("--brand", "thermia", "--mqtt", f"{host}:{port}", "--no-http", "--mqtt-username", USER,
                    "--max-delay", "0.2", "--garbage", "0", env={"MQTT_PASSWORD": PASSWORD})
        try:
            line = proc.stdout.readline().strip()
            m = re.fullmatch(rf"Simulated thermia gateway on MQTT 127\.0\.0\.1:{port} as ([0-9a-f]{{12}})/HP/\+", line)
            assert m, line
            assert proc.stdout.readline().strip() == "Ctrl+C stops."
            mac = m.group(1)
            assert wait_for(lambda: {i for _, i, _ in rec.registers(mac)} >= set(load_provider("thermia").registers))
        finally:
            out, err = _finish(proc)
        assert PASSWORD not in out + err and "http://" not in out
        assert err == ""
    finally:
        rec.close()
