"""Embedded store (default): SQLite in WAL mode, one row per poll. No server needed.

Row: (gateway, source, ts_ms, brand, data) with data a JSON object name -> float. Another
process (the dashboard, ``verify``) may read while the collector writes (WAL).

Rollups
-------
Charts over months would have to parse every snapshot's JSON (a year of 30 s polls is over a
million rows), so every write also maintains two summary tables with, per (gateway, source,
field, bucket), the count, min, max and sum of the field's values - for every register of the
snapshots and the derived fields of :mod:`heatpump_monitor.derived`:

* ``rollup``: 10-minute buckets (:data:`ROLLUP_BUCKET_MS`), from the snapshots;
* ``rollup_1h``: 1-hour buckets (:data:`ROLLUP_HOUR_MS`), from the six 10-minute rows.

The pseudo-field ``""`` (:data:`SNAPSHOT_COUNT`) counts the snapshots of a bucket whatever
their fields, so a reader knows which buckets hold data at all.

Why these sizes: a chart bucket is span / 1,500 points. Spans up to 1,500 x 10 min = 10.4 days
are read from the snapshots themselves (at most ~31,000 rows at 30 s polls); up to 62.5 days
(1-hour chart buckets) from ``rollup``, at most 9,000 rows per field; longer ones from
``rollup_1h``: a year is 8,760 rows per field, where the 10-minute table would need 52,560
(which, with 7 fields, costs ~0.35 s to scan and group on a small machine - over the 0.2 s
target). A write recomputes at most one 10-minute bucket per snapshot (20 snapshots at 30 s)
and one hour (6 rows per field). Finer buckets would make long charts slower, coarser ones
push more spans onto the raw path and round chart buckets up more.

How a write maintains them, in the write's transaction (:meth:`EmbeddedSink.write_sync`):

* a NEW snapshot (no stored row for its gateway, source and tick) is added to its 10-minute
  bucket (:func:`add_to_rollup`): per field n + 1, min, max, sum + value;
* a snapshot written AGAIN (a replay, or MQTT round mode merging one field at a time) is merged
  into the stored row as before (``json_patch``, newest wins), and its 10-minute bucket is
  RECOMPUTED from ``snapshots`` after the batch (:func:`rebuild_buckets`) and its rows
  replaced: nothing is ever counted twice, and a merged value replaces the old one;
* then each touched hour is recomputed from its 10-minute rows (:data:`ROLL_HOUR`).

Cost (bench/bench_series.py, 2-core machine): one batch of 1,000 gateways x 40 registers
takes ~0.5-0.7 s (mostly the ~43 10-minute upserts per snapshot and the 1,000 hour
recomputes), against ~0.05 s for the snapshots alone; a replayed tick of 1,000 gateways
~1-1.5 s; a bulk load in one-day batches ~0.1 ms per snapshot (a year of one gateway in ~2 min).

The 10-minute arithmetic is one Python function (:func:`accumulate`) for every path - new
polls, big batches, rebuilds, the back-fill - applied in time order to the exact floats of
the snapshots, and an hour is always the same SQL over its six rows, so a bucket whose
snapshots arrived in time order (the normal case) has bit-identical rows whichever way it was
built. Snapshots arriving out of time order give the same n/min/max and a sum equal up to
float rounding.

A store whose rollups are missing or of another layout (``PRAGMA user_version`` differs from
:data:`ROLLUP_VERSION`, e.g. a store written before rollups existed, or after a change of
:data:`~heatpump_monitor.derived.DERIVED`) gets them rebuilt when a sink opens it (one log
line); a reader falls back to the snapshots until then.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sqlite3
import threading
import time
import zlib
from pathlib import Path
from typing import Iterable, Sequence

from ..derived import DERIVED, derive
from ..model import Snapshot
from .base import SinkError

log = logging.getLogger("heatpump_monitor.embedded")

SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    gateway TEXT NOT NULL,
    source  TEXT NOT NULL,
    ts_ms   INTEGER NOT NULL,
    brand   TEXT NOT NULL,
    data    TEXT NOT NULL,
    PRIMARY KEY (gateway, source, ts_ms)
) WITHOUT ROWID;
"""

ROLLUP_BUCKET_MS = 600_000  # 10 minutes: table rollup (see the module doc)
ROLLUP_HOUR_MS = 3_600_000  # 1 hour: table rollup_1h
#: (bucket size, table), coarse to fine
ROLLUP_LEVELS: tuple[tuple[int, str], ...] = ((ROLLUP_HOUR_MS, "rollup_1h"), (ROLLUP_BUCKET_MS, "rollup"))
SNAPSHOT_COUNT = ""  # rollup pseudo-field: n = snapshots in the bucket (vmin/vmax/vsum NULL)

_ROLLUP_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    gateway   TEXT NOT NULL,
    source    TEXT NOT NULL,
    field     TEXT NOT NULL,     -- register, derived field, or '' = snapshot count
    bucket_ms INTEGER NOT NULL,  -- bucket start: ts_ms // size * size
    n         INTEGER NOT NULL,  -- values of the field in the bucket
    vmin      REAL,
    vmax      REAL,
    vsum      REAL,
    PRIMARY KEY (gateway, source, field, bucket_ms)
) WITHOUT ROWID;
"""
ROLLUP_SCHEMA = "".join(_ROLLUP_TABLE.format(name=name) for _, name in ROLLUP_LEVELS)

#: ``PRAGMA user_version`` of a store whose rollups match this code: layout, sizes and derived
#: definitions. Any other value (0 = never built) makes a sink rebuild them on open.
ROLLUP_VERSION = zlib.crc32(repr((2, ROLLUP_LEVELS, sorted(DERIVED.items()))).encode()) & 0x7FFF_FFFF


# Writing a (gateway, source, time) again merges its fields, newest winning - as InfluxDB does
# with points - so a replay never duplicates and one-field rows (MQTT round mode) add up.
# write_sync does it in two steps (INSERT_NEW, then MERGE when the row existed) to know which
# rollup maintenance a row needs; UPSERT is the same thing in one statement.
UPSERT = ("INSERT INTO snapshots VALUES (?,?,?,?,?) ON CONFLICT (gateway, source, ts_ms) "
          "DO UPDATE SET brand = excluded.brand, data = json_patch(data, excluded.data)")
INSERT_NEW = "INSERT INTO snapshots VALUES (?,?,?,?,?) ON CONFLICT (gateway, source, ts_ms) DO NOTHING"
MERGE = "UPDATE snapshots SET brand = ?4, data = json_patch(data, ?5) WHERE gateway = ?1 AND source = ?2 AND ts_ms = ?3"


def json_path(name: str) -> str | None:
    """The SQLite JSON path of a top-level key (bound as a parameter, never pasted into SQL).

    None for a name with a double quote, which a path cannot express: ``json_extract(data,
    NULL)`` is NULL, so such a name reads as absent instead of failing the query."""
    return None if '"' in name else f'$."{name}"'


def bucket_of(ts_ms: int, size: int = ROLLUP_BUCKET_MS) -> int:
    return ts_ms // size * size


def rollup_ready(conn: sqlite3.Connection) -> bool:
    """True when the store's rollups are complete and of this code's layout."""
    return conn.execute("PRAGMA user_version").fetchone()[0] == ROLLUP_VERSION


# -- rollup maintenance -----------------------------------------------------------------------
#
# 10-minute buckets: per field, in time order, n += 1, min, max, sum = sum + value (Python, or
# the same IEEE addition in SQLite's upsert), derived values by heatpump_monitor.derived, on
# the exact floats of the snapshot (json.dumps/json.loads round-trip them). Hours: ROLL_HOUR.

_Aggs = dict  # field -> [n, vmin, vmax, vsum]; SNAPSHOT_COUNT -> [n, None, None, None]
_Hours = dict  # (gateway, source, hour_ms) -> set of fields touched

REPLACE_ROLLUP = "INSERT OR REPLACE INTO rollup VALUES (?,?,?,?,?,?,?,?)"
ADD_ONE = ("INSERT INTO rollup VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (gateway, source, field, bucket_ms) "
           "DO UPDATE SET n = n + excluded.n, vmin = min(vmin, excluded.vmin), "
           "vmax = max(vmax, excluded.vmax), vsum = vsum + excluded.vsum")
# The given fields of one hour from its 10-minute rows (read in index order: field, then time).
ROLL_HOUR = (
    "INSERT OR REPLACE INTO rollup_1h (gateway, source, field, bucket_ms, n, vmin, vmax, vsum) "
    "SELECT ?1, ?2, field, ?3, sum(n), min(vmin), max(vmax), sum(vsum) FROM rollup "
    "WHERE gateway = ?1 AND source = ?2 AND field IN (SELECT value FROM json_each(?4)) "
    f"AND bucket_ms >= ?3 AND bucket_ms < ?3 + {ROLLUP_HOUR_MS} GROUP BY field"
)
_HAS_BUCKET = "SELECT n FROM rollup WHERE gateway = ? AND source = ? AND field = '' AND bucket_ms = ?"
_BUCKET_ROWS = (f"SELECT data FROM snapshots WHERE gateway = ? AND source = ? AND ts_ms >= ? "
                f"AND ts_ms < ? + {ROLLUP_BUCKET_MS} ORDER BY ts_ms")


def accumulate(aggs: _Aggs, values: dict[str, float]) -> None:
    """Add one snapshot's (clean) values and its derived fields to ``aggs``."""
    c = aggs.get(SNAPSHOT_COUNT)
    if c is None:
        aggs[SNAPSHOT_COUNT] = [1, None, None, None]
    else:
        c[0] += 1
    for name, x in values.items():
        if name == SNAPSHOT_COUNT or name in DERIVED:  # a derived value always wins over a register
            continue
        _add(aggs, name, x)
    for name in DERIVED:
        d = derive(values, name)
        if d is not None:
            _add(aggs, name, d)


def _add(aggs: _Aggs, name: str, x: float) -> None:
    a = aggs.get(name)
    if a is None:
        aggs[name] = [1, x, x, x]
    else:
        a[0] += 1
        if x < a[1]:
            a[1] = x
        if x > a[2]:
            a[2] = x
        a[3] = a[3] + x


def _touch(hours: _Hours, key: tuple[str, str, int], fields: Iterable[str]) -> None:
    g, s, b = key
    hours.setdefault((g, s, bucket_of(b, ROLLUP_HOUR_MS)), set()).update(fields)


def roll_hours(conn: sqlite3.Connection, hours: _Hours) -> None:
    """Recompute the given fields of each (gateway, source, hour) from the 10-minute rows."""
    conn.executemany(ROLL_HOUR, [(*key, json.dumps(sorted(fields))) for key, fields in sorted(hours.items())])


def add_to_rollup(conn: sqlite3.Connection, fresh: dict[tuple[str, str, int], list[dict[str, float]]],
                  hours: _Hours) -> None:
    """Add new snapshots to the 10-minute rollup: per bucket key (gateway, source, bucket_ms)
    their clean values in time order; note the touched hours and fields in ``hours``.

    A bucket without rows gets the aggregates computed here in one go; a bucket with rows gets
    each value added in the database (n + 1, min, max, vsum + value), one snapshot after the
    other - the same float operations in the same order either way."""
    inserts: list[tuple] = []
    upserts: list[tuple] = []
    for key in sorted(fresh):
        g, s, b = key
        values_list = fresh[key]
        if conn.execute(_HAS_BUCKET, key).fetchone() is None:
            aggs: _Aggs = {}
            for values in values_list:
                accumulate(aggs, values)
            inserts.extend((g, s, f, b, *a) for f, a in aggs.items())
            _touch(hours, key, aggs)
            continue
        for values in values_list:
            aggs = {}
            accumulate(aggs, values)
            upserts.extend((g, s, f, b, *a) for f, a in aggs.items())
            _touch(hours, key, aggs)
    conn.executemany(REPLACE_ROLLUP, inserts)
    conn.executemany(ADD_ONE, upserts)


def _stored_values(data: str) -> dict[str, float] | None:
    try:
        values = json.loads(data)
    except ValueError:
        return None
    return _clean(values) if isinstance(values, dict) else None


def _write_aggs(conn: sqlite3.Connection, key: tuple[str, str, int], aggs: _Aggs, hours: _Hours) -> None:
    g, s, b = key
    conn.executemany(REPLACE_ROLLUP, [(g, s, f, b, *a) for f, a in aggs.items()])
    _touch(hours, key, aggs)


def rebuild_buckets(conn: sqlite3.Connection, keys: Iterable[tuple[str, str, int]], hours: _Hours) -> None:
    """Recompute the 10-minute rollup of each (gateway, source, bucket_ms) from its stored
    snapshots, in time order, replacing its rows; note the touched hours in ``hours``.
    Stored fields are only ever added or overwritten, so the recomputed fields cover every row
    the bucket had."""
    for key in sorted(set(keys)):
        aggs: _Aggs = {}
        for (data,) in conn.execute(_BUCKET_ROWS, (*key[:2], key[2], key[2])):
            values = _stored_values(data)
            if values is not None:
                accumulate(aggs, values)
        _write_aggs(conn, key, aggs, hours)


def backfill_rollup(conn: sqlite3.Connection) -> int:
    """Build both rollups of every stored snapshot (into empty tables), in time order per
    (gateway, source): the rows poll-by-poll writes give. Caller's transaction. Returns the
    number of snapshots read."""
    n = 0
    hours: _Hours = {}
    key, aggs = None, {}
    for g, s, ts, data in conn.execute("SELECT gateway, source, ts_ms, data FROM snapshots "
                                       "ORDER BY gateway, source, ts_ms"):
        n += 1
        k = (g, s, bucket_of(ts))
        if k != key:
            if key is not None:
                _write_aggs(conn, key, aggs, hours)
            key, aggs = k, {}
        values = _stored_values(data)
        if values is not None:
            accumulate(aggs, values)
    if key is not None:
        _write_aggs(conn, key, aggs, hours)
    roll_hours(conn, hours)
    return n


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """(Re)build the rollups when missing or of another layout."""
    if rollup_ready(conn):
        return
    t0 = time.monotonic()
    conn.execute("BEGIN IMMEDIATE")  # one writer migrates; another waits, then finds it done
    try:
        if rollup_ready(conn):
            conn.rollback()
            return
        old = conn.execute("SELECT count(*) FROM sqlite_master WHERE name IN ('rollup', 'rollup_1h')").fetchone()[0]
        for _, name in ROLLUP_LEVELS:
            conn.execute(f"DROP TABLE IF EXISTS {name}")
        for _, name in ROLLUP_LEVELS:
            conn.execute(_ROLLUP_TABLE.format(name=name))
        n = backfill_rollup(conn)
        conn.execute(f"PRAGMA user_version = {int(ROLLUP_VERSION)}")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    if n:
        log.info("Embedded store %s: %s the chart rollups from %d snapshots in %.1f s", path,
                 "rebuilt" if old else "created and back-filled", n, time.monotonic() - t0)


def connect(path: str | Path, readonly: bool = False) -> sqlite3.Connection:
    p = Path(path)
    if readonly:
        if not p.exists():
            raise SinkError(f"embedded store {p} does not exist yet (has the collector run?)")
        conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, check_same_thread=False)
    else:
        p.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(p, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(SCHEMA)
        _migrate(conn, p)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def _clean(values: dict[str, float]) -> dict[str, float]:
    # NaN and infinities have no JSON form (json.dumps would write NaN, which SQLite's JSON
    # functions reject): such a value is left out, like an absent register.
    try:
        if all(math.isfinite(v) for v in values.values()):
            return values
    except TypeError:
        pass
    return {k: v for k, v in values.items() if isinstance(v, (int, float)) and math.isfinite(v)}


class EmbeddedSink:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.description = f"embedded store at {self.path.resolve()}"
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self._conn = connect(self.path)
            except (sqlite3.Error, OSError) as exc:
                raise SinkError(f"cannot open {self.description}: {exc}") from None
        return self._conn

    def write_sync(self, snapshots: Sequence[Snapshot]) -> None:
        """Store the snapshots and maintain the rollups (module doc), in one transaction.

        Any batch size works: a bulk load is the same call with big batches, in time order.
        """
        rows = []
        for s in snapshots:
            values = _clean(s.values)
            if values:
                rows.append((s.gateway, s.source, s.time_ms, s.brand,
                             json.dumps(values, separators=(",", ":")), values))
        if not rows:
            return
        with self._lock:
            db = self._db()
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    self._write_rows(db, rows)
                    db.commit()
                except BaseException:
                    db.rollback()
                    raise
            except (sqlite3.Error, OSError) as exc:
                raise SinkError(f"write to {self.description} failed: {exc}") from None

    @staticmethod
    def _write_rows(db: sqlite3.Connection, rows: list[tuple]) -> None:
        insert, merge = db.cursor(), db.cursor()
        fresh: dict[tuple[str, str, int], list[dict[str, float]]] = {}
        again: set[tuple[str, str, int]] = set()
        for g, s, ts, brand, data, values in rows:
            row = (g, s, ts, brand, data)
            insert.execute(INSERT_NEW, row)
            key = (g, s, bucket_of(ts))
            if insert.rowcount == 1:
                fresh.setdefault(key, []).append(values)
            else:
                merge.execute(MERGE, row)
                again.add(key)
        for key in again:  # rebuilt after every row of the batch is stored: sees the final state
            fresh.pop(key, None)
        hours: _Hours = {}
        rebuild_buckets(db, again, hours)
        add_to_rollup(db, fresh, hours)
        roll_hours(db, hours)

    async def write(self, snapshots: Sequence[Snapshot]) -> None:
        await asyncio.to_thread(self.write_sync, snapshots)

    async def check(self) -> None:
        await asyncio.to_thread(self._db)

    async def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
