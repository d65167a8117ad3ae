"""The dashboard's pages in Swedish and English over real HTTP (a DashboardThread on loopback
over an embedded store with one thermia gateway): every page answers ``?lang=sv`` with
``<html lang="sv">``, Swedish navigation, the Swedish catalogue for its scripts and none of a
list of English texts the page shows; ``?lang=sv`` sets the ``lang`` cookie (a year, Path=/,
SameSite=Lax) and the next request without it is Swedish too; ``?lang=en`` overrides the cookie;
Accept-Language chooses when neither is there, then the configured default; pages say
``Vary: Accept-Language, Cookie``; an unknown ``?lang=`` shows a page and sets no cookie."""

from __future__ import annotations

import html
import json
import re
import time

import httpx
import pytest

from heatpump_monitor.config import StoreConfig
from heatpump_monitor.model import Snapshot
from heatpump_monitor.web import DashboardThread
from tests.web.test_browser import write

PAGES = ["/", "/charts", "/daily", "/alerts", "/docs"]
SV_NAV = ["Översikt", "Diagram", "Per dygn", "Aviseringar"]
# English texts of the pages (not of the data): none may be left on a Swedish page
ENGLISH = ["Overview", "Charts", "Daily", "Outdoor / indoor", "Heating circuit", "Hot water", "Brine in",
           "Compressor", "Radiator pump", "Switch valve", "Additional heat", "Last snapshot", "Heat pump",
           "waiting for data", "All values of the latest snapshot", "Active alerts", "History", "Rules",
           "Delivery", "Send test message", "Thresholds", "Time range", "Range presets", "Drag to zoom",
           "Download the shown range", "Days shown", "hours of the day", "Event log", "Duration", "Details",
           "Read-only", "Loading", "JSON API", "Operation", "Forward", "Return", "Setpoint"]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    store = tmp_path_factory.mktemp("i18n") / "store.sqlite3"
    now = int(time.time() * 1000)
    write(store, [Snapshot("gw1", "thermia", "api", now - 30_000 * i,
                           {"outdoor_temp": -3.5, "radiator_forward": 35.2, "compressor": 1.0})
                  for i in range(3)])
    with DashboardThread(StoreConfig(kind="embedded", path=str(store)), language="en") as url:
        yield url.rstrip("/")


def visible_text(page: str) -> str:
    """What a reader sees: no script, no tag, entities decoded."""
    page = re.sub(r"<script\b.*?</script>", " ", page, flags=re.S)
    page = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(page)


def vary(r: httpx.Response) -> set[str]:
    return {v.strip().lower() for v in r.headers.get("vary", "").split(",")}  # (+ Accept-Encoding: gzip)


def catalogue(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="i18n">(.*?)</script>', page, re.S)
    assert m, "no #i18n catalogue in the page"
    return json.loads(m.group(1))


@pytest.mark.parametrize("path", PAGES)
def test_every_page_in_swedish(base, path):
    r = httpx.get(base + path, params={"lang": "sv"})
    assert r.status_code == 200
    assert '<html lang="sv">' in r.text
    assert vary(r) >= {"accept-language", "cookie"} and r.headers["content-language"] == "sv"
    text = visible_text(r.text)
    for word in SV_NAV:
        assert word in text, word
    left = [w for w in ENGLISH if re.search(r"(?<![\w-])" + re.escape(w) + r"(?![\w-])", text)]
    assert not left, f"English left on the Swedish {path}: {left}"
    messages = catalogue(r.text)
    assert messages["Loading\u2026"] == "Läser in\u2026" and messages["{n} active alert"][1] == "{n} aktiva aviseringar"
    # i18n.js first: every other script of the page may call _()
    scripts = re.findall(r'<script defer src="/static/([^"?]+)', r.text)
    assert scripts[0] == "i18n.js" and len(scripts) > 1
    # the switch: both languages, Swedish marked, each link keeping the query
    assert re.search(r'<a href="' + re.escape(path) + r'\?lang=sv"[^>]*aria-current="true"[^>]*>SV</a>', r.text)
    assert re.search(r'<a href="' + re.escape(path) + r'\?lang=en"[^>]*>EN</a>', r.text)
    assert 'title="Svenska"' in r.text and 'title="English"' in r.text  # each language in its own words


@pytest.mark.parametrize("path", PAGES)
def test_every_page_in_english(base, path):
    r = httpx.get(base + path)
    assert '<html lang="en">' in r.text and vary(r) >= {"accept-language", "cookie"}
    assert "Overview" in visible_text(r.text) and "Översikt" not in visible_text(r.text)
    assert catalogue(r.text) == {}
    assert "set-cookie" not in r.headers  # no choice made: nothing to keep


def test_the_switch_sets_the_cookie_and_it_is_honoured(base):
    with httpx.Client(base_url=base) as client:
        r = client.get("/charts", params={"lang": "sv", "gateway": "gw1", "range": "7d"})
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("lang=sv;")
        assert "Max-Age=31536000" in cookie and "Path=/" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        # the switch's links keep the page's query
        assert 'href="/charts?gateway=gw1&amp;range=7d&amp;lang=en"' in r.text
        r = client.get("/daily")  # no ?lang=: the cookie
        assert '<html lang="sv">' in r.text and "Per dygn" in r.text
        r = client.get("/", params={"lang": "en"})  # ?lang= overrides the cookie, and replaces it
        assert '<html lang="en">' in r.text and r.headers["set-cookie"].startswith("lang=en;")
        r = client.get("/alerts")
        assert '<html lang="en">' in r.text


def test_accept_language_then_the_default(base):
    r = httpx.get(base + "/", headers={"Accept-Language": "de-DE,sv;q=0.8,en;q=0.5"})
    assert '<html lang="sv">' in r.text and "set-cookie" not in r.headers
    r = httpx.get(base + "/", headers={"Accept-Language": "sv;q=0.8"}, cookies={"lang": "en"})
    assert '<html lang="en">' in r.text  # the cookie beats the header
    r = httpx.get(base + "/", headers={"Accept-Language": "fr"})
    assert '<html lang="en">' in r.text  # none of ours: the configured default


def test_an_unknown_lang_shows_a_page_and_sets_nothing(base):
    r = httpx.get(base + "/", params={"lang": "xx<script>"}, headers={"Accept-Language": "sv"})
    assert r.status_code == 200 and '<html lang="sv">' in r.text and "set-cookie" not in r.headers
    assert "xx<script>" not in r.text  # the switch's links escape the query
    r = httpx.get(base + "/", cookies={"lang": "../../etc"})
    assert r.status_code == 200 and '<html lang="en">' in r.text


def test_the_configured_default(tmp_path):
    store = tmp_path / "store.sqlite3"
    write(store, [Snapshot("gw1", "thermia", "api", int(time.time() * 1000), {"outdoor_temp": 1.0})])
    with DashboardThread(StoreConfig(kind="embedded", path=str(store)), language="sv") as url:
        assert '<html lang="sv">' in httpx.get(url).text
        assert '<html lang="en">' in httpx.get(url, headers={"Accept-Language": "en-US"}).text
