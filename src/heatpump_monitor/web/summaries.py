"""The owners' figures in the dashboard: ``/api/v1/summary`` and ``/api/v1/events`` over one
:class:`~heatpump_monitor.analytics.Summarizer` per app (the KPI cards of the overview and the
daily page read them).

Glue only: the rules are :mod:`heatpump_monitor.analytics`'; the JSON and CSV are the CLI's
(``heatpump-monitor summary --json|--csv``: :func:`~heatpump_monitor.analytics.summary.gateway_doc`,
:func:`~heatpump_monitor.analytics.summary.csv_row`). What is added here are the bounds an
outsider meets (:class:`SummaryLimits`):

* at most ``max_days`` local days by day or as one period, ``max_hour_days`` by hour;
  events of at most ``max_event_days`` days, the newest ``max_events`` of them; else 400;
* one computation per gateway at a time (a second request would compute the same uncached
  hours again: it waits and then finds them cached) and ``concurrency`` over all gateways,
  each with a reader of its own pool (never the chart queries' nor the light requests'); up
  to ``queue`` more wait, each at most ``wait_s``; beyond that 503 with ``Retry-After``;
* a time budget, ``budget_s``, for the store's reads of one request (the readers' ``deadline``);
* the summarizer's cache of closed hours holds at most ``max_cached_hours``.

Everything that reads runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import csv
import io
import re
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Callable, Iterator, Literal, Sequence, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..analytics import Prices, Summarizer, load_prices
from ..analytics.summary import CSV_HEADER, Period, csv_row, gateway_doc, local_midnight, parse_days
from ..analytics.units import Event
from ..config import AnalyticsConfig, ConfigError, load_analytics_config
from ..model import Snapshot, iso_ms
from ..analytics.prices import PriceFileError
from ..stores.base import BudgetExceeded, GatewayInfo, Series
from .errors import ApiError, shown
from .limits import BUSY, SeriesGate
from .models import ErrorOut, EventOut, EventsOut, Json, SeriesOut, SummaryOut
from .params import check_params, parse_source
from .store import ReaderPool, Store

T = TypeVar("T")
Resolution = Literal["day", "hour", "period"]
Format = Literal["json", "csv"]
CSV_TYPE = "text/csv; charset=utf-8"
CHUNK_DAYS = 31  # a long summary is read (and cached) a month at a time


@dataclass(frozen=True)
class SummaryLimits:
    """The bounds of ``/api/v1/summary`` and ``/api/v1/events``; see the module doc."""

    max_days: int = 3700  # local days per request, by day or as one period
    max_hour_days: int = 31  # ...by hour
    max_event_days: int = 31  # days of events per request
    max_events: int = 1000  # events per answer (the newest)
    concurrency: int = 2  # computations at once, over all gateways (each with a reader)
    queue: int = 8  # requests that may wait for their turn...
    wait_s: float = 20.0  # ...this long at most
    budget_s: float = 30.0  # the store's time for one request
    max_cached_hours: int = 100_000  # hours kept by the summarizer (10 gateways x a year)
    retry_after_s: int = 5

    def __post_init__(self) -> None:
        if min(self.max_days, self.max_hour_days, self.max_event_days, self.max_events, self.concurrency) < 1:
            raise ValueError("summary limits: days, events and concurrency must be >= 1")
        if self.queue < 0 or self.wait_s < 0 or not self.budget_s > 0 or self.retry_after_s < 1:
            raise ValueError("summary limits: queue >= 0, wait_s >= 0, budget_s > 0, retry_after_s >= 1")


SUMMARY_LIMITS = SummaryLimits()


class _Gate(SeriesGate):
    """A :class:`~.limits.SeriesGate` whose 503 says what it waits for."""

    def __init__(self, slots: int, queue: int, wait_s: float, retry_after_s: int, what: str) -> None:
        super().__init__(slots, queue, wait_s, retry_after_s)
        self.what = what

    def _busy(self, why: str) -> ApiError:
        return ApiError(503, f"the dashboard is busy computing {self.what} ({why}): retry in {self.retry_after_s} s",
                        cause=BUSY, headers={"Retry-After": str(self.retry_after_s)})


class _ThreadReader:
    """What the summarizer reads through: the gateway list from the app's :class:`~.store.Store`
    (cached there), snapshots from the reader the current thread borrowed (:meth:`Summaries._call`)."""

    deadline: float | None = None

    def __init__(self, store: Store) -> None:
        self.store = store
        self.local = threading.local()

    def _reader(self) -> Any:
        reader = getattr(self.local, "reader", None)
        if reader is None:  # pragma: no cover - a bug: every read passes through _call
            raise RuntimeError("summaries read outside of a request")
        return reader

    def gateways(self) -> list[GatewayInfo]:
        return list(self.store.infos())

    def latest(self, gateway: str, source: str | None = None) -> Snapshot | None:
        return self._reader().latest(gateway, source)

    def snapshots(self, gateway: str, start_ms: int, end_ms: int, source: str | None = None,
                  fields: Sequence[str] | None = None) -> Iterator[Snapshot]:
        return self._reader().snapshots(gateway, start_ms, end_ms, source, fields=fields)

    def series(self, gateway: str, fields: Sequence[str], start_ms: int, end_ms: int,
               max_points: int = 1500, source: str | None = None) -> list[Series]:
        return self._reader().series(gateway, fields, start_ms, end_ms, max_points, source)

    def close(self) -> None:
        pass


def analytics_settings(config: AnalyticsConfig | None) -> tuple[AnalyticsConfig, Prices]:
    """The settings (from the environment when not given) and prices; ValueError with one line
    (a bad PRICE_FILE, TZ...), so the dashboard does not start on settings it cannot use."""
    try:
        cfg = config if config is not None else load_analytics_config()
        return cfg, load_prices(cfg.price_per_kwh, cfg.currency, cfg.price_file, cfg.tz)
    except ConfigError as exc:
        raise ValueError("; ".join(exc.lines)) from None
    except PriceFileError as exc:
        raise ValueError(str(exc)) from None


class Summaries:
    """The app's summarizer with its bounds; every method but the gates runs in a thread."""

    def __init__(self, store: Store, factory: Callable[[], Any], config: AnalyticsConfig | None = None,
                 limits: SummaryLimits = SUMMARY_LIMITS, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.config, self.prices = analytics_settings(config)
        self.limits = limits
        self.clock = clock
        self.pool = ReaderPool(factory, limits.concurrency)
        self.reader = _ThreadReader(store)
        self.summarizer = Summarizer(self.reader, self.config, self.prices)
        self.summarizer.max_cached_units = limits.max_cached_hours
        self.gate = _Gate(limits.concurrency, limits.queue, limits.wait_s, limits.retry_after_s,
                          "summaries of other gateways")
        self._gates: dict[str, _Gate] = {}
        self._lock = threading.Lock()

    # -- bounds -----------------------------------------------------------------------------

    def gate_of(self, gateway: str) -> _Gate:
        """One computation per gateway (a known one: the map is as long as the store's list)."""
        with self._lock:
            g = self._gates.get(gateway)
            if g is None:
                g = self._gates[gateway] = _Gate(1, self.limits.queue, self.limits.wait_s, self.limits.retry_after_s,
                                                 f"summaries of gateway {gateway!r} for another request")
            return g

    async def run(self, gateway: str, fn: Callable[[], T]) -> T:
        """``fn`` in a worker thread, after its turn for ``gateway`` and over all gateways."""
        async with self.gate_of(gateway).slot(), self.gate.slot():
            return await run_in_threadpool(self._call, fn)

    def _call(self, fn: Callable[[], T]) -> T:
        """``fn`` with a reader of the pool and the time budget; store failures -> 503."""
        budget = self.limits.budget_s
        try:
            with self.pool.borrow() as reader:
                bounded = hasattr(reader, "deadline")
                if bounded:
                    reader.deadline = time.monotonic() + budget
                self.reader.local.reader = reader
                try:
                    return fn()
                finally:
                    self.reader.local.reader = None
                    if bounded:
                        reader.deadline = None
        except ApiError:
            raise
        except BudgetExceeded as exc:
            cause = f"the summary was stopped after its time budget of {budget:g} s"
            self.store._log_failure("summary", cause, exc)
            raise ApiError(503, cause + ": ask again (the months read so far are kept, the next request goes on "
                                        "from there) or for fewer days", cause=exc.cause) from None
        except Exception as exc:  # a reader's error, a closed database, a bug: never a 500
            raise self.store._failure("summary", exc) from None

    # -- parameters (checked before any read) ---------------------------------------------------

    def today(self) -> date:
        return datetime.fromtimestamp(self.clock(), self.config.tz).date()

    def days(self, since: str | None, first: str | None, last: str | None, default_days: int,
             max_days: int, what: str) -> tuple[date, date]:
        """Local days [first, last] from ``since`` (``30d``, ``4w``: today included) or
        ``from``/``to`` (dates; ``to`` defaults to today); at most ``max_days``, else 400."""
        if since is not None and first is not None:
            raise ApiError(400, "give since or from (with to), not both")
        to = _date(last, "to") if last is not None else self.today()
        if first is not None:
            start = _date(first, "from")
        else:
            n = default_days
            if since is not None:
                try:
                    n = parse_days(since, max_days, what)  # the CLI's --since rule and words
                except ValueError as exc:
                    raise ApiError(400, f"since={shown(since)}: {exc}") from None
            if n > max_days:
                raise ApiError(400, f"since={shown(since or '')}: at most {max_days} days {what}")
            start = to - timedelta(days=n - 1)
        if start > to:
            raise ApiError(400, f"from ({start}) must be on or before to ({to})")
        if (to - start).days + 1 > max_days:
            raise ApiError(400, f"{(to - start).days + 1} days from {start} to {to}: at most {max_days} days {what}")
        return start, to

    def info(self, gateway: str, source: str | None) -> GatewayInfo:
        """The gateway's stored series (404 for an unknown gateway or source)."""
        entry = self.store.entry(gateway)
        src = parse_source(source, entry)
        info = self.summarizer.gateway(gateway, src)
        if info is None:
            raise ApiError(404, f"no data of gateway {shown(gateway)}")
        return info

    # -- answers (in a worker thread) ---------------------------------------------------------

    def periods(self, info: GatewayInfo, first: date, last: date, by: Resolution) -> list[Period]:
        now_ms = int(self.clock() * 1000)
        # a long range is read a month at a time, oldest first: each month's closed hours are
        # cached when it is done, so a request stopped at its budget (a year not seen before
        # takes ~50 s) leaves its work for the next one, which goes on where it stopped
        tz = self.config.tz
        lo = max(first, datetime.fromtimestamp(info.first_ms / 1000, tz).date())
        while (last - lo).days >= CHUNK_DAYS:
            hi = lo + timedelta(days=CHUNK_DAYS)
            self.summarizer.units(info, _ms(local_midnight(lo, tz)), _ms(local_midnight(hi, tz)), now_ms)
            lo = hi
        return self.summarizer.periods(info, first, last, by, now_ms=now_ms)

    def summary_json(self, info: GatewayInfo, periods: list[Period]) -> bytes:
        doc = SummaryOut.model_validate(gateway_doc(info, periods, self.config))
        return doc.model_dump_json().encode("utf-8")

    def events(self, info: GatewayInfo, first: date, last: date) -> EventsOut:
        tz = self.config.tz
        start, end = local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz)
        evs = self.summarizer.events(info, _ms(start), _ms(end), now_ms=int(self.clock() * 1000))
        kept = evs[-self.limits.max_events:]
        return EventsOut(gateway=info.gateway, source=info.source, tz=str(tz), start=start.isoformat(),
                         end=end.isoformat(), total=len(evs), truncated=len(kept) < len(evs),
                         events=[event_out(e, tz) for e in kept])


def event_out(e: Event, tz: Any) -> EventOut:
    return EventOut(time=datetime.fromtimestamp(e.time_ms / 1000, tz).isoformat(timespec="seconds"),
                    time_ms=e.time_ms, kind=e.kind, text=e.text,
                    duration_s=None if e.duration_s is None else round(e.duration_s, 1))


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ApiError(400, f"{name}={shown(value)} is not a date such as 2026-11-30") from None


# -- CSV -------------------------------------------------------------------------------------


def _csv(rows: Iterator[Sequence[object]] | list[Sequence[object]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    for r in rows:
        w.writerow(r)
    return buf.getvalue().encode("utf-8")


def summary_csv(info: GatewayInfo, periods: Sequence[Period]) -> bytes:
    return _csv([CSV_HEADER, *(csv_row(info, p) for p in periods)])


def events_csv(out: EventsOut) -> bytes:
    return _csv([("gateway", "source", "time", "time_ms", "kind", "duration_s", "text"),
                 *((out.gateway, out.source, e.time, e.time_ms, e.kind, "" if e.duration_s is None else e.duration_s,
                    e.text) for e in out.events)])


def series_csv(out: SeriesOut) -> bytes:
    """The series answer as one row per time: ``time,time_ms`` and each field's mean, min and
    max (empty where the field has no point at that time)."""
    times = sorted({t for s in out.series for t in s.t})
    index = {t: k for k, t in enumerate(times)}
    cols: list[list[object]] = []
    head: list[str] = ["time", "time_ms"]
    for s in out.series:
        unit = f" ({s.unit})" if s.unit else ""
        head += [f"{s.field} mean{unit}", f"{s.field} min{unit}", f"{s.field} max{unit}"]
        for values in (s.mean, s.min, s.max):
            col: list[object] = [""] * len(times)
            for t, v in zip(s.t, values):
                if v is not None:
                    col[index[t]] = v
            cols.append(col)
    rows = ([iso_ms(t), t, *(c[k] for c in cols)] for k, t in enumerate(times))
    return _csv([head, *rows])


def csv_disposition(name: str) -> str:
    """A download named ``name``.csv (only letters, digits and ._- of it: a gateway name may hold anything)."""
    return 'attachment; filename="%s.csv"' % re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:120]


def csv_response(body: bytes, name: str) -> Response:
    return Response(body, media_type=CSV_TYPE, headers={"Content-Disposition": csv_disposition(name),
                                                        "Cache-Control": "private, no-cache"})


# -- routes ----------------------------------------------------------------------------------


GATEWAY = "Gateway name as listed by /api/v1/gateways"
SINCE = "The last N local days, today included: `30d` or `4w` (instead of `from`)"
FROM = "First local day, e.g. `2026-11-01` (instead of `since`)"
TO = "Last local day (included), e.g. `2026-11-30`; default: today"
SOURCE = "Only snapshots of this source (api or mqtt); default: the gateway's source with most snapshots"


def make_router(s: Summaries) -> APIRouter:
    lim = s.limits
    router = APIRouter(prefix="/api/v1", tags=["summaries"], default_response_class=Json)
    err: dict[str, Any] = {"model": ErrorOut}
    busy: dict[str, Any] = {
        "description": "The store cannot be read, the request ran past its time budget, or the summaries are "
                       "being computed for other requests (cause in the message; `Retry-After` when busy)",
        "headers": {"Retry-After": {"description": "Seconds to wait before asking again (when busy)",
                                    "schema": {"type": "integer"}}},
        **err}
    responses: dict[int | str, dict[str, Any]] = {
        400: {"description": "Bad parameter", **err}, 401: {"description": "Login required", **err},
        404: {"description": "Unknown gateway or source", **err}, 503: busy}
    bounds = (f"At most {lim.concurrency} summaries are computed at once and one per gateway; "
              f"{lim.queue} more wait (each up to {lim.wait_s:g} s), beyond that 503 with `Retry-After`. "
              f"The store's reads of one request stop after {lim.budget_s:g} s: 503.")

    @router.get("/summary", summary="Summaries per local day, hour or period",
                description="The owners' figures of a gateway per local day (`by=day`), hour (`by=hour`) or the "
                            "whole range (`by=period`), in the zone of the `TZ` setting: compressor starts, runtime, "
                            "cycles and short-cycling, add-heat hours, hot water, outdoor temperature, energy "
                            "(`energy_method`: counter, power or estimate), heat and COP, price and cost. Unknown "
                            "figures are null. `estimated` names the figures of a period that rest on an assumption "
                            "(the COP is estimated unless the heat pump has heat meters). The same list of periods "
                            "as `heatpump-monitor summary --json`; `format=csv` gives the CLI's `--csv`. "
                            f"At most {lim.max_days} days ({lim.max_hour_days} by hour), else 400. " + bounds,
                response_model=SummaryOut,
                responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                                 "description": "The periods (JSON), or CSV with `format=csv`"}, **responses})
    async def summary(
        request: Request,
        gateway: str = Query(..., description=GATEWAY, max_length=500),
        since: str | None = Query(None, description=SINCE + "; default 7d", max_length=20),
        from_: str | None = Query(None, alias="from", description=FROM, max_length=40),
        to: str | None = Query(None, description=TO, max_length=40),
        by: Resolution = Query("day", description="One period per local day, hour, or one for the whole range"),
        format: Format = Query("json", description="`json` or `csv`"),
        source: str | None = Query(None, description=SOURCE, max_length=100),
    ) -> Response:
        check_params(request, ("gateway", "since", "from", "to", "by", "format", "source"))
        most = lim.max_hour_days if by == "hour" else lim.max_days
        first, last = s.days(since, from_, to, 7, most, "by hour" if by == "hour" else "per request")
        info = await run_in_threadpool(s.info, gateway, source)

        def answer() -> bytes:
            periods = s.periods(info, first, last, by)
            return summary_csv(info, periods) if format == "csv" else s.summary_json(info, periods)

        body = await s.run(gateway, answer)
        if format == "csv":
            return csv_response(body, f"summary-{gateway}-{first}-{last}-by-{by}")
        return Response(body, media_type="application/json", headers={"Cache-Control": "private, no-cache"})

    @router.get("/events", summary="Event log",
                description="What happened, oldest first: compressor on/off (`duration_s`: the run), add-heat on/off, "
                            "hot-water start/end, alarm raised/cleared (`text`: the brand's alarm text), gateway "
                            "silent/back (a gap in the data). Local days from `since` or `from`/`to` (default: "
                            f"today), at most {lim.max_event_days}; at most the newest {lim.max_events} events "
                            "(`truncated`, `total`: how many there were). " + bounds,
                response_model=EventsOut,
                responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                                 "description": "The events (JSON), or CSV with `format=csv`"}, **responses})
    async def events(
        request: Request,
        gateway: str = Query(..., description=GATEWAY, max_length=500),
        since: str | None = Query(None, description=SINCE + "; default 1d (today)", max_length=20),
        from_: str | None = Query(None, alias="from", description=FROM, max_length=40),
        to: str | None = Query(None, description=TO, max_length=40),
        format: Format = Query("json", description="`json` or `csv`"),
        source: str | None = Query(None, description=SOURCE, max_length=100),
    ) -> Response:
        check_params(request, ("gateway", "since", "from", "to", "format", "source"))
        first, last = s.days(since, from_, to, 1, lim.max_event_days, "of events")
        info = await run_in_threadpool(s.info, gateway, source)

        def answer() -> bytes:
            out = s.events(info, first, last)
            return events_csv(out) if format == "csv" else out.model_dump_json().encode("utf-8")

        body = await s.run(gateway, answer)
        if format == "csv":
            return csv_response(body, f"events-{gateway}-{first}-{last}")
        return Response(body, media_type="application/json", headers={"Cache-Control": "private, no-cache"})

    return router


# -- pages -----------------------------------------------------------------------------------

#: the pages showing the owners' figures (their scripts and styles are in app.py's PAGE_SCRIPTS)
SUMMARY_PAGES = ("overview", "daily")
