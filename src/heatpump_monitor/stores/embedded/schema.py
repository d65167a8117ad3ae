"""Embedded store (default), its schema and rollups: SQLite in WAL mode, one row per poll.
No server needed. The writer is :mod:`.sink`, the reader :mod:`.reader`.

Row: (gateway, source, ts_ms, brand, data) with data a JSON object name -> float. Another
process (the dashboard, ``verify``) may read while the collector writes (WAL).

Rollups
-------
Charts over months would have to parse every snapshot's JSON (a year of 30 s polls is over a
million rows), so the sink also keeps two summary tables with, per (gateway, source, field,
bucket), the count, min, max and sum of the field's values - for every register of the
snapshots and the derived fields of :mod:`heatpump_monitor.derived`:

* ``rollup``: 10-minute buckets (:data:`ROLLUP_BUCKET_MS`), from the snapshots;
* ``rollup_1h``: 1-hour buckets (:data:`ROLLUP_HOUR_MS`), from the six 10-minute rows.

The pseudo-field ``""`` (:data:`SNAPSHOT_COUNT`) counts the snapshots of a bucket whatever
their fields, so a reader knows which buckets hold data at all.

Why these sizes: a chart bucket is span / 1,500 points. Spans up to 1,500 x 10 min = 10.4 days
are read from the snapshots themselves (at most ~31,000 rows at 30 s polls); up to 62.5 days
(1-hour chart buckets) from ``rollup``, at most 9,000 rows per field; longer ones from
``rollup_1h``: a year is 8,760 rows per field, where the 10-minute table would need 52,560
(with 7 fields ~0.35 s to scan and group on a small machine - over the 0.2 s target). Finer
buckets would make long charts slower, coarser ones push more spans onto the raw path and
round chart buckets up more. The key starts (gateway, source, field, ...) so that a chart
reads each field's buckets in one index range; ordered by bucket first, a year's chart
would scan every field (~0.23 s measured instead of ~0.08 s).

When: a bucket is summarised once it is CLOSED - when its (gateway, source) has a snapshot in
a later bucket. The bucket holding a (gateway, source)'s newest snapshot is OPEN: it has no
rows (or stale ones) and readers compute it from the snapshots (at most 20 at 30 s polls;
the open hour from its closed 10-minute rows plus those). Updating the summaries on every poll
instead would touch ~2 x 43 rows per snapshot, each on its own page of these field-ordered
tables: with one day of history for 1,000 gateways that measured 2.3 s and 280 MB of WAL per
tick.

Spread out: a bucket to (re)compute is not summarised in the write that closes it but queued
in ``to_roll`` (same transaction: a crash loses nothing), and every write summarises the
oldest queued buckets, a bounded number (:func:`roll_budget`), with their hours once closed.
Summarising in the write that closes the buckets made the tick opening a 10-minute bucket for
1,000 gateways cost ~1.6 s against ~0.09 s for the others; the queue spreads those 1,000
buckets over the following ticks. Readers treat a queued bucket like the open one: for each
(gateway, source), everything from its oldest queued bucket (or its open bucket, whichever is
older) on is read from the snapshots, so a read is exact at all times.

A write into a bucket that is already closed - a replay, a merge (MQTT round mode merging one
field at a time), a late poll - queues that bucket (and its hour, if closed) to be RECOMPUTED
from ``snapshots``, so nothing is ever counted twice and a merged value replaces the old one.
Every path (closing, recomputing, the back-fill) runs the same computation over the stored
snapshots in time order (:func:`aggregate`; sums with ``math.fsum``, exact and independent of
order), and an hour is always the same SQL over its six rows (:data:`ROLL_HOUR`): once the
queue is empty, the rollups are a function of the stored snapshots alone, bit for bit,
whatever the batch sizes, arrival order and queue budgets were.

Derived fields: every definition of :data:`~heatpump_monitor.derived.DERIVED`, whatever its
shape (difference, ratio, a counter's increase), is computed per snapshot by its ``compute``
with the snapshot before it (:func:`aggregate`); a bucket's first snapshot gets the stored
snapshot before the bucket. So a write also changes the derived value of the first snapshot
after the written ones: when a definition needs the previous snapshot, the closed bucket
holding that snapshot is queued too (:func:`followers`), and its hour with it.

The gateway list: ``gateways`` holds per (gateway, source) the brand, first and last time and
the number of snapshots, kept in the write transaction (a rewrite of a stored time is not
counted again), so the dashboard's list is one small table, not a scan of every snapshot
(0.5-0.85 s for a year of one gateway).

Cost (bench/bench_series.py, 2-core machine, batches of 1,000 gateways x 40 registers, a
rollup with history): ~0.1 s per tick for the snapshot upsert, the gateway list and 1,000
newest-time look-ups, plus ~0.07 s in the 16 ticks after a bucket boundary that work off its
1,000 queued buckets (62 per tick); median ~0.17 s, no tick over ~0.3 s, ~0.15-0.17 s per tick
on average. Summarising them in the tick that closed them took ~1.1 s (~1.8 s with the
hours) against ~0.1 s for the others. A replayed tick into closed buckets ~0.25-0.3 s (was
~1.5 s). A bulk load in one-day batches: ~0.1 ms per snapshot.

A store whose rollups are missing or of another layout (``PRAGMA user_version`` differs from
:func:`rollup_version`, e.g. a store written before rollups existed, or after a change of
:data:`~heatpump_monitor.derived.DERIVED`) gets them rebuilt when a sink opens it (one log
line); a reader falls back to the snapshots until then.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import time
import zlib
from pathlib import Path
from typing import Iterable

from ...derived import DERIVED, derive
from ..base import ROLLUP_BUCKET_MS, ROLLUP_HOUR_MS, SinkError

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

# Kept by the sink and rebuilt with the rollups (same PRAGMA user_version).
_SUMMARY_SCHEMA = """
CREATE TABLE to_roll (           -- closed buckets whose rollup rows are missing or stale
    gateway   TEXT NOT NULL,
    source    TEXT NOT NULL,
    bucket_ms INTEGER NOT NULL,  -- a 10-minute bucket
    PRIMARY KEY (gateway, source, bucket_ms)
) WITHOUT ROWID;
CREATE TABLE gateways (
    gateway  TEXT NOT NULL,
    source   TEXT NOT NULL,
    brand    TEXT NOT NULL,      -- max(brand) of the snapshots, as the scan it replaces
    first_ms INTEGER NOT NULL,
    last_ms  INTEGER NOT NULL,
    n        INTEGER NOT NULL,   -- snapshots
    PRIMARY KEY (gateway, source)
) WITHOUT ROWID;
"""
_SUMMARY_TABLES = (*(name for _, name in ROLLUP_LEVELS), "to_roll", "gateways")

def rollup_version() -> int:
    """``PRAGMA user_version`` of a store whose rollups match this code: layout, sizes and the
    derived definitions (read when called, so a definition registered at run time counts).
    Any other value (0 = never built) makes a sink rebuild them on open."""
    return zlib.crc32(repr((4, ROLLUP_LEVELS, sorted(d.key for d in DERIVED.values()))).encode()) & 0x7FFF_FFFF


# Writing a (gateway, source, time) again merges its fields, newest winning - as InfluxDB does
# with points - so a replay never duplicates and one-field rows (MQTT round mode) add up.
UPSERT = ("INSERT INTO snapshots VALUES (?,?,?,?,?) ON CONFLICT (gateway, source, ts_ms) "
          "DO UPDATE SET brand = excluded.brand, data = json_patch(data, excluded.data)")


def json_path(name: str) -> str | None:
    """The SQLite JSON path of a top-level key (bound as a parameter, never pasted into SQL).

    None for a name with a double quote, which a path cannot express: ``json_extract(data,
    NULL)`` is NULL, so such a name reads as absent instead of failing the query."""
    return None if '"' in name else f'$."{name}"'


def describe_path(path: str | Path) -> str:
    """How the store at ``path`` is named in logs, ``verify`` and the dashboard."""
    return f"embedded store at {Path(path).resolve()}"


def bucket_of(ts_ms: int, size: int = ROLLUP_BUCKET_MS) -> int:
    return ts_ms // size * size


def rollup_ready(conn: sqlite3.Connection) -> bool:
    """True when the store's rollups are complete and of this code's layout."""
    return conn.execute("PRAGMA user_version").fetchone()[0] == rollup_version()


# -- rollup maintenance -----------------------------------------------------------------------

_Aggs = dict  # field -> (n, vmin, vmax, vsum); SNAPSHOT_COUNT -> (n, None, None, None)
_Key = tuple  # (gateway, source, bucket_ms)

REPLACE_ROLLUP = "INSERT OR REPLACE INTO rollup VALUES (?,?,?,?,?,?,?,?)"
# One hour of one (gateway, source) from its 10-minute rows, every field it has: the fields
# come from a skip-scan of the (gateway, source, field) prefix of the key (one probe per field),
# the rows of each field in index (time) order, so the sums always add up in the same order.
ROLL_HOUR = (
    "WITH RECURSIVE f(name) AS ("
    "SELECT min(field) FROM rollup WHERE gateway = ?1 AND source = ?2 UNION ALL "
    "SELECT (SELECT min(field) FROM rollup WHERE gateway = ?1 AND source = ?2 AND field > f.name) "
    "FROM f WHERE f.name IS NOT NULL) "
    "INSERT OR REPLACE INTO rollup_1h (gateway, source, field, bucket_ms, n, vmin, vmax, vsum) "
    "SELECT ?1, ?2, field, ?3, sum(n), min(vmin), max(vmax), sum(vsum) FROM rollup "
    "WHERE gateway = ?1 AND source = ?2 AND field IN (SELECT name FROM f WHERE name IS NOT NULL) "
    f"AND bucket_ms >= ?3 AND bucket_ms < ?3 + {ROLLUP_HOUR_MS} GROUP BY field"
)
_BUCKET_ROWS = (f"SELECT data FROM snapshots WHERE gateway = ? AND source = ? AND ts_ms >= ? "
                f"AND ts_ms < ? + {ROLLUP_BUCKET_MS} ORDER BY ts_ms")
NEWEST = "SELECT max(ts_ms) FROM snapshots WHERE gateway = ? AND source = ?"
_BEFORE = "SELECT data FROM snapshots WHERE gateway = ? AND source = ? AND ts_ms < ? ORDER BY ts_ms DESC LIMIT 1"
_AFTER = "SELECT min(ts_ms) FROM snapshots WHERE gateway = ? AND source = ? AND ts_ms >= ?"


def aggregate(values_list: Iterable[dict[str, float]], previous: dict[str, float] | None = None) -> _Aggs:
    """The rollup of snapshots' (clean) values in time order, ``previous`` the snapshot before
    the first (None: none): per register and derived field (n, min, max, exact sum), and the
    snapshot count under :data:`SNAPSHOT_COUNT`. Each derived value is computed per snapshot
    with the one before it (:func:`~heatpump_monitor.derived.along`). A derived value always
    wins over a register of the same name. Order-independent sums (``math.fsum``)."""
    count = 0
    # snapshots with the same fields (nearly always all of them) are transposed in one go
    groups: dict[tuple[str, ...], list[tuple[float, ...]]] = {}
    derived: dict[str, list[float]] = {name: [] for name in DERIVED}
    for values in values_list:
        count += 1
        rows = groups.get(keys := tuple(values))
        if rows is None:
            groups[keys] = [tuple(values.values())]
        else:
            rows.append(tuple(values.values()))
        for name, xs in derived.items():
            d = derive(values, name, previous)
            if d is not None:
                xs.append(d)
        previous = values
    lists: dict[str, list[float]] = {}
    for keys, rows in groups.items():
        for name, column in zip(keys, zip(*rows)):
            lists.setdefault(name, []).extend(column)
    lists.pop(SNAPSHOT_COUNT, None)
    lists.update((name, xs) for name, xs in derived.items())
    aggs: _Aggs = {name: (len(xs), min(xs), max(xs), math.fsum(xs)) for name, xs in lists.items() if xs}
    if count:
        aggs[SNAPSHOT_COUNT] = (count, None, None, None)
    return aggs


def _stored_values(data: str) -> dict[str, float] | None:
    try:
        values = json.loads(data)
    except ValueError:
        return None
    if not isinstance(values, dict):
        return None
    # this sink never stores NaN/Infinity (see _clean); an older or foreign row might
    return _clean(values) if "NaN" in data or "Infinity" in data else values


def uses_previous() -> bool:
    """Whether a derived definition needs the snapshot before (read when called)."""
    return any(d.uses_previous for d in DERIVED.values())


def roll_buckets(conn: sqlite3.Connection, keys: Iterable[_Key]) -> None:
    """(Re)compute the 10-minute rollup rows of each (gateway, source, bucket_ms) from its
    stored snapshots, in time order (caller's transaction). Stored fields are only ever added
    or overwritten, so the recomputed fields cover every row the bucket had. With a definition
    that needs the snapshot before, a bucket's first snapshot gets the one before the bucket
    (so a change of the snapshots before a bucket needs it recomputed: :func:`followers`)."""
    previous = uses_previous()
    rows: list[tuple] = []
    for g, s, b in sorted(keys):
        stored = (_stored_values(data) for (data,) in conn.execute(_BUCKET_ROWS, (g, s, b, b)))
        before = None
        if previous:
            row = conn.execute(_BEFORE, (g, s, b)).fetchone()
            before = None if row is None else _stored_values(row[0])
        aggs = aggregate((v for v in stored if v is not None), before)
        rows.extend((g, s, f, b, *a) for f, a in aggs.items())
    conn.executemany(REPLACE_ROLLUP, rows)


def followers(conn: sqlite3.Connection, keys: Iterable[_Key]) -> set[_Key]:
    """The closed buckets holding the first snapshot after each of ``keys``' buckets: its
    derived values use the snapshot before it, so a change of ``keys`` changes them too."""
    out: set[_Key] = set()
    for g, s, b in keys:
        nxt = conn.execute(_AFTER, (g, s, b + ROLLUP_BUCKET_MS)).fetchone()[0]
        newest = conn.execute(NEWEST, (g, s)).fetchone()[0]
        if nxt is not None and bucket_of(nxt) < bucket_of(newest):
            out.add((g, s, bucket_of(nxt)))
    return out


ROLL_MIN = 32
ROLL_SHARE = 16


def roll_budget(rows: int, queued: int) -> int:
    """How many queued buckets a write of ``rows`` snapshots summarises, with ``queued`` in the
    queue: at least :data:`ROLL_MIN` (a small store never has a backlog); a 16th of the rows,
    which keeps up with 30 s polls (one bucket closed per 20 snapshots of a gateway) with room
    to spare; and a 16th of the queue, so that slower polls (every snapshot closing a bucket)
    or a replay of many closed buckets drain as well: the queue never outgrows 16 writes' worth
    of closed buckets."""
    return max(ROLL_MIN, rows // ROLL_SHARE, -(-queued // ROLL_SHARE))


_QUEUE = "INSERT OR IGNORE INTO to_roll VALUES (?,?,?)"
_OLDEST_QUEUED = "SELECT gateway, source, bucket_ms FROM to_roll ORDER BY bucket_ms, gateway, source LIMIT ?"
_DEQUEUE = "DELETE FROM to_roll WHERE gateway = ? AND source = ? AND bucket_ms = ?"
#: the oldest queued bucket of a (gateway, source): readers take it and later from the snapshots
OLDEST_QUEUED = "SELECT min(bucket_ms) FROM to_roll WHERE gateway = ? AND source = ?"


def queue(conn: sqlite3.Connection, keys: Iterable[_Key]) -> None:
    """Queue closed buckets to be (re)computed (caller's transaction)."""
    conn.executemany(_QUEUE, sorted(set(keys)))


def roll_queued(conn: sqlite3.Connection, rows: int) -> int:
    """Summarise the oldest queued buckets (:func:`roll_budget` of them) and the hours of those
    that are closed. Caller's transaction. Returns the buckets summarised. Oldest first: a
    reader takes everything from a source's oldest queued bucket on from the snapshots."""
    queued = conn.execute("SELECT count(*) FROM to_roll").fetchone()[0]
    if not queued:
        return 0
    keys = conn.execute(_OLDEST_QUEUED, (roll_budget(rows, queued),)).fetchall()
    roll_buckets(conn, keys)  # the followers of changed buckets were queued with them
    newest = {pair: conn.execute(NEWEST, pair).fetchone()[0] for pair in {(g, s) for g, s, _ in keys}}
    # an hour with a bucket still queued is rolled again when that bucket's turn comes
    roll_hours(conn, {h for h in map(_hour, keys) if h[2] < bucket_of(newest[h[:2]], ROLLUP_HOUR_MS)})
    conn.executemany(_DEQUEUE, keys)
    return len(keys)


def roll_hours(conn: sqlite3.Connection, keys: Iterable[_Key]) -> None:
    """(Re)compute each (gateway, source, hour_ms) of ``rollup_1h`` from its 10-minute rows."""
    conn.executemany(ROLL_HOUR, sorted(set(keys)))


def _hour(key: _Key) -> _Key:
    return key[0], key[1], bucket_of(key[2], ROLLUP_HOUR_MS)


def backfill_rollup(conn: sqlite3.Connection) -> int:
    """Compute both rollups of every stored snapshot into empty tables: every closed bucket and
    hour, as the writes would have left them. Caller's transaction. Returns the snapshots."""
    keys: list[_Key] = []
    open10: dict[tuple[str, str], int] = {}
    n = 0
    for g, s, ts in conn.execute("SELECT gateway, source, ts_ms FROM snapshots ORDER BY gateway, source, ts_ms"):
        n += 1
        key = (g, s, bucket_of(ts))
        if not keys or keys[-1] != key:
            keys.append(key)
        open10[(g, s)] = key[2]  # the last one seen: the newest
    keys = [k for k in keys if k[2] < open10[k[:2]]]
    for i in range(0, len(keys), 5000):
        roll_buckets(conn, keys[i:i + 5000])
    roll_hours(conn, {h for h in map(_hour, keys) if h[2] < bucket_of(open10[h[:2]], ROLLUP_HOUR_MS)})
    return n


_EXISTS = "SELECT 1 FROM snapshots WHERE gateway = ? AND source = ? AND ts_ms = ?"
_GATEWAY_UPSERT = ("INSERT INTO gateways VALUES (?,?,?,?,?,?) ON CONFLICT (gateway, source) DO UPDATE SET "
                   "brand = max(brand, excluded.brand), first_ms = min(first_ms, excluded.first_ms), "
                   "last_ms = max(last_ms, excluded.last_ms), n = n + excluded.n")


def list_gateways(conn: sqlite3.Connection, rows: Iterable[tuple], newest: dict[tuple[str, str], int | None]) -> None:
    """Count snapshot rows (gateway, source, ts_ms, brand, ...) into ``gateways``, BEFORE they
    are upserted: a row merging into a stored time is not a new snapshot. ``newest`` is each
    pair's newest stored time: a row after it is new without a look-up (nearly every row of a
    normal write), one at or before it only if no stored row has its time."""
    per: dict[tuple[str, str], list] = {}
    seen: set[tuple[str, str, int]] = set()
    for g, s, ts, brand, *_ in rows:
        last = newest[(g, s)]
        new = (g, s, ts) not in seen and (
            last is None or ts > last or conn.execute(_EXISTS, (g, s, ts)).fetchone() is None)
        seen.add((g, s, ts))
        entry = per.get((g, s))
        if entry is None:
            per[(g, s)] = [brand, ts, ts, int(new)]
        else:
            entry[0], entry[1], entry[2] = max(entry[0], brand), min(entry[1], ts), max(entry[2], ts)
            entry[3] += new
    conn.executemany(_GATEWAY_UPSERT, [(*pair, *entry) for pair, entry in per.items()])


GATEWAY_LIST = ("INSERT INTO gateways (gateway, source, brand, first_ms, last_ms, n) "
                "SELECT gateway, source, max(brand), min(ts_ms), max(ts_ms), count(*) "
                "FROM snapshots GROUP BY gateway, source")


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """(Re)build the rollups, their queue and the gateway list when missing or of another layout."""
    if rollup_ready(conn):
        return
    t0 = time.monotonic()
    conn.execute("BEGIN IMMEDIATE")  # one writer migrates; another waits, then finds it done
    try:
        if rollup_ready(conn):
            conn.rollback()
            return
        old = conn.execute("SELECT count(*) FROM sqlite_master WHERE name IN ('rollup', 'rollup_1h')").fetchone()[0]
        for name in _SUMMARY_TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {name}")
        for _, name in ROLLUP_LEVELS:
            conn.execute(_ROLLUP_TABLE.format(name=name))
        for statement in filter(str.strip, _SUMMARY_SCHEMA.split(";")):  # executescript would commit
            conn.execute(statement)
        n = backfill_rollup(conn)
        conn.execute(GATEWAY_LIST)
        conn.execute(f"PRAGMA user_version = {int(rollup_version())}")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    if n:
        log.info("Embedded store %s: %s the chart rollups and the gateway list from %d snapshots in %.1f s", path,
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


