"""``/api/v1/summary``, ``/api/v1/events`` and the CSV downloads (``format=csv``, also of
``/api/v1/series``) on a real embedded store holding hand-built snapshots with known answers;
the bounds an outsider meets (400 beyond them, 404 for an unknown gateway, 503 when busy or past
the time budget) and the summarizer's bounded cache.

Data (UTC): gateway ``gw-sum`` (Thermia), 30 s snapshots over two whole days, 2025-11-27 and
-28; the compressor 20 min off, 20 min on (a start every 40 minutes: 36 a day, 12 h runtime),
2000 W running and 10 W idle (energy measured by power x time), outdoor -5 °C the first day and
3 °C the second, the add-on heater at 50 % the second day's first two hours. The app's clock
says 2025-11-29 12:00: the third day has no data.
"""

from __future__ import annotations

import asyncio
import csv
import io
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import httpx
import pytest

from heatpump_monitor.analytics import Prices, Summarizer
from heatpump_monitor.analytics.summary import CSV_HEADER, FIELDS, gateway_doc
from heatpump_monitor.config import AnalyticsConfig
from heatpump_monitor.model import Snapshot
from heatpump_monitor.stores.embedded import EmbeddedReader, EmbeddedSink
from heatpump_monitor.web.models import PeriodOut
from heatpump_monitor.web.store import Store
from heatpump_monitor.web.summaries import Summaries, SummaryLimits
from tests.web.test_api import dashboard, embedded, err

GW = "gw-sum"
T0 = int(datetime(2025, 11, 27, tzinfo=timezone.utc).timestamp() * 1000)
DAY1, DAY2, DAY3 = date(2025, 11, 27), date(2025, 11, 28), date(2025, 11, 29)
NOW = T0 + 2 * 86_400_000 + 12 * 3_600_000
TICKS = 2 * 2880
UTC = AnalyticsConfig(tz=ZoneInfo("UTC"))
REQUIRED = ("start", "compressor_starts", "compressor_runtime_h", "add_heat_h", "energy_kwh", "cop",
            "short_cycling", "outdoor_mean", "estimated")


def values(k: int) -> dict[str, float]:
    on = (k // 40) % 2 == 1
    return {"compressor": float(on), "power_w": 2000.0 if on else 10.0, "outdoor_temp": -5.0 if k < 2880 else 3.0,
            "additional_heat": 50.0 if 2880 <= k < 2880 + 240 else 0.0, "switch_valve": 0.0, "alarm": 0.0,
            "radiator_forward": 38.0 if on else 33.0, "radiator_return": 32.0}


@pytest.fixture(scope="module")
def store_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("summary") / "store.sqlite3"
    sink = EmbeddedSink(path)
    sink.write_sync([Snapshot(GW, "thermia", "api", T0 + k * 30_000, values(k)) for k in range(TICKS)])
    asyncio.run(sink.close())
    return path


@pytest.fixture(scope="module")
def client(store_path) -> Iterator[httpx.Client]:
    with dashboard(embedded(store_path), clock=lambda: NOW / 1000, analytics=UTC) as c:
        yield c


def get(c: httpx.Client, path: str, **params: str) -> Any:
    resp = c.get(path, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


# -- known answers ----------------------------------------------------------------------------


def test_daily_summaries_have_the_known_figures(client):
    doc = get(client, "/api/v1/summary", gateway=GW, since="3d")
    assert (doc["gateway"], doc["source"], doc["brand"], doc["tz"], doc["currency"]) == (GW, "api", "thermia", "UTC", "SEK")
    d1, d2, d3 = doc["periods"]
    assert [p["start"] for p in doc["periods"]] == [f"{d}T00:00:00+00:00" for d in (DAY1, DAY2, DAY3)]
    assert all(k in p for p in doc["periods"] for k in REQUIRED)
    assert d1["compressor_starts"] == 36 and d2["compressor_starts"] == 36
    assert d1["compressor_runtime_h"] == pytest.approx(12.0, abs=1e-3)
    assert d2["compressor_runtime_h"] == pytest.approx(12.0 - 30 / 3600, abs=1e-3)  # the last span is not closed
    assert d1["cycle_median_min"] == 20.0 and d1["short_cycling"] is False
    # measured: 1,440 running spans of 30 s at 2 kW and 1,440 idle at 10 W
    assert d1["energy_kwh"] == pytest.approx(24.0 + 0.12, abs=1e-3) and d1["energy_method"] == "power"
    assert "energy_kwh" not in d1["estimated"] and "cop" in d1["estimated"]  # no heat meter: COP estimated
    assert d1["cost"] == pytest.approx(d1["energy_kwh"] * 2.0, abs=1e-2)
    assert (d1["outdoor_mean"], d2["outdoor_mean"]) == (-5.0, 3.0)
    assert d1["add_heat_h"] == 0.0 and d2["add_heat_h"] == pytest.approx(2.0, abs=1e-3)
    # the day without data: unknown, not zero
    for k in ("compressor_starts", "compressor_runtime_h", "energy_kwh", "cop", "outdoor_mean", "short_cycling"):
        assert d3[k] is None, k


def test_api_and_cli_give_the_same_periods(client, store_path):
    doc = get(client, "/api/v1/summary", gateway=GW, **{"from": str(DAY1), "to": str(DAY2)})
    reader = EmbeddedReader(store_path)
    try:
        s = Summarizer(reader, UTC, Prices(2.0, "SEK"))
        info = s.gateway(GW)
        assert info is not None
        assert doc == gateway_doc(info, s.periods(info, DAY1, DAY2, "day"), UTC)
    finally:
        reader.close()
    assert list(PeriodOut.model_fields) == list(FIELDS)  # the model is the CLI's list of fields


def test_by_hour_and_by_period(client):
    hours = get(client, "/api/v1/summary", gateway=GW, since="1d", to=str(DAY1), by="hour")["periods"]
    assert len(hours) == 24 and hours[1]["start"] == f"{DAY1}T01:00:00+00:00"
    assert sum(h["compressor_starts"] for h in hours) == 36
    whole = get(client, "/api/v1/summary", gateway=GW, **{"from": str(DAY1), "to": str(DAY2)}, by="period")["periods"]
    assert len(whole) == 1 and whole[0]["compressor_starts"] == 72 and whole[0]["hours"] == 48.0


def test_events_are_the_days_events(client):
    doc = get(client, "/api/v1/events", gateway=GW, **{"from": str(DAY1), "to": str(DAY1)})
    evs = doc["events"]
    assert doc["total"] == len(evs) and doc["truncated"] is False
    assert doc["start"] == f"{DAY1}T00:00:00+00:00" and doc["end"] == f"{DAY2}T00:00:00+00:00"
    assert sum(e["kind"] == "compressor_on" for e in evs) == 36
    offs = [e for e in evs if e["kind"] == "compressor_off"]
    assert len(offs) == 35 and all(e["duration_s"] == 1200.0 for e in offs)  # the 36th run ends on day 2
    assert [e["time_ms"] for e in evs] == sorted(e["time_ms"] for e in evs)
    assert evs[0]["time"] == "2025-11-27T00:20:00+00:00" and evs[0]["kind"] == "compressor_on"
    # default: today, which has no data
    assert get(client, "/api/v1/events", gateway=GW)["events"] == []
    day2 = get(client, "/api/v1/events", gateway=GW, **{"from": str(DAY2), "to": str(DAY2)})["events"]
    assert [e["kind"] for e in day2 if e["kind"].startswith("add_heat")] == ["add_heat_on", "add_heat_off"]


def test_at_most_max_events_the_newest(store_path):
    with dashboard(embedded(store_path), clock=lambda: NOW / 1000, analytics=UTC,
                   summary_limits=SummaryLimits(max_events=10)) as c:
        doc = get(c, "/api/v1/events", gateway=GW, since="3d")
        assert doc["truncated"] is True and doc["total"] > 100 and len(doc["events"]) == 10
        assert doc["events"][-1]["time_ms"] >= T0 + TICKS * 30_000 - 3_600_000  # the newest kept


# -- CSV --------------------------------------------------------------------------------------


def rows(resp: httpx.Response) -> list[list[str]]:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "text/csv; charset=utf-8"
    assert resp.headers["content-disposition"].startswith('attachment; filename="')
    return list(csv.reader(io.StringIO(resp.text)))


def test_summary_csv_is_the_json_as_rows(client):
    params = {"gateway": GW, "since": "3d"}
    doc = get(client, "/api/v1/summary", **params)
    head, *body = rows(client.get("/api/v1/summary", params={**params, "format": "csv"}))
    assert tuple(head) == CSV_HEADER
    assert len(body) == 3
    for row, period in zip(body, doc["periods"]):
        cell = dict(zip(head, row))
        assert cell["gateway"] == GW and cell["start"] == period["start"]
        assert cell["compressor_starts"] == ("" if period["compressor_starts"] is None else str(period["compressor_starts"]))
        assert cell["estimated"] == ";".join(period["estimated"])
    assert dict(zip(head, body[2]))["energy_kwh"] == ""  # unknown: empty
    resp = client.get("/api/v1/summary", params={**params, "format": "csv"})
    assert resp.headers["content-disposition"] == f'attachment; filename="summary-{GW}-{DAY1}-{DAY3}-by-day.csv"'


def test_events_csv(client):
    params = {"gateway": GW, "from": str(DAY1), "to": str(DAY1)}
    doc = get(client, "/api/v1/events", **params)
    head, *body = rows(client.get("/api/v1/events", params={**params, "format": "csv"}))
    assert head == ["gateway", "source", "time", "time_ms", "kind", "duration_s", "text"]
    assert [r[4] for r in body] == [e["kind"] for e in doc["events"]]


def test_series_csv_is_the_series_answer_as_rows(client):
    params = {"gateway": GW, "fields": "outdoor_temp,power_w", "start": str(T0), "end": str(T0 + 3_600_000),
              "points": "60"}
    doc = get(client, "/api/v1/series", **params)
    head, *body = rows(client.get("/api/v1/series", params={**params, "format": "csv"}))
    assert head == ["time", "time_ms", "outdoor_temp mean (°C)", "outdoor_temp min (°C)", "outdoor_temp max (°C)",
                    "power_w mean (W)", "power_w min (W)", "power_w max (W)"]
    outdoor = doc["series"][0]
    assert len(body) == len(outdoor["t"]) == 60
    assert [int(r[1]) for r in body] == outdoor["t"]
    assert [float(r[2]) for r in body] == outdoor["mean"] == [-5.0] * 60
    assert [float(r[5]) for r in body] == doc["series"][1]["mean"]
    assert body[0][0] == "2025-11-27T00:00:00.000Z"


# -- bounds -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path,params,status,words", [
    ("/api/v1/summary", {"since": "32d", "by": "hour"}, 400, "at most 31 days by hour"),
    ("/api/v1/summary", {"since": "3701d"}, 400, "at most 3700 days"),
    ("/api/v1/summary", {"from": "2010-01-01", "to": "2025-11-28"}, 400, "at most 3700 days"),
    ("/api/v1/summary", {"from": "2025-11-28", "to": "2025-11-27"}, 400, "must be on or before"),
    ("/api/v1/summary", {"since": "3d", "from": "2025-11-27"}, 400, "not both"),
    ("/api/v1/summary", {"since": "yesterday"}, 400, "expected days or weeks"),
    ("/api/v1/summary", {"since": "0d"}, 400, "at least 1 day"),
    ("/api/v1/summary", {"from": "27.11.2025"}, 400, "not a date"),
    ("/api/v1/summary", {"by": "week"}, 400, "by:"),
    ("/api/v1/summary", {"format": "xml"}, 400, "format:"),
    ("/api/v1/summary", {"points": "10"}, 400, "unknown parameter"),
    ("/api/v1/events", {"since": "32d"}, 400, "at most 31 days of events"),
    ("/api/v1/events", {"source": "mqtt"}, 404, "has no data from source"),
    ("/api/v1/summary", {"source": "mqtt"}, 404, "has no data from source"),
])
def test_bad_parameters_are_refused_with_a_clear_message(client, path, params, status, words):
    msg = err(client.get(path, params={"gateway": GW, **params}), status)
    assert words in msg, msg


@pytest.mark.parametrize("path", ["/api/v1/summary", "/api/v1/events"])
def test_unknown_gateway_and_missing_gateway(client, path):
    assert "unknown gateway 'nope'" in err(client.get(path, params={"gateway": "nope"}), 404)
    assert "gateway is required" in err(client.get(path), 400)


class SlowReader(EmbeddedReader):
    """An embedded reader whose snapshots take a second to start (a slow store)."""

    def snapshots(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        time.sleep(1.0)
        return super().snapshots(*args, **kwargs)


def test_one_computation_per_gateway_the_others_wait_then_503(store_path):
    limits = SummaryLimits(queue=0, wait_s=0)
    with dashboard(lambda: SlowReader(store_path), clock=lambda: NOW / 1000, analytics=UTC,
                   summary_limits=limits) as c:
        results: list[httpx.Response] = []

        def ask() -> None:
            results.append(c.get("/api/v1/summary", params={"gateway": GW, "since": "2d"}))

        threads = [threading.Thread(target=ask) for _ in range(2)]
        for t in threads:
            t.start()
            time.sleep(0.2)
        for t in threads:
            t.join(30)
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 503], [r.text for r in results]
        busy = next(r for r in results if r.status_code == 503)
        assert busy.headers["retry-after"] == "5"
        assert f"busy computing summaries of gateway '{GW}' for another request" in busy.json()["error"]


def test_a_request_past_its_time_budget_is_stopped(store_path):
    with dashboard(embedded(store_path), clock=lambda: NOW / 1000, analytics=UTC,
                   summary_limits=SummaryLimits(budget_s=1e-6)) as c:
        msg = err(c.get("/api/v1/summary", params={"gateway": GW, "since": "3d"}), 503)
        assert "stopped after its time budget" in msg


def test_the_cache_is_bounded_and_distant_years_do_not_fill_it(store_path):
    store = Store(lambda: EmbeddedReader(store_path))
    s = Summaries(store, lambda: EmbeddedReader(store_path), UTC, SummaryLimits(max_cached_hours=30),
                  clock=lambda: NOW / 1000)
    try:
        info = s.info(GW, None)
        s._call(lambda: s.periods(info, DAY1, DAY3, "day"))
        assert 0 < s.summarizer.cached_units <= 30
        before = s.summarizer.cached_units
        s._call(lambda: s.periods(info, date(2000, 1, 1), date(2010, 1, 1), "day"))  # no data then
        assert s.summarizer.cached_units == before
        # read a month at a time: a long range still gives the same days
        days = s._call(lambda: s.periods(info, date(2025, 8, 1), DAY3, "day"))
        assert len(days) == 121 and days[-3].values["compressor_starts"] == 36
    finally:
        s.pool.close()
        store.close()


def test_settings_the_summaries_cannot_use_stop_the_dashboard_with_one_line(store_path, monkeypatch, caplog):
    import logging

    from heatpump_monitor.web.serve import serve

    log = logging.getLogger("test-serve")
    monkeypatch.setenv("PRICE_FILE", str(store_path.parent / "no-such-prices.csv"))
    with caplog.at_level(logging.ERROR, logger="test-serve"):
        assert serve("127.0.0.1", 0, embedded(store_path), None, log) == 1
    [line] = [r.getMessage() for r in caplog.records if r.name == "test-serve"]
    assert line.startswith("Cannot start the dashboard: Invalid PRICE_FILE=") and "no such file" in line
