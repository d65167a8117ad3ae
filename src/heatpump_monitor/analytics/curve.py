"""The heat curve a pump is configured with (issue 16): the supply temperature its curve registers
ask for at an outdoor temperature, by the brand's model (the brand file's ``curve:``, read by
:mod:`heatpump_monitor.providers.registry` into a :class:`~..providers.registry.CurveSpec`).

One small pure function per model; :func:`configured_supply` picks the brand's first model whose
registers have values and applies it; :func:`polyline` draws it for the page. Every model is an
approximation of the manufacturer's diagram (the brand file says which facts are sourced and
which assumed): the controller's own target (0107) is what it really asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from ..providers.registry import CURVE_MODELS, CurveModel, CurveSpec

#: the outdoor temperature where the fanned curves meet (no heat needed: supply = room-ish)
NEUTRAL_C = 20.0


def _clamp(x: float, lo: float | None, hi: float | None) -> float:
    if lo is not None and x < lo:
        x = lo
    if hi is not None and x > hi:
        x = hi
    return x


def supply_at_0(outdoor_c: float, curve: float, max_c: float | None = None, min_c: float | None = 20.0) -> float:
    """Thermia: ``curve`` is the supply at 0 °C outdoors; a line through (+20, 20) and (0, curve),
    cut at ``min_c`` and ``max_c``."""
    slope = (curve - NEUTRAL_C) / NEUTRAL_C  # K of supply per K colder
    return _clamp(curve + slope * -outdoor_c, min_c, max_c)


def slope_from_20(outdoor_c: float, slope: float, parallel: float = 0.0, k_per_step: float = 0.1,
                  parallel_k_per_step: float = 1.0) -> float:
    """NIBE's curve number, IVT Rego 600's level: a fan of lines from (+20, 20), ``slope`` x
    ``k_per_step`` K per K colder, moved by ``parallel`` x ``parallel_k_per_step`` K; flat
    above +20 °C outdoors."""
    colder = max(0.0, NEUTRAL_C - outdoor_c)
    return NEUTRAL_C + slope * k_per_step * colder + parallel * parallel_k_per_step


def two_point(outdoor_c: float, warm: float, cold: float, parallel: float = 0.0, warm_outdoor_c: float = 20.0,
              cold_outdoor_c: float = -20.0) -> float:
    """IVT Rego 800/1000: the supply at a mild (``warm_outdoor_c``) and a cold (``cold_outdoor_c``)
    outdoor temperature, a straight line between them (flat beyond both ends), plus ``parallel`` K."""
    x = _clamp(outdoor_c, cold_outdoor_c, warm_outdoor_c)
    span = warm_outdoor_c - cold_outdoor_c
    frac = 0.0 if span <= 0 else (warm_outdoor_c - x) / span
    return warm + (cold - warm) * frac + parallel


#: model name -> its function (the registry's CURVE_MODELS lists the same names and roles)
MODELS: dict[str, Callable[..., float]] = {
    "supply_at_0": supply_at_0,
    "slope_from_20": slope_from_20,
    "two_point": two_point,
}
assert set(MODELS) == set(CURVE_MODELS), "analytics.curve and the registry must know the same models"


@dataclass(frozen=True, slots=True)
class Configured:
    """A curve as set: its model and the register values it was computed from."""

    model: CurveModel
    values: Mapping[str, float]  # role -> value

    def supply(self, outdoor_c: float) -> float:
        return MODELS[self.model.model](outdoor_c, **self.values, **self.model.params)


def configured(spec: CurveSpec | None, values: Mapping[str, float]) -> Configured | None:
    """The brand's first model whose needed registers all have a value in ``values`` (register
    name -> value, e.g. the latest snapshot); None when no model can be computed."""
    if spec is None:
        return None
    for m in spec.models:
        need, _ = CURVE_MODELS[m.model]
        got = {role: float(values[name]) for role, name in m.registers.items() if name in values}
        if need <= set(got):
            return Configured(m, got)
    return None


def configured_supply(spec: CurveSpec | None, values: Mapping[str, float], outdoor_c: float) -> float | None:
    """The supply temperature the configured curve asks for at ``outdoor_c`` (None: unknown)."""
    c = configured(spec, values)
    return None if c is None else c.supply(outdoor_c)


def polyline(curve: Configured, lo_c: float = -30.0, hi_c: float = 20.0, step_c: float = 2.5) -> list[tuple[float, float]]:
    """(outdoor, supply) points from ``lo_c`` to ``hi_c``, for drawing; the models are piecewise
    straight, so a few points show them exactly enough."""
    n = max(1, round((hi_c - lo_c) / step_c))
    return [(round(lo_c + i * (hi_c - lo_c) / n, 2), round(curve.supply(lo_c + i * (hi_c - lo_c) / n), 2))
            for i in range(n + 1)]
