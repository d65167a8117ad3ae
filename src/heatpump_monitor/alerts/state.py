"""Active alerts and their history on disk (SQLite), so a restart neither repeats a "fired"
nor misses a "resolved": the engine loads the active alerts when it starts, and the first
snapshot after the restart resolves those whose condition cleared meanwhile.

Every batch of notices is written in one transaction (all or nothing: a crash cannot leave an
alert in history but not active). The history keeps the newest :data:`HISTORY_ROWS` rows.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable
from urllib.parse import quote

from .rules import Notice

HISTORY_ROWS = 10_000
#: one state file per process that evaluates rules (``api``, ``mqtt``, ``watch``) in ALERTS_DIR:
#: two collectors side by side must not load (and remind of) each other's alerts
FILE_PATTERN = "alerts-{owner}.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS active (
    gateway TEXT NOT NULL, rule TEXT NOT NULL, since_ms INTEGER NOT NULL,
    last_notice_ms INTEGER NOT NULL, value REAL, threshold REAL, text TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (gateway, rule));
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, gateway TEXT NOT NULL, rule TEXT NOT NULL,
    kind TEXT NOT NULL, since_ms INTEGER NOT NULL, time_ms INTEGER NOT NULL,
    value REAL, threshold REAL, text TEXT NOT NULL DEFAULT '');
"""


@dataclass(frozen=True, slots=True)
class ActiveAlert:
    gateway: str
    rule: str
    since_ms: int
    last_notice_ms: int  # when it fired or was last reminded of
    value: float | None
    threshold: float | None
    text: str = ""


def alerts_path(directory: str, owner: str = "api") -> str:
    """The state file of ``owner`` (a collector's source, or ``watch``) in ``directory``."""
    return str(Path(directory) / FILE_PATTERN.format(owner=owner))


def alert_files(directory: str) -> dict[str, str]:
    """Every owner's state file in ``directory`` (what the dashboard shows), by owner."""
    prefix, suffix = FILE_PATTERN.split("{owner}")
    found = sorted(Path(directory).glob(FILE_PATTERN.format(owner="*"))) if Path(directory).is_dir() else []
    return {p.name[len(prefix):-len(suffix)]: str(p) for p in found if p.is_file()}


def _readonly_uri(path: str) -> str:
    """A URI opening ``path`` read-only. While its writer has it open (its ``-wal`` is there),
    ``mode=ro`` reads through that WAL (the newest state). Without a ``-wal`` nobody writes
    it: ``immutable=1`` then reads the file alone, because ``mode=ro`` would create the
    ``-wal``/``-shm`` files beside it, owned by the reader (a dashboard running as another user
    would leave files its collector cannot open) and fail in a directory it may not write."""
    base = "file:" + quote(str(Path(path).resolve()))
    return base + ("?mode=ro" if Path(path + "-wal").exists() else "?mode=ro&immutable=1")


class AlertStore:
    """The state file. Thread-safe (one connection behind a lock): the collector's threads
    and a dashboard reading the history may share it. ``readonly``: the dashboard's view of a
    collector's file: opened read-only (no directory made, no schema, no journal change);
    a missing file or one that is not a state file raises ``sqlite3.Error``."""

    def __init__(self, path: str, history_rows: int = HISTORY_ROWS, *, readonly: bool = False) -> None:
        self.path = path
        self.history_rows = history_rows
        self.readonly = readonly
        self._lock = threading.Lock()
        if readonly:
            if not Path(path).is_file():  # sqlite's own message would only say "unable to open"
                raise sqlite3.OperationalError(f"no such file: {Path(path).name}")
            self._db = sqlite3.connect(_readonly_uri(path), uri=True, check_same_thread=False, isolation_level=None)
            try:  # not a state file (yet): refused here, not at the first read
                self._db.execute("SELECT 1 FROM active LIMIT 0").fetchall()
                self._db.execute("SELECT 1 FROM history LIMIT 0").fetchall()
            except sqlite3.Error:
                self._db.close()
                raise
            return
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def active(self) -> list[ActiveAlert]:
        with self._lock:
            rows = self._db.execute("SELECT gateway, rule, since_ms, last_notice_ms, value, threshold, text "
                                    "FROM active ORDER BY since_ms, gateway, rule").fetchall()
        return [ActiveAlert(*r) for r in rows]

    def history(self, limit: int = 100, gateway: str | None = None,
                start_ms: int | None = None, end_ms: int | None = None) -> list[Notice]:
        """Fired and resolved notices, newest first (reminders are not history); only those sent
        in [start_ms, end_ms) when given. (The table is bounded by ``history_rows``: a scan.)"""
        sql = "SELECT gateway, rule, kind, since_ms, time_ms, value, threshold, text FROM history"
        where: list[str] = []
        args: list[object] = []
        for clause, arg in (("gateway = ?", gateway), ("time_ms >= ?", start_ms), ("time_ms < ?", end_ms)):
            if arg is not None:
                where.append(clause)
                args.append(arg)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, max(0, limit))).fetchall()
        return [Notice(g, r, k, s, t, v, th, x) for g, r, k, s, t, v, th, x in rows]

    def apply(self, notices: Iterable[Notice]) -> None:
        """Record a batch of notices atomically: fired -> active + history, reminder -> active's
        last notice, resolved -> out of active + history; then trim the history."""
        batch = list(notices)
        if not batch:
            return
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for n in batch:
                    self._one(n)
                db.execute("DELETE FROM history WHERE id <= (SELECT MAX(id) FROM history) - ?",
                           (self.history_rows,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def forget(self, gateway: str, rule: str) -> None:
        """Drop an active alert without history (a retired gateway: nothing more to say)."""
        with self._lock:
            self._db.execute("DELETE FROM active WHERE gateway = ? AND rule = ?", (gateway, rule))

    def _one(self, n: Notice) -> None:
        db = self._db
        if n.kind == "fired":
            db.execute("INSERT OR REPLACE INTO active VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (n.gateway, n.rule, n.since_ms, n.time_ms, n.value, n.threshold, n.alarm_text))
        elif n.kind == "reminder":
            db.execute("UPDATE active SET last_notice_ms = ?, value = ? WHERE gateway = ? AND rule = ?",
                       (n.time_ms, n.value, n.gateway, n.rule))
            return
        else:
            db.execute("DELETE FROM active WHERE gateway = ? AND rule = ?", (n.gateway, n.rule))
        db.execute("INSERT INTO history (gateway, rule, kind, since_ms, time_ms, value, threshold, text) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (n.gateway, n.rule, n.kind, n.since_ms, n.time_ms, n.value, n.threshold, n.alarm_text))
