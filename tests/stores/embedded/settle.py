"""Summarise every bucket a store still has queued: the rollups of two stores are only equal,
bit for bit, once neither has a backlog left (the sink works a queue off a bounded number of
buckets per write)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from heatpump_monitor.stores.embedded.schema import roll_queued


def settle(path: Path) -> None:
    with sqlite3.connect(path) as db:
        while roll_queued(db, 0):
            pass


def queued(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM to_roll").fetchone()[0]
