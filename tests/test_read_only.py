"""Nothing this issue ships writes to a gateway: no code outside the simulator builds an
``/api/set`` request or sends an MQTT ``SET``, and every HTTP route only reads."""

import re
from pathlib import Path

from starlette.routing import Mount, Route

from heatpump_monitor.config import StoreConfig
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


def test_dashboard_routes_only_read(tmp_path):
    app = create_app(StoreConfig(kind="embedded", path=str(tmp_path / "s.sqlite3")))
    operations = {(path, method) for path, item in app.openapi()["paths"].items() for method in item}
    assert {p for p, _ in operations} == {"/api/v1/gateways", "/api/v1/latest", "/api/v1/series",
                                          "/api/v1/summary", "/api/v1/events"}
    assert {m for _, m in operations} == {"get"}
    pages = routes(app)
    assert {"/", "/charts", "/daily", "/healthz", "/readyz"} <= {p for p, _ in pages}
    for path, methods in pages:
        assert methods <= {"GET", "HEAD"}, (path, methods)


def test_collector_health_routes_only_read():
    app = create_health_app(Health.__new__(Health), None)  # routes only; never called here
    found = routes(app)
    assert {p for p, _ in found} == {"/healthz", "/readyz", "/metrics"}
    for path, methods in found:
        assert methods <= {"GET", "HEAD"}, (path, methods)
