"""A user's corrections to the shipped register data: the ``registers:`` section of CONFIG_FILE.

Real installations differ (an accessory, a firmware that scales a register differently), so a
factor, unit, name, range or "no sensor" marker can be changed, or a register added, without
editing the package::

    registers:
      "2205": {factor: 1}                      # every brand this collector decodes
      "6C70": {name: pool_pump_hours, unit: h}  # a register the data lacks
      ivt:                                      # only gateways of one brand
        "0008": {absent_at_or_below: null}      # this room sensor is real, never "no sensor"

Keys are quoted indices (YAML reads an unquoted 0010 as the number 8) or brand names. Every
mistake is one line naming the file, the index and what is accepted; the collector refuses to
start with any (a wrong factor silently stores wrong history).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from .registry import (
    BRANDS,
    Provider,
    ProviderError,
    default_register,
    load_provider,
    normalize_index,
    register_fields,
)

OVERRIDE_SOURCE = "config"  # the source key of a user's override


@dataclass(frozen=True)
class RegisterOverrides:
    """Parsed ``registers:`` entries: index -> fields, for every brand or for one."""

    path: str = ""
    common: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    by_brand: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.common or self.by_brand)

    def for_brand(self, brand: str) -> dict[str, Mapping[str, Any]]:
        return {**self.common, **self.by_brand.get(brand, {})}


NO_OVERRIDES = RegisterOverrides()


def parse_overrides(section: Any, path: str) -> tuple[RegisterOverrides, list[str]]:
    """The ``registers:`` section -> overrides and one message per mistake (empty when fine)."""
    errors: list[str] = []
    if section is None:
        return RegisterOverrides(path), errors
    if not isinstance(section, dict):
        return RegisterOverrides(path), [f"{path}: registers must be a mapping of quoted indices "
                                         f"to settings, e.g. '\"2205\": {{factor: 1}}'"]
    common: dict[str, Mapping[str, Any]] = {}
    by_brand: dict[str, dict[str, Mapping[str, Any]]] = {}
    for key, entry in section.items():
        if isinstance(key, str) and key.lower() in BRANDS:
            brand = key.lower()
            if not isinstance(entry, dict):
                errors.append(f"{path}: registers {key}: expected a mapping of quoted indices to settings")
                continue
            by_brand[brand] = _entries(entry, path, f"registers {brand}", errors)
        else:
            common.update(_entries({key: entry}, path, "registers", errors))
    return RegisterOverrides(path, common, by_brand), errors


def _entries(section: Mapping[Any, Any], path: str, where: str, errors: list[str]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for key, entry in section.items():
        idx = _index(key)
        if idx is None:
            if isinstance(key, int) and not isinstance(key, bool):
                errors.append(f"{path}: {where} {key}: write the index in quotes, e.g. \"0010\" "
                              f"(YAML reads an unquoted number with leading zeros differently)")
            else:
                errors.append(f"{path}: {where} {key!r}: not a register index (four hex digits) "
                              f"or a brand ({', '.join(BRANDS)})")
            continue
        if not isinstance(entry, dict) or not entry:
            errors.append(f"{path}: {where} {idx}: expected settings such as {{factor: 10, unit: \"°C\"}}")
            continue
        if "index" in entry:
            errors.append(f"{path}: {where} {idx}: 'index' is the key itself, leave it out")
            continue
        try:
            register_fields(entry, f"{path}: {where} {idx}")
        except ProviderError as exc:
            errors.append(str(exc))
            continue
        out[idx] = dict(entry)
    return out


def _index(key: Any) -> str | None:
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        # 2205 unquoted is unambiguous; anything below 1000 had leading zeros YAML may have
        # read as octal (0010 -> 8)
        return normalize_index(str(key)) if 1000 <= key <= 9999 else None
    return normalize_index(key) if isinstance(key, str) else None


def apply_overrides(provider: Provider, overrides: RegisterOverrides) -> tuple[Provider, list[str]]:
    """The provider with the user's entries for its brand applied; one message per mistake."""
    entries = overrides.for_brand(provider.brand)
    if not entries:
        return provider, []
    path = overrides.path or "CONFIG_FILE"
    sources = {**provider.sources, OVERRIDE_SOURCE: f"your override in {path}"}
    regs = dict(provider.registers)
    errors: list[str] = []
    for idx, entry in entries.items():
        where = f"{path}: registers {idx} ({provider.brand})"
        fields = register_fields(entry, where)  # checked by parse_overrides already
        for key in (*fields.get("source", ()), fields.get("factor_source", OVERRIDE_SOURCE)):
            if key not in sources:
                errors.append(f"{where}: source {key!r} unknown; accepted: {', '.join(sorted(sources))}")
        old = regs.get(idx)
        if old is None:
            if "name" not in fields:
                errors.append(f"{where}: a register the {provider.brand} data lacks needs a name")
                continue
            base = replace(default_register(idx), source=(OVERRIDE_SOURCE,))
        else:
            base = old
        if "factor" in fields and "factor_source" not in fields:
            fields["factor_source"] = OVERRIDE_SOURCE
        origin = {**base.origin, **dict.fromkeys(fields, path)}
        reg = replace(base, origin=origin, **fields)
        if reg.min is not None and reg.max is not None and reg.min >= reg.max:
            errors.append(f"{where}: min {reg.min:g} must be below max {reg.max:g}")
            continue
        regs[idx] = reg
    names: dict[str, str] = {}
    for idx, reg in sorted(regs.items()):
        if reg.name in names and (idx in entries or names[reg.name] in entries):
            errors.append(f"{path}: registers {idx} ({provider.brand}): name {reg.name} is already "
                          f"register {names[reg.name]}'s")
        names.setdefault(reg.name, idx)
    if errors:
        return provider, errors
    return replace(provider, registers=regs, sources=sources), []


def check_overrides(overrides: RegisterOverrides, brands: tuple[str, ...] = BRANDS) -> list[str]:
    """Every mistake the overrides make for any of ``brands`` (the collector checks at start)."""
    errors: list[str] = []
    for brand in brands:  # entries for other brands are fine: one file may serve several collectors
        errors += apply_overrides(load_provider(brand), overrides)[1]
    return list(dict.fromkeys(errors))


class Providers:
    """The effective provider of each brand: the shipped data plus the user's overrides.

    One per collector (or dashboard); ``get`` builds a brand's provider once."""

    def __init__(self, overrides: RegisterOverrides = NO_OVERRIDES) -> None:
        self.overrides = overrides
        self._cache: dict[str, Provider] = {}

    def get(self, brand: str) -> Provider:
        p = self._cache.get(brand)
        if p is None:
            p, errors = apply_overrides(load_provider(brand), self.overrides)
            if errors:  # checked at start (check_overrides); reaching here is a programming error
                raise ProviderError("; ".join(errors))
            self._cache[brand] = p
        return p


_process = Providers()


def use_overrides(overrides: RegisterOverrides) -> None:
    """The overrides a whole process (the dashboard) shows its registers with."""
    global _process
    _process = Providers(overrides)


def effective_provider(brand: str) -> Provider:
    """The brand's registers as this process shows them (see :func:`use_overrides`)."""
    return _process.get(brand)


__all__ = ["NO_OVERRIDES", "Providers", "RegisterOverrides", "apply_overrides", "check_overrides",
           "effective_provider", "parse_overrides", "use_overrides"]
