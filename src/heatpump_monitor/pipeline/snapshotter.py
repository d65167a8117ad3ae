"""MQTT messages -> aligned snapshots.

An H66 publishes one message per register, when it changes, each at its own moment. The
snapshotter keeps the latest decoded value of every register per gateway (values are held
until replaced: the gateway only publishes changes) and, at every tick of the interval grid,
emits one snapshot per gateway with every known value under the tick's timestamp: the same
alignment as the API collector. A gateway silent for longer than a limit is not emitted (no
flat-lined invented data) until it publishes again.

``round`` mode instead turns each message into a one-field snapshot whose time is the message's
arrival rounded down to the interval window: the old quick fix, kept to measure against.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..model import Snapshot
from ..providers import Provider, normalize_index

log = logging.getLogger("heatpump_monitor.mqtt")

MAX_PAYLOAD_BYTES = 32  # "65535" is 5 bytes; anything long is not a register value
IGNORED_TOPICS = {"CMD", "STATUS", "SET", "INFO", "LWT", "ONLINE", "AVAILABILITY"}


@dataclass
class GatewayValues:
    name: str  # the `gateway` tag
    values: dict[str, float] = field(default_factory=dict)
    last_seen_ms: int = 0
    silent: bool = False


@dataclass
class MqttStats:
    messages: int = 0
    accepted: int = 0
    rejected: int = 0
    ignored: int = 0
    snapshots: int = 0


class Snapshotter:
    source = "mqtt"

    def __init__(self, provider: Provider, interval_ms: int, silent_limit_ms: int,
                 names: dict[str, str] | None = None, store_unknown: bool = False) -> None:
        self.provider = provider
        self.interval_ms = interval_ms
        self.silent_limit_ms = silent_limit_ms
        self.names = names or {}  # mac -> GATEWAY_NAME
        self.store_unknown = store_unknown
        self.gateways: dict[str, GatewayValues] = {}
        self.stats = MqttStats()
        self._warned: set[tuple[str, str, str]] = set()
        self._unknown_logged: set[str] = set()

    # ------------------------------------------------------------------ messages

    def accept(self, topic: str, payload: bytes, now_ms: int) -> Snapshot | None:
        """Take one message. Returns it as a one-field snapshot (for ``round`` mode) when it
        carried a valid value, else None. Never raises for bad input."""
        self.stats.messages += 1
        parts = topic.split("/")
        if len(parts) < 3 or parts[1] != "HP" or not parts[0]:
            return self._reject(parts[0] if parts else "", "-", "unexpected topic shape", topic)
        mac = parts[0].lower()
        if len(parts) != 3 or parts[2].upper() in IGNORED_TOPICS:
            self.stats.ignored += 1  # commands (our own GETALL), status, writes: not readings
            return None
        idx = normalize_index(parts[2])
        if idx is None:
            return self._reject(mac, parts[2][:20], "unexpected topic shape", topic)
        if len(payload) > MAX_PAYLOAD_BYTES:
            return self._reject(mac, idx, f"oversized payload ({len(payload)} bytes)")
        text = payload.decode("ascii", "replace").strip()
        if not text:
            return self._reject(mac, idx, "empty payload")
        try:
            raw = int(text)
        except ValueError:
            return self._reject(mac, idx, f"not an integer ({text[:12]!r})")
        decoded = self.provider.decode_poll({idx: raw}, store_unknown=self.store_unknown)
        if decoded.unknown and idx not in self._unknown_logged:
            self._unknown_logged.add(idx)
            log.warning("Unknown register: %s (brand %s, gateway %s%s)", idx, self.provider.brand, mac,
                        "; stored raw as reg_" + idx if self.store_unknown else "")
        if decoded.rejected:
            return self._reject(mac, idx, decoded.rejected[0][2])
        gw = self._gateway(mac, now_ms)
        for name in decoded.absent:
            gw.values.pop(name, None)  # sensor not installed: no value, not a reading
        if not decoded.values:
            self.stats.ignored += 1
            return None
        gw.values.update(decoded.values)
        self.stats.accepted += 1
        window = now_ms // self.interval_ms * self.interval_ms
        return Snapshot(gw.name, self.provider.brand, self.source, window, dict(decoded.values))

    def _gateway(self, mac: str, now_ms: int) -> GatewayValues:
        gw = self.gateways.get(mac)
        if gw is None:
            gw = self.gateways[mac] = GatewayValues(self.names.get(mac, mac))
            log.info("Gateway %s seen on MQTT%s", mac, f" (stored as {gw.name})" if gw.name != mac else "")
        if gw.silent:
            log.warning("Gateway %s publishes again; snapshots resume", gw.name)
            gw.silent = False
        gw.last_seen_ms = now_ms
        return gw

    def _reject(self, mac: str, idx: str, cause: str, topic: str = "") -> None:
        self.stats.rejected += 1
        kind = cause.split(" (")[0]
        key = (mac, idx, kind)
        if key not in self._warned:
            self._warned.add(key)
            where = f"topic {topic!r}" if topic else f"register {idx} from {mac}"
            log.warning("Dropped MQTT message on %s: %s", where, cause)
        return None

    # ------------------------------------------------------------------ ticks

    def tick(self, tick_ms: int, now_ms: int) -> list[Snapshot]:
        """One snapshot per live gateway with every known value, stamped with the tick."""
        out = []
        for mac, gw in self.gateways.items():
            if now_ms - gw.last_seen_ms > self.silent_limit_ms:
                if not gw.silent:
                    gw.silent = True
                    log.warning("Gateway %s silent for %d s: no snapshots until it publishes again",
                                gw.name, (now_ms - gw.last_seen_ms) // 1000)
                continue
            if gw.values:
                out.append(Snapshot(gw.name, self.provider.brand, self.source, tick_ms, dict(gw.values)))
        self.stats.snapshots += len(out)
        return out

    def silent_macs(self, configured: str = "") -> list[str]:
        """Gateways gone silent, plus ``configured`` when it was never heard from."""
        macs = [mac for mac, gw in self.gateways.items() if gw.silent]
        if configured and configured not in self.gateways:
            macs.append(configured)
        return macs

    def live_macs(self) -> list[str]:
        return [mac for mac, gw in self.gateways.items() if not gw.silent]
