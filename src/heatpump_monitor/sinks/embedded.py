"""Embedded store (default): SQLite in WAL mode, one row per poll. No server needed.

Row: (gateway, source, ts_ms, brand, data) with data a JSON object name -> float. Another
process (the dashboard, ``verify``) may read while the collector writes (WAL).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path
from typing import Sequence

from ..model import Snapshot
from .base import SinkError

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


# Writing a (gateway, source, time) again merges its fields, newest winning - as InfluxDB does
# with points - so a replay never duplicates and one-field rows (MQTT round mode) add up.
UPSERT = ("INSERT INTO snapshots VALUES (?,?,?,?,?) ON CONFLICT (gateway, source, ts_ms) "
          "DO UPDATE SET brand = excluded.brand, data = json_patch(data, excluded.data)")


def connect(path: str | Path, readonly: bool = False) -> sqlite3.Connection:
    p = Path(path)
    if readonly:
        if not p.exists():
            raise SinkError(f"embedded store {p} does not exist yet (has the collector run?)")
        conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, check_same_thread=False)
    else:
        p.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(p, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(SCHEMA)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


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
        rows = [(s.gateway, s.source, s.time_ms, s.brand, json.dumps(s.values, separators=(",", ":")))
                for s in snapshots if s.values]
        if not rows:
            return
        with self._lock:
            db = self._db()
            try:
                with db:
                    db.executemany(UPSERT, rows)
            except (sqlite3.Error, OSError) as exc:
                raise SinkError(f"write to {self.description} failed: {exc}") from None

    async def write(self, snapshots: Sequence[Snapshot]) -> None:
        await asyncio.to_thread(self.write_sync, snapshots)

    async def check(self) -> None:
        await asyncio.to_thread(self._db)

    async def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
