"""Derived values of any shape in the embedded store: a ratio, a counter's increase (needs the
snapshot before) and a weighted linear one agree with a hand computation on the raw and both
rollup paths - including a range's first snapshot, a zero or missing denominator, a counter
reset and a snapshot without the counter; the rollups stay a function of the stored snapshots
alone (replays into closed buckets, arrival order), and are rebuilt after a definition change."""

from __future__ import annotations

import logging
import random
import sqlite3

import pytest

from heatpump_monitor.model import Snapshot
from heatpump_monitor.stores.base import bucket_plan
from heatpump_monitor.stores.embedded import EmbeddedReader, EmbeddedSink
from heatpump_monitor.stores.embedded.schema import ROLLUP_BUCKET_MS
from tests.stores.derived_data import DAY, FIELDS, H, I, T0, assert_matches, registered, two_days
from tests.stores.embedded.settle import settle

R = ROLLUP_BUCKET_MS


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("derived") / "s.sqlite3"
    snaps = two_days()
    with registered():
        sink = EmbeddedSink(path)
        for k in range(0, len(snaps), 700):
            sink.write_sync(snaps[k:k + 700])
    return path, snaps


@pytest.mark.parametrize("bucket,start", [
    (R, T0 + 7 * 60_000 + 13_000),  # 10-minute rollup, partial 10 minutes from the snapshots
    (6 * R, T0 + 7 * 60_000 + 13_000),  # hourly + 10-minute rollup + snapshots at the ends
    (6 * R, T0 + 25 * 60_000),
    (18 * R, T0 + 3000 * I - 5 * 60_000 + 1),  # around the counter reset
    (R, T0 + 3 * H + I),  # starting on a bucket edge: its first snapshot needs the one before
])
def test_raw_and_rollup_paths_agree_with_hand_computation(store, bucket, start):
    path, snaps = store
    reader = EmbeddedReader(path)
    end = T0 + 2 * DAY - 4 * 60_000 - 30_000
    origin = start // R * R
    with registered():
        raw = reader._series("gw", FIELDS, start, end, origin, bucket, None, use_rollup=False)
        rolled = reader._series("gw", FIELDS, start, end, origin, bucket, None, use_rollup=True)
        one = reader._series("gw", FIELDS, start, end, origin, bucket, "api", use_rollup=True)
    assert_matches(raw, snaps, start, end, origin, bucket)
    assert_matches(rolled, snaps, start, end, origin, bucket)
    assert_matches(one, [s for s in snaps if s.source == "api"], start, end, origin, bucket)


def test_public_raw_path_from_an_unaligned_start(store):
    path, snaps = store
    start, end = T0 + 3 * H + 17_000, T0 + 9 * H  # raw path, in Python per snapshot
    with registered():
        series = EmbeddedReader(path).series("gw", FIELDS, start, end, max_points=1500)
    origin, bucket = bucket_plan(start, end, 1500)
    assert bucket < R
    assert_matches(series, snaps, start, end, origin, bucket)


def snap(i, **values):
    return Snapshot("gw", "thermia", "api", T0 + i * I, values)


def test_hand_computed_ratio_and_increase(tmp_path):
    path = tmp_path / "s.sqlite3"
    snaps = [
        snap(0, heat_power=6.0, electric_power=2.0, compressor_starts=10.0),
        snap(1, heat_power=6.0, electric_power=0.0, compressor_starts=12.0),  # zero denominator
        snap(2, heat_power=5.0, compressor_starts=11.0),  # no denominator; the counter reset
        snap(3, heat_power=9.0, electric_power=3.0, compressor_starts=15.0),
        snap(4, heat_power=1.0, electric_power=4.0),  # no counter: none here ...
        snap(5, compressor_starts=16.0),  # ... nor in the next one (its previous lacks it)
        snap(6, compressor_starts=18.0),
    ]
    with registered():
        EmbeddedSink(path).write_sync(snaps)
        reader = EmbeddedReader(path)
        cop, starts = reader.series("gw", ["test_cop", "test_starts"], T0 + I, T0 + 7 * I, max_points=6)
    assert cop.t == [T0 + k * I for k in range(1, 7)]
    assert cop.mean == [None, None, 3.0, 0.25, None, None]
    # the range's first snapshot (poll 1) gets its increase from poll 0, before the range
    assert starts.mean == [2.0, None, 4.0, None, None, 2.0]
    assert (starts.min, starts.max) == (starts.mean, starts.mean)


def test_replay_into_a_closed_bucket_recomputes_the_next_snapshot_s_bucket(tmp_path):
    path = tmp_path / "s.sqlite3"
    counter = {i: float(i) for i in range(60)}
    with registered():
        sink = EmbeddedSink(path)
        sink.write_sync([snap(i, compressor_starts=c) for i, c in counter.items()])  # 10:00-10:30
        sink.write_sync([snap(19, compressor_starts=5.0)])  # the last of 10:00-10:10, closed
        counter[19] = 5.0
        other = tmp_path / "once.sqlite3"
        EmbeddedSink(other).write_sync([snap(i, compressor_starts=c) for i, c in counter.items()])
        assert rollups(path) == rollups(other)
        (s,) = EmbeddedReader(path).series("gw", ["test_starts"], T0, T0 + 30 * 60_000, max_points=3)
    assert s.max[1] == 15.0  # 10:10:00 = 20 after 5 (and 5 after 18 is a reset: none)


def test_arrival_order_and_batches_do_not_change_the_rollups(tmp_path):
    snaps = [s for s in two_days() if s.time_ms < T0 + 6 * H]
    with registered():
        EmbeddedSink(tmp_path / "once.sqlite3").write_sync(snaps)
        shuffled = list(snaps)
        random.Random(7).shuffle(shuffled)
        sink = EmbeddedSink(tmp_path / "shuffled.sqlite3")
        k = 0
        while k < len(shuffled):
            n = random.Random(k).randint(1, 300)
            sink.write_sync(shuffled[k:k + n])
            k += n
        settle(tmp_path / "shuffled.sqlite3")
        settle(tmp_path / "once.sqlite3")
    assert rollups(tmp_path / "shuffled.sqlite3") == rollups(tmp_path / "once.sqlite3")


def test_a_definition_change_rebuilds_the_rollups(tmp_path, caplog):
    snaps = [s for s in two_days() if s.time_ms < T0 + 3 * H]
    path = tmp_path / "s.sqlite3"
    EmbeddedSink(path).write_sync(snaps)  # production definitions only
    assert not [r for r in rollups(path)[0] if r[2] == "test_starts"]
    with registered():
        with caplog.at_level(logging.INFO, logger="heatpump_monitor"):
            EmbeddedSink(path)._db()
        EmbeddedSink(tmp_path / "fresh.sqlite3").write_sync(snaps)
        settle(tmp_path / "fresh.sqlite3")
    assert [r.getMessage() for r in caplog.records if "rebuilt" in r.getMessage()]
    assert [r for r in rollups(path)[0] if r[2] == "test_starts"]
    assert rollups(path) == rollups(tmp_path / "fresh.sqlite3")


def rollups(path):
    with sqlite3.connect(path) as db:
        return tuple(db.execute(f"SELECT * FROM {t} ORDER BY gateway, source, field, bucket_ms").fetchall()
                     for t in ("rollup", "rollup_1h"))
