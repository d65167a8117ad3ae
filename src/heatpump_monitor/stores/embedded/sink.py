"""The embedded store's writer: snapshots upserted and their rollups kept, in one transaction
(the layout and the rollup rules are in :mod:`.schema`).

A small write (a tick of a few gateways: well under a millisecond) runs on the caller's event
loop: the hop to a worker thread and back cost more CPU than the write itself. It asks for the
write lock without waiting (``BEGIN IMMEDIATE`` with ``busy_timeout=0``): when another
connection holds the database (a rollup rebuild, an operator's ``sqlite3``), the event loop is
not blocked; the write is done again in a worker thread, which waits up to
:data:`BUSY_TIMEOUT_MS` for the lock like every larger write does.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path
from typing import Sequence

from ...model import Snapshot
from ..base import SinkError
from .schema import (NEWEST, UPSERT, _clean, _Key, bucket_of, connect, describe_path, followers, list_gateways,
                     queue, roll_queued, uses_previous)

#: polls written on the event loop at most (module doc); larger writes go to a worker thread
LOOP_WRITE_MAX = 10
#: how long a write in a worker thread waits for another connection's lock
BUSY_TIMEOUT_MS = 5000
#: SQLite's page cache of the store connection, KiB (default 2 MB): a tick touches a few pages
#: of each index; the rollups read through it once per bucket
CACHE_KIB = 256


class _Locked(Exception):
    """Another connection holds the write lock (only raised when not waiting for it)."""


class EmbeddedSink:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.description = describe_path(self.path)
        self._conn: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None  # (device, inode) of the file the connection has open
        self._lock = threading.Lock()
        self._busy_ms = -1  # the connection's busy_timeout

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self._conn = connect(self.path)
                self._conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
                self._busy_ms = -1  # set by the first transaction
                self._file = self._identity()
            except (sqlite3.Error, OSError) as exc:
                raise SinkError(f"cannot open {self.description}: {exc}") from None
        return self._conn

    def _identity(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _still_there(self) -> None:
        """SQLite keeps writing to a file deleted (or replaced) under it, and nobody could read
        it again: after every write, make sure the path is still the file written to. If not,
        the write is not acknowledged (the polls stay in the spool) and the next one opens a
        new store at the path."""
        if self._identity() != self._file:
            assert self._conn is not None
            self._conn.close()
            self._conn = None
            raise SinkError(f"{self.description} was deleted or replaced while the collector had it open; "
                            "a new store is created there and the waiting polls are written to it")

    def write_sync(self, snapshots: Sequence[Snapshot]) -> None:
        """Store the snapshots and maintain the rollups (module doc), in one transaction.

        Any batch size works: a bulk load is the same call with big batches. Waits up to
        :data:`BUSY_TIMEOUT_MS` for another connection's write lock.
        """
        rows = _rows(snapshots)
        if rows:
            self._write_waiting(rows)

    def _write_waiting(self, rows: list[tuple]) -> None:
        with self._lock:
            self._transaction(rows, BUSY_TIMEOUT_MS)

    def _transaction(self, rows: list[tuple], busy_timeout_ms: int) -> None:
        """Write ``rows`` in one transaction (the caller holds ``_lock``). With
        ``busy_timeout_ms=0``, :class:`_Locked` when another connection holds the lock."""
        db = self._db()
        try:
            if busy_timeout_ms != self._busy_ms:
                db.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
                self._busy_ms = busy_timeout_ms
            db.execute("BEGIN IMMEDIATE")
            try:
                self._write_rows(db, rows)
                db.commit()
            except BaseException:
                db.rollback()
                raise
        except sqlite3.OperationalError as exc:
            if busy_timeout_ms == 0 and _is_locked(exc):
                raise _Locked() from None
            raise SinkError(f"write to {self.description} failed: {exc}") from None
        except (sqlite3.Error, OSError) as exc:
            raise SinkError(f"write to {self.description} failed: {exc}") from None
        self._still_there()

    @staticmethod
    def _write_rows(db: sqlite3.Connection, rows: list[tuple]) -> None:
        """Upsert the rows and count them into the gateway list, queue the buckets this batch
        closed or changed after closing, then summarise the oldest queued ones (module doc)."""
        newest = db.cursor()
        before: dict[tuple[str, str], int | None] = {
            pair: newest.execute(NEWEST, pair).fetchone()[0] for pair in {(r[0], r[1]) for r in rows}}
        list_gateways(db, rows, before)
        db.executemany(UPSERT, [r[:5] for r in rows])
        after: dict[tuple[str, str], int] = {}  # the newest time of each pair after the batch
        touched: set[_Key] = set()
        for g, s, ts, *_ in rows:
            touched.add((g, s, bucket_of(ts)))
            old = after.get((g, s), before[(g, s)])
            after[(g, s)] = ts if old is None else max(old, ts)
        open10 = {pair: bucket_of(ts) for pair, ts in after.items()}
        # touched buckets that are (or just became) closed, the first snapshot after each (its
        # derived values use the one before), and the buckets this batch closed
        changed = {k for k in touched if k[2] < open10[k[:2]]}
        closed = changed | {(*pair, bucket_of(ts)) for pair, ts in before.items()
                            if ts is not None and bucket_of(ts) < open10[pair]}
        if changed and uses_previous():
            closed |= followers(db, changed)
        queue(db, closed)
        roll_queued(db, len(rows))

    async def write(self, snapshots: Sequence[Snapshot]) -> None:
        """A small write on the event loop, unless the database is locked; the rest in a worker
        thread (module doc)."""
        rows = _rows(snapshots)
        if not rows:
            return
        if len(rows) <= LOOP_WRITE_MAX and self._lock.acquire(blocking=False):
            try:
                self._transaction(rows, 0)
                return
            except _Locked:
                pass  # rolled back: nothing was written; the worker thread waits for the lock
            finally:
                self._lock.release()
        await asyncio.to_thread(self._write_waiting, rows)

    async def check(self) -> None:
        await asyncio.to_thread(self._db)

    async def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self._file = None


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED (the low byte of an extended code is the primary code)."""
    return (exc.sqlite_errorcode & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _rows(snapshots: Sequence[Snapshot]) -> list[tuple]:
    """The rows of the snapshots that hold a value: (gateway, source, time, brand, JSON)."""
    rows = []
    for s in snapshots:
        values = _clean(s.values)
        if values:
            rows.append((s.gateway, s.source, s.time_ms, s.brand, json.dumps(values, separators=(",", ":"))))
    return rows
