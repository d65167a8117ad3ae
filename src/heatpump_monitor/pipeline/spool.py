"""The spool: where every decoded snapshot waits until the sink has acknowledged it.

:class:`DiskSpool` (the default) is a small SQLite file in the data directory. A snapshot is
appended (and synced to disk) before any write to the sink is attempted, and removed only after
the sink acknowledged it, so a sink outage, ``kill -9`` or a reboot loses nothing: the next run
writes what is pending first. Entries come out oldest first. When the file's bound
(``SPOOL_MAX_MB``) is reached, the oldest entries are dropped with a loud, counted error.

:class:`MemorySpool` has the same interface without the disk (``SPOOL_MAX_MB=0``, tests).
Replaying an entry twice is harmless: every sink overwrites the same (gateway, source, time).

One durable write per tick: the append is the only commit that waits for the disk
(``synchronous=FULL``: the WAL is fsync'd before ``append`` returns). The removal after the
sink's acknowledgement is committed with ``synchronous=NORMAL``: it reaches the WAL (the OS's
page cache) without an fsync, so a ``kill -9`` right after still finds it done, and the next
append's fsync makes it durable together with the new entries (the WAL is written in order).
Only a power loss between the two can undo a removal, and then an already-written poll is
written again: harmless, as above. What is appended is never at risk.

The read-back for the sink comes from memory while the backlog is small: the entries this
process appended (up to :data:`RECENT_MAX`, the usual case of a tick or a few waiting) are kept
as they were committed, so a tick does not read and decode its own polls back from SQLite. The
file stays the only thing that counts: an entry is in memory only after its commit, leaves it
with its removal, and whenever memory and file might differ (a backlog beyond the bound, a
spool found non-empty at start, a removal that failed) entries are read from the file again
until the spool has been empty once.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import sqlite3
import time
from collections import deque
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Protocol, Sequence

from ..model import Snapshot, iso_ms

log = logging.getLogger("heatpump_monitor.spool")

#: at most one "spool full" line per this many seconds (each one carries the counts)
DROP_LOG_EVERY_S = 60.0
#: give the file's space back once a backlog of at least this many entries has been written
COMPACT_AFTER = 1000
#: polls the store refused, kept aside (oldest removed beyond this many)
REJECTED_MAX = 10_000
#: polls kept in memory while the spool's disk fails (oldest dropped beyond this many)
MEMORY_FALLBACK_MAX = 10_000
#: the newest committed entries kept in memory for the read-back (module doc); a backlog larger
#: than this is read from the file
RECENT_MAX = 1000
#: SQLite's page cache of the spool file, KiB (its default is 2 MB): a tick's rows are a few
#: pages and the read-back comes from memory, so a large cache only costs RSS
CACHE_KIB = 64


@dataclass(frozen=True, slots=True)
class Entry:
    key: int
    snapshot: Snapshot


class Spool(Protocol):
    description: str

    @property
    def dropped(self) -> int: ...

    @property
    def depth(self) -> int: ...

    @property
    def bytes(self) -> int: ...

    def append(self, snapshots: Sequence[Snapshot]) -> None: ...

    def head(self, n: int) -> list[Entry]:
        """The ``n`` oldest entries, oldest first."""

    def ack(self, entries: Sequence[Entry]) -> None:
        """Remove entries returned by :meth:`head` (the sink has them)."""

    def reject(self, entry: Entry, cause: str) -> None:
        """The sink refused this entry's data: set it aside (never retried) with the cause."""

    def close(self) -> None: ...


def encode(s: Snapshot) -> bytes:
    return json.dumps([s.gateway, s.brand, s.source, s.time_ms, s.values],
                      separators=(",", ":"), allow_nan=False).encode()


def decode(data: bytes) -> Snapshot:
    gateway, brand, source, time_ms, values = json.loads(data)
    return Snapshot(gateway=gateway, brand=brand, source=source, time_ms=int(time_ms), values=values)


class _DropLog:
    """Counts dropped entries; logs the first drop at once, then at most once a minute."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.dropped = 0
        self._unlogged = 0
        self._first = self._last = 0
        self._logged_at = 0.0

    def dropped_range(self, count: int, first_ms: int, last_ms: int) -> None:
        if count <= 0:
            return
        self.dropped += count
        if self._unlogged == 0:
            self._first = first_ms
        self._unlogged += count
        self._last = last_ms
        now = time.monotonic()
        if self._logged_at == 0.0 or now - self._logged_at >= DROP_LOG_EVERY_S:
            log.error("%s full: dropped the %d oldest poll(s) (%s to %s) - DATA LOST; %d dropped since start",
                      self.what, self._unlogged, iso_ms(self._first), iso_ms(self._last), self.dropped)
            self._unlogged = 0
            self._logged_at = now


class MemorySpool:
    """Bounded by a number of entries; lost when the process ends."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max(1, max_entries)
        self.description = f"memory (at most {self.max_entries} polls, lost on exit)"
        self._items: deque[Entry] = deque()
        self._next = 1
        self._drops = _DropLog(f"Write buffer ({self.max_entries} polls)")
        self.rejected: list[tuple[Snapshot, str]] = []  # the newest REJECTED_MAX, for inspection

    @property
    def dropped(self) -> int:
        return self._drops.dropped

    @property
    def depth(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return 0

    def append(self, snapshots: Sequence[Snapshot]) -> None:
        for s in snapshots:
            self._items.append(Entry(self._next, s))
            self._next += 1
        excess = len(self._items) - self.max_entries
        if excess > 0:
            gone = [self._items.popleft() for _ in range(excess)]
            self._drops.dropped_range(excess, gone[0].snapshot.time_ms, gone[-1].snapshot.time_ms)

    def head(self, n: int) -> list[Entry]:
        return [self._items[i] for i in range(min(n, len(self._items)))]

    def ack(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        last = max(e.key for e in entries)
        while self._items and self._items[0].key <= last:
            self._items.popleft()

    def reject(self, entry: Entry, cause: str) -> None:
        self.rejected.append((entry.snapshot, cause))
        del self.rejected[:-REJECTED_MAX]
        try:
            self._items.remove(entry)
        except ValueError:
            pass

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,  -- append order = collection order
    time_ms INTEGER NOT NULL,
    size    INTEGER NOT NULL,
    data    BLOB    NOT NULL
);
-- polls the store refused (HTTP 400/413/422): kept for inspection, never retried
CREATE TABLE IF NOT EXISTS rejected (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ms INTEGER NOT NULL,
    cause   TEXT    NOT NULL,
    data    BLOB    NOT NULL
);
"""


class SpoolError(Exception):
    """The spool file cannot be opened (permissions, not a directory, ...)."""


class DiskSpool:
    """SQLite (WAL, ``synchronous=FULL``): an appended entry is on disk when ``append`` returns.

    Everything runs on the caller's thread (the collector's event loop); one append per tick is
    one transaction. If the disk fails (full, read-only), entries are kept in memory instead,
    with one error line, so collection goes on.
    """

    def __init__(self, path: str | os.PathLike[str], max_bytes: int) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.description = f"{self.path} (at most {max_bytes / 1e6:g} MB)"
        self._drops = _DropLog(f"Spool {self.path} (SPOOL_MAX_MB={max_bytes / 1e6:g})")
        self._mem: deque[Entry] = deque()  # used only while the disk fails
        self._mem_key = 0
        self._disk_error = ""
        self._peak = 0  # largest depth since the spool was last empty
        self._db = self._open()
        self._depth, self._bytes = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM spool").fetchone()
        # every row of the spool table, oldest first, while `_in_memory` (module doc); a spool
        # left over from the last run is read from the file until it has been emptied
        self._recent: deque[Entry] = deque()
        self._in_memory = self._depth == 0

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._connect()
        except sqlite3.DatabaseError as exc:
            if not self.path.exists() or "not a database" not in str(exc) and "malformed" not in str(exc):
                raise SpoolError(f"cannot open spool {self.path}: {exc}") from None
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            self.path.rename(aside)
            for extra in ("-wal", "-shm"):  # never let a new file pick up the old journal
                old = self.path.with_name(self.path.name + extra)
                if old.exists():
                    old.rename(aside.with_name(aside.name + extra))
            log.error("Spool %s is damaged (%s): moved it to %s and started an empty one - "
                      "its polls are not replayed", self.path, exc, aside)
            db = self._connect()
        except OSError as exc:
            raise SpoolError(f"cannot open spool {self.path}: {exc.strerror or exc}") from None
        return db

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # only takes effect on a new file
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            db.executescript(_SCHEMA)
            db.execute("SELECT COUNT(*) FROM spool").fetchone()  # reads the file: fails if damaged
        except BaseException:
            db.close()
            raise
        return db

    @property
    def dropped(self) -> int:
        return self._drops.dropped

    @property
    def depth(self) -> int:
        return self._depth + len(self._mem)

    @property
    def bytes(self) -> int:
        return self._bytes

    def oldest_ms(self) -> int | None:
        row = self._db.execute("SELECT time_ms FROM spool ORDER BY id LIMIT 1").fetchone()
        return row[0] if row else None

    def append(self, snapshots: Sequence[Snapshot]) -> None:
        if not snapshots:
            return
        kept = [(s, data) for s in snapshots if (data := self._encode(s)) is not None]
        size = sum(len(d) for _, d in kept)
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                dropped_upto = self._make_room(size)
                self._db.executemany("INSERT INTO spool (time_ms, size, data) VALUES (?, ?, ?)",
                                     [(s.time_ms, len(d), d) for s, d in kept])
                # AUTOINCREMENT in one write transaction: the new rows' ids are consecutive
                last_id = self._db.execute("SELECT last_insert_rowid()").fetchone()[0]
        except sqlite3.Error as exc:
            self._disk_failed(exc, snapshots)
            return
        self._remember(dropped_upto, [Entry(last_id - len(kept) + 1 + i, s) for i, (s, _) in enumerate(kept)])
        self._depth += len(kept)
        self._bytes += size
        self._peak = max(self._peak, self._depth)
        if self._disk_error:
            log.warning("Spool %s works again", self.path)
            self._disk_error = ""

    @staticmethod
    def _encode(s: Snapshot) -> builtins.bytes | None:  # the builtin, not the property above
        try:
            return encode(s)
        except (TypeError, ValueError) as exc:  # a value that is not a finite number: a bug upstream
            log.error("Not spooling the poll of %s at %s: %s", s.gateway, s.iso_time, exc)
            return None

    def _remember(self, dropped_upto: int, entries: list[Entry]) -> None:
        """Keep committed entries for the read-back, while every row fits (module doc)."""
        if not self._in_memory:
            return
        self._drop_recent(dropped_upto)
        if len(self._recent) + len(entries) > RECENT_MAX:
            self._forget()
            return
        self._recent.extend(entries)

    def _drop_recent(self, upto: int) -> None:
        """The remembered entries up to id ``upto`` are no longer in the file."""
        while self._recent and self._recent[0].key <= upto:
            self._recent.popleft()

    def _forget(self) -> None:
        """From now on, read the file until the spool has been empty once."""
        self._in_memory = False
        self._recent.clear()

    def _make_room(self, size: int) -> int:
        """Drop the oldest rows so that ``size`` more bytes fit; the last id dropped (0: none)."""
        excess = self._bytes + size - self.max_bytes
        if excess <= 0:
            return 0
        freed = count = 0
        last_id = first_ms = last_ms = 0
        for row_id, row_size, t in self._db.execute("SELECT id, size, time_ms FROM spool ORDER BY id"):
            if count == 0:
                first_ms = t
            freed += row_size
            count += 1
            last_id, last_ms = row_id, t
            if freed >= excess:
                break
        if count:
            self._db.execute("DELETE FROM spool WHERE id <= ?", (last_id,))
            self._depth -= count
            self._bytes -= freed
            self._drops.dropped_range(count, first_ms, last_ms)
        return last_id

    def _disk_failed(self, exc: sqlite3.Error, snapshots: Sequence[Snapshot]) -> None:
        cause = str(exc)
        if cause != self._disk_error:
            log.error("Cannot append to spool %s (%s): keeping polls in memory until it works again "
                      "(they are lost if the collector stops before they are written)", self.path, cause)
            self._disk_error = cause
        for s in snapshots:
            self._mem_key -= 1
            self._mem.append(Entry(self._mem_key, s))
        excess = len(self._mem) - MEMORY_FALLBACK_MAX
        if excess > 0:
            gone = [self._mem.popleft() for _ in range(excess)]
            self._drops.dropped_range(excess, gone[0].snapshot.time_ms, gone[-1].snapshot.time_ms)

    def head(self, n: int) -> list[Entry]:
        if self._in_memory:
            entries = list(islice(self._recent, n))
        else:
            entries = self._head_from_file(n)
        for e in list(self._mem)[: n - len(entries)]:
            entries.append(e)
        return entries

    def _head_from_file(self, n: int) -> list[Entry]:
        entries: list[Entry] = []
        try:
            rows = self._db.execute("SELECT id, data FROM spool ORDER BY id LIMIT ?", (n,)).fetchall()
        except sqlite3.Error as exc:
            log.error("Cannot read spool %s: %s", self.path, exc)
            rows = []
        bad: list[int] = []
        for row_id, data in rows:
            try:
                entries.append(Entry(row_id, decode(data)))
            except (ValueError, TypeError) as exc:
                log.error("Spool %s entry %d is unreadable (%s): removed", self.path, row_id, exc)
                bad.append(row_id)
        if bad:
            self._delete_ids(bad)
        return entries

    def ack(self, entries: Sequence[Entry]) -> None:
        on_disk = [e.key for e in entries if e.key > 0]
        in_mem = {e.key for e in entries if e.key < 0}
        while self._mem and self._mem[0].key in in_mem:
            self._mem.popleft()
        if on_disk:
            # head() returns the oldest rows and appends only add larger ids, so every id up to
            # the largest acknowledged one was either written now or dropped before
            self._delete_upto(max(on_disk))
        if self.depth == 0:
            if self._peak >= COMPACT_AFTER:
                self._compact()
            self._peak = 0
            self._recent.clear()
            self._in_memory = True  # nothing on file: memory and file agree again

    def reject(self, entry: Entry, cause: str) -> None:
        if entry.key < 0:
            try:
                self._mem.remove(entry)
            except ValueError:
                pass
            return
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("INSERT INTO rejected (time_ms, cause, data) "
                                 "SELECT time_ms, ?, data FROM spool WHERE id = ?", (cause, entry.key))
                self._db.execute("DELETE FROM rejected WHERE id <= (SELECT MAX(id) FROM rejected) - ?",
                                 (REJECTED_MAX,))
        except sqlite3.Error as exc:
            log.error("Cannot set aside a refused poll in spool %s: %s", self.path, exc)
        self._delete_ids([entry.key])

    def rejected(self) -> list[tuple[Snapshot, str]]:
        """The polls the store refused, oldest first, with the cause."""
        return [(decode(d), c) for d, c in self._db.execute("SELECT data, cause FROM rejected ORDER BY id")]

    def _delete_upto(self, last_id: int) -> None:
        try:
            # not worth an fsync: losing this removal (power loss only) rewrites written polls;
            # the next append's fsync makes it durable (see the module doc)
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                with self._db:
                    cur = self._db.execute("DELETE FROM spool WHERE id <= ? RETURNING size", (last_id,))
                    sizes = [r[0] for r in cur.fetchall()]
            finally:
                self._db.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:  # the rows stay and are written again later: harmless
            log.error("Cannot remove written polls from spool %s: %s", self.path, exc)
            self._forget()  # they stay on file, so the read-back must see them there
            return
        self._drop_recent(last_id)
        self._depth -= len(sizes)
        self._bytes -= sum(sizes)

    def _delete_ids(self, ids: list[int]) -> None:
        try:
            with self._db:
                cur = self._db.execute(
                    f"DELETE FROM spool WHERE id IN ({','.join('?' * len(ids))}) RETURNING size", ids)
                sizes = [r[0] for r in cur.fetchall()]
        except sqlite3.Error:
            self._forget()
            return
        if self._recent:
            gone = set(ids)
            self._recent = deque(e for e in self._recent if e.key not in gone)
        self._depth -= len(sizes)
        self._bytes -= sum(sizes)

    def _compact(self) -> None:
        """Give the space of a drained backlog back to the file system."""
        try:
            self._db.executescript("PRAGMA incremental_vacuum;")  # runs to the end (execute: 1 page)
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass

    def close(self) -> None:
        try:
            self._db.close()
        except sqlite3.Error:
            pass


#: how long the ``spool`` command waits for the collector's transaction on the same file (they
#: take milliseconds; a file held longer than this is reported as busy, nothing is changed)
BUSY_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class RejectedPoll:
    key: int  # the row's id in the rejected table
    time_ms: int
    cause: str
    snapshot: Snapshot | None  # None: the row cannot be read (listed and discardable, not replayable)

    @property
    def gateway(self) -> str:
        return self.snapshot.gateway if self.snapshot is not None else "(unreadable)"


class RejectedTable:
    """The spool file's ``rejected`` table, for the ``spool`` command, which may run while the
    collector has the same file open: SQLite's WAL lets both read, every change here is one
    short transaction, and a busy timeout waits out the collector's. The collector only inserts
    into this table (and trims it to :data:`REJECTED_MAX`), so deleting rows from another
    process cannot disturb its counts of the ``spool`` table."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SpoolError(f"no spool file {self.path} (has the collector run with this DATA_DIR/SPOOL_PATH?)")
        try:
            # mode=rw: never create a file, nor the tables, that the collector has not made
            self._db = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, isolation_level=None,
                                       timeout=BUSY_TIMEOUT_S)
            has = self._db.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' "
                                   "AND name IN ('spool', 'rejected')").fetchone()[0]
        except sqlite3.Error as exc:
            raise SpoolError(_cannot(self.path, "open", exc)) from None
        if has != 2:
            self._db.close()
            raise SpoolError(f"{self.path} is not a spool file (no spool and rejected tables)")

    def waiting(self) -> int:
        """Polls in the spool not yet written (the collector writes them)."""
        return self._read("SELECT COUNT(*) FROM spool")[0][0]

    def select(self, gateway: str | None = None, before_ms: int | None = None) -> list[RejectedPoll]:
        """The refused polls, oldest first; of ``gateway`` and from before ``before_ms`` if given."""
        sql, args = "SELECT id, time_ms, cause, data FROM rejected", []
        if before_ms is not None:
            sql, args = sql + " WHERE time_ms < ?", [before_ms]
        polls = []
        for key, time_ms, cause, data in self._read(sql + " ORDER BY time_ms, id", *args):
            try:
                snapshot: Snapshot | None = decode(data)
            except (ValueError, TypeError):
                snapshot = None
            poll = RejectedPoll(key, time_ms, cause, snapshot)
            if gateway is None or poll.gateway == gateway:
                polls.append(poll)
        return polls

    def delete(self, keys: Sequence[int]) -> int:
        """Remove these rows, in one transaction; how many were still there."""
        chunks = [list(keys[i:i + 500]) for i in range(0, len(keys), 500)]  # SQLite's bound parameters
        return self._change(*[(f"DELETE FROM rejected WHERE id IN ({','.join('?' * len(c))})", c) for c in chunks])

    def set_cause(self, key: int, cause: str) -> None:
        self._change(("UPDATE rejected SET cause = ? WHERE id = ?", [cause, key]))

    def close(self) -> None:
        self._db.close()

    def _read(self, sql: str, *args: object) -> list[tuple]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise SpoolError(_cannot(self.path, "read", exc)) from None

    def _change(self, *statements: tuple[str, Sequence[object]]) -> int:
        """Run ``statements`` in one short write transaction; the rows they changed."""
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                return sum(self._db.execute(sql, args).rowcount for sql, args in statements)
        except sqlite3.Error as exc:
            raise SpoolError(_cannot(self.path, "change", exc)) from None


def _cannot(path: Path, what: str, exc: sqlite3.Error) -> str:
    if "locked" in str(exc) or "busy" in str(exc):
        return (f"cannot {what} spool {path}: it stayed locked for {BUSY_TIMEOUT_S:g} s (another process holds "
                f"a long transaction on it); nothing was changed, try again")
    return f"cannot {what} spool {path}: {exc}"
