"""Registers as data: one YAML file per brand, loaded into :class:`Provider` objects.

The decoding rule is the single small function :func:`decode_value`; everything brand specific
(factor, signedness, mappings, plausible range, absent-sensor value, alarm texts) lives in
``providers/data/<brand>.yaml``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from typing import Any, Mapping

import yaml

BRANDS = ("thermia", "ivt", "nibe")

# Defaults by the first hex digit of the index (Husdata's convention). Only "0 = tenths of a
# degree, signed" is certain; every register may override factor/signed/unit/range in its file.
# kind, unit, factor (raw is divided by it), signed, min, max (real units)
KIND_DEFAULTS: dict[str, tuple[str, str, int, bool, float | None, float | None]] = {
    "0": ("temperature", "°C", 10, True, -50.0, 150.0),
    "1": ("status", "", 1, False, 0.0, 1.0),
    "2": ("setting", "", 1, False, None, None),
    "3": ("percent", "%", 1, False, 0.0, 100.0),
    "4": ("current", "A", 10, False, 0.0, 100.0),
    "5": ("energy", "kWh", 1, False, 0.0, None),
    "6": ("hours", "h", 1, False, 0.0, None),
    "7": ("minutes", "min", 1, False, 0.0, None),
    "8": ("degree_minutes", "°Cmin", 1, True, None, None),
    "9": ("power", "kW", 10, False, 0.0, 100.0),
    "A": ("alarm", "", 1, False, None, None),
    "B": ("alarm", "", 1, False, None, None),
    "C": ("power", "W", 1, False, 0.0, None),
}
_FALLBACK_KIND = ("number", "", 1, False, None, None)

RAW_MIN, RAW_MAX = 0, 65535


class BadValue(ValueError):
    """A raw value that must not be stored; the message names the cause."""


@dataclass(frozen=True, slots=True)
class Register:
    index: str  # four upper-case hex digits
    name: str
    kind: str
    unit: str = ""
    factor: int | float = 1  # the raw (signed) integer is divided by this
    signed: bool = False
    writable: bool = False
    min: float | None = None  # plausible range in real units; outside it the value is dropped
    max: float | None = None
    absent_at_or_below: float | None = None  # e.g. -48.0: an uninstalled sensor, not a reading
    mapping: Mapping[int, str] | None = None  # e.g. operating mode numbers -> names
    description: str = ""

    def text(self, value: float) -> str | None:
        """The mapped text of a value (operating mode, program...), if any."""
        if not self.mapping or value != int(value):
            return None
        return self.mapping.get(int(value))


def decode_value(reg: Register, raw: int) -> float | None:
    """Raw 16-bit gateway integer -> value in real units.

    Signed registers wrap (raw > 32767 means raw - 65536), then the raw value is divided by the
    register's factor. Returns ``None`` for an absent sensor. Raises :class:`BadValue` for a
    raw value outside 0..65535 or a result outside the register's plausible range.
    """
    if raw < RAW_MIN or raw > RAW_MAX:
        raise BadValue(f"raw value {raw} outside 0..65535")
    signed = raw - 65536 if reg.signed and raw > 32767 else raw
    value = signed / reg.factor if reg.factor != 1 else float(signed)
    if (reg.min is not None and value < reg.min) or (reg.max is not None and value > reg.max):
        raise BadValue(
            f"{value:g} {reg.unit} outside plausible range "
            f"{_fmt(reg.min)}..{_fmt(reg.max)}".replace("  ", " ")
        )
    if reg.absent_at_or_below is not None and value <= reg.absent_at_or_below:
        return None  # checked after the range: garbage is flagged, not taken for "no sensor"
    return value


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def normalize_index(index: str) -> str | None:
    """'1a01' -> '1A01'; anything that is not four hex digits -> None."""
    if not isinstance(index, str) or len(index) != 4:
        return None
    up = index.upper()
    return up if all(c in "0123456789ABCDEF" for c in up) else None


def default_register(index: str) -> Register:
    """A register described only by its index's first hex digit (used for unknown registers)."""
    kind, unit, factor, signed, lo, hi = KIND_DEFAULTS.get(index[0], _FALLBACK_KIND)
    return Register(index=index, name=f"reg_{index}", kind=kind, unit=unit, factor=factor,
                    signed=signed, min=lo, max=hi)


@dataclass(slots=True)
class DecodedPoll:
    values: dict[str, float] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)  # indices not in the provider
    rejected: list[tuple[str, Any, str]] = field(default_factory=list)  # (index/key, raw, cause)
    absent: list[str] = field(default_factory=list)  # register names reporting "no sensor"


@dataclass(frozen=True)
class Provider:
    brand: str
    title: str
    h1ver_codes: tuple[str, ...]
    registers: Mapping[str, Register]  # by upper-case index
    alarm_register: str | None = None
    alarms: Mapping[int, str] = field(default_factory=dict)
    notes: str = ""

    def register(self, index: str) -> Register | None:
        idx = normalize_index(index)
        return self.registers.get(idx) if idx else None

    def by_name(self, name: str) -> Register | None:
        for reg in self.registers.values():
            if reg.name == name:
                return reg
        return None

    def alarm_text(self, code: int) -> str:
        if code == 0:
            return "no alarm"
        return self.alarms.get(code, f"alarm {code}")

    def decode_poll(self, raw: Mapping[str, Any], store_unknown: bool = False) -> DecodedPoll:
        """Decode one gateway answer (index -> raw integer). Never raises for bad data.

        Bad values (not an integer, outside 0..65535, implausible) are listed in ``rejected``
        and left out; the rest of the poll is kept.
        """
        out = DecodedPoll()
        lookup = self._lookup
        values = out.values
        for key, rawval in raw.items():
            reg = lookup.get(key)  # fast path: the gateway's spelling, upper or lower case
            if reg is not None:
                idx = reg.index
            else:
                idx = normalize_index(key)
                if idx is None:
                    out.rejected.append((str(key)[:40], rawval, "not a register index"))
                    continue
                reg = self.registers.get(idx)
            if type(rawval) is not int:  # bool, float, str, None, list... (bool is not int here)
                out.rejected.append((idx, rawval, f"not an integer ({type(rawval).__name__})"))
                continue
            if reg is None:
                out.unknown.append(idx)
                if not store_unknown:
                    continue
                if not RAW_MIN <= rawval <= RAW_MAX:
                    out.rejected.append((idx, rawval, f"raw value {rawval} outside 0..65535"))
                    continue
                out.values[f"reg_{idx}"] = float(rawval)
                continue
            try:
                value = decode_value(reg, rawval)
            except BadValue as exc:
                out.rejected.append((idx, rawval, str(exc)))
                continue
            if value is None:
                out.absent.append(reg.name)
            else:
                values[reg.name] = value
        return out

    @cached_property
    def _lookup(self) -> dict[str, Register]:
        """Index spellings a gateway uses (as in the sheet, and lower case) -> register."""
        table: dict[str, Register] = {}
        for idx, reg in self.registers.items():
            table[idx] = table[idx.lower()] = reg
        return table


# ---------------------------------------------------------------- loading the data files


class ProviderError(ValueError):
    pass


def _register_from_dict(d: Mapping[str, Any], brand: str) -> Register:
    idx = normalize_index(str(d.get("index", "")))
    if idx is None:
        raise ProviderError(f"{brand}: bad register index {d.get('index')!r}")
    kind, unit, factor, signed, lo, hi = KIND_DEFAULTS.get(idx[0], _FALLBACK_KIND)
    known = {"index", "name", "kind", "unit", "factor", "signed", "writable", "min", "max",
             "absent_at_or_below", "mapping", "description"}
    extra = set(d) - known
    if extra:
        raise ProviderError(f"{brand} {idx}: unknown keys {sorted(extra)}")
    name = d.get("name")
    if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
        raise ProviderError(f"{brand} {idx}: name must be snake_case, got {name!r}")
    mapping = d.get("mapping")
    if mapping is not None:
        mapping = {int(k): str(v) for k, v in mapping.items()}
    f = d.get("factor", factor)
    if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < math.inf:
        raise ProviderError(f"{brand} {idx}: factor must be a positive number")
    return Register(
        index=idx,
        name=name,
        kind=d.get("kind", kind),
        unit=d.get("unit", unit),
        factor=f,
        signed=bool(d.get("signed", signed)),
        writable=bool(d.get("writable", False)),
        min=d.get("min", lo),
        max=d.get("max", hi),
        absent_at_or_below=d.get("absent_at_or_below"),
        mapping=mapping,
        description=d.get("description", ""),
    )


def provider_from_dict(doc: Mapping[str, Any]) -> Provider:
    brand = doc["brand"]
    regs: dict[str, Register] = {}
    names: set[str] = set()
    for d in doc.get("registers", []):
        reg = _register_from_dict(d, brand)
        if reg.index in regs:
            raise ProviderError(f"{brand}: index {reg.index} listed twice")
        if reg.name in names:
            raise ProviderError(f"{brand}: name {reg.name} used twice")
        regs[reg.index] = reg
        names.add(reg.name)
    alarm_register = doc.get("alarm_register")
    if alarm_register is not None:
        alarm_register = normalize_index(str(alarm_register))
        if alarm_register not in regs:
            raise ProviderError(f"{brand}: alarm_register {doc.get('alarm_register')} not defined")
    return Provider(
        brand=brand,
        title=doc.get("title", brand),
        h1ver_codes=tuple(str(c) for c in doc.get("h1ver_codes", [])),
        registers=regs,
        alarm_register=alarm_register,
        alarms={int(k): str(v) for k, v in (doc.get("alarms") or {}).items()},
        notes=doc.get("notes", ""),
    )


@cache
def load_provider(brand: str) -> Provider:
    brand = brand.lower()
    if brand not in BRANDS:
        raise ProviderError(f"unknown brand {brand!r}; accepted: {', '.join(BRANDS)}")
    text = resources.files("heatpump_monitor.providers").joinpath("data", f"{brand}.yaml").read_text("utf-8")
    return provider_from_dict(yaml.safe_load(text))


def brand_for_h1ver(code: str) -> str | None:
    """Brand whose controller family matches the first two characters of a gateway's H1ver."""
    prefix = str(code).strip()[:2]
    for brand in BRANDS:
        if prefix in load_provider(brand).h1ver_codes:
            return brand
    return None


CONTROLLER_FAMILIES = {
    "00": "IVT/Bosch Rego 600/637",
    "10": "IVT Rego 2000",
    "30": "IVT Rego 1000",
    "40": "NIBE EB100",
    "60": "Thermia Diplomat",
}
