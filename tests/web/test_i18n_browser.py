"""The dashboard in Swedish and English in a real browser (the Chromium of test_browser.py):
two days of the simulator's thermia model, one snapshot a minute, in an embedded store.

Swedish: the overview, charts, daily and alerts pages have Swedish headings and navigation,
the time of the last snapshot in Swedish ("3 dec. 2026 14:05:00", 24 h), values with a decimal
comma, the scripts' own texts (data age, alarm, KPI cards, range info, table heads) in Swedish.
English: the same pages in English with a decimal point. The topbar's switch changes the
language and the choice holds on the next page without ``?lang=`` (the cookie); the switch
fits a 390 px wide screen. No console error, no request to another origin."""

from __future__ import annotations

import re
import time

import pytest

from heatpump_monitor.config import StoreConfig
from heatpump_monitor.model import Snapshot
from heatpump_monitor.simulator.model import PumpModel
from heatpump_monitor.web import DashboardThread
from tests.web.test_browser import SCREENSHOTS, Watched, browser, write  # noqa: F401  (browser: the one Chromium fixture)

pytestmark = pytest.mark.realserver

GW = "sim-thermia"
DAYS = 2
STEP_S = 60
# Intl's Swedish medium date and time: "3 dec. 2026 14:05:00" (maj/juni/juli have no dot)
SV_DATETIME = re.compile(r"\d{1,2} (jan|feb|mars|apr|maj|juni|juli|aug|sep|okt|nov|dec)\.? \d{4} \d{2}:\d{2}:\d{2}")
SV_DAY = re.compile(r"\d{1,2} (jan|feb|mars|apr|maj|juni|juli|aug|sep|okt|nov|dec)\.?")
SV_NUMBER = re.compile(r"[\u2212-]?\d+,\d")  # Swedish: a decimal comma (and a real minus sign)
EN_NUMBER = re.compile(r"-?\d+\.\d")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    store = tmp_path_factory.mktemp("i18n-browser") / "store.sqlite3"
    model = PumpModel("thermia", 7)
    now = int(time.time()) // STEP_S * STEP_S
    write(store, [Snapshot(GW, "thermia", "api", t * 1000, model.provider.decode_poll(model.raw_alldata(float(t))).values)
                  for t in range(now - DAYS * 86400, now + 1, STEP_S)])
    with DashboardThread(StoreConfig(kind="embedded", path=str(store)), language="en",
                         stale_after_s=10 * 86400) as url:
        yield url.rstrip("/")


def texts(page, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.textContent.trim())")


def overview(page, base: str, lang: str | None) -> None:
    page.goto(f"{base}/?gateway={GW}" + (f"&lang={lang}" if lang else ""))
    page.wait_for_function("() => document.querySelector('#gw-time').textContent !== '–'")


def test_the_overview_in_swedish(base, browser):
    w = Watched(browser, base)
    try:
        page = w.page
        overview(page, base, "sv")
        assert page.get_attribute("html", "lang") == "sv"
        assert texts(page, ".nav a")[:4] == ["Översikt", "Diagram", "Per dygn", "Aviseringar"]
        assert "Utomhus / inomhus" in texts(page, ".cards h2") and "Köldbärare" in texts(page, ".cards h2")
        assert SV_DATETIME.fullmatch(page.inner_text("#gw-time")), page.inner_text("#gw-time")
        outdoor = page.inner_text(".metric[data-field=outdoor_temp] .v")
        assert SV_NUMBER.fullmatch(outdoor), outdoor
        assert re.fullmatch(r"uppdaterad för \d+ (s|min)( \d+ s)? sedan", page.inner_text("#age-text")), page.inner_text("#age-text")
        assert page.inner_text("#alarm-text") in ("Inget larm",) or page.inner_text("#alarm-text").startswith("Larm: ")
        assert page.inner_text(".lamp[data-lamp=compressor] .l-state") in ("på", "av")
        # the KPI cards (summary.js)
        page.wait_for_selector("#kpis .card.kpi", timeout=30_000)
        assert texts(page, "#kpis .card.kpi h2") == ["I dag", "I går", "7 dagar", "30 dagar"]
        assert "Drifttid" in texts(page, "#kpis .kpi-label")
        assert page.title().startswith(("Översikt", outdoor.split(",")[0]))
        page.screenshot(path=str(SCREENSHOTS / "overview-sv.png"), full_page=True)
        w.check_clean()
    finally:
        w.close()


def test_the_charts_in_swedish(base, browser):
    w = Watched(browser, base)
    try:
        page = w.page
        page.goto(f"{base}/charts?gateway={GW}&range=24h&lang=sv")
        page.wait_for_function("() => document.body.dataset.chartsDrawn", timeout=30_000)
        titles = texts(page, ".chart-card h2")
        assert titles[:3] == ["Utomhus / inomhus", "Värmekrets", "Köldbärare"] and "Drift" in titles
        # the range: Swedish dates and times ("2 dec. 14:05 – 3 dec. 14:05 · en punkt per ...")
        info = page.inner_text("#range-info")
        assert len(SV_DAY.findall(info)) == 2 and ("en punkt per" in info or "varje avläsning" in info), info
        legend = texts(page, "#chart-heating .u-legend .u-label")
        assert "Framledning" in legend and "Retur" in legend and "Tid" in legend, legend
        # the time axis: Swedish (24 h clock or "3 dec."), never am/pm
        ticks = page.evaluate("() => window.__charts.climate.axes[0]._values.join(' ')")
        assert not re.search(r"\b(am|pm)\b", ticks, re.I) and re.search(r"\d{2}:\d{2}|dec|jan", ticks), ticks
        # the value axis: Swedish numbers (uPlot's own would follow the browser's English: "21.5")
        yticks = page.evaluate("() => window.__charts.climate.axes[1]._values")
        assert yticks and not any("." in v for v in yticks), yticks
        assert page.inner_text("button[type=submit]") == "Visa"
        w.check_clean()
    finally:
        w.close()


def test_the_daily_page_in_swedish(base, browser):
    w = Watched(browser, base)
    try:
        page = w.page
        page.goto(f"{base}/daily?gateway={GW}&days=14&lang=sv")
        page.wait_for_function("() => document.body.dataset.eventsDay", timeout=30_000)
        heads = texts(page, "#days thead th")
        assert heads[0] == "Dag" and "Starter" in heads and "Kortcykling" in heads, heads
        assert re.search(r"\d+ dagar?, \d{4}-\d\d-\d\d till", page.inner_text("#daily-info")), page.inner_text("#daily-info")
        cells = texts(page, "#days tbody td.num")
        assert any(SV_NUMBER.fullmatch(c.rstrip("*")) for c in cells), cells[:10]
        assert SV_DAY.search(texts(page, "#events-day")[0]), texts(page, "#events-day")  # (shown in capitals by CSS)
        kinds = texts(page, "#events tbody td:nth-child(2)")
        assert kinds and set(kinds) <= {"Kompressorn startade", "Kompressorn stoppade", "Tillsatsen på", "Tillsatsen av",
                                        "Varmvattenladdning startade", "Varmvattenladdning avslutad", "Larm",
                                        "Larm återställt", "Ingen data från gatewayen", "Data från gatewayen igen"}, kinds
        assert texts(page, "#bars-energy h2")[0].startswith("Energi (kWh): el in, värme ut")
        w.check_clean()
    finally:
        w.close()


def test_the_alerts_page_in_swedish(base, browser):
    w = Watched(browser, base)
    try:
        page = w.page
        page.goto(f"{base}/alerts?lang=sv")
        page.wait_for_function("() => document.body.dataset.alertsLoaded")
        assert texts(page, "main h2")[0] == "Aktiva aviseringar"
        assert page.inner_text("#alerts-active") == "Ingen aktiv avisering."
        info = page.inner_text("#alerts-rules-info")
        assert "Meddelanden på" in info and "alerts:-sektionen" in info, info
        assert page.inner_text("#alerts-test") == "Skicka testmeddelande"
        w.check_clean()
    finally:
        w.close()


def test_english_pages(base, browser):
    w = Watched(browser, base)
    try:
        page = w.page
        overview(page, base, "en")
        assert page.get_attribute("html", "lang") == "en"
        assert texts(page, ".nav a")[0] == "Overview" and "Outdoor / indoor" in texts(page, ".cards h2")
        assert EN_NUMBER.fullmatch(page.inner_text(".metric[data-field=outdoor_temp] .v"))
        assert page.inner_text("#age-text").startswith("updated ")
        page.goto(f"{base}/alerts")
        page.wait_for_function("() => document.body.dataset.alertsLoaded")
        assert page.inner_text("#alerts-active") == "No active alert."
        w.check_clean()
    finally:
        w.close()


def test_the_switch_changes_the_language_and_it_holds(base, browser):
    w = Watched(browser, base)
    try:
        page = w.page
        page.set_viewport_size({"width": 390, "height": 844})
        overview(page, base, None)
        assert page.get_attribute("html", "lang") == "en"
        # the switch fits a phone's width
        box = page.locator(".lang-switch").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        page.screenshot(path=str(SCREENSHOTS / "topbar-390.png"))
        page.click(".lang-switch a[data-lang=sv]")
        page.wait_for_function("() => document.documentElement.lang === 'sv'")
        assert f"gateway={GW}" in page.url  # the same view, in the other language
        assert texts(page, ".nav a")[0] == "Översikt"
        # the next page, without ?lang=: still Swedish (the cookie)
        page.click(".nav a[href^='/charts']")
        page.wait_for_function("() => document.body.dataset.page === 'charts'")
        assert page.get_attribute("html", "lang") == "sv" and "lang=" not in page.url
        assert texts(page, ".chart-card h2")[0] == "Utomhus / inomhus"
        page.click(".lang-switch a[data-lang=en]")
        page.wait_for_function("() => document.documentElement.lang === 'en'")
        assert "range=" in page.url or "gateway=" in page.url  # the query the script wrote is kept
        page.goto(f"{base}/daily")
        assert page.get_attribute("html", "lang") == "en" and texts(page, ".nav a")[2] == "Daily"
        w.check_clean()
    finally:
        w.close()


def test_the_pumps_alarm_text_in_the_pages_language(tmp_path, browser):
    """An active pump alarm (the alerts' state files of test_alerts_api): the overview's and the
    alerts page's items and the history show the brand's alarm text as the Swedish catalogue has
    it (context "alarm"; English where it has none yet)."""
    import httpx

    from heatpump_monitor.i18n import translator
    from tests.web.test_alerts_api import alerts_config, write_state

    store = tmp_path / "store.sqlite3"
    write(store, [Snapshot(GW, "thermia", "api", int(time.time() * 1000), {"outdoor_temp": 1.0})])
    state = str(tmp_path / "alerts")
    write_state(state)
    with DashboardThread(StoreConfig(kind="embedded", path=str(store)), alerts=alerts_config(state)) as url:
        base = url.rstrip("/")
        doc = httpx.get(base + "/api/v1/alerts", trust_env=False).json()
        alarm = next(a for a in doc["alerts"] if a["rule"] == "alarm")
        shown = "Larm: " + translator("sv").pgettext("alarm", alarm["text"])
        w = Watched(browser, base)
        try:
            page = w.page
            page.goto(f"{base}/alerts?lang=sv")
            page.wait_for_function("() => document.body.dataset.alertsLoaded")
            assert shown in texts(page, "#alerts-active .alert-item[data-rule=alarm] .alert-alarm")
            what = texts(page, "#alerts-history tr.notice td:nth-child(4)")
            assert any(t.startswith(("utlöst: ", "återställd: ")) and t.endswith(shown[len("Larm: "):]) for t in what), what
            page.goto(f"{base}/?lang=sv")
            page.wait_for_selector("#active-alerts .alert-item")
            assert texts(page, "#active-alerts h2") == ["2 aktiva aviseringar"]
            assert shown in texts(page, "#active-alerts .alert-alarm")
            w.check_clean()
        finally:
            w.close()
