"""The facts of one unit of time (an hour) of one gateway, computed from its snapshots in time
order: what every summary, KPI and event list is added up from.

Rules (README "Summaries" says them to users):

* Two snapshots are **consecutive** when at most 1.5 intervals apart (on the tick grid: no
  tick missed). The time between consecutive snapshots has the state of the first one
  ("sample and hold"); the time between others is **unknown**: neither running nor stopped.
* A **start** is compressor off -> on between consecutive snapshots, a **stop** on -> off. A
  change across a gap is not a start or stop: it is counted in ``unknown_changes``.
* A **cycle** is a run from a start to its stop; its length belongs to the hour it ended in.
  A run whose start was not seen (before a gap, or before the data) has no length.
* A **hot-water cycle** is the switch valve on hot water from one change to the next, both
  seen; runs shorter than HOT_WATER_MIN_CYCLE_MINUTES are noise and not cycles.
* **Energy**: the electric counters' increase where the brand has counters (a wrap is added
  back, a reset or an implausible jump counts nothing), else power x time, else an estimate
  (COMPRESSOR_KW while running + the add-on heater's kW); each kWh is spread over the time
  between the two snapshots it was measured between, so no hour gets another's energy.
* **Heat** (for the COP): the heat counters where the brand has them (measured), else flow
  factor x (forward - return) while the compressor runs above 100 W (estimated, the upstream's
  method); split heating / hot water by the switch valve.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from ..model import Snapshot
from .profile import MIN_RUNNING_W, Profile, Values

AlarmText = Callable[[Values], str]

#: gap rule: consecutive snapshots are at most this many intervals apart
CONSECUTIVE = 1.5
#: a counter increase above this many kW over the time it covers is a glitch, not energy
MAX_PLAUSIBLE_KW = 100.0


@dataclass(slots=True)
class Stat:
    n: int = 0
    total: float = 0.0
    min: float | None = None
    max: float | None = None

    def add(self, x: float) -> None:
        self.n += 1
        self.total += x
        self.min = x if self.min is None else min(self.min, x)
        self.max = x if self.max is None else max(self.max, x)

    def merge(self, o: "Stat") -> None:
        self.n += o.n
        self.total += o.total
        if o.min is not None:
            self.min = o.min if self.min is None else min(self.min, o.min)
        if o.max is not None:
            self.max = o.max if self.max is None else max(self.max, o.max)

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None


@dataclass(slots=True, frozen=True)
class Event:
    time_ms: int
    kind: str  # compressor_on/off, add_heat_on/off, hot_water_start/end, alarm_raised/cleared, gateway_silent/back
    duration_s: float | None = None  # of what ended (run, cycle, alarm, silence)
    text: str = ""  # alarm text, temperature gained...


@dataclass(slots=True)
class Unit:
    start_ms: int
    end_ms: int
    n: int = 0  # snapshots in the unit
    known_s: float = 0.0
    unknown_s: float = 0.0
    compressor_s: float = 0.0
    starts: int = 0
    unknown_changes: int = 0  # compressor state changed across a gap: start or stop unknown
    cycles_min: list[float] = field(default_factory=list)  # runs that ended here
    add_heat_s: float = 0.0
    hot_water_s: float = 0.0
    hot_water_cycles: list[tuple[float, float | None]] = field(default_factory=list)  # (min, K gained)
    outdoor: Stat = field(default_factory=Stat)
    degree_minutes: Stat = field(default_factory=Stat)
    # electricity, kWh, by how it is known
    kwh_counter: float = 0.0
    kwh_power: float = 0.0
    kwh_estimate: float = 0.0
    kwh_hot_water: float = 0.0  # of which while making hot water
    add_heat_kwh: float = 0.0
    add_heat_kwh_estimated: bool = False
    # heat (kWh) and the electricity it is compared with for the COP, heating / hot water
    heat_kwh: list[float] = field(default_factory=lambda: [0.0, 0.0])
    cop_kwh: list[float] = field(default_factory=lambda: [0.0, 0.0])
    heat_measured: bool = False
    counter_resets: int = 0
    events: list[Event] = field(default_factory=list)

    @property
    def kwh(self) -> float:
        return self.kwh_counter + self.kwh_power + self.kwh_estimate


def hour_units(start_ms: int, end_ms: int, hour_ms: int = 3_600_000) -> list[Unit]:
    """Units of (at most) one hour from ``start_ms`` (a local midnight or hour) to ``end_ms``."""
    return [Unit(t, min(t + hour_ms, end_ms)) for t in range(start_ms, end_ms, hour_ms)]


def _increase(name: str, a: float, b: float, hours: float, profile: Profile) -> tuple[float | None, bool]:
    """(kWh between two readings of counter ``name`` or None, whether it was a reset)."""
    limit = max(2.0, MAX_PLAUSIBLE_KW * hours)
    if b >= a:
        return (b - a, False) if b - a <= limit else (None, False)
    for top in profile.wraps.get(name, ()):
        if a < top and 0 <= b + top - a <= limit:
            return b + top - a, False  # wrapped past its largest value
    return None, True  # went down: the counter was reset (gateway or pump restart)


class _Walker:
    """Walks the snapshots of one gateway and source in time order, adding to ``units``."""

    def __init__(self, units: Sequence[Unit], interval_ms: int, profile: Profile, alarm_text: AlarmText) -> None:
        self.units = units
        self.starts = [u.start_ms for u in units]
        self.lo, self.hi = (units[0].start_ms, units[-1].end_ms) if units else (0, 0)
        self.interval_ms = interval_ms  # a hint until the snapshots' own spacing is seen
        self.recent: deque[int] = deque(maxlen=16)
        self.p = profile
        self.alarm_text = alarm_text
        self.run_start: int | None = None
        self.hw_start: int | None = None
        self.hw_from: float | None = None
        self.hw_peak: float | None = None
        self.alarm_since: int | None = None
        self.prev: Snapshot | None = None

    def unit_at(self, t: int) -> Unit | None:
        if not self.lo <= t < self.hi:
            return None
        return self.units[bisect.bisect_right(self.starts, t) - 1]

    def spread(self, t0: int, t1: int) -> Iterable[tuple[Unit, float]]:
        """(unit, seconds of [t0, t1) in it) for the units the span meets."""
        t0, t1 = max(t0, self.lo), min(t1, self.hi)
        if t0 >= t1:
            return
        i = bisect.bisect_right(self.starts, t0) - 1
        while i < len(self.units) and self.units[i].start_ms < t1:
            u = self.units[i]
            s = (min(t1, u.end_ms) - max(t0, u.start_ms)) / 1000.0
            if s > 0:
                yield u, s
            i += 1

    def event(self, t: int, kind: str, duration_s: float | None = None, text: str = "") -> None:
        u = self.unit_at(t)
        if u is not None:
            u.events.append(Event(t, kind, duration_s, text))

    def add(self, snap: Snapshot) -> None:
        v, t, p = snap.values, snap.time_ms, self.p
        u = self.unit_at(t)
        if u is not None:
            u.n += 1
            if p.outdoor and p.outdoor in v:
                u.outdoor.add(v[p.outdoor])
            if p.degree_minutes and p.degree_minutes in v:
                u.degree_minutes.add(v[p.degree_minutes])
        a = self.prev
        self.prev = snap
        if a is None:
            self._first(snap)
            return
        step = t - a.time_ms
        if self.recent:
            # the interval is the smallest recent step: on the tick grid every step is a whole
            # number of intervals, and the data may change interval over the years
            self.interval_ms = min(self.recent)
        if step > 0:
            self.recent.append(step)
        if step <= CONSECUTIVE * self.interval_ms:
            self._span(a, snap)
            self._changes(a, snap)
        else:
            self._gap(a, snap)

    def _first(self, b: Snapshot) -> None:
        # what was going on before the first snapshot is not known: its run has no start
        self.run_start = None
        self.hw_start = None
        self.alarm_since = b.time_ms if self.p.alarm_active(b.values) else None

    def _span(self, a: Snapshot, b: Snapshot) -> None:
        p, v = self.p, a.values
        t0, t1 = a.time_ms, b.time_ms
        hours = (t1 - t0) / 3_600_000
        on = p.on(v)
        hw = p.hot_water(v)
        add_kw = p.add_heat(v)
        power = v.get(p.power_w) if p.power_w else None
        counted = self._counters(p.electric_kwh, a, b, hours)
        heat_counted = self._counters(p.heat_kwh, a, b, hours)
        add_counted = self._counters(p.add_heat_kwh, a, b, hours)
        running = bool(on) and (power is None or power > MIN_RUNNING_W)
        heat_kw = p.heat_kw(v) if running else None
        total_s = (t1 - t0) / 1000.0
        for u, s in self.spread(t0, t1):
            share = s / total_s
            u.known_s += s
            if on:
                u.compressor_s += s
            if hw:
                u.hot_water_s += s
            if add_kw:
                u.add_heat_s += s
            if counted is not None:
                kwh = counted * share
                u.kwh_counter += kwh
            elif power is not None:
                kwh = power / 1000.0 * hours * share
                u.kwh_power += kwh
            else:
                kwh = ((p.config.compressor_kw if on else 0.0) + (add_kw or 0.0)) * hours * share
                u.kwh_estimate += kwh
            if hw:
                u.kwh_hot_water += kwh
            if add_counted is not None:
                u.add_heat_kwh += add_counted * share
            elif add_kw:
                u.add_heat_kwh += add_kw * hours * share
                u.add_heat_kwh_estimated = True
            mode = 1 if hw else 0
            if heat_counted is not None:
                u.heat_measured = True
                u.heat_kwh[mode] += heat_counted * share
                u.cop_kwh[mode] += kwh
            elif heat_kw is not None:
                u.heat_kwh[mode] += heat_kw * hours * share
                u.cop_kwh[mode] += kwh

    def _counters(self, names: tuple[str, ...], a: Snapshot, b: Snapshot, hours: float) -> float | None:
        """The summed increase of counters ``names`` from ``a`` to ``b``; None when one is
        missing or not to be trusted (then the next method tells the energy)."""
        if not names:
            return None
        total = 0.0
        for name in names:
            x, y = a.values.get(name), b.values.get(name)
            if x is None or y is None:
                return None
            inc, reset = _increase(name, x, y, hours, self.p)
            if inc is None:
                if reset and (u := self.unit_at(b.time_ms)) is not None:
                    u.counter_resets += 1
                return None
            total += inc
        return total

    def _changes(self, a: Snapshot, b: Snapshot) -> None:
        p, t = self.p, b.time_ms
        was, now = p.on(a.values), p.on(b.values)
        if was is False and now:
            if (u := self.unit_at(t)) is not None:
                u.starts += 1
            self.run_start = t
            self.event(t, "compressor_on")
        elif was and now is False:
            length = None if self.run_start is None else (t - self.run_start) / 1000.0
            if length is not None and (end := self.unit_at(t)) is not None:
                end.cycles_min.append(length / 60.0)
            self.run_start = None
            self.event(t, "compressor_off", length)
        ka, kb = p.add_heat(a.values), p.add_heat(b.values)
        if ka is not None and kb is not None and (ka > 0) != (kb > 0):
            self.event(t, "add_heat_on" if kb > 0 else "add_heat_off", text=f"{kb:g} kW" if kb > 0 else "")
        self._hot_water(a, b, t)
        self._alarm(b, t)

    def _hot_water(self, a: Snapshot, b: Snapshot, t: int) -> None:
        p = self.p
        ha, hb = p.hot_water(a.values), p.hot_water(b.values)
        temp = b.values.get(p.hot_water_temp) if p.hot_water_temp else None
        if hb and self.hw_peak is not None and temp is not None:
            self.hw_peak = max(self.hw_peak, temp)
        if not ha and hb:
            self.hw_start = t
            self.hw_from = a.values.get(p.hot_water_temp) if p.hot_water_temp else None
            self.hw_peak = temp
            self.event(t, "hot_water_start")
        elif ha and not hb:
            if self.hw_start is not None:
                minutes = (t - self.hw_start) / 60_000.0
                peak = max((x for x in (self.hw_peak, temp) if x is not None), default=None)
                gain = None if self.hw_from is None or peak is None else peak - self.hw_from
                if minutes >= p.config.hot_water_min_cycle_minutes and (u := self.unit_at(t)) is not None:
                    u.hot_water_cycles.append((minutes, gain))
                self.event(t, "hot_water_end", minutes * 60.0, "" if gain is None else f"+{gain:.1f} K")
            self.hw_start = None

    def _alarm(self, b: Snapshot, t: int) -> None:
        active = self.p.alarm_active(b.values)
        if active is None:
            return
        if active and self.alarm_since is None:
            self.alarm_since = t
            self.event(t, "alarm_raised", text=self.alarm_text(b.values))
        elif not active and self.alarm_since is not None:
            self.event(t, "alarm_cleared", (t - self.alarm_since) / 1000.0)
            self.alarm_since = None

    def _gap(self, a: Snapshot, b: Snapshot) -> None:
        p = self.p
        for u, s in self.spread(a.time_ms, b.time_ms):
            u.unknown_s += s
        silent_at = a.time_ms + self.interval_ms
        self.event(silent_at, "gateway_silent")
        self.event(b.time_ms, "gateway_back", (b.time_ms - silent_at) / 1000.0)
        # energy counters measured the gap too: their increase is spread over it
        hours = (b.time_ms - a.time_ms) / 3_600_000
        counted = self._counters(p.electric_kwh, a, b, hours)
        if counted is not None:
            total_s = (b.time_ms - a.time_ms) / 1000.0
            for u, s in self.spread(a.time_ms, b.time_ms):
                u.kwh_counter += counted * s / total_s
        was, now = p.on(a.values), p.on(b.values)
        if was is not None and now is not None and was != now and (at := self.unit_at(b.time_ms)) is not None:
            at.unknown_changes += 1
        # runs and charges that crossed the gap have unknown starts
        self.run_start = None
        self.hw_start = None
        self._alarm(b, b.time_ms)


def walk(units: Sequence[Unit], snapshots: Iterable[Snapshot], interval_ms: int, profile: Profile,
         alarm_text: AlarmText = lambda values: "alarm") -> Sequence[Unit]:
    """Add ``snapshots`` (one gateway and source, time order; may start before the first unit
    and end after the last, to see the runs and spans crossing their edges) into ``units``."""
    w = _Walker(units, interval_ms, profile, alarm_text)
    for snap in snapshots:
        w.add(snap)
    return units
