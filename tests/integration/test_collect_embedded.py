"""The ``collect`` process end to end: simulated gateways over HTTP -> decode -> embedded store.
Every fault switch, every message of the spec, SIGTERM."""

from __future__ import annotations

import signal
import sqlite3
import time

import pytest

from heatpump_monitor.providers import BadValue, decode_value, default_register, load_provider
from heatpump_monitor.stores.embedded import EmbeddedReader

from ..servers import free_port
from .conftest import addr, set_fault

pytestmark = pytest.mark.realserver


def rows(path):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT gateway, ts_ms, brand, data FROM snapshots ORDER BY ts_ms, gateway").fetchall()


def test_two_gateways_aligned_on_the_grid_then_sigterm(simulator, collector, tmp_path):
    sim = simulator(["thermia", "nibe"], frozen=True)
    store = tmp_path / "hp.sqlite3"
    c = collector({"H66_IP": ",".join(addr(u) for u in sim.urls), "COLLECTION_INTERVAL": "1",
                   "HEATPUMP_BRAND": "auto", "STORE_PATH": str(store)})
    c.wait_for(r"Stored \d+ metrics with timestamp", count=6)
    rc, _ = c.terminate(signal.SIGTERM)
    assert rc == 0, c.log
    log = c.log
    assert f"Storing to embedded store at {store}" in log
    assert "detected brand thermia from H1ver=60" in log and "detected brand nibe from H1ver=40" in log

    reader = EmbeddedReader(store)
    by_gateway = {g.gateway: g for g in reader.gateways()}
    assert set(by_gateway) == {addr(u) for u in sim.urls}
    ticks = {}
    for gw, info in by_gateway.items():
        snaps = list(reader.snapshots(gw, 0, 2**62))
        ticks[gw] = [s.time_ms for s in snaps]
        assert all(t % 1000 == 0 for t in ticks[gw])  # on the 1 s grid, to the millisecond
        # correctly decoded: exactly the provider's decoding of what the (frozen) gateway serves
        model = next(g for g in sim.gateways if addr(sim.urls[sim.gateways.index(g)]) == gw).model
        expected = load_provider(info.brand).decode_poll(model.raw_alldata()).values
        for s in snaps:
            assert s.values == expected
    a, b = ticks.values()
    assert set(a) & set(b) and len(set(a) & set(b)) >= min(len(a), len(b)) - 1  # same ticks for both
    stored_lines = [l for l in log.splitlines() if "Stored " in l]
    assert len(stored_lines) == len(rows(store))
    assert "Received SIGTERM: finishing the write in progress and stopping" in log


def test_every_fault_switch_gives_its_message_and_stores_nothing_bogus(simulator, collector, tmp_path):
    sim = simulator(["ivt"], frozen=True)
    url = sim.urls[0]
    store = tmp_path / "hp.sqlite3"
    c = collector({"H66_IP": addr(url), "COLLECTION_INTERVAL": "1", "HEATPUMP_BRAND": "ivt",
                   "STORE_PATH": str(store)})
    c.wait_for("Stored ")
    cases = [
        ("http500", r"Failed to fetch data from API: HTTP 500 Internal Server Error from http://\S+/api/alldata"),
        ("html", r"Failed to fetch data from API: response is not valid JSON \(text/html: '<html>"),
        ("invalid_json", r"Failed to fetch data from API: response is not valid JSON \(application/json"),
        ("not_object", r"Failed to fetch data from API: JSON is list, expected an object"),
        ("empty", r"No data received from API"),
        ("strings", r"Dropped value of register 0001 from \S+: '\d+' is invalid \(not an integer \(str\)\)"),
        ("strings", r"Failed to fetch data from API: answer had no valid register values"),
        ("timeout", r"Failed to fetch data from API: no answer from \S+ within 0.8 s \(timeout\)"),
    ]
    for fault, pattern in cases:
        set_fault(url, fault)
        c.wait_for(pattern)
    n_before = len(rows(store))
    set_fault(url, None, latency=0.3)  # slow but fine: still stored, timestamp still the tick
    c.wait_for("Gateway .* answers again")
    c.wait_for("Stored ", count=3)
    rc, _ = c.terminate()
    assert rc == 0
    stored = rows(store)
    assert len(stored) > n_before
    expected = load_provider("ivt").decode_poll(sim.gateways[0].model.raw_alldata()).values
    import json
    assert all(json.loads(data) == expected for _, _, _, data in stored)  # nothing bogus ever stored
    assert all(ts % 1000 == 0 for _, ts, _, _ in stored)
    assert "Traceback" not in c.log


def test_unreachable_gateway_keeps_running(collector, tmp_path):
    port = free_port()
    c = collector({"H66_IP": f"127.0.0.1:{port}", "COLLECTION_INTERVAL": "1", "STORE_PATH": str(tmp_path / "s")})
    lines = c.wait_for("Failed to fetch data from API")
    assert f"cannot connect to http://127.0.0.1:{port}/api/alldata: connection refused" in lines[0]
    time.sleep(3.5)  # three more ticks fail the same way: no new line (one per outage)
    rc, _ = c.terminate(signal.SIGINT)
    assert rc == 0
    assert c.log.count("Failed to fetch data from API") == 1
    assert "0 poll(s) ok, " in c.log and " failed" in c.log
    failed = int(c.log.split(" poll(s) ok, ")[1].split(" failed")[0])
    assert failed >= 4


def test_sigterm_while_gateway_hangs_abandons_the_poll(simulator, collector, tmp_path):
    """The shutdown does not wait for a poll in flight (its HTTP timeout here is 10 s)."""
    sim = simulator(["thermia"], fault="timeout")
    c = collector({"H66_IP": addr(sim.urls[0]), "COLLECTION_INTERVAL": "30", "STORE_PATH": str(tmp_path / "s")})
    c.wait_for("First poll at")
    deadline = time.monotonic() + 40
    while sim.gateways[0].requests == 0 and time.monotonic() < deadline:  # the first tick's poll
        time.sleep(0.05)
    assert sim.gateways[0].requests == 1
    rc, _ = c.terminate()
    assert rc == 0, c.log
    after = c.log.split("Received SIGTERM")[1]
    assert "Stopped: 1 tick(s), 0 poll(s) ok" in after
    assert "(timeout)" not in c.log  # abandoned, not waited for


def test_unknown_registers_logged_once_and_stored_by_their_type_on_request(simulator, collector, tmp_path):
    # an nibe gateway read as thermia: registers thermia does not know are "unknown"
    sim = simulator(["nibe"], frozen=True)
    store = tmp_path / "s.sqlite3"
    c = collector({"H66_IP": addr(sim.urls[0]), "COLLECTION_INTERVAL": "1", "HEATPUMP_BRAND": "thermia",
                   "STORE_UNKNOWN_REGISTERS": "true", "STORE_PATH": str(store)})
    c.wait_for("Stored ", count=3)
    c.terminate()
    unknown = [l for l in c.log.splitlines() if "Unknown register" in l]
    assert len(unknown) == 1  # one line for the first poll's new ones; none again in this run
    listed = unknown[0].split(": ", 1)[1].split(" (brand")[0].split(" and ")[0]
    indices = listed.split(", ")
    assert 5 <= len(indices) <= 10 and len(indices) == len(set(indices))
    data = EmbeddedReader(store).latest(addr(sim.urls[0])).values
    raw = sim.gateways[0].model.raw_alldata()
    stored = 0
    for idx in indices:  # decoded by the index's H1 type, like decode --explain shows
        try:
            expected = decode_value(default_register(idx), raw[idx])
        except BadValue:  # e.g. NIBE's 32758 "no sensor": no such marker without the NIBE data
            assert f"reg_{idx}" not in data
            continue
        assert data[f"reg_{idx}"] == expected
        stored += 1
    assert stored >= 5


@pytest.mark.parametrize("env,message", [
    ({}, "H66_IP environment variable must be set"),
    ({"H66_IP": "h66", "COLLECTION_INTERVAL": "abc"},
     "Invalid COLLECTION_INTERVAL='abc': expected a whole number of seconds from 1 to 86400"),
    ({"H66_IP": "h66", "COLLECTION_INTERVAL": "-5"},
     "Invalid COLLECTION_INTERVAL='-5': expected a whole number of seconds from 1 to 86400"),
    ({"H66_IP": "h66", "HEATPUMP_BRAND": "daikin"},
     "Invalid HEATPUMP_BRAND='daikin': expected one of thermia, ivt, nibe, auto"),
    ({"H66_IP": "h66", "INFLUXDB_URL": "http://localhost:8086"}, "INFLUXDB_TOKEN environment variable must be set"),
])
def test_configuration_errors_exit_1_with_one_clear_line(collector, env, message):
    c = collector(env)
    assert c.proc.wait(20) == 1
    lines = [l for l in c.log.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].endswith(message), c.log


def test_console_command_runs_the_same_collector(simulator, collector, tmp_path):
    import shutil
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "heatpump-monitor"
    assert exe.exists() or shutil.which("heatpump-monitor")
    sim = simulator(["thermia"])
    c = collector({"H66_IP": addr(sim.urls[0]), "COLLECTION_INTERVAL": "1", "STORE_PATH": str(tmp_path / "s")},
                  argv=[str(exe), "collect", "--source", "api"])
    c.wait_for("Stored ")
    assert c.terminate()[0] == 0
