"""Sink stage: where snapshots go. Every sink has the same small async interface."""

from __future__ import annotations

from typing import Protocol, Sequence

from ..model import Snapshot


class SinkError(Exception):
    """A write failed. The message names the cause in plain words and never holds a secret."""


class Sink(Protocol):
    #: short human description used in logs, e.g. "InfluxDB v2 at http://influxdb:8086 (bucket heatpump)"
    description: str

    async def write(self, snapshots: Sequence[Snapshot]) -> None:
        """Store the snapshots (one point/row each). Raises :class:`SinkError` on failure.

        Writing the same (gateway, source, time) again must overwrite, never duplicate.
        """

    async def check(self) -> None:
        """Verify the sink is reachable and the credentials/bucket/database are right.

        Raises :class:`SinkError`. Used at start-up to log a clear line; the collector keeps
        running (and retrying) even when it fails."""

    async def close(self) -> None: ...
