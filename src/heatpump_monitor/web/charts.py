"""The charts page's charts: which fields each one plots, in which colour, under which title.

Defined here, not in ``static/app.js``, so that the server knows what the page will ask for:
it renders the chart cards and the definitions into the page (as JSON) and names the first
data requests in ``<link rel=preload>`` headers of the page itself, so the browser fetches the
data while it is still reading the page and the chart library (no round trip through app.js).

A line's name and a chart's unit default to the field catalogue's description and unit
(:func:`~.catalog.field_catalog`), so a chart of derived values needs no more than
``Chart(id, title, (Line(field, colour), ...))``. Lines whose field the gateway's brand lacks
are left out; a chart with none left says so.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import urlencode


def N_(text: str) -> str:
    """Marks a chart's English title or line name for the catalogue (Babel extracts ``N_``);
    translated when a page is rendered (:func:`charts_doc`, :func:`cards_html`)."""
    return text


def _same(text: str) -> str:
    return text


@dataclass(frozen=True)
class Line:
    field: str
    colour: str  # "#rrggbb": the band of a line is the same colour, translucent
    name: str = ""  # legend; default: the catalogue's description
    label: str = ""  # status charts: the lane's name; default: name
    dash: bool = False
    percent: bool = False  # status charts: 0..100 % (scaled to a lane's 0..1)


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    lines: tuple[Line, ...]
    unit: str = ""  # default: the unit of the first line's field
    status: bool = False  # one step-line lane per field (on/off, share of time on)


# Drawn in this order; the first chart with data is drawn from a request of its own.
CHARTS: tuple[Chart, ...] = (
    Chart("climate", N_("Outdoor / indoor"), (
        Line("outdoor_temp", "#1c7ed6", N_("Outdoor")),
        Line("indoor_temp", "#f08c00", N_("Indoor"))), unit="°C"),
    Chart("heating", N_("Heating circuit"), (
        Line("radiator_forward", "#e03131", N_("Forward")),
        Line("radiator_return", "#4263eb", N_("Return")),
        Line("heating_setpoint", "#868e96", N_("Setpoint"), dash=True)), unit="°C"),
    Chart("brine", N_("Brine"), (
        Line("brine_in_evaporator", "#0c8599", N_("Brine in")),
        Line("brine_out_condenser", "#9c36b5", N_("Brine out"))), unit="°C"),
    Chart("hotwater", N_("Hot water"), (
        Line("hot_water_top", "#e8590c", N_("Top")),
        Line("hot_water_mid", "#f59f00", N_("Middle"))), unit="°C"),
    Chart("delta", N_("Delta T"), (
        Line("delta_t_radiator", "#d6336c"),
        Line("delta_t_brine", "#2b8a3e"))),
    Chart("status", N_("Operation"), (
        Line("compressor", "#2f9e44", N_("Compressor")),
        Line("brine_pump", "#0c8599", N_("Brine pump")),
        Line("radiator_pump", "#4263eb", N_("Radiator pump")),
        Line("heat_circuit_pump", "#5c7cfa", N_("Heat circuit pump")),
        Line("switch_valve", "#e8590c", N_("Switch valve"), label=N_("Switch valve (high: hot water)")),
        Line("additional_heat", "#c92a2a", N_("Additional heat"), label=N_("Additional heat (0\u2013100 %)"),
             percent=True)), status=True),
)

# The range presets of the page (app.js has the same names, from this config)
PRESETS_MS = {"1h": 3_600_000, "6h": 6 * 3_600_000, "24h": 24 * 3_600_000, "7d": 7 * 86_400_000,
              "30d": 30 * 86_400_000, "90d": 90 * 86_400_000}
DEFAULT_PRESET = "24h"
# Points per series of the preloaded requests: the server cannot know the chart's width; app.js
# asks ~1.5 per pixel (300..1500), ~960 for a chart half of a 1400 px wide window.
FIRST_POINTS = 1000


def chart_doc(chart: Chart, tr: Callable[[str], str] = _same) -> dict[str, Any]:
    """One chart as app.js reads it (short keys, defaults left out); ``tr`` translates the
    titles and names (a page's ``gettext``)."""
    lines = []
    for ln in chart.lines:
        d: dict[str, Any] = {"f": ln.field, "color": ln.colour}
        if ln.name:
            d["name"] = tr(ln.name)
        if ln.label:
            d["label"] = tr(ln.label)
        if ln.dash:
            d["dash"] = True
        if ln.percent:
            d["percent"] = True
        lines.append(d)
    out: dict[str, Any] = {"id": chart.id, "title": tr(chart.title), "lines": lines}
    if chart.unit:
        out["unit"] = chart.unit
    if chart.status:
        out["status"] = True
    return out


def charts_doc(charts: tuple[Chart, ...] = CHARTS, tr: Callable[[str], str] = _same) -> list[dict[str, Any]]:
    return [chart_doc(c, tr) for c in charts]


def cards_html(charts: tuple[Chart, ...] = CHARTS, tr: Callable[[str], str] = _same) -> str:
    """A card per chart, in the page itself: the layout is known before any script runs."""
    return "\n".join(
        f'<article class="card chart-card"><h2>{html.escape(tr(c.title))}</h2>'
        f'<div class="chart{" chart-status" if c.status else ""}" id="chart-{c.id}" data-chart="{c.id}"></div></article>'
        for c in charts)


def field_parts(known: Mapping[str, Any], charts: tuple[Chart, ...] = CHARTS) -> list[list[str]]:
    """The fields to request, in two parts: the first chart with any field the brand has, then
    every other chart's (each field once). Empty parts are left out."""
    first: list[str] = []
    rest: list[str] = []
    for c in charts:
        fields = [ln.field for ln in c.lines if ln.field in known]
        target = rest if first else first
        target.extend(f for f in fields if f not in first and f not in rest)
    return [p for p in (first, rest) if p]


def series_url(gateway: str, fields: list[str], start_ms: int, end_ms: int, points: int) -> str:
    """/api/v1/series for one part; app.js requests exactly this URL (a preload is only reused
    for the same URL)."""
    return "/api/v1/series?" + urlencode({"gateway": gateway, "fields": ",".join(fields), "start": start_ms,
                                          "end": end_ms, "points": points})


def first_requests(query: Mapping[str, str], gateways: list[dict[str, Any]],
                   catalogs: Mapping[str, Mapping[str, Any]], now_ms: int) -> dict[str, Any] | None:
    """The data requests the page will make first, for the gateway and range its address names
    (as app.js picks them: an unknown gateway shows the first one). None when the address names
    its own start/end or an unknown range (app.js then asks by itself) or there is no gateway."""
    if not gateways or "start" in query or "end" in query:
        return None
    preset = query.get("range") or DEFAULT_PRESET
    if preset not in PRESETS_MS:
        return None
    wanted = query.get("gateway")
    entry = next((g for g in gateways if g["gateway"] == wanted), gateways[0])
    parts = field_parts(catalogs.get(entry["brand"], {}))
    if not parts:
        return None
    start = now_ms - PRESETS_MS[preset]
    # preloaded: how many of them the page preloads (app.js takes those up at once and asks for
    # each other part when the one before is answered)
    return {"gateway": entry["gateway"], "range": preset, "preloaded": 0,
            "urls": [series_url(entry["gateway"], p, start, now_ms, FIRST_POINTS) for p in parts]}


def preload_links(plan: dict[str, Any] | None, count: int) -> list[str]:
    """``<link rel=preload>`` for the first ``count`` requests of the plan: ``as=fetch`` with
    ``crossorigin`` (the credentials mode of app.js's fetch), else the browser fetches twice."""
    if plan is None:
        return []
    return [f'<link rel="preload" as="fetch" crossorigin href="{html.escape(url)}" fetchpriority="high">'
            for url in plan["urls"][:count]]
