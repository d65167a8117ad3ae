"""Sink stage: where snapshots go. Every sink has the same small async interface."""

from __future__ import annotations

from typing import Protocol, Sequence

from ..model import Snapshot


#: HTTP statuses by which a store refuses the data itself (retrying the same data cannot help)
REJECTED_STATUSES = frozenset({400, 413, 422})


class SinkError(Exception):
    """A write failed. The message names the cause in plain words and never holds a secret.

    ``rejected``: the store refused the data itself (bad request, field type conflict, too
    large), as opposed to being unreachable or misconfigured; the writer then isolates the
    refused polls and sets them aside instead of retrying them forever."""

    def __init__(self, message: str, rejected: bool = False) -> None:
        super().__init__(message)
        self.rejected = rejected


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
