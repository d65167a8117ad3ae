"""Downloading the shown range from the charts page (issue 15 item 5), in a real browser.

The charts page offers CSV and JSON links for exactly the window on screen: every charted field of
the gateway, the chosen range (and, once zoomed, the zoomed part), as fine as the series API's
value limit allows. The links are followed with the page's own request context (same cookies,
same origin) and their answers checked: the CSV has one column trio per field and rows inside
the window, the JSON names the same fields and window. A zoom moves the links to the zoomed
window. Data and dashboard: :mod:`tests.web.test_browser`'s module fixture (30 h of thermia
history plus the real collector's polls).
"""

from __future__ import annotations

import csv
import io
from urllib.parse import parse_qs, urlsplit

import pytest

from heatpump_monitor.web.catalog import field_catalog
from heatpump_monitor.web.charts import field_parts
from tests.web.test_browser import Watched, browser, setup  # noqa: F401  (the module's fixtures)

pytestmark = pytest.mark.realserver


def link(page, fmt: str) -> tuple[str, dict[str, str], str]:
    href = page.get_attribute(f"#export-{fmt}", "href")
    return href, {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}, page.get_attribute(f"#export-{fmt}", "download")


def test_charts_page_links_the_shown_range_as_csv_and_json(setup, browser):
    base, (thermia, _) = setup["url"], setup["gateways"]
    w = Watched(browser, base.rstrip("/"))
    try:
        page = w.page
        page.goto(f"{base}charts?gateway={thermia}&range=6h")
        page.wait_for_function("() => window.__drawCount >= 1 && !document.getElementById('export').hidden",
                               timeout=30_000)
        x = page.evaluate("() => { const s = window.__charts.climate.scales.x; return [s.min, s.max]; }")
        fields = [f for part in field_parts(field_catalog("thermia")) for f in part]

        href, q, name = link(page, "csv")
        assert q["gateway"] == thermia and q["format"] == "csv"
        assert q["fields"].split(",") == fields
        start, end = int(q["start"]), int(q["end"])
        # the range on screen, to the millisecond of the loaded window
        assert abs(start - x[0]) <= 1000 and abs(end - x[1]) <= 1000, (start, end, x)
        assert (end - start) / 3600e3 == pytest.approx(6, abs=0.01)
        # as many points per field as the API's value limit allows (60,000 values)
        assert int(q["points"]) == min(5000, 60_000 // len(fields))
        assert name == f"series-{thermia.replace(':', '_')}-{start}-{end}.csv"

        answer = page.request.get(base.rstrip("/") + href)
        assert answer.status == 200 and answer.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(answer.text())))
        header, body = rows[0], rows[1:]
        for f in ("outdoor_temp", "radiator_forward", "compressor"):
            assert any(h.startswith(f) for h in header), (f, header)
        # 6 h of 30 s history and 1 s polls: hundreds of rows, all inside the window
        assert len(body) > 300
        times = [r[0] for r in body]
        assert times == sorted(times)

        href_json, qj, name_json = link(page, "json")
        assert {k: v for k, v in qj.items() if k != "format"} == {k: v for k, v in q.items() if k != "format"}
        assert name_json.endswith(".json")
        doc = page.request.get(base.rstrip("/") + href_json).json()
        assert doc["start_ms"] == start and doc["end_ms"] == end
        assert {s["field"] for s in doc["series"]} <= set(fields)
        assert {"outdoor_temp", "compressor"} <= {s["field"] for s in doc["series"]}

        # a zoom moves the links to the zoomed window
        box = page.locator("#chart-climate .u-over").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
        page.wait_for_function("s => new URLSearchParams(document.getElementById('export-csv').search).get('start') != s",
                               arg=str(start), timeout=10_000)
        _, zq, _ = link(page, "csv")
        zs, ze = int(zq["start"]), int(zq["end"])
        assert start < zs < ze < end and (ze - zs) / 3600e3 < 3
        w.check_clean()
    finally:
        w.close()
