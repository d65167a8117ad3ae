"""Alerts in a real browser (headless Debian Chromium, Playwright): the overview lists the
active alerts above the cards (and shows nothing when there are none); /alerts shows the active
alerts, their history, the configured rules and the delivery targets redacted, and its button
sends a test message through a real local HTTP receiver, showing each target's result (and the
rate limit's answer when pressed again at once). State files written by AlertEngine+AlertStore.

Screenshots (not committed): ``test-artifacts/screenshots/alerts-overview.png``, ``alerts.png``.
Chromium: ``/usr/bin/chromium`` ($CHROMIUM_BIN); if it cannot start these tests FAIL.
"""

from __future__ import annotations

import time

import pytest

from heatpump_monitor.alerts import RULES
from heatpump_monitor.config import StoreConfig
from heatpump_monitor.model import Snapshot
from heatpump_monitor.web import DashboardThread
from tests.alerts.test_notify import HttpReceiver
from tests.alerts.test_rules import HEALTHY
from tests.web.test_alerts_api import OTHER, PASSWORD, TOKEN, alerts_config, write_state
from tests.web.test_api import TH
from tests.web.test_browser import SCREENSHOTS, Watched, browser, write  # noqa: F401  (browser: the one Chromium fixture)

pytestmark = pytest.mark.realserver


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("browser-alerts")
    store = base / "store.sqlite3"
    now = int(time.time()) // 60 * 60
    write(store, [Snapshot(TH, "thermia", "api", (now - 60 * i) * 1000, dict(HEALTHY["thermia"])) for i in range(30)])
    state = str(base / "alerts")
    write_state(state)
    receiver = HttpReceiver()
    url = f"json://alice:{PASSWORD}@127.0.0.1:{receiver.port}/{TOKEN}"
    store_cfg = StoreConfig(kind="embedded", path=str(store))
    with DashboardThread(store_cfg, alerts=alerts_config(state, (url,))) as with_alerts, \
            DashboardThread(store_cfg, alerts=alerts_config(str(base / "none"))) as without:
        yield {"url": with_alerts, "quiet": without, "receiver": receiver}
    receiver.stop()


def test_overview_lists_the_active_alerts_above_the_cards(setup, browser):
    w = Watched(browser, setup["url"].rstrip("/"))
    try:
        page = w.page
        page.goto(f"{setup['url']}?gateway={TH}")
        page.wait_for_selector("#active-alerts .alert-item", timeout=30_000)
        assert page.inner_text("#active-alerts h2") == "2 active alerts"
        items = page.eval_on_selector_all("#active-alerts .alert-item",
                                          "ls => ls.map(l => [l.dataset.gateway, l.dataset.rule, l.innerText])")
        assert [(g, r) for g, r, _ in items] == [(OTHER, "alarm"), (TH, "hot_water")]
        assert "hot water 35 °C, below 40 °C since" in items[1][2] and f"Heat pump {TH}" in items[1][2]
        # above the cards, and the page's own values still load
        above = page.evaluate("() => document.querySelector('#active-alerts').compareDocumentPosition("
                              "document.querySelector('.cards')) & Node.DOCUMENT_POSITION_FOLLOWING")
        assert above
        page.wait_for_function("() => document.querySelector('#gw-name').textContent !== '–'")
        page.screenshot(path=str(SCREENSHOTS / "alerts-overview.png"), full_page=True)
        page.click("#active-alerts h2 a")
        page.wait_for_url("**/alerts*")
        w.check_clean()
    finally:
        w.close()
    quiet = Watched(browser, setup["quiet"].rstrip("/"))
    try:
        quiet.page.goto(f"{setup['quiet']}?gateway={TH}")
        quiet.page.wait_for_function("() => document.body.dataset.alertsLoaded === '1'", timeout=30_000)
        assert quiet.page.locator("#active-alerts").is_hidden()  # no alert: nothing at all
        quiet.check_clean()
    finally:
        quiet.close()


def test_alerts_page_lists_alerts_history_rules_and_sends_a_test_message(setup, browser):
    w = Watched(browser, setup["url"].rstrip("/"))
    receiver = setup["receiver"]
    try:
        page = w.page
        page.goto(f"{setup['url']}alerts")
        page.wait_for_function("() => document.body.dataset.alertsLoaded === '1'", timeout=30_000)
        assert page.get_attribute("nav a[href^='/alerts']", "aria-current") == "page"
        assert page.locator("#alerts-active .alert-item").count() == 2
        kinds = page.eval_on_selector_all("#alerts-history tr.notice", "rs => rs.map(r => r.dataset.kind)")
        assert kinds == ["resolved", "fired", "fired", "fired"]
        assert "cleared" in page.inner_text("#alerts-history tr.notice:first-child")
        rules = page.eval_on_selector_all("#alerts-rules tbody tr", "rs => rs.map(r => r.dataset.rule)")
        assert tuple(rules) == RULES
        assert "below_c 40" in page.inner_text("#alerts-rules tr[data-rule=hot_water]")
        assert page.inner_text("#alerts-targets") == "1 json://***"
        # the test message: delivered to the receiver, the result shown per target
        page.click("#alerts-test")
        page.wait_for_function("() => document.body.dataset.testState", timeout=30_000)
        assert page.evaluate("() => document.body.dataset.testState") == "ok"
        assert page.inner_text("#alerts-test-results li.ok") == "1 json://***: delivered"
        assert len(receiver.requests) == 1 and "test" in receiver.requests[0][2]
        page.evaluate("() => window.scrollTo(0, 0)")  # the sticky top bar where it belongs in the picture
        page.screenshot(path=str(SCREENSHOTS / "alerts.png"), full_page=True)
        # at once again: the rate limit answers, nothing sent
        page.click("#alerts-test")
        page.wait_for_function("() => document.body.dataset.testState === 'error'", timeout=30_000)
        assert "retry in" in page.inner_text("#alerts-test-status")
        assert len(receiver.requests) == 1
        html = page.content()
        assert PASSWORD not in html and TOKEN not in html
        # the 429 is a failed request in the console: expected here, nothing else
        assert all("429" in e for e in w.errors), w.errors
        assert not w.foreign, w.foreign
    finally:
        w.close()
