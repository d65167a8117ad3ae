"""What the dashboard knows about fields: each brand's registers (with CONFIG_FILE's
overrides) and the derived values of :mod:`heatpump_monitor.derived`, from their one
definition (unit, description, formula)."""

from __future__ import annotations

from functools import cache
from typing import Any

from ..derived import DERIVED, Derived
from ..providers import Provider, ProviderError
from ..providers.overrides import effective_provider

#: the catalogue's ``kind`` of a derived value (registers have their own kinds)
DERIVED_KIND = "derived"


def load_or_none(brand: str) -> Provider | None:
    """The brand's registers, with CONFIG_FILE's overrides when ``serve`` loaded them."""
    try:
        return effective_provider(brand)
    except (ProviderError, OSError, ValueError):
        return None


@cache
def field_catalog(brand: str) -> dict[str, dict[str, Any]]:
    """name -> {unit, kind, description[, mapping]} for the brand's registers, and
    {unit, kind="derived", description, formula} for the derived values whose inputs the
    brand has. The pages label, filter and format with it."""
    provider = load_or_none(brand)
    out: dict[str, dict[str, Any]] = {}
    if provider is None:
        return out
    for reg in provider.registers.values():
        d: dict[str, Any] = {"unit": reg.unit, "kind": reg.kind, "description": reg.description}
        if reg.mapping:
            d["mapping"] = {str(k): v for k, v in reg.mapping.items()}
        out[reg.name] = d
    names = {reg.name for reg in provider.registers.values()}
    for name, definition in DERIVED.items():
        if set(definition.inputs) <= names:
            out[name] = derived_entry(definition)
    return out


def derived_entry(definition: Derived) -> dict[str, Any]:
    """A derived value's catalogue entry, from its definition."""
    return {"unit": definition.unit, "kind": DERIVED_KIND, "description": definition.description,
            "formula": definition.formula}
