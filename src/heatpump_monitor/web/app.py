"""The dashboard's ASGI app: HTML pages (overview, charts, API docs), the JSON API, static files.

* ``/`` overview, ``/charts`` charts, ``/daily`` daily figures, ``/alerts`` alerts (:mod:`.alerts`),
  ``/docs`` API reference (rendered by our own script from
  ``/openapi.json``; FastAPI's Swagger UI and ReDoc would load from a CDN and are off).
* ``/api/v1/...`` see :mod:`heatpump_monitor.web.routes`.
* ``/static/<file>``: our own ``app.js``/``style.css``/``docs.js`` and the chart library
  (uPlot's ``uPlot.iife.min.js``/``uPlot.min.css``), built from its npm package at a pinned
  version by ``frontend/`` (:mod:`.assets`), never committed nor fetched from a CDN. Asset
  URLs carry a version (``?v=``), so they are cached for a year; every file is gzip-compressed
  once and kept in memory.
* ``/healthz`` (liveness): ``ok``, without authentication.
* ``/readyz`` (readiness), without authentication: 200 ``{"ready": true}`` when the store
  answers one cheap read within ``ready_timeout_s``, else 503 ``{"ready": false, "cause":
  ...}``, the cause in generic words (``store unreachable``, ``store refused the
  credentials``, ``store timed out``, ``store not found``, ``store unreadable``, ``store
  error``): no URL, path, name or server text, and nothing masked (a masked secret would
  show where it was). With the dashboard's basic-auth credentials (when auth is on) the answer
  adds ``store`` (what is read) and ``detail`` (the reader's message), both masked. Neither
  route is in the OpenAPI document.

Every other route asks for HTTP basic auth when ``auth=(user, password)`` is given. Errors are
``{"error": "..."}``: 400 bad parameter, 401 login, 404 unknown gateway/route, 503 store (or
busy, with ``Retry-After``). Every message with the store's text (its errors, its description)
passes through one :class:`~heatpump_monitor.masking.Secrets` (:func:`dashboard_secrets`): the
store's password, token and the base64 of its user:password, the dashboard's password and its
base64, and credentials by their shape. Messages that quote the request are not masked: that
would tell the sender whether what they sent is a secret.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path
from functools import lru_cache
from typing import Any, AsyncIterator, Callable
from urllib.parse import urlencode

import jinja2
from babel import Locale, UnknownLocaleError
from markupsafe import Markup

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from ..config import AlertsConfig, AnalyticsConfig, StoreConfig, load_language
from ..i18n import COOKIE, languages, pick_language, translator
from ..stores import describe
from ..masking import Secrets
from ..providers import BRANDS
from .alerts import AlertsView, alerts_settings
from .alerts import make_router as make_alerts_router
from .answers import gateway_out
from .assets import UPLOT_CSS, UPLOT_JS, Assets, static_response
from .catalog import field_catalog, load_or_none
from .charts import PRESETS_MS, cards_html, charts_doc, first_requests, preload_links
from .errors import ApiError
from .limits import LIMITS, Limits, SeriesGate
from .middleware import BasicAuthMiddleware, SecurityHeadersMiddleware, basic_auth_ok
from .models import ErrorOut, Json
from .params import POINTS_MAX
from .routes import make_router
from .store import ReadyCheck, Store
from .summaries import SUMMARY_LIMITS, SUMMARY_PAGES, Summaries, SummaryLimits
from .summaries import make_router as make_summary_router
from .curve import make_router as make_curve_router

log = logging.getLogger(__name__)

__all__ = ["Limits", "create_app", "dashboard_secrets", "store_description"]

TEMPLATE_DIR = Path(__file__).parent / "templates"
# uPlot first: the charts page's data requests are preloaded (charts.py), app.js needs no head start
# summary.js: the overview's KPI cards and the daily page's bars (summaries.py answers them);
# on the daily page app.js first (the gateway picker), uPlot before summary.js
# alerts.js: the overview's list of active alerts and the alerts page
# i18n.js (the browser's _()) is put before each page's scripts by page(): every script may use it
PAGE_SCRIPTS = {"overview": ("app.js", "summary.js", "alerts.js"), "charts": (UPLOT_JS, "app.js"),
                "daily": ("app.js", UPLOT_JS, "summary.js"), "alerts": ("app.js", "alerts.js"), "docs": ("docs.js",)}
I18N_JS = "i18n.js"
# the heat-curve and signature pages (curve.js): their text is in the script, through i18n.js's _()
PAGE_SCRIPTS.update(heatcurve=("app.js", UPLOT_JS, "curve.js"), signature=("app.js", UPLOT_JS, "curve.js"))
# how many of the charts page's data requests the page preloads: the first chart's only; app.js
# asks for the rest once it is answered, so the first chart's query has the server to itself
# (measured: first chart sooner, all charts as soon as with both preloaded)
CHARTS_PRELOADS = 1
PAGE_STYLES = {"overview": ("style.css", "summary.css", "alerts.css"), "charts": (UPLOT_CSS, "style.css"),
               "daily": (UPLOT_CSS, "style.css", "summary.css"), "alerts": ("style.css", "alerts.css"),
               "docs": ("style.css",)}
PAGE_STYLES.update(heatcurve=(UPLOT_CSS, "style.css", "curve.css"), signature=(UPLOT_CSS, "style.css", "curve.css"))

# -- pages ----------------------------------------------------------------------------------


def N_(text: str) -> str:
    """Marks an English text for the catalogue (Babel extracts ``N_``); translated when shown."""
    return text


# The topbar's links: (page, path, label); every one but the API's keeps the gateway chosen
NAV = (("overview", "/", N_("Overview")), ("charts", "/charts", N_("Charts")), ("daily", "/daily", N_("Daily")),
       ("alerts", "/alerts", N_("Alerts")), ("heatcurve", "/heatcurve", N_("Heat curve")),
       ("signature", "/signature", N_("Signature")), ("docs", "/docs", N_("API")))
# a page's title where it says more than its navigation link
PAGE_HEADINGS = {"signature": N_("Heat signature")}
# a year: the language chosen with the switch stays chosen
LANG_COOKIE_MAX_AGE = 365 * 86_400
# the page depends on these request headers (the language choice): caches keep one copy per value
PAGE_VARY = "Accept-Language, Cookie"


@lru_cache(maxsize=None)
def language_name(code: str) -> str:
    """How a language names itself ("Svenska"), from Babel's locale data: a new catalogue needs
    no entry here. Its code when Babel does not know it."""
    try:
        name = Locale.parse(code).get_display_name(code) or code
    except (ValueError, UnknownLocaleError):
        return code
    return name[:1].upper() + name[1:]


@lru_cache(maxsize=None)
def _environment(lang: str) -> jinja2.Environment:
    """The templates of one language: Jinja2 with ``jinja2.ext.i18n`` (``{% trans %}``,
    ``_()``), whose texts Babel extracts like the Python and JavaScript ones; autoescaped.
    One environment per language, since the installed translations are the environment's."""
    # auto_reload off: the templates are the package's files, compiled once per language
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True, auto_reload=False,
                             extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translator(lang), newstyle=True)  # type: ignore[attr-defined]
    return env


def language_links(path: str, query: list[tuple[str, str]], lang: str) -> list[dict[str, Any]]:
    """The topbar's language switch: one link per language, each the current address with
    ``lang`` set in its query (the server sets the cookie on that request)."""
    kept = [(k, v) for k, v in query if k != "lang"]
    return [{"code": code, "name": language_name(code), "current": code == lang,
             "href": path + "?" + urlencode(kept + [("lang", code)])} for code in languages()]


def _json_for_script(doc: Any) -> str:
    """JSON safe inside <script type="application/json">."""
    return (json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


# -- app ------------------------------------------------------------------------------------


def dashboard_secrets(store: StoreConfig | Any, auth: tuple[str, str] | None = None) -> Secrets:
    """What the dashboard masks in every message: the store's secrets (StoreConfig.secrets)
    and the dashboard's password, with the base64 of its user:password."""
    logins = [auth] if auth is not None else []
    if isinstance(store, StoreConfig):
        return store.secrets(*logins)
    return Secrets(basic_auth=logins)


def store_description(store: StoreConfig | Any) -> str:
    """What the dashboard reads, for the start-up line and for /readyz to those logged in
    (never a secret; callers mask it still)."""
    if not isinstance(store, StoreConfig):
        return getattr(store, "description", None) or "a custom reader"
    return describe(store)


def error_answer(message: str, status: int, **kwargs: Any) -> Json:
    """Every error answer: the documented :class:`~.models.ErrorOut`."""
    return Json(ErrorOut(error=message).model_dump(), status_code=status, **kwargs)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = [str(x) for x in e.get("loc", ()) if x not in ("query", "path", "body")]
        name = ".".join(loc) or "request"
        msg = str(e.get("msg", "invalid value"))
        if e.get("type") == "missing":
            msg = "is required"
        else:
            bad = e.get("input")
            if isinstance(bad, str):
                shown = bad if len(bad) <= 40 else bad[:40] + "..."
                msg = f"{msg} (got {shown!r})"
        parts.append(f"{name}: {msg}" if msg != "is required" else f"{name} is required")
    return "; ".join(parts) or "invalid request"


def create_app(
    store: StoreConfig | Callable[[], Any],
    *,
    auth: tuple[str, str] | None = None,
    stale_after_s: float | None = None,
    pool_size: int = 4,
    gateways_ttl_s: float = 10.0,
    clock: Callable[[], float] = time.time,
    title: str = "heatpump-monitor",
    ready_timeout_s: float = 5.0,
    limits: Limits = LIMITS,
    analytics: AnalyticsConfig | None = None,
    summary_limits: SummaryLimits = SUMMARY_LIMITS,
    alerts: AlertsConfig | None = None,
    language: str | None = None,
) -> FastAPI:
    """The dashboard app over ``store``: a StoreConfig (readers from ``make_reader``) or a
    callable returning a reader (``gateways()``, ``latest()``, ``snapshots()``, ``series()``,
    ``close()``; an optional ``deadline`` attribute bounds its chart queries). ``auth=(user,
    password)`` turns on HTTP basic auth (all but /healthz and /readyz). ``stale_after_s``: data
    older than this is shown as a warning (default: three poll intervals of the gateway, at
    least 90 s). ``ready_timeout_s``: /readyz answers 503 when the store has not answered
    within this. ``limits``: the bounds of chart queries (:class:`~heatpump_monitor.web.limits.Limits`).
    ``pool_size`` readers serve the light requests, ``limits.series_concurrency`` more the chart
    queries. Readers are only opened on the first request. ``analytics``: how summaries are
    computed (default: from the environment, ``load_analytics_config``), within ``summary_limits``
    (:class:`~heatpump_monitor.web.summaries.SummaryLimits`). ``alerts``: where the alert state
    files are, the rules and NOTIFY_URLS (default: from the environment, ``load_alerts_config``).
    ``language``: the pages' language when the browser asks for none of ours (default: LANGUAGE,
    ``load_language``); ``?lang=``, the switch's cookie and ``Accept-Language`` come first."""
    if isinstance(store, StoreConfig):
        from ..stores import make_reader

        cfg = store
        factory: Callable[[], Any] = lambda: make_reader(cfg)  # noqa: E731
    elif callable(store):
        factory = store
    else:
        raise TypeError("create_app needs a StoreConfig or a reader factory")
    if auth is not None and (not auth[0] or not auth[1]):
        raise ValueError("auth needs a non-empty username and password")
    data = Store(factory, secrets=dashboard_secrets(store, auth), pool_size=pool_size,
                 heavy_pool_size=limits.series_concurrency, gateways_ttl_s=gateways_ttl_s, clock=clock)
    gate = SeriesGate.of(limits)
    summaries = Summaries(data, factory, analytics, summary_limits, clock)
    alerts_view = AlertsView(alerts_settings(alerts), dashboard_secrets(store, auth), clock)
    ready_check = ReadyCheck(data, ready_timeout_s)
    description = data.mask(store_description(store))
    auth_bytes = (auth[0].encode("utf-8"), auth[1].encode("utf-8")) if auth is not None else None

    def logged_in(request: Request) -> bool:
        return auth_bytes is not None and basic_auth_ok(request.headers.get("authorization"), *auth_bytes)
    assets = Assets()
    default_language = language if language is not None else load_language()
    # every brand's registers (unit, kind, description): the pages label and filter with them
    brand_catalog = {b: {"title": p.title, "fields": field_catalog(b)}
                     for b in BRANDS if (p := load_or_none(b)) is not None}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await run_in_threadpool(data.close)
            await run_in_threadpool(summaries.pool.close)

    app = FastAPI(
        title=f"{title} API",
        version="1",
        description="Read-only access to the stored heat-pump snapshots. Times are UTC epoch milliseconds "
                    "or ISO-8601. Errors are JSON `{\"error\": \"...\"}`: 400 bad parameter, 401 login "
                    "required, 404 unknown gateway, 503 store unreachable, query over its time budget or "
                    "dashboard busy (with `Retry-After`).",
        docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,
        openapi_url="/openapi.json", lifespan=lifespan,
    )
    app.state.store = data
    app.state.series_gate = gate
    app.state.alerts = alerts_view

    def openapi() -> dict[str, Any]:
        # parameters are checked by the app and answered with 400 {"error"}, never 422
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            for ops in schema.get("paths", {}).values():
                for op in ops.values():
                    op.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    # Messages with the store's text are masked where they are made (Store._failure). Those
    # that quote the request (a bad parameter, an unknown gateway or path) are not: masking
    # them would tell the sender whether what they sent is a secret (the oracle of issue 10).
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Json:
        return error_answer(exc.message, exc.status, headers=exc.headers, background=exc.background)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Json:
        return error_answer(_validation_message(exc), 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 304:  # pragma: no cover
            return Response(status_code=304)
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404:
            detail = f"not found: {request.url.path[:100]}"
        return error_answer(detail, exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Json:  # pragma: no cover - a bug
        log.exception("unexpected error on %s", request.url.path)
        return error_answer(f"internal error ({type(exc).__name__})", 500)

    app.include_router(make_router(data, stale_after_s=stale_after_s, clock=clock, limits=limits, gate=gate))
    app.include_router(make_summary_router(summaries))
    app.include_router(make_alerts_router(alerts_view))
    app.include_router(make_curve_router(summaries, data, gate, limits))

    @app.api_route("/healthz", methods=["GET", "HEAD"], include_in_schema=False)
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.api_route("/readyz", methods=["GET", "HEAD"], include_in_schema=False)
    async def readyz(request: Request) -> Json:
        not_ready = await ready_check()
        doc: dict[str, Any] = {"ready": not_ready is None}
        if not_ready is not None:
            doc["cause"] = not_ready.cause  # generic words: told to anyone
        if logged_in(request):
            doc["store"] = description
            if not_ready is not None:
                doc["detail"] = data.mask(not_ready.detail)
        return Json(doc, status_code=200 if not_ready is None else 503)

    @app.get("/static/{name}", include_in_schema=False)
    async def static(request: Request, name: str) -> Response:
        asset = assets.get(name)
        if asset is None:
            raise ApiError(404, f"not found: /static/{name[:60]}")
        return static_response(request, asset, request.query_params.get("v") == asset.version)

    def charts_head(request: Request, gateways: list[dict[str, Any]], config: dict[str, Any],
                    tr: Callable[[str], str]) -> list[str]:
        # the chart definitions and the first data requests go into the page: the browser
        # starts fetching the data while it reads the page (preload), not once app.js runs
        plan = first_requests(request.query_params, gateways, {b: field_catalog(b) for b in brand_catalog},
                              int(clock() * 1000))
        links = preload_links(plan, CHARTS_PRELOADS)
        if plan is not None:
            plan["preloaded"] = len(links)
        config.update(charts=charts_doc(tr=tr), presets=PRESETS_MS, plan=plan,
                      export={"max_values": limits.max_values, "points_max": POINTS_MAX})
        return links + [f'<link rel="preload" as="script" href="{assets.url(UPLOT_JS)}">']

    def page_language(request: Request) -> str:
        return pick_language(request.query_params.get("lang"), request.cookies.get(COOKIE),
                             request.headers.get("accept-language"), default_language)

    async def page(request: Request, name: str, heading: str) -> HTMLResponse:
        lang = page_language(request)
        t = translator(lang)
        error = None
        gateways: list[dict[str, Any]] = []
        if name != "docs":
            try:
                gateways = [gateway_out(e).model_dump() for e in await run_in_threadpool(data.entries)]
            except ApiError as exc:
                error = data.mask(exc.message)
        config = {
            "page": name,
            "gateways": gateways,
            "error": error,
            "brands": brand_catalog if name != "docs" else {},
        }
        if name in SUMMARY_PAGES:
            config["currency"] = summaries.config.currency
        head: list[str] = []
        if name == "charts":
            head = charts_head(request, gateways, config, t.gettext)
        scripts = (I18N_JS, *PAGE_SCRIPTS[name])
        html = _environment(t.lang).get_template("page.html").render(
            lang=t.lang,
            title=f"{t.gettext(heading)} · {title}",
            app_title=title,
            page=name,
            body_template=f"{name}.html",
            nav=[{"page": p, "href": href, "label": t.gettext(label), "keep": p != "docs"} for p, href, label in NAV],
            languages=language_links(request.url.path, request.query_params.multi_items(), t.lang),
            cards=Markup(cards_html(tr=t.gettext)) if name == "charts" else "",
            config=Markup(_json_for_script(config)),
            messages=Markup(_json_for_script(t.browser_messages())),
            head=Markup("\n".join(head + [f'<link rel="stylesheet" href="{assets.url(s)}">' for s in PAGE_STYLES[name]])),
            scripts=Markup("\n".join(f'<script defer src="{assets.url(s)}"></script>' for s in scripts)),
        )
        response = HTMLResponse(html, headers={"Vary": PAGE_VARY, "Content-Language": t.lang})
        wanted = (request.query_params.get("lang") or "").lower()
        if wanted in languages():
            # the switch's choice is kept for the next pages (no script needs to read it)
            response.set_cookie(COOKIE, wanted, max_age=LANG_COOKIE_MAX_AGE, path="/", samesite="lax", httponly=True)
        return response

    def add_page(name: str, path: str, heading: str) -> None:
        async def show(request: Request) -> HTMLResponse:
            return await page(request, name, heading)
        app.add_api_route(path, show, methods=["GET"], include_in_schema=False, response_class=HTMLResponse, name=name)

    for name, path, label in NAV:
        add_page(name, path, PAGE_HEADINGS.get(name, label))

    app.add_middleware(SecurityHeadersMiddleware)
    if auth is not None:
        app.add_middleware(BasicAuthMiddleware, username=auth[0], password=auth[1])
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=6)
    return app
