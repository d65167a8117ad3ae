"""Issue 10 (7), the dashboard under load: bounded work per chart query (fields x points, a time
budget), bounded concurrency of chart queries on readers of their own - so /latest, the
gateway list and the pages are answered while chart queries run or wait - a 503 with
Retry-After when too many wait, and the C heap trimmed after a burst. Plus the one masking
function for every message.

Every test asserts outcomes (statuses, messages, which requests completed while others were
held), never durations: the held chart queries block on an Event until the test releases them.
The app is called in-process (httpx's ASGI transport) so the tests can watch its gate.
"""

from __future__ import annotations

import asyncio
import base64
import platform
import sys
import threading
import time
from typing import Any, Awaitable, Callable

import httpx
import pytest
from pydantic import SecretStr

from heatpump_monitor.config import StoreConfig
from heatpump_monitor.providers import load_provider
from heatpump_monitor.stores import BudgetExceeded
from heatpump_monitor.stores.embedded import EmbeddedReader
from heatpump_monitor.web import Limits, create_app, dashboard_secrets
from heatpump_monitor.web import limits as web_limits
from heatpump_monitor.web.limits import LIMITS, SeriesGate
from heatpump_monitor.web.store import Store
from tests.web.test_api import LAST, NOW, PASSWORD, T0, TH, dashboard, embedded, store_path  # noqa: F401

THERMIA = [r.name for r in load_provider("thermia").registers.values()]
GUARD_S = 30  # how long a test waits for something that must happen before it fails instead of hanging


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + GUARD_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.005)


def series_params(**extra: Any) -> dict[str, str]:
    return {"gateway": TH, "fields": "outdoor_temp,indoor_temp", "start": str(T0), "end": str(LAST + 1),
            "points": "100", **extra}


class Held:
    """Readers of the test store whose series() waits until released (counting the calls)."""

    def __init__(self, path) -> None:
        self.path = path
        self.release = threading.Event()
        self.started = 0
        self._lock = threading.Lock()

    def factory(self) -> EmbeddedReader:
        held = self

        class Reader(EmbeddedReader):
            def series(self, *args: Any, **kwargs: Any):
                with held._lock:
                    held.started += 1
                assert held.release.wait(GUARD_S), "never released"
                return super().series(*args, **kwargs)

        return Reader(self.path)


def in_process(app, scenario: Callable[[httpx.AsyncClient], Awaitable[None]], release: threading.Event) -> None:
    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dash") as c:
            try:
                await scenario(c)
            finally:
                release.set()

    try:
        asyncio.run(main())
    finally:
        release.set()
        app.state.store.close()


# -- fields x points ------------------------------------------------------------------------


@pytest.mark.attack("7")
def test_fields_times_points_is_capped_with_a_message_naming_the_limit(store_path):
    """39 fields x 5,000 points (the issue's requests) are refused before the store is read; at
    the limit exactly, the answer comes."""
    assert LIMITS.max_values == 60_000
    with dashboard(embedded(store_path), clock=lambda: NOW / 1000) as c:
        resp = c.get("/api/v1/series", params=series_params(fields=",".join(THERMIA[:39]), points="5000"))
        assert resp.status_code == 400, resp.text
        msg = resp.json()["error"]
        assert "39 fields x 5000 points = 195,000" in msg and "at most 60,000" in msg and "points=1538" in msg
        # duplicates count once, as they are answered once
        at_limit = ",".join(THERMIA[:12] + THERMIA[:3])
        resp = c.get("/api/v1/series", params=series_params(fields=at_limit, points="5000"))
        assert resp.status_code == 200, resp.text
        assert len(resp.json()["series"]) == 12
        over = c.get("/api/v1/series", params=series_params(fields=",".join(THERMIA[:13]), points="5000"))
        assert over.status_code == 400 and "at most 60,000" in over.json()["error"]
        # the OpenAPI document says so
        doc = c.get("/openapi.json").json()["paths"]["/api/v1/series"]["get"]
        assert "60,000 values per request" in doc["description"]
        assert "Retry-After" in doc["responses"]["503"]["headers"]


def test_a_smaller_limit_is_enforced(store_path):
    with dashboard(embedded(store_path), clock=lambda: NOW / 1000, limits=Limits(max_values=200)) as c:
        assert c.get("/api/v1/series", params=series_params(points="100")).status_code == 200
        resp = c.get("/api/v1/series", params=series_params(points="101"))
        assert resp.status_code == 400 and "at most 200 per request" in resp.json()["error"]


# -- concurrency ----------------------------------------------------------------------------


@pytest.mark.attack("7")
def test_chart_queries_are_bounded_and_latest_gateways_pages_are_answered_meanwhile(store_path):
    """Two chart queries held in the store, one waiting, the next refused with 503 and
    Retry-After; meanwhile /latest, /gateways and the overview page are answered, although the
    light pool has a single reader (chart queries use readers of their own). Released, the
    held and the waiting query are answered."""
    held = Held(store_path)
    app = create_app(held.factory, clock=lambda: NOW / 1000, pool_size=1,
                     limits=Limits(series_concurrency=2, series_queue=1, series_wait_s=GUARD_S, retry_after_s=7))
    gate: SeriesGate = app.state.series_gate

    async def scenario(c: httpx.AsyncClient) -> None:
        first = [asyncio.create_task(c.get("/api/v1/series", params=series_params())) for _ in range(2)]
        await until(lambda: held.started == 2, "two chart queries in the store")
        waiting = asyncio.create_task(c.get("/api/v1/series", params=series_params()))
        await until(lambda: gate.waiting == 1, "a third chart query waiting")
        refused = await c.get("/api/v1/series", params=series_params())
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "7"
        assert "busy" in refused.json()["error"] and "2 running, 1 waiting" in refused.json()["error"]
        latest = await asyncio.wait_for(c.get("/api/v1/latest", params={"gateway": TH}), GUARD_S)
        assert latest.status_code == 200 and latest.json()["time_ms"] == LAST
        assert (await asyncio.wait_for(c.get("/api/v1/gateways"), GUARD_S)).status_code == 200
        assert (await asyncio.wait_for(c.get("/"), GUARD_S)).status_code == 200
        # all of that while the chart queries were still held
        assert not any(t.done() for t in first + [waiting]) and held.started == 2
        held.release.set()
        for task in first + [waiting]:
            resp = await asyncio.wait_for(task, GUARD_S)
            assert resp.status_code == 200, resp.text
            assert [s["field"] for s in resp.json()["series"]] == ["outdoor_temp", "indoor_temp"]
        assert held.started == 3 and gate.running == 0 and gate.waiting == 0

    in_process(app, scenario, held.release)


@pytest.mark.attack("7")
def test_a_chart_query_that_waits_too_long_gets_503_with_retry_after(store_path):
    held = Held(store_path)
    app = create_app(held.factory, clock=lambda: NOW / 1000,
                     limits=Limits(series_concurrency=1, series_queue=4, series_wait_s=0.05))
    gate: SeriesGate = app.state.series_gate

    async def scenario(c: httpx.AsyncClient) -> None:
        first = asyncio.create_task(c.get("/api/v1/series", params=series_params()))
        await until(lambda: held.started == 1, "a chart query in the store")
        late = await c.get("/api/v1/series", params=series_params())  # held one never ends in time
        assert late.status_code == 503 and late.headers["retry-after"] == "5"
        assert "no turn within 0.05 s" in late.json()["error"]
        assert gate.waiting == 0 and held.started == 1
        held.release.set()
        assert (await asyncio.wait_for(first, GUARD_S)).status_code == 200

    in_process(app, scenario, held.release)


def test_the_gate_passes_a_slot_on_when_a_waiter_is_cancelled():
    """A waiter cancelled after it was handed the slot passes it on (no slot is lost); one
    cancelled while still waiting leaves the queue."""

    async def main() -> None:
        gate = SeriesGate(1, 3, GUARD_S)
        await gate._enter()  # A holds the slot
        entered: list[str] = []

        async def waiter(name: str) -> None:
            await gate._enter()
            entered.append(name)

        b, c, d = (asyncio.create_task(waiter(n)) for n in "bcd")
        await until(lambda: gate.waiting == 3, "three waiters")
        d.cancel()  # still waiting: leaves the queue
        await asyncio.gather(d, return_exceptions=True)
        assert gate.waiting == 2
        b.cancel()  # B is cancelled, and before it runs again...
        gate._leave()  # ...A leaves and hands B the slot: B must pass it on to C
        await asyncio.gather(b, return_exceptions=True)
        assert b.cancelled()
        await asyncio.wait_for(c, GUARD_S)
        assert entered == ["c"] and gate.running == 1 and gate.waiting == 0
        gate._leave()
        assert gate.running == 0 and gate.idle()

    asyncio.run(main())


# -- time budget ----------------------------------------------------------------------------


@pytest.mark.attack("7")
def test_a_chart_query_over_its_time_budget_is_stopped_with_503(store_path):
    """The reader gets a deadline budget seconds ahead (and only for chart queries); a read
    stopped there is a 503 naming the budget, and the slot is free again."""
    seen: list[float | None] = []

    class Reader(EmbeddedReader):
        def series(self, *args: Any, **kwargs: Any):
            seen.append(self.deadline)
            if self.deadline is not None and self.deadline - time.monotonic() < 1:
                raise BudgetExceeded()  # as SQLite's progress handler makes it at the deadline
            return super().series(*args, **kwargs)

    app = create_app(lambda: Reader(store_path), clock=lambda: NOW / 1000, limits=Limits(series_budget_s=0.5))
    release = threading.Event()

    async def scenario(c: httpx.AsyncClient) -> None:
        resp = await c.get("/api/v1/series", params=series_params())
        assert resp.status_code == 503, resp.text
        assert resp.json()["error"].startswith("the query was stopped after its time budget of 0.5 s")
        assert "retry-after" not in resp.headers
        assert len(seen) == 1 and seen[0] is not None
        assert app.state.series_gate.idle()
        # the deadline is cleared after the call: other reads of that reader are not bounded
        with app.state.store.heavy.borrow() as reader:
            assert reader.deadline is None
        latest = await c.get("/api/v1/latest", params={"gateway": IVT_ALARMING})  # its alarm_since reads series()
        assert latest.status_code == 200 and seen[1] is None

    in_process(app, scenario, release)


IVT_ALARMING = "10.0.0.7:80"


# -- memory ---------------------------------------------------------------------------------


@pytest.mark.attack("7")
def test_the_c_heap_is_trimmed_when_the_last_chart_query_of_a_burst_is_answered(store_path, monkeypatch):
    held = Held(store_path)
    trims: list[tuple[int, int]] = []
    app = create_app(held.factory, clock=lambda: NOW / 1000)
    gate: SeriesGate = app.state.series_gate
    monkeypatch.setattr(web_limits, "malloc_trim", lambda: trims.append((gate.running, gate.waiting)) or True)

    async def scenario(c: httpx.AsyncClient) -> None:
        tasks = [asyncio.create_task(c.get("/api/v1/series", params=series_params())) for _ in range(3)]
        await until(lambda: held.started == 2 and gate.waiting == 1, "two running, one waiting")
        await c.get("/api/v1/latest", params={"gateway": TH})
        assert trims == []  # light requests do not trim
        held.release.set()
        for t in tasks:
            assert (await asyncio.wait_for(t, GUARD_S)).status_code == 200
        assert trims and all(t == (0, 0) for t in trims), trims  # only once the gate was idle

    in_process(app, scenario, held.release)


@pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"),
                    reason="malloc_trim is glibc's")
def test_malloc_trim_is_found_on_glibc():
    assert web_limits.malloc_trim() is True


# -- the gateway list -----------------------------------------------------------------------


def test_a_stale_gateway_list_is_answered_while_a_new_one_is_read(store_path):
    """Listing the gateways scans the store; a request past the TTL gets the list it had while
    one thread reads the new one (instead of waiting for the scan)."""
    release = threading.Event()
    calls: list[int] = []

    class Reader(EmbeddedReader):
        def gateways(self):
            calls.append(1)
            if len(calls) > 1:
                assert release.wait(GUARD_S)
            return super().gateways()

    def wait(condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + GUARD_S
        while not condition():
            assert time.monotonic() < deadline, f"never happened: {what}"
            time.sleep(0.005)

    store = Store(lambda: Reader(store_path), gateways_ttl_s=10)
    try:
        first = store.infos()
        store._infos_at -= 15  # the list is 15 s old: past the TTL, within STALE_TTLS of it
        answered: list[list] = []
        t = threading.Thread(target=lambda: answered.append(store.infos()))
        t.start()
        t.join(GUARD_S)
        assert answered == [first]  # at once, while the refresh is held
        wait(lambda: len(calls) == 2, "the refresh reads the store")
        assert store.infos() == first and len(calls) == 2  # one refresh at a time
        release.set()
        wait(lambda: not store._refreshing, "the refresh ends")
        assert store.infos() == first and len(calls) == 2  # fresh again
        # an explicit max age reads the store itself; so does a list past the stale limit
        assert store.infos(max_age_s=0) == first and len(calls) == 3
        store._infos_at -= 61
        assert store.infos() == first and len(calls) == 4 and not store._refreshing
    finally:
        release.set()
        store.close()


# -- masking --------------------------------------------------------------------------------


def test_one_masking_function_for_the_store_and_the_dashboard_credentials():
    store = StoreConfig(kind="influxdb1", url="http://db:8086", database="hp", username="reader",
                        password=SecretStr("Influx-Pw-1"))
    secrets = dashboard_secrets(store, ("admin", PASSWORD))
    store_b64 = base64.b64encode(b"reader:Influx-Pw-1").decode()
    dash_b64 = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    text = (f"a {store_b64} b {store_b64.rstrip('=')} c Influx-Pw-1 d {dash_b64} e {PASSWORD} "
            "f http://u:pw@host/x g ?p=abc h Authorization: Token tok123")
    masked = secrets.mask(text)
    for secret in (store_b64, store_b64.rstrip("="), "Influx-Pw-1", dash_b64, PASSWORD, ":pw@", "abc", "tok123"):
        assert secret not in masked, (secret, masked)
    token_store = StoreConfig(kind="influxdb2", url="http://db:8086", bucket="hp", token=SecretStr("Tok-77"))
    assert dashboard_secrets(token_store).mask("x Tok-77 y") == "x *** y"
    # a secret too short to be searched for leaves the text whole
    assert dashboard_secrets(embedded("/data/heatpump.sqlite3"), ("admin", "e")).mask("the embedded store") == \
        "the embedded store"


def test_store_errors_are_masked_in_api_answers_and_pages(store_path):
    """A reader whose message quotes the dashboard password (and its base64): masked in the
    503 answer and on the page."""
    b64 = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()

    class Reader(EmbeddedReader):
        def gateways(self):
            raise RuntimeError(f"echo {PASSWORD} and {b64}")

    with dashboard(lambda: Reader(store_path), auth=("admin", PASSWORD)) as c:
        api = c.get("/api/v1/gateways", auth=("admin", PASSWORD))
        page = c.get("/", auth=("admin", PASSWORD))
    assert api.status_code == 503 and api.json()["error"] == "the store cannot be read: echo *** and ***"
    for resp in (api, page):
        assert PASSWORD not in resp.text and b64 not in resp.text


@pytest.mark.attack("5")
def test_messages_quoting_the_request_are_not_masked(store_path):
    """Masking what a request sent would tell the sender whether it is a secret (the oracle of
    issue 10): a gateway, a parameter or a path equal to a configured secret is quoted as sent."""
    auth = ("admin", PASSWORD)
    with dashboard(embedded(store_path), auth=auth) as c:
        gateway = c.get("/api/v1/latest", params={"gateway": PASSWORD}, auth=auth)
        points = c.get("/api/v1/series", params={"gateway": TH, "fields": "outdoor_temp", "points": PASSWORD},
                       auth=auth)
        path = c.get(f"/static/{PASSWORD}.js", auth=auth)
    assert gateway.status_code == 404 and f"unknown gateway '{PASSWORD}'" in gateway.json()["error"]
    assert points.status_code == 400 and f"(got '{PASSWORD}')" in points.json()["error"]
    assert path.status_code == 404 and PASSWORD in path.json()["error"]
    for resp in (gateway, points, path):
        assert "***" not in resp.text
