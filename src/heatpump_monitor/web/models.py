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
from pydantic import BaseModel, ConfigDict

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
