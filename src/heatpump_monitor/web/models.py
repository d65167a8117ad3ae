"""The JSON answers of ``/api/v1``: pydantic models the routes build, so ``/openapi.json``
documents exactly what they return.

Every model forbids undeclared keys and declares every key required: a route that adds a key
the model lacks, or leaves out one it has, fails where the answer is built (and the test
suite with it) instead of drifting from its documentation. Numbers are ``int | float``: a
whole value stays ``38``, not ``38.0``, as the stores give it.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

Number = int | float


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(Answer):
    error: str


class GatewayOut(Answer):
    gateway: str
    brand: str
    title: str
    sources: list[str]
    first: str
    first_ms: int
    last: str
    last_ms: int
    snapshots: int


class GatewaysOut(Answer):
    server_time_ms: int
    gateways: list[GatewayOut]


class AlarmOut(Answer):
    active: bool | None
    field: str | None
    code: int | None
    text: str
    last_text: str | None
    since: str | None
    since_ms: int | None
    since_exact: bool | None


class LatestOut(Answer):
    gateway: str
    brand: str
    title: str
    source: str
    time: str
    time_ms: int
    server_time_ms: int
    age_s: float
    stale_after_s: float
    stale: bool
    values: dict[str, Number]
    units: dict[str, str]
    texts: dict[str, str]
    alarm: AlarmOut


class SeriesItemOut(Answer):
    field: str
    unit: str
    kind: str
    gap_ms: int
    t: list[int]
    mean: list[Number | None]
    min: list[Number | None]
    max: list[Number | None]


class SeriesOut(Answer):
    gateway: str
    brand: str
    source: str | None
    start: str
    end: str
    start_ms: int
    end_ms: int
    points: int
    bucket_ms: int
    interval_ms: int
    series: list[SeriesItemOut]


class PeriodOut(Answer):
    """One period of ``/api/v1/summary``: the fields of ``heatpump-monitor summary``'s CSV and
    JSON (analytics.FIELDS), null where unknown."""

    start: str = Field(description="Local start, ISO 8601 with offset")
    end: str = Field(description="Local end (exclusive), ISO 8601 with offset")
    hours: Number | None = Field(description="Length in real hours (23 or 25 on DST days)")
    coverage: Number | None = Field(description="Share of the period with known state (0..1)")
    unknown_h: Number | None = Field(description="Hours without data (gaps)")
    snapshots: int
    compressor_starts: int | None
    compressor_runtime_h: Number | None
    compressor_runtime_pct: Number | None = Field(description="Runtime over the known hours, %")
    starts_per_hour: Number | None = Field(description="Starts per known hour")
    unknown_starts: int | None = Field(description="Compressor changes across a gap (start or stop unknown)")
    cycles: int | None
    cycle_mean_min: Number | None
    cycle_median_min: Number | None
    add_heat_h: Number | None
    add_heat_kwh: Number | None
    add_heat_share: Number | None
    hot_water_h: Number | None
    hot_water_cycles: int | None
    hot_water_cycle_min: Number | None
    hot_water_gain_k: Number | None
    outdoor_mean: Number | None
    outdoor_min: Number | None
    outdoor_max: Number | None
    degree_minutes_mean: Number | None
    degree_minutes_min: Number | None
    energy_kwh: Number | None = Field(description="Electricity used; measured unless `estimated` names it")
    energy_heating_kwh: Number | None
    energy_hot_water_kwh: Number | None
    energy_method: str | None = Field(description="How energy was found: counter, power, estimate (joined by +)")
    heat_kwh: Number | None = Field(description="Heat delivered (estimated from the flow temperatures without heat meters)")
    heat_heating_kwh: Number | None
    heat_hot_water_kwh: Number | None
    cop: Number | None = Field(description="Heat over electricity; an estimate unless measured by heat meters")
    cop_heating: Number | None
    cop_hot_water: Number | None
    price: Number | None
    cost: Number | None
    currency: str
    short_cycling: bool | None
    short_cycling_hours: int | None
    counter_resets: int
    estimated: list[str] = Field(description="The figures of this period that rest on an assumption")


class SummaryOut(Answer):
    gateway: str
    source: str
    brand: str
    tz: str = Field(description="The zone of local days and hours (the TZ setting)")
    currency: str
    periods: list[PeriodOut]


class EventOut(Answer):
    time: str = Field(description="Local time, ISO 8601 with offset")
    time_ms: int
    kind: str = Field(description="compressor_on/off, add_heat_on/off, hot_water_start/end, alarm_raised/cleared, "
                                  "gateway_silent/back")
    text: str = Field(description="Alarm text, temperature gained...")
    duration_s: Number | None = Field(description="Length of what ended (run, cycle, alarm, silence)")


class EventsOut(Answer):
    gateway: str
    source: str
    tz: str
    start: str
    end: str
    total: int = Field(description="Events in the range")
    truncated: bool = Field(description="True when only the newest of them are given")
    events: list[EventOut]


class AlertOut(Answer):
    """An alert still active (``/api/v1/alerts``)."""

    gateway: str
    rule: str = Field(description="The rule's id, as in CONFIG_FILE's `alerts:` section")
    owner: str = Field(description="The process whose rules raised it: api, mqtt (the collectors) or watch")
    since: str = Field(description="Local time (the TZ setting), ISO 8601 with offset")
    since_ms: int
    last_notice_ms: int = Field(description="When it was sent or last reminded of")
    value: Number | None = Field(description="The value that raised it, in the rule's unit")
    threshold: Number | None
    text: str = Field(description="The brand's alarm text, missing registers, short-cycling details")
    title: str = Field(description="The message's title, in the configured language")
    body: str = Field(description="The message's body, in the configured language")


class AlertsOut(Answer):
    server_time_ms: int
    language: str
    owners: list[str] = Field(description="The state files read (one per process that evaluates rules)")
    unreadable: list[str] = Field(description="State files that could not be read (see the dashboard's log)")
    alerts: list[AlertOut]


class AlertNoticeOut(Answer):
    """An alert raised (`fired`) or cleared (`resolved`)."""

    gateway: str
    rule: str
    kind: str = Field(description="fired or resolved")
    owner: str
    time: str = Field(description="Local time, ISO 8601 with offset")
    time_ms: int
    since: str
    since_ms: int
    value: Number | None
    threshold: Number | None
    text: str
    title: str
    body: str


class AlertHistoryOut(Answer):
    language: str
    owners: list[str]
    unreadable: list[str]
    notices: list[AlertNoticeOut] = Field(description="Newest first")


class AlertRuleOut(Answer):
    rule: str
    enabled: bool
    description: str
    settings: dict[str, Number] = Field(description="Its thresholds, as in CONFIG_FILE's `alerts:` section")


class DeliveryOut(Answer):
    configured: bool = Field(description="NOTIFY_URLS is set: messages are sent")
    targets: list[str] = Field(description="Each target's number and scheme only (`1 ntfys://***`), never a URL")


class AlertRulesOut(Answer):
    running: bool = Field(description="The rules run: NOTIFY_URLS is set or CONFIG_FILE has an `alerts:` section")
    language: str
    tz: str
    reminder_hours: Number
    delivery: DeliveryOut
    rules: list[AlertRuleOut]


class TargetResultOut(Answer):
    target: str = Field(description="Number and scheme only (`1 json://***`)")
    ok: bool
    cause: str = Field(description="Why it failed, with every secret of the URL masked; empty when delivered")


class AlertTestOut(Answer):
    ok: bool = Field(description="Every target accepted the message")
    results: list[TargetResultOut]


def render_json(content: Any) -> bytes:
    """Compact UTF-8 JSON without NaN/Infinity (invalid JSON): such values, should a store
    hold one, become null."""
    try:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except ValueError:
        return json.dumps(_finite(content), ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")


class Json(JSONResponse):
    """JSON without NaN/Infinity (:func:`render_json`)."""

    def render(self, content: Any) -> bytes:
        return render_json(content)


def _finite(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x
