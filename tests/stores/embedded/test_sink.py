"""Embedded store: one row per poll, overwrite not duplicate, readable by another connection
while the writer writes, downsampled series keeping min/max and real gaps."""

import asyncio
import sqlite3

from heatpump_monitor.model import Snapshot
from heatpump_monitor.stores.embedded import EmbeddedReader
from heatpump_monitor.stores.embedded import EmbeddedSink


def snap(t, gw="gw", **values):
    return Snapshot(gw, "thermia", "api", t, values or {"outdoor_temp": t / 1000})


def test_one_row_per_poll_and_overwrite(tmp_path):
    sink = EmbeddedSink(tmp_path / "s.sqlite3")
    asyncio.run(sink.write([snap(1000, outdoor_temp=1.0, compressor=1.0), snap(2000)]))
    asyncio.run(sink.write([snap(1000, outdoor_temp=5.0, compressor=0.0)]))
    rows = sqlite3.connect(tmp_path / "s.sqlite3").execute(
        "SELECT gateway, source, ts_ms, brand, data FROM snapshots ORDER BY ts_ms").fetchall()
    assert rows == [("gw", "api", 1000, "thermia", '{"outdoor_temp":5.0,"compressor":0.0}'),
                    ("gw", "api", 2000, "thermia", '{"outdoor_temp":2.0}')]
    assert sqlite3.connect(tmp_path / "s.sqlite3").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reader_sees_writes_while_writer_open(tmp_path):
    path = tmp_path / "s.sqlite3"
    sink = EmbeddedSink(path)
    sink.write_sync([snap(1000)])
    reader = EmbeddedReader(path)
    assert reader.latest("gw").time_ms == 1000
    sink.write_sync([snap(2000)])  # writer keeps its connection open
    assert reader.latest("gw").values == {"outdoor_temp": 2.0}
    assert [(g.gateway, g.source, g.brand, g.first_ms, g.last_ms, g.snapshots) for g in reader.gateways()] == [
        ("gw", "api", "thermia", 1000, 2000, 2)]
    assert [s.time_ms for s in reader.snapshots("gw", 0, 2000)] == [1000]


def test_series_downsampled_with_min_max_and_gap(tmp_path):
    path = tmp_path / "s.sqlite3"
    sink = EmbeddedSink(path)
    # 100 polls at 1 s, value = i, with polls 40..59 missing (collector down)
    sink.write_sync([snap(i * 1000, outdoor_temp=float(i)) for i in range(100) if not 40 <= i < 60])
    reader = EmbeddedReader(path)
    (s,) = reader.series("gw", ["outdoor_temp"], 0, 100_000, max_points=10)
    assert len(s.t) == 8  # 10 buckets of 10 s, two fully missing
    assert s.t == [0, 10_000, 20_000, 30_000, 60_000, 70_000, 80_000, 90_000]
    assert s.min[0] == 0 and s.max[0] == 9 and s.mean[0] == 4.5
    assert s.min[-1] == 90 and s.max[-1] == 99
    # not downsampled: the raw points with their own timestamps
    (raw,) = reader.series("gw", ["outdoor_temp"], 0, 5_000, max_points=1500)
    assert raw.t == [0, 1000, 2000, 3000, 4000] and raw.mean == [0, 1, 2, 3, 4]


def test_series_field_names_are_bound_not_pasted(tmp_path):
    path = tmp_path / "s.sqlite3"
    EmbeddedSink(path).write_sync([snap(1000, outdoor_temp=1.0)])
    (s,) = EmbeddedReader(path).series("gw", ["x') ; DROP TABLE snapshots; --"], 0, 5000)
    assert s.mean == [None]
    assert EmbeddedReader(path).latest("gw") is not None


def test_a_store_deleted_while_open_is_not_acknowledged_then_recreated(tmp_path):
    import pytest

    from heatpump_monitor.stores.base import SinkError

    path = tmp_path / "s.sqlite3"
    sink = EmbeddedSink(path)
    sink.write_sync([Snapshot("g", "ivt", "api", 1_000, {"a": 1.0})])
    for f in tmp_path.iterdir():
        f.unlink()  # the store, its WAL and shared memory: gone under the open connection
    with pytest.raises(SinkError, match="was deleted or replaced while the collector had it open"):
        sink.write_sync([Snapshot("g", "ivt", "api", 2_000, {"a": 2.0})])
    sink.write_sync([Snapshot("g", "ivt", "api", 2_000, {"a": 2.0})])  # the retry: a new store
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT ts_ms, data FROM snapshots").fetchall() == [(2000, '{"a":2.0}')]


def test_a_small_write_runs_on_the_event_loop_without_a_thread(tmp_path, monkeypatch):
    from heatpump_monitor.stores.embedded import sink as sink_mod

    async def no_thread(*args, **kw):
        raise AssertionError("a small write went to a worker thread")

    monkeypatch.setattr(sink_mod.asyncio, "to_thread", no_thread)
    sink = EmbeddedSink(tmp_path / "s.sqlite3")
    asyncio.run(sink.write([snap(1000), snap(1000, "gw2")]))
    with sqlite3.connect(tmp_path / "s.sqlite3") as db:
        assert db.execute("SELECT gateway FROM snapshots ORDER BY gateway").fetchall() == [("gw",), ("gw2",)]


def test_a_locked_store_is_written_from_a_thread_without_blocking_the_loop(tmp_path):
    """Another connection holds the write lock: the small write neither blocks the event loop
    (busy_timeout 0 there) nor fails; it is done in a worker thread once the lock is free."""
    path = tmp_path / "s.sqlite3"
    sink = EmbeddedSink(path)
    sink.write_sync([snap(1000)])  # the store exists
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")

    async def go() -> int:
        write = asyncio.create_task(sink.write([snap(2000)]))
        turns = 0
        for _ in range(20):  # the loop keeps turning while the write waits for the lock
            await asyncio.sleep(0.01)
            turns += 1
        assert not write.done()
        other.execute("COMMIT")
        await asyncio.wait_for(write, 10)
        return turns

    assert asyncio.run(go()) == 20
    assert [s.time_ms for s in EmbeddedReader(path).snapshots("gw", 0, 10_000)] == [1000, 2000]


def test_a_store_locked_for_longer_than_the_busy_timeout_is_a_failed_write(tmp_path, monkeypatch):
    import pytest

    from heatpump_monitor.stores.base import SinkError
    from heatpump_monitor.stores.embedded import sink as sink_mod

    monkeypatch.setattr(sink_mod, "BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "s.sqlite3"
    sink = EmbeddedSink(path)
    sink.write_sync([snap(1000)])
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(SinkError, match="database is locked"):
        asyncio.run(sink.write([snap(2000)]))
    other.execute("ROLLBACK")
    asyncio.run(sink.write([snap(2000)]))  # the writer's retry
    assert [s.time_ms for s in EmbeddedReader(path).snapshots("gw", 0, 10_000)] == [1000, 2000]
