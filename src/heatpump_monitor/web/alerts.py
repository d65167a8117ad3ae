"""Alerts in the dashboard (issue 14): ``/api/v1/alerts`` (active), ``/api/v1/alerts/history``,
``/api/v1/alerts/rules`` and ``POST /api/v1/alerts/test``, over the state files the processes
that evaluate rules keep in ALERTS_DIR (``alerts-<owner>.sqlite3``, :func:`~heatpump_monitor.alerts.alert_files`).

The dashboard never writes them: each request opens every owner's file read-only
(``AlertStore(readonly=True)``) and closes it again (files come and go with the collectors).
A file that cannot be read is left out of the answer (named in ``unreadable``) and logged once,
until it can be read again: never a 500.

The test message is the one thing here that acts: it needs NOTIFY_URLS (else 409), a request
from the dashboard's own pages (``X-Requested-With``; a foreign page cannot send that header
without a CORS preflight, which this app never grants: else 403), and at most one per
:data:`TEST_INTERVAL_S` per process (else 429 with ``Retry-After``). apprise is imported only
when it is sent.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import sqlite3
import threading
import time
from contextlib import ExitStack
from datetime import datetime
from typing import Any, Callable

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..alerts import RULES, ActiveAlert, AlertStore, Notice, alert_files, message
from ..config import AlertsConfig, ConfigError, load_alerts_config, redact_url
from ..masking import Secrets
from .errors import ApiError
from .models import (AlertHistoryOut, AlertNoticeOut, AlertOut, AlertRuleOut, AlertRulesOut, AlertsOut, AlertTestOut,
                     DeliveryOut, ErrorOut, Json, TargetResultOut)
from .params import TIME_MAX_MS, check_params, parse_time
from .summaries import Format, csv_response

log = logging.getLogger(__name__)

HISTORY_DEFAULT, HISTORY_MAX = 100, 1000
TEST_INTERVAL_S = 10.0
TEST_HEADER = "X-Requested-With"

#: what each rule watches, in words, its thresholds filled in (the rules' list and page)
DESCRIPTIONS: dict[str, str] = {
    "alarm": "The heat pump's own alarm (with the brand's text) and its clearing",
    "gateway_silent": "No snapshot stored from a gateway for {minutes} min",
    "add_heat": "Add-heat running for more than {minutes} min",
    "add_heat_share": "Add-heat making more than {above_percent} % of today's heat (from {min_kwh} kWh of heat on); "
                      "resolved at {above_percent} - {hysteresis_percent} %",
    "hot_water": "Hot water (top) below {below_c} °C for {minutes} min; resolved above {below_c} + {hysteresis_k} °C",
    "brine_delta_t": "Brine in - out above {above_k} K for {minutes} min; resolved at {above_k} - {hysteresis_k} K",
    "short_cycling": "{hours} hours or more with at least {starts} starts each within {window_hours} h, the median "
                     "cycle at most {median_minutes} min",
    "sensor_missing": "A register seen before missing from {ticks} snapshots in a row",
    "store_unreachable": "The store refusing writes for {minutes} min",
    "spool_filling": "The spool on disk fuller than {above_percent} % of SPOOL_MAX_MB; resolved at "
                     "{above_percent} - {hysteresis_percent} %",
    "not_stored": "Nothing new stored from a gateway for {minutes} min: a collector stopped (checked by the "
                  "dashboard or watch); a gateway silent {forget_days} days is no longer watched",
}
TEST_MESSAGE = {"en": ("heatpump-monitor: test", "A test message from the heatpump-monitor dashboard."),
                "sv": ("heatpump-monitor: test", "Ett testmeddelande från heatpump-monitors webbsida.")}


def alerts_settings(config: AlertsConfig | None) -> AlertsConfig:
    """The settings (from the environment and CONFIG_FILE when not given); ValueError with one
    line per mistake, so the dashboard does not start on an ``alerts:`` section it cannot read."""
    try:
        return config if config is not None else load_alerts_config()
    except ConfigError as exc:
        raise ValueError("; ".join(exc.lines)) from None


class TestGate:
    """At most one test message per ``interval_s``: a button pressed repeatedly (or a script)
    must not flood the owner's phone or get the account throttled by the service."""

    def __init__(self, interval_s: float = TEST_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self._last: float | None = None
        self._lock = threading.Lock()

    def take(self) -> int:
        """0 when a message may go now (and the next must wait), else the seconds to wait."""
        with self._lock:
            now = self.clock()
            if self._last is not None and now - self._last < self.interval_s:
                return max(1, math.ceil(self.interval_s - (now - self._last)))
            self._last = now
            return 0


def delivery_targets(urls: tuple[str, ...] | list[str]) -> list[str]:
    """The targets as the Notifier names them (``1 ntfys://***``), without importing apprise."""
    return [f"{i} {redact_url(u)}" for i, u in enumerate(urls, 1)]


def same_origin_refusal(request: Request) -> str | None:
    """Why a request to act is refused as not coming from the dashboard's pages, or None."""
    if not request.headers.get(TEST_HEADER):
        return f"this action needs the header {TEST_HEADER} (sent by the dashboard's pages)"
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return "this action is only accepted from the dashboard's own pages"
    return None


class AlertsView:
    """The alert state files, read-only, and the test message. Every method but the gate runs
    in a worker thread."""

    def __init__(self, config: AlertsConfig, secrets: Secrets, clock: Callable[[], float] = time.time,
                 test_interval_s: float = TEST_INTERVAL_S) -> None:
        self.config = config
        self.secrets = secrets
        self.clock = clock
        self.gate = TestGate(test_interval_s)
        self._failing: dict[str, str] = {}  # owner -> the error last logged for it
        self._lock = threading.Lock()

    # -- reading ----------------------------------------------------------------------------

    def _open(self, stack: ExitStack) -> tuple[dict[str, AlertStore], list[str]]:
        """Each owner's store that opens (closed with ``stack``), and the owners whose do not."""
        stores: dict[str, AlertStore] = {}
        bad: list[str] = []
        for owner, path in alert_files(self.config.directory).items():
            try:
                store = AlertStore(path, readonly=True)
            except (sqlite3.Error, OSError) as exc:
                self._failed(owner, path, exc)
                bad.append(owner)
                continue
            stack.callback(store.close)
            stores[owner] = store
        return stores, bad

    def _read(self, fn: Callable[[AlertStore], list[Any]]) -> tuple[dict[str, list[Any]], list[str]]:
        """``fn`` over every owner's store: its answer by owner, and the owners that failed."""
        with ExitStack() as stack:
            stores, bad = self._open(stack)
            out: dict[str, list[Any]] = {}
            for owner, store in stores.items():
                try:
                    rows = fn(store)
                except sqlite3.Error as exc:
                    self._failed(owner, store.path, exc)
                    bad.append(owner)
                    continue
                out[owner] = [r for r in rows if _sane(r)]
                if len(out[owner]) < len(rows):  # a damaged or hand-edited file: the rest is shown
                    self._failed(owner, store.path, ValueError(f"{len(rows) - len(out[owner])} row(s) with an "
                                                               "impossible time, value or text left out"), True)
                else:
                    self._recovered(owner)
        return out, sorted(bad)

    def _failed(self, owner: str, path: str, exc: BaseException, partly: bool = False) -> None:
        # one line per owner and cause, not one per request: the overview asks every 30 s
        what = self.secrets.mask(" ".join(str(exc).split()) or type(exc).__name__)
        with self._lock:
            if self._failing.get(owner) == what:
                return
            self._failing[owner] = what
        if partly:
            log.warning("The alert state of %r (%s) is damaged: %s", owner, path, what)
        else:
            log.warning("The alert state of %r (%s) cannot be read, its alerts are not shown: %s", owner, path, what)

    def _recovered(self, owner: str) -> None:
        with self._lock:
            if self._failing.pop(owner, None) is None:
                return
        log.info("The alert state of %r can be read again", owner)

    def _local(self, ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, self.config.tz).isoformat(timespec="seconds")

    def active(self) -> AlertsOut:
        now_ms = int(self.clock() * 1000)
        found, bad = self._read(lambda s: s.active())
        lang, tz = self.config.language, self.config.tz
        alerts: list[AlertOut] = []
        for owner, rows in found.items():
            for a in rows:
                # the message as it was sent, its "since" relative to now (a day shown when not today)
                m = message(Notice(a.gateway, a.rule, "fired", a.since_ms, now_ms, a.value, a.threshold, a.text),
                            lang, tz)
                alerts.append(AlertOut(gateway=a.gateway, rule=a.rule, owner=owner, since=self._local(a.since_ms),
                                       since_ms=a.since_ms, last_notice_ms=a.last_notice_ms, value=_number(a.value),
                                       threshold=_number(a.threshold), text=a.text, title=m.title, body=m.body))
        alerts.sort(key=lambda a: (-a.since_ms, a.gateway, a.rule, a.owner))  # newest first
        return AlertsOut(server_time_ms=now_ms, language=lang, owners=sorted(found), unreadable=bad, alerts=alerts)

    def history(self, limit: int, gateway: str | None, start_ms: int | None = None,
                end_ms: int | None = None) -> AlertHistoryOut:
        found, bad = self._read(lambda s: s.history(limit, gateway, start_ms, end_ms))
        merged = [(owner, n) for owner, rows in found.items() for n in rows]
        merged.sort(key=lambda x: -x[1].time_ms)  # stable: each owner's own order kept within a millisecond
        lang, tz = self.config.language, self.config.tz
        notices = []
        for owner, n in merged[:limit]:
            m = message(n, lang, tz)
            notices.append(AlertNoticeOut(gateway=n.gateway, rule=n.rule, kind=n.kind, owner=owner,
                                          time=self._local(n.time_ms), time_ms=n.time_ms, since=self._local(n.since_ms),
                                          since_ms=n.since_ms, value=_number(n.value), threshold=_number(n.threshold),
                                          text=n.alarm_text, title=m.title, body=m.body))
        return AlertHistoryOut(language=lang, owners=sorted(found), unreadable=bad, notices=notices)

    def rules(self) -> AlertRulesOut:
        s = self.config.settings
        rules = []
        for rule in RULES:
            doc = getattr(s, rule).model_dump()
            enabled = bool(doc.pop("enabled"))
            settings = {k: _whole(v) for k, v in doc.items()}
            words = DESCRIPTIONS.get(rule, "").format(**settings)
            rules.append(AlertRuleOut(rule=rule, enabled=enabled, description=words, settings=settings))
        return AlertRulesOut(running=self.config.on, language=self.config.language, tz=str(self.config.tz),
                             reminder_hours=_whole(s.reminder_hours),
                             delivery=DeliveryOut(configured=bool(self.config.urls),
                                                  targets=delivery_targets(self.config.urls)),
                             rules=rules)

    # -- the test message -------------------------------------------------------------------

    def send_test(self) -> AlertTestOut:
        """Blocking (apprise): the test message to every target, one result each."""
        from ..alerts.notify import Notifier  # imports apprise: only when a message is sent

        try:
            notifier = Notifier(list(self.config.urls), self.secrets)
        except ConfigError as exc:  # names the entry redacted; masked still, to be sure
            raise ApiError(409, self.secrets.mask(str(exc))) from None
        title, body = TEST_MESSAGE.get(self.config.language, TEST_MESSAGE["en"])
        results = notifier.send(title, body)
        log.info("Test message from the dashboard: %s",
                 "; ".join(f"{r.target}: ok" if r.ok else f"{r.target}: failed: {r.cause}" for r in results))
        return AlertTestOut(ok=all(r.ok for r in results),
                            results=[TargetResultOut(target=r.target, ok=r.ok, cause=r.cause) for r in results])


def _number(x: float | None) -> float | int | None:
    # 40 stays 40 (as the models promise), not 40.0; SQLite gives REAL columns back as float
    if x is None or not math.isfinite(x):
        return None
    return _whole(x)


def _sane(row: ActiveAlert | Notice) -> bool:
    """A row as the engine writes it (SQLite keeps whatever a column is given: a damaged or
    hand-edited file could hold a text for a time, a time past year 9999)."""
    times = (row.since_ms, row.last_notice_ms if isinstance(row, ActiveAlert) else row.time_ms)
    texts = (row.gateway, row.rule, row.text if isinstance(row, ActiveAlert) else row.alarm_text)
    return (all(isinstance(t, int) and 0 <= t <= TIME_MAX_MS for t in times)
            and all(isinstance(t, str) for t in texts)
            and all(v is None or isinstance(v, (int, float)) for v in (row.value, row.threshold)))


def _whole(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


# -- CSV ---------------------------------------------------------------------------------------


def history_csv(out: AlertHistoryOut) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(("time", "time_ms", "gateway", "rule", "kind", "owner", "since", "since_ms", "value", "threshold",
                "text", "title", "body"))
    for n in out.notices:
        w.writerow((n.time, n.time_ms, n.gateway, n.rule, n.kind, n.owner, n.since, n.since_ms,
                    "" if n.value is None else n.value, "" if n.threshold is None else n.threshold, n.text, n.title,
                    n.body))
    return buf.getvalue().encode("utf-8")


# -- routes ------------------------------------------------------------------------------------


def make_router(view: AlertsView) -> APIRouter:
    router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], default_response_class=Json)
    err: dict[str, Any] = {"model": ErrorOut}
    common: dict[int | str, dict[str, Any]] = {400: {"description": "Bad parameter", **err},
                                               401: {"description": "Login required", **err}}
    files = ("Read from every state file in ALERTS_DIR (one per process that evaluates rules: the collectors "
             "`api`, `mqtt` and `watch`); a file that cannot be read is left out and named in `unreadable`. ")

    @router.get("", summary="Active alerts",
                description="Every alert still active, newest first, with the message it was sent as (`title`, "
                            "`body`, in the configured language). " + files,
                responses=common)
    async def active(request: Request) -> AlertsOut:
        check_params(request, ())
        return await run_in_threadpool(view.active)

    @router.get("/history", summary="Alerts raised and cleared",
                description="Alerts fired and resolved, newest first (reminders are not listed), at most `limit`, "
                            "only those sent in [`start`, `end`) when given. "
                            + files + "`format=csv`: the same as CSV.",
                response_model=AlertHistoryOut,
                responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                                 "description": "The notices (JSON), or CSV with `format=csv`"}, **common})
    async def history(
        request: Request,
        limit: int = Query(HISTORY_DEFAULT, ge=1, le=HISTORY_MAX, description="Most notices"),
        gateway: str | None = Query(None, description="Only this gateway's", max_length=500),
        start: str | None = Query(None, description="Sent at or after: ISO-8601 (UTC when no zone is given) or "
                                                    "epoch milliseconds", max_length=100),
        end: str | None = Query(None, description="Sent before: ISO-8601 or epoch milliseconds", max_length=100),
        format: Format = Query("json", description="`json` or `csv`"),
    ) -> Response:
        check_params(request, ("limit", "gateway", "start", "end", "format"))
        start_ms, end_ms = parse_time(start, "start"), parse_time(end, "end")
        if start_ms is not None and end_ms is not None and start_ms >= end_ms:
            raise ApiError(400, "start must be before end")
        out = await run_in_threadpool(view.history, limit, gateway, start_ms, end_ms)
        if format == "csv":
            return csv_response(history_csv(out), "alerts-history" + (f"-{gateway}" if gateway else ""))
        return Response(out.model_dump_json().encode("utf-8"), media_type="application/json")

    @router.get("/rules", summary="Configured rules and delivery",
                description="Each rule, whether it is on and its thresholds (CONFIG_FILE's `alerts:` section, "
                            "else the defaults), and where messages go: the number of NOTIFY_URLS targets, each "
                            "named by its scheme only.",
                responses=common)
    async def rules(request: Request) -> AlertRulesOut:
        check_params(request, ())
        return view.rules()

    @router.post("/test", summary="Send a test message",
                 description="Sends a test message to every NOTIFY_URLS target and answers each one's result "
                             "(targets named by their scheme only, causes with the URLs' secrets masked). Needs the "
                             f"header `{TEST_HEADER}` (the dashboard's pages send it; a foreign page cannot): else "
                             f"403. At most one per {TEST_INTERVAL_S:g} s: else 429 with `Retry-After`. "
                             "409 when NOTIFY_URLS is not set.",
                 responses={**common,
                            403: {"description": "Not sent from the dashboard's pages", **err},
                            409: {"description": "NOTIFY_URLS is not set (or not valid)", **err},
                            429: {"description": "A test message was sent less than "
                                                 f"{TEST_INTERVAL_S:g} s ago",
                                  "headers": {"Retry-After": {"description": "Seconds to wait",
                                                              "schema": {"type": "integer"}}},
                                  **err}})
    async def test(request: Request) -> AlertTestOut:
        check_params(request, ())
        refusal = same_origin_refusal(request)
        if refusal is not None:
            raise ApiError(403, refusal)
        if not view.config.urls:
            raise ApiError(409, "NOTIFY_URLS is not set: there is no target to send to. Set it (comma-separated "
                                "apprise URLs, e.g. ntfys://topic) for the dashboard and the processes that send "
                                "alerts")
        wait = view.gate.take()
        if wait:
            raise ApiError(429, f"a test message was sent less than {view.gate.interval_s:g} s ago: "
                                f"retry in {wait} s", headers={"Retry-After": str(wait)})
        return await run_in_threadpool(view.send_test)

    return router


__all__ = ["AlertsView", "TestGate", "alerts_settings", "make_router"]
