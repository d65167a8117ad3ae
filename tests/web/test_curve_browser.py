"""The heat-curve and heat-signature pages in a real browser (headless Debian Chromium,
Playwright) on five days of the simulator's Thermia and NIBE models up to now (decoded through
the provider, as the collector stores them).

Checks: /heatcurve draws its scatter (a uPlot canvas) with points by state, the configured
curve and the fitted line as series with data, the operating point, the indoor chart, and a
hint in words with numbers; the day presets ask again; /signature draws the days, the fitted
line and the balance point, and a second period when one is picked; at 390 px wide neither page
scrolls sideways and the charts fit the screen; in Swedish (?lang=sv, then the cookie) the hints, legends and buttons are Swedish; no console error, no request to another origin.

Screenshots (not committed): ``test-artifacts/screenshots/heatcurve.png``, ``heatcurve-390.png``,
``signature.png``. Chromium: ``/usr/bin/chromium`` ($CHROMIUM_BIN); if it cannot start these
tests FAIL.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from heatpump_monitor.config import AnalyticsConfig, StoreConfig
from heatpump_monitor.model import Snapshot
from heatpump_monitor.simulator.model import PumpModel
from heatpump_monitor.web import DashboardThread
from tests.web.test_browser import SCREENSHOTS, Watched, browser, write  # noqa: F401  (browser: the one Chromium fixture)

pytestmark = pytest.mark.realserver

GWS = {"sim-thermia": "thermia", "sim-nibe": "nibe"}
DAYS = 5
STEP_S = 120
TZ = ZoneInfo("Europe/Stockholm")


def fill(path: Path) -> None:
    now = int(time.time()) // STEP_S * STEP_S
    snaps = []
    for gw, brand in GWS.items():
        model = PumpModel(brand, 7)
        snaps += [Snapshot(gw, brand, "api", t * 1000, model.provider.decode_poll(model.raw_alldata(float(t))).values)
                  for t in range(now - DAYS * 86400, now, STEP_S)]
    write(path, snaps)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    store = tmp_path_factory.mktemp("browser-curve") / "store.sqlite3"
    fill(store)
    with DashboardThread(StoreConfig(kind="embedded", path=str(store)), analytics=AnalyticsConfig(tz=TZ)) as url:
        yield url


# what the page's plots hold: each group's key and how many points it has data for
PLOT_GROUPS = """id => {
  const p = window.__curvePlots && window.__curvePlots[id];
  if (!p) return null;
  return p.groups.map((g, i) => ({key: g.key, n: p.data[i + 1].filter(v => v !== null).length,
                                  canvas: !!p.root.querySelector('canvas'), width: p.width}));
}"""


def groups(page, chart: str) -> dict[str, int]:
    got = page.evaluate(PLOT_GROUPS, chart)
    assert got and all(g["canvas"] for g in got)
    return {g["key"]: g["n"] for g in got}


def no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for w in page.evaluate("Object.values(window.__curvePlots).map(p => p.width)"):
        assert w <= width


@pytest.mark.parametrize("gateway", sorted(GWS))
def test_the_heat_curve_page_draws_curve_fit_and_hint(setup, browser, gateway):
    w = Watched(browser, setup.rstrip("/"))
    try:
        page = w.page
        page.goto(f"{setup}heatcurve?gateway={gateway}")
        page.wait_for_function("() => document.querySelector('#curve-hint').textContent.length > 20", timeout=30_000)
        g = groups(page, "curve-chart")
        assert g["heating"] > 50 and g["configured"] >= 10 and g["fit"] == 2 and g["now"] == 1, g
        assert {"hot_water"} <= set(g), g  # the simulated tank is charged a few times a day
        assert groups(page, "indoor-chart")["heating"] > 50
        hint = page.inner_text("#curve-hint")
        assert "°C" in hint and any(c.isdigit() for c in hint), hint
        legend = page.inner_text("#curve-legend")
        assert "Configured curve" in legend and "Fitted line" in legend
        page.click("summary#curve-about-title")
        assert "Source:" in page.inner_text("#curve-about")
        if gateway == "sim-thermia":
            page.screenshot(path=str(SCREENSHOTS / "heatcurve.png"), full_page=True)
        # another preset asks again and says so in the address
        with page.expect_response(lambda r: "/api/v1/heatcurve" in r.url and "since=7d" in r.url):
            page.click("#curve-days button[data-days='7']")
        assert "since=7d" in page.url
        assert page.get_attribute("#curve-days button[data-days='7']", "aria-pressed") == "true"
        w.check_clean()
    finally:
        w.close()


def test_the_signature_page_draws_days_fit_balance_point_and_a_second_period(setup, browser):
    w = Watched(browser, setup.rstrip("/"))
    try:
        page = w.page
        page.goto(f"{setup}signature?gateway=sim-thermia")
        page.wait_for_function("() => document.querySelector('#sig-hint').textContent.length > 20", timeout=30_000)
        g = groups(page, "sig-chart")
        assert g["days"] >= 3 and g["fit"] == 2 and g["balance"] == 1, g
        assert "Balance point" in page.inner_text("#sig-hint")
        page.screenshot(path=str(SCREENSHOTS / "signature.png"), full_page=True)
        # compare the last three days with the two before
        today = date.today()
        page.fill("#sig-from", (today - timedelta(days=2)).isoformat())
        page.fill("#sig-cmp-from", (today - timedelta(days=4)).isoformat())
        page.fill("#sig-cmp-to", (today - timedelta(days=3)).isoformat())
        with page.expect_response(lambda r: "/api/v1/signature" in r.url and "compare_from" in r.url):
            page.click("#sig-show")
        page.wait_for_function("() => window.__curvePlots['sig-chart'].groups.filter(g => g.key === 'days').length === 2")
        assert "compare_from=" in page.url
        w.check_clean()
    finally:
        w.close()


@pytest.mark.parametrize("name", ["heatcurve", "signature"])
def test_the_pages_fit_a_phone(setup, browser, name):
    w = Watched(browser, setup.rstrip("/"))
    w.context.close()
    w.context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                    has_touch=True)
    w.page = w.context.new_page()
    w.page.on("pageerror", lambda e: w.errors.append(f"pageerror: {e}"))
    try:
        page = w.page
        page.goto(f"{setup}{name}?gateway=sim-thermia")
        hint = "#curve-hint" if name == "heatcurve" else "#sig-hint"
        page.wait_for_function(f"() => document.querySelector('{hint}').textContent.length > 20", timeout=30_000)
        no_sideways_scroll(page)
        if name == "heatcurve":
            page.screenshot(path=str(SCREENSHOTS / "heatcurve-390.png"), full_page=True)
        # turned sideways and back: the charts follow
        page.set_viewport_size({"width": 844, "height": 390})
        page.wait_for_function("() => Object.values(window.__curvePlots).every(p => p.width > 500)")
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_function("() => Object.values(window.__curvePlots).every(p => p.width <= 390)")
        no_sideways_scroll(page)
        assert not w.errors, w.errors
    finally:
        w.close()


def test_the_pages_speak_swedish(setup, browser):
    w = Watched(browser, setup.rstrip("/"))
    try:
        page = w.page
        page.goto(f"{setup}heatcurve?gateway=sim-nibe&lang=sv")
        page.wait_for_function("() => document.querySelector('#curve-hint').textContent.length > 20", timeout=30_000)
        assert page.inner_text("#curve-hint").startswith("Vid "), page.inner_text("#curve-hint")
        legend = page.inner_text("#curve-legend")
        assert "Inställd kurva" in legend and "Värme" in legend and "Anpassad linje" in legend, legend
        assert page.inner_text("#curve-days button[data-days='30']") == "Senaste 30 dagarna"
        assert "," in page.inner_text("#curve-hint")  # Swedish decimals: 44,5 °C
        page.goto(f"{setup}signature?gateway=sim-nibe")  # the cookie keeps the choice
        page.wait_for_function("() => document.querySelector('#sig-hint').textContent.length > 20", timeout=30_000)
        assert page.inner_text("#sig-hint").startswith("Balanspunkt "), page.inner_text("#sig-hint")
        assert page.inner_text("#sig-show") == "Visa"
        w.check_clean()
    finally:
        w.close()
