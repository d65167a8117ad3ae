"""The owners' figures in a real browser (headless Debian Chromium, Playwright): the overview's
KPI cards and the daily page's bars, days table and event log, on three days of the simulator's
Thermia model (decoded through the provider, as the collector stores it) up to now.

Checks: the overview shows four KPI cards (today, yesterday, 7 days, 30 days) with numbers,
energy marked measured or estimated and the COP "est."; /daily draws every bar chart (uPlot
canvases with bars for each day that has data), lists the days and the chosen day's events,
a click on another day's bar loads that day's events, the CSV links download what they say;
dark mode takes the page's colours; no console error, no request to another origin.

Screenshots (not committed): ``test-artifacts/screenshots/kpis.png`` and ``daily.png``.
Chromium: ``/usr/bin/chromium`` ($CHROMIUM_BIN); if it cannot start these tests FAIL.
"""

from __future__ import annotations

import time
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from heatpump_monitor.config import AnalyticsConfig, StoreConfig
from heatpump_monitor.model import Snapshot
from heatpump_monitor.simulator.model import PumpModel
from heatpump_monitor.web import DashboardThread
from tests.web.test_browser import SCREENSHOTS, Watched, browser, write  # noqa: F401  (browser: the one Chromium fixture)

pytestmark = pytest.mark.realserver

GW = "sim-thermia"
DAYS = 3
STEP_S = 60
TZ = ZoneInfo("Europe/Stockholm")
BAR_CHARTS = ["energy", "cop", "starts", "runtime", "outdoor"]


def fill(path: Path) -> None:
    """``DAYS`` days of snapshots every minute up to now, from the simulator's model."""
    model = PumpModel("thermia", 7)
    now = int(time.time()) // STEP_S * STEP_S
    snaps = [Snapshot(GW, "thermia", "api", t * 1000, model.provider.decode_poll(model.raw_alldata(float(t))).values)
             for t in range(now - DAYS * 86400, now, STEP_S)]
    write(path, snaps)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    store = tmp_path_factory.mktemp("browser-summary") / "store.sqlite3"
    fill(store)
    with DashboardThread(StoreConfig(kind="embedded", path=str(store)), analytics=AnalyticsConfig(tz=TZ)) as url:
        yield url


def test_overview_shows_kpi_cards(setup, browser):
    w = Watched(browser, setup.rstrip("/"))
    try:
        page = w.page
        page.goto(f"{setup}?gateway={GW}")
        page.wait_for_selector("#kpis .card.kpi", timeout=30_000)
        titles = page.eval_on_selector_all("#kpis .card.kpi h2", "hs => hs.map(h => h.textContent)")
        assert titles == ["Today", "Yesterday", "7 days", "30 days"]
        for card in range(4):
            sel = f"#kpis .card.kpi:nth-child({card + 1})"
            runtime = page.inner_text(f"{sel} [data-key=compressor_runtime_h] .v")
            starts = page.inner_text(f"{sel} [data-key=compressor_starts] .v")
            energy = page.inner_text(f"{sel} [data-key=energy_kwh] .v")
            assert float(runtime.replace(",", "")) > 0 and int(starts.replace(",", "")) > 0, (card, runtime, starts)
            assert float(energy.replace(",", "")) > 0
            # every figure says how it was found: energy measured or estimated, the COP "est."
            assert page.inner_text(f"{sel} [data-key=energy_kwh] .badge") in ("measured", "estimated")
            assert page.inner_text(f"{sel} [data-key=cop] .badge") == "est."
            assert page.inner_text(f"{sel} [data-key=cost] .u") == "SEK"
            assert page.get_attribute(f"{sel} .kpi-flag", "data-state") in ("yes", "no")
        # the numbers are the API's
        kpis = page.evaluate("() => window.__kpis")
        doc = httpx.get(f"{setup}api/v1/summary", params={"gateway": GW, "since": "2d"}, trust_env=False).json()
        assert kpis["yesterday"]["compressor_starts"] == doc["periods"][0]["compressor_starts"]
        assert page.inner_text("#kpis .card.kpi:nth-child(2) [data-key=compressor_starts] .v") == \
            f"{doc['periods'][0]['compressor_starts']:,}"
        page.screenshot(path=str(SCREENSHOTS / "kpis.png"), full_page=True)
        w.check_clean()
    finally:
        w.close()


BARS_JS = """ids => ids.map(id => {
  const u = window.__daily.charts[id];
  const filled = u.data.slice(1).map(col => col.filter(v => v !== null && v !== undefined).length);
  return [id, u.data[0].length, filled, !!u.root.querySelector('canvas')];
})"""


def test_daily_page_draws_bars_and_lists_events(setup, browser):
    w = Watched(browser, setup.rstrip("/"))
    try:
        page = w.page
        page.goto(f"{setup}daily?gateway={GW}&days=14")
        page.wait_for_function("() => document.body.dataset.dailyDrawn >= 1 && document.body.dataset.eventsDay",
                               timeout=30_000)
        assert page.get_attribute("button[data-days='14']", "aria-pressed") == "true"
        for chart, n_days, filled, canvas in page.evaluate(BARS_JS, BAR_CHARTS):
            assert canvas and n_days == 14, (chart, n_days)
            # DAYS days of data (the first one partly, plus today): bars on 3 or 4 days, none on the others
            assert all(3 <= f <= DAYS + 1 for f in filled), (chart, filled)
        # the bars are really painted: the plot's canvas has pixels of the bars' colour
        painted = page.evaluate("""() => { const u = window.__daily.charts.starts; const c = u.ctx;
            const d = c.getImageData(0, 0, u.ctx.canvas.width, u.ctx.canvas.height).data; let n = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] === 0x70 && d[i + 1] === 0x48 && d[i + 2] === 0xe8) n++;
            return n; }""")
        assert painted > 100, painted
        # days table: one row per day, estimated figures marked
        assert page.locator("#days tr.day-row").count() == 14
        assert page.locator("#days td.est").count() >= 3  # the COP of each day with data
        # the event log of the last day (today)
        rows = page.locator("#events tr.event")
        assert rows.count() > 5
        kinds = set(page.eval_on_selector_all("#events tr.event", "rs => rs.map(r => r.dataset.kind)"))
        assert {"compressor_on", "compressor_off"} <= kinds, kinds
        today = page.evaluate("() => document.body.dataset.eventsDay")
        # a click on yesterday's bar shows yesterday's events
        u_box = page.locator("#bars-starts .u-over").bounding_box()
        x = page.evaluate("() => { const u = window.__daily.charts.starts; return u.valToPos(u.data[0][12], 'x'); }")
        page.mouse.move(u_box["x"] + x, u_box["y"] + u_box["height"] - 5)
        page.mouse.click(u_box["x"] + x, u_box["y"] + u_box["height"] - 5)
        page.wait_for_function("day => document.body.dataset.eventsDay !== day", arg=today, timeout=10_000)
        yesterday = page.evaluate("() => document.body.dataset.eventsDay")
        assert yesterday < today and f"day={yesterday}" in page.url
        assert page.locator("#events tr.event").count() > 5
        ev = page.evaluate("() => window.__daily.events")
        assert ev["start"].startswith(yesterday)
        # the CSV links download what they say
        for link, first in (("#csv-days", "gateway,source,start,end"), ("#csv-hours", "gateway,source,start,end"),
                            ("#csv-events", "gateway,source,time"), ("#csv-series", "time,time_ms,")):
            href = page.get_attribute(link, "href")
            resp = httpx.get(setup.rstrip("/") + href, trust_env=False, timeout=30)
            assert resp.status_code == 200 and resp.text.startswith(first), (link, resp.status_code, resp.text[:200])
        hours = httpx.get(setup.rstrip("/") + page.get_attribute("#csv-hours", "href"), trust_env=False).text
        assert len(hours.strip().splitlines()) == 1 + 24 and f"{yesterday}T" in hours
        page.screenshot(path=str(SCREENSHOTS / "daily.png"), full_page=True)
        w.check_clean()
    finally:
        w.close()


def test_daily_page_follows_the_dark_colour_scheme(setup, browser):
    w = Watched(browser, setup.rstrip("/"))
    try:
        w.page.emulate_media(color_scheme="dark")
        w.page.goto(f"{setup}daily?gateway={GW}")
        w.page.wait_for_function("() => document.body.dataset.dailyDrawn >= 1", timeout=30_000)
        text = w.page.evaluate("() => getComputedStyle(document.documentElement).getPropertyValue('--text').trim()")
        assert text == "#e6edf3"
        assert w.page.evaluate("() => { const u = window.__daily.charts.energy; return u.axes[0].stroke(u, 0); }") == text
        assert w.page.evaluate("() => getComputedStyle(document.querySelector('.card')).backgroundColor") == "rgb(24, 32, 41)"
        w.check_clean()
    finally:
        w.close()
