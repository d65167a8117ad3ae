"""``decode --explain INDEX``: each step from the gateway's number to the stored value, and
which file (the brand's data, Husdata's H1 type table, or the user's CONFIG_FILE) set it.

The steps are told with the same functions :func:`decode_value` is made of, and the verdict is
:func:`decode_value`'s own, so the explanation cannot drift from what the collector stores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .registry import (
    RAW_DOMAIN,
    BadValue,
    Provider,
    Register,
    decode_value,
    default_register,
    scaled_value,
    signed_raw,
    type_table,
)


@dataclass(frozen=True)
class Step:
    step: str  # raw, domain, number, no sensor (raw), factor, range, no sensor, result
    detail: str
    set_by: str = ""  # the file that set what this step used

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def explain(provider: Provider, index: str, raw: Any, *, scaled: bool = False) -> list[Step]:
    """The steps for ``raw`` (``None``: the register's definition only)."""
    reg = provider.register(index)
    known = reg is not None
    reg = reg or default_register(index)
    o = reg.origin
    steps = [Step("register", f"{reg.index} {reg.name}: {reg.description or reg.kind}"
                  + ("" if known else f" (not in the {provider.brand} data: decoded by its H1 type, "
                     "stored only with STORE_UNKNOWN_REGISTERS=true)"),
                  o.get("name", provider.file) if known else "h1-types.yaml"),
             Step("source", "\n".join(f"{s}: {' '.join(provider.sources.get(s, type_table().sources.get(s, s)).split())}"
                                       for s in reg.source),
                  o.get("source", provider.file) if known else "h1-types.yaml")]
    lo, hi = RAW_DOMAIN[reg.size]
    kind = {"s16": "16-bit, signed", "u16": "16-bit, unsigned", "u32": "32-bit counter"}[reg.size]
    steps.append(Step("domain", f"{kind}: raw {lo}..{hi}", o.get("size", "")))
    if raw is None:
        steps += _definition(provider, reg)
        return steps
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or (isinstance(raw, float) and not scaled):
        steps.append(Step("raw", f"{raw!r}: not an integer ({type(raw).__name__}) -> dropped"))
        return steps
    steps.append(Step("raw", f"{raw!r}" + (" (already in real units: MQTT decimal or scaled payload)" if scaled else "")))
    try:
        if isinstance(raw, int) and not scaled:  # a raw integer
            number = signed_raw(reg, raw)
            steps.append(Step("number", _number_text(reg, raw, number)))
            if reg.absent_raw:
                hit = number in reg.absent_raw
                steps.append(Step("no sensor (raw)", f"{number} in {list(reg.absent_raw)}? "
                                  + ("yes -> no sensor" if hit else "no"), o.get("absent_raw", "")))
                if hit:
                    steps.append(Step("result", "no sensor: not stored, reported once"))
                    return steps
            value = number / reg.factor
            steps.append(Step("factor", f"{number} / {reg.factor:g} = {value:g} {reg.unit}".rstrip()
                              + f"  (factor from {_source_text(provider, reg.factor_source, reg)})",
                              o.get("factor", "")))
        else:
            value = float(raw)
    except BadValue as exc:
        steps.append(Step("number", f"{exc} -> dropped", o.get("size", "")))
        return steps
    steps += _definition(provider, reg, value)
    try:
        result = decode_value(reg, raw) if isinstance(raw, int) and not scaled else scaled_value(reg, raw)
    except BadValue as exc:
        steps.append(Step("result", f"dropped: {exc}"))
        return steps
    if result is None:
        steps.append(Step("result", "no sensor: not stored, reported once"))
    else:
        text = reg.text(result)
        if reg.index == provider.alarm_register and result == int(result):
            text = provider.alarm_text(int(result))
        steps.append(Step("result", f"{reg.name} = {result:g} {reg.unit}".rstrip() + (f" ({text})" if text else "")))
    return steps


def _number_text(reg: Register, raw: int, number: int) -> str:
    if reg.size == "u32":
        return f"{number} (a counter, taken as it is)"
    if raw == number:
        return f"{number} ({'signed' if reg.signed else 'unsigned'} 16-bit, as sent)"
    if raw < 0:
        return f"{raw} is the 16-bit pattern {raw & 0xFFFF} -> {number} (an unsigned register)"
    return f"{raw} is {number} (older firmware sends negatives wrapped: {raw} - 65536)"


def _source_text(provider: Provider, key: str, reg: Register) -> str:
    if key == "h1":
        entry = type_table().defaults(reg.index)
        return f"the type table for {reg.index[0]}xxx, source {entry.get('source', 'h1')}"
    return f"source {key}"


def _definition(provider: Provider, reg: Register, value: float | None = None) -> list[Step]:
    o = reg.origin
    steps = []
    rng = f"{'' if reg.min is None else f'{reg.min:g}'}..{'' if reg.max is None else f'{reg.max:g}'}"
    if reg.min is None and reg.max is None:
        rng = "any value (no plausible range set)"
    if value is None:
        steps.append(Step("factor", f"/ {reg.factor:g} (from {_source_text(provider, reg.factor_source, reg)})",
                          o.get("factor", "")))
        steps.append(Step("range", f"{rng} {reg.unit}".rstrip(), o.get("min", o.get("max", ""))))
    else:
        ok = (reg.min is None or value >= reg.min) and (reg.max is None or value <= reg.max)
        if reg.min is None and reg.max is None:
            steps.append(Step("range", rng, o.get("min", o.get("max", ""))))
        else:
            steps.append(Step("range", f"{value:g} in {rng} {reg.unit}? ".replace("  ", " ")
                              + ("yes" if ok else "no -> dropped"), o.get("min", o.get("max", ""))))
        if not ok:
            return steps
    if reg.absent_at_or_below is not None:
        if value is None:
            steps.append(Step("no sensor", f"at or below {reg.absent_at_or_below:g} {reg.unit}",
                              o.get("absent_at_or_below", "")))
        else:
            hit = value <= reg.absent_at_or_below
            steps.append(Step("no sensor", f"{value:g} at or below {reg.absent_at_or_below:g}? "
                              + ("yes -> no sensor" if hit else "no"), o.get("absent_at_or_below", "")))
    elif reg.absent_raw and value is None:
        steps.append(Step("no sensor (raw)", f"raw {list(reg.absent_raw)}", o.get("absent_raw", "")))
    if reg.mapping and value is None:
        steps.append(Step("mapping", ", ".join(f"{k}={v}" for k, v in reg.mapping.items()), o.get("mapping", "")))
    return steps
