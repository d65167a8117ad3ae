"""Request parameters, checked before anything reaches a reader.

The gateway must be one the store knows (else 404), field names must be registers of that
gateway's brand or derived values (:data:`~heatpump_monitor.derived.DERIVED`), times must
parse, ``points`` must be in range. Readers bind or quote whatever they get; nothing from a
request is pasted into a query. Errors are :class:`~.errors.ApiError` (400, or 404) quoting
the request value, cut.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Sequence

from fastapi import Request

from ..derived import DERIVED
from ..model import iso_ms
from .catalog import field_catalog
from .errors import ApiError, shown

if TYPE_CHECKING:
    from .store import GatewayEntry

POINTS_MIN, POINTS_MAX, POINTS_DEFAULT = 10, 5000, 1500
MAX_FIELDS = 64
MAX_SPAN_MS = 3660 * 86_400_000  # ten years
DEFAULT_SPAN_MS = 86_400_000
TIME_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z

_FIELD_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_EPOCH_RE = re.compile(r"-?[0-9]{1,16}")  # ASCII digits: int() would take any script's


def check_params(request: Request, allowed: Sequence[str]) -> None:
    """No parameter but ``allowed``, none twice (FastAPI would silently take the last)."""
    seen: set[str] = set()
    for key, _ in request.query_params.multi_items():
        if key not in allowed:
            raise ApiError(400, f"unknown parameter {shown(key, 40)}; accepted: {', '.join(allowed)}")
        if key in seen:
            raise ApiError(400, f"parameter {key!r} given more than once")
        seen.add(key)


def parse_time(value: str | None, name: str) -> int | None:
    """ISO-8601 (a time without zone is UTC) or epoch milliseconds -> epoch ms."""
    if value is None:
        return None
    v = value.strip()
    if not v:
        raise ApiError(400, f"{name} is empty: give an ISO-8601 time (e.g. 2026-11-28T10:00:00Z) or epoch milliseconds")
    if _EPOCH_RE.fullmatch(v):
        ms = int(v)
    else:
        try:
            dt = datetime.fromisoformat(v)
        except ValueError:
            raise ApiError(400, f"{name}={shown(value)} is not an ISO-8601 time (e.g. 2026-11-28T10:00:00Z) "
                                "or epoch milliseconds") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        try:
            ms = int(round(dt.timestamp() * 1000))
        except (OverflowError, ValueError, OSError):
            raise ApiError(400, f"{name}={shown(value)} is out of range") from None
    if not 0 <= ms <= TIME_MAX_MS:
        raise ApiError(400, f"{name}={shown(value)} is out of range (1970-01-01 to 9999-12-31)")
    return ms


def parse_window(start: str | None, end: str | None, now_ms: int) -> tuple[int, int]:
    """[start, end) in epoch ms: end defaults to now, start to a day before end; start before
    end, at most :data:`MAX_SPAN_MS` apart."""
    start_ms, end_ms = parse_time(start, "start"), parse_time(end, "end")
    if end_ms is None:
        end_ms = now_ms
    if start_ms is None:
        start_ms = max(0, end_ms - DEFAULT_SPAN_MS)
    if start_ms >= end_ms:
        raise ApiError(400, f"start ({iso_ms(start_ms)}) must be before end ({iso_ms(end_ms)})")
    if end_ms - start_ms > MAX_SPAN_MS:
        raise ApiError(400, f"range too long ({(end_ms - start_ms) / 86_400_000:.0f} days); "
                            f"at most {MAX_SPAN_MS // 86_400_000} days")
    return start_ms, end_ms


def count_fields(value: str) -> int:
    """How many distinct names ``fields`` asks for (before they are checked)."""
    return len({f.strip() for f in value.split(",") if f.strip()})


def parse_fields(value: str, entry: GatewayEntry) -> list[str]:
    """The distinct field names of ``fields``, in their order: the brand's registers and any
    derived value (one whose inputs the brand lacks has no data, like an absent register)."""
    raw = [f.strip() for f in value.split(",")]
    if not value.strip() or not any(raw):
        raise ApiError(400, "fields is empty: give register names separated by commas, e.g. outdoor_temp,indoor_temp")
    fields: list[str] = []
    catalog = field_catalog(entry.brand)
    for f in raw:
        if not f:
            raise ApiError(400, f"fields={shown(value)} has an empty name (two commas in a row?)")
        if not _FIELD_RE.fullmatch(f):
            raise ApiError(400, f"invalid field name {shown(f, 40)}: names are lower-case letters, digits and _")
        if f not in catalog and f not in DERIVED:
            raise ApiError(400, f"unknown field {f!r} for brand {entry.brand!r} (gateway {entry.gateway!r}); "
                                f"known: {', '.join(sorted(catalog) or ['none'])}")
        if f not in fields:
            fields.append(f)
    if len(fields) > MAX_FIELDS:
        raise ApiError(400, f"too many fields ({len(fields)}); at most {MAX_FIELDS}")
    return fields


def parse_source(value: str | None, entry: GatewayEntry) -> str | None:
    if value is None:
        return None
    if value not in entry.sources:
        raise ApiError(404, f"gateway {entry.gateway!r} has no data from source {shown(value, 40)}; "
                            f"sources: {', '.join(entry.sources)}")
    return value
