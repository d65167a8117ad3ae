"""`heatpump-monitor spool` on the spool file of a collector that is running: both work."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from heatpump_monitor.model import Snapshot
from heatpump_monitor.pipeline.spool import DiskSpool

from .conftest import ROOT, addr

pytestmark = pytest.mark.realserver

T0 = 1_764_324_000_000


def spool_cmd(env, *args):
    full = {k: v for k, v in os.environ.items() if not k.startswith(("INFLUXDB_", "SPOOL_", "STORE_PATH"))}
    return subprocess.run([sys.executable, "-m", "heatpump_monitor", "spool", *args], env={**full, **env},
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_list_replay_and_discard_while_the_collector_writes_the_same_spool(simulator, collector, tmp_path):
    data = tmp_path / "data"
    spool = DiskSpool(data / "spool-api.sqlite3", 10_000_000)  # what an earlier run left refused
    spool.append([Snapshot(f"old{i % 2}", "thermia", "api", T0 + i * 30_000, {"outdoor_temp": 1.0 + i})
                  for i in range(6)])
    for entry in spool.head(6):
        spool.reject(entry, "InfluxDB write failed: HTTP 400 field type conflict")
    spool.close()
    store = tmp_path / "store.sqlite3"
    sim = simulator(["thermia"], frozen=True)
    env = {"H66_IP": addr(sim.urls[0]), "COLLECTION_INTERVAL": "1", "STORE_PATH": str(store),
           "DATA_DIR": str(data), "CONFIG_FILE": ""}
    c = collector(env)
    c.wait_for("Stored ", count=2)

    listed = spool_cmd(env, "list")
    assert listed.returncode == 0, listed.stderr
    assert "6 refused by the store" in listed.stdout and listed.stdout.count("field type conflict") == 2
    discarded = spool_cmd(env, "discard", "--gateway", "old1")
    assert discarded.returncode == 0 and discarded.stdout.startswith("Discarded 3 refused poll(s)")
    replayed = spool_cmd(env, "replay")
    assert replayed.returncode == 0, replayed.stderr
    assert "3 written, 0 refused again" in replayed.stdout

    stored_before = len(c.wait_for("Stored "))
    c.wait_for("Stored ", count=stored_before + 2)  # the collector goes on
    assert c.terminate()[0] == 0
    assert " ERROR " not in c.log and "Cannot" not in c.log
    with sqlite3.connect(store) as db:
        gateways = [g for (g,) in db.execute("SELECT gateway FROM snapshots")]
    assert gateways.count("old0") == 3 and "old1" not in gateways and gateways.count(addr(sim.urls[0])) >= 4
    with sqlite3.connect(data / "spool-api.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM rejected").fetchone() == (0,)
