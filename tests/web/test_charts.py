"""The charts page's definitions (web/charts.py) and what the page makes of them: the chart
cards, the definitions as JSON for app.js, and the first data requests named in
``<link rel=preload>`` (app.js fetches exactly those URLs; the browser tests check that it does
and that the charts are drawn from them)."""

from __future__ import annotations

import asyncio
import html
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from heatpump_monitor.config import StoreConfig
from heatpump_monitor.model import Snapshot
from heatpump_monitor.simulator.model import PumpModel
from heatpump_monitor.stores.embedded import EmbeddedSink
from heatpump_monitor.web.app import create_app
from heatpump_monitor.web.catalog import field_catalog
from heatpump_monitor.web.charts import CHARTS, PRESETS_MS, charts_doc, field_parts, first_requests

GW = "gw-thermia"
NOW_MS = 1_780_000_000_000
HOURS = 8


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    path: Path = tmp_path_factory.mktemp("charts") / "store.sqlite3"
    model = PumpModel("thermia", 7)
    snaps = [Snapshot(GW, "thermia", "api", t * 1000, model.provider.decode_poll(model.raw_alldata(float(t))).values)
             for t in range(NOW_MS // 1000 - HOURS * 3600, NOW_MS // 1000, 60)]
    sink = EmbeddedSink(path)
    sink.write_sync(snaps)
    asyncio.run(sink.close())
    with TestClient(create_app(StoreConfig(kind="embedded", path=str(path)), clock=lambda: NOW_MS / 1000)) as c:
        yield c


def page_config(text: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="config">(.*?)</script>', text, re.S).group(1))


def preloads(text: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'<link rel="preload" as="fetch" crossorigin href="([^"]+)"', text)]


def test_the_first_part_is_the_first_chart_with_a_field_the_brand_has():
    thermia = field_catalog("thermia")
    first, rest = field_parts(thermia)
    assert first == ["outdoor_temp", "indoor_temp"]
    every = [ln.field for c in CHARTS for ln in c.lines if ln.field in thermia]
    assert sorted(first + rest) == sorted(set(every)) and len(rest) == len(set(rest))
    assert "hot_water_mid" not in rest  # thermia has no such register: never asked for
    # a brand without the first chart's fields starts with the next chart that has one
    assert field_parts({"radiator_forward": {}, "compressor": {}}) == [["radiator_forward"], ["compressor"]]
    assert field_parts({"compressor": {}}) == [["compressor"]]
    assert field_parts({}) == []


def test_first_requests_follow_the_address_as_app_js_reads_it():
    gws = [{"gateway": "a", "brand": "thermia"}, {"gateway": "b", "brand": "thermia"}]
    cats = {"thermia": field_catalog("thermia")}
    plan = first_requests({"gateway": "b", "range": "6h"}, gws, cats, NOW_MS)
    assert plan is not None and plan["gateway"] == "b" and plan["range"] == "6h" and len(plan["urls"]) == 2
    q = parse_qs(urlsplit(plan["urls"][0]).query)
    assert q["gateway"] == ["b"] and q["fields"] == ["outdoor_temp,indoor_temp"]
    assert int(q["end"][0]) == NOW_MS and int(q["start"][0]) == NOW_MS - PRESETS_MS["6h"]
    # an unknown gateway shows the first one, no range the default (24 h)
    plan = first_requests({"gateway": "zzz"}, gws, cats, NOW_MS)
    assert plan is not None and plan["gateway"] == "a" and plan["range"] == "24h"
    # app.js asks by itself for an unknown range, an own window, or without gateways
    assert first_requests({"range": "5y"}, gws, cats, NOW_MS) is None
    assert first_requests({"start": "2026-01-01", "end": "2026-01-02"}, gws, cats, NOW_MS) is None
    assert first_requests({}, [], cats, NOW_MS) is None


def test_the_charts_page_carries_the_charts_and_preloads_their_first_data(client):
    resp = client.get(f"/charts?gateway={GW}&range=6h")
    assert resp.status_code == 200
    cfg = page_config(resp.text)
    assert cfg["charts"] == charts_doc() and cfg["presets"] == PRESETS_MS
    for chart in CHARTS:
        assert f'id="chart-{chart.id}"' in resp.text and f"<h2>{html.escape(chart.title)}</h2>" in resp.text
    urls = preloads(resp.text)
    # the first part preloaded, the other asked for by app.js once the first is answered
    assert urls == cfg["plan"]["urls"][:1] and len(cfg["plan"]["urls"]) == 2 and cfg["plan"]["preloaded"] == 1
    # the chart library is fetched early too, and runs before app.js
    head = resp.text.split("</head>")[0]
    assert re.search(r'<link rel="preload" as="script" href="/static/uPlot\.iife\.min\.js\?v=', head)
    assert head.index("uPlot.iife.min.js?v=", head.index("<script")) < head.index("app.js?v=")
    parts = field_parts(field_catalog("thermia"))
    for url, fields in zip(cfg["plan"]["urls"], parts):
        series = client.get(url)
        assert series.status_code == 200, series.text
        doc = series.json()
        assert [s["field"] for s in doc["series"]] == fields
        assert doc["start_ms"] == NOW_MS - 6 * 3_600_000 and doc["end_ms"] == NOW_MS
        assert all(len(s["t"]) > 10 for s in doc["series"]), fields
        assert series.headers["etag"]  # cached as any other series answer
    # the address names a window of its own, or nonsense: no preload, app.js asks by itself
    for query in ("?range=nonsense", "?start=2026-05-01T00:00:00Z&end=2026-05-02T00:00:00Z"):
        other = client.get("/charts" + query).text
        assert preloads(other) == [] and page_config(other)["plan"] is None
    # the other pages carry neither
    overview = client.get("/").text
    assert preloads(overview) == [] and "charts" not in page_config(overview)
