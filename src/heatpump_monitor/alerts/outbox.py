"""A durable outbox for alert messages: each is written to SQLite before it is sent, so that a
service that is down, or a restart, loses nothing; and each target's delivery is deleted as
soon as it succeeds, before the next attempt, so that nothing is sent twice.

One row per message and one per (message, target) still to deliver. A failed delivery waits
30 s, doubling to 1 h at most; after 24 h it is given up with one log line (an alert a day old
tells nothing the dashboard does not). At most the newest 1,000 messages are kept.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .notify import TargetResult

log = logging.getLogger(__name__)

FIRST_DELAY_S = 30.0
MAX_DELAY_S = 3600.0
GIVE_UP_AFTER_S = 86_400.0
MAX_MESSAGES = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS message (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS delivery (
    message INTEGER NOT NULL REFERENCES message(id) ON DELETE CASCADE,
    target TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL,
    PRIMARY KEY (message, target)
);
CREATE INDEX IF NOT EXISTS delivery_due ON delivery(next_try);
"""


def _open(path: Path) -> sqlite3.Connection:
    # every write is its own transaction (``with db``), committed before the next send
    db = sqlite3.connect(str(path))
    try:
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA journal_mode = WAL")
        db.executescript(_SCHEMA)
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db


class Sender(Protocol):
    """What the outbox sends with (:class:`~.notify.Notifier`)."""

    @property
    def keys(self) -> list[str]: ...

    def send_to(self, key: str, title: str, body: str) -> TargetResult: ...


def backoff_s(attempts: int) -> float:
    """The wait after ``attempts`` failed attempts: 30 s, 60 s, 120 s ... 1 h at most."""
    return min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** max(0, min(attempts - 1, 20)))


@dataclass
class Counters:
    sent: int = 0  # deliveries that succeeded (one per message and target)
    failed_attempts: int = 0
    given_up: int = 0  # deliveries dropped after GIVE_UP_AFTER_S
    dropped: int = 0  # messages dropped because the outbox was full
    last_error: str = ""  # "<redacted target>: <masked cause>"


class Outbox:
    """Messages waiting for delivery in ``path`` (e.g. DATA_DIR/notify.sqlite3)."""

    def __init__(self, path: str | Path, sender: Sender, max_messages: int = MAX_MESSAGES) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = _open(Path(path))
        except sqlite3.DatabaseError as exc:
            # a damaged file must not stop the alerts: set it aside (for a look) and start anew
            aside = Path(f"{path}.damaged")
            log.error("Alerts outbox %s is unreadable (%s): moved to %s, starting empty", path, exc, aside.name)
            Path(path).replace(aside)
            for extra in ("-wal", "-shm"):
                Path(f"{path}{extra}").unlink(missing_ok=True)
            self._db = _open(Path(path))
        self._sender = sender
        self._max = max_messages
        self.counters = Counters()
        self._lock = asyncio.Lock()  # one flush at a time: two would send the same delivery
        # when the next delivery is due, kept in memory: the collector asks every tick, and a
        # query a tick for an outbox that is empty nearly always was a measurable share of it
        self._next = self._query_next()

    def close(self) -> None:
        self._db.close()

    def add(self, key: str, title: str, body: str, now: float) -> bool:
        """Store a message for every current target; False when ``key`` is already waiting (a
        rule that fires again after a restart must not send twice)."""
        with self._db:
            cur = self._db.execute("INSERT OR IGNORE INTO message (key, title, body, created) VALUES (?, ?, ?, ?)",
                                   (key, title, body, now))
            if cur.rowcount == 0:
                return False
            msg = cur.lastrowid
            self._db.executemany("INSERT INTO delivery (message, target, next_try) VALUES (?, ?, ?)",
                                 [(msg, t, now) for t in self._sender.keys])
        self._trim()
        self._next = self._query_next()
        return True

    def _trim(self) -> None:
        """Keep the newest ``max_messages``: a long outage must not grow the file without bound."""
        with self._db:
            cur = self._db.execute("DELETE FROM message WHERE id NOT IN "
                                   "(SELECT id FROM message ORDER BY id DESC LIMIT ?)", (self._max,))
        if cur.rowcount > 0:
            self.counters.dropped += cur.rowcount
            log.warning("Alerts outbox full: dropped the %d oldest undelivered message(s) (keeps %d)",
                        cur.rowcount, self._max)

    def _due(self, now: float) -> list[tuple[int, str, str, str, float, str, int]]:
        return self._db.execute(
            "SELECT m.id, m.key, m.title, m.body, m.created, d.target, d.attempts FROM delivery d "
            "JOIN message m ON m.id = d.message WHERE d.next_try <= ? ORDER BY m.id, d.target", (now,)).fetchall()

    async def flush(self, now: float) -> int:
        """Try every delivery that is due; returns how many succeeded. Sending runs in a thread."""
        if self._next is None or self._next > now:
            return 0  # nothing due: no query
        async with self._lock:
            try:
                return await self._flush(now)
            finally:
                self._next = self._query_next()

    async def _flush(self, now: float) -> int:
        sent = 0
        known = set(self._sender.keys)
        for msg, key, title, body, created, target, attempts in self._due(now):
            if target not in known:
                # NOTIFY_URLS changed since: that target is no longer configured
                self._done(msg, target)
                continue
            if now - created > GIVE_UP_AFTER_S:
                self.counters.given_up += 1
                log.warning("Alert %r not delivered after %d attempt(s) in %.0f h: given up (last: %s)",
                            key, attempts, (now - created) / 3600, self.counters.last_error or "-")
                self._done(msg, target)
                continue
            result = await asyncio.to_thread(self._sender.send_to, target, title, body)
            if result.ok:
                self._done(msg, target)  # marked before anything else is tried
                self.counters.sent += 1
                sent += 1
            else:
                self._failed(msg, target, attempts + 1, now, key, result)
        return sent

    def _done(self, msg: int, target: str) -> None:
        with self._db:
            self._db.execute("DELETE FROM delivery WHERE message = ? AND target = ?", (msg, target))
            self._db.execute("DELETE FROM message WHERE id = ? AND NOT EXISTS "
                             "(SELECT 1 FROM delivery WHERE message = ?)", (msg, msg))

    def _failed(self, msg: int, target: str, attempts: int, now: float, key: str, result: TargetResult) -> None:
        delay = backoff_s(attempts)
        with self._db:
            self._db.execute("UPDATE delivery SET attempts = ?, next_try = ? WHERE message = ? AND target = ?",
                             (attempts, now + delay, msg, target))
        self.counters.failed_attempts += 1
        self.counters.last_error = f"{result.target}: {result.cause}"
        log.warning("Alert %r to %s failed (attempt %d, next in %.0f s): %s",
                    key, result.target, attempts, delay, result.cause)

    def pending(self) -> int:
        """Deliveries still to make (a message to two targets counts twice)."""
        return int(self._db.execute("SELECT COUNT(*) FROM delivery").fetchone()[0])

    def oldest_pending_age_s(self, now: float) -> float:
        row = self._db.execute("SELECT MIN(m.created) FROM delivery d JOIN message m ON m.id = d.message").fetchone()
        return 0.0 if row[0] is None else max(0.0, now - row[0])

    def next_try(self) -> float | None:
        """When the next delivery is due (None: nothing waits): the caller's next flush."""
        return self._next

    def _query_next(self) -> float | None:
        row = self._db.execute("SELECT MIN(next_try) FROM delivery").fetchone()
        return None if row[0] is None else float(row[0])

    def health(self, now: float) -> dict:
        """For /healthz and /metrics: counts and the last cause, with targets redacted."""
        c = self.counters
        return {"pending": self.pending(), "oldest_pending_age_s": round(self.oldest_pending_age_s(now), 1),
                "sent": c.sent, "failed_attempts": c.failed_attempts, "given_up": c.given_up,
                "dropped": c.dropped, "last_error": c.last_error}


def metric_families(outbox: Outbox, now: float) -> list:
    """The outbox's Prometheus metrics, for the collector's /metrics once alerts are wired in
    (a Collector's ``collect`` yields these). prometheus_client is imported here: the outbox
    itself needs no metrics server."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    c = outbox.counters
    return [
        CounterMetricFamily("heatpump_notify_sent", "Alert messages delivered (one per target)", value=c.sent),
        CounterMetricFamily("heatpump_notify_failed_attempts", "Alert deliveries that failed (retried with backoff)",
                            value=c.failed_attempts),
        CounterMetricFamily("heatpump_notify_given_up", "Alert deliveries given up after 24 h", value=c.given_up),
        CounterMetricFamily("heatpump_notify_dropped", "Alert messages dropped because the outbox was full",
                            value=c.dropped),
        GaugeMetricFamily("heatpump_notify_pending", "Alert deliveries waiting", value=outbox.pending()),
        GaugeMetricFamily("heatpump_notify_oldest_pending_age_seconds", "Age of the oldest waiting alert message",
                          value=outbox.oldest_pending_age_s(now)),
    ]
