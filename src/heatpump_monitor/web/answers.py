"""The answers of ``/api/v1``, built from the store's reads as the models of :mod:`.models`.
Every function runs in a worker thread (they call the store)."""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

from ..derived import DERIVED, derive_all
from ..model import Snapshot, iso_ms
from ..stores.base import bucket_plan
from .alarms import alarm_since, alarm_state
from .catalog import derived_entry, field_catalog, load_or_none
from .errors import ApiError
from .models import AlarmOut, GatewayOut, GatewaysOut, LatestOut, Number, SeriesItemOut, SeriesOut
from .params import parse_fields, parse_source
from .store import GatewayEntry, Store


def gateway_out(e: GatewayEntry) -> GatewayOut:
    provider = load_or_none(e.brand)
    return GatewayOut(
        gateway=e.gateway,
        brand=e.brand,
        title=provider.title if provider else e.brand,
        sources=list(e.sources),
        first=iso_ms(e.first_ms),
        first_ms=e.first_ms,
        last=iso_ms(e.last_ms),
        last_ms=e.last_ms,
        snapshots=e.snapshots,
    )


def gateways(store: Store, clock: Callable[[], float]) -> GatewaysOut:
    entries = store.entries()
    return GatewaysOut(server_time_ms=int(clock() * 1000), gateways=[gateway_out(e) for e in entries])


def latest(store: Store, gateway: str, source: str | None, stale_after_s: float | None,
           clock: Callable[[], float]) -> LatestOut:
    entry = store.entry(gateway)
    source = parse_source(source, entry)
    snap: Snapshot | None = store.call("latest", gateway, source)
    if snap is None:
        raise ApiError(404, f"no snapshot of gateway {gateway!r}" + (f" from source {source!r}" if source else ""))
    provider = load_or_none(snap.brand) or load_or_none(entry.brand)
    now = int(clock() * 1000)
    values = {k: n for k, v in with_derived(snap.values).items() if (n := _num(v)) is not None}
    units: dict[str, str] = {}
    texts: dict[str, str] = {}
    if provider is not None:
        for reg in provider.registers.values():
            if reg.name in values:
                if reg.unit:
                    units[reg.name] = reg.unit
                t = reg.text(values[reg.name])
                if t is not None:
                    texts[reg.name] = t
    for name, definition in DERIVED.items():
        if name in values and definition.unit:
            units[name] = definition.unit
    alarm = alarm_state(provider, snap.values)
    since_ms, exact = None, False
    field, value = alarm.field, alarm.value
    if alarm.active and field is not None and value is not None:
        since_ms, exact = store.cached(("since", gateway, source, field, value), 60, lambda: alarm_since(
            store, gateway, source, field, value, snap.time_ms))
    stale_after = stale_after_s if stale_after_s is not None else auto_stale_after_s(entry)
    age_s = max(0.0, (now - snap.time_ms) / 1000)
    return LatestOut(
        gateway=snap.gateway,
        brand=snap.brand,
        title=provider.title if provider else snap.brand,
        source=snap.source,
        time=snap.iso_time,
        time_ms=snap.time_ms,
        server_time_ms=now,
        age_s=round(age_s, 3),
        stale_after_s=stale_after,
        stale=age_s > stale_after,
        values=values,
        units=units,
        texts=texts,
        alarm=AlarmOut(
            active=alarm.active,
            field=alarm.field,
            code=alarm.code,
            text=alarm.text,
            last_text=alarm.last_text,
            since=iso_ms(since_ms) if since_ms is not None else None,
            since_ms=since_ms,
            since_exact=exact if since_ms is not None else None,
        ),
    )


def with_derived(values: Mapping[str, float]) -> dict[str, float]:
    """The snapshot's values and, after them, its derived values (a register of the same name
    wins). One snapshot, no previous one: derived values that need it (a counter's
    increase) are absent."""
    out = dict(values)
    for name, v in derive_all(values).items():
        out.setdefault(name, v)
    return out


def series(store: Store, gateway: str, fields_param: str, start_ms: int, end_ms: int, points: int,
           source: str | None, budget_s: float | None = None) -> SeriesOut:
    entry = store.entry(gateway)
    fields = parse_fields(fields_param, entry)
    source = parse_source(source, entry)
    result = store.call("series", gateway, fields, start_ms, end_ms, points, source, heavy=True, budget_s=budget_s)
    bucket_ms = max(1, bucket_plan(start_ms, end_ms, points)[1])
    interval = poll_interval_ms(store, entry)
    catalog = field_catalog(entry.brand)
    by_field = {s.field: s for s in result}
    out = []
    for f in fields:
        s = by_field.get(f)
        t = list(s.t) if s else []
        mean, lo, hi = (_rounded(s.mean), _rounded(s.min), _rounded(s.max)) if s else ([], [], [])
        # points where the field itself has no value (another field had one) are left out
        keep = [i for i in range(len(t)) if mean[i] is not None or lo[i] is not None]
        if len(keep) != len(t):
            t, mean, lo, hi = ([a[i] for i in keep] for a in (t, mean, lo, hi))
        diffs = sorted(b - a for a, b in zip(t, t[1:]) if b > a)
        median = diffs[len(diffs) // 2] if diffs else bucket_ms
        meta = catalog.get(f) or (derived_entry(DERIVED[f]) if f in DERIVED else {})  # derived: inputs missing
        out.append(SeriesItemOut(
            field=f,
            unit=meta.get("unit", ""),
            kind=meta.get("kind", ""),
            # two neighbours further apart than this have missing data between them
            gap_ms=int(max(interval + bucket_ms, 1.5 * median)),
            t=t, mean=mean, min=lo, max=hi,
        ))
    return SeriesOut(
        gateway=gateway,
        brand=entry.brand,
        source=source,
        start=iso_ms(start_ms),
        end=iso_ms(end_ms),
        start_ms=start_ms,
        end_ms=end_ms,
        points=points,
        bucket_ms=bucket_ms,
        interval_ms=interval,
        series=out,
    )


def auto_stale_after_s(entry: GatewayEntry) -> float:
    """Three poll intervals, at least 90 s, at most 3 h."""
    return float(min(3 * 3600, max(90, 3 * entry.interval_ms / 1000)))


def poll_interval_ms(store: Store, entry: GatewayEntry) -> int:
    """The usual time between a gateway's snapshots: median gap of its latest ones."""
    def compute() -> int:
        guess = entry.interval_ms
        start = max(entry.first_ms, entry.last_ms - 60 * guess)
        times = sorted({s.time_ms for s in store.call("snapshots", entry.gateway, start, entry.last_ms + 1)})
        diffs = sorted(b - a for a, b in zip(times, times[1:]) if b > a)
        return diffs[len(diffs) // 2] if diffs else guess
    return store.cached(("interval", entry.gateway), 300, compute)


def _num(x: Any) -> Number | None:
    """A finite value, three decimals, whole ones as int (``38``, not ``38.0``)."""
    if x is None or isinstance(x, bool):
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    r = round(f, 3)
    return int(r) if r == int(r) and abs(r) < 1e15 else r


def _rounded(values: Sequence[float | None]) -> list[float | None]:
    """Three decimals (the registers have one or two; means need no more); fast path."""
    return [None if v is None else round(v, 3) for v in values]
