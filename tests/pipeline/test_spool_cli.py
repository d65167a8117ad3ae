"""`heatpump-monitor spool list|replay|discard` on a real spool file, replaying into a real
embedded store (and one real InfluxDB 1.x that refuses a poll again)."""

from __future__ import annotations

import json
import sqlite3

import httpx
import pytest

from heatpump_monitor.cli import main
from heatpump_monitor.model import Snapshot
from heatpump_monitor.pipeline import spool as spool_mod
from heatpump_monitor.pipeline.spool import DiskSpool

from ..servers import influx1_query, influx1_rows

T0 = 1_764_324_000_000  # 2025-11-28T10:00:00Z
CAUSE = "InfluxDB write failed: HTTP 400 partial write: field type conflict"


def snap(t, gw="g1", **values):
    return Snapshot(gateway=gw, brand="nibe", source="api", time_ms=t, values=values or {"outdoor_temp": 1.5})


def spool_with_refused(path, polls, cause=CAUSE, waiting=()):
    """A spool file as the collector leaves it: ``polls`` in the rejected table, ``waiting`` in the spool."""
    sp = DiskSpool(path, 10_000_000)
    sp.append(polls)
    for entry in sp.head(len(polls)):
        sp.reject(entry, cause)
    sp.append(list(waiting))
    sp.close()


def rejected_rows(path):
    with sqlite3.connect(path) as db:
        return [(json.loads(d)[0], t, c) for t, c, d in db.execute("SELECT time_ms, cause, data FROM rejected ORDER BY id")]


def stored(store):
    with sqlite3.connect(store) as db:
        return db.execute("SELECT gateway, ts_ms FROM snapshots ORDER BY ts_ms").fetchall()


@pytest.fixture
def env(monkeypatch, tmp_path):
    for var in ("INFLUXDB_URL", "INFLUXDB_TOKEN", "INFLUXDB_DATABASE", "SPOOL_PATH", "SPOOL_MAX_MB", "STORE_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CONFIG_FILE", "")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("H66_IP", "192.168.1.100")
    return monkeypatch


def test_list_groups_refused_polls_by_gateway_and_cause(env, tmp_path, capsys):
    path = tmp_path / "data" / "spool-api.sqlite3"  # the API collector's, from DATA_DIR
    spool_with_refused(path, [snap(T0), snap(T0 + 30_000), snap(T0 + 60_000, "g2")], waiting=[snap(T0 + 90_000)])
    assert main(["spool", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"Spool {path}: 1 poll(s) waiting to be written, 3 refused by the store (selected)"
    assert out[1].split() == ["gateway", "first", "last", "count", "cause"]
    assert out[2].split()[:4] == ["g1", "2025-11-28T10:00:00.000Z", "2025-11-28T10:00:30.000Z", "2"]
    assert out[2].endswith(CAUSE)
    assert out[3].split()[:4] == ["g2", "2025-11-28T10:01:00.000Z", "2025-11-28T10:01:00.000Z", "1"]
    assert main(["spool", "list", "--gateway", "g2", "--before", "2025-11-28T10:01:00Z"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"Spool {path}: 1 poll(s) waiting to be written, 0 refused by the store"]


def test_replay_writes_to_the_configured_store_and_empties_the_table(env, tmp_path, capsys):
    path = tmp_path / "spool.sqlite3"
    store = tmp_path / "store.sqlite3"
    env.setenv("STORE_PATH", str(store))
    spool_with_refused(path, [snap(T0), snap(T0 + 30_000, "g2"), snap(T0 + 60_000)])
    assert main(["spool", "replay", "--file", str(path), "--gateway", "g1"]) == 0
    assert stored(store) == [("g1", T0), ("g1", T0 + 60_000)]
    assert [r[0] for r in rejected_rows(path)] == ["g2"]
    assert f"Replayed 2 refused poll(s) to embedded store at {store}: 2 written, 0 refused again" in capsys.readouterr().out
    assert main(["spool", "replay", "--file", str(path)]) == 0
    assert rejected_rows(path) == [] and len(stored(store)) == 3


def test_discard_needs_a_selection_and_deletes_only_it(env, tmp_path, capsys):
    path = tmp_path / "spool.sqlite3"
    spool_with_refused(path, [snap(T0), snap(T0 + 30_000, "g2"), snap(T0 + 60_000)], waiting=[snap(T0 + 90_000)])
    assert main(["spool", "discard", "--file", str(path)]) == 2
    assert "--all, --gateway G or --before TIME" in capsys.readouterr().err
    assert main(["spool", "discard", "--file", str(path), "--before", "2025-11-28T10:00:30"]) == 0
    assert capsys.readouterr().out == f"Discarded 1 refused poll(s) from {path}\n"
    assert [(g, t) for g, t, _ in rejected_rows(path)] == [("g2", T0 + 30_000), ("g1", T0 + 60_000)]
    assert main(["spool", "discard", "--file", str(path), "--all"]) == 0
    assert rejected_rows(path) == []
    assert DiskSpool(path, 10_000_000).depth == 1  # the polls waiting to be written are not touched


def test_no_spool_file_or_not_a_spool_is_one_line(env, tmp_path, capsys):
    assert main(["spool", "list", "--file", str(tmp_path / "nope.sqlite3")]) == 1
    assert capsys.readouterr().err.startswith(f"error: no spool file {tmp_path / 'nope.sqlite3'}")
    assert not (tmp_path / "nope.sqlite3").exists()  # never created
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    assert main(["spool", "list", "--file", str(other)]) == 1
    assert capsys.readouterr().err == f"error: {other} is not a spool file (no spool and rejected tables)\n"
    env.setenv("SPOOL_MAX_MB", "0")
    assert main(["spool", "list"]) == 1
    assert "SPOOL_MAX_MB=0" in capsys.readouterr().err


def test_a_spool_locked_too_long_is_reported_and_nothing_changes(env, tmp_path, capsys, monkeypatch):
    path = tmp_path / "spool.sqlite3"
    spool_with_refused(path, [snap(T0)])
    monkeypatch.setattr(spool_mod, "BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer that does not let go
    try:
        assert main(["spool", "discard", "--file", str(path), "--all"]) == 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert capsys.readouterr().err == (f"error: cannot change spool {path}: it stayed locked for 0.2 s (another "
                                       "process holds a long transaction on it); nothing was changed, try again\n")
    assert len(rejected_rows(path)) == 1


@pytest.mark.realserver
def test_replay_into_influxdb1_keeps_the_poll_refused_again(env, tmp_path, influxdb1, capsys):
    """outdoor_temp was written as an integer: InfluxDB refuses the float again (field type
    conflict); the other poll is written; the refused one stays, with InfluxDB's new cause."""
    influx1_query(influxdb1.url, None, 'CREATE DATABASE "replay"')
    r = httpx.post(f"{influxdb1.url}/write", params={"db": "replay", "precision": "ms"}, trust_env=False,
                   content=f"heatpump,gateway=old,source=api,brand=nibe outdoor_temp=1i {T0}")
    assert r.status_code == 204
    env.setenv("INFLUXDB_URL", influxdb1.url)
    env.setenv("INFLUXDB_DATABASE", "replay")
    path = tmp_path / "spool.sqlite3"
    spool_with_refused(path, [snap(T0 + 30_000), snap(T0 + 60_000, supply_temp=40.5)], cause="earlier cause")
    assert main(["spool", "replay", "--file", str(path)]) == 1
    assert "1 written, 1 refused again (kept, with the new cause)" in capsys.readouterr().out
    (row,) = rejected_rows(path)
    assert row[:2] == ("g1", T0 + 30_000) and "field type conflict" in row[2]
    rows = influx1_rows(influx1_query(influxdb1.url, "replay", "SELECT supply_temp FROM heatpump WHERE gateway = 'g1'"))
    assert [x["supply_temp"] for x in rows] == [40.5]
