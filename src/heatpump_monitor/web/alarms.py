"""Alarm state of a snapshot, and since when the current alarm lasts: what the overview's
alarm box and ``/api/v1/latest``'s ``alarm`` tell."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from ..providers import Provider

if TYPE_CHECKING:
    from .store import Store

ALARM_LOOKBACK_MS = 30 * 86_400_000


@dataclass(slots=True)
class AlarmState:
    field: str | None
    active: bool | None
    value: float | None
    code: int | None
    text: str
    last_text: str | None = None


def alarm_state(provider: Provider | None, values: Mapping[str, float]) -> AlarmState:
    """The alarm from the status register (IVT/Thermia ``alarm`` > 0) or, without one
    (NIBE), from the alarm number register (``alarm_code`` > 0)."""
    code_val = values.get("alarm_code")
    code = int(code_val) if code_val is not None and code_val == int(code_val) else None

    def text_of(c: int | None) -> str:
        if c is None:
            return "alarm"
        return provider.alarm_text(c) if provider is not None else (f"alarm {c}" if c else "no alarm")

    has_status = provider is not None and provider.by_name("alarm") is not None
    if has_status and "alarm" in values:
        active = values["alarm"] > 0
        if active:
            return AlarmState("alarm", True, values["alarm"], code, text_of(code) if code else "alarm")
        return AlarmState("alarm", False, values["alarm"], code, "no alarm",
                          last_text=text_of(code) if code else None)
    if code is not None:
        return AlarmState("alarm_code", code > 0, code_val, code, text_of(code))
    return AlarmState(None, None, None, None, "unknown (no alarm register in the data)")


def alarm_since(store: Store, gateway: str, source: str | None, field: str, value: float,
                latest_ms: int) -> tuple[int | None, bool]:
    """When the current alarm run began: (time ms, exact). Looks back ALARM_LOOKBACK_MS with
    series() (min/max per bucket), then reads the snapshots of the bucket where it changed."""
    if field == "alarm":
        def same(v: float | None) -> bool:
            return v is not None and v > 0
    else:
        def same(v: float | None) -> bool:
            return v is not None and v == value
    start = max(0, latest_ms - ALARM_LOOKBACK_MS)
    series = store.call("series", gateway, [field], start, latest_ms + 1, 2000, source)
    s = series[0] if series else None
    if s is None or not s.t:
        return latest_ms, False
    last_bad = None
    for i in range(len(s.t)):
        if not (same(s.min[i]) and same(s.max[i])):
            last_bad = i
    if last_bad is None:
        return s.t[0], False  # alarming for the whole look-back
    lo = s.t[last_bad]
    hi = s.t[last_bad + 1] if last_bad + 1 < len(s.t) else latest_ms + 1
    since = None
    for snap in store.call("snapshots", gateway, lo, max(hi, lo + 1), source):
        v = snap.values.get(field)
        if same(v):
            if since is None:
                since = snap.time_ms
        else:
            since = None
    if since is None:  # the run starts in a later bucket (rollup edges): its first time
        since = hi if hi <= latest_ms else latest_ms
    return since, True

