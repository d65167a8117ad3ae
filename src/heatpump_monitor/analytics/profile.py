"""What the summaries read of one brand, and the few rules that turn a snapshot's values into
states (compressor on, hot water, add-heat kW, heat kW): the brand file's ``analytics:``
section (registers are data) plus the owner's settings (:class:`~..config.AnalyticsConfig`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..config import AnalyticsConfig
from ..derived import DERIVED, Derived
from ..providers import Provider

Values = Mapping[str, float]

#: a sample counts for the COP only above this electric power (the upstream's rule: standby
#: and pumps alone are not the compressor making heat)
MIN_RUNNING_W = 100.0

# forward - return pairs for the heat estimate, best first: the heat carrier (the condenser's
# own circuit, also right while making hot water) before the radiator circuit
FLOW_PAIRS = ("delta_t_heat_carrier", "delta_t_radiator")


@dataclass(frozen=True)
class Profile:
    brand: str
    compressor: str | None
    hot_water_valve: str | None
    hot_water_temp: str | None
    outdoor: str | None
    degree_minutes: str | None
    power_w: str | None
    electric_kwh: tuple[str, ...]
    heat_kwh: tuple[str, ...]
    add_heat_kwh: tuple[str, ...]
    add_heat_kw: str | None
    add_heat_steps: tuple[tuple[str, float], ...]
    add_heat_percent: str | None
    #: counter name -> the values at which it wraps (16-bit on old firmware, 32-bit wide)
    wraps: Mapping[str, tuple[float, ...]]
    flow: tuple[Derived, ...]
    alarm: str | None  # the alarm status register (> 0 alarming), else None
    alarm_code: str | None
    config: AnalyticsConfig

    @property
    def fields(self) -> tuple[str, ...]:
        """Every register the summaries read (all else of a snapshot is skipped)."""
        names = [self.compressor, self.hot_water_valve, self.hot_water_temp, self.outdoor,
                 self.degree_minutes, self.power_w, *self.electric_kwh, *self.heat_kwh, *self.add_heat_kwh,
                 self.add_heat_kw, *(n for n, _ in self.add_heat_steps), self.add_heat_percent,
                 *(i for d in self.flow for i in d.inputs), self.alarm, self.alarm_code]
        return tuple(dict.fromkeys(n for n in names if n))

    def on(self, v: Values) -> bool | None:
        x = v.get(self.compressor) if self.compressor else None
        return None if x is None else x > 0

    def hot_water(self, v: Values) -> bool:
        x = v.get(self.hot_water_valve) if self.hot_water_valve else None
        return x is not None and x == 1

    def add_heat(self, v: Values) -> float | None:
        """The add-on heater's power now (kW): its kW register, else its steps, else its percent
        of ADD_HEAT_KW; None when the snapshot tells nothing."""
        if self.add_heat_kw and self.add_heat_kw in v:
            return max(0.0, v[self.add_heat_kw])
        steps = [(v[n], kw) for n, kw in self.add_heat_steps if n in v]
        if steps:
            return sum(kw for x, kw in steps if x > 0)
        if self.add_heat_percent and self.add_heat_percent in v:
            return max(0.0, v[self.add_heat_percent]) / 100.0 * self.config.add_heat_kw
        return None

    def heat_kw(self, v: Values) -> float | None:
        """Heat made now, estimated: flow factor x (forward - return), heat carrier first."""
        for d in self.flow:
            dt = d.compute(v, None)
            if dt is not None:
                return self.config.flow_factor_kw_per_k * max(0.0, dt)
        return None

    def alarm_active(self, v: Values) -> bool | None:
        if self.alarm and self.alarm in v:
            return v[self.alarm] > 0
        if self.alarm_code and self.alarm_code in v:
            return v[self.alarm_code] > 0
        return None


def alarm_text(profile: Profile, provider: Provider | None, v: Values) -> str:
    """The brand's text of the alarm number in ``v`` ("alarm" without a number): the summaries'
    event log and the alerts say the same."""
    code = v.get(profile.alarm_code) if profile.alarm_code else None
    if not code or code < 0 or code != int(code):
        return "alarm"
    return provider.alarm_text(int(code)) if provider is not None else f"alarm {int(code)}"


def profile_for(provider: Provider, config: AnalyticsConfig) -> Profile:
    a = provider.analytics
    present = {r.name for r in provider.registers.values()}

    def one(role: str) -> str | None:
        name = a.get(role)
        return str(name) if name in present else None

    def many(role: str) -> tuple[str, ...]:
        return tuple(str(n) for n in a.get(role) or () if n in present)

    wraps: dict[str, tuple[float, ...]] = {}
    for name in (*many("electric_kwh"), *many("heat_kwh"), *many("add_heat_kwh")):
        reg = provider.by_name(name)
        if reg is not None:
            # old firmware sends counters as 16 bits (husdata-h66.md), current ones whole
            tops = (65536 / reg.factor, 2**32 / reg.factor) if reg.wide else (65536 / reg.factor,)
            wraps[name] = tops
    alarm_reg = provider.registers.get(provider.alarm_register) if provider.alarm_register else None
    return Profile(
        brand=provider.brand,
        compressor=one("compressor"), hot_water_valve=one("hot_water_valve"), hot_water_temp=one("hot_water_temp"),
        outdoor=one("outdoor"), degree_minutes=one("degree_minutes"), power_w=one("power_w"),
        electric_kwh=many("electric_kwh"), heat_kwh=many("heat_kwh"), add_heat_kwh=many("add_heat_kwh"),
        add_heat_kw=one("add_heat_kw"),
        add_heat_steps=tuple((str(n), float(kw)) for n, kw in (a.get("add_heat_steps") or {}).items() if n in present),
        add_heat_percent=one("add_heat_percent"),
        wraps=wraps,
        flow=tuple(DERIVED[n] for n in FLOW_PAIRS if all(i in present for i in DERIVED[n].inputs)),
        alarm="alarm" if "alarm" in present else None,
        alarm_code=alarm_reg.name if alarm_reg is not None else ("alarm_code" if "alarm_code" in present else None),
        config=config,
    )
