"""Test definitions beyond production's (a ratio, a counter's increase, a weighted linear one),
registered in DERIVED only while a test needs them, the data they are checked on, and the
hand computation every store must match (per snapshot, previous = the snapshot before it of
the same gateway and source)."""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import pytest

from heatpump_monitor.derived import DERIVED, Derived, increase, ratio
from heatpump_monitor.model import Snapshot

T0 = 1764324000000  # 2025-11-28T10:00:00Z, a multiple of 10 minutes
I = 30_000
H = 3_600_000
DAY = 24 * H
RESET = 3000  # the counter restarts at this poll


def _mix(values, previous=None):
    a, b, c = values.get("heat_power"), values.get("electric_power"), values.get("outdoor_temp")
    return None if a is None or b is None or c is None else 0.5 * a + 0.25 * b - c


EXTRA = {d.name: d for d in (
    ratio("test_cop", "heat_power", "electric_power", "", "heat / electricity"),
    increase("test_starts", "compressor_starts", "", "compressor starts"),
    Derived("test_mix", "", "a weighted sum", ("heat_power", "electric_power", "outdoor_temp"),
            "0.5 heat + 0.25 electric - outdoor", _mix,
            terms=(("heat_power", 0.5), ("electric_power", 0.25), ("outdoor_temp", -1.0))),
)}
FIELDS = ["outdoor_temp", "test_cop", "test_starts", "test_mix", "delta_t_radiator"]


@contextmanager
def registered(definitions: dict[str, Derived] = EXTRA) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for name, d in definitions.items():
            mp.setitem(DERIVED, name, d)
        yield


def values_at(i: int, counter_gap: bool) -> dict[str, float]:
    """Exactly representable values; power 0 every 9th poll, no heat every 11th."""
    v = {
        "outdoor_temp": (i % 37) * 0.25 - 3.0,
        "radiator_forward": 30.0 + (i % 11) * 0.5,
        "radiator_return": 25.0 + (i % 7) * 0.25,
        "heat_power": 3.0 + (i % 5) * 0.5,
        "electric_power": (i % 9) * 0.25,
        "compressor_starts": float(i // 7 if i < RESET else (i - RESET) // 5),
    }
    if i % 11 == 0:
        del v["heat_power"]
    if counter_gap and i % 500 == 3:  # a snapshot without the counter (the embedded store's test)
        del v["compressor_starts"]
    return v


OUTAGE = (T0 + 20 * H + 4 * 60_000, T0 + 23 * H + 11 * 60_000)


def two_days(counter_gap: bool = True) -> list[Snapshot]:
    out = []
    for i in range(2 * DAY // I):
        t = T0 + i * I
        if OUTAGE[0] <= t < OUTAGE[1]:
            continue
        out.append(Snapshot("gw", "thermia", "api", t, values_at(i, counter_gap)))
        if i % 4 == 0:  # a second source with its own counter, off the api grid
            out.append(Snapshot("gw", "thermia", "mqtt", t + 7_000,
                                {"compressor_starts": float(1000 + i // 3), "outdoor_temp": 1.0}))
    return out


def expected(snaps, fields, start, end, origin, bucket, definitions=EXTRA):
    """Per bucket with a snapshot in [start, end), per field: [n, min, max, sum]."""
    defs = {**DERIVED, **definitions}
    out: dict[int, dict[str, list]] = {}
    previous: dict[tuple[str, str], dict] = {}
    for s in sorted(snaps, key=lambda s: (s.gateway, s.source, s.time_ms)):
        before = previous.get((s.gateway, s.source))
        previous[(s.gateway, s.source)] = s.values
        if not start <= s.time_ms < end:
            continue
        per = out.setdefault((s.time_ms - origin) // bucket, {})
        for f in fields:
            x = defs[f].compute(s.values, before) if f in defs else s.values.get(f)
            if x is None:
                continue
            acc = per.setdefault(f, [0, math.inf, -math.inf, 0.0])
            acc[0] += 1
            acc[1], acc[2] = min(acc[1], x), max(acc[2], x)
            acc[3] += x
    return out


def assert_matches(series, snaps, start, end, origin, bucket):
    exp = expected(snaps, [s.field for s in series], start, end, origin, bucket)
    keys = sorted(exp)
    assert keys, "no data: the comparison would prove nothing"
    for s in series:
        assert s.t == [max(start, origin + k * bucket) for k in keys], s.field
        for j, k in enumerate(keys):
            acc = exp[k].get(s.field)
            if acc is None:
                assert (s.min[j], s.max[j], s.mean[j]) == (None, None, None), (s.field, k)
            else:
                assert (s.min[j], s.max[j]) == (acc[1], acc[2]), (s.field, k)
                assert s.mean[j] == pytest.approx(acc[3] / acc[0], rel=1e-12, abs=1e-12), (s.field, k)
