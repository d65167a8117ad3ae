"""Summaries per local hour, day or period, and the event log, from any store's reader.

:class:`Summarizer` computes hour units (:mod:`.units`) from the stored snapshots and keeps the
closed ones, so a year of daily summaries reads the store only for hours it has not seen.
A cached hour is trusted while the gateway's stored snapshot count grows no faster than time
does (an import or replay into the past drops the gateway's cache).
"""

from __future__ import annotations

import re
import statistics
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Iterable, Literal, Sequence
from zoneinfo import ZoneInfo

from ..config import AnalyticsConfig
from ..providers import BRANDS, load_provider
from ..stores.base import GatewayInfo, Reader, ReaderError
from .prices import Prices
from .profile import Profile, Values, alarm_text, profile_for
from .units import Event, Stat, Unit, hour_units, walk

Resolution = Literal["hour", "day", "period"]
HOUR_MS = 3_600_000
#: read this far before the first hour asked for, to see when a run going on at its start began
LOOKBACK_MS = 6 * HOUR_MS
#: and this far after the last, to close its last span
LOOKAHEAD_MS = 10 * 60_000
#: an hour is cached once the gateway has data this long after its end
SETTLE_MS = 10 * 60_000
#: summaries cover at most this many local days per request
MAX_DAYS = 3700
#: "30d", "4w": a number of local days or weeks (the CLI's --since, the API's since=)
_DAYS = re.compile(r"\s*([0-9]{1,4})\s*([dw])\s*")


def parse_days(text: str, max_days: int = MAX_DAYS, what: str = "") -> int:
    """``30d`` -> 30, ``4w`` -> 28: the last N local days, today included; 1 to ``max_days``.
    ValueError with the one message both the CLI and the API show (``what``: "by hour"...)."""
    m = _DAYS.fullmatch(text)
    if not m:
        raise ValueError("expected days or weeks, e.g. 30d or 4w")
    days = int(m.group(1)) * (7 if m.group(2) == "w" else 1)
    if days < 1:
        raise ValueError("at least 1 day")
    if days > max_days:
        raise ValueError(f"at most {max_days} days" + (f" {what}" if what else ""))
    return days
#: cached hours per process at most (10 gateways x a year); the oldest gateway's are dropped
MAX_CACHED_UNITS = 100_000

#: the fields of a summary, in the CSV's column order
FIELDS = (
    "start", "end", "hours", "coverage", "unknown_h", "snapshots",
    "compressor_starts", "compressor_runtime_h", "compressor_runtime_pct", "starts_per_hour",
    "unknown_starts", "cycles", "cycle_mean_min", "cycle_median_min",
    "add_heat_h", "add_heat_kwh", "add_heat_share",
    "hot_water_h", "hot_water_cycles", "hot_water_cycle_min", "hot_water_gain_k",
    "outdoor_mean", "outdoor_min", "outdoor_max", "degree_minutes_mean", "degree_minutes_min",
    "energy_kwh", "energy_heating_kwh", "energy_hot_water_kwh", "energy_method",
    "heat_kwh", "heat_heating_kwh", "heat_hot_water_kwh", "cop", "cop_heating", "cop_hot_water",
    "price", "cost", "currency", "short_cycling", "short_cycling_hours", "counter_resets", "estimated",
)


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(x, nd)


@dataclass
class Period:
    start: datetime
    end: datetime
    units: list[Unit] = field(repr=False)
    values: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), **self.values}


#: the CSV's header (the CLI's --csv and the API's format=csv)
CSV_HEADER = ("gateway", "source", *FIELDS)


def gateway_doc(info: GatewayInfo, periods: Sequence[Period], config: AnalyticsConfig) -> dict[str, object]:
    """One gateway's summaries as JSON: the same object in the CLI's --json list and the API."""
    return {"gateway": info.gateway, "source": info.source, "brand": info.brand, "tz": str(config.tz),
            "currency": config.currency, "periods": [p.as_dict() for p in periods]}


def csv_row(info: GatewayInfo, period: Period) -> list[object]:
    """One period as a CSV row (CSV_HEADER's columns): unknown is empty, ``estimated`` joined by ;."""
    d = period.as_dict()
    cells: list[object] = [info.gateway, info.source]
    for f in FIELDS:
        v = d[f]
        cells.append("" if v is None else ";".join(v) if isinstance(v, list) else v)
    return cells


def summarize(units: Sequence[Unit], start: datetime, end: datetime, profile: Profile | None,
              prices: Prices, config: AnalyticsConfig) -> Period:
    """One period's figures from its hour units (None where unknown)."""
    known = sum(u.known_s for u in units)
    span_h = (end.timestamp() - start.timestamp()) / 3600.0  # real hours: 23 or 25 on DST days
    known_h = known / 3600.0
    n = sum(u.n for u in units)
    has = known > 0
    cycles = [c for u in units for c in u.cycles_min]
    hw = [c for u in units for c in u.hot_water_cycles]
    outdoor, dm = Stat(), Stat()
    for u in units:
        outdoor.merge(u.outdoor)
        dm.merge(u.degree_minutes)
    starts = sum(u.starts for u in units)
    runtime_h = sum(u.compressor_s for u in units) / 3600.0
    kwh_counter = sum(u.kwh_counter for u in units)
    kwh_power = sum(u.kwh_power for u in units)
    kwh_est = sum(u.kwh_estimate for u in units)
    kwh = kwh_counter + kwh_power + kwh_est
    kwh_hw = sum(u.kwh_hot_water for u in units)
    methods = [m for m, x in (("counter", kwh_counter), ("power", kwh_power), ("estimate", kwh_est)) if x > 0]
    energy_known = has and (methods or profile is not None)
    heat = [sum(u.heat_kwh[i] for u in units) for i in (0, 1)]
    cop_kwh = [sum(u.cop_kwh[i] for u in units) for i in (0, 1)]
    add_kwh = sum(u.add_heat_kwh for u in units)
    add_known = profile is not None and (profile.add_heat_kw or profile.add_heat_steps or profile.add_heat_percent
                                         or profile.add_heat_kwh)
    heat_measured = any(u.heat_measured for u in units)

    def cop(h: float, e: float) -> float | None:
        return h / e if e > 0.01 and h > 0 else None  # the upstream's 0.01 kWh floor

    busy_hours = [u for u in units if u.starts >= config.short_cycle_starts]
    median = statistics.median(cycles) if cycles else None
    if not has:
        short = None
    elif span_h <= 1.01:
        short = bool(busy_hours) and median is not None and median <= config.short_cycle_median_minutes
    else:
        short = (len(busy_hours) >= config.short_cycle_hours and median is not None
                 and median <= config.short_cycle_median_minutes)
    cost = sum(u.kwh * prices.mean(u.start_ms, u.end_ms) for u in units)
    estimated = []
    if energy_known and kwh_est > 0:
        estimated.append("energy_kwh")
    if add_known and any(u.add_heat_kwh_estimated for u in units):
        estimated.append("add_heat_kwh")
    if not heat_measured:
        estimated += ["heat_kwh", "cop"]
    if "energy_kwh" in estimated:
        estimated += [x for x in ("cop", "cost") if x not in estimated]
    values: dict[str, object] = {
        "hours": _r(span_h), "coverage": _r(known_h / span_h if span_h else None, 3),
        "unknown_h": _r(sum(u.unknown_s for u in units) / 3600.0), "snapshots": n,
        "compressor_starts": starts if has else None,
        "compressor_runtime_h": _r(runtime_h) if has else None,
        "compressor_runtime_pct": _r(100.0 * runtime_h / known_h, 1) if has else None,
        "starts_per_hour": _r(starts / known_h) if has else None,
        "unknown_starts": sum(u.unknown_changes for u in units) if has else None,
        "cycles": len(cycles) if has else None,
        "cycle_mean_min": _r(statistics.fmean(cycles), 1) if cycles else None,
        "cycle_median_min": _r(median, 1),
        "add_heat_h": _r(sum(u.add_heat_s for u in units) / 3600.0) if has and add_known else None,
        "add_heat_kwh": _r(add_kwh) if has and add_known else None,
        "add_heat_share": _r(add_kwh / (add_kwh + sum(heat)), 3) if has and add_known and add_kwh + sum(heat) > 0 else None,
        "hot_water_h": _r(sum(u.hot_water_s for u in units) / 3600.0) if has else None,
        "hot_water_cycles": len(hw) if has else None,
        "hot_water_cycle_min": _r(statistics.fmean(m for m, _ in hw), 1) if hw else None,
        "hot_water_gain_k": _r(statistics.fmean(g for _, g in hw if g is not None), 1)
        if any(g is not None for _, g in hw) else None,
        "outdoor_mean": _r(outdoor.mean, 1), "outdoor_min": _r(outdoor.min, 1), "outdoor_max": _r(outdoor.max, 1),
        "degree_minutes_mean": _r(dm.mean, 0), "degree_minutes_min": _r(dm.min, 0),
        "energy_kwh": _r(kwh) if energy_known else None,
        "energy_heating_kwh": _r(kwh - kwh_hw) if energy_known else None,
        "energy_hot_water_kwh": _r(kwh_hw) if energy_known else None,
        "energy_method": "+".join(methods) or None,
        "heat_kwh": _r(sum(heat)) if has and sum(heat) > 0 else None,
        "heat_heating_kwh": _r(heat[0]) if has and heat[0] > 0 else None,
        "heat_hot_water_kwh": _r(heat[1]) if has and heat[1] > 0 else None,
        "cop": _r(cop(sum(heat), sum(cop_kwh))),
        "cop_heating": _r(cop(heat[0], cop_kwh[0])),
        "cop_hot_water": _r(cop(heat[1], cop_kwh[1])),
        "price": _r(cost / kwh, 4) if energy_known and kwh > 0 else _r(prices.mean(units[0].start_ms, units[-1].end_ms), 4)
        if units else None,
        "cost": _r(cost) if energy_known else None,
        "currency": prices.currency,
        "short_cycling": short,
        "short_cycling_hours": len(busy_hours) if has else None,
        "counter_resets": sum(u.counter_resets for u in units),
        "estimated": estimated,
    }
    return Period(start, end, list(units), values)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _local(ms: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz)


@dataclass
class _GatewayCache:
    units: dict[tuple[int, int], Unit] = field(default_factory=dict)
    snapshots: int = 0
    last_ms: int = 0
    first_ms: int = 0


class Summarizer:
    """Summaries and events of the gateways in one store, per local hour, day or period.

    Thread-safe; one per store and configuration (the dashboard keeps one)."""

    def __init__(self, reader: Reader, config: AnalyticsConfig, prices: Prices) -> None:
        self.reader = reader
        self.config = config
        self.prices = prices
        self._cache: dict[tuple[str, str], _GatewayCache] = {}
        self._lock = threading.Lock()
        self.max_cached_units = MAX_CACHED_UNITS

    @property
    def cached_units(self) -> int:
        """Hours held in the cache, over every gateway."""
        with self._lock:
            return sum(len(c.units) for c in self._cache.values())

    # ------------------------------------------------------------------ periods

    def gateway(self, gateway: str, source: str | None = None) -> GatewayInfo | None:
        """The gateway's stored series (of ``source``; else the one with most snapshots)."""
        infos = [i for i in self.reader.gateways() if i.gateway == gateway and (source is None or i.source == source)]
        return max(infos, key=lambda i: i.snapshots) if infos else None

    def profile(self, info: GatewayInfo) -> Profile | None:
        brand = info.brand.lower()
        return profile_for(load_provider(brand), self.config) if brand in BRANDS else None

    def days(self, first: date, last: date) -> list[tuple[datetime, datetime]]:
        """Local days first..last (inclusive), each [midnight, next midnight)."""
        out = []
        d = first
        while d <= last:
            out.append((local_midnight(d, self.config.tz), local_midnight(d + timedelta(days=1), self.config.tz)))
            d += timedelta(days=1)
        return out

    def periods(self, info: GatewayInfo, first: date, last: date, by: Resolution = "day",
                now_ms: int | None = None) -> list[Period]:
        """Summaries of local days ``first``..``last`` by hour, day or as one period."""
        if (last - first).days + 1 > MAX_DAYS:
            raise ValueError(f"at most {MAX_DAYS} days at once")
        days = self.days(first, last)
        units = self.units(info, _ms(days[0][0]), _ms(days[-1][1]), now_ms)
        profile = self.profile(info)
        tz = self.config.tz

        def period(us: list[Unit], s: datetime, e: datetime) -> Period:
            return summarize(us, s, e, profile, self.prices, self.config)

        if by == "period":
            return [period(units, days[0][0], days[-1][1])]
        if by == "hour":
            return [period([u], _local(u.start_ms, tz), _local(u.end_ms, tz)) for u in units]
        out, i = [], 0
        for s, e in days:
            lo, hi = _ms(s), _ms(e)
            day_units = []
            while i < len(units) and units[i].start_ms < hi:
                if units[i].start_ms >= lo:
                    day_units.append(units[i])
                i += 1
            out.append(period(day_units, s, e))
        return out

    def events(self, info: GatewayInfo, start_ms: int, end_ms: int, now_ms: int | None = None) -> list[Event]:
        """Every event in [start, end), oldest first (of the local days the range meets)."""
        tz = self.config.tz
        first, last = _local(start_ms, tz).date(), _local(max(start_ms, end_ms - 1), tz).date()
        days = self.days(first, last)
        units = self.units(info, _ms(days[0][0]), _ms(days[-1][1]), now_ms)
        return [e for u in units for e in u.events if start_ms <= e.time_ms < end_ms]

    # ------------------------------------------------------------------ hour units

    def units(self, info: GatewayInfo, start_ms: int, end_ms: int, now_ms: int | None = None) -> list[Unit]:
        """The hour units of [start, end) (local midnights), from the cache where closed."""
        profile = self.profile(info)
        wanted = hour_units(start_ms, end_ms)
        # units wholly before the data or after it hold nothing: no need to read for them
        with self._lock:
            cache = self._valid_cache(info)
            out = [cache.units.get((u.start_ms, u.end_ms), u) for u in wanted]
        missing = [u for u in out if (u.start_ms, u.end_ms) not in cache.units
                   and u.end_ms > info.first_ms and u.start_ms <= info.last_ms]
        if missing and profile is not None:
            for run in _runs(missing):
                self._compute(info, run, profile)
        closed_before = info.last_ms - SETTLE_MS
        with self._lock:
            for u in out:
                # hours wholly before the data hold nothing and cost no read: not kept, so asking
                # for distant years cannot fill the cache
                if u.end_ms <= info.first_ms:
                    continue
                if u.end_ms <= closed_before and (u.start_ms, u.end_ms) not in cache.units:
                    cache.units[(u.start_ms, u.end_ms)] = u
            self._bound()
        return out

    def _compute(self, info: GatewayInfo, run: list[Unit], profile: Profile) -> None:
        lo, hi = run[0].start_ms, run[-1].end_ms
        provider = load_provider(info.brand.lower())

        snaps = self.reader.snapshots(info.gateway, lo - LOOKBACK_MS, hi + LOOKAHEAD_MS, info.source,
                                      fields=profile.fields)
        # the brand's alarm texts, as the alerts say them
        walk(run, snaps, _interval(info), profile, partial(alarm_text, profile, provider))

    def _valid_cache(self, info: GatewayInfo) -> _GatewayCache:
        key = (info.gateway, info.source)
        c = self._cache.get(key)
        if c is not None:
            grew = info.snapshots - c.snapshots
            elapsed_ticks = max(0, info.last_ms - c.last_ms) / _interval(info)
            # more snapshots than ticks since: some were written into the past (import, replay)
            if info.first_ms < c.first_ms or grew < 0 or grew > 1.5 * elapsed_ticks + 10:
                c = None
        if c is None:
            c = _GatewayCache()
        c.snapshots, c.last_ms, c.first_ms = info.snapshots, info.last_ms, info.first_ms
        self._cache[key] = c
        return c

    def _bound(self) -> None:
        while sum(len(c.units) for c in self._cache.values()) > self.max_cached_units and len(self._cache) > 1:
            self._cache.pop(next(iter(self._cache)))
        for c in self._cache.values():  # one gateway alone over the bound: its oldest hours go
            if len(c.units) > self.max_cached_units:
                for key in sorted(c.units)[:len(c.units) - self.max_cached_units]:
                    del c.units[key]


def _interval(info: GatewayInfo) -> int:
    """The gateway's interval: its span over its snapshots (at least 1 s)."""
    if info.snapshots > 1 and info.last_ms > info.first_ms:
        return max(1000, round((info.last_ms - info.first_ms) / (info.snapshots - 1)))
    return 30_000


def _runs(units: Iterable[Unit]) -> list[list[Unit]]:
    """Adjacent units grouped, so each group is read from the store in one go."""
    runs: list[list[Unit]] = []
    for u in units:
        if runs and runs[-1][-1].end_ms == u.start_ms:
            runs[-1].append(u)
        else:
            runs.append([u])
    return runs


def gateway_or_error(s: Summarizer, gateway: str, source: str | None = None) -> GatewayInfo:
    info = s.gateway(gateway, source)
    if info is None:
        raise ReaderError(f"no data for gateway {gateway!r}")
    return info
