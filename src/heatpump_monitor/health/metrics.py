"""Prometheus metrics of a running collector, read from its state at scrape time.

Nothing is counted twice: the collector, ticker, writer and spool already keep their counts;
this module only exposes them (plus a histogram of sink write latency, fed by the writer).
"""

from __future__ import annotations

from typing import Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from .. import __version__
from ..pipeline import contract
from ..pipeline.writer import Writer

WRITE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class CollectorMetrics(Collector):
    def __init__(self, collector: contract.Collector, writer: Writer, source: str, brand: str) -> None:
        self.collector = collector
        self.writer = writer
        self.source = source
        self.brand = brand
        self.registry = CollectorRegistry(auto_describe=False)
        self.write_seconds = Histogram(
            "heatpump_sink_write_seconds", "Time of one write of a batch of snapshots to the sink",
            ["result"], buckets=WRITE_BUCKETS, registry=self.registry)
        for result in ("ok", "failed"):  # both series exist from the start, as every other metric
            self.write_seconds.labels(result)
        #: more metric families, collected with these (the alerts' when they are on)
        self.extra: list[Callable[[], Iterator[Metric]]] = []
        self.registry.register(self)
        writer.observer = self.observe_write

    def observe_write(self, seconds: float, n: int, ok: bool) -> None:
        self.write_seconds.labels("ok" if ok else "failed").observe(seconds)

    def describe(self) -> list[Metric]:
        return []  # collected fresh at every scrape

    def collect(self) -> Iterator[Metric]:
        c, w = self.collector, self.writer
        info = InfoMetricFamily("heatpump_collector", "The running collector")
        info.add_metric([], {"version": __version__, "source": self.source, "brand": self.brand,
                             "sink": w.sink.description, "spool": w.spool.description})
        yield info

        stats = c.stats
        polls = CounterMetricFamily("heatpump_polls", "Polls (one gateway at one tick) by result: ok, or the "
                                    "cause of the failure", labels=["result"])
        polls.add_metric(["ok"], stats.polls_ok)
        for cause, n in sorted(stats.failures.items()):
            polls.add_metric([cause], n)
        yield polls
        yield CounterMetricFamily("heatpump_values_rejected", "Register values dropped as invalid",
                                  value=stats.values_rejected)
        yield CounterMetricFamily("heatpump_snapshots_emitted", "Snapshots handed to the writer",
                                  value=stats.snapshots)
        msgs = CounterMetricFamily("heatpump_mqtt_messages", "MQTT messages by result (refused: of no accepted "
                                   "gateway, within rejected; dropped: the client's queue was full); 0 for the "
                                   "API collector", labels=["result"])
        for result in contract.MESSAGE_RESULTS:
            msgs.add_metric([result], stats.messages[result])
        yield msgs

        yield CounterMetricFamily("heatpump_ticks", "Ticks of the interval grid run", value=c.ticker.ticks)
        yield CounterMetricFamily("heatpump_ticks_missed", "Ticks skipped because the previous one ran late",
                                  value=c.ticker.missed)
        yield CounterMetricFamily("heatpump_clock_steps", "Wall-clock steps seen (against the monotonic clock)",
                                  value=c.ticker.clock_steps)
        yield CounterMetricFamily("heatpump_snapshots_stored", "Snapshots acknowledged by the sink",
                                  value=w.stored)
        yield CounterMetricFamily("heatpump_snapshots_dropped", "Snapshots dropped because the spool was full",
                                  value=w.dropped)
        yield CounterMetricFamily("heatpump_snapshots_rejected", "Snapshots the sink refused (set aside, not retried)",
                                  value=w.rejected)
        yield GaugeMetricFamily("heatpump_spool_entries", "Snapshots waiting in the spool", value=w.pending)
        yield GaugeMetricFamily("heatpump_spool_bytes", "Bytes of snapshots waiting in the spool",
                                value=w.spool.bytes)
        yield GaugeMetricFamily("heatpump_sink_up", "1 while the last write to the sink succeeded",
                                value=0 if w.failing_since is not None else 1)
        last = GaugeMetricFamily("heatpump_last_success_timestamp_seconds",
                                 "Unix time of the last successful poll (API) or snapshot (MQTT) per gateway",
                                 labels=["gateway"])
        for gateway, t in sorted(c.last_success.items()):
            last.add_metric([gateway], t)
        yield last
        for families in self.extra:
            yield from families()
