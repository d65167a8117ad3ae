"""Reading the old collector's tall schema: InfluxQL over ``/query`` of InfluxDB 1.x, or of
InfluxDB 2.x's v1-compatible API (``Authorization: Token``, the bucket as ``db``; a bucket
needs a DBRP mapping for InfluxQL to find it).

The request, the answer's shapes, the truncation flag and the error causes are those of the
store reader the registry makes for such a database (``make_reader``: the InfluxDB reader),
whose statement runner this uses; only the queries are the importer's own. Errors are :class:`ImportSourceError`: one
line naming the cause (unreachable, credentials refused, database or bucket not found) in
terms of the command's own ``--from-*`` options, never a secret.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

from ..config import StoreConfig
from ..errors import display_url
from ..stores import make_reader
from ..stores.base import CREDENTIALS, NOT_FOUND, ReaderError

#: the old collectors' measurement, its register tag and its one field
MEASUREMENT = "heatpump"
REGISTER_TAG = "register_id"
VALUE_FIELD = "value"
#: a chunk truncated by the server's max-row-limit is asked again in halves down to this
MIN_SPLIT_MS = 1000
# the same names as InfluxQL identifiers (constants: nothing of the user's is pasted into a query)
_M, _TAG, _FIELD = f'"{MEASUREMENT}"', f'"{REGISTER_TAG}"', f'"{VALUE_FIELD}"'


class ImportSourceError(Exception):
    """The old database cannot be read; the message is one line without secrets."""


class Point(NamedTuple):
    """One old point: its own moment (ms), its register as tagged, its value (already scaled)."""

    time_ms: int
    register_id: str
    value: float


@dataclass(frozen=True)
class OldDatabase:
    """Where the old collector wrote: a 1.x database or a 2.x bucket (never printed whole:
    :meth:`description` has no secret)."""

    url: str
    database: str = ""  # 1.x
    username: str = ""
    password: str = ""
    bucket: str = ""  # 2.x
    org: str = ""
    token: str = ""

    @property
    def is_v2(self) -> bool:
        return bool(self.bucket)

    @property
    def name(self) -> str:
        return self.bucket or self.database

    def description(self) -> str:
        if self.is_v2:
            return f"InfluxDB 2.x at {display_url(self.url)} (bucket {self.bucket}, v1-compatible /query)"
        user = f", user {self.username}" if self.username else ""
        return f"InfluxDB 1.x at {display_url(self.url)} (database {self.database}{user})"

    def store_config(self) -> StoreConfig:
        from pydantic import SecretStr

        if self.is_v2:
            return StoreConfig(kind="influxdb2", url=self.url, token=SecretStr(self.token), org=self.org,
                               bucket=self.bucket)
        return StoreConfig(kind="influxdb1", url=self.url, database=self.database, username=self.username,
                           password=SecretStr(self.password))


class QuerySeries(Protocol):
    """One series of an InfluxQL answer (the InfluxDB reader's ``QuerySeries``)."""

    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]


@runtime_checkable
class InfluxQL(Protocol):
    """What the importer asks of the registry's reader for an InfluxDB: the InfluxDB reader's
    public statement runner (not part of the Reader protocol, which speaks our own schema).
    A protocol, not the class: nothing outside ``stores`` names a backend."""

    def partial_series(self, q: str) -> list[QuerySeries] | None: ...


class TallReader:
    """The old points, a time range at a time (bounded memory: one range's rows)."""

    def __init__(self, old: OldDatabase) -> None:
        self.old = old
        # the registry's reader for this kind of database: one set of requests and error causes
        reader = make_reader(old.store_config())
        if not isinstance(reader, InfluxQL):  # store_config() makes influxdb1/influxdb2 only
            raise TypeError(f"{type(reader).__name__} cannot run InfluxQL for the importer")
        self._reader = reader

    def close(self) -> None:
        self._reader.close()

    def registers(self) -> list[str]:
        """The register ids tagged in the old measurement (empty: not the old collector's data).
        Also the first contact: unreachable, refused or missing shows here."""
        q = f"SHOW TAG VALUES FROM {_M} WITH KEY = {_TAG}"
        return sorted({str(row[1]) for s in self._guarded(q) or [] for row in s.values if len(row) > 1})

    def points(self, start_ms: int, end_ms: int) -> list[Point]:
        """Every point with start_ms <= time < end_ms, in time order. A range the server
        truncates (max-row-limit) is read again in halves."""
        q = (f"SELECT {_FIELD}, {_TAG} FROM {_M} "
             f"WHERE time >= {int(start_ms)}ms AND time < {int(end_ms)}ms")
        series = self._guarded(q)
        if series is None:
            if end_ms - start_ms <= MIN_SPLIT_MS:
                raise ImportSourceError(f"{self.old.description()} truncates even {MIN_SPLIT_MS} ms of points "
                                        "(max-row-limit): raise [http] max-row-limit")
            mid = (start_ms + end_ms) // 2
            return self.points(start_ms, mid) + self.points(mid, end_ms)
        out: list[Point] = []
        for s in series:
            try:
                iv, ir = s.columns.index(VALUE_FIELD), s.columns.index(REGISTER_TAG)
            except ValueError:
                continue
            for row in s.values:
                v, reg = row[iv], row[ir]
                # a string or boolean field, a point without register: not a reading (counted by the caller)
                number = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan
                out.append(Point(int(row[0]), str(reg) if reg is not None else "", number))
        out.sort(key=lambda p: p.time_ms)  # stable: the server's order within one millisecond
        return out

    def last_points(self, before_ms: int) -> list[Point]:
        """Each register's last point before ``before_ms``, in time order: what the gateway had
        published of the registers that change seldom (a setpoint published once a month)."""
        q = (f"SELECT last({_FIELD}) FROM {_M} "
             f"WHERE time < {int(before_ms)}ms GROUP BY {_TAG}")
        series = self._guarded(q)
        if series is None:  # one row per register: only a tiny max-row-limit truncates it
            raise ImportSourceError(f"{self.old.description()} truncates one row per register "
                                    "(max-row-limit): raise [http] max-row-limit")
        out = [Point(int(row[0]), s.tags.get(REGISTER_TAG, ""), float(row[1]))
               for s in series for row in s.values
               if len(row) > 1 and isinstance(row[1], (int, float)) and not isinstance(row[1], bool)]
        out.sort(key=lambda p: p.time_ms)
        return out

    def _guarded(self, q: str) -> list[QuerySeries] | None:
        """The statement's series (None: truncated), its errors as one line in our terms."""
        try:
            return self._reader.partial_series(q)
        except ReaderError as exc:
            raise ImportSourceError(self._explain(exc)) from None

    def _explain(self, exc: ReaderError) -> str:
        old, where = self.old, self.old.description()
        if exc.cause == CREDENTIALS:
            how = ("the token (--from-token-env)" if old.is_v2 else
                   "the username and password (--from-username, --from-password-env)" if old.username else
                   "no credentials: give --from-username and --from-password-env")
            return f"{where} refused the credentials: check {how}"
        if exc.cause == NOT_FOUND:
            if old.is_v2:
                return (f"bucket {old.bucket!r} not found through the v1-compatible API of {display_url(old.url)}: "
                        "check --from-bucket; a bucket needs a DBRP mapping for InfluxQL "
                        f"(influx v1 dbrp create --db {old.bucket} --rp autogen --bucket-id <id> --default)")
            return f"database {old.database!r} not found on {display_url(old.url)}: check --from-database"
        return f"cannot read {where}: {exc}"
