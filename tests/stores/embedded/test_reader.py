"""EmbeddedReader.series over the sink's rollups: raw, 10-minute and hourly paths agree with a
hand computation, gaps stay gaps, derived fields are exact, the open bucket is read from the
snapshots until the next one closes it, rewrites/merges/late polls never count twice, batch
sizes and arrival order do not change a bit of the rollups, an old store gets its rollups on
open, and no span gives more than max_points buckets."""

from __future__ import annotations

import logging
import math
import random
import sqlite3

import pytest

from heatpump_monitor.model import Snapshot
from heatpump_monitor.stores.base import bucket_plan
from heatpump_monitor.stores.embedded import EmbeddedReader, EmbeddedSink
from heatpump_monitor.stores.embedded.schema import ROLLUP_BUCKET_MS, SCHEMA, UPSERT
from tests.stores.derived_data import assert_matches

R = ROLLUP_BUCKET_MS
T0 = 1764324000000  # 2025-11-28T10:00:00Z, a multiple of 10 minutes
I = 30_000
H = 3_600_000
DAY = 24 * H


def snap(t, gw="gw", source="api", **values):
    return Snapshot(gw, "thermia", source, t, values)


def values_at(i: int) -> dict[str, float]:
    """Exactly representable values (multiples of 1/4): sums are exact, whatever the order."""
    v = {
        "outdoor_temp": (i % 37) * 0.25 - 3.0,
        "radiator_forward": 30.0 + (i % 11) * 0.5,
        "radiator_return": 25.0 + (i % 7) * 0.25,
        "brine_in_evaporator": 2.0 + (i % 5) * 0.25,
        "brine_out_condenser": -1.0 + (i % 3) * 0.5,
    }
    if i % 13 == 0:  # sometimes without a return temperature: no delta_t_radiator there
        del v["radiator_return"]
    return v


# Two days of 30 s polls, with a 3 h 7 min outage and a missing single poll.
OUTAGE = (T0 + 20 * H + 4 * 60_000, T0 + 23 * H + 11 * 60_000)


def two_days() -> list[Snapshot]:
    out = []
    for i in range(2 * DAY // I):
        t = T0 + i * I
        if OUTAGE[0] <= t < OUTAGE[1] or i == 1000:
            continue
        out.append(snap(t, **values_at(i)))
    return out


FIELDS = ["outdoor_temp", "radiator_forward", "radiator_return", "delta_t_radiator", "delta_t_brine"]


@pytest.fixture(scope="module")
def two_day_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("series") / "s.sqlite3"
    snaps = two_days()
    sink = EmbeddedSink(path)
    for k in range(0, len(snaps), 500):  # several batches, like a collector's writes
        sink.write_sync(snaps[k:k + 500])
    return path, snaps


# -- raw path vs rollup path --------------------------------------------------------------


@pytest.mark.parametrize("bucket,start", [
    (R, T0 + 7 * 60_000 + 13_000),  # 10-minute rollup, partial 10 minutes from the snapshots
    (3 * R, T0 + 7 * 60_000 + 13_000),
    (6 * R, T0 + 25 * 60_000),  # hour-sized buckets off the hour grid: 10-minute rollup only
    (6 * R, T0 + 7 * 60_000 + 13_000),  # hourly rollup + 10-minute rollup + snapshots at the ends
    (18 * R, T0 + 57 * 60_000 + 1),
])
def test_raw_and_rollup_paths_agree_with_hand_computation(two_day_store, bucket, start):
    path, snaps = two_day_store
    reader = EmbeddedReader(path)
    end = T0 + 2 * DAY - 4 * 60_000 - 30_000  # unaligned too
    origin = start // R * R
    raw = reader._series("gw", FIELDS, start, end, origin, bucket, None, use_rollup=False)
    rolled = reader._series("gw", FIELDS, start, end, origin, bucket, None, use_rollup=True)
    assert_matches(raw, snaps, start, end, origin, bucket)
    assert_matches(rolled, snaps, start, end, origin, bucket)
    for a, b in zip(raw, rolled):
        assert (a.t, a.min, a.max) == (b.t, b.min, b.max)
        assert a.mean == pytest.approx(b.mean, rel=1e-12)


def test_public_series_raw_path_matches_hand_computation(two_day_store):
    path, snaps = two_day_store
    start, end = T0 + 19 * H + 17_000, T0 + 25 * H  # 6 h around the outage: raw path (~14.4 s buckets)
    series = EmbeddedReader(path).series("gw", FIELDS, start, end, max_points=1500)
    origin, bucket = bucket_plan(start, end, 1500)
    assert origin == start and bucket == 14_389  # ceil((6 h - 17 s) / 1500)
    assert_matches(series, snaps, start, end, origin, bucket)


def test_public_series_picks_hourly_rollup_10_minute_rollup_or_snapshots_by_bucket(tmp_path):
    path = tmp_path / "s.sqlite3"
    EmbeddedSink(path).write_sync([snap(T0 + i * I, outdoor_temp=float(i % 50)) for i in range(4 * DAY // I)])
    # tamper with one bucket of each rollup: only a read of that table can see it
    with sqlite3.connect(path) as db:
        db.execute("UPDATE rollup SET vmax = 999 WHERE field = 'outdoor_temp' AND bucket_ms = ?", (T0 + 2 * DAY,))
        db.execute("UPDATE rollup_1h SET vmax = 777 WHERE field = 'outdoor_temp' AND bucket_ms = ?", (T0 + 3 * DAY,))
    reader = EmbeddedReader(path)
    (hourly,) = reader.series("gw", ["outdoor_temp"], T0, T0 + 4 * DAY, max_points=96)  # 1 h buckets
    (ten,) = reader.series("gw", ["outdoor_temp"], T0, T0 + 4 * DAY, max_points=400)  # 20 min buckets
    (raw,) = reader.series("gw", ["outdoor_temp"], T0, T0 + 4 * DAY, max_points=1500)  # 230 s buckets
    assert sorted(set(hourly.max))[-2:] == [49.0, 777.0] and len(hourly.t) == 96
    assert sorted(set(ten.max))[-2:] == [49.0, 999.0] and len(ten.t) == 288
    assert max(raw.max) == 49.0 and len(raw.t) == 1500


# -- gaps -----------------------------------------------------------------------------------


@pytest.mark.parametrize("use_rollup", [False, True])
def test_gaps_stay_gaps_in_both_paths(two_day_store, use_rollup):
    path, _ = two_day_store
    reader = EmbeddedReader(path)
    start, end = T0, T0 + 2 * DAY
    (s,) = reader._series("gw", ["outdoor_temp"], start, end, start, R, None, use_rollup=use_rollup)
    present = set(s.t)
    # the outage runs 20:04..23:11 after T0: buckets 20:10 .. 23:00 hold no snapshot at all
    missing = {T0 + 20 * H + k * R for k in range(1, 19)}
    assert not present & missing
    assert T0 + 20 * H in present and T0 + 23 * H + R in present  # partly filled ones stay
    assert len(s.t) == 2 * DAY // R - len(missing)
    assert s.t == sorted(s.t)


def test_a_bucket_with_snapshots_but_without_the_field_has_none(tmp_path):
    path = tmp_path / "s.sqlite3"
    sink = EmbeddedSink(path)
    sink.write_sync([snap(T0 + i * I, outdoor_temp=1.0) for i in range(40)])  # 20 min
    sink.write_sync([snap(T0 + i * I, indoor_temp=21.0) for i in range(40, 80)])  # next 20 min
    reader = EmbeddedReader(path)
    for max_points in (4, 1000):  # rollup path (10 min buckets) and raw path
        o, i = reader.series("gw", ["outdoor_temp", "indoor_temp"], T0, T0 + 80 * I, max_points=max_points)
        assert o.t == i.t and len(o.t) == (4 if max_points == 4 else 80)
        assert o.mean[0] == 1.0 and o.mean[-1] is None
        assert i.mean[0] is None and i.mean[-1] == 21.0


# -- derived fields -------------------------------------------------------------------------


@pytest.mark.parametrize("max_points", [2000, 48])  # raw path, rollup path (1 h buckets)
def test_derived_fields_exact(two_day_store, max_points):
    path, snaps = two_day_store
    start, end = T0 + 10 * H, T0 + 12 * H + 10 * R
    d, b = EmbeddedReader(path).series("gw", ["delta_t_radiator", "delta_t_brine"], start, end,
                                        max_points=max_points)
    origin, bucket = bucket_plan(start, end, max_points)
    assert_matches([d, b], snaps, start, end, origin, bucket)
    # spot check one snapshot by hand on the raw path
    if max_points == 2000:
        i = (10 * H) // I  # the first snapshot of the range
        v = values_at(i)
        assert d.min[0] == v["radiator_forward"] - v["radiator_return"]
        assert b.max[0] == v["brine_in_evaporator"] - v["brine_out_condenser"]


def test_derived_needs_both_operands(tmp_path):
    path = tmp_path / "s.sqlite3"
    EmbeddedSink(path).write_sync([
        snap(T0, radiator_forward=40.0, radiator_return=35.0),
        snap(T0 + I, radiator_forward=41.0),  # no return: no delta
        snap(T0 + 2 * I, radiator_return=30.0),
        snap(T0 + 3 * I, radiator_forward=38.0, radiator_return=36.5),
        snap(T0 + R, outdoor_temp=1.0),  # opens the next bucket: T0's is closed and summarised
    ])
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT n, vmin, vmax, vsum FROM rollup WHERE field = 'delta_t_radiator'").fetchall()
        assert row == [(2, 1.5, 5.0, 6.5)]
        assert db.execute("SELECT bucket_ms, n FROM rollup WHERE field = ''").fetchall() == [(T0, 4)]
    reader = EmbeddedReader(path)
    (raw,) = reader.series("gw", ["delta_t_radiator"], T0, T0 + 4 * I, max_points=4)
    assert raw.mean == [5.0, None, None, 1.5]
    (rolled,) = reader.series("gw", ["delta_t_radiator"], T0, T0 + R, max_points=1)
    assert (rolled.t, rolled.min, rolled.max, rolled.mean) == ([T0], [1.5], [5.0], [3.25])


# -- open buckets, rewrites, merges, bulk ---------------------------------------------------


def rollup_rows(path, table="rollup"):
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT gateway, source, field, bucket_ms, n, vmin, vmax, vsum FROM {table} "
                          "ORDER BY gateway, source, field, bucket_ms").fetchall()


def all_rollups(path):
    return rollup_rows(path), rollup_rows(path, "rollup_1h")


def by_key(rows):
    return {(f, b): (n, lo, hi, sm) for _, _, f, b, n, lo, hi, sm in rows}


def test_open_bucket_is_summarised_when_the_next_one_opens_and_read_raw_until_then(tmp_path):
    path = tmp_path / "s.sqlite3"
    sink = EmbeddedSink(path)
    reader = EmbeddedReader(path)
    sink.write_sync([snap(T0 + i * I, outdoor_temp=float(i)) for i in range(15)])  # 10:00-10:07
    assert all_rollups(path) == ([], [])  # the newest bucket (and hour) stay open
    (s,) = reader.series("gw", ["outdoor_temp"], T0, T0 + 2 * H, max_points=2)  # 1 h buckets
    assert (s.t, s.min, s.max, s.mean) == ([T0], [0.0], [14.0], [7.0])  # from the snapshots
    sink.write_sync([snap(T0 + i * I, outdoor_temp=float(i)) for i in range(15, 25)])  # to 10:12
    assert [(b, n) for _, _, f, b, n, *_ in rollup_rows(path) if f == ""] == [(T0, 20)]
    assert rollup_rows(path, "rollup_1h") == []  # 10:00-11:00 still open
    sink.write_sync([snap(T0 + H + I, outdoor_temp=100.0)])  # 11:00:30 closes 10:10 and the hour
    assert by_key(rollup_rows(path))[("outdoor_temp", T0 + R)] == (5, 20.0, 24.0, 110.0)
    assert by_key(rollup_rows(path, "rollup_1h"))[("outdoor_temp", T0)] == (25, 0.0, 24.0, 300.0)
    (s,) = reader.series("gw", ["outdoor_temp"], T0, T0 + 2 * H, max_points=2)
    assert (s.t, s.min, s.max, s.mean) == ([T0, T0 + H], [0.0, 100.0], [24.0, 100.0], [12.0, 100.0])


def test_rewrite_merge_and_late_polls_keep_the_rollup_exact(tmp_path):
    path = tmp_path / "s.sqlite3"
    sink = EmbeddedSink(path)
    base = {i: {"outdoor_temp": float(i), "radiator_forward": 40.0, "radiator_return": 30.0} for i in range(20)}
    sink.write_sync([snap(T0 + i * I, **base[i]) for i in range(20) if i != 7])  # 10:00-10:10, 7 missing
    sink.write_sync([snap(T0 + H + 20 * I, outdoor_temp=-7.0)])  # 11:10: closes 10:00 bucket and hour
    # a replay of part of the bucket, a changed value (old min 0.0 must disappear), an MQTT
    # round-mode merge adding a field to an existing tick, and the late poll 7
    sink.write_sync([snap(T0 + i * I, **base[i]) for i in range(5, 10) if i != 7])
    sink.write_sync([snap(T0, outdoor_temp=100.0), snap(T0 + I, radiator_return=39.0),
                     snap(T0 + 2 * I, indoor_temp=21.5), snap(T0 + 7 * I, **base[7])])
    rows = by_key(rollup_rows(path))
    assert rows[("", T0)] == (20, None, None, None)
    assert rows[("outdoor_temp", T0)] == (20, 1.0, 100.0, sum(range(1, 20)) + 100.0)
    assert rows[("indoor_temp", T0)] == (1, 21.5, 21.5, 21.5)
    assert rows[("delta_t_radiator", T0)] == (20, 1.0, 10.0, 19 * 10.0 + 1.0)
    hourly = by_key(rollup_rows(path, "rollup_1h"))
    assert hourly[("", T0)] == (20, None, None, None)
    assert hourly[("outdoor_temp", T0)] == rows[("outdoor_temp", T0)]
    assert ("", T0 + H) not in hourly  # 11:00 is open
    # identical to writing the final snapshots once, in one batch, into a new store
    final = {i: dict(v) for i, v in base.items()}
    final[0]["outdoor_temp"] = 100.0
    final[1]["radiator_return"] = 39.0
    final[2]["indoor_temp"] = 21.5
    other = tmp_path / "once.sqlite3"
    EmbeddedSink(other).write_sync([snap(T0 + i * I, **v) for i, v in sorted(final.items())]
                                   + [snap(T0 + H + 20 * I, outdoor_temp=-7.0)])
    assert all_rollups(other) == all_rollups(path)


def test_duplicate_tick_inside_one_batch_counts_once(tmp_path):
    path = tmp_path / "s.sqlite3"
    EmbeddedSink(path).write_sync([snap(T0, outdoor_temp=1.0), snap(T0, outdoor_temp=3.0),
                                   snap(T0 + I, outdoor_temp=2.0), snap(T0 + R, outdoor_temp=0.0)])
    rows = by_key(rollup_rows(path))
    assert rows[("outdoor_temp", T0)] == (2, 2.0, 3.0, 5.0)
    assert rows[("", T0)] == (2, None, None, None)


def sine_snaps(n=200, gateways=3):
    # sines: sums NOT exactly representable, so these check the order of additions too
    return [snap(T0 + i * I, gw=f"gw{g}", outdoor_temp=round(5 * math.sin(i / 50 + g), 2),
                 radiator_forward=35 + math.sin(i / 9), radiator_return=30 + math.cos(i / 7))
            for i in range(n) for g in range(gateways)]


def test_batch_sizes_and_arrival_order_do_not_change_the_rollups(tmp_path):
    snaps = sine_snaps()
    a, b, c = tmp_path / "a.sqlite3", tmp_path / "b.sqlite3", tmp_path / "c.sqlite3"
    tick = EmbeddedSink(a)
    for k in range(0, len(snaps), 3):
        tick.write_sync(snaps[k:k + 3])
    EmbeddedSink(b).write_sync(snaps)
    shuffled = list(snaps)
    random.Random(7).shuffle(shuffled)
    late = EmbeddedSink(c)
    for k in range(0, len(shuffled), 37):
        late.write_sync(shuffled[k:k + 37])
    assert all_rollups(a) == all_rollups(b) == all_rollups(c)
    # 200 ticks: buckets 0-8 closed, 9 open; hour 0 closed, hour 1 open
    assert len(rollup_rows(a)) == 3 * 9 * 5  # 3 gateways x 9 buckets x (3 fields + delta + count)
    assert len(rollup_rows(a, "rollup_1h")) == 3 * 1 * 5


def test_non_finite_values_are_left_out_not_fatal(tmp_path):
    path = tmp_path / "s.sqlite3"
    sink = EmbeddedSink(path)
    sink.write_sync([snap(T0, outdoor_temp=math.nan, indoor_temp=21.0), snap(T0 + I, outdoor_temp=math.inf)])
    sink.write_sync([snap(T0, outdoor_temp=2.0)])  # a merge into the first row still works
    reader = EmbeddedReader(path)
    assert reader.latest("gw").values == {"indoor_temp": 21.0, "outdoor_temp": 2.0}
    assert [s.time_ms for s in reader.snapshots("gw", 0, T0 + DAY)] == [T0]


# -- sources --------------------------------------------------------------------------------


@pytest.mark.parametrize("use_rollup", [False, True])
def test_source_filter_and_merge_of_sources(tmp_path, use_rollup):
    path = tmp_path / "s.sqlite3"
    EmbeddedSink(path).write_sync(
        [snap(T0 + i * I, source="api", outdoor_temp=1.0) for i in range(40)]
        + [snap(T0 + i * I + 5_000, source="mqtt", outdoor_temp=3.0) for i in range(20, 60)]
        + [snap(T0 + i * I, gw="other", source="api", outdoor_temp=50.0) for i in range(60)])
    reader = EmbeddedReader(path)
    (both,) = reader._series("gw", ["outdoor_temp"], T0, T0 + 3 * R, T0, R, None, use_rollup=use_rollup)
    assert both.t == [T0, T0 + R, T0 + 2 * R]
    assert both.min == [1.0, 1.0, 3.0] and both.max == [1.0, 3.0, 3.0] and both.mean == [1.0, 2.0, 3.0]
    (mqtt,) = reader._series("gw", ["outdoor_temp"], T0, T0 + 3 * R, T0, R, "mqtt", use_rollup=use_rollup)
    assert mqtt.t == [T0 + R, T0 + 2 * R] and mqtt.mean == [3.0, 3.0]


# -- migration ------------------------------------------------------------------------------


def test_old_store_gets_its_rollup_on_open(tmp_path, caplog):
    snaps = [snap(T0 + i * I, gw=f"gw{g}", outdoor_temp=math.sin(i / 10) * 5, radiator_forward=40.0 - i / 100,
                  radiator_return=30.0) for g in range(2) for i in range(300)]
    old = tmp_path / "old.sqlite3"
    with sqlite3.connect(old) as db:  # a store written before the rollup existed
        db.executescript(SCHEMA)
        db.executemany(UPSERT, [(s.gateway, s.source, s.time_ms, s.brand,
                                 '{' + ','.join(f'"{k}":{v!r}' for k, v in s.values.items()) + '}') for s in snaps])
    # a reader before the migration falls back to the snapshots
    (before,) = EmbeddedReader(old).series("gw1", ["delta_t_radiator"], T0, T0 + 300 * I, max_points=5)
    assert len(before.t) == 5 and before.max[0] == pytest.approx(10.0)
    with caplog.at_level(logging.INFO, logger="heatpump_monitor"):
        EmbeddedSink(old).write_sync([])  # nothing to write: not even opened
        assert not caplog.records
        sink = EmbeddedSink(old)
        sink._db()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "rollup" in lines[0] and "600 snapshots" in lines[0]
    fresh = tmp_path / "fresh.sqlite3"
    EmbeddedSink(fresh).write_sync(snaps)
    assert all_rollups(old) == all_rollups(fresh)
    assert all(all_rollups(old))
    (after,) = EmbeddedReader(old).series("gw1", ["delta_t_radiator"], T0, T0 + 300 * I, max_points=5)
    assert (after.t, after.min, after.max) == (before.t, before.min, before.max)
    assert after.mean == pytest.approx(before.mean, rel=1e-12)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="heatpump_monitor"):
        EmbeddedSink(old)._db()  # second open: nothing to migrate, no line
    assert not caplog.records


def test_rollups_of_another_version_are_rebuilt_on_open(tmp_path, caplog):
    path = tmp_path / "s.sqlite3"
    EmbeddedSink(path).write_sync([snap(T0 + i * I, outdoor_temp=float(i)) for i in range(60)])
    good = all_rollups(path)
    with sqlite3.connect(path) as db:  # as if written by code with other derived definitions
        db.execute("UPDATE rollup SET vmax = 999")
        db.execute("UPDATE rollup_1h SET vmax = 999")
        db.execute("PRAGMA user_version = 12345")
    (s,) = EmbeddedReader(path).series("gw", ["outdoor_temp"], T0, T0 + 60 * I, max_points=3)
    assert s.max == [19.0, 39.0, 59.0]  # not ready: read from the snapshots
    with caplog.at_level(logging.INFO, logger="heatpump_monitor"):
        EmbeddedSink(path)._db()
    assert [r.getMessage() for r in caplog.records if "rebuilt" in r.getMessage()]
    assert all_rollups(path) == good


# -- bucket counts --------------------------------------------------------------------------

SPANS = {"1h": H, "6h": 6 * H, "24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY, "90d": 90 * DAY, "365d": 365 * DAY}
END = T0 + 123_456  # not on any grid


@pytest.mark.parametrize("max_points", [1500, 1000, 7])
@pytest.mark.parametrize("span", list(SPANS.values()), ids=list(SPANS))
def test_bucket_plan_never_exceeds_max_points(span, max_points):
    start, end = END - span, END
    origin, bucket = bucket_plan(start, end, max_points)
    assert origin <= start
    count = -(-(end - origin) // bucket)  # buckets meeting [start, end)
    assert count <= max_points
    needed = -(-span // max_points)
    unit = H if needed >= H else R if needed >= R else None
    if unit:  # whole rollup buckets, the smallest multiple that fits
        assert origin % unit == 0 and bucket % unit == 0
        assert bucket == unit or -(-(end - origin) // (bucket - unit)) > max_points
    else:  # raw: exactly span / max_points, rounded up
        assert origin == start and bucket == needed
        assert count >= max_points - 1


@pytest.fixture(scope="module")
def dense_store(tmp_path_factory):
    """For every span, snapshots twice as dense as its 1,500 buckets, over the span's end."""
    path = tmp_path_factory.mktemp("dense") / "s.sqlite3"
    times = set()
    for span in SPANS.values():
        step = span // 3000
        times.update(END - span + k * step for k in range(3000))
    EmbeddedSink(path).write_sync([snap(t, outdoor_temp=float(t % 1000), radiator_forward=40.0,
                                        radiator_return=float(t % 7)) for t in sorted(times)])
    return path


@pytest.mark.parametrize("span", list(SPANS.values()), ids=list(SPANS))
def test_series_has_at_most_max_points_buckets(dense_store, span):
    start = END - span
    series = EmbeddedReader(dense_store).series("gw", ["outdoor_temp", "delta_t_radiator"], start, END)
    origin, bucket = bucket_plan(start, END, 1500)
    planned = -(-(END - origin) // bucket)
    for s in series:
        assert len(s.t) == planned  # the data fills every bucket
        assert 1000 <= len(s.t) <= 1500
        assert s.t == sorted(set(s.t)) and start <= s.t[0] and s.t[-1] < END
        assert None not in s.mean and all(lo <= m <= hi for lo, m, hi in zip(s.min, s.mean, s.max))
    assert series[0].t == series[1].t


@pytest.mark.parametrize("bad", ["x') ; DROP TABLE rollup; --", 'x") FROM snapshots --', "$.outdoor_temp"])
def test_injection_in_field_names_is_bound_on_both_paths(two_day_store, bad):
    path, _ = two_day_store
    reader = EmbeddedReader(path)
    for max_points in (10, 200, 1500):  # hourly rollup, 10-minute rollup, snapshots
        s, ok = reader.series("gw", [bad, "outdoor_temp"], T0, T0 + 2 * DAY, max_points=max_points)
        assert s.t and set(s.mean) == {None} and None not in ok.mean
    (ok,) = reader.series("gw", ["outdoor_temp"], T0, T0 + 2 * DAY, max_points=10)
    assert len(ok.t) == 10


def test_empty_and_reversed_ranges(two_day_store):
    path, _ = two_day_store
    reader = EmbeddedReader(path)
    assert reader.series("gw", ["outdoor_temp"], T0 + DAY, T0 + DAY)[0].t == []
    assert reader.series("gw", ["outdoor_temp"], T0 + DAY, T0)[0].t == []
    assert reader.series("nobody", ["outdoor_temp"], T0, T0 + 2 * DAY, max_points=10)[0].t == []
    assert reader.series("gw", [], T0, T0 + DAY) == []
