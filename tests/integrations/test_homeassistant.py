"""Home Assistant MQTT discovery: every discovery config (all brands) against the fields Home
Assistant requires, then the real collector against a real Mosquitto: configs retained, one
JSON state per gateway per tick whose keys every value_template finds, availability offline on
stop and by the last will, discovery again on ``homeassistant/status online`` and after the
broker comes back."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import threading
import time
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import paho.mqtt.publish as publish
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from heatpump_monitor.config import HomeAssistantSettings
from heatpump_monitor.integrations.homeassistant import (
    Topics,
    discovery_configs,
    make_gateway,
    state_payload,
)
from heatpump_monitor.model import Snapshot, iso_ms
from heatpump_monitor.providers import BRANDS, load_provider
from pydantic import SecretStr

from ..integration.conftest import addr
from ..servers import wait_until

# ----------------------------------------------------------------------------------------------
# What Home Assistant requires of a discovery config, written from its MQTT sensor and
# binary_sensor documentation and the sensor entity's unit/state-class rules
# (SensorDeviceClass docs: "Unit of measurement" and "state classes" per device class).

#: every key each component accepts (anything else is a typo Home Assistant drops silently)
SENSOR_KEYS = {
    "availability", "availability_mode", "availability_template", "availability_topic", "device",
    "device_class", "default_entity_id", "enabled_by_default", "encoding", "entity_category",
    "entity_picture", "expire_after", "force_update", "icon", "json_attributes_template",
    "json_attributes_topic", "last_reset_value_template", "name", "options", "origin",
    "payload_available", "payload_not_available", "platform", "qos", "state_class", "state_topic",
    "suggested_display_precision", "unique_id", "unit_of_measurement", "value_template",
}
BINARY_SENSOR_KEYS = {
    "availability", "availability_mode", "availability_template", "availability_topic", "device",
    "device_class", "default_entity_id", "enabled_by_default", "encoding", "entity_category",
    "entity_picture", "expire_after", "force_update", "icon", "json_attributes_template",
    "json_attributes_topic", "name", "off_delay", "origin", "payload_available", "payload_not_available",
    "payload_off", "payload_on", "platform", "qos", "state_topic", "unique_id", "value_template",
}
#: keys required here: a state topic, and a unique_id (a device is only kept with one)
REQUIRED = {"sensor": {"state_topic", "unique_id", "device", "name", "value_template"},
            "binary_sensor": {"state_topic", "unique_id", "device", "name", "value_template",
                              "payload_on", "payload_off"}}
DEVICE_KEYS = {"configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model",
               "model_id", "name", "serial_number", "suggested_area", "sw_version", "via_device"}
STATE_CLASSES = {"measurement", "total", "total_increasing"}
#: sensor device class -> (units Home Assistant accepts, state classes it accepts)
SENSOR_CLASSES: dict[str, tuple[set[str | None], set[str]]] = {
    "temperature": ({"°C", "°F", "K"}, {"measurement"}),
    "energy": ({"Wh", "kWh", "MWh", "MJ", "GJ"}, {"total", "total_increasing"}),
    "power": ({"mW", "W", "kW", "MW"}, {"measurement"}),
    "current": ({"A", "mA"}, {"measurement"}),
    "duration": ({"d", "h", "min", "s", "ms"}, STATE_CLASSES),
    "enum": ({None}, set()),
}
BINARY_CLASSES = {"battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
                  "garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving", "occupancy",
                  "opening", "plug", "power", "presence", "problem", "running", "safety", "smoke", "sound",
                  "tamper", "update", "vibration", "window"}
TOPIC = re.compile(r"(?P<prefix>[^/]+)/(?P<component>sensor|binary_sensor)/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+/config")
ENTITY_ID = re.compile(r"(sensor|binary_sensor)\.[a-z0-9_]+")


def ha_problems(topic: str, c: dict[str, Any]) -> list[str]:
    """Why Home Assistant would refuse (or mis-file) this discovery config; [] when it takes it."""
    m = TOPIC.fullmatch(topic)
    if not m:
        return [f"{topic}: not <prefix>/<component>/<node_id>/<object_id>/config"]
    component = m["component"]
    out = []
    keys = SENSOR_KEYS if component == "sensor" else BINARY_SENSOR_KEYS
    out += [f"unknown key {k}" for k in set(c) - keys]
    out += [f"missing {k}" for k in REQUIRED[component] - set(c)]
    device = c.get("device", {})
    if not device.get("identifiers") or set(device) - DEVICE_KEYS or not device.get("name"):
        out.append(f"bad device {device}")
    if not str(c.get("default_entity_id", "")).startswith(component + ".") \
            or not ENTITY_ID.fullmatch(c["default_entity_id"]):
        out.append(f"bad default_entity_id {c.get('default_entity_id')}")
    if "origin" in c and not c["origin"].get("name"):
        out.append("origin without a name")
    if not isinstance(c.get("expire_after", 1), int) or c.get("expire_after", 1) <= 0:
        out.append("expire_after must be a positive whole number")
    dc, sc, unit = c.get("device_class"), c.get("state_class"), c.get("unit_of_measurement")
    if component == "binary_sensor":
        if dc is not None and dc not in BINARY_CLASSES:
            out.append(f"binary device_class {dc}")
        return out
    if sc is not None and sc not in STATE_CLASSES:
        out.append(f"state_class {sc}")
    if dc is not None:
        if dc not in SENSOR_CLASSES:
            out.append(f"device_class {dc} not checked here")
        else:
            units, classes = SENSOR_CLASSES[dc]
            if unit not in units:
                out.append(f"unit {unit!r} with device_class {dc}")
            if sc is not None and sc not in classes:
                out.append(f"state_class {sc} with device_class {dc}")
    if (dc == "enum") != ("options" in c) or ("options" in c and not c["options"]):
        out.append("options go with device_class enum, and only then")
    if "suggested_display_precision" in c and (dc == "enum" or (sc is None and unit is None)):
        out.append("suggested_display_precision on a non-numeric sensor")
    return out


def settings(**kw: Any) -> HomeAssistantSettings:
    base = dict(broker="127.0.0.1", port=1883, username="", password=SecretStr(""), client_id="", tls=False,
                ca_file="", discovery_prefix="homeassistant", state_base="heatpump-monitor", max_gateways=1)
    return HomeAssistantSettings(**{**base, **kw})  # type: ignore[arg-type]


def template_keys(template: str) -> set[str]:
    return set(re.findall(r"value_json\.(\w+)", template))


@pytest.mark.parametrize("brand", BRANDS)
def test_every_discovery_config_of_every_brand_is_what_home_assistant_requires(brand):
    provider = load_provider(brand)
    gw = make_gateway("192.168.1.100:8080", brand, provider)
    configs = list(discovery_configs(gw, Topics(settings(), "api"), 30))
    assert len(configs) == len(provider.registers) + 1  # every register, and the alarm's text
    problems = {t: p for t, c in configs if (p := ha_problems(t, c))}
    assert problems == {}
    assert len({c["unique_id"] for _, c in configs}) == len(configs) == len({t for t, _ in configs})
    state = state_payload(gw, Snapshot("192.168.1.100:8080", brand, "api", 0, {}))
    for _, c in configs:
        assert template_keys(c["value_template"]) <= set(state), c["value_template"]
    by_name = {t.split("/")[-2]: c for t, c in configs}
    for reg in provider.registers.values():
        c = by_name[reg.name]
        want = {"temperature": ("temperature", "measurement", "°C"),
                "energy": ("energy", "total_increasing", "kWh"),  # the Energy dashboard takes these
                "hours": ("duration", "total_increasing", "h")}.get(reg.kind)
        if want:
            assert (c["device_class"], c["state_class"], c["unit_of_measurement"]) == want, reg.name
        if reg.kind == "status" and not reg.mapping:
            assert c["payload_on"] == "ON" and c["payload_off"] == "OFF", reg.name
    assert by_name["compressor"]["device_class"] == "running"
    assert by_name["switch_valve"]["options"] == ["heating", "hot water"]  # an enum, not on/off
    assert by_name["alarm_text"]["value_template"] == "{{ value_json.alarm_text }}"
    assert configs[0][1]["device"]["manufacturer"] == {"thermia": "Thermia", "ivt": "IVT", "nibe": "NIBE"}[brand]


def test_a_config_home_assistant_would_refuse_is_caught():
    """The checker itself: each rule finds what it is for."""
    gw = make_gateway("gw", "ivt", load_provider("ivt"))
    topic, good = next((t, c) for t, c in discovery_configs(gw, Topics(settings(), "api"), 30)
                       if c.get("device_class") == "energy")
    assert ha_problems(topic, good) == []
    for bad in ({"state_class": "measurement"}, {"unit_of_measurement": "°C"}, {"stat_t": "x"},
                {"device": {"name": "x"}}, {"options": ["a"]}, {"default_entity_id": "binary_sensor.x"}):
        assert ha_problems(topic, {**good, **bad}), bad
    assert ha_problems(topic.replace("/config", ""), good)
    assert ha_problems(topic, {k: v for k, v in good.items() if k != "unique_id"})


def test_state_names_the_alarm_and_leaves_missing_registers_null():
    provider = load_provider("ivt")
    gw = make_gateway("gw", "ivt", provider)
    v = {"outdoor_temp": -2.5, "alarm": 1.0, "alarm_code": 5.0, "switch_valve": 1.0}
    state = state_payload(gw, Snapshot("gw", "ivt", "api", 1_764_324_000_000, v))
    assert state["outdoor_temp"] == -2.5 and state["radiator_return"] is None
    assert state["alarm_text"] == "room sensor GT5" and state["switch_valve_text"] == "hot water"
    assert state["time"] == "2025-11-28T10:00:00.000Z"
    cleared = state_payload(gw, Snapshot("gw", "ivt", "api", 0, {**v, "alarm": 0.0}))
    assert cleared["alarm_text"] == "no alarm"  # BA91 keeps the last number after it cleared
    assert state_payload(gw, Snapshot("gw", "ivt", "api", 0, {}))["alarm_text"] is None


# ---------------------------------------------------------------------------------------------- end to end


class Listener:
    """A real MQTT client on the test's broker, recording every message (topic, payload, retain)."""

    def __init__(self, port: int, topics: list[str], auth: tuple[str, str] | None = None) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        if auth:
            self.client.username_pw_set(*auth)
        self.client.on_connect = lambda c, *_: (c.subscribe([(t, 1) for t in topics]), None)[1]
        self.client.on_subscribe = lambda *_: self._ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._ready.wait(10), "the test's MQTT client did not subscribe"

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def under(self, prefix: str) -> list[tuple[str, bytes, bool]]:
        with self._lock:
            return [m for m in self.messages if m[0].startswith(prefix)]

    def wait(self, what: str, predicate, timeout: float = 30.0):
        return wait_until(predicate, what, timeout, detail=lambda: f"; got {len(self.messages)} message(s)")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def states(listener: Listener, topic: str) -> list[dict]:
    return [json.loads(p) for t, p, _ in listener.under(topic) if t == topic]


def configs(listener: Listener) -> dict[str, dict]:
    return {t: json.loads(p) for t, p, _ in listener.under("homeassistant/") if p and t.endswith("/config")}


USER, PASSWORD = "hp", "Br0kerS3cret!pw"


@pytest.mark.realserver
def test_collector_publishes_discovery_and_a_state_every_tick_then_offline_and_rediscovery(
        simulator, collector, tmp_path):
    from ..servers import start_mosquitto

    broker = start_mosquitto(tmp_path / "mosquitto", username=USER, password=PASSWORD)
    listener = None
    try:
        sim = simulator(brands=("ivt",), alarms=False)
        provider = load_provider("ivt")
        listener = Listener(broker.port, ["homeassistant/#", "heatpump-monitor/#"], auth=(USER, PASSWORD))
        store = tmp_path / "s.sqlite3"
        c = collector({"H66_IP": addr(sim.urls[0]), "COLLECTION_INTERVAL": "1", "HEATPUMP_BRAND": "ivt",
                       "STORE_PATH": str(store), "HA_DISCOVERY": "true", "MQTT_BROKER": "127.0.0.1",
                       "MQTT_PORT": str(broker.port), "MQTT_USERNAME": USER, "MQTT_PASSWORD": PASSWORD})
        announced = c.wait_for(r"Home Assistant: announced \d+ entities")
        n = len(provider.registers) + 1
        assert f"announced {n} entities of gateway {addr(sim.urls[0])} (ivt)" in announced[0]
        slug = re.sub(r"[^a-z0-9]+", "_", addr(sim.urls[0]))
        state_topic = f"heatpump-monitor/{slug}/state"
        listener.wait("3 states", lambda: len(states(listener, state_topic)) >= 3)
        # QoS 0 states may overtake the QoS 1 configs in flight: wait for all of them
        found = listener.wait(f"{n} configs", lambda: (f := configs(listener)) and len(f) == n and f)
        assert {t: p for t, cfg in found.items() if (p := ha_problems(t, cfg))} == {}
        assert {cfg["state_topic"] for cfg in found.values()} == {state_topic}
        assert {cfg["availability_topic"] for cfg in found.values()} == {"heatpump-monitor/api/availability"}

        # every tick's snapshot is a state message carrying the values the store got for it
        c.wait_for("Stored ", count=4)
        got = states(listener, state_topic)
        times = [st["time"] for st in got]
        assert times == sorted(set(times))  # one message per tick, in order
        with sqlite3.connect(store) as db:
            stored = {iso_ms(t): json.loads(d) for t, d in db.execute("SELECT ts_ms, data FROM snapshots")}
        both = [st for st in got if st["time"] in stored]
        assert len(both) >= 3
        for st in both:
            values = stored[st["time"]]
            assert {k: st[k] for k in values} == pytest.approx(values)
            assert all(st[r.name] is None for r in provider.registers.values() if r.name not in values)
            for cfg in found.values():
                assert template_keys(cfg["value_template"]) <= set(st), cfg["value_template"]
        assert [p for _, p, _ in listener.under("heatpump-monitor/api/availability")][-1:] == [b"online"]

        # the alarm, with the brand's text, at the next tick
        r = httpx.post(sim.urls[0] + "/sim/fault", json={"alarm": 5}, trust_env=False)
        assert r.status_code == 200
        listener.wait("the alarm's text",
                      lambda: any(s.get("alarm_text") == "room sensor GT5" for s in states(listener, state_topic)))

        # Home Assistant restarted: every config again
        before = len(listener.under("homeassistant/"))
        publish.single("homeassistant/status", "online", hostname="127.0.0.1", port=broker.port,
                       auth={"username": USER, "password": PASSWORD})
        c.wait_for("Home Assistant said online")
        listener.wait("rediscovery", lambda: len(listener.under("homeassistant/")) >= before + n + 1)

        # a newcomer (Home Assistant starting later) finds every config and the state retained
        late = Listener(broker.port, ["homeassistant/#", state_topic], auth=(USER, PASSWORD))
        try:
            late.wait("retained configs", lambda: len(configs(late)) == n and states(late, state_topic))
            assert all(retain for _, _, retain in late.messages)
        finally:
            late.close()

        assert c.terminate()[0] == 0
        listener.wait("offline", lambda: [p for _, p, _ in listener.under("heatpump-monitor/api/availability")][-1:]
                      == [b"offline"], timeout=10)
        assert "Home Assistant: connected to MQTT broker 127.0.0.1" in c.log
        assert PASSWORD not in c.log and "Traceback" not in c.log
    finally:
        if listener is not None:
            listener.close()
        broker.stop()


@pytest.mark.realserver
def test_last_will_says_offline_and_a_broker_down_at_start_gets_discovery_once_back(
        simulator, collector, broker, tmp_path):
    broker.stop()
    sim = simulator(brands=("nibe",), frozen=True)
    c = collector({"H66_IP": addr(sim.urls[0]), "COLLECTION_INTERVAL": "1", "HEATPUMP_BRAND": "nibe",
                   "STORE_PATH": str(tmp_path / "s.sqlite3"), "HA_DISCOVERY": "true",
                   "HA_DISCOVERY_PREFIX": "ha-test", "HA_STATE_TOPIC": "hp/site-1",
                   "MQTT_BROKER": "127.0.0.1", "MQTT_PORT": str(broker.port)})
    c.wait_for("Home Assistant: MQTT broker 127.0.0.1:.* unreachable: dropping state messages")
    c.wait_for("Stored ", count=3)  # polling goes on while the broker is down
    broker.start()
    listener = Listener(broker.port, ["ha-test/#", "hp/#"])
    try:
        c.wait_for("Home Assistant: connected to MQTT broker", timeout=45)
        c.wait_for(r"Home Assistant: announced \d+ entities of gateway")
        listener.wait("states", lambda: any(t.endswith("/state") for t, _, _ in listener.under("hp/site-1/")))
        n = len(load_provider("nibe").registers) + 1
        listener.wait(f"{n} configs", lambda: len({t for t, _, _ in listener.under("ha-test/")
                                                   if t.endswith("/config")}) == n)
        listener.wait("online", lambda: [p for _, p, _ in listener.under("hp/site-1/api/availability")][-1:]
                      == [b"online"])
        c.proc.send_signal(signal.SIGKILL)  # no clean stop: the broker says it, by the last will
        c.proc.wait(10)
        listener.wait("the last will", lambda: [p for _, p, _ in listener.under("hp/site-1/api/availability")][-1:]
                      == [b"offline"], timeout=60)
        assert c.log.count("dropping state messages") == 1  # one line per outage, not per tick
    finally:
        listener.close()


@pytest.mark.realserver
def test_the_mqtt_collector_announces_on_its_own_broker(broker, collector, tmp_path):
    """The MQTT collector: the gateway's broker is Home Assistant's too; its own client id is
    kept (the publisher's is MQTT_CLIENT_ID-ha) and GATEWAY_NAME names the device."""
    import sys

    from heatpump_monitor.simulator.mqtt import MqttSimulatorThread

    from ..integration.conftest import FROZEN, ROOT

    sim = MqttSimulatorThread(["thermia"], "127.0.0.1", broker.port, clock=lambda: FROZEN, max_delay=0.3)
    sim.start(wait_connected=True)
    listener = Listener(broker.port, ["homeassistant/#", "heatpump-monitor/#"])
    try:
        mac = sim.gateways[0].mac
        c = collector({"MQTT_BROKER": "127.0.0.1", "MQTT_PORT": str(broker.port), "COLLECTION_INTERVAL": "1",
                       "H66_MAC": mac, "GATEWAY_NAME": "Villa Nova", "MQTT_CLIENT_ID": "hp-collector",
                       "HEATPUMP_BRAND": "thermia", "STORE_PATH": str(tmp_path / "s.sqlite3"), "HA_DISCOVERY": "true"},
                      name="mqtt", argv=[sys.executable, str(ROOT / "collector" / "collector.py")])
        c.wait_for(r"Home Assistant: announced \d+ entities of gateway Villa Nova \(thermia\)")
        n = len(load_provider("thermia").registers) + 1
        found = listener.wait(f"{n} configs", lambda: (f := configs(listener)) and len(f) == n and f)
        assert {t: p for t, cfg in found.items() if (p := ha_problems(t, cfg))} == {}
        assert {cfg["device"]["name"] for cfg in found.values()} == {"Heat pump Villa Nova"}
        topic = "heatpump-monitor/villa_nova/state"
        want = load_provider("thermia").decode_poll(sim.gateways[0].model.raw_alldata()).values
        last = listener.wait("a complete state", lambda: [s for s in states(listener, topic)
                                                            if all(s.get(k) is not None for k in want)])[-1]
        assert {k: last[k] for k in want} == pytest.approx(want)
        c.wait_for("Stored ", count=3)
        assert c.terminate()[0] == 0
        assert "Lost the MQTT broker" not in c.log  # the two clients did not push each other off
        listener.wait("offline", lambda: [p for _, p, _ in listener.under("heatpump-monitor/mqtt/availability")][-1:]
                      == [b"offline"], timeout=10)
    finally:
        listener.close()
        sim.stop()


def test_gateways_are_bounded_and_two_names_with_one_topic_are_not_mixed(caplog):
    """Memory and topics are bounded by the gateways the collector may have (MQTT_MAX_GATEWAYS);
    each refusal is one line. No broker is needed: nothing is started."""
    from heatpump_monitor.integrations.homeassistant import HomeAssistant

    ha = HomeAssistant(settings(max_gateways=2), "mqtt", load_provider, 1, client=mqtt.Client(CallbackAPIVersion.VERSION2))
    snap = lambda gw: Snapshot(gw, "thermia", "mqtt", 0, {"outdoor_temp": 1.0})  # noqa: E731
    for _ in range(3):
        ha.on_snapshots([snap("house.1"), snap("house_1"), snap("barn"), snap("shed")])
    assert sorted(ha._gateways) == ["barn", "house.1"]
    assert len(ha._latest) == 2 and len(ha._refused) <= 2
    assert caplog.text.count("gateway house_1 not published: its topic name 'house_1' is taken by house.1") == 1
    assert caplog.text.count("gateway shed not published: already 2 gateway(s) announced") == 1
