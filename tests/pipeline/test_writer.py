"""The writer keeps what could not be written, retries it with the next write, bounds memory."""

import asyncio
import logging

from heatpump_monitor.model import Snapshot
from heatpump_monitor.pipeline.writer import Writer
from heatpump_monitor.sinks.base import SinkError


class FlakySink:
    description = "test sink"

    def __init__(self):
        self.down = False
        self.points = {}
        self.calls = 0

    async def write(self, snapshots):
        self.calls += 1
        if self.down:
            raise SinkError("server unreachable: connection refused")
        for s in snapshots:
            self.points[(s.gateway, s.time_ms)] = dict(s.values)

    async def check(self):
        pass

    async def close(self):
        pass


def snap(t, gw="g1"):
    return Snapshot(gateway=gw, brand="thermia", source="api", time_ms=t, values={"outdoor_temp": t / 1000})


def test_failed_writes_are_kept_and_retried_in_order(caplog):
    async def go():
        sink = FlakySink()
        w = Writer(sink, max_pending=100)
        sink.down = True
        for t in (1000, 2000, 3000):
            w.submit([snap(t)])
            assert await w.flush() is False
        assert [s.time_ms for s in w.pending] == [1000, 2000, 3000]
        sink.down = False
        w.submit([snap(4000)])
        assert await w.flush() is True
        return sink, w

    with caplog.at_level(logging.INFO):
        sink, w = asyncio.run(go())
    assert sorted(sink.points) == [("g1", 1000), ("g1", 2000), ("g1", 3000), ("g1", 4000)]
    assert not w.pending and w.stored == 4 and w.dropped == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    # one line for the outage (same cause each time), not one per attempt
    assert len(errors) == 1 and "connection refused" in errors[0] and "test sink" in errors[0]
    assert any("works again" in r.getMessage() for r in caplog.records)
    stored = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Stored ")]
    assert stored[0] == "Stored 1 metrics with timestamp 1970-01-01T00:00:01.000Z from g1"
    assert len(stored) == 4


def test_bound_drops_oldest_loudly(caplog):
    async def go():
        sink = FlakySink()
        sink.down = True
        w = Writer(sink, max_pending=3)
        w.submit([snap(t) for t in (1000, 2000, 3000, 4000, 5000)])
        return w

    with caplog.at_level(logging.ERROR):
        w = asyncio.run(go())
    assert [s.time_ms for s in w.pending] == [3000, 4000, 5000]
    assert w.dropped == 2
    drops = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(drops) == 2 and "data lost" in drops[0] and "1970-01-01T00:00:01.000Z" in drops[0]


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
