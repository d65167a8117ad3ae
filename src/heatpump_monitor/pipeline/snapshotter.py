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

Whoever can publish to the broker can make up gateways, so everything kept per gateway is
bounded (issue 10):

* a gateway is **accepted** only from a topic ``<12 hex digits>/HP/<4 hex digits>``; with
  configured MACs (``H66_MAC``) only those; without, a gateway is discovered by its first
  message that is not retained (a retained message never adds a gateway), while fewer than
  ``max_gateways`` (``MQTT_MAX_GATEWAYS``) are known;
* messages of no accepted gateway are counted by cause and summed up in at most one warning
  a minute (:meth:`Snapshotter._refuse`), never remembered per made-up gateway;
* a discovered gateway silent for :data:`FORGET_AFTER_SILENT` times the silent limit is
  forgotten with all its state (values, scale guess, warnings given), which frees its place;
* per gateway at most :data:`MAX_WARNED` kinds of mistakes are warned, and at most the
  provider's registers plus :data:`MAX_UNKNOWN_STORED` unknown ones are held;
* the work per message is a few dictionary look-ups, whatever the number of gateways.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Literal, Mapping

from ..logs import cause_kind
from ..model import Snapshot
from ..providers import BadValue, Provider, Register, decode_value, normalize_index
from ..providers.registry import MAX_UNKNOWN_STORED, scaled_value

log = logging.getLogger("heatpump_monitor.mqtt")

MAX_PAYLOAD_BYTES = 32  # "4294967295" is 10 bytes; anything long is not a register value
IGNORED_TOPICS = {"CMD", "STATUS", "SET", "INFO", "LWT", "ONLINE", "AVAILABILITY"}
_MAC = re.compile(r"[0-9a-fA-F]{12}")  # a topic's first level: the gateway's MAC, nothing else
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

#: a discovered gateway silent this many times the silent limit is forgotten (frees its place)
FORGET_AFTER_SILENT = 2
#: messages of no accepted gateway: at most one warning line this often (the first at once)
REFUSED_EVERY_MS = 60_000
#: kinds of mistakes (register, cause) warned once each per gateway; further ones only counted
MAX_WARNED = 256
#: unknown registers named in the log (once each); further ones only counted
MAX_UNKNOWN_LOGGED = 256
#: characters of a topic shown in the log
SHOWN_TOPIC = 40

# why a message belongs to no accepted gateway (the summary line counts each)
BAD_TOPIC = "with a topic not <12 hex digits>/HP/<register>"
NOT_CONFIGURED = "from a gateway not in H66_MAC"
RETAINED = "retained from a gateway not seen yet"


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


def _shown(topic: str) -> str:
    """A topic for the log: quoted (control characters escaped) and cut short."""
    more = f" ({len(topic)} characters)" if len(topic) > SHOWN_TOPIC else ""
    return repr(topic[:SHOWN_TOPIC]) + more


@dataclass
class GatewayValues:
    """Everything kept for one accepted gateway (dropped together when it is forgotten)."""

    name: str  # the `gateway` tag
    values: dict[str, float] = field(default_factory=dict)
    last_seen_ms: int = 0  # its last value (or the moment it was accepted)
    silent: bool = False
    warned: set[tuple[str, str]] = field(default_factory=set)  # (register, kind of mistake) warned
    absent: set[str] = field(default_factory=set)  # registers said to have no sensor


@dataclass
class MqttStats:
    messages: int = 0
    accepted: int = 0
    rejected: int = 0  # bad messages, including the refused ones
    ignored: int = 0
    snapshots: int = 0
    refused: int = 0  # of no accepted gateway: bad topic, unknown, over MQTT_MAX_GATEWAYS


class Snapshotter:
    source = "mqtt"

    def __init__(self, provider: Provider, interval_ms: int, silent_limit_ms: int,
                 names: dict[str, str] | None = None, store_unknown: bool = False,
                 payload_scale: PayloadScale = "auto", macs: Iterable[str] = (),
                 max_gateways: int | None = None,
                 on_new_gateway: Callable[[str], None] | None = None) -> None:
        self.provider = provider
        self.interval_ms = interval_ms
        self.silent_limit_ms = silent_limit_ms
        self.names = names or {}  # mac -> GATEWAY_NAME
        self.store_unknown = store_unknown
        self.payload_scale = payload_scale
        #: the configured gateways (H66_MAC, lower case): only these are accepted; () = discover
        self.macs = tuple(macs)
        #: discovered gateways at most (MQTT_MAX_GATEWAYS; the MQTT collector always sets it)
        self.max_gateways = max_gateways
        #: called with the MAC of each gateway discovered (the source asks it for GETALL)
        self.on_new_gateway = on_new_gateway
        #: values held per gateway at most: every register of the provider and some unknown ones
        self.max_values = len(provider.registers) + MAX_UNKNOWN_STORED
        self.gateways: dict[str, GatewayValues] = {}
        self.guesses: dict[str, ScaleGuess] = {}  # mac -> auto mode's guess
        self.stats = MqttStats()
        self._unknown_logged: set[str] = set()
        self._refused: dict[str, int] = {}  # cause -> messages since the last line about them
        self._refused_example = ""
        self._refused_said_ms = -REFUSED_EVERY_MS  # the first refused message is said at once

    # ------------------------------------------------------------------ messages

    def accept(self, topic: str, payload: bytes, now_ms: int, retained: bool = False) -> Snapshot | None:
        """Take one message. Returns it as a one-field snapshot (for ``round`` mode) when it
        carried a valid value, else None. Never raises for bad input. ``retained``: the
        broker kept it from earlier (it never makes a new gateway known)."""
        self.stats.messages += 1
        parts = topic.split("/", 3)
        if len(parts) < 3 or parts[1] != "HP" or not _MAC.fullmatch(parts[0]):
            return self._refuse(BAD_TOPIC, topic, now_ms)
        mac = parts[0].lower()
        if len(parts) != 3 or parts[2].upper() in IGNORED_TOPICS:
            self.stats.ignored += 1  # commands (our own GETALL), status, writes: not readings
            return None
        idx = normalize_index(parts[2])
        if idx is None:
            return self._refuse(BAD_TOPIC, topic, now_ms)
        gw = self.gateways.get(mac)
        if gw is None:  # heard for the first time: accepted (its state made) or refused
            cause = self._refusal(mac, retained)
            if cause:
                return self._refuse(cause, topic, now_ms)
            gw = self._admit(mac, now_ms)
        if len(payload) > MAX_PAYLOAD_BYTES:
            return self._reject(gw, mac, idx, f"oversized payload ({len(payload)} bytes)")
        text = payload.decode("ascii", "replace").strip()
        if not text:
            return self._reject(gw, mac, idx, "empty payload")
        number: int | float
        if _INTEGER.fullmatch(text):
            number, decimal = int(text), False
        elif _DECIMAL.fullmatch(text):
            number, decimal = float(text), True  # already in real units ("54.0", "23.00")
        else:
            return self._reject(gw, mac, idx, f"not a number ({text[:12]!r})")
        reg = self.provider.register(idx)
        if self.payload_scale != "auto" or reg is None or reg.factor == 1:
            return self._take(gw, mac, {idx: number}, decimal or self.payload_scale == "scaled", now_ms)
        guess = self.guesses.setdefault(mac, ScaleGuess())
        if guess.decided:
            return self._take(gw, mac, {idx: number}, decimal or guess.decided == "scaled", now_ms)
        # undecided: a decimal is scaled whatever integers mean; an integer waits for the decision
        out = self._take(gw, mac, {idx: number}, True, now_ms) if decimal else None
        if not decimal:
            guess.held[idx] = int(number)
        if guess.vote(reg, number, decimal, now_ms):
            self._log_decision(mac, guess)
            held, guess.held = guess.held, {}
            out = _merged(out, self._take(gw, mac, held, guess.decided == "scaled", now_ms))
        return out

    def accept_values(self, mac: str, numbers: Mapping[str, int | float], now_ms: int,
                      scaled: bool = True) -> Snapshot | None:
        """Values of gateway ``mac`` that came another way than a topic (``import-upstream``
        reads them from the old collector's InfluxDB), taken at ``now_ms`` exactly as a message
        of that gateway would be: same acceptance of the gateway, decoding (``scaled``: already
        in real units), holding and silence rules. Returns what :meth:`accept` returns."""
        gw = self.gateways.get(mac)
        if gw is None:
            cause = self._refusal(mac, retained=False)
            if cause:
                return self._refuse(cause, mac, now_ms)
            gw = self._admit(mac, now_ms)
        return self._take(gw, mac, numbers, scaled, now_ms)

    def _refusal(self, mac: str, retained: bool) -> str:
        """Why a gateway heard for the first time is not accepted; "" when it is."""
        if self.macs:
            return "" if mac in self.macs else NOT_CONFIGURED
        if retained:
            return RETAINED
        if self.max_gateways is not None and len(self.gateways) >= self.max_gateways:
            return f"from gateways beyond MQTT_MAX_GATEWAYS={self.max_gateways}"
        return ""

    def _admit(self, mac: str, now_ms: int) -> GatewayValues:
        gw = self.gateways[mac] = GatewayValues(self.names.get(mac, mac), last_seen_ms=now_ms)
        log.info("Gateway %s seen on MQTT%s", mac, f" (stored as {gw.name})" if gw.name != mac else "")
        if not self.macs and self.on_new_gateway is not None:
            self.on_new_gateway(mac)
        return gw

    def _refuse(self, cause: str, topic: str, now_ms: int) -> Snapshot | None:
        """A message of no accepted gateway: counted by cause and summed up in one warning at
        most every :data:`REFUSED_EVERY_MS` (the first at once); nothing kept per gateway."""
        self.stats.rejected += 1
        self.stats.refused += 1
        self._refused[cause] = self._refused.get(cause, 0) + 1
        if not self._refused_example:
            self._refused_example = topic
        self._say_refused(now_ms)
        return None

    def _say_refused(self, now_ms: int) -> None:
        if not self._refused or now_ms - self._refused_said_ms < REFUSED_EVERY_MS:
            return
        causes = ", ".join(f"{n} {cause}" for cause, n in self._refused.items())
        log.warning("Refused %d MQTT message(s): %s (e.g. topic %s); refused messages are summed up at most "
                    "once a minute", sum(self._refused.values()), causes, _shown(self._refused_example))
        self._refused.clear()
        self._refused_example = ""
        self._refused_said_ms = now_ms

    def _log_decision(self, mac: str, guess: ScaleGuess) -> None:
        if guess.timed_out:
            log.warning("MQTT gateway %s: no payload told within %d min whether its integers are raw or "
                        "scaled; taking them as raw (x10, like /api/alldata). Set MQTT_PAYLOAD_SCALE=raw "
                        "or scaled to say", mac, DECIDE_WITHIN_MS // 60_000)
            return
        how = "raw (x10, like /api/alldata)" if guess.decided == "raw" else "already scaled (real units)"
        log.info("MQTT gateway %s publishes %s integers: %s (MQTT_PAYLOAD_SCALE=auto, %d vote(s) to %d)",
                 mac, how, "; ".join(guess.examples), max(guess.raw, guess.scaled), min(guess.raw, guess.scaled))

    def _take(self, gw: GatewayValues, mac: str, numbers: Mapping[str, int | float], scaled: bool,
              now_ms: int) -> Snapshot | None:
        """Decode one message's number (or numbers held for auto mode) into the gateway's values."""
        decoded = self.provider.decode_poll(numbers, store_unknown=self.store_unknown, scaled=scaled)
        for idx in decoded.unknown:
            if idx not in self._unknown_logged and len(self._unknown_logged) < MAX_UNKNOWN_LOGGED:
                self._unknown_logged.add(idx)
                log.warning("Unknown register: %s (brand %s, gateway %s%s)", idx, self.provider.brand, mac,
                            "; stored as reg_" + idx if self.store_unknown else "")
        for idx, _, cause in decoded.rejected:
            self._reject(gw, mac, idx, cause)
        if not decoded.values and not decoded.absent:
            if not decoded.rejected:
                self.stats.ignored += 1
            return None
        if gw.silent:
            log.warning("Gateway %s publishes again; snapshots resume", gw.name)
            gw.silent = False
        gw.last_seen_ms = now_ms
        for name in decoded.absent:
            gw.values.pop(name, None)  # sensor not installed: no value, not a reading
            if name not in gw.absent:
                gw.absent.add(name)
                log.info("Gateway %s: no sensor on %s (%s reads the 'not installed' value); not stored",
                         gw.name, name, self.provider.by_name(name).index)  # type: ignore[union-attr]  # its own
        values = decoded.values
        if len(gw.values) + len(values) > self.max_values:  # only unknown registers get this far
            values = {name: v for name, v in values.items() if name in gw.values}  # updates only
            for _ in decoded.values.keys() - values.keys():  # one warning per gateway, not per name
                self._reject(gw, mac, "reg_*", f"more than {self.max_values} registers from one gateway")
        if not values:
            self.stats.ignored += 1
            return None
        gw.values.update(values)
        self.stats.accepted += 1
        window = now_ms // self.interval_ms * self.interval_ms
        return Snapshot(gw.name, self.provider.brand, self.source, window, dict(values))

    def _reject(self, gw: GatewayValues, mac: str, idx: str, cause: str) -> Snapshot | None:
        """Count and (once per register and kind of mistake, for :data:`MAX_WARNED` kinds per
        gateway) warn; nothing to store: None."""
        self.stats.rejected += 1
        key = (idx, cause_kind(cause))
        if key not in gw.warned and len(gw.warned) <= MAX_WARNED:
            gw.warned.add(key)
            if len(gw.warned) > MAX_WARNED:
                log.warning("Gateway %s: more than %d kinds of bad messages; further ones are counted, not logged",
                            gw.name, MAX_WARNED)
            else:
                log.warning("Dropped MQTT message on register %s from %s: %s", idx, mac, cause)
        return None

    # ------------------------------------------------------------------ ticks

    def tick(self, tick_ms: int, now_ms: int) -> list[Snapshot]:
        """One snapshot per live gateway with every known value, stamped with the tick. Also
        forgets discovered gateways silent too long, and says what was refused meanwhile."""
        out = []
        forget_ms = FORGET_AFTER_SILENT * self.silent_limit_ms
        for mac, gw in list(self.gateways.items()):
            quiet = now_ms - gw.last_seen_ms
            if quiet > self.silent_limit_ms:
                if quiet > forget_ms and mac not in self.macs:
                    self._forget(mac, gw, quiet)
                elif not gw.silent:
                    gw.silent = True
                    log.warning("Gateway %s silent for %d s: no snapshots until it publishes again",
                                gw.name, quiet // 1000)
                continue
            if gw.values:
                out.append(Snapshot(gw.name, self.provider.brand, self.source, tick_ms, dict(gw.values)))
        self.stats.snapshots += len(out)
        self._say_refused(now_ms)
        return out

    def _forget(self, mac: str, gw: GatewayValues, quiet_ms: int) -> None:
        del self.gateways[mac]
        self.guesses.pop(mac, None)
        log.info("Gateway %s silent for %d s: forgotten (held values dropped, its place among MQTT_MAX_GATEWAYS "
                 "free); found again when it publishes", gw.name, quiet_ms // 1000)

    def silent_macs(self) -> list[str]:
        """Gateways gone silent, and configured ones never heard from: to be asked again."""
        macs = [mac for mac, gw in self.gateways.items() if gw.silent]
        return macs + [mac for mac in self.macs if mac not in self.gateways]

    def live_macs(self) -> list[str]:
        return [mac for mac, gw in self.gateways.items() if not gw.silent]
