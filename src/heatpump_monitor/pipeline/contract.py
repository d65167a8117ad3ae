"""What a collector is to the runner, ``/metrics`` and the health checks: one contract for the
API collector and the MQTT collector, so none of them asks which kind it was given.

Both count the same things in the same words (:class:`CollectorStats`), and ``/metrics``
exposes exactly these under the same names for both (README, "Metrics").
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from .grid import Ticker

#: the results of ``heatpump_mqtt_messages_total``, always all exposed (0 for the API collector)
MESSAGE_RESULTS = ("accepted", "rejected", "ignored", "refused", "dropped")


@dataclass
class CollectorStats:
    """Counts since the start.

    A *poll* is one gateway at one tick: the API collector's ``GET /api/alldata``, the MQTT
    collector's snapshot of the values it holds for that gateway. ``polls_ok`` gave a snapshot;
    ``failures`` counts the others by cause (API: ``timeout``, ``connect``, ``empty``, ...; MQTT:
    ``silent``, a gateway silent longer than ``MQTT_SILENT_LIMIT`` or configured and never
    heard, and ``no_values``, heard but holding no valid value yet).
    """

    polls_ok: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    #: register values dropped as invalid (API: in an answer; MQTT: a message of an accepted gateway)
    values_rejected: int = 0
    #: snapshots handed to the writer (stored, waiting in the spool, or refused by the store)
    snapshots: int = 0
    #: MQTT messages by result (:data:`MESSAGE_RESULTS`); none for the API collector
    messages: Counter[str] = field(default_factory=Counter)

    @property
    def polls_empty(self) -> int:
        """API: the gateway answered ``{}`` (counted apart in the stop line)."""
        return self.failures["empty"]

    @property
    def polls_failed(self) -> int:
        return sum(self.failures.values()) - self.polls_empty


class Collector(Protocol):
    """A running collector: ticks on the interval grid until ``stop``."""

    ticker: Ticker
    interval_s: int
    #: gateway name -> ``time.time()`` of its last successful poll (``/metrics``, ``/readyz``)
    last_success: dict[str, float]

    @property
    def stats(self) -> CollectorStats: ...

    async def run(self, stop: asyncio.Event) -> None: ...

    def summary(self) -> str:
        """One line of counts for the log when the collector stops."""
        ...
