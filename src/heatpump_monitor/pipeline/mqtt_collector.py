"""The MQTT collector: MQTT source -> snapshotter -> writer.

``snapshot`` mode (default): at every tick of the same grid as the API collector, one snapshot
per live gateway with every known value. ``round`` mode: each message stored as it arrives,
stamped with its interval window (the spec's old quick fix, to measure against).

Gateways: the configured ones (``H66_MAC``, one or a comma list), or up to
``MQTT_MAX_GATEWAYS`` discovered; a discovered gateway is asked for ``GETALL`` once when the
snapshotter accepts it, and forgotten (with its ``last_success`` entry) when it has been silent
too long. See :mod:`.snapshotter` and :mod:`..sources.mqtt` for the bounds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import replace
from typing import Callable

from ..config import MqttSettings
from ..providers import Provider
from ..sources.mqtt import MqttSource
from .contract import CollectorStats
from .grid import Ticker
from .snapshotter import Snapshotter
from .writer import Writer

log = logging.getLogger("heatpump_monitor.mqtt")


class MqttCollector:
    def __init__(self, settings: MqttSettings, provider: Provider, interval_s: int, writer: Writer,
                 store_unknown: bool = False, clock: Callable[[], float] = time.time,
                 heartbeat_file: str = "") -> None:
        self.settings = settings
        self.writer = writer
        self.clock = clock
        self.snapshotter = Snapshotter(provider, interval_s * 1000, settings.silent_limit_s * 1000,
                                       names=settings.names, store_unknown=store_unknown,
                                       payload_scale=settings.payload_scale, macs=settings.macs,
                                       max_gateways=settings.max_gateways, on_new_gateway=self._new_gateway)
        self.source = MqttSource(settings, self._on_message, self.snapshotter.live_macs,
                                 self.snapshotter.silent_macs, on_retained=self._on_retained)
        self.ticker = Ticker(interval_s, clock, heartbeat_file)
        self.interval_s = interval_s
        #: gateway name -> clock() time of its last snapshot (metrics, /readyz)
        self.last_success: dict[str, float] = {}
        self._counts = CollectorStats()  # polls and snapshots; the messages are the snapshotter's

    @property
    def stats(self) -> CollectorStats:
        """The shared counts (:class:`CollectorStats`), the message counts read from the
        snapshotter and the source as they are now."""
        s = self.snapshotter.stats
        return replace(self._counts, values_rejected=s.rejected - s.refused, messages=Counter(
            accepted=s.accepted, rejected=s.rejected, ignored=s.ignored, refused=s.refused,
            dropped=self.source.dropped))

    def _emitted(self, snapshots: list) -> None:
        now = self.clock()
        self._counts.snapshots += len(snapshots)
        for s in snapshots:
            self.last_success[s.gateway] = now

    def _new_gateway(self, mac: str) -> None:
        self.source.ask_getall(mac)

    def _on_message(self, topic: str, payload: bytes, retained: bool = False) -> None:
        single = self.snapshotter.accept(topic, payload, int(self.clock() * 1000), retained)
        if single is not None and self.settings.timestamp_mode == "round":
            self._emitted([single])
            self.writer.submit([single])

    def _on_retained(self, topic: str, payload: bytes) -> None:
        self._on_message(topic, payload, retained=True)

    async def _on_tick(self, tick_ms: int) -> None:
        snapshots = self.snapshotter.tick(tick_ms, int(self.clock() * 1000))
        self._count_polls(len(snapshots))
        if snapshots and self.settings.timestamp_mode == "snapshot":
            self._emitted(snapshots)
            self.writer.submit(snapshots)
        # round mode emits nothing here; the tick still tracks silent gateways for the log
        known = {gw.name for gw in self.snapshotter.gateways.values()}
        for name in [n for n in self.last_success if n not in known]:
            del self.last_success[name]  # a forgotten gateway

    def _count_polls(self, ok: int) -> None:
        """This tick's polls (one per gateway, see :class:`CollectorStats`), in both modes: a
        gateway with a snapshot is ok, a silent (or never heard) one and one holding no valid
        value yet are failed polls."""
        c = self._counts
        c.polls_ok += ok
        silent = len(self.snapshotter.silent_macs())
        if silent:
            c.failures["silent"] += silent
        empty = len(self.snapshotter.live_macs()) - ok
        if empty:
            c.failures["no_values"] += empty

    async def run(self, stop: asyncio.Event) -> None:
        source = asyncio.create_task(self.source.run(stop), name="mqtt-source")
        try:
            what = "snapshot" if self.settings.timestamp_mode == "snapshot" else "check"
            await self.ticker.run(stop, self._on_tick, what)
        finally:
            source.cancel()
            await asyncio.gather(source, return_exceptions=True)

    def summary(self) -> str:
        s = self.snapshotter.stats
        refused = f" ({s.refused} of no accepted gateway)" if s.refused else ""
        lost = f", {self.source.dropped} lost to a full queue" if self.source.dropped else ""
        return (f"{self.ticker.ticks} tick(s), {s.messages} message(s), {s.accepted} accepted, "
                f"{s.rejected} dropped{refused}{lost}, {self._counts.snapshots} snapshot(s), "
                f"{self.ticker.missed} tick(s) skipped")
