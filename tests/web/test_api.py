"""The dashboard's JSON API (and what it serves besides), on the embedded store and on a real
InfluxDB 1.x: known snapshots of three gateways of three brands with a known one-hour gap,
alarm, spikes; every bad parameter answered 400 with a message, unknown gateways 404, a store
that cannot be read 503 with its cause; never a 500, never a secret in an answer."""

from __future__ import annotations

import asyncio
import base64
import gzip
import itertools
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from contextlib import contextmanager
from typing import Iterator

import httpx
import pytest
from pydantic import SecretStr

from heatpump_monitor.config import StoreConfig
from heatpump_monitor.model import Snapshot, iso_ms
from heatpump_monitor.providers import load_provider
from heatpump_monitor.stores.embedded import EmbeddedSink
from heatpump_monitor.stores.influx.v1 import InfluxV1Sink
from heatpump_monitor.web import DashboardThread
from tests.servers import free_port, influx1_query

T0 = 1764324000000  # 2025-11-28T10:00:00Z, on the 30 s and 10 min grids
STEP = 30_000
N = 720  # six hours of thermia snapshots...
GAP = range(240, 360)  # ...without hour 2..3 (12:00 to 13:00): a real outage
GAP_START, GAP_END = T0 + GAP.start * STEP, T0 + GAP.stop * STEP
LAST = T0 + (N - 1) * STEP
NOW = LAST + 12_000  # the app's clock: the newest snapshot is 12 s old
ALARM_FROM = 80  # the IVT gateway alarms from its 80th snapshot on
SPIKE_HI, SPIKE_LO = (100, 25.5), (500, -30.5)

TH, IV, NI = "gw-thermia", "10.0.0.7:80", "gw-nibe"
PASSWORD = "Dash-Pw-9931-secret"
INFLUX_PASSWORD = "Influx-Pw-5512-secret"
INFLUX_TOKEN = "Influx-Token-7731-secret"


def thermia_values(i: int) -> dict[str, float]:
    comp = 1.0 if (i // 20) % 2 == 0 else 0.0
    v = {
        "outdoor_temp": round(-5 + (i % 40) * 0.25, 2),
        "indoor_temp": round(21.0 + (i % 10) * 0.1, 2),
        "radiator_forward": 35 + (i % 20) * 0.5,
        "radiator_return": 30 + (i % 20) * 0.25,
        "heating_setpoint": 38.0,
        "brine_in_evaporator": 4.0,
        "brine_out_condenser": 1.0,
        "hot_water_top": round(50 - (i % 60) * 0.1, 2),
        "compressor": comp,
        "brine_pump": comp,
        "radiator_pump": 1.0,
        "switch_valve": 1.0 if i % 100 >= 90 else 0.0,
        "additional_heat": 30.0 if i >= 700 else 0.0,
        "alarm": 0.0,
        "alarm_code": 0.0,
    }
    if i == SPIKE_HI[0]:
        v["outdoor_temp"] = SPIKE_HI[1]
    if i == SPIKE_LO[0]:
        v["outdoor_temp"] = SPIKE_LO[1]
    return v


def snapshots() -> list[Snapshot]:
    out = [Snapshot(TH, "thermia", "api", T0 + i * STEP, thermia_values(i)) for i in range(N) if i not in GAP]
    for i in range(120):
        out.append(Snapshot(IV, "ivt", "api", T0 + i * STEP, {
            "outdoor_temp": 1.5, "radiator_forward": 40.0, "radiator_return": 33.5, "compressor": 1.0,
            "switch_valve": 0.0, "alarm": 1.0 if i >= ALARM_FROM else 0.0,
            # BA91 keeps the number of the last alarm (7) until a new one (3) comes
            "alarm_code": 3.0 if i >= ALARM_FROM else 7.0,
        }))
    for i in range(10):  # the same gateway heard over MQTT too
        out.append(Snapshot(IV, "ivt", "mqtt", T0 + i * STEP + 1000, {"outdoor_temp": 1.4}))
    for i in range(10):
        out.append(Snapshot(NI, "nibe", "api", T0 + i * STEP, {"outdoor_temp": -2.0, "alarm_code": 0.0,
                                                              "radiator_forward": 31.0}))
    return out


@pytest.fixture(scope="module")
def store_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("web") / "store.sqlite3"
    sink = EmbeddedSink(path)
    sink.write_sync(snapshots())
    asyncio.run(sink.close())
    return path


@contextmanager
def dashboard(store, **options) -> Iterator[httpx.Client]:
    """The app on a real uvicorn server on loopback (a thread); a client for it."""
    with DashboardThread(store, **options) as url, httpx.Client(base_url=url, trust_env=False, timeout=30) as c:
        yield c


def embedded(path: Path) -> StoreConfig:
    return StoreConfig(kind="embedded", path=str(path))


@pytest.fixture(scope="module")
def client(store_path) -> Iterator[httpx.Client]:
    with dashboard(embedded(store_path), clock=lambda: NOW / 1000) as c:
        yield c


def err(resp: httpx.Response, status: int) -> str:
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/json")
    msg = resp.json()["error"]
    assert isinstance(msg, str) and len(msg) > 10, msg
    return msg


# -- gateways / latest ----------------------------------------------------------------------


def check_gateways(doc: dict, *, influx: bool = False) -> None:
    gws = {g["gateway"]: g for g in doc["gateways"]}
    assert sorted(gws) == sorted([TH, IV, NI])
    th = gws[TH]
    assert th["brand"] == "thermia" and th["title"] == load_provider("thermia").title
    assert th["sources"] == ["api"]
    assert th["first_ms"] == T0 and th["last_ms"] == LAST
    assert th["first"] == iso_ms(T0) and th["last"] == iso_ms(LAST)
    assert th["snapshots"] == N - len(GAP)
    assert gws[IV]["brand"] == "ivt" and gws[IV]["sources"] == ["api", "mqtt"]
    assert gws[NI]["brand"] == "nibe"


def test_gateways(client):
    resp = client.get("/api/v1/gateways")
    assert resp.status_code == 200
    check_gateways(resp.json())
    assert resp.json()["server_time_ms"] == NOW


def check_latest_thermia(doc: dict) -> None:
    want = thermia_values(N - 1)
    assert doc["gateway"] == TH and doc["brand"] == "thermia" and doc["source"] == "api"
    assert doc["time_ms"] == LAST and doc["time"] == iso_ms(LAST)
    for k, v in want.items():
        assert doc["values"][k] == pytest.approx(v), k
    assert doc["values"]["delta_t_radiator"] == pytest.approx(want["radiator_forward"] - want["radiator_return"])
    assert doc["values"]["delta_t_brine"] == pytest.approx(3.0)
    assert doc["units"]["outdoor_temp"] == "°C" and doc["units"]["additional_heat"] == "%"
    assert doc["units"]["delta_t_radiator"] == "K"
    assert doc["texts"]["switch_valve"] == "heating"
    assert doc["alarm"]["active"] is False and doc["alarm"]["text"] == "no alarm"


def test_latest_values_units_texts_age(client):
    resp = client.get("/api/v1/latest", params={"gateway": TH})
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    check_latest_thermia(doc)
    assert doc["age_s"] == pytest.approx(12.0)
    assert doc["stale"] is False and 60 <= doc["stale_after_s"] <= 300


def test_latest_turns_stale_when_the_collector_stops(store_path):
    later = (LAST + 3600_000) / 1000
    with dashboard(embedded(store_path), clock=lambda: later) as c:
        doc = c.get("/api/v1/latest", params={"gateway": TH}).json()
    assert doc["stale"] is True and doc["age_s"] == pytest.approx(3600.0)
    with dashboard(embedded(store_path), clock=lambda: later, stale_after_s=7200) as c:
        doc = c.get("/api/v1/latest", params={"gateway": TH}).json()
    assert doc["stale"] is False and doc["stale_after_s"] == 7200


def test_latest_alarm_text_and_since(client):
    doc = client.get("/api/v1/latest", params={"gateway": IV, "source": "api"}).json()
    alarm = doc["alarm"]
    ivt = load_provider("ivt")
    assert alarm["active"] is True and alarm["code"] == 3
    assert alarm["text"] == ivt.alarm_text(3) == "hot water sensor GT3"
    assert alarm["since_ms"] == T0 + ALARM_FROM * STEP and alarm["since_exact"] is True
    assert alarm["since"] == iso_ms(T0 + ALARM_FROM * STEP)


def test_latest_alarm_without_status_register_nibe(client):
    doc = client.get("/api/v1/latest", params={"gateway": NI}).json()
    assert doc["alarm"]["active"] is False and doc["alarm"]["field"] == "alarm_code"
    assert "delta_t_radiator" not in doc["values"]  # NIBE has no radiator_return


def test_latest_newest_of_any_source_or_the_one_asked(client):
    assert client.get("/api/v1/latest", params={"gateway": IV}).json()["time_ms"] == T0 + 119 * STEP
    doc = client.get("/api/v1/latest", params={"gateway": IV, "source": "mqtt"}).json()
    assert doc["source"] == "mqtt" and doc["time_ms"] == T0 + 9 * STEP + 1000
    err(client.get("/api/v1/latest", params={"gateway": IV, "source": "modbus"}), 404)


# -- series ---------------------------------------------------------------------------------


def series(c, **params) -> dict:
    resp = c.get("/api/v1/series", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def check_series(doc: dict, points: int, *, full: bool) -> None:
    by = {s["field"]: s for s in doc["series"]}
    out = by["outdoor_temp"]
    t = out["t"]
    assert 0 < len(t) <= points
    assert t == sorted(t) and all(T0 <= x < T0 + N * STEP for x in t)
    assert all(len(out[k]) == len(t) for k in ("mean", "min", "max"))
    # the extremes of single snapshots survive any downsampling
    assert max(out["max"]) == SPIKE_HI[1] and min(out["min"]) == SPIKE_LO[1]
    assert all(lo <= m <= hi for lo, m, hi in zip(out["min"], out["mean"], out["max"]))
    # exactly one gap, where the data is really missing; nothing inside it
    gaps = [(a, b) for a, b in zip(t, t[1:]) if b - a > out["gap_ms"]]
    assert len(gaps) == 1, (gaps, out["gap_ms"])
    a, b = gaps[0]
    assert a < GAP_START and b >= GAP_END - doc["bucket_ms"]
    assert not any(GAP_START <= x < GAP_END - doc["bucket_ms"] for x in t)
    if full:
        assert len(t) == N - len(GAP)
    comp = by["compressor"]
    assert set(comp["min"]) <= {0, 1} and set(comp["max"]) <= {0, 1}
    d = by["delta_t_radiator"]
    assert d["unit"] == "K" and min(d["min"]) == pytest.approx(5.0) and max(d["max"]) == pytest.approx(9.75)


@pytest.mark.parametrize("points", [10, 20, 37, 100, 1500, 5000])
def test_series_points_minmax_gap(client, points):
    doc = series(client, gateway=TH, fields="outdoor_temp,compressor,delta_t_radiator",
                 start=str(T0), end=str(T0 + N * STEP), points=str(points))
    assert doc["points"] == points and doc["start_ms"] == T0 and doc["end_ms"] == T0 + N * STEP
    check_series(doc, points, full=points >= N)


def test_series_full_resolution_is_every_snapshot(client):
    doc = series(client, gateway=TH, fields="outdoor_temp", start=iso_ms(T0), end=iso_ms(T0 + 3600_000), points=5000)
    s = doc["series"][0]
    assert len(s["t"]) == 120 and s["mean"] == [thermia_values(i)["outdoor_temp"] for i in range(120)]
    assert s["min"] == s["mean"] == s["max"]
    # t is each snapshot's bucket, so within one bucket of its time
    assert all(0 <= T0 + i * STEP - t < doc["bucket_ms"] for i, t in enumerate(s["t"]))


def test_series_iso_and_epoch_ms_give_the_same(client):
    a = series(client, gateway=TH, fields="indoor_temp", start=str(T0), end=str(T0 + 7200_000), points=50)
    b = series(client, gateway=TH, fields="indoor_temp", start="2025-11-28T10:00:00Z",
               end="2025-11-28T12:00:00+00:00", points=50)
    c = series(client, gateway=TH, fields="indoor_temp", start="2025-11-28T11:00:00+01:00",
               end="2025-11-28T12:00:00", points=50)  # no zone: UTC
    assert a["series"] == b["series"] == c["series"]


def test_series_defaults_last_24h_and_1500_points(client):
    doc = series(client, gateway=TH, fields="outdoor_temp")
    assert doc["end_ms"] == NOW and doc["start_ms"] == NOW - 86_400_000 and doc["points"] == 1500
    assert 0 < len(doc["series"][0]["t"]) <= 1500


def test_series_every_register_of_the_brand_is_accepted(client):
    names = [r.name for r in load_provider("thermia").registers.values()]
    doc = series(client, gateway=TH, fields=",".join(names[:40]), start=str(T0), end=str(LAST + 1), points=10)
    assert [s["field"] for s in doc["series"]] == names[:40]


# -- bad parameters -------------------------------------------------------------------------

BAD_SERIES = [
    ({"start": "yesterday"}, "ISO-8601"),
    ({"start": "2025-13-45T10:00:00Z"}, "ISO-8601"),
    ({"end": "2025-11-28T25:00"}, "ISO-8601"),
    ({"start": ""}, "empty"),
    ({"start": "-5"}, "out of range"),
    ({"start": "99999999999999999"}, "ISO-8601"),
    ({"start": "".join(chr(0x0660 + int(d)) for d in str(T0))}, "ISO-8601"),  # T0 in Arabic-Indic digits
    ({"start": str(T0 + 1000), "end": str(T0)}, "before"),
    ({"start": str(T0), "end": str(T0)}, "before"),
    ({"start": "1970-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z"}, "too long"),
    ({"points": "0"}, "points"),
    ({"points": "9"}, "points"),
    ({"points": "5001"}, "points"),
    ({"points": "99999"}, "points"),
    ({"points": "abc"}, "points"),
    ({"points": "1e3"}, "points"),
    ({"fields": "nonsense_field"}, "unknown field"),
    ({"fields": "alarm_number"}, "unknown field"),
    ({"fields": "hot_water_mid"}, "unknown field"),  # an IVT/NIBE register, not a Thermia one
    ({"fields": 'outdoor_temp"'}, "invalid field"),
    ({"fields": "outdoor_temp'"}, "invalid field"),
    ({"fields": "outdoor_temp;DROP TABLE snapshots"}, "invalid field"),
    ({"fields": 'outdoor_temp") OR 1=1 --'}, "invalid field"),
    ({"fields": "$.outdoor_temp"}, "invalid field"),
    ({"fields": "Outdoor_Temp"}, "invalid field"),
    ({"fields": "outdoor_temp,,indoor_temp"}, "empty name"),
    ({"fields": ""}, "empty"),
    ({"fields": " , "}, "empty"),
    ({"fields": "x" * 5000}, "fields"),
    ({"bogus": "1"}, "unknown parameter"),
    ({"source": "nope"}, None),  # 404: no such source
]


@pytest.mark.parametrize("extra,needle", BAD_SERIES)
def test_series_bad_parameters_are_400_with_a_message(client, extra, needle):
    params = {"gateway": TH, "fields": "outdoor_temp", "start": str(T0), "end": str(LAST), **extra}
    resp = client.get("/api/v1/series", params=params)
    if needle is None:
        err(resp, 404)
        return
    msg = err(resp, 400)
    assert needle.lower() in msg.lower(), msg


def test_missing_required_parameters_are_400(client):
    assert "gateway is required" in err(client.get("/api/v1/series", params={"fields": "outdoor_temp"}), 400)
    assert "fields is required" in err(client.get("/api/v1/series", params={"gateway": TH}), 400)
    assert "gateway is required" in err(client.get("/api/v1/latest"), 400)
    assert "unknown parameter" in err(client.get("/api/v1/gateways?x=1"), 400)
    msg = err(client.get(f"/api/v1/latest?gateway={TH}&gateway={IV}"), 400)
    assert "more than once" in msg


INJECTIONS = [
    "x' OR 1=1 --",
    "x\" OR 1=1 --",
    "gw-thermia' OR '1'='1",
    "gw-thermia\"; DROP TABLE snapshots; --",
    "'; DROP MEASUREMENT heatpump; --",
    "gw-thermia\\",
    "gw-thermia\n",
    "gw-thermia\r\nX: y",
    "gw\x00thermia",
    "/* */ gw-thermia",
    "' UNION SELECT * FROM snapshots --",
    "%",
    "_",
    "*",
    "",
    "ü" * 300,
]


@pytest.mark.parametrize("gateway", INJECTIONS)
def test_injection_attempts_in_gateway_are_404_never_500(client, gateway):
    for path, params in (("/api/v1/latest", {}), ("/api/v1/series", {"fields": "outdoor_temp"})):
        resp = client.get(path, params={"gateway": gateway, **params})
        assert resp.status_code in (400, 404), (path, gateway, resp.status_code, resp.text)
        assert "error" in resp.json()
    # the store is intact afterwards
    check_gateways(client.get("/api/v1/gateways").json())


def test_unknown_gateway_and_route_are_404_json(client):
    assert "unknown gateway" in err(client.get("/api/v1/latest", params={"gateway": "nope"}), 404)
    err(client.get("/api/v1/series", params={"gateway": "nope", "fields": "outdoor_temp"}), 404)
    err(client.get("/api/v1/nothing"), 404)
    err(client.get("/static/../app.py"), 404)
    err(client.get("/static/nothing.js"), 404)


# -- store failures -------------------------------------------------------------------------


def test_store_missing_is_503_with_the_cause(tmp_path):
    with dashboard(embedded(tmp_path / "none.sqlite3")) as c:
        for path in ("/api/v1/gateways", f"/api/v1/latest?gateway={TH}"):
            msg = err(c.get(path), 503)
            assert "does not exist" in msg and "none.sqlite3" in msg
        assert c.get("/healthz").text == "ok"
        page = c.get("/")  # pages still load and say why there is nothing
        assert page.status_code == 200 and "does not exist" in page.text


def test_influx_unreachable_is_503_without_the_password():
    store = StoreConfig(kind="influxdb1", url=f"http://127.0.0.1:{free_port()}", database="hp",
                        username="reader", password=SecretStr(INFLUX_PASSWORD))
    with dashboard(store, auth=("admin", PASSWORD)) as c:
        auth = ("admin", PASSWORD)
        bodies = []
        for path in ("/api/v1/gateways", f"/api/v1/latest?gateway={TH}", "/", "/charts"):
            resp = c.get(path, auth=auth)
            bodies.append(resp.text + str(resp.headers))
            if path.startswith("/api"):
                assert "unreachable" in err(resp, 503)
    for body in bodies:
        assert INFLUX_PASSWORD not in body and PASSWORD not in body


# -- readiness ------------------------------------------------------------------------------

GENERIC_CAUSES = {"store unreachable", "store refused the credentials", "store timed out", "store not found",
                  "store unreadable", "store error"}
AUTH = ("admin", PASSWORD)


def ready(resp: httpx.Response, status: int, *, logged_in: bool = False) -> dict:
    """A /readyz answer: without login only ``ready`` and a generic ``cause``; logged in also
    ``store`` and (when not ready) ``detail``."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/json")
    doc = resp.json()
    assert doc["ready"] is (status == 200)
    if status == 200:
        assert "cause" not in doc and "detail" not in doc, doc
    else:
        assert doc["cause"] in GENERIC_CAUSES, doc
    if logged_in:
        assert isinstance(doc["store"], str) and doc["store"], doc
        if status != 200:
            assert isinstance(doc["detail"], str) and 0 < len(doc["detail"]) <= 303, doc
    else:
        assert set(doc) <= {"ready", "cause"}, doc
    return doc


def test_readyz_on_a_working_embedded_store(client, store_path):
    assert ready(client.get("/readyz"), 200) == {"ready": True}
    paths = client.get("/openapi.json").json()["paths"]
    assert "/readyz" not in paths and "/healthz" not in paths
    with dashboard(embedded(store_path), auth=AUTH) as c:
        assert ready(c.get("/readyz"), 200) == {"ready": True}
        doc = ready(c.get("/readyz", auth=AUTH), 200, logged_in=True)
        assert doc == {"ready": True, "store": f"embedded store at {store_path.resolve()}"}


def test_readyz_503_when_the_embedded_store_is_missing_or_not_a_store(tmp_path):
    missing = tmp_path / "none.sqlite3"
    with dashboard(embedded(missing), auth=AUTH) as c:
        resp = c.get("/readyz")
        assert ready(resp, 503) == {"ready": False, "cause": "store not found"}
        assert "none.sqlite3" not in resp.text and str(tmp_path) not in resp.text
        doc = ready(c.get("/readyz", auth=AUTH), 503, logged_in=True)
        assert doc["cause"] == "store not found" and "does not exist" in doc["detail"]
        assert doc["store"] == f"embedded store at {missing}"
        # the collector creates it: ready from then on, without a restart
        sink = EmbeddedSink(missing)
        sink.write_sync(snapshots()[:5])
        asyncio.run(sink.close())
        ready(c.get("/readyz"), 200)
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database\n" * 500)
    with dashboard(embedded(garbage), auth=AUTH) as c:
        assert ready(c.get("/readyz"), 503)["cause"] == "store unreadable"
        assert "not a database" in ready(c.get("/readyz", auth=AUTH), 503, logged_in=True)["detail"]


@pytest.mark.parametrize("kind", ["influxdb1", "influxdb2"])
def test_readyz_503_when_influxdb_is_down_without_secrets(kind):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    if kind == "influxdb1":
        store = StoreConfig(kind=kind, url=url, database="hp", username="reader", password=SecretStr(INFLUX_PASSWORD))
    else:
        store = StoreConfig(kind=kind, url=url, bucket="hp", org="home", token=SecretStr(INFLUX_TOKEN))
    with dashboard(store, auth=AUTH) as c:
        resp = c.get("/readyz")  # no credentials: open like /healthz, and generic
        assert ready(resp, 503) == {"ready": False, "cause": "store unreachable"}
        assert "127.0.0.1" not in resp.text and "InfluxDB" not in resp.text
        again = c.get("/readyz", auth=AUTH)
        doc = ready(again, 503, logged_in=True)
        assert "unreachable" in doc["detail"] and "refused" in doc["detail"].lower(), doc
        assert doc["store"].startswith("InfluxDB") and url in doc["store"]
    for r in (resp, again):
        for secret in (INFLUX_PASSWORD, INFLUX_TOKEN, PASSWORD):
            assert secret not in r.text and secret not in str(r.headers)


def test_readyz_503_when_the_store_hangs():
    """An InfluxDB that takes connections but never answers: 503 after the readiness timeout
    (not after the reader's own 30 s), and every request answered meanwhile."""
    hung = socket.create_server(("127.0.0.1", 0), backlog=16)  # accepts nothing: requests wait
    url = f"http://127.0.0.1:{hung.getsockname()[1]}"
    store = StoreConfig(kind="influxdb1", url=url, database="hp")
    try:
        with dashboard(store, ready_timeout_s=0.5, auth=AUTH) as c:
            for _ in range(3):
                assert ready(c.get("/readyz"), 503)["cause"] == "store timed out"
            assert ready(c.get("/readyz", auth=AUTH), 503, logged_in=True)["detail"] == "no answer within 0.5 s"
            assert c.get("/healthz").text == "ok"
            hung.close()  # refuses from now on; the hung probe ends with a reset
            deadline = time.monotonic() + 20
            while True:
                doc = ready(c.get("/readyz"), 503)
                if doc["cause"] == "store unreachable" or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert doc["cause"] == "store unreachable", doc
    finally:
        hung.close()


def test_readyz_with_a_reader_factory():
    """A custom reader (create_app(factory)): its description to those logged in; a factory
    that fails is 503 "store error", its message (masked) to those logged in."""

    class Reader:
        description = "a test reader"

        def snapshots(self, gateway, start_ms, end_ms, source=None):
            return iter(())

        def close(self):
            pass

    def broken():
        raise RuntimeError(f"cannot connect with {PASSWORD}")

    with dashboard(Reader, auth=AUTH) as c:
        assert ready(c.get("/readyz"), 200) == {"ready": True}
        assert ready(c.get("/readyz", auth=AUTH), 200, logged_in=True) == {"ready": True, "store": "a test reader"}
    with dashboard(broken, auth=AUTH) as c:
        resp = c.get("/readyz")
        assert ready(resp, 503) == {"ready": False, "cause": "store error"}
        mine = c.get("/readyz", auth=AUTH)
        assert ready(mine, 503, logged_in=True)["detail"] == "cannot connect with ***"
        assert PASSWORD not in resp.text and PASSWORD not in mine.text


def test_readyz_runs_one_probe_at_a_time_on_a_hung_store():
    """Requests while a probe hangs wait for that probe (one thread held, not one per request);
    a fresh reader per probe, closed after it; ready again once the store answers."""
    release = threading.Event()
    made, closed = [], []

    class Reader:
        def snapshots(self, gateway, start_ms, end_ms, source=None):
            assert (gateway, start_ms, end_ms) == ("", 0, 1)
            release.wait(30)
            return iter(())

        def close(self):
            closed.append(self)

    def factory():
        made.append(Reader())
        return made[-1]

    try:
        with dashboard(factory, ready_timeout_s=0.2) as c:
            for _ in range(4):
                assert ready(c.get("/readyz"), 503)["cause"] == "store timed out"
            assert len(made) == 1 and not closed
            release.set()
            ready(c.get("/readyz"), 200)  # the hung probe's answer (or a new probe's)
            ready(c.get("/readyz"), 200)
            assert 1 <= len(made) <= 3 and closed == made
    finally:
        release.set()


@pytest.mark.attack("5")
@pytest.mark.parametrize("password", ["heatpump", "e"])
def test_readyz_is_no_password_oracle(tmp_path, password):
    """Issue 10 (5): /readyz showed the store's description with every substring equal to the
    dashboard password masked - a store at <dir>/***.sqlite3 told anyone that the password was
    "heatpump"; a one-letter password mangled the whole description. Without login it now says
    ready or not and why in generic words, nothing else; logged in, the description is masked
    only where a secret of 3 or more characters is (the masking function's rule)."""
    path = tmp_path / "heatpump.sqlite3"
    sink = EmbeddedSink(path)
    sink.write_sync(snapshots()[:5])
    asyncio.run(sink.close())
    for store_path, status in ((path, 200), (tmp_path / "heatpump-gone.sqlite3", 503)):
        with dashboard(embedded(store_path), auth=("admin", password)) as c:
            answers = [c.get("/readyz"), c.get("/readyz", auth=("admin", password + "x")),
                       c.get("/readyz", headers={"Authorization": "Basic !!!"})]
            for resp in answers:
                doc = ready(resp, status)
                assert doc == ({"ready": True} if status == 200 else {"ready": False, "cause": "store not found"})
                assert "***" not in resp.text and "sqlite3" not in resp.text and "/" not in resp.text
            head = c.head("/readyz")
            assert head.status_code == status and head.content == b""
            mine = ready(c.get("/readyz", auth=("admin", password)), status, logged_in=True)
            shown = f"embedded store at {store_path.resolve()}"
            if len(password) >= 3:
                assert mine["store"] == shown.replace(password, "***") and "/***" in mine["store"], mine
            else:  # too short to be searched for: the description is left whole
                assert mine["store"] == shown, mine


class _EchoInflux(BaseHTTPRequestHandler):
    """An InfluxDB 1.x stand-in whose errors echo the request's Authorization header and the
    bare base64 credentials in it, as some servers and proxies do."""

    def do_POST(self) -> None:  # noqa: N802
        auth = self.headers.get("Authorization", "")
        body = json.dumps({"error": f"rejected request with Authorization: {auth} (credentials "
                                    f"{auth.partition(' ')[2]}, unpadded {auth.partition(' ')[2].rstrip('=')})"})
        data = body.encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST

    def log_message(self, *args) -> None:
        pass


@pytest.mark.attack("6")
def test_base64_credentials_echoed_by_influxdb_never_reach_an_answer():
    """Issue 10 (6): an InfluxDB 1.x error body echoing ``Authorization: Basic <base64 of
    user:password>`` landed verbatim in /readyz and the API's errors. Now neither the password
    nor its base64 (padded or not) is in any answer: API errors, pages, /readyz with and
    without login."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoInflux)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    user = "reader"
    b64 = base64.b64encode(f"{user}:{INFLUX_PASSWORD}".encode()).decode()
    assert b64.endswith("=")  # so the unpadded form differs
    store = StoreConfig(kind="influxdb1", url=f"http://127.0.0.1:{server.server_address[1]}", database="hp",
                        username=user, password=SecretStr(INFLUX_PASSWORD))
    try:
        with dashboard(store, auth=AUTH) as c:
            api = c.get("/api/v1/gateways", auth=AUTH)
            assert "HTTP 500" in err(api, 503) and "rejected request" in api.text  # the cause is still told
            answers = [api, c.get(f"/api/v1/latest?gateway={TH}", auth=AUTH), c.get("/", auth=AUTH),
                       c.get("/charts", auth=AUTH), c.get("/readyz"), c.get("/readyz", auth=AUTH)]
            assert ready(answers[-2], 503) == {"ready": False, "cause": "store error"}
            assert "HTTP 500" in ready(answers[-1], 503, logged_in=True)["detail"]
    finally:
        server.shutdown()
        server.server_close()
    for resp in answers:
        for secret in (INFLUX_PASSWORD, b64, b64.rstrip("="), PASSWORD):
            assert secret not in resp.text, (resp.request.url, resp.text[:300])


# -- auth -----------------------------------------------------------------------------------


def test_basic_auth(store_path):
    seen = []
    with dashboard(embedded(store_path), auth=("admin", PASSWORD), clock=lambda: NOW / 1000) as c:
        for path in ("/", "/charts", "/docs", "/openapi.json", "/api/v1/gateways",
                     f"/api/v1/latest?gateway={TH}", "/static/app.js", "/static/uPlot.iife.min.js"):
            resp = c.get(path)
            assert resp.status_code == 401, path
            assert resp.headers["www-authenticate"].startswith("Basic ")
            for wrong in (("admin", "wrong"), ("Admin", PASSWORD), ("admin", PASSWORD + "x"), ("", "")):
                assert c.get(path, auth=wrong).status_code == 401, (path, wrong)
            bad_header = c.get(path, headers={"Authorization": "Basic !!!notbase64"})
            assert bad_header.status_code == 401
            ok = c.get(path, auth=("admin", PASSWORD))
            assert ok.status_code == 200, (path, ok.text[:200])
            seen += [resp, ok, bad_header]
        health = c.get("/healthz")
        assert health.status_code == 200 and health.text == "ok"
        readiness = c.get("/readyz")
        assert readiness.status_code == 200 and readiness.json()["ready"] is True
        # monitors that probe with HEAD get the same answer, without a body
        assert c.head("/healthz").status_code == 200 and c.head("/readyz").status_code == 200
        seen += [health, readiness]
    for resp in seen:
        assert PASSWORD not in resp.text and PASSWORD not in str(resp.headers)


def test_no_auth_when_not_configured(client):
    assert client.get("/api/v1/gateways").status_code == 200
    assert client.get("/").status_code == 200


# -- OpenAPI, docs, pages, static files -----------------------------------------------------

EXTERNAL = re.compile(r"https?://", re.I)


def test_openapi_lists_the_three_endpoints_and_docs_is_local(client):
    doc = client.get("/openapi.json").json()
    assert {"/api/v1/gateways", "/api/v1/latest", "/api/v1/series"} <= set(doc["paths"])
    params = {p["name"] for p in doc["paths"]["/api/v1/series"]["get"]["parameters"]}
    assert params == {"gateway", "fields", "start", "end", "points", "source", "format"}
    for ops in doc["paths"].values():
        for op in ops.values():
            assert "422" not in op["responses"]  # bad parameters are 400
    docs = client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert not EXTERNAL.search(docs.text), EXTERNAL.findall(docs.text)
    for src in re.findall(r'(?:src|href)="([^"]+)"', docs.text):
        assert src.startswith(("/", "data:")), src
        if src.startswith("/static/"):
            asset = client.get(src)
            assert asset.status_code == 200 and not EXTERNAL.search(asset.text), src
    assert client.get("/redoc").status_code == 404


def test_pages_load_only_from_this_app(client):
    for path in ("/", "/charts", f"/charts?gateway={IV}", "/daily", f"/daily?gateway={IV}", "/alerts"):
        page = client.get(path)
        assert page.status_code == 200
        assert "default-src 'self'" in page.headers["content-security-policy"]
        # page and own assets reference no other origin
        assert not EXTERNAL.search(page.text)
        for src in re.findall(r'(?:src|href)="([^"]+)"', page.text):
            assert src.startswith(("/", "data:")), src
    charts = client.get("/charts").text
    assert "/static/uPlot.iife.min.js?v=" in charts and "/static/uPlot.min.css?v=" in charts
    assert "uPlot" not in client.get("/").text  # the overview has no charts
    for name in ("app.js", "style.css", "docs.js", "summary.js", "summary.css", "uPlot.iife.min.js", "uPlot.min.css"):
        # uPlot's licence banner names its home page; the code after it names no address
        text = re.sub(r"^/\*!.*?\*/", "", client.get(f"/static/{name}").text, flags=re.S)
        assert not EXTERNAL.search(text), name


def test_chart_library_is_served_gzipped_and_cacheable(client):
    # the build's copy of uPlot (frontend/: npm ci && npm run build), at the version the lock pins
    from heatpump_monitor.web.assets import BUILD_DIR

    lock = json.loads((Path(__file__).resolve().parents[2] / "frontend" / "package-lock.json").read_text())
    version = lock["packages"]["node_modules/uplot"]["version"]
    raw = (BUILD_DIR / "uPlot.iife.min.js").read_bytes()
    assert f"v{version}" in raw[:200].decode("utf-8", "replace"), raw[:200]
    url = re.search(r'src="(/static/uPlot\.iife\.min\.js\?v=[0-9a-f]+)"', client.get("/charts").text).group(1)
    with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as resp:
        body = b"".join(resp.iter_raw())
    assert resp.status_code == 200
    assert resp.headers["content-encoding"] == "gzip"
    assert "immutable" in resp.headers["cache-control"] and resp.headers["etag"]
    assert len(body) < len(raw) / 2 and gzip.decompress(body) == raw
    again = client.get(url, headers={"If-None-Match": resp.headers["etag"]})
    assert again.status_code == 304
    plain = client.get("/static/uPlot.iife.min.js", headers={"Accept-Encoding": "identity"})
    assert plain.content == raw and "content-encoding" not in plain.headers
    assert "immutable" not in plain.headers["cache-control"]  # an unversioned URL is revalidated


def test_the_dashboard_does_not_start_without_the_built_chart_library(tmp_path):
    import shutil

    from heatpump_monitor.web.assets import STATIC_DIR, Assets

    for name in ("app.js", "docs.js", "style.css"):
        shutil.copy(STATIC_DIR / name, tmp_path / name)
    with pytest.raises(RuntimeError) as err:
        Assets(tmp_path)
    message = str(err.value)
    assert "uPlot.iife.min.js" in message and "npm ci && npm run build" in message and "\n" not in message


def test_the_dashboard_serve_command_names_the_build_when_it_is_missing(tmp_path, monkeypatch, caplog):
    import importlib
    import logging

    from heatpump_monitor.web.assets import Assets

    app_module = importlib.import_module("heatpump_monitor.web.app")
    serve_module = importlib.import_module("heatpump_monitor.web.serve")

    monkeypatch.setattr(app_module, "Assets", lambda: Assets(tmp_path))
    log = logging.getLogger("test-serve")
    with caplog.at_level(logging.ERROR, logger="test-serve"):
        code = serve_module.serve("127.0.0.1", 0, StoreConfig(kind="embedded", path=str(tmp_path / "x.sqlite3")), None, log)
    assert code == 1
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("Cannot start the dashboard: the chart library is not built") and "scripts/bootstrap" in line


def test_series_answers_carry_an_etag_and_revalidate(client):
    # the app's clock is NOW: a window reaching to it is revalidated, an older one kept 5 minutes
    live = {"gateway": TH, "fields": "outdoor_temp", "start": str(T0), "end": str(NOW)}
    resp = client.get("/api/v1/series", params=live)
    assert resp.status_code == 200
    etag = resp.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{20}"', etag)
    assert resp.headers["cache-control"] == "private, no-cache"
    same = client.get("/api/v1/series", params=live, headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
    other = client.get("/api/v1/series", params={**live, "fields": "indoor_temp"}, headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag
    closed = client.get("/api/v1/series", params={**live, "end": str(NOW - 11 * 60_000)})
    assert closed.headers["cache-control"] == "private, max-age=300"


def test_api_answers_are_gzipped(client):
    with client.stream("GET", "/api/v1/series", params={"gateway": TH, "fields": "outdoor_temp,indoor_temp",
                                                         "start": str(T0), "end": str(LAST)},
                       headers={"Accept-Encoding": "gzip"}) as resp:
        body = b"".join(resp.iter_raw())
    assert resp.headers["content-encoding"] == "gzip" and len(gzip.decompress(body)) > 2 * len(body)


# -- a real server on loopback --------------------------------------------------------------


def test_real_uvicorn_on_loopback_with_auth(store_path):
    with DashboardThread(embedded(store_path), auth=("admin", PASSWORD), clock=lambda: NOW / 1000) as url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
        with httpx.Client(base_url=url, trust_env=False, timeout=10) as http:
            assert http.get("healthz").text == "ok"
            assert http.get("api/v1/gateways").status_code == 401
            resp = http.get("api/v1/gateways", auth=("admin", PASSWORD))
            assert resp.status_code == 200
            check_gateways(resp.json())
            resp = http.get("api/v1/latest", params={"gateway": TH}, auth=("admin", PASSWORD))
            check_latest_thermia(resp.json())
            resp = http.get("static/uPlot.iife.min.js", auth=("admin", PASSWORD), headers={"Accept-Encoding": "gzip"})
            assert resp.headers["content-encoding"] == "gzip" and int(resp.headers["content-length"]) < 30_000


# -- a real InfluxDB 1.x --------------------------------------------------------------------

_db_counter = itertools.count()


@pytest.fixture(scope="module")
def influx_store(influxdb1) -> StoreConfig:
    name = f"web_{next(_db_counter)}"
    influx1_query(influxdb1.url, None, f'CREATE DATABASE "{name}"')

    async def write() -> None:
        sink = InfluxV1Sink(influxdb1.url, name)
        try:
            snaps = snapshots()
            for i in range(0, len(snaps), 500):
                await sink.write(snaps[i:i + 500])
        finally:
            await sink.close()

    asyncio.run(write())
    return StoreConfig(kind="influxdb1", url=influxdb1.url, database=name)


@pytest.fixture(scope="module")
def influx_client(influx_store) -> Iterator[httpx.Client]:
    with dashboard(influx_store, clock=lambda: NOW / 1000) as c:
        yield c


@pytest.mark.realserver
def test_influx_gateways_and_latest(influx_client):
    check_gateways(influx_client.get("/api/v1/gateways").json(), influx=True)
    resp = influx_client.get("/api/v1/latest", params={"gateway": TH})
    assert resp.status_code == 200, resp.text
    check_latest_thermia(resp.json())
    alarm = influx_client.get("/api/v1/latest", params={"gateway": IV, "source": "api"}).json()["alarm"]
    assert alarm["active"] is True and alarm["text"] == "hot water sensor GT3"
    assert alarm["since_ms"] == T0 + ALARM_FROM * STEP


@pytest.mark.realserver
@pytest.mark.parametrize("points", [10, 37, 100, 1500])
def test_influx_series_points_minmax_gap(influx_client, points):
    doc = series(influx_client, gateway=TH, fields="outdoor_temp,compressor,delta_t_radiator",
                 start=str(T0), end=str(T0 + N * STEP), points=str(points))
    check_series(doc, points, full=points >= N)


@pytest.mark.realserver
def test_influx_same_series_as_the_embedded_store(influx_client, client):
    params = dict(gateway=TH, fields="outdoor_temp,hot_water_top,delta_t_radiator", start=str(T0 + 1234),
                  end=str(LAST - 777), points="53")
    a, b = series(influx_client, **params), series(client, **params)
    for sa, sb in zip(a["series"], b["series"]):
        assert sa["t"] == sb["t"] and sa["min"] == sb["min"] and sa["max"] == sb["max"]
        assert sa["mean"] == pytest.approx(sb["mean"], abs=1e-3)


@pytest.mark.realserver
@pytest.mark.parametrize("gateway", INJECTIONS)
def test_influx_injection_attempts_never_500(influx_client, gateway):
    for path, params in (("/api/v1/latest", {}), ("/api/v1/series", {"fields": "outdoor_temp"})):
        resp = influx_client.get(path, params={"gateway": gateway, **params})
        assert resp.status_code in (400, 404), (path, gateway, resp.status_code, resp.text)
    check_gateways(influx_client.get("/api/v1/gateways").json(), influx=True)


@pytest.mark.realserver
@pytest.mark.parametrize("extra,needle", BAD_SERIES)
def test_influx_bad_parameters_are_400(influx_client, extra, needle):
    params = {"gateway": TH, "fields": "outdoor_temp", "start": str(T0), "end": str(LAST), **extra}
    resp = influx_client.get("/api/v1/series", params=params)
    if needle is None:
        err(resp, 404)
    else:
        assert needle.lower() in err(resp, 400).lower()


@pytest.mark.realserver
def test_influx_missing_database_is_503(influxdb1):
    store = StoreConfig(kind="influxdb1", url=influxdb1.url, database="web_does_not_exist")
    with dashboard(store) as c:
        msg = err(c.get("/api/v1/gateways"), 503)
    assert "web_does_not_exist" in msg and "not found" in msg


@pytest.mark.realserver
def test_influx_readyz(influx_client, influx_store, influxdb1):
    assert ready(influx_client.get("/readyz"), 200) == {"ready": True}
    with dashboard(influx_store, auth=AUTH) as c:
        doc = ready(c.get("/readyz", auth=AUTH), 200, logged_in=True)
    assert doc["store"].startswith("InfluxDB 1.x at http://127.0.0.1:")
    store = StoreConfig(kind="influxdb1", url=influxdb1.url, database="web_does_not_exist")
    with dashboard(store, auth=AUTH) as c:
        assert ready(c.get("/readyz"), 503) == {"ready": False, "cause": "store not found"}
        detail = ready(c.get("/readyz", auth=AUTH), 503, logged_in=True)["detail"]
    assert "web_does_not_exist" in detail and "not found" in detail
