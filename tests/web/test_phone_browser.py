"""The dashboard on a phone (issue 16): headless Chromium emulating a 390×844 screen at device
scale 3 with touch (Playwright's is_mobile), on the overview (with active alerts and KPI cards),
the alerts page, the daily page and the charts page.

Checks on each page: nothing wider than the screen (``document.scrollingElement.scrollWidth``
<= 390, and no element of the page sticks out past the right edge except inside a table's own
scroll box), the top bar's links, the gateway picker and the page's buttons are tap targets of at
least 32 px, the cards stack in one column, a wide table scrolls inside its box, the page's key
elements are visible; no console error, no request to another origin.

Data: two days of the simulator's Thermia model (as the collector stores it) and alert state
files with two active alerts. Screenshots (not committed): ``test-artifacts/screenshots/
phone-<page>.png``. Chromium: ``/usr/bin/chromium`` ($CHROMIUM_BIN); if it cannot start these
tests FAIL.
"""

from __future__ import annotations

import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from heatpump_monitor.config import AnalyticsConfig, StoreConfig
from heatpump_monitor.model import Snapshot
from heatpump_monitor.simulator.model import PumpModel
from heatpump_monitor.web import DashboardThread
from tests.web.test_alerts_api import alerts_config, write_state
from tests.web.test_api import TH
from tests.web.test_browser import SCREENSHOTS, Watched, browser, write  # noqa: F401  (browser: the one Chromium fixture)

pytestmark = pytest.mark.realserver

WIDTH, HEIGHT = 390, 844  # an iPhone 12-15's CSS pixels
MIN_TAP = 32  # px: the smallest tap target the issue accepts
DAYS = 2
STEP_S = 60

#: elements that stick out past the right edge of the screen, outside a box that scrolls itself
OVERFLOW_JS = """(width) => {
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (el.closest('.table-wrap')) continue;  // a table scrolls inside its own box
    if (r.right > width + 0.5 || r.left < -0.5) {
      out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${el.className} ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
  }
  return out.slice(0, 10);
}"""

#: visible interactive elements smaller than MIN_TAP in either direction
SMALL_TAPS_JS = """([selector, min]) => Array.from(document.querySelectorAll(selector))
  .filter(el => el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden')
  .map(el => { const r = el.getBoundingClientRect(); return [el.outerHTML.slice(0, 60), Math.round(r.width), Math.round(r.height)]; })
  .filter(([, w, h]) => w < min || h < min)"""

TAPS = "header a, header select, header button, main button, main select, main input, .presets button"


def fill(path: Path) -> None:
    """``DAYS`` days of snapshots every minute up to now, from the simulator's model."""
    model = PumpModel("thermia", 7)
    now = int(time.time()) // STEP_S * STEP_S
    write(path, [Snapshot(TH, "thermia", "api", t * 1000, model.provider.decode_poll(model.raw_alldata(float(t))).values)
                 for t in range(now - DAYS * 86400, now, STEP_S)])


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("browser-phone")
    store = base / "store.sqlite3"
    fill(store)
    state = str(base / "alerts")
    write_state(state)
    with DashboardThread(StoreConfig(kind="embedded", path=str(store)), alerts=alerts_config(state),
                         analytics=AnalyticsConfig(tz=ZoneInfo("Europe/Stockholm"))) as url:
        yield url


class Phone(Watched):
    """Watched's checks (console errors, failed and foreign requests) on a phone-sized page."""

    def __init__(self, browser, base: str) -> None:  # noqa: F811  (browser: the fixture's value)
        self.context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=3,
                                           is_mobile=True, has_touch=True)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("requestfailed", lambda r: None if r.failure == "net::ERR_ABORTED"
                     else self.errors.append(f"request failed: {r.url} {r.failure}"))
        self.page.on("request", lambda r: None if r.url.startswith((base, "data:")) else self.foreign.append(r.url))


def check_fits(w: Phone, name: str) -> None:
    page = w.page
    over = page.evaluate(OVERFLOW_JS, WIDTH)
    assert over == [], f"{name}: " + "; ".join(over)
    scroll_width = page.evaluate("() => document.scrollingElement.scrollWidth")
    assert scroll_width <= WIDTH, (name, scroll_width)
    # a page wider than the screen makes a phone zoom out: the layout viewport grows with it
    assert page.evaluate("() => window.innerWidth") == WIDTH, name
    small = page.evaluate(SMALL_TAPS_JS, [TAPS, MIN_TAP])
    assert small == [], (name, small)
    # the top bar: every link on screen, and it takes no more than a quarter of the height
    for link in page.locator(".topbar .nav a").all():
        box = link.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, (name, link.inner_text(), box)
    bar = page.locator(".topbar").bounding_box()
    assert bar and bar["height"] <= HEIGHT / 4, (name, bar)
    page.screenshot(path=str(SCREENSHOTS / f"phone-{name}.png"), full_page=True)


def one_column(page, selector: str) -> None:
    """The cards under ``selector`` stack: each starts at the same x and none is beside another."""
    boxes = [b for b in (c.bounding_box() for c in page.locator(selector).all()) if b]
    assert len(boxes) >= 2, selector
    assert len({round(b["x"]) for b in boxes}) == 1, (selector, boxes)
    assert all(b["width"] >= WIDTH - 48 for b in boxes), (selector, boxes)


def test_overview_fits_a_phone(setup, browser):
    w = Phone(browser, setup.rstrip("/"))
    try:
        page = w.page
        page.goto(f"{setup}?gateway={TH}")
        page.wait_for_function("() => document.querySelector('#gw-name').textContent !== '–'", timeout=30_000)
        page.wait_for_selector("#active-alerts .alert-item", timeout=30_000)
        page.wait_for_selector("#kpis .card", timeout=30_000)
        for sel in ("#gw-name", "#active-alerts", "#kpis", ".metric[data-field=outdoor_temp] .v", "#alarm-text"):
            assert page.locator(sel).first.is_visible(), sel
        one_column(page, ".cards > .card")
        one_column(page, "#kpis > .card")
        page.click(".all-values summary")
        wrap = page.locator(".all-values .table-wrap")
        assert wrap.bounding_box()["width"] <= WIDTH  # type: ignore[index]
        check_fits(w, "overview")
        w.check_clean()
    finally:
        w.close()


def test_alerts_page_fits_a_phone(setup, browser):
    w = Phone(browser, setup.rstrip("/"))
    try:
        page = w.page
        page.goto(f"{setup}alerts?gateway={TH}")
        page.wait_for_function("() => document.body.dataset.alertsLoaded === '1'", timeout=30_000)
        page.wait_for_selector("#alerts-history tbody tr", timeout=30_000)
        for sel in ("#alerts-active .alert-item", "#alerts-history", "#alerts-rules", "#alerts-test"):
            assert page.locator(sel).first.is_visible(), sel
        # the history's five columns are wider than a phone: they scroll inside their box
        wrap = page.locator("#alerts-history").locator("xpath=..")
        sizes = wrap.evaluate("el => [el.clientWidth, el.scrollWidth, getComputedStyle(el).overflowX]")
        assert sizes[0] <= WIDTH and sizes[2] == "auto", sizes
        check_fits(w, "alerts")
        w.check_clean()
    finally:
        w.close()


def test_daily_page_fits_a_phone(setup, browser):
    w = Phone(browser, setup.rstrip("/"))
    try:
        page = w.page
        page.goto(f"{setup}daily?gateway={TH}&days=14")
        page.wait_for_function("() => document.body.dataset.dailyDrawn >= 1 && document.body.dataset.eventsDay",
                               timeout=30_000)
        for sel in ("#daily-charts canvas", "#days tr.day-row", "#events tr.event", "button[data-days='14']"):
            assert page.locator(sel).first.is_visible(), sel
        one_column(page, "#daily-charts > .card")
        # a bar chart is as wide as its card, not the desktop's width
        canvas = page.locator("#daily-charts canvas").first.bounding_box()
        assert canvas and canvas["width"] <= WIDTH, canvas
        check_fits(w, "daily")
        w.check_clean()
    finally:
        w.close()


def test_charts_page_fits_a_phone(setup, browser):
    w = Phone(browser, setup.rstrip("/"))
    try:
        page = w.page
        page.goto(f"{setup}charts?gateway={TH}&range=24h")
        page.wait_for_function("() => window.__drawCount >= 1", timeout=30_000)
        for sel in (".chart canvas", "button[data-range='24h']", "#range-from"):
            assert page.locator(sel).first.is_visible(), sel
        one_column(page, "#charts > .card")
        check_fits(w, "charts")
        w.check_clean()
    finally:
        w.close()
