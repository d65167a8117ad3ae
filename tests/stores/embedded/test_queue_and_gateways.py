"""The embedded store at fleet size: closed buckets are queued and summarised a bounded number
per write, and reads stay exact while some are still queued (a replay into a closed bucket, a
changed previous snapshot, any arrival order); the gateway list comes from a table kept in the
write transaction, exact across replays and merges, and is back-filled in an older store."""

from __future__ import annotations

import logging
import random
import sqlite3

from heatpump_monitor.model import Snapshot
from heatpump_monitor.stores.embedded import EmbeddedReader, EmbeddedSink, schema
from heatpump_monitor.stores.embedded.schema import ROLLUP_BUCKET_MS
from tests.stores.derived_data import FIELDS, H, I, T0, assert_matches, registered, two_days
from tests.stores.embedded.settle import queued, settle

R = ROLLUP_BUCKET_MS
SCAN = ("SELECT gateway, source, max(brand), min(ts_ms), max(ts_ms), count(*) FROM snapshots "
        "GROUP BY gateway, source ORDER BY gateway, source")


def rollups(path):
    with sqlite3.connect(path) as db:
        return tuple(db.execute(f"SELECT * FROM {t} ORDER BY gateway, source, field, bucket_ms").fetchall()
                     for t in ("rollup", "rollup_1h"))


def test_reads_are_exact_while_buckets_wait_in_the_queue(tmp_path, monkeypatch):
    monkeypatch.setattr(schema, "ROLL_MIN", 1)  # one bucket per write: a long backlog
    monkeypatch.setattr(schema, "ROLL_SHARE", 10**9)
    snaps = [s for s in two_days() if s.time_ms < T0 + 7 * H]
    # a replay later rewrites some counters, among them the last of a bucket: the increase of
    # the next bucket's first snapshot changes, so that bucket is recomputed too
    rewritten = [Snapshot(s.gateway, s.brand, s.source, s.time_ms, {**s.values, "compressor_starts": 5.0})
                 for s in snaps[100:700] if "compressor_starts" in s.values and s.time_ms % (3 * R) == R - I]
    assert rewritten
    shuffled = list(snaps)
    random.Random(3).shuffle(shuffled)
    batches = [shuffled[k:k + 97] for k in range(0, len(shuffled), 97)] + [rewritten, snaps[200:260]]
    path = tmp_path / "s.sqlite3"
    stored: dict[tuple, Snapshot] = {}
    backlog = []
    with registered():
        sink, reader = EmbeddedSink(path), EmbeddedReader(path)
        for batch in batches:
            sink.write_sync(batch)
            stored.update(((s.source, s.time_ms), s) for s in batch)
            backlog.append(queued(path))
            for bucket in (R, 6 * R):  # the 10-minute rollup; the hourly one
                series = reader._series("gw", FIELDS, T0, T0 + 8 * H, T0, bucket, None, use_rollup=True)
                assert_matches(series, list(stored.values()), T0, T0 + 8 * H, T0, bucket)
        assert min(backlog[3:]) > 0  # the reads above did run with buckets in the queue
        settle(path)
        once = tmp_path / "once.sqlite3"
        EmbeddedSink(once).write_sync(sorted(stored.values(), key=lambda s: (s.source, s.time_ms)))
        settle(once)
    assert queued(path) == 0 and all(rollups(path))
    assert rollups(path) == rollups(once)


def fleet_tick(k: int, gateways: int = 100) -> list[Snapshot]:
    return [Snapshot(f"gw{g}", "thermia", "api", T0 + k * I, {"outdoor_temp": float(g + k)})
            for g in range(gateways)]


def test_the_tick_that_closes_a_bucket_of_every_gateway_spreads_the_work(tmp_path):
    path = tmp_path / "s.sqlite3"
    sink = EmbeddedSink(path)
    for k in range(20):  # 10:00-10:10, one bucket per gateway, open
        sink.write_sync(fleet_tick(k))
    assert queued(path) == 0
    sink.write_sync(fleet_tick(20))  # 10:10:00 closes 100 buckets
    left = [queued(path)]
    assert 0 < left[0] <= 100 - schema.ROLL_MIN  # summarised over the next writes, not all now
    for k in range(21, 25):
        sink.write_sync(fleet_tick(k))
        left.append(queued(path))
    assert left == sorted(left, reverse=True) and left[-1] == 0
    (s,) = EmbeddedReader(path).series("gw7", ["outdoor_temp"], T0, T0 + 2 * H, max_points=12)
    assert (s.t, s.min, s.max) == ([T0, T0 + R], [7.0, 27.0], [26.0, 31.0])
    once = tmp_path / "once.sqlite3"
    EmbeddedSink(once).write_sync([s for k in range(25) for s in fleet_tick(k)])
    settle(once)
    assert rollups(path) == rollups(once)


def scan(path):
    with sqlite3.connect(path) as db:
        return db.execute(SCAN).fetchall()


def test_the_gateway_list_counts_exactly_across_replays_merges_and_arrival_order(tmp_path):
    full = [Snapshot(f"gw{g}", "nibe" if g else "thermia", src, T0 + i * I + (0 if src == "api" else 7_000),
                     {"outdoor_temp": float(i), "indoor_temp": 21.0})
            for g in range(3) for src in ("api", "mqtt") for i in range(120) if (g, src) != (2, "mqtt")]
    rng = random.Random(11)
    shuffled = list(full)
    rng.shuffle(shuffled)
    batches = [shuffled[k:k + 41] for k in range(0, len(shuffled), 41)]
    batches.insert(3, batches[1] + batches[1][:5])  # a replay, with duplicates inside the batch
    batches.append([Snapshot(s.gateway, s.brand, s.source, s.time_ms, {"hot_water_top": 50.0})
                    for s in full[::9]])  # MQTT round-mode merges into stored times
    path = tmp_path / "s.sqlite3"
    sink, reader = EmbeddedSink(path), EmbeddedReader(path)
    seen: set[tuple] = set()
    for batch in batches:
        sink.write_sync(batch)
        seen.update((s.gateway, s.source, s.time_ms) for s in batch)
        listed = reader.gateways()
        assert [vars_of(g) for g in listed] == scan(path)
        assert sum(g.snapshots for g in listed) == len(seen)
    assert len(reader.gateways()) == 5 and {g.snapshots for g in reader.gateways()} == {120}


def vars_of(info):
    return info.gateway, info.source, info.brand, info.first_ms, info.last_ms, info.snapshots


def test_a_store_of_the_previous_layout_gets_its_gateway_list_on_open(tmp_path, caplog):
    path = tmp_path / "s.sqlite3"
    EmbeddedSink(path).write_sync([s for k in range(30) for s in fleet_tick(k, gateways=4)])
    with sqlite3.connect(path) as db:  # as written before the table and the queue existed
        db.execute("DROP TABLE gateways")
        db.execute("DROP TABLE to_roll")
        db.execute("PRAGMA user_version = 12345")
    expected = scan(path)
    assert [vars_of(g) for g in EmbeddedReader(path).gateways()] == expected  # read-only: the scan
    with caplog.at_level(logging.INFO, logger="heatpump_monitor"):
        EmbeddedSink(path)._db()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "gateway list" in lines[0] and "120 snapshots" in lines[0]
    with sqlite3.connect(path) as db:
        table = db.execute("SELECT * FROM gateways ORDER BY gateway, source").fetchall()
    assert table == expected
    assert [vars_of(g) for g in EmbeddedReader(path).gateways()] == expected

