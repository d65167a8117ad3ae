"""Reader of the embedded store, for the web UI and ``verify``: time-ranged, downsampled series."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from ..model import Snapshot
from ..sinks.embedded import connect


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


class EmbeddedReader:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self.path, readonly=True)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def gateways(self) -> list[GatewayInfo]:
        rows = self._db().execute(
            "SELECT gateway, source, max(brand), min(ts_ms), max(ts_ms), count(*) "
            "FROM snapshots GROUP BY gateway, source ORDER BY gateway, source"
        ).fetchall()
        return [GatewayInfo(*r) for r in rows]

    def latest(self, gateway: str, source: str | None = None) -> Snapshot | None:
        q = "SELECT gateway, brand, source, ts_ms, data FROM snapshots WHERE gateway=?"
        args: list[object] = [gateway]
        if source:
            q += " AND source=?"
            args.append(source)
        row = self._db().execute(q + " ORDER BY ts_ms DESC LIMIT 1", args).fetchone()
        return _snap(row) if row else None

    def snapshots(self, gateway: str, start_ms: int, end_ms: int,
                  source: str | None = None) -> Iterator[Snapshot]:
        """Every snapshot with start_ms <= time < end_ms, in time order."""
        q = ("SELECT gateway, brand, source, ts_ms, data FROM snapshots "
             "WHERE gateway=? AND ts_ms>=? AND ts_ms<?")
        args: list[object] = [gateway, start_ms, end_ms]
        if source:
            q += " AND source=?"
            args.append(source)
        for row in self._db().execute(q + " ORDER BY ts_ms", args):
            yield _snap(row)

    def series(self, gateway: str, fields: Sequence[str], start_ms: int, end_ms: int,
               max_points: int = 1500, source: str | None = None) -> list[Series]:
        """Each field over [start, end), at most ``max_points`` buckets, keeping min and max.

        A bucket with no snapshot is simply absent, so a real outage stays a visible gap.
        Field names are bound as JSON paths parameters, never pasted into SQL.
        """
        span = max(1, end_ms - start_ms)
        bucket = max(1, -(-span // max(1, max_points)))
        cols = ", ".join(
            f"min(json_extract(data, ?{i})), max(json_extract(data, ?{i})), avg(json_extract(data, ?{i}))"
            for i in range(1, len(fields) + 1)
        )
        n = len(fields)
        q = (f"SELECT (ts_ms - ?{n + 1}) / ?{n + 2} AS b, min(ts_ms), {cols} FROM snapshots "
             f"WHERE gateway = ?{n + 3} AND ts_ms >= ?{n + 1} AND ts_ms < ?{n + 4}")
        args: list[object] = [f'$."{f}"' for f in fields] + [start_ms, bucket, gateway, end_ms]
        if source:
            q += f" AND source = ?{n + 5}"
            args.append(source)
        q += " GROUP BY b ORDER BY b"
        out = [Series(f, [], [], [], []) for f in fields]
        for row in self._db().execute(q, args):
            t = row[1] if bucket == 1 else start_ms + row[0] * bucket
            for i, s in enumerate(out):
                lo, hi, mean = row[2 + 3 * i: 5 + 3 * i]
                s.t.append(t)
                s.min.append(lo)
                s.max.append(hi)
                s.mean.append(mean)
        return out


def _snap(row: tuple) -> Snapshot:
    gateway, brand, source, ts_ms, data = row
    return Snapshot(gateway=gateway, brand=brand, source=source, time_ms=ts_ms, values=json.loads(data))
