"""Old points -> snapshots on the grid, by the MQTT collector's own rules.

Each old point is handed to a :class:`~heatpump_monitor.pipeline.snapshotter.Snapshotter` as a
message of one gateway arriving at the point's moment (values already scaled), and the grid's
ticks are run between points in time order: tick ``T`` holds every register's latest value from
points *before* ``T``; a gateway silent for longer than ``MQTT_SILENT_LIMIT`` at ``T`` gives no
snapshot (a gap, not flat-lined data), and after twice that it is forgotten with its values (a
register then reappears only when it is published again). No rule is restated here.

Everything the importer needs to continue exactly where it stopped (:meth:`Aligner.state`) is
JSON: the next tick, the held values and the counters.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from ..model import Snapshot
from ..pipeline.snapshotter import GatewayValues, Snapshotter
from ..providers import Provider, normalize_index
from .source import Point

#: unknown register ids counted by name at most (the rest summed), so a strange database
#: cannot grow the checkpoint without bound
MAX_UNKNOWN_NAMED = 256


@dataclass
class Counts:
    points: int = 0  # read from the old database
    taken: int = 0  # handed to the snapshotter (known registers, or unknown ones stored)
    unknown: dict[str, int] = field(default_factory=dict)  # register id -> points (not stored)
    unknown_other: int = 0  # points of unknown ids beyond MAX_UNKNOWN_NAMED
    bad: int = 0  # no register id, or not a number
    rescaled: int = 0  # points multiplied by a --rescale factor
    rejected: int = 0  # dropped by the provider's checks (implausible for the register)
    snapshots: int = 0  # written

    def merge_unknown(self, counter: Counter[str]) -> None:
        for idx, n in counter.items():
            if idx in self.unknown or len(self.unknown) < MAX_UNKNOWN_NAMED:
                self.unknown[idx] = self.unknown.get(idx, 0) + n
            else:
                self.unknown_other += n


class Aligner:
    """One gateway's old points -> its snapshots on the ``interval_ms`` grid, ``source`` tagged."""

    def __init__(self, provider: Provider, gateway: str, source: str, interval_ms: int, silent_limit_ms: int,
                 first_tick_ms: int, store_unknown: bool = False, rescale: dict[str, float] | None = None) -> None:
        self.provider = provider
        self.gateway = gateway
        self.interval_ms = interval_ms
        self.store_unknown = store_unknown
        self.rescale = dict(rescale or {})
        # payload_scale "scaled": the old collector stored real units; discovery mode (no MACs):
        # a gateway silent for twice the limit is forgotten, as on MQTT
        self.snap = Snapshotter(provider, interval_ms, silent_limit_ms, store_unknown=store_unknown,
                                payload_scale="scaled")
        self.snap.source = source
        self.next_tick = -(-first_tick_ms // interval_ms) * interval_ms
        self.counts = Counts()

    def feed(self, points: Iterable[Point]) -> Iterable[Snapshot]:
        """Take points (in time order), yielding the snapshots of the ticks they pass."""
        unknown: Counter[str] = Counter()
        try:
            for p in points:
                self.counts.points += 1
                while self.next_tick <= p.time_ms:
                    yield from self._tick()
                idx = normalize_index(p.register_id) if p.register_id else None
                if idx is None or not math.isfinite(p.value):
                    self.counts.bad += 1
                    continue
                if self.provider.register(idx) is None:
                    unknown[idx] += 1
                    if not self.store_unknown:
                        continue
                value = p.value
                factor = self.rescale.get(idx)
                if factor is not None:
                    value *= factor
                    self.counts.rescaled += 1
                self.counts.taken += 1
                before = self.snap.stats.rejected
                self.snap.accept_values(self.gateway, {idx: value}, p.time_ms, scaled=True)
                self.counts.rejected += self.snap.stats.rejected - before
        finally:
            self.counts.merge_unknown(unknown)

    def until(self, end_ms: int) -> Iterable[Snapshot]:
        """The snapshots of the remaining ticks before ``end_ms``."""
        while self.next_tick < end_ms:
            yield from self._tick()

    def _tick(self) -> list[Snapshot]:
        out = self.snap.tick(self.next_tick, self.next_tick)
        self.next_tick += self.interval_ms
        self.counts.snapshots += len(out)
        return out

    def warm_up(self, last: list[Point], recent: list[Point], since_ms: int) -> None:
        """The state at ``since_ms`` as the collector would have had it: ``last``, each
        register's last point before the warm-up window (taken without ticks: they say nothing
        about silences), then ``recent``, every point of the window, with its ticks run and
        their snapshots dropped (so a silence in the window forgets as it should). Counters
        start at zero afterwards: they count what is imported."""
        for _ in self.feed(last):
            pass
        for _ in self.feed(recent):
            pass
        for _ in self.until(since_ms):
            pass
        self.counts = Counts()

    # -- checkpoint ---------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        gws = {mac: {"values": gw.values, "last_seen_ms": gw.last_seen_ms, "silent": gw.silent,
                     "absent": sorted(gw.absent)} for mac, gw in self.snap.gateways.items()}
        return {"next_tick_ms": self.next_tick, "gateways": gws, "counts": asdict(self.counts)}

    def restore(self, state: dict[str, Any]) -> None:
        self.next_tick = int(state["next_tick_ms"])
        self.snap.gateways = {
            str(mac): GatewayValues(str(mac), {str(k): float(v) for k, v in g["values"].items()},
                                    int(g["last_seen_ms"]), bool(g["silent"]), absent=set(g.get("absent", ())))
            for mac, g in state["gateways"].items()}
        self.counts = Counts(**state["counts"])


def quiet_snapshotter_log() -> tuple[logging.Logger, int]:
    """The snapshotter speaks of MQTT and warns per silence; the import reports its own totals
    and the gaps instead. Returns (logger, level to restore)."""
    logger = logging.getLogger("heatpump_monitor.mqtt")
    level = logger.level
    logger.setLevel(logging.ERROR)
    return logger, level
