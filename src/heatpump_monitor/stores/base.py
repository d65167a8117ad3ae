"""What every store backend shares: the ``Sink`` and ``Reader`` protocols, the types they
exchange (:class:`Series`, :class:`GatewayInfo`, :func:`bucket_plan`) and one error tree.

Errors, all in one tree so a caller can catch a whole stage or a single cause::

    StoreError                 a store could not be written or read; the message names the
     |                         cause and never holds a secret
     +-- SinkError             a write failed; ``rejected`` = the store refused the data itself
     +-- ReaderError           a read failed; ``cause`` is one of CAUSES (generic words only)
          +-- BudgetExceeded   a read ran past the reader's ``deadline``

A backend is one package under :mod:`heatpump_monitor.stores` with a writer (``Sink``) and a
reader (``Reader``) side by side, and one entry in :mod:`.registry`, the only place that
chooses a backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence

from ..model import Snapshot

#: HTTP statuses by which a store refuses the data itself (retrying the same data cannot help)
REJECTED_STATUSES = frozenset({400, 413, 422})

#: the two bucket sizes charts are aligned to (and the embedded store keeps rollups of): a
#: chart bucket of 10 minutes or more is a whole multiple of one of them (:func:`bucket_plan`)
ROLLUP_BUCKET_MS = 600_000  # 10 minutes
ROLLUP_HOUR_MS = 3_600_000  # 1 hour

# The generic causes of a ReaderError: all that may be told to someone who has not logged in
# (the dashboard's open ``/readyz``): no URL, no path, no server text.
UNREACHABLE = "store unreachable"
CREDENTIALS = "store refused the credentials"
TIMED_OUT = "store timed out"
NOT_FOUND = "store not found"
UNREADABLE = "store unreadable"
FAILED = "store error"
#: every generic cause a reader gives
CAUSES = (UNREACHABLE, CREDENTIALS, TIMED_OUT, NOT_FOUND, UNREADABLE, FAILED)


class StoreError(Exception):
    """A store could not be written or read. The message names the cause in plain words
    (the store, never a secret)."""


class SinkError(StoreError):
    """A write failed.

    ``rejected``: the store refused the data itself (bad request, field type conflict, too
    large), as opposed to being unreachable or misconfigured; the writer then isolates the
    refused polls and sets them aside instead of retrying them forever.

    ``fix``: what the operator must do when the store is misconfigured (e.g. the command that
    creates a missing database), appended to the message; the writer repeats it at most once a
    minute while it lasts."""

    def __init__(self, message: str, rejected: bool = False, fix: str = "") -> None:
        super().__init__(f"{message}: {fix}" if fix else message)
        self.rejected = rejected
        self.fix = fix


class ReaderError(StoreError):
    """A store could not be read; ``cause`` is one of :data:`CAUSES`."""

    def __init__(self, message: str, cause: str = FAILED) -> None:
        super().__init__(message)
        self.cause = cause if cause in CAUSES else FAILED


class BudgetExceeded(ReaderError):
    """A read was stopped because it ran past the reader's ``deadline`` (set by the caller,
    e.g. the dashboard's per-request time budget)."""

    def __init__(self, message: str = "the read was stopped: it ran past its time budget") -> None:
        super().__init__(message, TIMED_OUT)


@dataclass(frozen=True, slots=True)
class GatewayInfo:
    gateway: str
    source: str
    brand: str
    first_ms: int
    last_ms: int
    snapshots: int


@dataclass(slots=True)
class Series:
    """One field over time. With downsampling, each bucket gives its time and min/max/mean."""

    field: str
    t: list[int]
    mean: list[float | None]
    min: list[float | None]
    max: list[float | None]


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


class Reader(Protocol):
    """Reads stored snapshots (the dashboard, ``verify``). Nothing is opened or contacted on
    creation: errors come from the first read. Every read raises :class:`ReaderError`."""

    #: a :func:`time.monotonic` time after which reads stop with :class:`BudgetExceeded` (None: no limit)
    deadline: float | None

    def gateways(self) -> list[GatewayInfo]:
        """Every (gateway, source) stored, with its brand, first and last time and count."""

    def latest(self, gateway: str, source: str | None = None) -> Snapshot | None:
        """The newest snapshot of ``gateway`` (of ``source`` if given), or None."""

    def snapshots(self, gateway: str, start_ms: int, end_ms: int,
                  source: str | None = None, fields: Sequence[str] | None = None) -> Iterator[Snapshot]:
        """Every snapshot with start_ms <= time < end_ms, in time order. With ``fields``, only
        those values are read (the summaries read a dozen of a snapshot's ~60; a snapshot
        holding none of them may be left out)."""

    def series(self, gateway: str, fields: Sequence[str], start_ms: int, end_ms: int,
               max_points: int = 1500, source: str | None = None) -> list[Series]:
        """Each field (register or derived value) over [start, end) on :func:`bucket_plan`'s
        grid; a bucket without snapshots is absent (a gap stays a gap)."""

    def close(self) -> None: ...


def bucket_plan(start_ms: int, end_ms: int, max_points: int = 1500) -> tuple[int, int]:
    """The bucket grid of a series over [start, end): (origin, bucket_ms), bucket k covering
    [origin + k * bucket, origin + (k+1) * bucket). At most ``max_points`` buckets meet the range.

    With ``b = ceil(span / max_points)``:

    * b < 10 min: origin = start, bucket = b (read from the snapshots);
    * 10 min <= b < 1 h: origin and bucket whole multiples of 10 minutes (10-minute rollup);
    * b >= 1 h: whole multiples of an hour (hourly rollup, with the 10-minute one and the
      snapshots for partial hours at the ends).

    The bucket is the smallest such multiple that fits, so rounding can cost up to half the
    points: 14 days at 1,500 points get 20-minute buckets (1,008 points), 90 days 2 hours
    (1,081), 365 days 6 hours (1,461). Shared by both readers, so the embedded store and
    InfluxDB give the same buckets.
    """
    start_ms, end_ms = int(start_ms), int(end_ms)
    n = max(1, int(max_points))
    span = max(1, end_ms - start_ms)
    bucket = -(-span // n)
    if bucket < ROLLUP_BUCKET_MS:
        return start_ms, bucket
    unit = ROLLUP_HOUR_MS if bucket >= ROLLUP_HOUR_MS else ROLLUP_BUCKET_MS
    origin = start_ms // unit * unit
    top = -(-end_ms // unit) * unit
    return origin, unit * -(-(top - origin) // (n * unit))
