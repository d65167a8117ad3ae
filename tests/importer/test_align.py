"""The aligner on hand-made points: where a point falls relative to a tick, holding, silence,
forgetting, rescale, unknown ids, and a state that resumes exactly."""

from __future__ import annotations

import json

from heatpump_monitor.importer.align import Aligner
from heatpump_monitor.importer.source import Point
from heatpump_monitor.providers import load_provider

I = 30_000
T0 = 1767225600000


def aligner(**kw) -> Aligner:  # type: ignore[no-untyped-def]
    return Aligner(load_provider("thermia"), "gw", "import", I, 300_000, T0, **kw)


def run(a: Aligner, points: list[Point], end: int) -> dict[int, dict[str, float]]:
    out = {s.time_ms: s.values for s in a.feed(points)}
    out.update({s.time_ms: s.values for s in a.until(end)})
    return out


def test_a_point_on_a_tick_belongs_to_the_next_one():
    got = run(aligner(), [Point(T0 + I, "0007", -1.0), Point(T0 + I + 1, "0002", 30.0)], T0 + 3 * I)
    assert T0 + I not in got  # nothing before it yet
    assert got[T0 + 2 * I] == {"outdoor_temp": -1.0, "radiator_forward": 30.0}
    assert all(s.source == "import" and s.gateway == "gw" for s in aligner().until(T0))


def test_held_then_silent_then_forgotten():
    pts = [Point(T0 + 1, "0007", -1.0), Point(T0 + 2, "0205", 40.0)]
    pts += [Point(T0 + k * 60_000, "0007", -1.0 - k / 10) for k in range(1, 10)]  # until 9 min
    pts += [Point(T0 + 20 * 60_000, "0007", 5.0)]  # after 11 min of silence: forgotten
    got = run(aligner(), pts, T0 + 22 * 60_000)
    assert got[T0 + 9 * 60_000]["heat_curve"] == 40.0  # held 9 minutes after its one point
    last = T0 + 9 * 60_000
    assert [t for t in got if last + 300_000 < t <= T0 + 20 * 60_000] == []  # silent -> gap
    assert got[last + 300_000]  # exactly the limit: still there
    assert got[T0 + 21 * 60_000] == {"outdoor_temp": 5.0}  # the held curve was forgotten


def test_rescale_unknown_and_bad_points_are_counted():
    a = aligner(rescale={"5FAB": 0.5})
    pts = [Point(T0 + 1, "5FAB", 1000.0), Point(T0 + 2, "0A99", 1.0), Point(T0 + 3, "", 1.0),
           Point(T0 + 4, "0007", float("nan")), Point(T0 + 5, "0007", 500.0)]  # 500 C: implausible
    got = run(a, pts, T0 + 2 * I)
    assert got[T0 + I] == {"energy_kwh": 500.0}
    c = a.counts
    assert (c.points, c.taken, c.rescaled, c.unknown, c.bad, c.rejected) == (5, 2, 1, {"0A99": 1}, 2, 1)


def test_state_resumes_exactly():
    pts = [Point(T0 + k * 7_000, "0007" if k % 2 else "0002", float(k)) for k in range(200)]
    whole = run(aligner(), pts, T0 + 1_500_000)
    first = aligner()
    cut = T0 + 600_000
    part = run(first, [p for p in pts if p.time_ms < cut], cut)
    second = aligner()
    second.restore(json.loads(json.dumps(first.state())))
    part.update(run(second, [p for p in pts if p.time_ms >= cut], T0 + 1_500_000))
    assert part == whole and list(part) == list(whole)
    assert second.counts.points == 200
