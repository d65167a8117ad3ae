"""/metrics is copied on the event loop and rendered in a worker thread: the loop goes on while
the text is made (1,000 gateways' register gauges take ~1 s), and the text shows one moment."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import httpx
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from heatpump_monitor.health.metrics import CollectorMetrics
from heatpump_monitor.health.server import Health, create_health_app
from heatpump_monitor.integrations.registers import RegisterGauges
from heatpump_monitor.model import Snapshot
from heatpump_monitor.pipeline.contract import CollectorStats
from heatpump_monitor.pipeline.grid import Ticker
from heatpump_monitor.pipeline.spool import MemorySpool
from heatpump_monitor.pipeline.writer import Writer
from heatpump_monitor.providers import load_provider

GATEWAYS = [f"gw{i:03d}" for i in range(50)]


class Sink:
    description = "test sink"

    async def write(self, snapshots):
        pass

    async def check(self):
        pass

    async def close(self):
        pass


def build():
    clock = lambda: 1_800_000_000.0  # noqa: E731
    collector = SimpleNamespace(ticker=Ticker(30, clock, monotonic=clock), interval_s=30, last_success={},
                                stats=CollectorStats())
    writer = Writer(Sink(), MemorySpool(100))
    metrics = CollectorMetrics(collector, writer, "api", "nibe")
    gauges = RegisterGauges(load_provider, max_gateways=len(GATEWAYS))
    metrics.deferred.append(gauges.copy)
    app = create_health_app(Health(collector, writer, clock), metrics)
    return SimpleNamespace(collector=collector, metrics=metrics, gauges=gauges, app=app)


def generation(p, gen: int) -> None:
    """One step of the loop: every count and every gateway's values say ``gen``."""
    p.collector.stats.polls_ok = gen
    p.collector.last_success = {gw: float(gen) for gw in GATEWAYS}
    p.gauges.on_snapshots([Snapshot(gw, "nibe", "api", gen * 1000, {"outdoor_temp": float(gen),
                                                                     "indoor_temp": float(gen)})
                           for gw in GATEWAYS])


def parse(text: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append(s.value)
    return out


def test_the_text_is_made_in_a_worker_thread_while_the_loop_goes_on():
    p = build()
    seen: dict[str, object] = {}
    loop_ran = threading.Event()

    def probe_copy():
        seen["copy"] = threading.get_ident()

        def render():
            seen["render"] = threading.get_ident()
            # set by a task of the loop: on the loop's own thread this wait could never end
            seen["loop_ran_meanwhile"] = loop_ran.wait(10)
            return [GaugeMetricFamily("heatpump_probe", "probe", value=1)]
        return render

    p.metrics.deferred.insert(0, probe_copy)

    async def go():
        seen["loop"] = threading.get_ident()

        async def other_work():
            while "render" not in seen:
                await asyncio.sleep(0.005)
            loop_ran.set()

        task = asyncio.create_task(other_work())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=p.app), base_url="http://t") as c:
            r = await c.get("/metrics")
        await task
        return r

    r = asyncio.run(go())
    assert r.status_code == 200 and "heatpump_probe 1.0" in r.text
    assert seen["copy"] == seen["loop"]  # the copy: on the loop, between its steps
    assert seen["render"] != seen["loop"]  # the text: in another thread
    assert seen["loop_ran_meanwhile"] is True


def test_a_scrape_shows_one_moment_while_the_loop_changes_everything():
    """The loop replaces every count and every gateway's snapshot while the text is made (the
    probe holds the render until three more steps have run): the text must still show the
    step of its copy, the same in the counts, the timestamps and every register gauge."""
    p = build()
    steps_since_copy = {"n": 0}
    three_more = threading.Event()

    def probe_copy():
        steps_since_copy["n"] = 0
        three_more.clear()

        def render():
            assert three_more.wait(10), "the loop did not run while the text was made"
            return []
        return render

    p.metrics.deferred.insert(0, probe_copy)  # rendered before the register gauges

    async def go():
        gen = 1
        generation(p, gen)
        stop = asyncio.Event()

        async def loop_work():
            nonlocal gen
            while not stop.is_set():
                await asyncio.sleep(0.001)
                gen += 1
                generation(p, gen)
                steps_since_copy["n"] += 1
                if steps_since_copy["n"] >= 3:
                    three_more.set()

        task = asyncio.create_task(loop_work())
        texts = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=p.app), base_url="http://t") as c:
            for _ in range(5):
                texts.append((await c.get("/metrics")).text)
        stop.set()
        await task
        return texts, gen

    texts, last = asyncio.run(go())
    moments = []
    for text in texts:
        m = parse(text)
        (polls,) = m["heatpump_polls_total"]
        assert m["heatpump_last_success_timestamp_seconds"] == [polls] * len(GATEWAYS)
        assert m["heatpump_register_outdoor_temp_celsius"] == [polls] * len(GATEWAYS)
        assert m["heatpump_register_indoor_temp_celsius"] == [polls] * len(GATEWAYS)
        moments.append(polls)
    assert moments == sorted(moments) and len(set(moments)) == len(moments)  # each scrape a later moment
    assert last >= moments[-1] + 3  # and the loop ran on while each was made


def test_a_copy_of_the_register_gauges_keeps_its_moment():
    gauges = RegisterGauges(load_provider, max_gateways=3)
    gauges.on_snapshots([Snapshot("a", "nibe", "api", 0, {"outdoor_temp": 1.0})])
    render = gauges.copy()
    gauges.on_snapshots([Snapshot("a", "nibe", "api", 1000, {"outdoor_temp": 2.0}),
                         Snapshot("b", "thermia", "api", 1000, {"outdoor_temp": 3.0})])
    then = {f.name: [(s.labels["gateway"], s.value) for s in f.samples] for f in render()}
    assert then == {"heatpump_register_outdoor_temp_celsius": [("a", 1.0)]}
    now = {f.name: [(s.labels["gateway"], s.value) for s in f.samples] for f in gauges.collect()}
    assert now == {"heatpump_register_outdoor_temp_celsius": [("a", 2.0), ("b", 3.0)]}
