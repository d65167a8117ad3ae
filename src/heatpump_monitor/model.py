"""The one data type that flows through the pipeline: source -> decode -> sink -> reader."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone


@dataclass(slots=True)
class Snapshot:
    """Every value of one poll of one gateway, under one timestamp.

    ``time_ms`` is the poll's scheduled tick on the interval grid (UTC, epoch milliseconds),
    not the moment the answer arrived. ``values`` maps register names to values in real units.
    """

    gateway: str
    brand: str
    source: str
    time_ms: int
    values: dict[str, float] = field(default_factory=dict)

    @property
    def iso_time(self) -> str:
        return iso_ms(self.time_ms)


def iso_ms(time_ms: int) -> str:
    """ISO-8601 UTC with milliseconds and a Z, e.g. 2026-11-28T10:00:30.000Z."""
    dt = datetime.fromtimestamp(time_ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{time_ms % 1000:03d}Z"
