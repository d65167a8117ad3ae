"""The JSON API, ``/api/v1/...``: the routes, their parameters and their documentation.

Thin on purpose: each route checks its parameters (:mod:`.params`), has the answer built in a
worker thread (:mod:`.answers`, over :mod:`.store`) and returns it as its response model
(:mod:`.models`), so ``/openapi.json`` documents what the routes really return. Chart queries
pass through the :class:`~.limits.SeriesGate` and are rendered in the worker thread too.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..derived import DERIVED
from . import answers
from .limits import LIMITS, Limits, SeriesGate, check_values
from .models import ErrorOut, GatewaysOut, Json, LatestOut, SeriesOut
from .params import POINTS_DEFAULT, POINTS_MAX, POINTS_MIN, check_params, count_fields, parse_window
from .store import Store
from .summaries import CSV_TYPE, Format, csv_disposition, series_csv

GATEWAY = "Gateway name as listed by /api/v1/gateways"
# A chart query whose window ended this long ago is "closed": only data arriving late (a spool
# replayed after an outage) could still change it, so browsers may keep it a few minutes.
CLOSED_AFTER_MS = 10 * 60_000
CLOSED_MAX_AGE_S = 300


def series_cache_headers(body: bytes, end_ms: int, now_ms: int) -> dict[str, str]:
    """ETag (a hash of the answer) and Cache-Control: a closed past window may be reused for
    a few minutes; one reaching to now is revalidated every time (``no-cache``: a 304 when the
    answer did not change)."""
    closed = end_ms <= now_ms - CLOSED_AFTER_MS
    return {"ETag": '"' + hashlib.sha256(body).hexdigest()[:20] + '"',
            "Cache-Control": f"private, max-age={CLOSED_MAX_AGE_S}" if closed else "private, no-cache"}


def etag_matches(request: Request, etag: str) -> bool:
    inm = request.headers.get("if-none-match")
    if not inm:
        return False
    return inm.strip() == "*" or etag in [t.strip().removeprefix("W/") for t in inm.split(",")]


def derived_doc() -> str:
    """The derived values for the API's text, from their definitions."""
    return ", ".join(f"`{name}` ({d.description}, {d.unit or 'no unit'}: `{d.formula}`)"
                     for name, d in DERIVED.items())


def make_router(store: Store, *, stale_after_s: float | None, clock: Callable[[], float],
                limits: Limits = LIMITS, gate: SeriesGate | None = None) -> APIRouter:
    """The /api/v1 routes. Chart queries pass through ``gate`` (one is made from ``limits``
    if not given)."""
    if gate is None:
        gate = SeriesGate.of(limits)
    series_gate = gate
    router = APIRouter(prefix="/api/v1", tags=["data"], default_response_class=Json)
    err: dict[str, Any] = {"model": ErrorOut}
    common: dict[int | str, dict[str, Any]] = {
        400: {"description": "Bad parameter", **err}, 401: {"description": "Login required", **err},
        503: {"description": "The store cannot be read (cause in the message)", **err}}
    series_503: dict[str, Any] = {
        "description": "The store cannot be read, the query ran past its time budget, or the dashboard is busy "
                       "with other chart queries (cause in the message; `Retry-After` when busy)",
        "headers": {"Retry-After": {"description": "Seconds to wait before asking again (when busy)",
                                    "schema": {"type": "integer"}}},
        **err,
    }

    @router.get("/gateways", summary="Gateways in the store",
                description="Every gateway with stored snapshots: brand, sources, first and last snapshot time "
                            "and snapshot count.",
                responses=common)
    async def gateways(request: Request) -> GatewaysOut:
        check_params(request, ())
        return await run_in_threadpool(answers.gateways, store, clock)

    @router.get("/latest", summary="Latest snapshot of a gateway",
                description="The newest stored snapshot of a gateway: every value plus the derived values "
                            "computed from it, units, texts of mapped values, alarm state with the brand's alarm "
                            "text and since when, and the data age. Derived values that need the snapshot "
                            "before (a counter's increase) are not in `values`: ask /api/v1/series for them. "
                            "Derived values: " + derived_doc() + ".",
                responses={404: {"description": "Unknown gateway", **err}, **common})
    async def latest(
        request: Request,
        gateway: str = Query(..., description=GATEWAY, max_length=500),
        source: str | None = Query(None, description="Only snapshots of this source (api or mqtt); "
                                                     "default: the newest of any source", max_length=100),
    ) -> LatestOut:
        check_params(request, ("gateway", "source"))
        return await run_in_threadpool(answers.latest, store, gateway, source, stale_after_s, clock)

    @router.get("/series", summary="Time series of fields, downsampled",
                description="Each field over [start, end) in at most `points` buckets, each with its time (ms), "
                            "mean, min and max. Buckets without data are absent: where the time between two "
                            "points exceeds `gap_ms`, data is really missing. Derived fields: "
                            + derived_doc() + ". "
                            f"At most {limits.max_values:,} values per request (number of fields x `points`), "
                            f"else 400. At most {limits.series_concurrency} chart queries are computed at once and "
                            f"{limits.series_queue} more wait (each up to {limits.series_wait_s:g} s): beyond that "
                            f"503 with `Retry-After`. A query the store has not answered within "
                            f"{limits.series_budget_s:g} s is stopped: 503. "
                            "Cached with an `ETag` (`If-None-Match` answers 304 when unchanged): "
                            f"`Cache-Control: private, no-cache` for a window ending less than "
                            f"{CLOSED_AFTER_MS // 60_000} minutes ago, `private, max-age={CLOSED_MAX_AGE_S}` "
                            "for an older one. `format=csv`: the same as CSV, one row per time with each field's "
                            "mean, min and max.",
                response_model=SeriesOut,
                responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                                 "description": "The series (JSON), or CSV with `format=csv`"},
                           304: {"description": "Not modified (`If-None-Match` named the current `ETag`)"},
                           404: {"description": "Unknown gateway", **err}, **common, 503: series_503})
    async def series(
        request: Request,
        gateway: str = Query(..., description=GATEWAY, max_length=500),
        fields: str = Query(..., description="Comma-separated register names of the gateway's brand, or derived "
                                             "fields, e.g. `outdoor_temp,indoor_temp,delta_t_radiator`",
                            max_length=4000),
        start: str | None = Query(None, description="Start (inclusive): ISO-8601 (UTC when no zone is given) or "
                                                    "epoch milliseconds. Default: 24 h before end.", max_length=100),
        end: str | None = Query(None, description="End (exclusive): ISO-8601 or epoch milliseconds. Default: now.",
                                max_length=100),
        points: int = Query(POINTS_DEFAULT, ge=POINTS_MIN, le=POINTS_MAX,
                            description="Most points (buckets) per series"),
        source: str | None = Query(None, description="Only snapshots of this source (api or mqtt)", max_length=100),
        format: Format = Query("json", description="`json` or `csv`"),
    ) -> Response:
        check_params(request, ("gateway", "fields", "start", "end", "points", "source", "format"))
        start_ms, end_ms = parse_window(start, end, int(clock() * 1000))
        check_values(count_fields(fields), points, limits.max_values)

        def render() -> bytes:
            # megabytes of JSON: rendered here, in the worker thread, not in the event loop
            # (which would block every other request); pydantic's own JSON is also faster
            out = answers.series(store, gateway, fields, start_ms, end_ms, points, source, limits.series_budget_s)
            return series_csv(out) if format == "csv" else out.model_dump_json().encode("utf-8")

        body, task = await series_gate.compute(render)
        headers = series_cache_headers(body, end_ms, int(clock() * 1000))
        if etag_matches(request, headers["ETag"]):
            return Response(status_code=304, headers=headers, background=task)
        if format == "csv":
            headers["Content-Disposition"] = csv_disposition(f"series-{gateway}-{start_ms}-{end_ms}")
        return Response(body, media_type=CSV_TYPE if format == "csv" else "application/json", headers=headers,
                        background=task)

    return router
