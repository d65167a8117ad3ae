"""The dashboard in a real browser: headless Debian Chromium driven by Playwright.

Data: two simulated gateways over real HTTP (``SimulatorThread``, thermia and nibe), polled
by the real API collector into an embedded store for a few seconds, after 30 h of thermia
history decoded from the same ``PumpModel`` at 30 s steps. The dashboard runs on a free port
on loopback (``DashboardThread``).

Checks: the overview shows the latest snapshot's outdoor temperature, lamps match the
compressor and switch valve, the data age is shown, the gateway selector puts its choice in
the URL; the charts page draws every chart (uPlot) with data for the chosen range, with min-max bands,
step lines for statuses and no gap where no data is missing, and redraws with a new x range
when another preset is clicked; zoom and pan on one chart move all of them, hover shows the
values at that instant in every chart, double-click resets; the charts are those of
``web/charts.py`` with the brand's fields, their data asked for in two parts (the first
chart's fields, then the rest), each URL once (the page's preloads are used); a zoom and reset
before the second part arrives leaves no chart saying "No data" and the second part is drawn
when it comes; the charts follow the dark colour scheme; no console error, no request to
another origin.

Screenshots (test artifacts, not committed): ``test-artifacts/screenshots/overview.png`` and
``test-artifacts/screenshots/charts.png`` under the repository root.

Chromium: ``/usr/bin/chromium`` (Debian ``chromium``; override with $CHROMIUM_BIN). If it
cannot start, these tests FAIL; they are never skipped.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from pathlib import Path

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Route, sync_playwright

from heatpump_monitor.config import StoreConfig, load_collector_config
from heatpump_monitor.derived import DERIVED
from heatpump_monitor.model import Snapshot
from heatpump_monitor.pipeline.run import run_collector
from heatpump_monitor.stores.embedded import EmbeddedReader
from heatpump_monitor.simulator.model import PumpModel
from heatpump_monitor.simulator.server import SimulatorThread
from heatpump_monitor.stores.embedded import EmbeddedSink
from heatpump_monitor.web import DashboardThread
from heatpump_monitor.web.catalog import field_catalog
from heatpump_monitor.web.charts import CHARTS, field_parts

pytestmark = pytest.mark.realserver

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HISTORY_H = 30
SEED = 7


def fill_history(path: Path, gateway: str, brand: str, hours: float) -> None:
    """``hours`` of 30 s snapshots up to now, decoded from the simulator's model."""
    model = PumpModel(brand, SEED)
    now = int(time.time()) // 30 * 30
    snaps = []
    for t in range(now - int(hours * 3600), now - 30, 30):
        values = model.provider.decode_poll(model.raw_alldata(float(t))).values
        snaps.append(Snapshot(gateway, brand, "api", t * 1000, values))
    write(path, snaps)


def write(path: Path, snaps: list[Snapshot]) -> None:
    """Into the embedded store, from a thread of its own (Playwright's sync API keeps an
    event loop running in this one)."""
    def run() -> None:
        sink = EmbeddedSink(path)
        sink.write_sync(snaps)
        asyncio.run(sink.close())

    t = threading.Thread(target=run)
    t.start()
    t.join(60)


def collect(urls: list[str], store: Path, seconds: float) -> None:
    """The real API collector (brand detection, 1 s ticks) for ``seconds``, in a thread."""
    cfg = load_collector_config({
        "H66_IP": ",".join(u.removeprefix("http://") for u in urls), "HEATPUMP_BRAND": "auto",
        "COLLECTION_INTERVAL": "1", "STORE_PATH": str(store), "CONFIG_FILE": "",
    })
    result: list[int] = []

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        result.append(await run_collector(cfg, stop))

    t = threading.Thread(target=asyncio.run, args=(run(),))
    t.start()
    t.join(seconds + 30)
    assert result == [0]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    store = tmp_path_factory.mktemp("browser") / "store.sqlite3"
    with SimulatorThread(["thermia", "nibe"], seed=SEED) as sim:
        names = [u.removeprefix("http://") for u in sim.urls]
        fill_history(store, names[0], "thermia", HISTORY_H)
        collect(sim.urls, store, 3.5)
    reader = EmbeddedReader(store)
    latest = {name: reader.latest(name) for name in names}
    reader.close()
    assert all(s is not None and s.source == "api" for s in latest.values()), latest
    assert time.time() * 1000 - latest[names[0]].time_ms < 10_000  # the collector's fresh poll
    with DashboardThread(StoreConfig(kind="embedded", path=str(store))) as url:
        yield {"url": url, "gateways": names, "latest": latest, "store": store}


@pytest.fixture(scope="module")
def browser():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        # no try/except: a Chromium that cannot start fails the tests
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Watched:
    """A page whose console errors, page errors, failed requests and foreign requests are kept."""

    def __init__(self, browser, base: str) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        # ERR_ABORTED: the page was left (page.goto) while a request of it was still loading
        self.page.on("requestfailed", lambda r: None if r.failure == "net::ERR_ABORTED"
                     else self.errors.append(f"request failed: {r.url} {r.failure}"))
        self.page.on("request", lambda r: None if r.url.startswith((base, "data:")) else self.foreign.append(r.url))

    def check_clean(self) -> None:
        assert not self.errors, self.errors
        assert not self.foreign, self.foreign

    def close(self) -> None:
        self.context.close()


def fmt1(x: float) -> str:
    return f"{x:.1f}"


def test_overview_shows_the_current_values(setup, browser):
    base, (thermia, nibe) = setup["url"], setup["gateways"]
    snap = setup["latest"][thermia]
    w = Watched(browser, base.rstrip("/"))
    try:
        page = w.page
        page.goto(base)
        page.wait_for_function("() => document.querySelector('#gw-name').textContent !== '–'")
        # without a choice the first gateway is shown, and the URL says which
        first = sorted(setup["gateways"])[0]
        assert page.inner_text("#gw-name") == first
        assert f"gateway={first}" in page.url.replace("%3A", ":")
        page.goto(f"{base}?gateway={thermia}")
        page.wait_for_function("name => document.querySelector('#gw-name').textContent === name", arg=thermia)
        assert page.inner_text("#gw-name") == thermia
        assert "Thermia" in page.inner_text("#gw-title")
        outdoor = page.inner_text(".metric[data-field=outdoor_temp] .v")
        assert outdoor == fmt1(snap.values["outdoor_temp"]), (outdoor, snap.values["outdoor_temp"])
        assert page.inner_text(".metric[data-field=radiator_forward] .v") == fmt1(snap.values["radiator_forward"])
        # a derived value is labelled from its definition, through the field catalogue
        delta = DERIVED["delta_t_radiator"]
        assert page.inner_text(".metric[data-field=delta_t_radiator] .m-label") == delta.description
        assert page.inner_text(".metric[data-field=delta_t_radiator] .u") == delta.unit
        comp = page.get_attribute(".lamp[data-lamp=compressor]", "data-state")
        assert comp == ("on" if snap.values["compressor"] > 0 else "off")
        valve = page.get_attribute(".lamp[data-lamp=switch_valve]", "data-state")
        assert valve == ("hotwater" if snap.values["switch_valve"] else "heating")
        assert page.inner_text(".lamp[data-lamp=switch_valve] .l-state") == (
            "hot water" if snap.values["switch_valve"] else "heating")
        assert re.fullmatch(r"updated \d+ (s|min)( \d+ s)? ago", page.inner_text("#age-text")), page.inner_text("#age-text")
        assert page.get_attribute("#age", "data-state") == "fresh"
        assert page.inner_text("#alarm-text") == "No alarm"
        page.screenshot(path=str(SCREENSHOTS / "overview.png"), full_page=True)

        # it updates itself: a newer snapshot shows up without a reload
        newer = Snapshot(thermia, "thermia", "api", int(time.time() * 1000),
                         {**snap.values, "outdoor_temp": -17.3, "compressor": 0.0, "switch_valve": 1.0})
        write(setup["store"], [newer])
        page.wait_for_function("() => document.querySelector('.metric[data-field=outdoor_temp] .v').textContent === '-17.3'",
                               timeout=20_000)
        assert page.get_attribute(".lamp[data-lamp=compressor]", "data-state") == "off"
        assert page.get_attribute(".lamp[data-lamp=switch_valve]", "data-state") == "hotwater"

        # another gateway from the selector: the URL carries it, the values follow
        page.select_option("#gateway", nibe)
        page.wait_for_function("name => document.querySelector('#gw-name').textContent === name", arg=nibe)
        assert f"gateway={nibe}" in page.url.replace("%3A", ":")
        other = setup["latest"][nibe]
        assert page.inner_text(".metric[data-field=outdoor_temp] .v") == fmt1(other.values["outdoor_temp"])
        assert page.is_hidden(".metric[data-field=radiator_return]")  # NIBE has none
        assert page.get_attribute("a[href^='/charts']", "href").endswith(nibe.replace(":", "%3A"))
        w.check_clean()
    finally:
        w.close()


CHART_IDS = ["chart-climate", "chart-heating", "chart-brine", "chart-hotwater", "chart-delta", "chart-status"]

# window.__charts: app.js's uPlot instances by chart id (u.series[0] is time; series with the
# class "band" are the min and max of a line's band, drawn as a fill only)
LINES_JS = """ids => ids.map(id => {
  const u = window.__charts[id.replace('chart-', '')];
  const lines = u.series.map((s, i) => [s, i]).filter(([s, i]) => i > 0 && s.class !== 'band');
  return [id, lines.length, Math.min(...lines.map(([s, i]) => u.data[i].filter(v => v !== null && v !== undefined).length))];
})"""


# each chart's line names (legend), without the bands' min and max
NAMES_JS = """() => Object.fromEntries(Object.entries(window.__charts).map(([id, u]) =>
  [id, u.series.slice(1).filter(s => s.class !== 'band').map(s => s.label)]))"""


def expected_names(brand: str) -> dict[str, list[str]]:
    """The charts of web/charts.py with the brand's fields: names from there or the catalogue."""
    cat = field_catalog(brand)
    return {c.id: [ln.name or cat[ln.field]["description"] for ln in c.lines if ln.field in cat] for c in CHARTS}


def series_fields(urls: list[str]) -> list[list[str]]:
    return [parse_qs(urlsplit(u).query)["fields"][0].split(",") for u in urls]


def x_range_ms(page: Page) -> list[list[float]]:
    return page.evaluate("ids => ids.map(id => { const x = window.__charts[id.replace('chart-', '')].scales.x; "
                         "return [x.min, x.max]; })", CHART_IDS)


def span_h(r: list[float]) -> float:
    return (r[1] - r[0]) / 3600e3


def test_charts_page_draws_every_chart_and_redraws_on_a_new_range(setup, browser):
    base, (thermia, _) = setup["url"], setup["gateways"]
    w = Watched(browser, base.rstrip("/"))
    try:
        page = w.page
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url) if "/api/v1/series" in r.url else None)
        page.goto(f"{base}charts?gateway={thermia}&range=24h")
        page.wait_for_function("() => window.__drawCount >= 1", timeout=30_000)
        for chart, lines, points in page.evaluate(LINES_JS, CHART_IDS):
            assert lines >= 1 and points > 10, (chart, lines, points)
        # every chart of web/charts.py, with the lines of the fields the brand has
        assert page.evaluate(NAMES_JS) == expected_names("thermia")
        # the data in two parts, the first chart's fields first, each requested once: the
        # page's preloads were used (a preload not used would be a second request)
        assert series_fields(asked) == field_parts(field_catalog("thermia")), asked
        marks = page.evaluate("() => performance.getEntriesByType('mark').map(m => m.name)")
        assert marks.index("hp:first-chart") < marks.index("hp:charts-ready")
        assert page.get_attribute("button[data-range='24h']", "aria-pressed") == "true"
        # every chart is drawn on a canvas by uPlot (no other chart library on the page)
        assert page.evaluate("ids => ids.every(id => document.querySelector('#' + id + ' .uplot canvas'))", CHART_IDS)
        assert page.evaluate("() => typeof window.Plotly") == "undefined"
        # the delta T chart's lines and unit come from the derived values' definitions
        names, unit = page.evaluate("() => { const u = window.__charts.delta; "
                                    "return [u.series.slice(1).filter(s => s.class !== 'band').map(s => s.label), u.axes[1].label]; }")
        assert names == [DERIVED["delta_t_radiator"].description, DERIVED["delta_t_brine"].description]
        assert unit == DERIVED["delta_t_radiator"].unit == "K"
        ranges = x_range_ms(page)
        assert all(r == ranges[0] for r in ranges)  # one time axis
        assert span_h(ranges[0]) == pytest.approx(24, abs=0.05)
        # at most ~1,500 points per series (plus one null per real gap)
        assert page.evaluate("() => Math.max(...Object.values(window.__charts).map(u => u.data[0].length))") <= 1500 + 10
        # min-max bands: 30 s polls in longer buckets give the temperature lines a band
        assert page.evaluate("() => window.__charts.climate.bands.length") >= 1
        # statuses are step lines
        assert page.evaluate("() => window.__charts.status.series.slice(1).every(s => s.paths && s.paths.name !== 'linear')")
        # gaps only where data is missing: the store has none in the last 24 h but for the
        # collector's own start (history up to a minute ago, then its polls), so no more than a few
        nulls = page.evaluate("() => Object.values(window.__charts).map(u => u.data.slice(1)"
                              ".map(col => col.filter(v => v === null).length))")
        assert all(n <= 2 for chart in nulls for n in chart), nulls
        page.screenshot(path=str(SCREENSHOTS / "charts.png"), full_page=True)

        page.click("button[data-range='6h']")
        page.wait_for_function("() => window.__drawCount >= 2", timeout=30_000)
        assert "range=6h" in page.url
        after = x_range_ms(page)
        assert after != ranges and all(r == after[0] for r in after)
        assert span_h(after[0]) == pytest.approx(6, abs=0.05)
        for chart, lines, points in page.evaluate(LINES_JS, CHART_IDS):
            assert lines >= 1 and points > 10, (chart, lines, points)

        # zooming one chart moves all of them
        box = page.locator("#chart-climate .u-over").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
        page.wait_for_function("([ids, before]) => ids.every(id => window.__charts[id.replace('chart-', '')].scales.x.min !== before)",
                               arg=[CHART_IDS, after[0][0]])
        zoomed = x_range_ms(page)
        assert (zoomed[0][1] - zoomed[0][0]) / 3600e3 < 3
        assert all(abs(r[0] - zoomed[0][0]) <= 1 and abs(r[1] - zoomed[0][1]) <= 1 for r in zoomed), zoomed
        # Shift+drag pans: every chart moves by the same time, the span stays
        page.keyboard.down("Shift")
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
        page.keyboard.up("Shift")
        panned = x_range_ms(page)
        assert panned[0][0] < zoomed[0][0]
        assert panned[0][1] - panned[0][0] == pytest.approx(zoomed[0][1] - zoomed[0][0], abs=1)
        assert all(abs(r[0] - panned[0][0]) <= 1 and abs(r[1] - panned[0][1]) <= 1 for r in panned), panned
        # hovering one chart shows the values at that instant in every chart's legend
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
        page.wait_for_function("""ids => {
          const idx = ids.map(id => window.__charts[id.replace('chart-', '')].cursor.idx);
          return idx.every(i => i !== null && i !== undefined);
        }""", arg=CHART_IDS, timeout=5_000)
        times = page.evaluate("ids => ids.map(id => { const u = window.__charts[id.replace('chart-', '')]; "
                              "return u.data[0][u.cursor.idx]; })", CHART_IDS)
        assert max(times) - min(times) <= 120_000, times  # the same instant (within a bucket or two)
        values = page.evaluate("ids => ids.map(id => Array.from(document.querySelectorAll('#' + id + "
                               "' .u-legend .u-series:not(.band) .u-value')).map(e => e.textContent))", CHART_IDS)
        for chart, texts in zip(CHART_IDS, values):
            assert texts and all(t and t != "\u2013" for t in texts), (chart, texts)
        # double-click shows the whole chosen range again
        page.mouse.dblclick(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
        page.wait_for_function("ids => ids.every(id => { const x = window.__charts[id.replace('chart-', '')].scales.x; "
                               "return (x.max - x.min) > 5.9 * 3600e3; })", arg=CHART_IDS)
        w.check_clean()
    finally:
        w.close()


def test_a_zoom_and_reset_before_the_second_part_arrives(setup, browser):
    # the second part of the data held back: zoom the first chart, then reset; the charts
    # waiting for that part say so ("Loading"), never "No data", and are drawn when it comes
    base, (thermia, _) = setup["url"], setup["gateways"]
    w = Watched(browser, base.rstrip("/"))
    held: list[Route] = []
    second = field_parts(field_catalog("thermia"))[1]

    def hold(route: Route) -> None:
        if not held and series_fields([route.request.url]) == [second]:
            held.append(route)  # answered below
        else:
            route.continue_()

    try:
        page = w.page
        page.route("**/api/v1/series?**", hold)
        page.goto(f"{base}charts?gateway={thermia}&range=24h")
        page.wait_for_function("() => window.__firstChartMs !== undefined", timeout=30_000)
        assert held
        assert page.evaluate("() => Object.keys(window.__charts)") == ["climate"]
        assert page.inner_text("#chart-heating") == "Loading\u2026"
        box = page.locator("#chart-climate .u-over").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
        page.wait_for_function("() => { const x = window.__charts.climate.scales.x; return x.max - x.min < 8 * 3600e3; }")
        page.wait_for_timeout(600)  # the zoomed window's finer data (all fields) is asked for after 350 ms
        page.mouse.dblclick(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
        page.wait_for_function("() => { const x = window.__charts.climate.scales.x; return x.max - x.min > 23.9 * 3600e3; }")
        page.wait_for_timeout(300)
        texts = page.evaluate("() => Array.from(document.querySelectorAll('.chart-empty')).map(e => e.textContent)")
        assert not any("No data" in t for t in texts), texts
        held[0].continue_()
        page.wait_for_function("ids => ids.every(id => window.__charts[id.replace('chart-', '')]) && window.__drawCount >= 1",
                               arg=CHART_IDS, timeout=30_000)
        for chart, lines, points in page.evaluate(LINES_JS, CHART_IDS):
            assert lines >= 1 and points > 10, (chart, lines, points)
        assert page.evaluate(NAMES_JS) == expected_names("thermia")
        assert page.evaluate("() => document.querySelectorAll('.chart-empty').length") == 0
        ranges = x_range_ms(page)
        assert all(r == ranges[0] for r in ranges) and span_h(ranges[0]) == pytest.approx(24, abs=0.05)
        w.check_clean()
    finally:
        w.close()


def test_charts_follow_the_dark_colour_scheme(setup, browser):
    base, (thermia, _) = setup["url"], setup["gateways"]
    w = Watched(browser, base.rstrip("/"))
    try:
        w.page.emulate_media(color_scheme="dark")
        w.page.goto(f"{base}charts?gateway={thermia}&range=6h")
        w.page.wait_for_function("() => window.__drawCount >= 1", timeout=30_000)
        # the axes take the page's text colour (light on dark) from the CSS variables
        text = w.page.evaluate("() => getComputedStyle(document.documentElement).getPropertyValue('--text').trim()")
        assert text == "#e6edf3"
        assert w.page.evaluate("() => window.__charts.climate.axes[0].stroke(window.__charts.climate, 0)") == text
        w.page.emulate_media(color_scheme="light")
        w.page.wait_for_function("() => window.__charts.climate.axes[0].stroke(window.__charts.climate, 0) === '#1d2733'",
                                 timeout=10_000)
        w.check_clean()
    finally:
        w.close()


def test_docs_page_renders_the_api_from_openapi(setup, browser):
    w = Watched(browser, setup["url"].rstrip("/"))
    try:
        w.page.goto(setup["url"] + "docs")
        w.page.wait_for_selector(".endpoint")
        text = w.page.inner_text("#docs-endpoints")
        for path in ("/api/v1/gateways", "/api/v1/latest", "/api/v1/series"):
            assert path in text
        assert "points" in text and "fields" in text
        w.check_clean()
    finally:
        w.close()
