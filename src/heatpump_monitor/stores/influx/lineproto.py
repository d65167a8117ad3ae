"""InfluxDB line protocol for snapshots: one point per poll, every field a float.

    heatpump,brand=thermia,gateway=192.168.1.100,source=api outdoor_temp=-5.3,... 1764324030000

Timestamps are in milliseconds (write with precision=ms).
"""

from __future__ import annotations

from typing import Iterable

from ...model import Snapshot

MEASUREMENT = "heatpump"

# Commas, equals signs and spaces are escaped. Backslashes are not: InfluxDB keeps them as
# written in tag values, so escaping them would store a different name than the embedded store.
_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})


def _esc(s: str) -> str:
    return s.translate(_TAG_ESCAPES)


def _float(v: float) -> str:
    # repr gives the shortest exact form ("27.5", "-5.3", "1.0"); no "i" suffix => float field
    return repr(float(v))


_escaped: dict[str, str] = {}  # register and gateway names repeat every poll: escape each once
_ESCAPED_MAX = 10_000  # names come and go (forgotten MQTT gateways): start over beyond this


def _key(name: str) -> str:
    e = _escaped.get(name)
    if e is None:
        if len(_escaped) >= _ESCAPED_MAX:
            _escaped.clear()
        e = _escaped[name] = _esc(name)
    return e


def to_line(s: Snapshot) -> str:
    if not s.values:
        raise ValueError("a point needs at least one field")
    tags = f"brand={_key(s.brand)},gateway={_key(s.gateway)},source={_key(s.source)}"
    fields = ",".join([f"{_key(k)}={_float(v)}" for k, v in s.values.items()])
    return f"{MEASUREMENT},{tags} {fields} {s.time_ms}"


def to_lines(snapshots: Iterable[Snapshot]) -> str:
    return "\n".join(to_line(s) for s in snapshots if s.values)
