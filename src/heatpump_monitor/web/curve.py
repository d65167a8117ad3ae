"""The heat curve and the heat signature (issue 16): ``/api/v1/heatcurve`` and ``/api/v1/signature``,
which the ``/heatcurve`` and ``/signature`` pages (static/curve.js) draw.

Glue only: the lines are :mod:`heatpump_monitor.analytics.fits`', the configured curve
:mod:`heatpump_monitor.analytics.curve`'s (from the brand file's ``curve:``), the daily energy the
summaries' (:mod:`.summaries`). The bounds are the other routes': the heat curve is a chart query
(the :class:`~.limits.SeriesGate`, its time budget, at most :data:`POINTS_MAX` buckets); the
signature is a summary (one computation per gateway, :class:`~.summaries.SummaryLimits`).
"""

from __future__ import annotations

import statistics
from datetime import date, timedelta
from typing import Any, Mapping, Sequence

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from ..analytics import curve as curves
from ..analytics import fits
from ..analytics.profile import Profile, profile_for
from ..analytics.summary import Period, local_midnight
from ..config import AnalyticsConfig
from ..providers.registry import CurveSpec
from .catalog import load_or_none
from .errors import ApiError
from .limits import Limits, SeriesGate
from .models import Answer, ErrorOut, Json
from .params import check_params, parse_source
from .store import Store
from .summaries import FROM, GATEWAY, SOURCE, TO, Summaries

#: buckets of the heat-curve scatter: enough to see a month's cloud, few enough for a phone
POINTS_DEFAULT, POINTS_MIN, POINTS_MAX = 1000, 50, 3000
#: local days of one heat-curve request (a heating season and some)
MAX_CURVE_DAYS = 366
#: days warmer than this are hot water only: left out of the signature's fit (not outliers)
SIGNATURE_MAX_OUTDOOR_C = 17.0
#: a day counts in the signature only when this share of it has data (not today, not an outage)
MIN_COVERAGE = 0.9
#: the outdoor range the configured curve is drawn over (widened to the data)
CURVE_RANGE_C = (-25.0, 20.0)
#: a bucket's state: hot water, add-heat, heating (compressor on), off
STATES = ("heating", "hot_water", "add_heat", "defrost", "off")
NO_CACHE = {"Cache-Control": "private, no-cache"}


# -- response models ----------------------------------------------------------------------------


class LineOut(Answer):
    slope: float = Field(description="K (or kWh) per K of outdoor temperature")
    intercept: float
    r2: float = Field(description="1: every point on the line; 0: the line explains nothing")
    n: int = Field(description="Points the line rests on")


class CurvePointsOut(Answer):
    """The scatter as columns (one entry per bucket; null where a field had no value)."""

    t: list[int] = Field(description="Bucket time, UTC epoch ms")
    outdoor: list[float | None]
    forward: list[float | None] = Field(description="Supply (forward) temperature the curve sets")
    indoor: list[float | None]
    target: list[float | None] = Field(description="The controller's own target supply temperature")
    state: list[str] = Field(description="heating, hot_water, add_heat, defrost or off (the bucket's majority)")


class CurveInputOut(Answer):
    role: str = Field(description="What the register is to the model (curve, slope, parallel, warm, cold, max_c)")
    name: str = Field(description="The register's name")
    value: float = Field(description="Its latest value")


class CurveParamOut(Answer):
    name: str
    value: float


class ConfiguredOut(Answer):
    model: str = Field(description="The brand file's curve model")
    inputs: list[CurveInputOut] = Field(description="The curve registers it was computed from")
    params: list[CurveParamOut] = Field(description="The model's constants from the brand file")
    source: str = Field(description="Where the model's facts come from")
    approximation: str = Field(description="What the model assumes")
    line: list[tuple[float, float]] = Field(description="(outdoor, supply) points of the curve")


class OperatingOut(Answer):
    time_ms: int
    outdoor: float | None
    forward: float | None
    indoor: float | None
    target: float | None
    configured: float | None = Field(description="The configured curve at this outdoor temperature")


class HintOut(Answer):
    outdoor_c: float = Field(description="Where the comparison is made")
    forward_c: float = Field(description="The forward the pump runs there (the fitted line)")
    needed_c: float = Field(description="The forward that kept the house at room_c there")
    room_c: float
    difference_k: float = Field(description="forward - needed: positive, the house gets warmer water than it needs")
    configured_c: float | None = Field(description="The configured curve there")
    n: int


class ColdOut(Answer):
    """The period's cold end (its 10th percentile of outdoor temperature, whole degrees): what
    the pump ran there, what it is configured to run, and how warm the house was."""

    outdoor_c: float
    forward_c: float = Field(description="The fitted line there")
    configured_c: float | None = Field(description="The configured curve there")
    indoor_c: float | None = Field(description="Mean indoor temperature of the heating buckets within 2 K of it")
    room_c: float | None = Field(description="The room setpoint (latest)")
    n: int = Field(description="Heating buckets within 2 K of it")


class HeatCurveOut(Answer):
    gateway: str
    brand: str
    source: str
    start_ms: int
    end_ms: int
    bucket_ms: int
    points: CurvePointsOut
    configured: ConfiguredOut | None = Field(description="The configured curve (null: its registers are unknown)")
    operating: OperatingOut | None = Field(description="The latest snapshot's operating point")
    fit: LineOut | None = Field(description="forward ~ outdoor over the heating buckets, outliers dropped")
    outliers: int = Field(description="Heating buckets the fit left out")
    hint: HintOut | None = Field(description="fits.curve_hint: null without an indoor sensor, enough heating "
                                             "buckets, or an indoor temperature that follows the forward (a room "
                                             "sensor's influence hides it)")
    cold: ColdOut | None = Field(description="Null without a fitted line")


class SignatureDayOut(Answer):
    day: str
    outdoor_mean: float | None
    energy_kwh: float | None = Field(description="Electricity that day (the summaries' energy)")
    heat_kwh: float | None = Field(description="Heat made that day, where known")
    coverage: float | None
    used: bool = Field(description="In the fit: enough data and not warmer than the heating limit")
    outlier_energy: bool
    outlier_heat: bool


class SignatureFitOut(Answer):
    line: LineOut
    balance_point_c: float | None = Field(description="Outdoor temperature where the need reaches zero")
    kwh_per_k: float = Field(description="More per day for each degree colder")


class SignaturePeriodOut(Answer):
    first: str
    last: str
    days: list[SignatureDayOut]
    energy: SignatureFitOut | None = Field(description="Electricity against outdoor temperature")
    heat: SignatureFitOut | None = Field(description="Heat against outdoor temperature (where heat is known)")


class SignatureOut(Answer):
    gateway: str
    source: str
    tz: str
    max_outdoor_c: float = Field(description="Warmer days are left out of the fits (hot water only)")
    period: SignaturePeriodOut
    compare: SignaturePeriodOut | None = Field(description="The second period (compare_from/compare_to)")


# -- heat curve -----------------------------------------------------------------------------------


def _add_heat_fields(p: Profile) -> list[str]:
    return [n for n in (p.add_heat_kw, *(n for n, _ in p.add_heat_steps), p.add_heat_percent) if n]


def state_of(v: Mapping[str, float | None], p: Profile) -> str:
    """A bucket's state from the means of the state registers the summaries read (the brand's
    analytics :class:`Profile`; a mean 0..1 is the share of the bucket they were on): hot water
    wins (the forward then heats the tank, not the house), then add-heat, then the compressor
    heating; defrost is named by no brand's registers yet."""
    def on(name: str | None) -> bool:
        x = v.get(name) if name else None
        return x is not None and x >= 0.5

    if on(p.hot_water_valve):
        return "hot_water"
    for name in _add_heat_fields(p):
        x = v.get(name)
        if x is not None and x > 0.05:
            return "add_heat"
    return "heating" if on(p.compressor) else "off"


def heat_curve(store: Store, gateway: str, source: str | None, start_ms: int, end_ms: int, points: int,
               budget_s: float, config: AnalyticsConfig) -> HeatCurveOut:
    """The answer of ``/api/v1/heatcurve`` (in a worker thread)."""
    entry = store.entry(gateway)
    src = parse_source(source, entry)
    provider = load_or_none(entry.brand)  # with CONFIG_FILE's overrides, as every page shows it
    spec: CurveSpec | None = provider.curve if provider is not None else None
    if provider is None or spec is None:
        raise ApiError(404, f"no heat curve is described for brand {entry.brand!r}")
    profile = profile_for(provider, config)
    names = {r.name for r in provider.registers.values()}
    outdoor = profile.outdoor or "outdoor_temp"
    temps = [outdoor, spec.forward, spec.indoor, spec.target]
    state_fields = [profile.compressor, profile.hot_water_valve, *_add_heat_fields(profile)]
    fields = list(dict.fromkeys(n for n in [*temps, *state_fields] if n and n in names))
    series = store.call("series", gateway, fields, start_ms, end_ms, points, src, heavy=True, budget_s=budget_s)
    rows: dict[int, dict[str, float | None]] = {}
    for s in series:
        for t, m in zip(s.t, s.mean):
            rows.setdefault(t, {})[s.field] = m
    ts = sorted(t for t, r in rows.items() if r.get(outdoor) is not None and r.get(spec.forward) is not None)
    col = lambda name: [None if name is None else _r(rows[t].get(name)) for t in ts]  # noqa: E731
    state = [state_of(rows[t], profile) for t in ts]
    out_points = CurvePointsOut(t=ts, outdoor=col(outdoor), forward=col(spec.forward), indoor=col(spec.indoor),
                                target=col(spec.target), state=state)
    heating = [(rows[t][outdoor], rows[t][spec.forward], rows[t].get(spec.indoor) if spec.indoor else None)
               for t, st in zip(ts, state) if st == "heating"]
    line, out = fits.robust_line([(float(o), float(f)) for o, f, _ in heating])  # type: ignore[arg-type]

    latest = store.call("latest", gateway, src)
    values: dict[str, float] = dict(latest.values) if latest is not None else {}
    conf = curves.configured(spec, values)
    xs = [x for x in out_points.outdoor if x is not None]
    lo = min([CURVE_RANGE_C[0], *xs]) if xs else CURVE_RANGE_C[0]
    hi = max([CURVE_RANGE_C[1], *xs]) if xs else CURVE_RANGE_C[1]
    configured = None if conf is None else ConfiguredOut(
        model=conf.model.model, source=conf.model.source, approximation=conf.model.approximation,
        inputs=[CurveInputOut(role=r, name=conf.model.registers[r], value=round(v, 2)) for r, v in conf.values.items()],
        params=[CurveParamOut(name=k, value=v) for k, v in conf.model.params.items()], line=curves.polyline(conf, lo, hi))
    operating = None
    if latest is not None:
        o = values.get(outdoor)
        operating = OperatingOut(time_ms=latest.time_ms, outdoor=o, forward=values.get(spec.forward),
                                 indoor=values.get(spec.indoor) if spec.indoor else None,
                                 target=values.get(spec.target) if spec.target else None,
                                 configured=None if conf is None or o is None else round(conf.supply(o), 1))
    room = values.get(spec.room) if spec.room else None
    at = _cold_end(heating)
    hint = None if at is None else _hint(heating, room, conf, at)
    cold = None if line is None or at is None else _cold(heating, line, conf, at, room)
    return HeatCurveOut(gateway=gateway, brand=entry.brand, source=src or ",".join(entry.sources), start_ms=start_ms, end_ms=end_ms,
                        bucket_ms=_bucket_ms(ts), points=out_points, configured=configured, operating=operating,
                        fit=None if line is None else LineOut.model_validate(line.as_dict()), outliers=len(out), hint=hint, cold=cold)


def _cold_end(heating: Sequence[tuple[Any, Any, Any]]) -> float | None:
    """The period's cold end: the 10th percentile of the heating buckets' outdoor temperature,
    whole degrees (where a curve too steep or too flat shows most)."""
    if len(heating) < fits.MIN_POINTS:
        return None
    return float(round(statistics.quantiles([float(o) for o, _, _ in heating], n=10)[0]))


def _cold(heating: Sequence[tuple[Any, Any, Any]], line: fits.Line, conf: curves.Configured | None, at: float,
          room: float | None) -> ColdOut:
    near = [float(i) for o, _, i in heating if i is not None and abs(float(o) - at) <= 2.0]
    return ColdOut(outdoor_c=at, forward_c=round(line.at(at), 1),
                   configured_c=None if conf is None else round(conf.supply(at), 1),
                   indoor_c=round(statistics.fmean(near), 1) if near else None, room_c=room, n=len(near))


def _hint(heating: Sequence[tuple[Any, Any, Any]], room: float | None, conf: curves.Configured | None,
          at: float) -> HintOut | None:
    """fits.curve_hint at the period's cold end."""
    rows = [(float(o), float(f), float(i)) for o, f, i in heating if i is not None]
    if len(rows) < 24:
        return None
    room_c = room if room is not None and 10.0 <= room <= 30.0 else 21.0
    h = fits.curve_hint(rows, room_c, at_outdoor_c=at)
    if h is None:
        return None
    return HintOut.model_validate({**h.as_dict(), "configured_c": None if conf is None else round(conf.supply(at), 1)})


def _bucket_ms(ts: Sequence[int]) -> int:
    diffs = sorted(b - a for a, b in zip(ts, ts[1:]) if b > a)
    return diffs[len(diffs) // 2] if diffs else 0


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(x, nd)


# -- signature --------------------------------------------------------------------------------------


def signature_period(periods: Sequence[Period], max_outdoor_c: float = SIGNATURE_MAX_OUTDOOR_C) -> SignaturePeriodOut:
    """One period's days and the fits of electricity and heat against the day's mean outdoor
    temperature (fits.signature), outliers flagged per day."""
    days = [p.as_dict() for p in periods]
    usable = [i for i, d in enumerate(days) if d.get("outdoor_mean") is not None
              and float(d.get("coverage") or 0) >= MIN_COVERAGE]  # type: ignore[arg-type]
    fit_out: dict[str, tuple[SignatureFitOut | None, set[int]]] = {}
    for key in ("energy_kwh", "heat_kwh"):
        idx = [i for i in usable if days[i].get(key) is not None]
        pts = [(float(days[i]["outdoor_mean"]), float(days[i][key])) for i in idx]  # type: ignore[arg-type]
        sig = fits.signature(pts, max_outdoor_c) if len(pts) >= fits.MIN_POINTS else None
        if sig is None:
            fit_out[key] = (None, set())
            continue
        fit_out[key] = (SignatureFitOut(line=LineOut.model_validate(sig.line.as_dict()),
                                        balance_point_c=None if sig.balance_point_c is None
                                        else round(sig.balance_point_c, 1),
                                        kwh_per_k=round(sig.kwh_per_k, 2)), {idx[j] for j in sig.outliers})
    e_fit, e_out = fit_out["energy_kwh"]
    h_fit, h_out = fit_out["heat_kwh"]
    out_days = [SignatureDayOut(
        day=str(d["start"])[:10], outdoor_mean=_r(d.get("outdoor_mean")),  # type: ignore[arg-type]
        energy_kwh=_r(d.get("energy_kwh")), heat_kwh=_r(d.get("heat_kwh")),  # type: ignore[arg-type]
        coverage=_r(d.get("coverage"), 3),  # type: ignore[arg-type]
        used=i in usable and float(d["outdoor_mean"]) <= max_outdoor_c,  # type: ignore[arg-type]
        outlier_energy=i in e_out, outlier_heat=i in h_out) for i, d in enumerate(days)]
    first = out_days[0].day if out_days else ""
    last = out_days[-1].day if out_days else ""
    return SignaturePeriodOut(first=first, last=last, days=out_days, energy=e_fit, heat=h_fit)


# -- routes -------------------------------------------------------------------------------------------


def make_router(s: Summaries, store: Store, gate: SeriesGate, limits: Limits) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["heat curve"], default_response_class=Json)
    err: dict[str, Any] = {"model": ErrorOut}
    responses: dict[int | str, dict[str, Any]] = {
        400: {"description": "Bad parameter", **err}, 401: {"description": "Login required", **err},
        404: {"description": "Unknown gateway or source, or no curve described for its brand", **err},
        503: {"description": "The store cannot be read, the query ran past its time budget, or the dashboard is "
                             "busy (cause in the message; `Retry-After` when busy)",
              "headers": {"Retry-After": {"description": "Seconds to wait before asking again (when busy)",
                                          "schema": {"type": "integer"}}}, **err}}

    @router.get("/heatcurve", summary="Forward against outdoor temperature, with the configured and fitted curve",
                description="The supply (forward) temperature against the outdoor temperature over local days "
                            f"(`since`, or `from`/`to`; default 30d, at most {MAX_CURVE_DAYS}), in at most `points` "
                            "buckets (means), each with the indoor temperature, the controller's target and the "
                            "state (heating, hot_water, add_heat, defrost, off); the configured curve from the "
                            "latest curve registers and the brand's model (`approximation` says what it assumes); "
                            "the latest operating point; a line fitted through the heating buckets; and the hint: "
                            "the forward that kept the house at the room setpoint at a cold day's temperature. "
                            f"A chart query: at most {limits.series_concurrency} at once, {limits.series_queue} "
                            f"waiting, {limits.series_budget_s:g} s of the store's time.",
                response_model=HeatCurveOut, responses=responses)
    async def heatcurve(
        request: Request,
        gateway: str = Query(..., description=GATEWAY, max_length=500),
        since: str | None = Query(None, description="The last N local days, e.g. `30d` or `4w`; default 30d",
                                  max_length=20),
        from_: str | None = Query(None, alias="from", description=FROM, max_length=40),
        to: str | None = Query(None, description=TO, max_length=40),
        points: int = Query(POINTS_DEFAULT, ge=POINTS_MIN, le=POINTS_MAX, description="Most buckets"),
        source: str | None = Query(None, description=SOURCE, max_length=100),
    ) -> Response:
        check_params(request, ("gateway", "since", "from", "to", "points", "source"))
        first, last = s.days(since, from_, to, 30, MAX_CURVE_DAYS, "per request")
        start_ms, end_ms = _window(s, first, last)

        def answer() -> bytes:
            out = heat_curve(store, gateway, source, start_ms, end_ms, points, limits.series_budget_s, s.config)
            return out.model_dump_json().encode("utf-8")

        body, task = await gate.compute(answer)
        return Response(body, media_type="application/json", headers=NO_CACHE, background=task)

    @router.get("/signature", summary="Heat signature: daily energy against the day's mean outdoor temperature",
                description="Per local day (`since`, or `from`/`to`; default 30d): the mean outdoor temperature, "
                            "the electricity (`energy_kwh`, the summaries' energy) and heat where known; a robust "
                            "line through the days with data (coverage >= "
                            f"{MIN_COVERAGE:g}) no warmer than {SIGNATURE_MAX_OUTDOOR_C:g} C, its balance point "
                            "(where it reaches zero) and the days it left out (outliers). `compare_from`/"
                            "`compare_to`: a second period, e.g. before a curve change. "
                            f"At most {s.limits.max_days} days per period; a summary computation (its bounds).",
                response_model=SignatureOut, responses=responses)
    async def signature(
        request: Request,
        gateway: str = Query(..., description=GATEWAY, max_length=500),
        since: str | None = Query(None, description="The last N local days, e.g. `30d`; default 30d",
                                  max_length=20),
        from_: str | None = Query(None, alias="from", description=FROM, max_length=40),
        to: str | None = Query(None, description=TO, max_length=40),
        compare_from: str | None = Query(None, description="First day of the period to compare with",
                                         max_length=40),
        compare_to: str | None = Query(None, description="Last day of the period to compare with (needs "
                                                         "compare_from)", max_length=40),
        source: str | None = Query(None, description=SOURCE, max_length=100),
    ) -> Response:
        check_params(request, ("gateway", "since", "from", "to", "compare_from", "compare_to", "source"))
        first, last = s.days(since, from_, to, 30, s.limits.max_days, "per period")
        other: tuple[date, date] | None = None
        if compare_to is not None and compare_from is None:
            raise ApiError(400, "compare_to needs compare_from")
        if compare_from is not None:
            other = s.days(None, compare_from, compare_to, 30, s.limits.max_days, "per period")
        info = await run_in_threadpool(s.info, gateway, source)

        def answer() -> bytes:
            period = signature_period(s.periods(info, first, last, "day"))
            compare = None if other is None else signature_period(s.periods(info, other[0], other[1], "day"))
            return SignatureOut(gateway=info.gateway, source=info.source, tz=str(s.config.tz),
                                max_outdoor_c=SIGNATURE_MAX_OUTDOOR_C, period=period,
                                compare=compare).model_dump_json().encode("utf-8")

        return Response(await s.run(gateway, answer), media_type="application/json", headers=NO_CACHE)

    return router


def _window(s: Summaries, first: date, last: date) -> tuple[int, int]:
    """Local days [first, last] as UTC ms [start, end), end no later than now."""
    tz = s.config.tz
    start = int(local_midnight(first, tz).timestamp() * 1000)
    end = min(int(local_midnight(last + timedelta(days=1), tz).timestamp() * 1000), int(s.clock() * 1000))
    if start >= end:
        raise ApiError(400, f"from={first} is in the future: no data yet")
    return start, end
