"""The embedded store's writer: snapshots upserted and their rollups kept, in one transaction
(the layout and the rollup rules are in :mod:`.schema`)."""

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


class EmbeddedSink:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.description = describe_path(self.path)
        self._conn: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None  # (device, inode) of the file the connection has open
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self._conn = connect(self.path)
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

        Any batch size works: a bulk load is the same call with big batches.
        """
        rows = []
        for s in snapshots:
            values = _clean(s.values)
            if values:
                rows.append((s.gateway, s.source, s.time_ms, s.brand, json.dumps(values, separators=(",", ":"))))
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
        await asyncio.to_thread(self.write_sync, snapshots)

    async def check(self) -> None:
        await asyncio.to_thread(self._db)

    async def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self._file = None
