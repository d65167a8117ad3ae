"""Outages with real servers: the sink stopped for several ticks then restarted (InfluxDB 1.x,
VictoriaMetrics through the v2 write API), and the collector killed with SIGKILL and restarted.

Each test counts the ticks the collector must have (every good answer the simulated gateway
gave, mapped to its 1 s tick) against the rows stored afterwards: zero loss.
The collector's own /metrics (METRICS_PORT) tells when the spool has drained.
"""

from __future__ import annotations

import signal
import sqlite3
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from heatpump_monitor.pipeline.spool import decode

from ..servers import free_port, influx1_query, influx1_rows, start_influxdb1, start_victoriametrics, vm_export
from .conftest import addr, create_database, sim_env

pytestmark = pytest.mark.realserver

TOKEN = "outage-token-5e3c1a"


def metrics(port: int) -> dict[str, float]:
    """Samples of the collector's /metrics, keyed by name (+ labels when there are any)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5, trust_env=False).text
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = s.name + ("{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}" if s.labels else "")
            out[key] = s.value
    return out


def wait_metric(port: int, check, timeout: float = 30.0) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    last: dict[str, float] = {}
    while time.monotonic() < deadline:
        try:
            last = metrics(port)
            if check(last):
                return last
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"metrics condition not met within {timeout} s; last: {last}")


def answered_ticks(sim, since: float = 0.0) -> list[int]:
    """The 1 s ticks whose poll the gateway answered well (answers come ms after the tick)."""
    return sorted({int(t) * 1000 for t in sim.gateways[0].answered if t >= since})


def influx_ticks(url: str, db: str) -> list[int]:
    rows = influx1_rows(influx1_query(url, db, "SELECT outdoor_temp FROM heatpump"))
    return sorted(int(r["time"]) for r in rows)


def vm_ticks(url: str, gateway: str) -> list[int]:
    series = [s for s in vm_export(url, '{__name__="heatpump_outdoor_temp"}')
              if s["metric"].get("gateway") == gateway]
    return sorted({t for s in series for t in s["timestamps"]})


def test_influxdb1_stopped_mid_run_then_restarted_loses_nothing(simulator, collector, tmp_path):
    db = start_influxdb1(tmp_path / "influx")
    try:
        create_database(db.url, "hp")
        sim = simulator(["nibe"], frozen=True)
        port = free_port()
        c = collector(sim_env(sim, INFLUXDB_URL=db.url, INFLUXDB_DATABASE="hp", METRICS_PORT=str(port)))
        wait_metric(port, lambda m: m["heatpump_snapshots_stored_total"] >= 3)
        db.stop()
        c.wait_for(r"Failed to write to InfluxDB 1.x .*connection refused; keeping \d+ poll")
        down = wait_metric(port, lambda m: m["heatpump_spool_entries"] >= 4 and m["heatpump_sink_up"] == 0)
        assert down["heatpump_spool_bytes"] > 0
        db.start()
        c.wait_for("works again")
        wait_metric(port, lambda m: m["heatpump_spool_entries"] == 0 and m["heatpump_sink_up"] == 1)
        assert c.terminate()[0] == 0

        stored = influx_ticks(db.url, "hp")
        expected = answered_ticks(sim)
        assert stored == expected, f"lost ticks: {sorted(set(expected) - set(stored))}"
        assert stored == list(range(stored[0], stored[-1] + 1, 1000)), "a tick is missing"
        assert len(stored) >= 7  # 3 before the outage, at least 4 during it
        assert c.log.count("Failed to write to") == 1  # one line for the outage
        assert "Traceback" not in c.log
    finally:
        db.stop()


def test_victoriametrics_stopped_mid_run_then_restarted_loses_nothing(simulator, collector, tmp_path):
    vm = start_victoriametrics(tmp_path / "vm")
    try:
        sim = simulator(["ivt"], frozen=True)
        port = free_port()
        c = collector(sim_env(sim, INFLUXDB_URL=vm.url, INFLUXDB_TOKEN=TOKEN, METRICS_PORT=str(port)))
        wait_metric(port, lambda m: m["heatpump_snapshots_stored_total"] >= 3)
        vm.stop()
        c.wait_for("Failed to write to InfluxDB v2")
        wait_metric(port, lambda m: m["heatpump_spool_entries"] >= 4)
        vm.start()
        c.wait_for("works again")
        wait_metric(port, lambda m: m["heatpump_spool_entries"] == 0 and m["heatpump_sink_up"] == 1)
        assert c.terminate()[0] == 0

        stored = vm_ticks(vm.url, addr(sim.urls[0]))
        expected = answered_ticks(sim)
        assert stored == expected, f"lost ticks: {sorted(set(expected) - set(stored))}"
        assert len(stored) >= 7  # 3 before the outage, at least 4 during it
        assert TOKEN not in c.log
    finally:
        vm.stop()


def spool_ticks(path) -> set[int]:
    with sqlite3.connect(path) as db:
        return {decode(d).time_ms for (d,) in db.execute("SELECT data FROM spool")}


def test_collector_killed_with_sigkill_then_restarted_replays_its_spool(simulator, collector, tmp_path):
    """The sink is down when the collector is killed: what it collected waits in the spool on
    disk, and the restarted collector writes it first. Only a poll in flight at the moment of
    the kill (answered, not yet spooled) may be missing."""
    db = start_influxdb1(tmp_path / "influx")
    try:
        create_database(db.url, "hp")
        sim = simulator(["thermia"], frozen=True)
        port = free_port()
        env = sim_env(sim, INFLUXDB_URL=db.url, INFLUXDB_DATABASE="hp", METRICS_PORT=str(port))
        first = collector(env, name="first")
        wait_metric(port, lambda m: m["heatpump_snapshots_stored_total"] >= 2)
        db.stop()
        wait_metric(port, lambda m: m["heatpump_spool_entries"] >= 4)
        first.proc.send_signal(signal.SIGKILL)
        assert first.proc.wait(10) == -signal.SIGKILL
        killed_at = time.time()
        answered_before = answered_ticks(sim)
        in_spool = spool_ticks(tmp_path / "data" / "spool-api.sqlite3")
        assert len(in_spool) >= 4  # the backlog is on disk
        time.sleep(1.5)  # nobody polls now

        db.start()
        second = collector(env, name="second")
        second.wait_for(r"Spool .* holds \d+ poll\(s\) .* not yet stored, oldest from .*: writing them first")
        backlog = len(in_spool)
        # the backlog, then at least two fresh polls
        wait_metric(port, lambda m: m["heatpump_spool_entries"] == 0
                    and m["heatpump_snapshots_stored_total"] >= backlog + 2)
        assert second.terminate()[0] == 0

        stored = set(influx_ticks(db.url, "hp"))
        missing = set(answered_before) - stored
        # at most the poll in flight when the process died, and then it was not in the spool
        assert len(missing) <= 1 and not (missing & in_spool), sorted(missing)
        assert in_spool <= stored
        after = set(answered_ticks(sim, since=killed_at))
        assert after and after <= stored
        assert "Traceback" not in second.log
    finally:
        db.stop()


def test_refused_data_is_set_aside_and_collection_goes_on(simulator, collector, influxdb1, tmp_path):
    """An older collector wrote integers into the measurement: InfluxDB refuses our floats with
    a field type conflict. The collector names it, sets those polls aside and is not stuck."""
    create_database(influxdb1.url, "hp_conflict")
    old = httpx.post(f"{influxdb1.url}/write", params={"db": "hp_conflict", "precision": "s"}, trust_env=False,
                     content=f"heatpump,gateway=old outdoor_temp=5i {int(time.time()) - 60}")
    assert old.status_code == 204, old.text
    sim = simulator(["nibe"], frozen=True)
    port = free_port()
    c = collector(sim_env(sim, INFLUXDB_URL=influxdb1.url, INFLUXDB_DATABASE="hp_conflict", METRICS_PORT=str(port)))
    m = wait_metric(port, lambda m: m["heatpump_snapshots_rejected_total"] >= 3)
    assert m["heatpump_spool_entries"] <= 1  # not piling up behind the refused polls
    assert c.terminate()[0] == 0
    assert c.log.count("refused the poll of") == 1  # one line per cause
    assert "field type conflict" in c.log and "refused by the store" in c.log
    with sqlite3.connect(tmp_path / "data" / "spool-api.sqlite3") as db:
        causes = [c for (c,) in db.execute("SELECT cause FROM rejected")]
    assert len(causes) >= 3 and all("HTTP 400" in c for c in causes)
