"""The ``collect`` process writing to real InfluxDB 1.x and VictoriaMetrics (InfluxDB v2 write
API) on loopback; read back with InfluxQL / the export API."""

from __future__ import annotations

import re
import signal
import time
from collections import defaultdict

import httpx
import pytest

from heatpump_monitor.providers import load_provider

from ..servers import free_port, influx1_query, influx1_rows, start_influxdb1, vm_export
from .conftest import addr, create_database

pytestmark = pytest.mark.realserver

SECRET_TOKEN = "tok-9f8e7d6c5b4a-secret"


def expected_values(sim, i):
    gw = sim.gateways[i]
    return load_provider(gw.brand).decode_poll(gw.model.raw_alldata()).values


def test_influxdb1_every_field_of_a_poll_has_the_tick_timestamp(simulator, collector, influxdb1):
    create_database(influxdb1.url, "hp_e2e")
    sim = simulator(["thermia", "ivt"], frozen=True)
    c = collector({"H66_IP": ",".join(addr(u) for u in sim.urls), "COLLECTION_INTERVAL": "1",
                   "HEATPUMP_BRAND": "auto", "INFLUXDB_URL": influxdb1.url, "INFLUXDB_DATABASE": "hp_e2e"})
    c.wait_for("Stored ", count=6)
    assert c.terminate()[0] == 0
    assert f"Storing to InfluxDB 1.x at {influxdb1.url} (database hp_e2e)" in c.log

    rows = influx1_rows(influx1_query(influxdb1.url, "hp_e2e", "SELECT * FROM heatpump GROUP BY *"))
    assert len(rows) >= 6
    for i, url in enumerate(sim.urls):
        mine = [r for r in rows if r["gateway"] == addr(url)]
        assert mine, addr(url)
        want = expected_values(sim, i)
        for r in mine:
            assert r["time"] % 1000 == 0 and r["source"] == "api" and r["brand"] == sim.gateways[i].brand
            got = {k: v for k, v in r.items() if k in want}
            assert got == pytest.approx(want)  # every field in the one row => one timestamp
            assert all(r.get(k) is None for k in r if k not in want and k not in
                       ("time", "gateway", "brand", "source", "_measurement"))
    # both gateways polled on the same ticks
    ticks = defaultdict(set)
    for r in rows:
        ticks[r["gateway"]].add(r["time"])
    a, b = ticks.values()
    assert len(a & b) >= min(len(a), len(b)) - 1
    types = influx1_rows(influx1_query(influxdb1.url, "hp_e2e", "SHOW FIELD KEYS FROM heatpump"))
    assert {t["fieldType"] for t in types} == {"float"}


def test_influxdb1_down_then_back_loses_nothing(simulator, collector, tmp_path):
    db = start_influxdb1(tmp_path / "down")
    try:
        create_database(db.url, "hp")
        db.stop()
        sim = simulator(["nibe"], frozen=True)
        c = collector({"H66_IP": addr(sim.urls[0]), "COLLECTION_INTERVAL": "1", "HEATPUMP_BRAND": "nibe",
                       "INFLUXDB_URL": db.url, "INFLUXDB_DATABASE": "hp"})
        c.wait_for(r"Failed to write to InfluxDB 1.x .*unreachable.*connection refused; keeping 1 poll")
        time.sleep(3)  # ~3 more ticks while the database is down
        db.start()
        c.wait_for("works again")
        c.wait_for("Stored ", count=6)
        rc, _ = c.terminate()
        assert rc == 0
        log = c.log
        # one error line for the outage, not one per tick
        assert log.count("Failed to write to") == 1
        stored_ticks = sorted(int(t) for t in (r["time"] for r in influx1_rows(
            influx1_query(db.url, "hp", "SELECT outdoor_temp FROM heatpump"))))
        first, last = stored_ticks[0], stored_ticks[-1]
        assert stored_ticks == list(range(first, last + 1, 1000)), "a tick is missing"
        assert len(stored_ticks) >= 6
    finally:
        db.stop()


def test_influxdb1_wrong_password_named_and_never_logged(simulator, collector, tmp_path):
    db = start_influxdb1(tmp_path / "auth", auth=True)
    try:
        sim = simulator(["thermia"], frozen=True)
        password = "Wr0ng-pa55word-xyz"
        c = collector({"H66_IP": addr(sim.urls[0]), "COLLECTION_INTERVAL": "1", "INFLUXDB_URL": db.url,
                       "INFLUXDB_DATABASE": "hp", "INFLUXDB_USERNAME": "admin", "INFLUXDB_PASSWORD": password})
        c.wait_for("rejected the username/password")
        c.wait_for("Failed to write to")
        assert c.terminate()[0] == 0
        assert password not in c.log
        assert "polls wait in the spool" in c.log
    finally:
        db.stop()


def test_missing_database_named(simulator, collector, influxdb1):
    sim = simulator(["thermia"], frozen=True)
    c = collector({"H66_IP": addr(sim.urls[0]), "COLLECTION_INTERVAL": "1", "INFLUXDB_URL": influxdb1.url,
                   "INFLUXDB_DATABASE": "no_such_db"})
    c.wait_for(r"Failed to write to .*database 'no_such_db' not found")
    assert c.terminate()[0] == 0


def test_missing_database_not_ready_with_the_fix_then_created_and_the_waiting_polls_written(
        simulator, collector, influxdb1):
    sim = simulator(["thermia"], frozen=True)
    port = free_port()
    c = collector({"H66_IP": addr(sim.urls[0]), "COLLECTION_INTERVAL": "1", "INFLUXDB_URL": influxdb1.url,
                   "INFLUXDB_DATABASE": "created_later", "METRICS_PORT": str(port)})
    fix = """create it: influx -execute 'CREATE DATABASE "created_later"'"""
    c.wait_for("Failed to write to .*" + re.escape(fix))
    readyz = f"http://127.0.0.1:{port}/readyz"
    not_ready = wait_status(readyz, 503, lambda doc: doc["spool_entries"] >= 3)
    assert not_ready["ready"] is False
    assert not_ready["cause"].startswith(f"sink InfluxDB 1.x at {influxdb1.url} (database created_later) failing: "
                                         f"database 'created_later' not found (HTTP 404): {fix}")
    # one line for the outage, not one a tick (the reminder comes after a minute)
    assert len(re.findall("(Failed|Still failing) to write to", c.log)) == 1

    create_database(influxdb1.url, "created_later")
    ready = wait_status(readyz, 200, lambda doc: doc["spool_entries"] == 0)
    assert ready["ready"] is True
    c.wait_for("Writing to .* works again")
    assert c.terminate()[0] == 0
    rows = influx1_rows(influx1_query(influxdb1.url, "created_later", "SELECT * FROM heatpump"))
    stored = {r["time"] for r in rows}
    assert len(stored) >= not_ready["spool_entries"]  # the polls that waited, and the ones after


def wait_status(url: str, status: int, also=lambda doc: True, limit: float = 60.0) -> dict:
    """The JSON of ``url`` once it answers ``status`` and ``also(doc)``; ``limit`` bounds the wait."""
    deadline = time.monotonic() + limit
    last = None
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url, timeout=5, trust_env=False)
            last = (r.status_code, r.text)
            if r.status_code == status and also(r.json()):
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered {status} as expected; last: {last}")


def test_v2_write_to_victoriametrics_read_back_through_export(simulator, collector, victoriametrics):
    sim = simulator(["ivt"], frozen=True)
    c = collector({"H66_IP": addr(sim.urls[0]), "COLLECTION_INTERVAL": "1", "HEATPUMP_BRAND": "ivt",
                   "INFLUXDB_URL": victoriametrics.url, "INFLUXDB_TOKEN": SECRET_TOKEN,
                   "INFLUXDB_ORG": "thermia", "INFLUXDB_BUCKET": "heatpump", "LOG_LEVEL": "DEBUG"})
    c.wait_for("Stored ", count=4)
    rc, _ = c.terminate(signal.SIGINT)
    assert rc == 0
    assert SECRET_TOKEN not in c.log
    assert f"Storing to InfluxDB v2 at {victoriametrics.url} (org thermia, bucket heatpump)" in c.log

    series = [s for s in vm_export(victoriametrics.url) if s["metric"].get("gateway") == addr(sim.urls[0])]
    want = expected_values(sim, 0)
    assert {s["metric"]["__name__"] for s in series} == {f"heatpump_{k}" for k in want}
    stamps = {tuple(s["timestamps"]) for s in series}
    assert len(stamps) == 1  # every field: the identical timestamps
    (ts,) = stamps
    assert len(ts) >= 4 and all(t % 1000 == 0 for t in ts)
    for s in series:
        name = s["metric"]["__name__"].removeprefix("heatpump_")
        assert s["metric"]["brand"] == "ivt" and s["metric"]["source"] == "api"
        assert s["values"] == pytest.approx([want[name]] * len(ts))
