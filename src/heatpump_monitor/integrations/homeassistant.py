"""Home Assistant MQTT discovery (``HA_DISCOVERY=true``): every register of a gateway appears in
Home Assistant as an entity of one device per gateway, with no YAML to write.

What goes to the broker (the ``MQTT_*`` one), all retained:

* ``<HA_STATE_TOPIC>/<gateway>/state``: each snapshot as ONE JSON object, every register of the
  gateway's brand a key (``null`` when the poll lacked it: Home Assistant shows "unknown"), plus
  ``<register>_text`` for registers with named values, ``alarm_text`` and ``time``;
* ``<HA_DISCOVERY_PREFIX>/<sensor|binary_sensor>/heatpump_monitor_<gateway>/<register>/config``:
  one discovery config per register (:func:`discovery_configs`), published at a gateway's first
  snapshot, after every reconnect and whenever Home Assistant says ``online`` on its status topic;
* ``<HA_STATE_TOPIC>/<api|mqtt>/availability``: ``online`` while this collector runs, ``offline``
  at a clean stop and, as the MQTT last will, when it dies or loses the broker.

Publishing never blocks polling: the writer's listener only records the newest snapshot per
gateway (memory bounded by the gateways this collector may have) and wakes a worker thread,
which builds and hands the messages to paho, whose own thread does the network. While the broker
is unreachable, state messages are dropped (one line per outage), paho reconnects, and
discovery and the newest state are published again once it is back.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from .. import __version__
from ..config import AnalyticsConfig, HomeAssistantSettings
from ..model import Snapshot
from ..providers import Provider, Register

if TYPE_CHECKING:
    from ..analytics.profile import Profile
    from ..config import CollectorConfig
    from ..pipeline.writer import Writer

log = logging.getLogger("heatpump_monitor.homeassistant")

#: Home Assistant's own birth/status topic (its default, whatever the discovery prefix)
HA_STATUS_TOPIC = "homeassistant/status"
#: a gateway's entities turn "unavailable" when no state arrived for this many ticks (the
#: gateway stopped answering while the collector runs); at least EXPIRE_MIN_S
EXPIRE_TICKS = 3
EXPIRE_MIN_S = 60
#: at a clean stop, how long to wait for the broker to take the "offline" message (the
#: collector's whole stop has a 5 s budget; normally this takes a few milliseconds)
STOP_WAIT_S = 1.0
#: QoS 1 messages paho keeps at most (discovery: ~70 per gateway); beyond, publish() refuses
MAX_QUEUED = 20_000
MANUFACTURERS = {"thermia": "Thermia", "ivt": "IVT", "nibe": "NIBE"}
_SLUG = re.compile(r"[^a-z0-9]+")

# What each kind of register is to Home Assistant: (device_class, state_class). Units come from
# the provider; a unit Home Assistant does not accept for the class drops the class (HA_UNITS).
# Hour and kWh counters are total_increasing: the Energy dashboard and long-term statistics
# take them, and a counter that wraps (16-bit on old firmware) is read as a meter reset.
KIND_CLASSES: dict[str, tuple[str | None, str | None]] = {
    "temperature": ("temperature", "measurement"),
    "energy": ("energy", "total_increasing"),
    "hours": ("duration", "total_increasing"),
    "minutes": ("duration", "measurement"),
    "power": ("power", "measurement"),
    "current": ("current", "measurement"),
    "percent": (None, "measurement"),
    "degree_minutes": (None, "measurement"),
    "setting": (None, "measurement"),
    "number": (None, "measurement"),
    "pulses": (None, "total_increasing"),
    "counter": (None, "total_increasing"),
    "alarm": (None, None),  # an alarm number is a name, not a quantity
}
#: the units Home Assistant accepts for the device classes used here (its sensor docs,
#: DEVICE_CLASS_UNITS): a register whose unit is not listed gets no device class
HA_UNITS: dict[str, frozenset[str]] = {
    "temperature": frozenset({"°C", "°F", "K"}),
    "energy": frozenset({"Wh", "kWh", "MWh", "GJ", "MJ"}),
    "duration": frozenset({"d", "h", "min", "s", "ms"}),
    "power": frozenset({"W", "kW", "MW"}),
    "current": frozenset({"A", "mA"}),
}
#: units that name a duration: a setting in days (holiday mode) is a duration too
_DURATION_UNITS = HA_UNITS["duration"]


def slug(text: str) -> str:
    """``192.168.1.100:8080`` -> ``192_168_1_100_8080``: what a topic level, a unique_id and an
    entity id may hold."""
    return _SLUG.sub("_", text.lower()).strip("_") or "gateway"


def pretty(name: str) -> str:
    return name.replace("_", " ").capitalize()


def is_binary(reg: Register) -> bool:
    """On/off statuses are binary sensors; a status with named values (the switch valve's
    heating / hot water) is an enum sensor, which says more."""
    return reg.kind == "status" and not reg.mapping


def _binary_class(name: str) -> str | None:
    if name == "alarm" or "pressostat" in name:
        return "problem"
    if any(w in name for w in ("compressor", "pump", "fan", "add_heat", "heater", "cable")):
        return "running"
    return None


def sensor_classes(reg: Register) -> dict[str, Any]:
    """device_class / state_class / unit / options of a (non-binary) register's sensor."""
    if reg.mapping:
        # an enum sensor: no unit and no state class (Home Assistant refuses them)
        return {"device_class": "enum", "options": sorted(set(reg.mapping.values()))}
    device_class, state_class = KIND_CLASSES.get(reg.kind, (None, "measurement"))
    if device_class is None and reg.unit in _DURATION_UNITS:
        device_class = "duration"
    if device_class is not None and reg.unit not in HA_UNITS.get(device_class, frozenset()):
        device_class = None
    out: dict[str, Any] = {}
    if device_class:
        out["device_class"] = device_class
    if state_class:
        out["state_class"] = state_class
    if reg.unit:
        out["unit_of_measurement"] = reg.unit
    if device_class == "temperature":
        out["suggested_display_precision"] = 1
    return out


@dataclass(frozen=True)
class Gateway:
    """One gateway as Home Assistant sees it."""

    name: str  # the snapshot's gateway (the store's `gateway` tag)
    slug: str
    brand: str
    provider: Provider
    profile: Profile  # which registers say "alarm" and its number


def make_gateway(name: str, brand: str, provider: Provider) -> Gateway:
    from ..analytics.profile import profile_for  # the analytics' rules: only when HA is on

    return Gateway(name, slug(name), brand, provider, profile_for(provider, AnalyticsConfig(tz=ZoneInfo("UTC"))))


class Topics:
    def __init__(self, settings: HomeAssistantSettings, source: str) -> None:
        self.prefix = settings.discovery_prefix
        self.base = settings.state_base
        self.availability = f"{self.base}/{source}/availability"
        self.status = sorted({f"{self.prefix}/status", HA_STATUS_TOPIC})

    def state(self, gw: Gateway) -> str:
        return f"{self.base}/{gw.slug}/state"

    def config(self, component: str, gw: Gateway, name: str) -> str:
        return f"{self.prefix}/{component}/heatpump_monitor_{gw.slug}/{name}/config"


def state_payload(gw: Gateway, snapshot: Snapshot) -> dict[str, Any]:
    """The one JSON state message of a snapshot: every register of the brand (null when absent)."""
    from ..analytics.profile import alarm_text

    v = snapshot.values
    out: dict[str, Any] = {"time": snapshot.iso_time}
    for reg in gw.provider.registers.values():
        x = v.get(reg.name)
        out[reg.name] = x
        if reg.mapping:
            out[f"{reg.name}_text"] = reg.text(x) if x is not None else None
    profile = gw.profile
    if profile.alarm or profile.alarm_code:
        active = profile.alarm_active(v)
        out["alarm_text"] = (None if active is None else
                             alarm_text(profile, gw.provider, v) if active else gw.provider.alarm_text(0))
    return out


def discovery_configs(gw: Gateway, topics: Topics, interval_s: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """(topic, payload) of every entity of a gateway: one per register, plus the alarm text."""
    device = {"identifiers": [f"heatpump_monitor_{gw.slug}"], "name": f"Heat pump {gw.name}",
              "manufacturer": MANUFACTURERS.get(gw.brand, gw.brand.capitalize()), "model": gw.provider.title}
    common = {"state_topic": topics.state(gw), "availability_topic": topics.availability,
              "expire_after": max(EXPIRE_MIN_S, EXPIRE_TICKS * interval_s), "device": device,
              "origin": {"name": "heatpump-monitor", "sw_version": __version__}}

    def entity(component: str, name: str, label: str, template: str, **extra: Any) -> tuple[str, dict[str, Any]]:
        # default_entity_id replaced object_id (removed in Home Assistant 2026.4)
        payload = {"name": label, "unique_id": f"heatpump_monitor_{gw.slug}_{name}",
                   "default_entity_id": f"{component}.heatpump_{gw.slug}_{name}",
                   "value_template": template, **common, **extra}
        return topics.config(component, gw, name), payload

    for reg in gw.provider.registers.values():
        n = reg.name
        if is_binary(reg):
            template = (f"{{% if value_json.{n} is none %}}None{{% elif value_json.{n} > 0 %}}ON"
                        f"{{% else %}}OFF{{% endif %}}")
            extra: dict[str, Any] = {"payload_on": "ON", "payload_off": "OFF"}
            if _binary_class(n):
                extra["device_class"] = _binary_class(n)
            yield entity("binary_sensor", n, pretty(n), template, **extra)
        else:
            key = f"{n}_text" if reg.mapping else n
            yield entity("sensor", n, pretty(n), f"{{{{ value_json.{key} }}}}", **sensor_classes(reg))
    if gw.profile.alarm or gw.profile.alarm_code:
        yield entity("sensor", "alarm_text", "Alarm message", "{{ value_json.alarm_text }}", icon="mdi:alert")


class HomeAssistant:
    """The writer's listener (:meth:`on_snapshots`) and the thread that publishes."""

    def __init__(self, settings: HomeAssistantSettings, source: str, providers: Callable[[str], Provider],
                 interval_s: int, client: mqtt.Client | None = None) -> None:
        self.s = settings
        self.topics = Topics(settings, source)
        self.providers = providers
        self.interval_s = interval_s
        self.published = 0  # state messages handed to the broker
        self.dropped = 0  # state messages dropped (broker unreachable)
        self._gateways: dict[str, Gateway] = {}  # by snapshot gateway name; at most max_gateways
        self._slugs: dict[str, str] = {}  # slug -> gateway name
        self._refused: set[str] = set()  # gateways past the bound (said once each, bounded)
        self._latest: dict[str, Snapshot] = {}  # newest snapshot per gateway, not yet published
        self._last: dict[str, Snapshot] = {}  # newest snapshot per gateway, published or not
        self._announced: set[str] = set()  # gateways whose discovery went out on this connection
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._connected = False
        self._outage_said = False
        self._last_cause = ""
        self._client = client or self._make_client()
        self._thread = threading.Thread(target=self._work, name="homeassistant", daemon=True)

    @property
    def where(self) -> str:
        return f"{self.s.broker}:{self.s.port}"

    def describe(self) -> str:
        return (f"Home Assistant discovery on MQTT broker {self.where}{' (TLS)' if self.s.tls else ''}: "
                f"configs under {self.topics.prefix}/, states under {self.topics.base}/<gateway>/state, "
                f"availability {self.topics.availability}; up to {self.s.max_gateways} gateway(s)")

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.s.client_id,
                             protocol=mqtt.MQTTv311, clean_session=True)
        if self.s.username:
            client.username_pw_set(self.s.username, self.s.password.get_secret_value() or None)
        if self.s.tls:
            client.tls_set_context(ssl.create_default_context(cafile=self.s.ca_file or None))
        # the last will: Home Assistant greys the entities out when this collector dies
        client.will_set(self.topics.availability, "offline", qos=1, retain=True)
        client.reconnect_delay_set(1, 30)
        client.max_queued_messages_set(MAX_QUEUED)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Connect in the background (paho's thread retries until the broker answers)."""
        self._thread.start()
        self._client.connect_async(self.s.broker, self.s.port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        """Say ``offline`` (a clean stop sends no last will), then disconnect; at most ~STOP_WAIT_S."""
        self._stopping = True
        self._wake.set()
        self._thread.join(STOP_WAIT_S / 2)  # it only hands messages to paho: never long
        if self._connected:
            try:
                info = self._client.publish(self.topics.availability, "offline", qos=1, retain=True)
                info.wait_for_publish(STOP_WAIT_S)
            except (RuntimeError, ValueError, OSError) as exc:
                log.warning("Home Assistant: could not say offline on %s: %s", self.topics.availability, exc)
        self._client.disconnect()
        self._client.loop_stop()
        log.info("Home Assistant: %d state message(s) published, %d dropped while the broker was unreachable",
                 self.published, self.dropped)

    # ------------------------------------------------------------------ the writer's listener

    def on_snapshots(self, snapshots: Sequence[Snapshot]) -> None:
        """Keep the newest snapshot of each gateway and wake the worker: nothing else happens
        in the event loop (no JSON, no network)."""
        with self._lock:
            for s in snapshots:
                if s.gateway in self._gateways or self._accept(s):
                    self._latest[s.gateway] = s
                    self._last[s.gateway] = s
        self._wake.set()

    def _accept(self, s: Snapshot) -> bool:
        """A gateway seen for the first time: within the bound, with a brand and a free slug."""
        if s.gateway in self._refused:
            return False
        why = ""
        sl = slug(s.gateway)
        if len(self._gateways) >= self.s.max_gateways:
            why = f"already {self.s.max_gateways} gateway(s) announced"
        elif sl in self._slugs:
            why = f"its topic name {sl!r} is taken by {self._slugs[sl]}"
        else:
            try:
                provider = self.providers(s.brand)
            except (KeyError, ValueError, OSError) as exc:
                why = f"no registers for brand {s.brand!r} ({exc})"
        if why:
            if len(self._refused) < self.s.max_gateways:
                self._refused.add(s.gateway)
            log.warning("Home Assistant: gateway %s not published: %s", s.gateway[:100], why)
            return False
        self._gateways[s.gateway] = make_gateway(s.gateway, s.brand, provider)
        self._slugs[sl] = s.gateway
        return True

    # ------------------------------------------------------------------ the worker thread

    def _work(self) -> None:
        while not self._stopping:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                break
            with self._lock:
                pending, self._latest = self._latest, {}
                gateways = dict(self._gateways)
            try:
                self._publish(pending, gateways)
            except Exception:  # a bug here must not end Home Assistant's updates for good
                log.exception("Home Assistant: error while publishing")

    def _publish(self, pending: Mapping[str, Snapshot], gateways: Mapping[str, Gateway]) -> None:
        if not pending:
            return
        if not self._connected:
            self.dropped += len(pending)
            if not self._outage_said:
                log.warning("Home Assistant: MQTT broker %s unreachable: dropping state messages until it "
                            "is back (discovery is published again then)", self.where)
                self._outage_said = True
            return
        for name, snapshot in pending.items():
            gw = gateways[name]
            with self._lock:
                new = name not in self._announced
                self._announced.add(name)
            if new:
                self._announce(gw)
            payload = json.dumps(state_payload(gw, snapshot), separators=(",", ":"))
            info = self._client.publish(self.topics.state(gw), payload, qos=0, retain=True)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                self.published += 1
            else:
                self.dropped += 1

    def _announce(self, gw: Gateway) -> None:
        n = 0
        for topic, payload in discovery_configs(gw, self.topics, self.interval_s):
            self._client.publish(topic, json.dumps(payload, separators=(",", ":")), qos=1, retain=True)
            n += 1
        log.info("Home Assistant: announced %d entities of gateway %s (%s)", n, gw.name, gw.brand)

    def _republish_all(self) -> None:
        """Discovery of every known gateway again, then its newest state (after a reconnect,
        or Home Assistant's ``online``)."""
        with self._lock:
            self._announced.clear()
            self._latest.update(self._last)
        self._wake.set()

    # ------------------------------------------------------------------ paho's thread

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            cause = f"the broker refused the connection ({reason})"
            if cause != self._last_cause:
                log.error("Home Assistant: cannot connect to MQTT broker %s: %s; retrying", self.where, cause)
                self._last_cause = cause
            return
        client.subscribe([(t, 0) for t in self.topics.status])
        client.publish(self.topics.availability, "online", qos=1, retain=True)
        self._connected = True
        self._outage_said = False
        self._last_cause = ""
        log.info("Home Assistant: connected to MQTT broker %s", self.where)
        self._republish_all()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        cause = "connection refused or broker unreachable"
        if cause != self._last_cause:
            log.error("Home Assistant: cannot connect to MQTT broker %s: %s; retrying (every 30 s at most)",
                      self.where, cause)
            self._last_cause = cause

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        was = self._connected
        self._connected = False
        if was and not self._stopping:
            log.error("Home Assistant: lost the MQTT broker %s (%s); reconnecting", self.where, reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        # Home Assistant (re)started: it forgot every entity not retained, so announce them all again
        if message.topic in self.topics.status and message.payload.strip().lower() == b"online":
            log.info("Home Assistant said online on %s: publishing discovery again", message.topic)
            self._republish_all()


def start_homeassistant(cfg: CollectorConfig, writer: Writer) -> HomeAssistant:
    """The collector's Home Assistant publisher, fed every new snapshot by ``writer``, started."""
    from ..providers.overrides import Providers

    assert cfg.homeassistant is not None
    ha = HomeAssistant(cfg.homeassistant, cfg.source, Providers(cfg.registers).get, cfg.interval_s)
    writer.listeners.append(ha.on_snapshots)
    log.info("%s", ha.describe())
    ha.start()
    return ha
