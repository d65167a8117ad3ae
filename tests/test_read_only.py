"""Nothing this issue ships writes to a gateway: no code outside the simulator builds an
``/api/set`` request or sends an MQTT ``SET``, and every HTTP route only reads (but the dashboard's
test message, which sends one and writes nothing): the dashboard never writes the alert state
files of the collectors, not even while they write them."""

import re
from pathlib import Path
from zoneinfo import ZoneInfo

from starlette.routing import Mount, Route

from heatpump_monitor.alerts import AlertSettings
from heatpump_monitor.config import AlertsConfig, StoreConfig
from heatpump_monitor.health.server import Health, create_health_app
from heatpump_monitor.web.app import create_app

SRC = Path(__file__).resolve().parents[1] / "src" / "heatpump_monitor"


def test_no_gateway_write_outside_the_simulator():
    offenders = []
    for path in SRC.rglob("*.py"):
        if "simulator" in path.parts:
            continue
        text = path.read_text()
        if re.search(r"api/set|/HP/SET|b\"SET\"|'SET'", text):
            offenders.append(str(path.relative_to(SRC)))
    assert offenders == []


def routes(app, prefix=""):
    out = []
    for r in app.routes:
        if isinstance(r, Route):
            out.append((prefix + r.path, set(r.methods or ())))
        elif isinstance(r, Mount):
            out += routes(r, prefix + r.path)
    return out


#: the one route that acts: it sends a test message (writing nothing; tests/web/test_alerts_api.py
#: checks that the alert state files stay byte for byte what the collectors wrote)
ACTIONS = {("/api/v1/alerts/test", "post")}


def test_dashboard_routes_only_read(tmp_path):
    alerts = AlertsConfig(urls=(), settings=AlertSettings(), directory=str(tmp_path), language="en", tz=ZoneInfo("UTC"))
    app = create_app(StoreConfig(kind="embedded", path=str(tmp_path / "s.sqlite3")), alerts=alerts)
    operations = {(path, method) for path, item in app.openapi()["paths"].items() for method in item}
    assert {p for p, _ in operations} == {"/api/v1/gateways", "/api/v1/latest", "/api/v1/series",
                                          "/api/v1/summary", "/api/v1/events", "/api/v1/alerts",
                                          "/api/v1/alerts/history", "/api/v1/alerts/rules", "/api/v1/alerts/test",
                                          "/api/v1/heatcurve", "/api/v1/signature"}
    assert {m for op in operations - ACTIONS for m in op[1:]} == {"get"}
    pages = routes(app)
    assert {"/", "/charts", "/daily", "/alerts", "/healthz", "/readyz"} <= {p for p, _ in pages}
    for path, methods in pages:
        if (path, "post") in ACTIONS:
            assert methods == {"POST"}, (path, methods)
            continue
        assert methods <= {"GET", "HEAD"}, (path, methods)


def test_dashboard_reads_the_alert_state_without_writing_it(tmp_path):
    from fastapi.testclient import TestClient

    from heatpump_monitor.alerts import AlertStore, Notice, alerts_path
    from tests.web.test_alerts_api import digest, write_state

    d = str(tmp_path / "alerts")
    write_state(d)  # two collectors' files, closed
    live = AlertStore(alerts_path(d, "watch"))  # and one whose writer is running (its -wal open)
    live.apply([Notice("gw", "gateway_silent", "fired", 1, 2, 11.0, 10.0, "")])
    before = digest(d)
    assert "alerts-watch.sqlite3-wal" in before
    alerts = AlertsConfig(urls=(), settings=AlertSettings(), directory=d, language="en", tz=ZoneInfo("UTC"))
    app = create_app(StoreConfig(kind="embedded", path=str(tmp_path / "s.sqlite3")), alerts=alerts)
    with TestClient(app) as c:
        for path in ("/", "/alerts", "/api/v1/alerts", "/api/v1/alerts/history", "/api/v1/alerts/rules",
                     "/api/v1/alerts/history?format=csv&gateway=gw"):
            assert c.get(path).status_code == 200, path
        assert {a["owner"] for a in c.get("/api/v1/alerts").json()["alerts"]} == {"api", "mqtt", "watch"}
    # every file byte for byte (the running writer's -shm is shared memory: readers mark it)
    assert {k: v for k, v in digest(d).items() if not k.endswith("-shm")} == \
        {k: v for k, v in before.items() if not k.endswith("-shm")}
    live.close()


def test_collector_health_routes_only_read():
    app = create_health_app(Health.__new__(Health), None)  # routes only; never called here
    found = routes(app)
    assert {p for p, _ in found} == {"/healthz", "/readyz", "/metrics"}
    for path, methods in found:
        assert methods <= {"GET", "HEAD"}, (path, methods)
