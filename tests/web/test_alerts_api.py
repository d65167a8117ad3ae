"""Alerts in the dashboard's API: the state files written by the collectors' own engine and
store (AlertEngine + AlertStore), read by the dashboard read-only and never written; the test
message through a real local HTTP receiver, its same-origin rule, its rate limit and no URL
secret in any answer or log line."""

from __future__ import annotations

import base64
import hashlib
import logging
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

import httpx
import jsonschema_rs
import pytest

from heatpump_monitor.alerts import (RULES, AlertEngine, AlertSettings, AlertStore, Notice, alerts_path, message,
                                     parse_alert_settings)
from heatpump_monitor.config import AlertsConfig
from tests.alerts.test_notify import HttpReceiver
from tests.alerts.test_rules import MIN, T0, snap
from tests.servers import free_port
from tests.web.test_api import TH, dashboard, embedded, store_path  # noqa: F401

TZ = ZoneInfo("Europe/Stockholm")
OTHER = "gw-other"
PASSWORD = "Notify-Pw-7f3Kq9"
TOKEN = "hooktoken8XcVb2"


def write_state(directory: str) -> None:
    """What the collectors leave in ALERTS_DIR: ``api`` saw TH alarm (then clear) and its hot
    water stay low (still active); ``mqtt`` saw OTHER alarm (still active)."""
    api = AlertEngine(parse_alert_settings(None), store=AlertStore(alerts_path(directory, "api")))
    api.observe(snap(T0, gateway=TH, alarm=1, alarm_code=20))
    for i in range(1, 40):
        api.observe(snap(T0 + i * MIN, gateway=TH, alarm=1, alarm_code=20, hot_water_top=35.0))
    api.observe(snap(T0 + 40 * MIN, gateway=TH, hot_water_top=35.0))  # the alarm clears
    api.store.close()  # type: ignore[union-attr]
    mqtt = AlertEngine(parse_alert_settings(None), store=AlertStore(alerts_path(directory, "mqtt")))
    mqtt.observe(snap(T0 + 5 * MIN, gateway=OTHER, alarm=1, alarm_code=20))
    mqtt.store.close()  # type: ignore[union-attr]


def alerts_config(directory: str, urls: tuple[str, ...] = (), language: str = "en", **rules: object) -> AlertsConfig:
    return AlertsConfig(urls=urls, settings=parse_alert_settings(rules or None), directory=directory,
                        language=language, tz=TZ)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory) -> str:
    d = str(tmp_path_factory.mktemp("alerts") / "data")
    write_state(d)
    return d


@pytest.fixture(scope="module")
def client(store_path, state_dir) -> Iterator[httpx.Client]:  # noqa: F811
    with dashboard(embedded(store_path), alerts=alerts_config(state_dir, language="sv")) as c:
        yield c


def digest(directory: str) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(directory).iterdir())}


# -- the read-only store ----------------------------------------------------------------------


def test_a_readonly_store_creates_nothing_and_writes_nothing(tmp_path):
    missing = tmp_path / "none" / "alerts-api.sqlite3"
    with pytest.raises(sqlite3.Error):
        AlertStore(str(missing), readonly=True)
    assert not missing.parent.exists()  # no directory made for it
    d = str(tmp_path / "data")
    write_state(d)
    before = digest(d)
    assert sorted(before) == ["alerts-api.sqlite3", "alerts-mqtt.sqlite3"]  # the writers closed: no -wal
    ro = AlertStore(alerts_path(d, "api"), readonly=True)
    assert [(a.gateway, a.rule) for a in ro.active()] == [(TH, "hot_water")]
    with pytest.raises(sqlite3.Error):
        ro.apply([Notice(TH, "alarm", "fired", T0, T0, 1.0, None, "x")])
    ro.close()
    assert digest(d) == before  # no byte changed, no -wal/-shm left beside the collector's file


def test_a_readonly_store_reads_a_running_writers_newest_rows(tmp_path):
    path = alerts_path(str(tmp_path))
    writer = AlertStore(path)  # a collector with its file open (WAL mode: its rows in the -wal)
    writer.apply([Notice(TH, "alarm", "fired", T0, T0, 20.0, None, "brine flow")])
    ro = AlertStore(path, readonly=True)
    writer.apply([Notice(OTHER, "alarm", "fired", T0, T0 + 1, 20.0, None, "brine flow")])
    assert {a.gateway for a in ro.active()} == {TH, OTHER}
    ro.close()
    writer.close()


def test_a_file_that_is_no_state_file_is_refused(tmp_path):
    bad = tmp_path / "alerts-watch.sqlite3"
    bad.write_bytes(b"not a database " * 100)
    with pytest.raises(sqlite3.Error):
        AlertStore(str(bad), readonly=True)
    empty = tmp_path / "alerts-api.sqlite3"
    sqlite3.connect(empty).close()
    with pytest.raises(sqlite3.Error, match="no such table"):
        AlertStore(str(empty), readonly=True)


# -- the API ------------------------------------------------------------------------------


def test_active_alerts_of_every_owner_with_their_message(client, state_dir):
    doc = client.get("/api/v1/alerts").json()
    assert doc["owners"] == ["api", "mqtt"] and doc["unreadable"] == [] and doc["language"] == "sv"
    got = [(a["gateway"], a["rule"], a["owner"]) for a in doc["alerts"]]
    assert got == [(OTHER, "alarm", "mqtt"), (TH, "hot_water", "api")]  # newest first
    hot = doc["alerts"][1]
    assert hot["since_ms"] == T0 + MIN and hot["since"] == "2025-12-03T09:01:00+01:00"
    assert (hot["value"], hot["threshold"]) == (35, 40)
    expected = message(Notice(TH, "hot_water", "fired", T0 + MIN, doc["server_time_ms"], 35.0, 40.0, ""), "sv", TZ)
    assert (hot["title"], hot["body"]) == (expected.title, expected.body)
    assert hot["title"] == f"Värmepump {TH}" and "varmvatten 35 °C, under 40 °C" in hot["body"]
    assert doc["alerts"][0]["text"]  # the brand's alarm text


def test_history_newest_first_filtered_and_bounded(client):
    doc = client.get("/api/v1/alerts/history").json()
    got = [(n["gateway"], n["rule"], n["kind"], n["owner"]) for n in doc["notices"]]
    # hot water fired 30 min after it went low (T0 + 31 min), after OTHER's alarm (T0 + 5 min)
    assert got == [(TH, "alarm", "resolved", "api"), (TH, "hot_water", "fired", "api"),
                   (OTHER, "alarm", "fired", "mqtt"), (TH, "alarm", "fired", "api")]
    assert [n["time_ms"] for n in doc["notices"]] == sorted((n["time_ms"] for n in doc["notices"]), reverse=True)
    resolved = doc["notices"][0]
    assert resolved["since_ms"] == T0 and "återställt" in resolved["body"]
    only = client.get("/api/v1/alerts/history", params={"gateway": OTHER}).json()["notices"]
    assert [(n["gateway"], n["kind"]) for n in only] == [(OTHER, "fired")]
    assert len(client.get("/api/v1/alerts/history", params={"limit": 2}).json()["notices"]) == 2
    assert client.get("/api/v1/alerts/history", params={"gateway": "nope"}).json()["notices"] == []
    for bad in ({"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"since": "1d"}, {"format": "xml"}):
        resp = client.get("/api/v1/alerts/history", params=bad)
        assert resp.status_code == 400 and resp.json()["error"], (bad, resp.text)
    assert client.get("/api/v1/alerts", params={"gateway": TH}).status_code == 400


def test_history_within_a_time_range(client):
    times = [n["time_ms"] for n in client.get("/api/v1/alerts/history").json()["notices"]]
    assert len(set(times)) == 4
    newest, second, _, oldest = times

    def kinds(**params: object) -> list[tuple[str, str]]:
        doc = client.get("/api/v1/alerts/history", params=params).json()
        return [(n["rule"], n["kind"]) for n in doc["notices"]]

    # [start, end): the start is in, the end out; ISO-8601 and epoch ms alike
    assert kinds(start=second) == [("alarm", "resolved"), ("hot_water", "fired")]
    assert kinds(end=second) == [("alarm", "fired"), ("alarm", "fired")]
    assert kinds(start=oldest, end=oldest + 1) == [("alarm", "fired")]
    iso = datetime.fromtimestamp(newest / 1000, timezone.utc).isoformat()
    assert kinds(start=iso) == [("alarm", "resolved")]
    assert kinds(start=newest + 1) == []
    assert kinds(start=oldest, gateway=OTHER, limit=1) == [("alarm", "fired")]
    for bad in ({"start": "yesterday"}, {"start": str(newest), "end": str(oldest)}, {"end": ""}):
        resp = client.get("/api/v1/alerts/history", params=bad)
        assert resp.status_code == 400 and resp.json()["error"], (bad, resp.text)


def test_history_as_csv(client):
    resp = client.get("/api/v1/alerts/history", params={"format": "csv", "gateway": TH})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert 'filename="alerts-history-gw-thermia.csv"' in resp.headers["content-disposition"]
    lines = resp.text.splitlines()
    assert lines[0].startswith("time,time_ms,gateway,rule,kind,owner,since,since_ms,value,threshold")
    assert len(lines) == 4 and ",alarm,resolved,api," in lines[1]


def test_rules_with_thresholds_and_delivery_redacted(store_path, tmp_path):  # noqa: F811
    urls = (f"json://alice:{PASSWORD}@127.0.0.1:1/{TOKEN}", f"ntfys://{TOKEN}")
    cfg = alerts_config(str(tmp_path), urls, hot_water=False, brine_delta_t={"above_k": 6.5})
    with dashboard(embedded(store_path), alerts=cfg) as c:
        resp = c.get("/api/v1/alerts/rules")
        doc = resp.json()
        assert doc["delivery"] == {"configured": True, "targets": ["1 json://***", "2 ntfys://***"]}
        rules = {r["rule"]: r for r in doc["rules"]}
        assert tuple(rules) == RULES and "not_stored" in rules and doc["running"] is True
        assert rules["hot_water"]["enabled"] is False and rules["brine_delta_t"]["enabled"] is True
        assert rules["brine_delta_t"]["settings"] == {"above_k": 6.5, "minutes": 15, "hysteresis_k": 1}
        assert rules["gateway_silent"]["settings"] == {"minutes": 10} and all(r["description"] for r in doc["rules"])
        assert rules["brine_delta_t"]["description"].startswith("Brine in - out above 6.5 K for 15 min")
        assert doc["reminder_hours"] == 12 and doc["tz"] == "Europe/Stockholm"
        page = c.get("/alerts").text
        for text in (resp.text, page):
            assert PASSWORD not in text and TOKEN not in text and "127.0.0.1:1" not in text
        # nothing configured: said so; no state files: nothing, not an error
        assert c.get("/api/v1/alerts").json()["alerts"] == []
    with dashboard(embedded(store_path), alerts=alerts_config(str(tmp_path / "absent"))) as c:
        assert c.get("/api/v1/alerts/rules").json()["delivery"] == {"configured": False, "targets": []}
    off = AlertsConfig(urls=(), settings=AlertSettings(), directory=str(tmp_path), language="en", tz=TZ, on=False)
    with dashboard(embedded(store_path), alerts=off) as c:
        assert c.get("/api/v1/alerts/rules").json()["running"] is False
        doc = c.get("/api/v1/alerts").json()
        assert (doc["alerts"], doc["owners"], doc["unreadable"]) == ([], [], [])
        assert c.get("/api/v1/alerts/history").json()["notices"] == []


def test_an_unreadable_state_file_is_left_out_and_logged_once(store_path, tmp_path, caplog):  # noqa: F811
    d = str(tmp_path / "data")
    write_state(d)
    watch = Path(alerts_path(d, "watch"))
    watch.write_bytes(b"garbage " * 200)
    caplog.set_level(logging.INFO, logger="heatpump_monitor.web.alerts")
    with dashboard(embedded(store_path), alerts=alerts_config(d)) as c:
        for _ in range(3):
            for path in ("/api/v1/alerts", "/api/v1/alerts/history"):
                resp = c.get(path)
                assert resp.status_code == 200 and resp.json()["unreadable"] == ["watch"], resp.text
                assert resp.json()["owners"] == ["api", "mqtt"]
        assert len(c.get("/api/v1/alerts").json()["alerts"]) == 2  # the others' alerts still shown
        lines = [r.getMessage() for r in caplog.records if r.name == "heatpump_monitor.web.alerts"]
        assert len(lines) == 1 and "'watch'" in lines[0] and "cannot be read" in lines[0], lines
        watch.unlink()
        AlertStore(str(watch)).close()  # the watcher (re)starts: an empty, valid state file
        assert c.get("/api/v1/alerts").json()["unreadable"] == []
        lines = [r.getMessage() for r in caplog.records if r.name == "heatpump_monitor.web.alerts"]
        assert len(lines) == 2 and "can be read again" in lines[1]


def test_rows_a_hand_edit_damaged_are_left_out_not_a_500(store_path, tmp_path, caplog):  # noqa: F811
    d = str(tmp_path / "data")
    write_state(d)
    db = sqlite3.connect(alerts_path(d, "mqtt"))
    db.execute("INSERT INTO active VALUES ('gw-x', 'alarm', 99999999999999999, 0, 'abc', NULL, '')")
    db.execute("INSERT INTO history (gateway, rule, kind, since_ms, time_ms, value, threshold, text) "
               "VALUES ('gw-x', 'alarm', 'fired', 0, 'yesterday', 1, NULL, '')")
    db.commit()
    db.close()
    caplog.set_level(logging.WARNING, logger="heatpump_monitor.web.alerts")
    with dashboard(embedded(store_path), alerts=alerts_config(d)) as c:
        active = c.get("/api/v1/alerts")
        history = c.get("/api/v1/alerts/history")
        assert active.status_code == 200 and history.status_code == 200, (active.text, history.text)
        assert {a["gateway"] for a in active.json()["alerts"]} == {TH, OTHER}  # the others still shown
        assert len(history.json()["notices"]) == 4
    lines = [r.getMessage() for r in caplog.records if r.name == "heatpump_monitor.web.alerts"]
    # one line for the same cause (both reads left one row out), not one per request
    assert len(lines) == 1 and "'mqtt'" in lines[0] and "1 row(s) with an impossible time" in lines[0], lines


def test_the_dashboard_never_writes_the_state_files(store_path, tmp_path):  # noqa: F811
    d = str(tmp_path / "data")
    write_state(d)
    before = digest(d)
    with dashboard(embedded(store_path), alerts=alerts_config(d, ("json://127.0.0.1:1/x",))) as c:
        for path in ("/", "/alerts", "/api/v1/alerts", "/api/v1/alerts/history", "/api/v1/alerts/rules",
                     "/api/v1/alerts/history?format=csv"):
            assert c.get(path).status_code == 200, path
        c.post("/api/v1/alerts/test", headers={"X-Requested-With": "t"})
    assert digest(d) == before


# -- the test message ---------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver()
    yield r
    r.stop()


def test_the_test_message_reaches_each_target_without_a_secret_in_answer_or_log(
        store_path, tmp_path, receiver, caplog):  # noqa: F811
    good = f"json://alice:{PASSWORD}@127.0.0.1:{receiver.port}/{TOKEN}"
    dead = f"json://alice:{PASSWORD}@127.0.0.1:{free_port()}/{TOKEN}"
    caplog.set_level(logging.INFO)
    with dashboard(embedded(store_path), alerts=alerts_config(str(tmp_path), (good, dead))) as c:
        openapi = c.get("/openapi.json").json()
        resp = c.post("/api/v1/alerts/test", headers={"X-Requested-With": "heatpump-monitor"})
        assert resp.status_code == 200, resp.text
        doc = resp.json()
        assert doc["ok"] is False
        assert [(r["target"], r["ok"]) for r in doc["results"]] == [("1 json://***", True), ("2 json://***", False)]
        assert doc["results"][0]["cause"] == "" and doc["results"][1]["cause"]
        check(openapi, "200", doc)
        # the receiver got it, with the credentials (so they were really in play)
        assert len(receiver.requests) == 1
        path, headers, body = receiver.requests[0]
        assert path == f"/{TOKEN}" and headers["Authorization"].startswith("Basic ") and "test" in body
        # right away again: 429 with Retry-After, nothing sent
        again = c.post("/api/v1/alerts/test", headers={"X-Requested-With": "heatpump-monitor"})
        assert again.status_code == 429 and 1 <= int(again.headers["retry-after"]) <= 10, again.text
        check(openapi, "429", again.json())
        assert len(receiver.requests) == 1
    log_text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Test message from the dashboard: 1 json://***: ok; 2 json://***: failed" in log_text
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    for secret in (PASSWORD, TOKEN, basic, f"127.0.0.1:{receiver.port}"):
        assert secret not in resp.text and secret not in again.text and secret not in log_text, secret


def test_the_test_message_needs_the_dashboards_own_page(store_path, tmp_path, receiver):  # noqa: F811
    url = f"json://127.0.0.1:{receiver.port}/hook"
    with dashboard(embedded(store_path), alerts=alerts_config(str(tmp_path), (url,))) as c:
        openapi = c.get("/openapi.json").json()
        for headers in ({}, {"Origin": "https://evil.example"},
                        {"X-Requested-With": "x", "Sec-Fetch-Site": "cross-site"}):
            resp = c.post("/api/v1/alerts/test", headers=headers)
            assert resp.status_code == 403, (headers, resp.text)
            check(openapi, "403", resp.json())
        assert c.get("/api/v1/alerts/test").status_code == 405
        assert receiver.requests == []
        ok = c.post("/api/v1/alerts/test", headers={"X-Requested-With": "x", "Sec-Fetch-Site": "same-origin"})
        assert ok.status_code == 200 and ok.json()["ok"] is True and len(receiver.requests) == 1


def test_the_test_message_without_notify_urls_is_409(store_path, tmp_path):  # noqa: F811
    with dashboard(embedded(store_path), alerts=alerts_config(str(tmp_path))) as c:
        openapi = c.get("/openapi.json").json()
        for _ in range(2):  # not rate-limited: nothing was sent
            resp = c.post("/api/v1/alerts/test", headers={"X-Requested-With": "x"})
            assert resp.status_code == 409 and "NOTIFY_URLS is not set" in resp.json()["error"], resp.text
        check(openapi, "409", resp.json())


def test_the_test_message_respects_basic_auth(store_path, tmp_path, receiver):  # noqa: F811
    url = f"json://127.0.0.1:{receiver.port}/hook"
    with dashboard(embedded(store_path), alerts=alerts_config(str(tmp_path), (url,)), auth=("admin", PASSWORD)) as c:
        resp = c.post("/api/v1/alerts/test", headers={"X-Requested-With": "x"})
        assert resp.status_code == 401 and receiver.requests == []
        assert c.get("/api/v1/alerts").status_code == 401 and c.get("/alerts").status_code == 401
        ok = c.post("/api/v1/alerts/test", headers={"X-Requested-With": "x"}, auth=("admin", PASSWORD))
        assert ok.status_code == 200 and len(receiver.requests) == 1


def check(openapi: dict, status: str, doc: dict) -> None:
    """``doc`` is what /openapi.json documents for the test message's ``status`` answer."""
    schema = openapi["paths"]["/api/v1/alerts/test"]["post"]["responses"][status]["content"]["application/json"]
    validator = jsonschema_rs.Draft202012Validator({**schema["schema"], "components": openapi["components"]})
    assert [e.message for e in validator.iter_errors(doc)] == [], (status, doc)


def test_an_alerts_section_with_a_mistake_stops_the_dashboard(store_path, tmp_path, monkeypatch):  # noqa: F811
    from heatpump_monitor.web import create_app

    config = tmp_path / "config.yaml"
    config.write_text("alerts:\n  hot_water: {below_c: 38, minuets: 5}\n")
    monkeypatch.setenv("CONFIG_FILE", str(config))
    monkeypatch.delenv("NOTIFY_URLS", raising=False)
    with pytest.raises(ValueError, match="minuets"):
        create_app(embedded(store_path))
    assert AlertSettings().hot_water.below_c == 40  # the defaults the rules list when no section is given


APPRISE_PROBE = """
import sys, zoneinfo
from fastapi.testclient import TestClient
from heatpump_monitor.alerts import AlertSettings
from heatpump_monitor.config import AlertsConfig, StoreConfig
from heatpump_monitor.web import create_app
cfg = AlertsConfig(urls=("json://127.0.0.1:1/x",), settings=AlertSettings(), directory=sys.argv[1], language="en",
                   tz=zoneinfo.ZoneInfo("UTC"))
with TestClient(create_app(StoreConfig(kind="embedded", path=sys.argv[1] + "/s.sqlite3"), alerts=cfg)) as c:
    for path in ("/", "/alerts", "/api/v1/alerts", "/api/v1/alerts/history", "/api/v1/alerts/rules"):
        assert c.get(path).status_code == 200, path
    before = "apprise" in sys.modules
    c.post("/api/v1/alerts/test", headers={"X-Requested-With": "x"})
    print(before, "apprise" in sys.modules)
"""


def test_apprise_is_imported_only_to_send_a_test_message(tmp_path):
    import subprocess
    import sys

    write_state(str(tmp_path))
    out = subprocess.run([sys.executable, "-c", APPRISE_PROBE, str(tmp_path)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]
