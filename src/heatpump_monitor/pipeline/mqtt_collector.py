"""The MQTT collector: MQTT source -> snapshotter -> writer.

``snapshot`` mode (default): at every tick of the same grid as the API collector, one snapshot
per live gateway with every known value. ``round`` mode: each message stored as it arrives,
stamped with its interval window (the spec's old quick fix, to measure against).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from ..config import MqttSettings
from ..providers import Provider
from ..sources.mqtt import MqttSource
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
        names = {settings.mac: settings.gateway_name} if settings.mac and settings.gateway_name else {}
        self.snapshotter = Snapshotter(provider, interval_s * 1000, settings.silent_limit_s * 1000,
                                       names=names, store_unknown=store_unknown,
                                       payload_scale=settings.payload_scale)
        self.source = MqttSource(settings, self._on_message, self.snapshotter.live_macs,
                                 lambda: self.snapshotter.silent_macs(settings.mac))
        self.ticker = Ticker(interval_s, clock, heartbeat_file)
        self.interval_s = interval_s
        #: gateway name -> clock() time of its last snapshot (metrics, /readyz)
        self.last_success: dict[str, float] = {}

    def _emitted(self, snapshots: list) -> None:
        now = self.clock()
        for s in snapshots:
            self.last_success[s.gateway] = now

    def _on_message(self, topic: str, payload: bytes) -> None:
        single = self.snapshotter.accept(topic, payload, int(self.clock() * 1000))
        if single is not None and self.settings.timestamp_mode == "round":
            self._emitted([single])
            self.writer.submit([single])

    async def _on_tick(self, tick_ms: int) -> None:
        if self.settings.timestamp_mode == "snapshot":
            snapshots = self.snapshotter.tick(tick_ms, int(self.clock() * 1000))
            if snapshots:
                self._emitted(snapshots)
                self.writer.submit(snapshots)
        else:  # round: nothing to emit; still tracks silent gateways for the log
            self.snapshotter.tick(tick_ms, int(self.clock() * 1000))

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
        return (f"{self.ticker.ticks} tick(s), {s.messages} message(s), {s.accepted} accepted, "
                f"{s.rejected} dropped, {s.snapshots} snapshot(s), {self.ticker.missed} tick(s) skipped")
