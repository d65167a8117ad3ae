"""MQTT messages -> aligned snapshots.

An H66 publishes one message per register, when it changes, each at its own moment. The
snapshotter keeps the latest decoded value of every register per gateway (values are held
until replaced: the gateway only publishes changes) and, at every tick of the interval grid,
emits one snapshot per gateway with every known value under the tick's timestamp: the same
alignment as the API collector. A gateway silent for longer than a limit is not emitted (no
flat-lined invented data) until it publishes again.

``round`` mode instead turns each message into a one-field snapshot whose time is the message's
arrival rounded down to the interval window: the old quick fix, kept to measure against.

Payloads differ by firmware: some publish the raw integer like ``/api/alldata`` (``540`` for
54.0 C), some the value already scaled (``54.0``, ``23.00``). A decimal payload is always taken as
scaled. What an integer payload means is ``MQTT_PAYLOAD_SCALE``: ``raw``, ``scaled``, or ``auto``,
which decides per gateway from plausibility (:class:`ScaleGuess`) and logs its decision once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Literal, Mapping

from ..logs import cause_kind
from ..model import Snapshot
from ..providers import BadValue, Provider, Register, decode_value, normalize_index
from ..providers.registry import scaled_value

log = logging.getLogger("heatpump_monitor.mqtt")

MAX_PAYLOAD_BYTES = 32  # "4294967295" is 10 bytes; anything long is not a register value
IGNORED_TOPICS = {"CMD", "STATUS", "SET", "INFO", "LWT", "ONLINE", "AVAILABILITY"}
_INTEGER = re.compile(r"-?[0-9]{1,10}")
_DECIMAL = re.compile(r"-?[0-9]{1,10}\.[0-9]{1,6}")

PayloadScale = Literal["auto", "raw", "scaled"]

#: auto mode: agreeing registers needed to decide (and at least this many times the other side)
VOTES_TO_DECIDE = 3
#: a decimal payload on a scaled register proves the firmware scales: worth this many votes
DECIMAL_VOTES = 3
#: auto mode: undecided this long after the first ambiguous payload -> assume raw (the form
#: /api/alldata uses), said in the log
DECIDE_WITHIN_MS = 600_000


@dataclass
class ScaleGuess:
    """auto mode, one gateway: are its integer payloads raw (x10) or already in real units?

    A payload votes when only one reading is plausible: ``512`` on hot_water_top is 51.2 C raw
    or 512 C scaled, so it votes raw; ``21`` on indoor_temp (2.1 C or 21 C) does not vote.
    Until one side has :data:`VOTES_TO_DECIDE` votes and at least that many times the other's,
    integer payloads of registers with a factor are held (the latest per register), not guessed.
    """

    raw: int = 0
    scaled: int = 0
    decided: str = ""  # "", "raw" or "scaled"
    timed_out: bool = False  # decided "raw" for want of evidence
    first_ms: int = -1
    examples: list[str] = field(default_factory=list)
    held: dict[str, int] = field(default_factory=dict)  # index -> latest undecided integer

    def vote(self, reg: Register, number: float, decimal: bool, now_ms: int) -> str:
        """Count one payload; returns the decision ("" while undecided)."""
        if self.first_ms < 0:
            self.first_ms = now_ms
        if decimal:
            self.scaled += DECIMAL_VOTES
            self._example(f"{reg.index}={number:g} is a decimal")
        else:
            as_raw, as_scaled = _plausible(decode_value, reg, number), _plausible(scaled_value, reg, number)
            if as_raw and not as_scaled:
                self.raw += 1
                self._example(f"{reg.index}={number:g} is {_unit(number / reg.factor, reg)}, not {number:g}")
            elif as_scaled and not as_raw:
                self.scaled += 1
                self._example(f"{reg.index}={number:g} is {_unit(number, reg)}, not {number / reg.factor:g}")
        for side, other, name in ((self.raw, self.scaled, "raw"), (self.scaled, self.raw, "scaled")):
            if side >= VOTES_TO_DECIDE and side >= VOTES_TO_DECIDE * other:
                self.decided = name
        if not self.decided and now_ms - self.first_ms >= DECIDE_WITHIN_MS:
            self.decided, self.timed_out = "raw", True
        return self.decided

    def _example(self, text: str) -> None:
        if len(self.examples) < 3:
            self.examples.append(text)


def _unit(value: float, reg: Register) -> str:
    return f"{value:g} {reg.unit}" if reg.unit else f"{value:g}"


def _merged(a: Snapshot | None, b: Snapshot | None) -> Snapshot | None:
    if a is None or b is None:
        return a or b
    a.values.update(b.values)
    return a


def _plausible(decode, reg: Register, number: float) -> bool:  # type: ignore[no-untyped-def]
    try:
        decode(reg, number)
    except (BadValue, TypeError):
        return False
    return True


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
                 names: dict[str, str] | None = None, store_unknown: bool = False,
                 payload_scale: PayloadScale = "auto") -> None:
        self.provider = provider
        self.interval_ms = interval_ms
        self.silent_limit_ms = silent_limit_ms
        self.names = names or {}  # mac -> GATEWAY_NAME
        self.store_unknown = store_unknown
        self.payload_scale = payload_scale
        self.gateways: dict[str, GatewayValues] = {}
        self.guesses: dict[str, ScaleGuess] = {}  # mac -> auto mode's guess
        self.stats = MqttStats()
        self._warned: set[tuple[str, str, str]] = set()
        self._unknown_logged: set[str] = set()
        self._absent_logged: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ messages

    def accept(self, topic: str, payload: bytes, now_ms: int) -> Snapshot | None:
        """Take one message. Returns it as a one-field snapshot (for ``round`` mode) when it
        carried a valid value, else None. Never raises for bad input."""
        self.stats.messages += 1
        parts = topic.split("/")
        if len(parts) < 3 or parts[1] != "HP" or not parts[0]:
            return self._reject(parts[0], "-", "unexpected topic shape", topic)
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
        number: int | float
        if _INTEGER.fullmatch(text):
            number, decimal = int(text), False
        elif _DECIMAL.fullmatch(text):
            number, decimal = float(text), True  # already in real units ("54.0", "23.00")
        else:
            return self._reject(mac, idx, f"not a number ({text[:12]!r})")
        reg = self.provider.register(idx)
        if self.payload_scale != "auto" or reg is None or reg.factor == 1:
            return self._take(mac, {idx: number}, decimal or self.payload_scale == "scaled", now_ms)
        guess = self.guesses.setdefault(mac, ScaleGuess())
        if guess.decided:
            return self._take(mac, {idx: number}, decimal or guess.decided == "scaled", now_ms)
        # undecided: a decimal is scaled whatever integers mean; an integer waits for the decision
        out = self._take(mac, {idx: number}, True, now_ms) if decimal else None
        if not decimal:
            guess.held[idx] = int(number)
        if guess.vote(reg, number, decimal, now_ms):
            self._log_decision(mac, guess)
            held, guess.held = guess.held, {}
            out = _merged(out, self._take(mac, held, guess.decided == "scaled", now_ms))
        return out

    def _log_decision(self, mac: str, guess: ScaleGuess) -> None:
        if guess.timed_out:
            log.warning("MQTT gateway %s: no payload told within %d min whether its integers are raw or "
                        "scaled; taking them as raw (x10, like /api/alldata). Set MQTT_PAYLOAD_SCALE=raw "
                        "or scaled to say", mac, DECIDE_WITHIN_MS // 60_000)
            return
        how = "raw (x10, like /api/alldata)" if guess.decided == "raw" else "already scaled (real units)"
        log.info("MQTT gateway %s publishes %s integers: %s (MQTT_PAYLOAD_SCALE=auto, %d vote(s) to %d)",
                 mac, how, "; ".join(guess.examples), max(guess.raw, guess.scaled), min(guess.raw, guess.scaled))

    def _take(self, mac: str, numbers: Mapping[str, int | float], scaled: bool, now_ms: int) -> Snapshot | None:
        """Decode one message's number (or numbers held for auto mode) into the gateway's values."""
        decoded = self.provider.decode_poll(numbers, store_unknown=self.store_unknown, scaled=scaled)
        for idx in decoded.unknown:
            if idx not in self._unknown_logged:
                self._unknown_logged.add(idx)
                log.warning("Unknown register: %s (brand %s, gateway %s%s)", idx, self.provider.brand, mac,
                            "; stored as reg_" + idx if self.store_unknown else "")
        for idx, _, cause in decoded.rejected:
            self._reject(mac, idx, cause)
        if not decoded.values and not decoded.absent:
            if not decoded.rejected:
                self.stats.ignored += 1
            return None
        gw = self._gateway(mac, now_ms)
        for name in decoded.absent:
            gw.values.pop(name, None)  # sensor not installed: no value, not a reading
            if (mac, name) not in self._absent_logged:
                self._absent_logged.add((mac, name))
                log.info("Gateway %s: no sensor on %s (%s reads the 'not installed' value); not stored",
                         gw.name, name, self.provider.by_name(name).index)  # type: ignore[union-attr]  # its own
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

    def _reject(self, mac: str, idx: str, cause: str, topic: str = "") -> Snapshot | None:
        """Count and (once per gateway, register and kind) warn; nothing to store: None."""
        self.stats.rejected += 1
        key = (mac, idx, cause_kind(cause))
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
