"""Prometheus metrics of a running collector, read from its state at scrape time.

Nothing is counted twice: the collector, ticker, writer and spool already keep their counts;
this module only exposes them (plus a histogram of sink write latency, fed by the writer).

A scrape has two steps, so that a big one (register gauges of 1,000 gateways: ~1 s of text)
never holds the collector's event loop: :meth:`CollectorMetrics.freeze` runs on the loop and
copies what the loop changes (numbers, and dicts copied whole, which is cheap and atomic there:
nothing runs between the loop's steps); :meth:`Frozen.render` builds the families and the text
from that copy alone, in a worker thread. Sources with state that must stay on the loop's
thread (the alerts' SQLite connections) give their families at the copy (:attr:`extra`); the
big ones give a copy and a renderer (:attr:`deferred`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from .. import __version__
from ..pipeline import contract
from ..pipeline.writer import Writer

WRITE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: a metric source in two steps: called on the event loop, it copies what the loop changes and
#: returns what builds the families from that copy alone (run in a worker thread)
Deferred = Callable[[], Callable[[], Iterable[Metric]]]


@dataclass(frozen=True)
class CoreState:
    """The collector's own counts at one moment: plain numbers and copied dicts."""

    info: dict[str, str]
    polls_ok: int
    failures: dict[str, int]
    values_rejected: int
    snapshots: int
    messages: dict[str, int]
    ticks: int
    ticks_missed: int
    clock_steps: int
    stored: int
    dropped: int
    rejected: int
    spool_entries: int
    spool_bytes: int
    sink_up: bool
    last_success: dict[str, float]


@dataclass
class Frozen:
    """One scrape's copy: families already built on the loop, plus renderers of copies."""

    core: CoreState
    families: list[Metric] = field(default_factory=list)
    renderers: list[Callable[[], Iterable[Metric]]] = field(default_factory=list)

    def collect(self) -> Iterator[Metric]:
        yield from core_families(self.core)
        yield from self.families
        for render in self.renderers:
            yield from render()

    def render(self) -> bytes:
        """The exposition text; reads nothing but this copy, so any thread may run it."""
        return generate_latest(self)  # a Collector: anything with collect()


class CollectorMetrics(Collector):
    def __init__(self, collector: contract.Collector, writer: Writer, source: str, brand: str) -> None:
        self.collector = collector
        self.writer = writer
        self.source = source
        self.brand = brand
        self.registry = CollectorRegistry(auto_describe=False)
        self.write_seconds = Histogram(
            "heatpump_sink_write_seconds", "Time of one write of a batch of snapshots to the sink",
            ["result"], buckets=WRITE_BUCKETS, registry=None)  # collected by freeze(), with the rest
        for result in ("ok", "failed"):  # both series exist from the start, as every other metric
            self.write_seconds.labels(result)
        #: more metric families, built on the loop at the copy (the alerts': small, and their
        #: SQLite connections belong to the loop's thread)
        self.extra: list[Callable[[], Iterable[Metric]]] = []
        #: sources copied on the loop and built in the worker thread (the register gauges)
        self.deferred: list[Deferred] = []
        self.registry.register(self)
        writer.observer = self.observe_write

    def observe_write(self, seconds: float, n: int, ok: bool) -> None:
        self.write_seconds.labels("ok" if ok else "failed").observe(seconds)

    def describe(self) -> list[Metric]:
        return []  # collected fresh at every scrape

    def collect(self) -> Iterator[Metric]:
        """Every family at once (``generate_latest(self.registry)``: tests, a caller on the loop)."""
        return self.freeze().collect()

    def freeze(self) -> Frozen:
        """On the event loop: a consistent copy of everything the scrape shows. Cheap: scalars,
        dict copies, the histogram's 26 samples, the alerts' few families; the families of the
        register gauges are only built by :meth:`Frozen.render`."""
        c, w = self.collector, self.writer
        stats = c.stats
        core = CoreState(
            info={"version": __version__, "source": self.source, "brand": self.brand,
                  "sink": w.sink.description, "spool": w.spool.description},
            polls_ok=stats.polls_ok, failures=dict(stats.failures), values_rejected=stats.values_rejected,
            snapshots=stats.snapshots, messages={r: stats.messages[r] for r in contract.MESSAGE_RESULTS},
            ticks=c.ticker.ticks, ticks_missed=c.ticker.missed, clock_steps=c.ticker.clock_steps,
            stored=w.stored, dropped=w.dropped, rejected=w.rejected, spool_entries=w.pending,
            spool_bytes=w.spool.bytes, sink_up=w.failing_since is None, last_success=dict(c.last_success))
        families: list[Metric] = list(self.write_seconds.collect())
        for source in self.extra:
            families.extend(source())
        return Frozen(core, families, [copy() for copy in self.deferred])


def core_families(s: CoreState) -> Iterator[Metric]:
    """The collector's own families, from a copy (:meth:`CollectorMetrics.freeze`)."""
    info = InfoMetricFamily("heatpump_collector", "The running collector")
    info.add_metric([], s.info)
    yield info

    polls = CounterMetricFamily("heatpump_polls", "Polls (one gateway at one tick) by result: ok, or the "
                                "cause of the failure", labels=["result"])
    polls.add_metric(["ok"], s.polls_ok)
    for cause, n in sorted(s.failures.items()):
        polls.add_metric([cause], n)
    yield polls
    yield CounterMetricFamily("heatpump_values_rejected", "Register values dropped as invalid",
                              value=s.values_rejected)
    yield CounterMetricFamily("heatpump_snapshots_emitted", "Snapshots handed to the writer",
                              value=s.snapshots)
    msgs = CounterMetricFamily("heatpump_mqtt_messages", "MQTT messages by result (refused: of no accepted "
                               "gateway, within rejected; dropped: the client's queue was full); 0 for the "
                               "API collector", labels=["result"])
    for result in contract.MESSAGE_RESULTS:
        msgs.add_metric([result], s.messages[result])
    yield msgs

    yield CounterMetricFamily("heatpump_ticks", "Ticks of the interval grid run", value=s.ticks)
    yield CounterMetricFamily("heatpump_ticks_missed", "Ticks skipped because the previous one ran late",
                              value=s.ticks_missed)
    yield CounterMetricFamily("heatpump_clock_steps", "Wall-clock steps seen (against the monotonic clock)",
                              value=s.clock_steps)
    yield CounterMetricFamily("heatpump_snapshots_stored", "Snapshots acknowledged by the sink",
                              value=s.stored)
    yield CounterMetricFamily("heatpump_snapshots_dropped", "Snapshots dropped because the spool was full",
                              value=s.dropped)
    yield CounterMetricFamily("heatpump_snapshots_rejected", "Snapshots the sink refused (set aside, not retried)",
                              value=s.rejected)
    yield GaugeMetricFamily("heatpump_spool_entries", "Snapshots waiting in the spool", value=s.spool_entries)
    yield GaugeMetricFamily("heatpump_spool_bytes", "Bytes of snapshots waiting in the spool",
                            value=s.spool_bytes)
    yield GaugeMetricFamily("heatpump_sink_up", "1 while the last write to the sink succeeded",
                            value=1 if s.sink_up else 0)
    last = GaugeMetricFamily("heatpump_last_success_timestamp_seconds",
                             "Unix time of the last successful poll (API) or snapshot (MQTT) per gateway",
                             labels=["gateway"])
    for gateway, t in sorted(s.last_success.items()):
        last.add_metric([gateway], t)
    yield last
