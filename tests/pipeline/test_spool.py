"""The disk spool: durable across processes and kill -9, bounded, oldest out first."""

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from heatpump_monitor.model import Snapshot
from heatpump_monitor.pipeline import spool as spool_mod
from heatpump_monitor.pipeline.spool import DiskSpool, SpoolError, decode, encode


def snap(t, gw="g1", n=3):
    return Snapshot(gateway=gw, brand="nibe", source="api", time_ms=t,
                    values={f"r{i}": t / 1000 + i / 10 for i in range(n)})


def test_round_trip_keeps_every_field():
    s = snap(1_700_000_000_000, "gateway \"x\"", 40)
    assert decode(encode(s)) == s


def test_entries_come_out_oldest_first_and_ack_removes_them(tmp_path):
    sp = DiskSpool(tmp_path / "s.sqlite3", 10_000_000)
    sp.append([snap(1000), snap(2000)])
    sp.append([snap(3000)])
    head = sp.head(2)
    assert [e.snapshot.time_ms for e in head] == [1000, 2000]
    assert sp.depth == 3 and sp.bytes > 0
    sp.ack(head)
    assert [e.snapshot.time_ms for e in sp.head(10)] == [3000]
    assert sp.depth == 1
    sp.ack(sp.head(10))
    assert sp.depth == 0 and sp.bytes == 0 and sp.head(10) == []


def test_only_the_append_waits_for_the_disk(tmp_path):
    """One fsync'd commit per tick: the removal after the store's acknowledgement is committed
    without one (synchronous=NORMAL), and every append after it is fsync'd again (FULL)."""
    sp = DiskSpool(tmp_path / "s.sqlite3", 10_000_000)
    levels = []
    sp._db.set_trace_callback(lambda sql: levels.append(sp._db.execute("PRAGMA synchronous").fetchone()[0])
                              if sql.startswith(("INSERT", "DELETE")) else None)
    for t in (1000, 2000):
        sp.append([snap(t)])
        sp.ack(sp.head(1))
    FULL, NORMAL = 2, 1
    assert levels == [FULL, NORMAL, FULL, NORMAL]


def test_survives_reopen_with_counts(tmp_path):
    path = tmp_path / "s.sqlite3"
    sp = DiskSpool(path, 10_000_000)
    sp.append([snap(t) for t in (1000, 2000, 3000)])
    size = sp.bytes
    sp.close()
    again = DiskSpool(path, 10_000_000)
    assert (again.depth, again.bytes, again.oldest_ms()) == (3, size, 1000)
    assert [e.snapshot for e in again.head(5)] == [snap(t) for t in (1000, 2000, 3000)]


def test_appended_entries_survive_kill_9_of_the_process(tmp_path):
    """append() returns only when the entry is committed: a SIGKILL right after loses nothing."""
    path = tmp_path / "s.sqlite3"
    code = textwrap.dedent(f"""
        import os, signal, sys
        from heatpump_monitor.model import Snapshot
        from heatpump_monitor.pipeline.spool import DiskSpool
        sp = DiskSpool({str(path)!r}, 10_000_000)
        for t in range(1, 51):
            sp.append([Snapshot("g1", "nibe", "api", t * 1000, {{"r": float(t)}})])
        sp.ack(sp.head(10))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    sp = DiskSpool(path, 10_000_000)
    assert [e.snapshot.time_ms for e in sp.head(100)] == [t * 1000 for t in range(11, 51)]
    assert sp.depth == 40


def test_bound_drops_oldest_with_one_loud_counted_line(tmp_path, caplog):
    one = len(encode(snap(1000)))
    sp = DiskSpool(tmp_path / "s.sqlite3", one * 5)
    with caplog.at_level(logging.ERROR):
        for t in range(1, 9):
            sp.append([snap(t * 1000)])
    assert [e.snapshot.time_ms for e in sp.head(100)] == [t * 1000 for t in range(4, 9)]
    assert sp.dropped == 3 and sp.bytes <= one * 5
    lost = [r.getMessage() for r in caplog.records if "DATA LOST" in r.getMessage()]
    assert len(lost) == 1  # later drops within the minute are counted, then reported together
    assert "SPOOL_MAX_MB" in lost[0] and "1970-01-01T00:00:01.000Z" in lost[0]


def test_drop_lines_carry_the_count_since_the_last_line(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(spool_mod, "DROP_LOG_EVERY_S", 0.0)
    one = len(encode(snap(1000)))
    sp = DiskSpool(tmp_path / "s.sqlite3", one * 2)
    with caplog.at_level(logging.ERROR):
        for t in range(1, 6):
            sp.append([snap(t * 1000)])
    lost = [r.getMessage() for r in caplog.records if "DATA LOST" in r.getMessage()]
    assert len(lost) == 3 and lost[-1].endswith("3 dropped since start")


def test_unwritable_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SpoolError) as e:
        DiskSpool(blocker / "spool.sqlite3", 1000)
    assert "cannot open spool" in str(e.value) and str(blocker) in str(e.value)


def test_damaged_file_is_moved_aside_and_collection_goes_on(tmp_path, caplog):
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    (tmp_path / "s.sqlite3-wal").write_bytes(b"old journal" * 100)
    with caplog.at_level(logging.ERROR):
        sp = DiskSpool(path, 1_000_000)
    sp.append([snap(1000)])
    assert [e.snapshot.time_ms for e in sp.head(5)] == [1000]  # a fresh, working spool
    assert any(p.name.startswith("s.sqlite3.corrupt-") for p in tmp_path.iterdir())
    assert any("damaged" in r.getMessage() for r in caplog.records)


def test_disk_failure_keeps_entries_in_memory(tmp_path, caplog):
    sp = DiskSpool(tmp_path / "s.sqlite3", 1_000_000)
    sp.append([snap(1000)])
    real = sp._db

    class Broken:
        def __getattr__(self, name):
            return getattr(real, name)

        def __enter__(self):
            raise sqlite3.OperationalError("database or disk is full")

        def __exit__(self, *a):
            return False

    sp._db = Broken()
    with caplog.at_level(logging.ERROR):
        sp.append([snap(2000)])
        sp.append([snap(3000)])
    assert sum("disk is full" in r.getMessage() for r in caplog.records) == 1
    sp._db = real
    assert [e.snapshot.time_ms for e in sp.head(10)] == [1000, 2000, 3000]
    sp.ack(sp.head(10))
    assert sp.depth == 0


def test_file_shrinks_after_a_large_backlog_is_written(tmp_path):
    path = tmp_path / "s.sqlite3"
    sp = DiskSpool(path, 100_000_000)
    for t in range(0, 3000, 100):
        sp.append([snap((t + i) * 1000, n=40) for i in range(100)])
    big = path.stat().st_size + os.path.getsize(str(path) + "-wal")
    while sp.depth:
        sp.ack(sp.head(500))
    small = path.stat().st_size + os.path.getsize(str(path) + "-wal")
    assert big > 1_000_000 and small < big / 10


def test_memory_fallback_is_bounded_too(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(spool_mod, "MEMORY_FALLBACK_MAX", 3)
    sp = DiskSpool(tmp_path / "s.sqlite3", 1_000_000)
    sp._db = None  # every disk operation fails from here on
    with caplog.at_level(logging.ERROR):
        for t in range(1, 6):
            sp._disk_failed(sqlite3.OperationalError("disk I/O error"), [snap(t * 1000)])
    assert [e.snapshot.time_ms for e in sp._mem] == [3000, 4000, 5000] and sp.dropped == 2
    assert any("DATA LOST" in r.getMessage() for r in caplog.records)


def file_reads(sp):
    """The SELECTs of spool rows the spool runs from now on (its read-back from the file)."""
    seen = []
    sp._db.set_trace_callback(lambda sql: seen.append(sql) if sql.startswith("SELECT id, data FROM spool") else None)
    return seen


def test_a_tick_is_read_back_from_memory_and_the_file_still_holds_it(tmp_path):
    path = tmp_path / "s.sqlite3"
    sp = DiskSpool(path, 10_000_000)
    reads = file_reads(sp)
    sp.append([snap(1000), snap(1000, "g2")])
    head = sp.head(10)
    assert [(e.snapshot.gateway, e.snapshot.time_ms) for e in head] == [("g1", 1000), ("g2", 1000)]
    assert reads == []  # not read back from SQLite...
    on_file = sqlite3.connect(path).execute("SELECT id, data FROM spool ORDER BY id").fetchall()
    assert [(k, decode(d)) for k, d in on_file] == [(e.key, e.snapshot) for e in head]  # ...it is there, same keys
    sp.ack(head[:1])
    assert [e.snapshot.gateway for e in sp.head(10)] == ["g2"]
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM spool").fetchone()[0] == 1


def test_a_spool_left_over_is_read_from_the_file_until_it_was_emptied(tmp_path):
    path = tmp_path / "s.sqlite3"
    first = DiskSpool(path, 10_000_000)
    first.append([snap(1000), snap(2000)])
    first.close()  # (or killed): the restart must replay from the file
    sp = DiskSpool(path, 10_000_000)
    reads = file_reads(sp)
    sp.append([snap(3000)])
    assert [e.snapshot.time_ms for e in sp.head(10)] == [1000, 2000, 3000]
    assert len(reads) == 1
    sp.ack(sp.head(2))
    assert [e.snapshot.time_ms for e in sp.head(10)] == [3000]  # still from the file
    assert len(reads) == 3
    sp.ack(sp.head(10))
    sp.append([snap(4000)])  # emptied once: memory again
    assert [e.snapshot.time_ms for e in sp.head(10)] == [4000] and len(reads) == 4


def test_a_backlog_beyond_the_memory_bound_is_read_from_the_file_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(spool_mod, "RECENT_MAX", 3)
    sp = DiskSpool(tmp_path / "s.sqlite3", 10_000_000)
    reads = file_reads(sp)
    for t in range(1, 6):
        sp.append([snap(t * 1000)])
    assert len(sp._recent) == 0  # never more than RECENT_MAX held
    assert [e.snapshot.time_ms for e in sp.head(2)] == [1000, 2000] and len(reads) == 1
    while sp.depth:
        sp.ack(sp.head(2))
    sp.append([snap(6000)])
    assert [e.snapshot.time_ms for e in sp.head(5)] == [6000] and len(sp._recent) == 1


def test_drops_of_a_full_spool_leave_memory_too(tmp_path):
    one = len(encode(snap(1000)))
    sp = DiskSpool(tmp_path / "s.sqlite3", one * 2)
    for t in range(1, 5):
        sp.append([snap(t * 1000)])
    assert [e.snapshot.time_ms for e in sp.head(10)] == [3000, 4000] and sp.dropped == 2


def test_a_refused_poll_leaves_memory_and_file(tmp_path):
    sp = DiskSpool(tmp_path / "s.sqlite3", 10_000_000)
    sp.append([snap(1000), snap(2000)])
    sp.reject(sp.head(1)[0], "HTTP 400 field type conflict")
    assert [e.snapshot.time_ms for e in sp.head(10)] == [2000] and sp.depth == 1
    assert [(s.time_ms, c) for s, c in sp.rejected()] == [(1000, "HTTP 400 field type conflict")]


def test_a_failed_removal_makes_the_read_back_use_the_file(tmp_path, caplog):
    sp = DiskSpool(tmp_path / "s.sqlite3", 10_000_000)
    sp.append([snap(1000), snap(2000)])
    real = sp._db

    class NoDelete:
        def __getattr__(self, name):
            return getattr(real, name)

        def __enter__(self):
            return real.__enter__()

        def __exit__(self, *a):
            return real.__exit__(*a)

        def execute(self, sql, *args):
            if sql.startswith("DELETE"):
                raise sqlite3.OperationalError("disk I/O error")
            return real.execute(sql, *args)

    sp._db = NoDelete()
    with caplog.at_level(logging.ERROR):
        sp.ack(sp.head(1))
    sp._db = real
    assert "Cannot remove written polls" in caplog.text
    # the row is still on file, so it comes back (written again: harmless)
    assert [e.snapshot.time_ms for e in sp.head(10)] == [1000, 2000]
