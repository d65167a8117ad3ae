"""Issue 10's attacks on the collector that were process-level failures, replayed against the
real ``collect`` process: a hostile gateway, the store deleted under it, a store that echoes
credentials, a stop in the middle of a tick. Each test failed on the code before the fix."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from heatpump_monitor.stores.embedded import EmbeddedReader

from ..servers import free_port
from .conftest import addr, set_fault, sim_env

pytestmark = pytest.mark.realserver


def stored_ticks(store, gateway: str) -> list[int]:
    with sqlite3.connect(store) as db:
        return [t for (t,) in db.execute("SELECT ts_ms FROM snapshots WHERE gateway = ? ORDER BY ts_ms", (gateway,))]


@pytest.mark.attack("1")
def test_a_gateway_answering_deeply_nested_json_does_not_stop_the_collector(simulator, collector, tmp_path):
    """Before: json.loads raised RecursionError, the collector exited 1 and the healthy
    gateway's poll of that tick was lost, on every tick under a restart policy."""
    sim = simulator(["thermia", "ivt"], frozen=True)
    set_fault(sim.urls[0], "deep_json")
    store = tmp_path / "s.sqlite3"
    c = collector({"H66_IP": ",".join(addr(u) for u in sim.urls), "COLLECTION_INTERVAL": "1",
                   "HEATPUMP_BRAND": "auto", "STORE_PATH": str(store)})
    c.wait_for(r"Failed to fetch data from API: response is not valid JSON \(nested too deeply\)")
    c.wait_for(f"from {addr(sim.urls[1])}", count=3)
    rc, _ = c.terminate()
    assert rc == 0  # still running until asked to stop
    failed = int(c.log.split(" poll(s) ok, ")[1].split(" failed")[0])
    assert failed >= 3 and c.log.count("nested too deeply") == 1  # every tick failed, said once
    assert "Traceback" not in c.log and "RecursionError" not in c.log
    healthy = stored_ticks(store, addr(sim.urls[1]))
    assert len(healthy) >= 3 and healthy == list(range(healthy[0], healthy[-1] + 1, 1000))
    assert stored_ticks(store, addr(sim.urls[0])) == []


@pytest.mark.attack("10")
def test_an_answer_with_every_register_gives_a_few_lines_and_a_bounded_row(simulator, collector, tmp_path):
    sim = simulator(["nibe"], frozen=True)
    set_fault(sim.urls[0], "all_registers")
    store = tmp_path / "s.sqlite3"
    c = collector(sim_env(sim, STORE_PATH=str(store), STORE_UNKNOWN_REGISTERS="true"))
    c.wait_for("Stored ", count=3)
    assert c.terminate()[0] == 0
    assert len(c.log.splitlines()) < 60  # before: 65,536 "Unknown register" lines from one poll
    with sqlite3.connect(store) as db:
        biggest = db.execute("SELECT max(length(data)) FROM snapshots").fetchone()[0]
    assert biggest < 16_000  # before: about 1 MB per row


@pytest.mark.attack("3")
def test_store_deleted_while_collecting_is_recreated_and_nothing_after_is_lost(simulator, collector, tmp_path):
    """Before: the log kept saying "Stored 36 metrics" while every write went into the deleted
    file: silent loss."""
    sim = simulator(["thermia"], frozen=True)
    store = tmp_path / "store" / "s.sqlite3"
    c = collector(sim_env(sim, STORE_PATH=str(store)))
    c.wait_for("Stored ", count=2)
    deleted_at = time.time()
    for f in store.parent.iterdir():
        f.unlink()
    c.wait_for("was deleted or replaced while the collector had it open")
    c.wait_for("works again", timeout=20)
    c.wait_for("Stored ", count=c.log.count("Stored ") + 2)
    assert c.terminate()[0] == 0
    expected = sorted({int(t) * 1000 for t in sim.gateways[0].answered if t > deleted_at + 1})
    stored = stored_ticks(store, addr(sim.urls[0]))
    assert expected and set(expected) <= set(stored), f"lost: {sorted(set(expected) - set(stored))}"


class EchoingInflux(BaseHTTPRequestHandler):
    """An "InfluxDB 1.x" that accepts the start-up checks and refuses every real write with a
    400 whose body echoes the request's headers, Authorization included (as some proxies and
    error pages do)."""

    def _send(self, code: int, body: bytes = b"") -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # /ping, /query
        if self.path.startswith("/ping"):
            self._send(204)
        else:
            self._send(200, json.dumps({"results": [{"series": [{"name": "databases", "columns": ["name"],
                                                                 "values": [["hp"]]}]}]}).encode())

    def do_POST(self) -> None:  # /write
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if not body:
            self._send(204)  # the start-up check writes nothing
            return
        echo = f'{{"error":"bad request; request was: Authorization: {self.headers.get("Authorization")}"}}'
        self._send(400, echo.encode())

    def log_message(self, *args) -> None:
        pass


def _refused(tmp_path) -> int:
    try:
        with sqlite3.connect(tmp_path / "data" / "spool-api.sqlite3") as db:
            return db.execute("SELECT count(*) FROM rejected").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.attack("6")
def test_credentials_echoed_by_the_store_reach_no_output(simulator, collector, tmp_path):
    """Before: the base64 of user:password from an echoed Authorization header landed verbatim
    in the log, the spool's rejected table and /readyz."""
    user, password = "hp-writer", "pw-Secret-9431"
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingInflux)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sim = simulator(["ivt"], frozen=True)
        port = free_port()
        c = collector(sim_env(sim, INFLUXDB_URL=f"http://127.0.0.1:{server.server_address[1]}",
                              INFLUXDB_DATABASE="hp", INFLUXDB_USERNAME=user, INFLUXDB_PASSWORD=password,
                              METRICS_PORT=str(port), LOG_LEVEL="DEBUG"))
        c.wait_for("refused the poll")  # said once per cause
        deadline = time.monotonic() + 15
        while c.log.count("Stored ") + 0 == 0 and time.monotonic() < deadline and _refused(tmp_path) < 3:
            time.sleep(0.2)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5, trust_env=False).text
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5, trust_env=False).text
        assert c.terminate()[0] == 0
    finally:
        server.shutdown()
    with sqlite3.connect(tmp_path / "data" / "spool-api.sqlite3") as db:
        causes = [cause for (cause,) in db.execute("SELECT cause FROM rejected")]
    assert len(causes) >= 3 and all("Authorization: Basic ***" in x for x in causes)
    for where, text in (("log", c.log), ("spool", "\n".join(causes)), ("/readyz", ready), ("/metrics", metrics)):
        for secret in (password, encoded, encoded.rstrip("=")):
            assert secret not in text, f"{secret!r} in {where}"


@pytest.mark.attack("9")
def test_stop_in_the_middle_of_a_tick_keeps_the_polls_that_succeeded(simulator, collector, tmp_path):
    """Before: "14 poll(s) ok ... 12 poll(s) stored": SIGTERM while one gateway of a tick was
    still slow dropped the snapshots of the others, which had already answered."""
    sim = simulator(["thermia", "nibe"], frozen=True)
    store = tmp_path / "s.sqlite3"
    c = collector({"H66_IP": ",".join(addr(u) for u in sim.urls), "COLLECTION_INTERVAL": "10",
                   "HEATPUMP_BRAND": "auto", "STORE_PATH": str(store)})
    c.wait_for("Stored ", count=2)  # a first full tick: both brands detected and stored
    set_fault(sim.urls[1], None, latency=7.0)  # the nibe gateway now answers in 7 s (timeout 8 s)
    answered = len(sim.gateways[0].answered)
    deadline = time.monotonic() + 30
    while len(sim.gateways[0].answered) == answered and time.monotonic() < deadline:
        time.sleep(0.05)  # the next tick: the thermia gateway has answered, nibe is still slow
    tick_ms = int(sim.gateways[0].answered[-1]) * 1000 // 10_000 * 10_000
    time.sleep(0.3)
    rc, _ = c.terminate()
    assert rc == 0
    assert tick_ms in stored_ticks(store, addr(sim.urls[0])), c.log
    summary = [line for line in c.log.splitlines() if "Stopped:" in line][0]
    ok = int(summary.split(" poll(s) ok")[0].rsplit(" ", 1)[1])
    stored = int(summary.split(" poll(s) stored")[0].rsplit(" ", 1)[1])
    assert ok == stored, summary
    assert EmbeddedReader(store).latest(addr(sim.urls[0])).time_ms == tick_ms
