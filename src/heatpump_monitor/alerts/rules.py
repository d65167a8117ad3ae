"""The rules engine: snapshots (and the clock) in, notices out. A pure library: it neither
sends nor stores snapshots; the collector feeds it what it stores and hands the notices to
delivery; :class:`~.state.AlertStore` (optional) keeps the active alerts across restarts.

Every rule turns what it sees into a :class:`Reading`: *bad* (the condition holds), *clear*
(it is over, with the rule's hysteresis) or neither (inside the hysteresis band: nothing
changes), or None (no evidence: a register missing, the compressor stopped). One small state
machine per gateway and rule then decides:

* not active, bad for ``minutes`` in a row -> **fired** (``since_ms`` = when it became bad);
* active, clear -> **resolved**; active and not clear -> a **reminder** every
  ``reminder_hours`` (from :meth:`AlertEngine.observe` and :meth:`AlertEngine.tick`).

A value hovering at the threshold therefore fires once and resolves only once it is past the
threshold by the hysteresis: no flapping.
"""

from __future__ import annotations

import bisect
import logging
import statistics
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable, Iterable, Literal
from zoneinfo import ZoneInfo

from ..analytics.profile import Profile, alarm_text, profile_for
from ..config import AnalyticsConfig
from ..derived import DERIVED
from ..model import Snapshot
from ..providers import Provider, ProviderError, load_provider
from .settings import AlertSettings

if TYPE_CHECKING:
    from .state import AlertStore

log = logging.getLogger(__name__)

Kind = Literal["fired", "resolved", "reminder"]
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
#: registers remembered per gateway for the missing-sensor rule (a brand has ~100; a gateway
#: sending made-up names must not grow memory without end)
MAX_REGISTERS = 1024
#: starts and cycles remembered per gateway (a week-long window at one start a minute)
MAX_EVENTS = 10_000
BRINE = DERIVED["delta_t_brine"]
#: the "gateway" of the collector's own alerts (store, spool) unless the caller names it
COLLECTOR = "collector"


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing to tell the owner. ``value``/``threshold`` are in the rule's unit (°C, K, kW,
    minutes, busy hours, missing registers); ``alarm_text`` is the brand's alarm text, the
    missing registers' names or the short-cycling details."""

    gateway: str
    rule: str
    kind: Kind
    since_ms: int
    time_ms: int
    value: float | None
    threshold: float | None
    alarm_text: str = ""

    @property
    def key(self) -> str:
        """Dedup key: one alert per gateway and rule (a delivery retry carries the same key)."""
        return f"{self.gateway}|{self.rule}"


@dataclass(frozen=True, slots=True)
class Reading:
    bad: bool
    clear: bool
    value: float | None
    threshold: float | None
    text: str = ""


@dataclass(slots=True)
class _Active:
    since_ms: int
    last_notice_ms: int
    value: float | None
    threshold: float | None
    text: str


@dataclass(slots=True)
class _Track:
    pending_ms: int | None = None
    active: _Active | None = None


@dataclass(slots=True)
class _Gateway:
    tracks: dict[str, _Track] = field(default_factory=dict)
    last_seen_ms: int | None = None  # newest snapshot (or when watching began)
    last_time_ms: int | None = None  # newest snapshot evaluated
    first_ms: int | None = None  # first snapshot this engine saw
    on: bool | None = None
    run_start_ms: int | None = None
    starts: deque[int] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS))
    cycles: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS))
    seen: set[str] = field(default_factory=set)  # registers this gateway sent (at most MAX_REGISTERS)
    missing: dict[str, int] = field(default_factory=dict)  # register seen before -> snapshots in a row without it
    day: tuple[int, int] = (0, 0)  # today's local day [start, end) in ms, for the add-heat share
    add_kwh: float = 0.0  # today's add-heat energy, kWh
    heat_kwh: float = 0.0  # today's heat from the compressor (estimated) and the add-on heater, kWh

    def track(self, rule: str) -> _Track:
        return self.tracks.setdefault(rule, _Track())


BrandOf = Callable[[str], "Provider | None"]


class AlertEngine:
    """Per-gateway rule state. ``brand_of`` maps a snapshot's brand to its provider (the
    collector passes its providers, with the owner's ``registers:`` overrides applied);
    ``gateways`` are the configured ones, watched for silence from the first :meth:`tick`
    even if they never send a snapshot. Thread-safe."""

    def __init__(self, settings: AlertSettings, brand_of: BrandOf = load_provider, *,
                 store: AlertStore | None = None, analytics: AnalyticsConfig | None = None,
                 gateways: Iterable[str] = ()) -> None:
        self.settings = settings
        self.brand_of = brand_of
        self.store = store
        self.analytics = analytics or AnalyticsConfig(tz=ZoneInfo("UTC"))
        self._configured = tuple(dict.fromkeys(gateways))
        self._gateways: dict[str, _Gateway] = {}
        self._profiles: dict[str, Profile | None] = {}
        self._lock = threading.Lock()
        self._refused: set[str] = set()
        if store is not None:
            self._load(store)

    # -- public -----------------------------------------------------------------------------

    def observe(self, snap: Snapshot) -> list[Notice]:
        """Evaluate one stored snapshot; the notices it causes (already recorded in the store)."""
        with self._lock:
            gw = self._gateway(snap.gateway)
            if gw is None:
                return []
            out: list[Notice] = []
            t = snap.time_ms
            if gw.last_seen_ms is None or t > gw.last_seen_ms:
                gw.last_seen_ms = t
            self._silence_over(snap.gateway, gw, t, out)
            if gw.last_time_ms is not None and t <= gw.last_time_ms:
                # an older snapshot (a replay): rules look forward in time only
                return self._record(out)
            profile = self._profile(snap.brand)
            if profile is not None:
                self._rules(snap, gw, profile, out)
            gw.last_time_ms = t
            if gw.first_ms is None:
                gw.first_ms = t
            return self._record(out)

    def observe_store(self, now_ms: int, reachable: bool | None, spool_percent: float | None = None,
                      name: str = COLLECTOR) -> list[Notice]:
        """The collector's own state, once a tick: whether its last write reached the store
        (None: no write this tick) and how full the disk spool is (% of SPOOL_MAX_MB)."""
        with self._lock:
            gw = self._gateway(name)
            if gw is None:
                return []
            out: list[Notice] = []
            st, sp = self.settings.store_unreachable, self.settings.spool_filling
            if st.enabled:
                r = None if reachable is None else Reading(not reachable, reachable, None, st.minutes)
                tr = gw.track("store_unreachable")
                if r is not None and r.bad and tr.pending_ms is not None:
                    r = Reading(True, False, round((now_ms - tr.pending_ms) / MINUTE_MS, 1), st.minutes)
                if r is not None:  # a tick without a write neither counts nor clears
                    self._step(name, "store_unreachable", gw, r, now_ms, st.minutes * MINUTE_MS, out)
            if sp.enabled and spool_percent is not None:
                x = round(spool_percent, 1)
                r = Reading(x >= sp.above_percent, x <= sp.above_percent - sp.hysteresis_percent, x, sp.above_percent)
                self._step(name, "spool_filling", gw, r, now_ms, 0, out)
            return self._record(out)

    def observe_stored(self, now_ms: int, newest: dict[str, int]) -> list[Notice]:
        """The watcher's rule (``not_stored``): ``newest`` is each gateway's newest snapshot in
        the store. Fires when it is older than ``minutes`` (since: that snapshot), resolves
        when something newer arrives; a gateway silent ``forget_days`` is not watched (an
        active alert on it is dropped without a message: it was said, and reminded of)."""
        rule = self.settings.not_stored
        if not rule.enabled:
            return []
        with self._lock:
            out: list[Notice] = []
            forget_ms = rule.forget_days * 24 * HOUR_MS
            for name, last in newest.items():
                age_min = round((now_ms - last) / MINUTE_MS, 1)
                known = self._gateways.get(name)
                if now_ms - last > forget_ms:
                    tr = known.tracks.get("not_stored") if known is not None else None
                    if tr is not None and tr.active is not None:
                        log.info("alerts: %s stored nothing for %.0f days: no longer watched", name[:100], age_min / 1440)
                        tr.active = None
                        self._forget_active(name, "not_stored")
                    continue
                gw = self._gateway(name)
                if gw is None:
                    continue
                tr = gw.track("not_stored")
                if tr.active is None and age_min > rule.minutes:
                    tr.pending_ms = last
                    self._fire(name, "not_stored", tr, Reading(True, False, age_min, rule.minutes), now_ms, out)
                elif tr.active is not None and age_min <= rule.minutes:
                    self._resolve(name, "not_stored", tr, round((last - tr.active.since_ms) / MINUTE_MS, 1), now_ms, out)
                elif tr.active is not None:
                    tr.active.value = age_min
            return self._record(out)

    def tick(self, now_ms: int) -> list[Notice]:
        """Time-based rules (a silent gateway) and reminders of active alerts."""
        with self._lock:
            out: list[Notice] = []
            for name in self._configured:
                gw = self._gateway(name)
                if gw is not None and gw.last_seen_ms is None:
                    gw.last_seen_ms = now_ms  # silence counts from when watching began
            rule = self.settings.gateway_silent
            for name, gw in self._gateways.items():
                if rule.enabled and gw.last_seen_ms is not None:
                    silent_min = (now_ms - gw.last_seen_ms) / MINUTE_MS
                    tr = gw.track("gateway_silent")
                    if tr.active is None and silent_min > rule.minutes:
                        tr.pending_ms = gw.last_seen_ms
                        self._fire(name, "gateway_silent", tr,
                                   Reading(True, False, round(silent_min, 1), rule.minutes), now_ms, out)
                    elif tr.active is not None:
                        tr.active.value = round(silent_min, 1)
                for rule_id, tr in gw.tracks.items():
                    self._remind(name, rule_id, tr, now_ms, out)
            return self._record(out)

    def active(self) -> list[Notice]:
        """The active alerts, as their "fired" notices (for a dashboard or a health check)."""
        with self._lock:
            return [Notice(g, r, "fired", tr.active.since_ms, tr.active.last_notice_ms, tr.active.value,
                           tr.active.threshold, tr.active.text)
                    for g, gw in self._gateways.items() for r, tr in gw.tracks.items() if tr.active is not None]

    @property
    def tracked(self) -> int:
        return len(self._gateways)

    # -- state machine ----------------------------------------------------------------------

    def _step(self, gateway: str, rule: str, gw: _Gateway, reading: Reading | None, t: int,
              duration_ms: float, out: list[Notice]) -> None:
        tr = gw.track(rule)
        if reading is None:
            return  # no evidence (a register not in this snapshot): nothing changes
        if tr.active is None:
            if not reading.bad:
                tr.pending_ms = None
                return
            if tr.pending_ms is None:
                tr.pending_ms = t
            if t - tr.pending_ms >= duration_ms:
                self._fire(gateway, rule, tr, reading, t, out)
            return
        if reading.clear:
            self._resolve(gateway, rule, tr, reading.value, t, out)
            return
        if reading.bad and reading.text and reading.text != tr.active.text and rule == "alarm":
            # a different alarm while one is active: the owner must hear the new text
            self._resolve(gateway, rule, tr, tr.active.value, t, out)
            tr.pending_ms = t
            self._fire(gateway, rule, tr, reading, t, out)
            return
        if reading.bad:
            tr.active.value = reading.value
            if reading.text:
                tr.active.text = reading.text
        self._remind(gateway, rule, tr, t, out)

    def _fire(self, gateway: str, rule: str, tr: _Track, r: Reading, t: int, out: list[Notice]) -> None:
        since = tr.pending_ms if tr.pending_ms is not None else t
        tr.active = _Active(since, t, r.value, r.threshold, r.text)
        tr.pending_ms = None
        out.append(Notice(gateway, rule, "fired", since, t, r.value, r.threshold, r.text))

    def _resolve(self, gateway: str, rule: str, tr: _Track, value: float | None, t: int,
                 out: list[Notice]) -> None:
        a = tr.active
        if a is None:
            return
        out.append(Notice(gateway, rule, "resolved", a.since_ms, t, value, a.threshold, a.text))
        tr.active = None
        tr.pending_ms = None

    def _remind(self, gateway: str, rule: str, tr: _Track, t: int, out: list[Notice]) -> None:
        a = tr.active
        every_ms = self.settings.reminder_hours * HOUR_MS
        if a is None or every_ms <= 0 or t - a.last_notice_ms < every_ms:
            return
        a.last_notice_ms = t
        out.append(Notice(gateway, rule, "reminder", a.since_ms, t, a.value, a.threshold, a.text))

    def _silence_over(self, gateway: str, gw: _Gateway, t: int, out: list[Notice]) -> None:
        tr = gw.tracks.get("gateway_silent")
        if tr is not None and tr.active is not None:
            self._resolve(gateway, "gateway_silent", tr, round((t - tr.active.since_ms) / MINUTE_MS, 1), t, out)

    # -- the rules --------------------------------------------------------------------------

    def _rules(self, snap: Snapshot, gw: _Gateway, p: Profile, out: list[Notice]) -> None:
        s, v, t, g = self.settings, snap.values, snap.time_ms, snap.gateway
        self._cycles(gw, p, v, t)
        if s.alarm.enabled:
            self._step(g, "alarm", gw, self._alarm(snap.brand, p, v), t, 0, out)
        if s.add_heat.enabled:
            kw = p.add_heat(v)
            r = None if kw is None else Reading(kw > 0, kw <= 0, round(kw, 2), s.add_heat.minutes)
            self._step(g, "add_heat", gw, r, t, s.add_heat.minutes * MINUTE_MS, out)
        if s.add_heat_share.enabled:
            self._step(g, "add_heat_share", gw, self._add_heat_share(gw, p, v, t), t, 0, out)
        if s.hot_water.enabled:
            hw = s.hot_water
            x = v.get(p.hot_water_temp) if p.hot_water_temp else None
            r = None if x is None else Reading(x < hw.below_c, x >= hw.below_c + hw.hysteresis_k, x, hw.below_c)
            self._step(g, "hot_water", gw, r, t, hw.minutes * MINUTE_MS, out)
        if s.brine_delta_t.enabled:
            b = s.brine_delta_t
            d = BRINE.compute(v, None)
            # a stopped compressor moves no heat from the ground: neither bad nor clear (the
            # count starts again, but an active alert is not resolved by every stop)
            stopped = p.on(v) is False
            r = None if d is None else Reading(d > b.above_k and not stopped,
                                               d <= b.above_k - b.hysteresis_k and not stopped, round(d, 2), b.above_k)
            self._step(g, "brine_delta_t", gw, r, t, b.minutes * MINUTE_MS, out)
        if s.short_cycling.enabled:
            self._step(g, "short_cycling", gw, self._short_cycling(gw, t), t, 0, out)
        if s.sensor_missing.enabled:
            self._step(g, "sensor_missing", gw, self._missing(gw, v), t, 0, out)

    def _alarm(self, brand: str, p: Profile, v: dict[str, float]) -> Reading | None:
        active = p.alarm_active(v)
        if active is None:
            return None
        code = v.get(p.alarm_code) if p.alarm_code else None
        value = code if code is not None else (v.get(p.alarm) if p.alarm else None)
        return Reading(active, not active, value, None, alarm_text(p, self._provider(brand), v) if active else "")

    def _cycles(self, gw: _Gateway, p: Profile, v: dict[str, float], t: int) -> None:
        """Starts and cycle lengths, the summaries' way: a start is off -> on between two
        snapshots close together; a change across a silence is unknown, not a start."""
        on = p.on(v)
        if on is None:
            return
        close = gw.last_time_ms is not None and t - gw.last_time_ms <= self.settings.gateway_silent.minutes * MINUTE_MS
        if not close:
            gw.run_start_ms = None
        elif gw.on is False and on:
            gw.starts.append(t)
            gw.run_start_ms = t
        elif gw.on and not on and gw.run_start_ms is not None:
            gw.cycles.append((t, (t - gw.run_start_ms) / MINUTE_MS))
            gw.run_start_ms = None
        gw.on = on

    def _add_heat_share(self, gw: _Gateway, p: Profile, v: dict[str, float], t: int) -> Reading | None:
        """Today's add-heat kWh over all heat kWh, integrated snapshot by snapshot (the power
        now times the time since the last one; a gap longer than gateway_silent counts nothing,
        as the summaries count it unknown)."""
        rule = self.settings.add_heat_share
        if not gw.day[0] <= t < gw.day[1]:  # a new local day (its bounds computed once a day)
            tz = self.analytics.tz
            start = datetime.fromtimestamp(t / 1000, tz).replace(hour=0, minute=0, second=0, microsecond=0)
            end = start + timedelta(days=1)  # wall-clock arithmetic: the next local midnight (23 or 25 h at DST)
            gw.day = (int(start.timestamp() * 1000), int(end.timestamp() * 1000))
            gw.add_kwh = gw.heat_kwh = 0.0
        last = gw.last_time_ms
        if last is not None and 0 < t - last <= self.settings.gateway_silent.minutes * MINUTE_MS:
            hours = (t - last) / HOUR_MS
            add = p.add_heat(v) or 0.0
            heat = (p.heat_kw(v) or 0.0) if p.on(v) else 0.0
            gw.add_kwh += add * hours
            gw.heat_kwh += (heat + add) * hours
        if gw.heat_kwh < rule.min_kwh or gw.heat_kwh <= 0:
            return None
        share = round(100.0 * gw.add_kwh / gw.heat_kwh, 1)
        return Reading(share > rule.above_percent, share <= rule.above_percent - rule.hysteresis_percent,
                       share, rule.above_percent)

    def _short_cycling(self, gw: _Gateway, t: int) -> Reading | None:
        rule = self.settings.short_cycling
        lo = t - rule.window_hours * HOUR_MS
        while gw.starts and gw.starts[0] <= lo:
            gw.starts.popleft()
        while gw.cycles and gw.cycles[0][0] <= lo:
            gw.cycles.popleft()
        if gw.on is None:
            return None
        starts = list(gw.starts)
        # hours counted back from now: [t - (i+1) h, t - i h)
        busy = sum(1 for i in range(rule.window_hours)
                   if bisect.bisect_right(starts, t - i * HOUR_MS) - bisect.bisect_right(starts, t - (i + 1) * HOUR_MS)
                   >= rule.starts)
        cycles = [m for _, m in gw.cycles]
        median = statistics.median(cycles) if cycles else None
        bad = busy >= rule.hours and median is not None and median <= rule.median_minutes
        # resolved only over a whole window seen (after a restart the history is empty)
        seen_whole = gw.first_ms is not None and gw.first_ms <= lo
        text = f"median {median:.0f} min" if median is not None else ""
        return Reading(bad, busy == 0 and seen_whole, float(busy), float(rule.hours), text)

    def _missing(self, gw: _Gateway, v: dict[str, float]) -> Reading | None:
        if 2 * len(v) < len(gw.seen):
            # an empty or partial poll (MQTT_TIMESTAMP_MODE=round stores one message at a
            # time) is the gateway's trouble or the source's way, not a sensor's
            return None
        # set operations (in C): a poll with every register costs one difference, not a loop
        absent = gw.seen - v.keys()
        if gw.missing or absent:
            gw.missing = {n: gw.missing.get(n, 0) + 1 for n in absent}
        if len(gw.seen) < MAX_REGISTERS and not v.keys() <= gw.seen:
            gw.seen.update(list(v)[: MAX_REGISTERS - len(gw.seen)])
        ticks = self.settings.sensor_missing.ticks
        gone = sorted(n for n, c in gw.missing.items() if c >= ticks) if gw.missing else []
        return Reading(bool(gone), not gone, float(len(gone)), float(ticks), ", ".join(gone))

    # -- helpers ----------------------------------------------------------------------------

    def _gateway(self, name: str) -> _Gateway | None:
        gw = self._gateways.get(name)
        if gw is None:
            if len(self._gateways) >= self.settings.max_gateways:
                if name not in self._refused and len(self._refused) < 100:
                    self._refused.add(name)
                    log.warning("alerts: not watching gateway %r: %d gateways tracked already (max_gateways)",
                                name[:100], len(self._gateways))
                return None
            gw = self._gateways[name] = _Gateway()
        return gw

    def _provider(self, brand: str) -> Provider | None:
        try:
            return self.brand_of(brand.lower())
        except (ProviderError, KeyError, ValueError):
            return None

    def _profile(self, brand: str) -> Profile | None:
        key = brand.lower()
        if key not in self._profiles:
            provider = self._provider(key)
            if provider is None:
                log.warning("alerts: unknown brand %r: its snapshots are not checked", key[:40])
            self._profiles[key] = profile_for(provider, self.analytics) if provider is not None else None
        return self._profiles[key]

    def _forget_active(self, gateway: str, rule: str) -> None:
        if self.store is not None:
            self.store.forget(gateway, rule)

    def _record(self, out: list[Notice]) -> list[Notice]:
        if out and self.store is not None:
            self.store.apply(out)
        return out

    def _load(self, store: AlertStore) -> None:
        for a in store.active():
            gw = self._gateway(a.gateway)
            if gw is None:
                continue
            gw.track(a.rule).active = _Active(a.since_ms, a.last_notice_ms, a.value, a.threshold, a.text)
            if a.rule == "sensor_missing" and a.text:
                # still missing until a snapshot shows them again (else the first one resolves)
                for name in a.text.split(", ")[:MAX_REGISTERS]:
                    gw.seen.add(name)
                    gw.missing[name] = self.settings.sensor_missing.ticks
