"""Operational health of real processes (collector /healthz, /readyz, /metrics, the Docker
``healthcheck`` command, JSON logs) and an end-to-end hunt for secrets in every output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from ..servers import free_port, influx1_query, start_influxdb1
from .conftest import create_database, set_fault, sim_env

pytestmark = pytest.mark.realserver

CLI = [sys.executable, "-m", "heatpump_monitor"]


def healthcheck(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("METRICS_", "HEARTBEAT_"))}
    return subprocess.run(CLI + ["healthcheck", *args], env={**clean, **env}, capture_output=True,
                          text=True, timeout=30)


def get(url: str, **kw) -> httpx.Response:
    return httpx.get(url, timeout=10, trust_env=False, **kw)


def wait_status(url: str, status: int, timeout: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = get(url)
            if last.status_code == status:
                return last
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered {status}; last: {last and (last.status_code, last.text)}")


def test_collector_health_endpoints_docker_healthcheck_and_json_logs(simulator, collector, tmp_path):
    db = start_influxdb1(tmp_path / "influx")
    try:
        create_database(db.url, "hp")
        sim = simulator(["nibe"], frozen=True)
        port = free_port()
        c = collector(sim_env(sim, INFLUXDB_URL=db.url, INFLUXDB_DATABASE="hp", METRICS_PORT=str(port),
                              LOG_FORMAT="json"))
        base = f"http://127.0.0.1:{port}"
        ready = wait_status(base + "/readyz", 200).json()
        assert ready["ready"] is True and ready["sink"] == f"InfluxDB 1.x at {db.url} (database hp)"
        assert get(base + "/healthz").json()["live"] is True
        ok = healthcheck(METRICS_PORT=str(port))
        assert ok.returncode == 0 and ok.stdout.startswith("healthy:"), ok.stderr

        # the sink goes away: not ready, with the cause; still live
        db.stop()
        not_ready = wait_status(base + "/readyz", 503).json()
        assert "connection refused" in not_ready["cause"] and not_ready["ready"] is False
        assert get(base + "/healthz").status_code == 200
        bad = healthcheck(METRICS_PORT=str(port))
        assert bad.returncode == 1 and "unhealthy: HTTP 503" in bad.stderr and "connection refused" in bad.stderr
        assert healthcheck("--live", METRICS_PORT=str(port)).returncode == 0
        db.start()
        wait_status(base + "/readyz", 200)

        # a gateway fault shows in the poll metrics by cause
        set_fault(sim.urls[0], "html")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and 'result="invalid_json"' not in get(base + "/metrics").text:
            time.sleep(0.2)
        set_fault(sim.urls[0], None)
        assert 'heatpump_polls_total{result="invalid_json"}' in get(base + "/metrics").text
        assert c.terminate()[0] == 0
    finally:
        db.stop()

    # every line is one JSON object with time, level, logger and message
    docs = [json.loads(line) for line in c.log.splitlines() if line.strip()]
    assert docs and all({"time", "level", "logger", "message"} <= d.keys() for d in docs)
    assert any(d["level"] == "ERROR" and "Failed to write to" in d["message"] for d in docs)
    assert any("response is not valid JSON (text/html" in d["message"] for d in docs)
    assert all(d["time"].endswith("Z") for d in docs)


def test_healthcheck_without_a_server_is_unhealthy_with_the_reason():
    r = healthcheck(METRICS_PORT=str(free_port()))
    assert r.returncode == 1 and "does not answer" in r.stderr
    r = healthcheck("--url", f"http://127.0.0.1:{free_port()}/readyz")
    assert r.returncode == 1 and "does not answer" in r.stderr


def test_metrics_port_taken_is_one_error_and_collection_goes_on(simulator, collector, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sim = simulator(["thermia"], frozen=True)
        c = collector(sim_env(sim, METRICS_PORT=str(port), STORE_PATH=str(tmp_path / "s.sqlite3")))
        c.wait_for(f"Cannot serve /metrics, /healthz, /readyz on 127.0.0.1:{port} .*collecting without them")
        c.wait_for("Stored ", count=2)
        assert c.terminate()[0] == 0


# ---------------------------------------------------------------- secrets

TOKEN = "tok-Secret-7Hq2xW9pLm"
DB_PASSWORD = "pw-Secret-3Vb8nKd1Zr"
DASH_PASSWORD = "dash-Secret-5Yt6uIo0Pa"
MQTT_PASSWORD = "mqtt-Secret-2Ws4eDc7Rf"
SECRETS = (TOKEN, DB_PASSWORD, DASH_PASSWORD, MQTT_PASSWORD)


def test_no_secret_in_any_output_of_a_run(simulator, collector, tmp_path):
    """Collectors at DEBUG (text and JSON logs) with a wrong InfluxDB password, a v2 token and
    an MQTT password, and the dashboard with basic auth over an InfluxDB that rejects it: every
    log line, every HTTP answer (API, errors, metrics, health) and `verify` output is searched
    for each secret."""
    db = start_influxdb1(tmp_path / "influx", auth=True)
    outputs: list[str] = []
    try:
        user, good_pw = db.credentials
        influx1_query(db.url, "", 'CREATE DATABASE "hp"', auth=(user, good_pw))
        sim = simulator(["ivt"], frozen=True)
        mport, dport = free_port(), free_port()
        common = sim_env(sim, LOG_LEVEL="DEBUG", MQTT_PASSWORD=MQTT_PASSWORD, DASHBOARD_PASSWORD=DASH_PASSWORD)
        wrong = collector({**common, "INFLUXDB_URL": db.url, "INFLUXDB_DATABASE": "hp", "INFLUXDB_USERNAME": user,
                           "INFLUXDB_PASSWORD": DB_PASSWORD, "METRICS_PORT": str(mport)}, name="wrong-pw")
        v2 = collector({**common, "INFLUXDB_URL": db.url, "INFLUXDB_TOKEN": TOKEN, "LOG_FORMAT": "json"},
                       name="v2-token")
        dash = collector({"INFLUXDB_URL": db.url, "INFLUXDB_DATABASE": "hp", "INFLUXDB_USERNAME": user,
                          "INFLUXDB_PASSWORD": DB_PASSWORD, "DASHBOARD_USERNAME": "admin",
                          "DASHBOARD_PASSWORD": DASH_PASSWORD, "DASHBOARD_PORT": str(dport)},
                         name="dashboard", argv=CLI + ["serve"])
        wrong.wait_for("rejected the username/password", timeout=30)
        v2.wait_for("Failed to write to", timeout=30)
        base = f"http://127.0.0.1:{dport}"
        wait_status(base + "/healthz", 200)
        auth = ("admin", DASH_PASSWORD)
        for path in ("/", "/charts", "/api/v1/gateways", "/api/v1/latest", "/api/v1/series?range=24h",
                     "/api/v1/series?range=nonsense", "/api/v1/latest?gateway=nope", "/openapi.json",
                     "/readyz", "/healthz", "/no-such-page"):
            for a in (auth, None, ("admin", "wrong")):
                r = get(base + path, auth=a)
                outputs.append(f"{path} {r.status_code} {r.headers} {r.text}")
        for path in ("/metrics", "/readyz", "/healthz"):
            r = get(f"http://127.0.0.1:{mport}{path}")
            outputs.append(f"{path} {r.status_code} {r.headers} {r.text}")
        verify = subprocess.run(CLI + ["verify", "--since", "1h"], capture_output=True, text=True, timeout=60,
                                env={**os.environ, "INFLUXDB_URL": db.url, "INFLUXDB_DATABASE": "hp",
                                     "INFLUXDB_USERNAME": user, "INFLUXDB_PASSWORD": DB_PASSWORD})
        outputs.append(verify.stdout + verify.stderr)
        for p in (wrong, v2, dash):
            p.terminate()
            outputs.append(p.log)
    finally:
        db.stop()
    everything = "\n".join(outputs)
    assert "401" in everything and "rejected the username/password" in everything  # the run did fail
    assert "Failed to write to InfluxDB v2" in everything
    for secret in SECRETS:
        assert secret not in everything, f"secret {secret[:6]}... leaked"
        assert secret.lower() not in everything.lower()


def test_unusable_data_directory_is_one_clear_line_and_exit_1(collector, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    c = collector({"H66_IP": "127.0.0.1:9", "DATA_DIR": str(blocker)})
    assert c.proc.wait(30) == 1
    errors = [line for line in c.log.splitlines() if "ERROR" in line]
    assert len(errors) == 1
    assert f"cannot open spool {blocker}/spool-api.sqlite3" in errors[0] and "SPOOL_MAX_MB=0" in errors[0]
