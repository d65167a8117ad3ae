"""The writer keeps what could not be written in the spool, retries it oldest first, and replays
a backlog in batches without holding up new submissions."""

import asyncio
import logging

from heatpump_monitor.model import Snapshot
from heatpump_monitor.pipeline.spool import DiskSpool, MemorySpool
from heatpump_monitor.pipeline import writer as writer_module
from heatpump_monitor.pipeline.writer import Writer
from heatpump_monitor.stores.base import SinkError


class FlakySink:
    description = "test sink"

    def __init__(self):
        self.down = False
        self.points = {}
        self.batches = []

    async def write(self, snapshots):
        if self.down:
            raise SinkError("server unreachable: connection refused")
        self.batches.append([s.time_ms for s in snapshots])
        for s in snapshots:
            self.points[(s.gateway, s.time_ms)] = dict(s.values)

    async def check(self):
        pass

    async def close(self):
        pass

    @classmethod
    def down_sink(cls):
        sink = cls()
        sink.down = True
        return sink


def snap(t, gw="g1"):
    return Snapshot(gateway=gw, brand="thermia", source="api", time_ms=t, values={"outdoor_temp": t / 1000})


def test_failed_writes_are_kept_and_retried_in_order(caplog, tmp_path):
    async def go():
        sink = FlakySink()
        w = Writer(sink, DiskSpool(tmp_path / "spool.sqlite3", 10_000_000))
        sink.down = True
        for t in (1000, 2000, 3000):
            w.submit([snap(t)])
            assert await w.flush() is False
        assert [e.snapshot.time_ms for e in w.spool.head(10)] == [1000, 2000, 3000]
        sink.down = False
        w.submit([snap(4000)])
        assert await w.flush() is True
        return sink, w

    with caplog.at_level(logging.INFO):
        sink, w = asyncio.run(go())
    assert sorted(sink.points) == [("g1", 1000), ("g1", 2000), ("g1", 3000), ("g1", 4000)]
    assert sink.batches == [[1000, 2000, 3000, 4000]]  # oldest first, one batch
    assert w.pending == 0 and w.stored == 4 and w.dropped == 0 and w.spool.bytes == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    # one line for the outage (same cause each time), not one per attempt
    assert len(errors) == 1 and "connection refused" in errors[0] and "test sink" in errors[0]
    assert any("works again" in r.getMessage() for r in caplog.records)
    stored = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Stored ")]
    assert stored[0] == "Stored 1 metrics with timestamp 1970-01-01T00:00:01.000Z from g1"
    assert len(stored) == 4


def test_memory_spool_bound_drops_oldest_loudly_and_counts(caplog):
    async def go():
        sink = FlakySink()
        sink.down = True
        w = Writer(sink, MemorySpool(3))
        w.submit([snap(t) for t in (1000, 2000, 3000, 4000, 5000)])
        await w.flush()
        return w

    with caplog.at_level(logging.ERROR):
        w = asyncio.run(go())
    assert [e.snapshot.time_ms for e in w.spool.head(10)] == [3000, 4000, 5000]
    assert w.dropped == 2
    drops = [r.getMessage() for r in caplog.records if "DATA LOST" in r.getMessage()]
    assert len(drops) == 1
    assert "2 oldest" in drops[0] and "1970-01-01T00:00:01.000Z to 1970-01-01T00:00:02.000Z" in drops[0]


def test_run_writes_submitted_snapshots_until_stopped():
    async def go():
        sink = FlakySink()
        w = Writer(sink)
        stop = asyncio.Event()
        task = asyncio.create_task(w.run(stop))
        w.submit([snap(1000), snap(1000, "g2")])
        for _ in range(100):
            if len(sink.points) == 2:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 1)
        return sink

    sink = asyncio.run(go())
    assert set(sink.points) == {("g1", 1000), ("g2", 1000)}


def test_backlog_replayed_in_time_order_batches_while_new_polls_arrive(tmp_path):
    """A restarted writer finds a backlog: it is written first, in batches of max_batch,
    oldest first; a poll submitted during the replay is stored after it, nothing is lost."""
    path = tmp_path / "spool.sqlite3"
    old = DiskSpool(path, 10_000_000)
    old.append([snap(t * 1000) for t in range(1, 26)])
    old.close()

    class SlowSink(FlakySink):
        async def write(self, snapshots):
            await asyncio.sleep(0.01)  # yields: polling would run here
            await super().write(snapshots)

    async def go():
        sink = SlowSink()
        w = Writer(sink, DiskSpool(path, 10_000_000), max_batch=10)
        stop = asyncio.Event()
        task = asyncio.create_task(w.run(stop))
        await asyncio.sleep(0)  # the replay starts
        w.submit([snap(99_000, "g2")])
        for _ in range(300):
            if len(sink.points) == 26:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 2)
        return sink, w

    sink, w = asyncio.run(go())
    assert len(sink.points) == 26 and w.pending == 0
    order = [t for b in sink.batches for t in b]
    assert order[:25] == [t * 1000 for t in range(1, 26)] and order[-1] == 99_000
    assert max(len(b) for b in sink.batches) == 10 and len(sink.batches) >= 3


def test_backlog_is_retried_on_a_timer_without_new_polls(tmp_path):
    """All gateways down and the sink back: the backlog does not wait for the next poll."""
    async def go():
        sink = FlakySink()
        sink.down = True
        w = Writer(sink, MemorySpool(100), retry_s=0.05)
        stop = asyncio.Event()
        task = asyncio.create_task(w.run(stop))
        w.submit([snap(1000)])
        await asyncio.sleep(0.1)
        assert not sink.points
        sink.down = False  # no submit from here on
        for _ in range(200):
            if sink.points:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 1)
        return sink

    assert set(asyncio.run(go()).points) == {("g1", 1000)}


def test_submits_of_one_loop_turn_are_one_spool_append():
    class CountingSpool(MemorySpool):
        appends = 0

        def append(self, snapshots):
            CountingSpool.appends += 1
            super().append(snapshots)

    async def go():
        w = Writer(FlakySink(), CountingSpool(100))
        for t in range(50):  # e.g. a burst of MQTT messages in round mode
            w.submit([snap(t * 1000)])
        assert w.pending == 50
        await asyncio.sleep(0)
        return w

    w = asyncio.run(go())
    assert CountingSpool.appends == 1 and w.spool.depth == 50


def test_observer_sees_every_write_attempt():
    seen = []

    async def go():
        sink = FlakySink()
        w = Writer(sink, observer=lambda s, n, ok: seen.append((n, ok)))
        sink.down = True
        w.submit([snap(1000), snap(2000)])
        await w.flush()
        sink.down = False
        await w.flush()

    asyncio.run(go())
    assert seen == [(2, False), (2, True)]


class PickySink(FlakySink):
    """Refuses (HTTP 400-like) any batch holding a poll with a negative value."""

    async def write(self, snapshots):
        bad = [s for s in snapshots if s.values["outdoor_temp"] < 0]
        if bad:
            raise SinkError("InfluxDB write failed: HTTP 400 field type conflict", rejected=True)
        await super().write(snapshots)


def test_refused_polls_are_set_aside_and_do_not_block_the_rest(tmp_path, caplog):
    spool = DiskSpool(tmp_path / "s.sqlite3", 10_000_000)
    poison = {7000, 13000}

    def value(t):
        return -1.0 if t in poison else t / 1000

    async def go():
        sink = PickySink()
        w = Writer(sink, spool, max_batch=8)
        w.submit([Snapshot("g1", "thermia", "api", t, {"outdoor_temp": value(t)})
                  for t in range(1000, 21000, 1000)])
        assert await w.flush() is True
        return sink, w

    with caplog.at_level(logging.ERROR):
        sink, w = asyncio.run(go())
    assert sorted(t for _, t in sink.points) == [t for t in range(1000, 21000, 1000) if t not in poison]
    assert w.pending == 0 and w.rejected == 2 and w.stored == 18
    assert [(s.time_ms, c) for s, c in spool.rejected()] == [
        (7000, "InfluxDB write failed: HTTP 400 field type conflict"),
        (13000, "InfluxDB write failed: HTTP 400 field type conflict")]
    refused = [r.getMessage() for r in caplog.records if "refused the poll" in r.getMessage()]
    assert len(refused) == 1 and "1970-01-01T00:00:07.000Z" in refused[0]  # same cause: one line


def test_unreachable_store_is_never_mistaken_for_refused_data(tmp_path):
    async def go():
        sink = FlakySink()
        sink.down = True
        w = Writer(sink, DiskSpool(tmp_path / "s.sqlite3", 10_000_000))
        w.submit([snap(1000), snap(2000)])
        assert await w.flush() is False
        return w

    w = asyncio.run(go())
    assert w.pending == 2 and w.rejected == 0 and w.spool.rejected() == []


def test_a_failing_sink_is_retried_on_the_timer_not_in_a_loop():
    """While the sink fails, new polls do not trigger attempts: one attempt per retry_s."""
    async def go():
        sink = FlakySink()
        sink.down = True
        attempts = []
        w = Writer(sink, MemorySpool(1000), retry_s=0.5, observer=lambda s, n, ok: attempts.append(ok))
        stop = asyncio.Event()
        task = asyncio.create_task(w.run(stop))
        for t in range(12):  # a poll every 0.1 s for 1.2 s
            w.submit([snap(t * 1000)])
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, 2)
        return attempts, w

    attempts, w = asyncio.run(go())
    assert 1 <= len(attempts) <= 4 and not any(attempts)  # about 1.2 s / 0.5 s, not hundreds
    assert w.pending == 12


def test_large_batches_get_one_summary_line(caplog):
    async def go():
        w = Writer(FlakySink())
        w.submit([snap(1000, f"g{i}") for i in range(30)])
        await w.flush()
        w.submit([snap(2000, "g1")])
        await w.flush()

    with caplog.at_level(logging.INFO, logger="heatpump_monitor.writer"):
        asyncio.run(go())
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["Stored 30 polls (30 metrics) with timestamp 1970-01-01T00:00:01.000Z from 30 gateway(s)",
                     "Stored 1 metrics with timestamp 1970-01-01T00:00:02.000Z from g1"]


class MissingDatabaseSink(FlakySink):
    async def write(self, snapshots):
        raise SinkError("database 'hp' not found (HTTP 404)", fix="""create it: influx -execute 'CREATE DATABASE "hp"'""")


def failure_lines(sink, at_seconds, monkeypatch, caplog):
    """Failed flushes at these monotonic times; the seconds at which an error line was logged."""
    now = [0.0]
    monkeypatch.setattr(writer_module.time, "monotonic", lambda: now[0])
    w = Writer(sink, MemorySpool(100))
    w.submit([snap(1000)])
    said = []
    for t in at_seconds:
        now[0] = t
        caplog.clear()
        assert asyncio.run(w.flush()) is False
        said += [t for r in caplog.records if r.levelno == logging.ERROR]
    return said, caplog


def test_a_store_that_needs_the_operator_gives_the_fix_at_most_once_a_minute(monkeypatch, caplog):
    ticks = [0, 30, 59, 61, 90, 120, 125, 300]  # retries every few seconds, polls every tick
    said, _ = failure_lines(MissingDatabaseSink(), ticks, monkeypatch, caplog)
    assert said == [0, 61, 125, 300]
    said, _ = failure_lines(FlakySink.down_sink(), ticks, monkeypatch, caplog)
    assert said == [0, 300]  # other outages: one line, a reminder every 5 minutes


def test_the_fix_is_in_the_log_line(monkeypatch, caplog):
    _, caplog = failure_lines(MissingDatabaseSink(), [0, 60], monkeypatch, caplog)
    assert caplog.messages == ["""Still failing to write to test sink: database 'hp' not found (HTTP 404): create it: """
                               """influx -execute 'CREATE DATABASE "hp"'; 1 poll(s) waiting in the spool"""]


def test_listeners_see_each_new_snapshot_once_even_while_the_store_is_down(caplog, tmp_path):
    sink = FlakySink.down_sink()
    w = Writer(sink, DiskSpool(tmp_path / "spool.sqlite3", 10_000_000))
    seen: list[int] = []

    def broken(snaps):
        raise RuntimeError("listener bug")

    w.listeners += [lambda snaps: seen.extend(s.time_ms for s in snaps), broken]

    async def main():
        w.submit([snap(1000), snap(2000)])
        await asyncio.sleep(0)
        assert not await w.flush()  # the store is down: nothing stored, listeners already told
        sink.down = False
        assert await w.flush()  # the backlog's replay is not shown to them again
        w.submit([snap(3000)])
        await asyncio.sleep(0)
        assert await w.flush()

    with caplog.at_level(logging.ERROR):
        asyncio.run(main())
    assert seen == [1000, 2000, 3000]
    assert sorted(t for _, t in sink.points) == [1000, 2000, 3000]
    assert sum("Error in" in r.getMessage() and "2 snapshot(s)" in r.getMessage() for r in caplog.records) == 1
