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
