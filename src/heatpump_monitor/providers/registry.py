"""Registers as data: one YAML file per brand, loaded into :class:`Provider` objects.

The decoding rule is the single small function :func:`decode_value`; everything brand specific
(factor, width, signedness, mappings, plausible range, "no sensor" markers, alarm texts, and the
source of each factor) lives in ``providers/data/<brand>.yaml``. What a register's index alone
says (Husdata's H1 type table, by its first hex digit) is ``providers/data/h1-types.yaml``.
A user's ``registers:`` section in ``CONFIG_FILE`` is applied on top (:mod:`.overrides`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from typing import Any, Literal, Mapping

import yaml

BRANDS = ("thermia", "ivt", "nibe")

Size = Literal["s16", "u16", "u32"]
SIZES: tuple[Size, ...] = ("s16", "u16", "u32")

#: The raw integers a gateway may send, by register size. A 16-bit register arrives in either
#: of two forms: older firmware wraps negatives to unsigned (-7 as 65529), current firmware sends
#: signed JSON integers (-7), so both halves are accepted and mean the same bit pattern. Wide
#: (32-bit) registers are counters: current firmware sends them whole (107260), never negative.
RAW_DOMAIN: dict[str, tuple[int, int]] = {
    "s16": (-32768, 65535),
    "u16": (-32768, 65535),
    "u32": (0, 2**32 - 1),
}

H1_SOURCE = "h1"

#: Unknown registers stored from one answer at most (STORE_UNKNOWN_REGISTERS=true): an answer of
#: 65,536 made-up indices would otherwise become a 1 MB row at every poll.
MAX_UNKNOWN_STORED = 256  # the source key of Husdata's H1 type table (h1-types.yaml)


class BadValue(ValueError):
    """A raw value that must not be stored; the message names the cause."""


@dataclass(frozen=True, slots=True)
class Register:
    index: str  # four upper-case hex digits
    name: str
    kind: str
    unit: str = ""
    factor: int | float = 1  # the raw (signed) integer is divided by this
    size: Size = "u16"
    writable: bool = False
    min: float | None = None  # plausible range in real units; outside it the value is dropped
    max: float | None = None
    absent_at_or_below: float | None = None  # e.g. -48.0: an uninstalled IVT sensor, not a reading
    absent_raw: tuple[int, ...] = ()  # e.g. 32758: an uninstalled NIBE sensor
    mapping: Mapping[int, str] | None = None  # e.g. operating mode numbers -> names
    description: str = ""
    source: tuple[str, ...] = ()  # where the register is documented (keys of the sources table)
    factor_source: str = H1_SOURCE  # where its factor comes from
    #: which file set each field ("ivt.yaml", "h1-types.yaml", "config.yaml"), for `decode --explain`
    origin: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        # "no sensor" raw values may be written in either number form (57005 or -8531, 0xDEAD);
        # keep them as the number signed_raw() gives, so one comparison finds them
        if self.size != "u32" and self.absent_raw:
            object.__setattr__(self, "absent_raw", tuple(
                signed_raw(self, v) for v in self.absent_raw if -32768 <= v <= 65535))

    @property
    def signed(self) -> bool:
        return self.size == "s16"

    @property
    def wide(self) -> bool:
        return self.size == "u32"

    def text(self, value: float) -> str | None:
        """The mapped text of a value (operating mode, program...), if any."""
        if not self.mapping or value != int(value):
            return None
        return self.mapping.get(int(value))


def signed_raw(reg: Register, raw: int) -> int:
    """The gateway's integer as the register's own number, whichever form the firmware used.

    Raises :class:`BadValue` outside the register's raw domain (:data:`RAW_DOMAIN`). A 16-bit
    value is reduced to its bit pattern (so -26 and 65510 are the same), then read signed or
    unsigned as the register says; a wide counter is taken as it is.
    """
    # the bounds of RAW_DOMAIN, written out: this runs for every value of every poll
    if reg.size == "u32":
        if 0 <= raw <= 4294967295:
            return raw
    elif -32768 <= raw <= 65535:
        raw &= 0xFFFF
        return raw - 65536 if raw > 32767 and reg.size == "s16" else raw
    lo, hi = RAW_DOMAIN[reg.size]
    raise BadValue(f"raw value {raw} outside {lo}..{hi} ({_SIZE_TEXT[reg.size]})")


_SIZE_TEXT = {"s16": "16-bit register", "u16": "16-bit register", "u32": "32-bit counter"}


def decode_value(reg: Register, raw: int) -> float | None:
    """Raw gateway integer -> value in real units; ``None`` for "no sensor".

    :func:`signed_raw` first (both number forms, wide counters), then a "no sensor" marker of
    the raw number (NIBE's 32758, which as a temperature would read 3275.8 C and so must be
    looked at before the range), then the division by the factor and :func:`checked`.
    """
    number = signed_raw(reg, raw)
    if number in reg.absent_raw:
        return None
    return checked(reg, number / reg.factor)


def scaled_value(reg: Register, value: float) -> float | None:
    """A value that arrived already in real units (MQTT firmware that publishes ``54.0``):
    the same "no sensor" and range checks as :func:`decode_value`, no raw domain, no factor."""
    if not math.isfinite(value):
        raise BadValue(f"{value} is not a number")
    if reg.absent_raw and round(value * reg.factor) in reg.absent_raw:
        return None
    return checked(reg, float(value))


def checked(reg: Register, value: float) -> float | None:
    """Raises :class:`BadValue` outside the plausible range; ``None`` at or below the register's
    "no sensor" temperature. The range comes first, so garbage (-3276.8 C) is flagged, not
    taken for an unplugged sensor (about -48 to -50 C)."""
    if (reg.min is not None and value < reg.min) or (reg.max is not None and value > reg.max):
        raise BadValue(
            f"{value:g} {reg.unit} outside plausible range "
            f"{_fmt(reg.min)}..{_fmt(reg.max)}".replace("  ", " ")
        )
    if reg.absent_at_or_below is not None and value <= reg.absent_at_or_below:
        return None
    return value


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def normalize_index(index: object) -> str | None:
    """'1a01' -> '1A01'; anything that is not four hex digits (or not text at all) -> None."""
    if not isinstance(index, str) or len(index) != 4:
        return None
    up = index.upper()
    return up if all(c in "0123456789ABCDEF" for c in up) else None


# ---------------------------------------------------------------- Husdata's H1 type table


@dataclass(frozen=True)
class TypeTable:
    """Defaults by the first hex digit of an index (``h1-types.yaml``) and the sources every
    brand file may cite."""

    kinds: Mapping[str, Mapping[str, Any]]  # first digit -> register fields
    sources: Mapping[str, str]  # key -> citation
    fallback: Mapping[str, Any]

    def defaults(self, index: str) -> Mapping[str, Any]:
        return self.kinds.get(index[0], self.fallback)


#: The Register fields an entry of the type table gives (kind, factor and size always).
TYPE_FIELDS = ("kind", "unit", "factor", "size", "min", "max")
_TYPE_KEYS = {*TYPE_FIELDS, "description", "source"}


@cache
def type_table() -> TypeTable:
    doc = _read_data("h1-types.yaml")
    kinds: dict[str, Mapping[str, Any]] = {}
    for digit, d in doc["types"].items():
        kinds[_type_entry(digit, d)] = d
    _type_entry("fallback", doc["fallback"])
    sources = {str(k): str(v) for k, v in doc["sources"].items()}
    if H1_SOURCE not in sources:
        raise ProviderError(f"h1-types.yaml: the source {H1_SOURCE!r} is not described")
    return TypeTable(kinds=kinds, sources=sources, fallback=doc["fallback"])


def _type_entry(digit: Any, d: Mapping[str, Any]) -> str:
    key = str(digit).upper()
    if not (key == "FALLBACK" or (len(key) == 1 and key in "0123456789ABCDEF")) \
            or set(d) - _TYPE_KEYS or not {"kind", "factor", "size"} <= set(d):
        raise ProviderError(f"h1-types.yaml: bad entry {digit!r}")
    return key


@cache
def default_register(index: str) -> Register:
    """A register described only by its index's first hex digit (used for unknown registers,
    which are stored as ``reg_<INDEX>``)."""
    d = type_table().defaults(index)
    return Register(index=index, name=f"reg_{index}", source=(H1_SOURCE,), factor_source=H1_SOURCE,
                    origin=dict.fromkeys(TYPE_FIELDS, "h1-types.yaml"),
                    **{k: d[k] for k in TYPE_FIELDS if k in d})


# ---------------------------------------------------------------- decoding a whole answer


@dataclass(slots=True)
class DecodedPoll:
    values: dict[str, float] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)  # indices not in the provider
    rejected: list[tuple[str, Any, str]] = field(default_factory=list)  # (index/key, raw, cause)
    absent: list[str] = field(default_factory=list)  # register names reporting "no sensor"


#: The heat-curve models a brand file may name, with the roles each needs (``registers:``) and
#: may take; heatpump_monitor.analytics.curve computes them (one function each).
CURVE_MODELS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "supply_at_0": (frozenset({"curve"}), frozenset({"max_c"})),
    "slope_from_20": (frozenset({"slope"}), frozenset({"parallel"})),
    "two_point": (frozenset({"warm", "cold"}), frozenset({"parallel"})),
}
CURVE_ROLES = ("forward", "target", "indoor", "room")


@dataclass(frozen=True)
class CurveModel:
    """One way a brand's curve registers set the supply temperature (the file's ``curve: models:``)."""

    model: str  # a key of CURVE_MODELS
    registers: Mapping[str, str]  # role -> register name
    params: Mapping[str, float] = field(default_factory=dict)
    source: str = ""  # where the model's facts come from
    approximation: str = ""  # what is assumed


@dataclass(frozen=True)
class CurveSpec:
    """The brand's heat curve: the registers it is read against and its models, best first."""

    forward: str
    models: tuple[CurveModel, ...]
    target: str | None = None  # the controller's own computed target supply temperature
    indoor: str | None = None
    room: str | None = None


@dataclass(frozen=True)
class Provider:
    brand: str
    title: str
    h1ver_codes: tuple[str, ...]
    registers: Mapping[str, Register]  # by upper-case index
    alarm_register: str | None = None
    alarms: Mapping[int, str] = field(default_factory=dict)
    notes: str = ""
    sources: Mapping[str, str] = field(default_factory=dict)  # key -> citation (file's and H1's)
    file: str = ""  # the data file, e.g. "ivt.yaml"
    #: which register plays which role in the summaries (the file's ``analytics:``), checked
    #: to name registers of this brand; read by :mod:`heatpump_monitor.analytics.profile`
    analytics: Mapping[str, Any] = field(default_factory=dict)
    curve: CurveSpec | None = None  # the file's ``curve:`` (issue 16)

    def register(self, index: str) -> Register | None:
        idx = normalize_index(index)
        return self.registers.get(idx) if idx is not None else None

    def by_name(self, name: str) -> Register | None:
        return self._by_name.get(name)

    def alarm_text(self, code: int) -> str:
        if code == 0:
            return "no alarm"
        return self.alarms.get(code, f"alarm {code}")

    def decode_poll(self, raw: Mapping[str, Any], store_unknown: bool = False,
                    scaled: bool = False) -> DecodedPoll:
        """Decode one gateway answer (index -> raw integer). Never raises for bad data.

        Bad values (not an integer, outside the register's raw domain, implausible) are listed
        in ``rejected`` and left out; the rest of the poll is kept. Registers the provider does
        not know are listed in ``unknown`` and, with ``store_unknown``, decoded by their H1
        type as ``reg_<INDEX>`` (the first :data:`MAX_UNKNOWN_STORED` of them). ``scaled``: the values are already in real units (numbers,
        not raw integers), as some MQTT firmware publishes them.
        """
        out = DecodedPoll()
        lookup = self._lookup
        values = out.values
        room = MAX_UNKNOWN_STORED if store_unknown else 0  # unknown registers still to store
        for key, rawval in raw.items():
            reg = lookup.get(key)  # fast path: the gateway's spelling, upper or lower case
            if reg is None:
                idx = normalize_index(key)
                if idx is None:
                    out.rejected.append((str(key)[:40], rawval, "not a register index"))
                    continue
                reg = self.registers.get(idx)  # mixed case, e.g. "1a0A"
                if reg is None:
                    out.unknown.append(idx)
                    if not room:
                        continue
                    room -= 1
                    reg = default_register(idx)
            kind = type(rawval)
            if kind is not int and not (scaled and kind is float):  # bool, str, None, list...
                out.rejected.append((reg.index, rawval, f"not an integer ({kind.__name__})"))
                continue
            try:
                value = scaled_value(reg, rawval) if scaled else decode_value(reg, rawval)
            except BadValue as exc:
                out.rejected.append((reg.index, rawval, str(exc)))
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

    @cached_property
    def _by_name(self) -> dict[str, Register]:
        return {reg.name: reg for reg in self.registers.values()}


# ---------------------------------------------------------------- loading the data files


class ProviderError(ValueError):
    pass


#: Keys a register line may carry (in a brand file and in a CONFIG_FILE override).
REGISTER_KEYS = frozenset({
    "index", "name", "kind", "unit", "factor", "size", "writable", "min", "max",
    "absent_at_or_below", "absent_raw", "mapping", "description", "source", "factor_source",
})


def register_fields(d: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check the keys and types of one register line; returns the Register fields it sets.

    Raises :class:`ProviderError` naming ``where`` (e.g. "ivt 0007") and the mistake."""
    extra = set(d) - REGISTER_KEYS
    if extra:
        raise ProviderError(f"{where}: unknown keys {sorted(map(str, extra))} "
                            f"(accepted: {', '.join(sorted(REGISTER_KEYS - {'index'}))})")
    out: dict[str, Any] = {}
    for key, v in d.items():
        if key == "index":
            continue
        if key == "name":
            if not isinstance(v, str) or not v.isidentifier() or v != v.lower():
                raise ProviderError(f"{where}: name must be snake_case, got {v!r}")
        elif key == "factor":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < math.inf:
                raise ProviderError(f"{where}: factor must be a positive number, got {v!r}")
        elif key == "size":
            if v not in SIZES:
                raise ProviderError(f"{where}: size must be one of {', '.join(SIZES)}, got {v!r}")
        elif key in ("min", "max", "absent_at_or_below"):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not math.isfinite(v)):
                raise ProviderError(f"{where}: {key} must be a number or null, got {v!r}")
            v = None if v is None else float(v)
        elif key == "absent_raw":
            items = v if isinstance(v, list) else [v]
            if v is not None and not all(type(i) is int for i in items):
                raise ProviderError(f"{where}: absent_raw must be a raw integer or a list of them, got {v!r}")
            v = () if v is None else tuple(items)
        elif key == "mapping":
            if v is not None:
                if not isinstance(v, dict) or not all(type(k) is int and isinstance(t, str) for k, t in v.items()):
                    raise ProviderError(f"{where}: mapping must map whole numbers to quoted texts, got {v!r}")
                v = dict(v)
        elif key == "writable":
            if not isinstance(v, bool):
                raise ProviderError(f"{where}: writable must be true or false, got {v!r}")
        elif key == "source":
            items = v if isinstance(v, list) else [v]
            if not items or not all(isinstance(i, str) and i for i in items):
                raise ProviderError(f"{where}: source must name a source or a list of them, got {v!r}")
            v = tuple(items)
        elif not isinstance(v, str):  # kind, unit, description, factor_source
            raise ProviderError(f"{where}: {key} must be text, got {v!r}")
        out[key] = v
    lo, hi = out.get("min"), out.get("max")
    if lo is not None and hi is not None and lo >= hi:
        raise ProviderError(f"{where}: min {lo:g} must be below max {hi:g}")
    return out


def _register_from_dict(d: Mapping[str, Any], brand: str, file: str, sources: Mapping[str, str]) -> Register:
    idx = normalize_index(d.get("index"))
    if idx is None:
        raise ProviderError(f"{brand}: bad register index {d.get('index')!r} (four hex digits, quoted)")
    where = f"{brand} {idx}"
    fields = register_fields(d, where)
    if "name" not in fields:
        raise ProviderError(f"{where}: name must be snake_case, got None")
    for key in ("source", "factor_source"):
        if key not in fields:
            raise ProviderError(f"{where}: {key} missing: every register says where it and its factor come from")
    for key in (*fields["source"], fields["factor_source"]):
        if key not in sources:
            raise ProviderError(f"{where}: source {key!r} is not in the sources table")
    defaults = type_table().defaults(idx)
    if fields["factor_source"] == H1_SOURCE and fields.get("factor", defaults["factor"]) != defaults["factor"]:
        raise ProviderError(f"{where}: factor {fields['factor']:g} is not the H1 type table's "
                            f"{defaults['factor']:g}; name the source that gives it")
    merged = {**{k: defaults[k] for k in TYPE_FIELDS if k in defaults}, **fields}
    origin = {**dict.fromkeys(TYPE_FIELDS, "h1-types.yaml"), **dict.fromkeys(fields, file)}
    return Register(index=idx, origin=origin, **merged)


def provider_from_dict(doc: Mapping[str, Any], file: str = "") -> Provider:
    brand = doc["brand"]
    file = file or f"{brand}.yaml"
    sources = {**type_table().sources, **{str(k): str(v) for k, v in (doc.get("sources") or {}).items()}}
    regs: dict[str, Register] = {}
    names: set[str] = set()
    for d in doc.get("registers", []):
        reg = _register_from_dict(d, brand, file, sources)
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
    analytics = dict(doc.get("analytics") or {})
    for role, value in analytics.items():
        named = value if isinstance(value, list) else list(value) if isinstance(value, dict) else [value]
        missing = [n for n in named if role != "source" and n not in names]
        if missing:
            raise ProviderError(f"{brand}: analytics {role} names unknown register(s) {', '.join(map(str, missing))}")
    return Provider(
        brand=brand,
        title=doc.get("title", brand),
        h1ver_codes=tuple(str(c) for c in doc.get("h1ver_codes", [])),
        registers=regs,
        alarm_register=alarm_register,
        alarms={int(k): str(v) for k, v in (doc.get("alarms") or {}).items()},
        notes=doc.get("notes", ""),
        sources=sources,
        file=file,
        analytics=analytics,
        curve=_curve_spec(doc.get("curve"), brand, names),
    )


def _curve_spec(d: Any, brand: str, names: set[str]) -> CurveSpec | None:
    """The file's ``curve:`` block, checked: known models and roles, registers of this brand."""
    if d is None:
        return None
    where = f"{brand} curve"
    if not isinstance(d, dict) or set(d) - {*CURVE_ROLES, "models"} or "forward" not in d:
        raise ProviderError(f"{where}: expected forward, models and optional {', '.join(CURVE_ROLES[1:])}")
    for role in CURVE_ROLES:
        if d.get(role) is not None and d[role] not in names:
            raise ProviderError(f"{where}: {role} names unknown register {d[role]!r}")
    models = []
    for m in d.get("models") or []:
        kind = m.get("model") if isinstance(m, dict) else None
        if kind not in CURVE_MODELS or set(m) - {"model", "registers", "params", "source", "approximation"}:
            raise ProviderError(f"{where}: bad model {m!r} (models: {', '.join(CURVE_MODELS)})")
        need, may = CURVE_MODELS[kind]
        regs = dict(m.get("registers") or {})
        if not need <= set(regs) or set(regs) - need - may:
            raise ProviderError(f"{where} {kind}: registers must name {sorted(need)} (and may name {sorted(may)})")
        unknown = [r for r in regs.values() if r not in names]
        params = m.get("params") or {}
        if unknown or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in params.values()):
            raise ProviderError(f"{where} {kind}: unknown registers {unknown} or non-numeric params")
        if not m.get("source"):
            raise ProviderError(f"{where} {kind}: source missing: every model says where it comes from")
        models.append(CurveModel(kind, regs, {str(k): float(v) for k, v in params.items()},
                                 str(m["source"]).strip(), str(m.get("approximation", "")).strip()))
    return CurveSpec(forward=d["forward"], models=tuple(models), target=d.get("target"), indoor=d.get("indoor"),
                     room=d.get("room"))


def _read_data(name: str) -> dict[str, Any]:
    return yaml.safe_load(resources.files("heatpump_monitor.providers").joinpath("data", name).read_bytes())


@cache
def load_provider(brand: str) -> Provider:
    """The brand's registers as the package ships them (no user overrides)."""
    brand = brand.lower()
    if brand not in BRANDS:
        raise ProviderError(f"unknown brand {brand!r}; accepted: {', '.join(BRANDS)}")
    return provider_from_dict(_read_data(f"{brand}.yaml"), f"{brand}.yaml")


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
