"""A deterministic heat-pump model: every register of a brand, as an H66 gateway would serve it.

The model is a pure function of (seed, simulated time, overrides): it keeps no history, so two
reads at the same simulated time agree, the clock may jump (tests), and values are continuous
in time. Simulated time is ``start + (floor(clock()) - anchor) * time_scale``: the real clock is
taken in whole seconds (two reads in the same second agree) and ``time_scale`` speeds it up
(60 = one real second is one simulated minute).

Physics, in short (all in simulated time, UTC):

* outdoor temperature: seasonal mean (or a fixed ``outdoor_mean``) + a daily sine with its
  minimum at 05:00 + slow "weather" noise;
* heating: 30-minute compressor cycles whose on-share (duty) grows as it gets colder (about
  20 min on / 10 min off at 0 C, none above the heating stop temperature); the radiator forward
  temperature follows the compressor through a first-order lag towards setpoint + 3, the return
  lags behind it; degree minutes saw-tooth with the cycle;
* hot water: every ``hot_water_period`` seconds the top temperature has sunk just below the start
  temperature; the switch valve goes to 1 (hot water) and the compressor runs until the stop
  temperature is reached;
* additional heat (3104) only below -10 C outdoor; alarms 0; hour and energy counters grow.

Every other register of the provider gets a plausible constant (or slow drift) chosen from its
name and kind, always clamped into the register's plausible range, so decoding what the model
serves never fails the provider's checks. Optional accessory sensors (pool, second circuit,
exhaust air, cooling) read like an uninstalled sensor where the provider marks one: its
``absent_raw`` number (NIBE's 32758), else just below its ``absent_at_or_below`` (-48.3 C).
Every read-only 32-bit register is a counter starting above 65535.
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass
from typing import Callable, Iterable

from heatpump_monitor.providers.registry import (
    RAW_DOMAIN,
    BadValue,
    Provider,
    Register,
    load_provider,
    normalize_index,
    signed_raw,
)

__all__ = ["FIRMWARES", "PumpModel", "RegisterRefused", "as_firmware", "encode_value", "raw_to_value"]

#: How a gateway's firmware writes numbers (see the Husdata reference): "current" (since about
#: 2021) sends negatives as signed JSON integers (-26) and counters whole (107260); "old" wraps
#: negatives to unsigned 16-bit (65510) and counters to 16 bits.
FIRMWARES = ("current", "old")

#: Counters of 32-bit registers start above 65535, as on the pumps they were captured from
#: (an IVT Rego 600 sent "6C56": 107260), so every run exercises the wide domain.
WIDE_COUNTER_START = 100_000

DAY = 86400.0
HOUR = 3600.0
# Install date from which counters (hours, kWh) grow: 2019-01-01 UTC, moved by the seed.
_COUNTER_EPOCH = 1546300800.0
_MASK64 = (1 << 64) - 1

Interval = tuple[float, float]


class RegisterRefused(ValueError):
    """A write the model will not take; ``status`` is the HTTP status a gateway would answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------- encoding helpers


def _raw_bounds(reg: Register) -> tuple[int, int]:
    """Smallest and largest raw number (in the current firmware's form) that decodes inside the
    register's plausible range and above its "absent sensor" threshold."""
    lo = -32768 if reg.signed else 0
    hi = 32767 if reg.signed else RAW_DOMAIN[reg.size][1]
    f = reg.factor
    if reg.min is not None:
        lo = max(lo, math.ceil(reg.min * f - 1e-9))
    if reg.absent_at_or_below is not None:
        lo = max(lo, math.floor(reg.absent_at_or_below * f + 1e-9) + 1)
    if reg.max is not None:
        hi = min(hi, math.floor(reg.max * f + 1e-9))
    return lo, max(lo, hi)


def encode_value(reg: Register, value: float, bounds: tuple[int, int] | None = None,
                 firmware: str = "current") -> int:
    """Real value -> raw gateway integer: value * factor rounded, clamped into the register's
    plausible range, then written as ``firmware`` writes it (:func:`as_firmware`)."""
    lo, hi = bounds or _raw_bounds(reg)
    return as_firmware(reg, min(hi, max(lo, int(round(value * reg.factor)))), firmware)


def as_firmware(reg: Register, raw: int, firmware: str) -> int:
    """A raw number (current form: signed, counters whole) as ``firmware`` sends it."""
    return raw & 0xFFFF if firmware == "old" else raw


def raw_to_value(reg: Register, raw: int) -> float:
    """Raw gateway integer (either firmware's form) -> real value, no range check."""
    return signed_raw(reg, raw) / reg.factor


def _absent_raw(reg: Register) -> int | None:
    """The raw value of an uninstalled sensor (current form), or None if it cannot be encoded:
    the register's own "no sensor" number (NIBE's 32758), else 0.3 below its threshold (an IVT
    sensor reads -48.3 C, capture-lauri)."""
    if reg.absent_raw:
        return reg.absent_raw[0]
    if reg.absent_at_or_below is None or not reg.signed:
        return None
    raw = int(math.floor((reg.absent_at_or_below - 0.3) * reg.factor + 1e-9))
    return raw if raw >= -32768 else None


# ---------------------------------------------------------------- deterministic noise


def _key(name: str) -> int:
    return zlib.crc32(name.encode())


def _hash_unit(seed: int, key: int, i: int) -> float:
    """A reproducible pseudo-random number in [-1, 1] (splitmix64 of seed, key, i)."""
    x = (seed * 0x9E3779B97F4A7C15 + key * 0xBF58476D1CE4E5B9 + i * 0x94D049BB133111EB) & _MASK64
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _MASK64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _MASK64
    x ^= x >> 31
    return x / float(_MASK64) * 2.0 - 1.0


def _noise(seed: int, key: int, t: float, period: float) -> float:
    """Smooth value noise in [-1, 1]: random knots every ``period`` seconds, smoothstep between."""
    n = t / period
    i = math.floor(n)
    f = n - i
    a, b = _hash_unit(seed, key, i), _hash_unit(seed, key, i + 1)
    s = f * f * (3.0 - 2.0 * f)
    return a + (b - a) * s


# ---------------------------------------------------------------- interval helpers


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for s, e in sorted(i for i in intervals if i[1] > i[0]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _subtract(intervals: list[Interval], holes: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for s, e in intervals:
        pieces = [(s, e)]
        for hs, he in holes:
            nxt: list[Interval] = []
            for ps, pe in pieces:
                if he <= ps or hs >= pe:
                    nxt.append((ps, pe))
                    continue
                if hs > ps:
                    nxt.append((ps, hs))
                if he < pe:
                    nxt.append((he, pe))
            pieces = nxt
        out.extend(pieces)
    return out


def _lag(intervals: list[Interval], t: float, tau: float) -> float:
    """Exact first-order response (0..1, time constant ``tau``) at ``t`` to an on/off input that
    is 1 inside ``intervals`` (disjoint), starting from 0 long ago."""
    y = 0.0
    for s, e in intervals:
        if s >= t:
            continue
        y += math.exp(-(t - min(e, t)) / tau) - math.exp(-(t - s) / tau)
    return min(1.0, max(0.0, y))


def _inside(intervals: list[Interval], t: float) -> bool:
    return any(s <= t < e for s, e in intervals)


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


# ---------------------------------------------------------------- the physical state


@dataclass(slots=True)
class _State:
    """The physical quantities at one simulated instant, from which every register is derived."""

    t: float
    outdoor: float
    indoor: float
    room_setpoint: float
    supply_setpoint: float
    load: float  # 0 (no heating needed) .. 1 (design cold)
    compressor: bool
    hot_water: bool  # switch valve to the tank
    comp_act: float  # lagged compressor activity 0..1
    rad_act: float  # lagged radiator heat delivery 0..1
    hw_act: float  # lagged hot-water charging 0..1
    forward: float
    ret: float
    heat_carrier_forward: float
    heat_carrier_return: float
    brine_in: float
    brine_out: float
    hot_water_top: float
    hot_water_start: float
    hot_water_stop: float
    add_heat: float  # percent
    degree_minutes: float
    heating_pumps: bool


# Typical values (real units) of settings and other quiet registers, by name. Anything not listed
# falls back to a default by kind; every value is clamped into the register's range anyway.
_TYPICAL: dict[str, float] = {
    "room_sensor_influence": 3.0,
    "heat_curve_level": 5.0,
    "heat_curve_offset": 0.0,
    "heat_curve_parallel": 0.0,
    "heat_curve_max": 55.0,
    "heating_stop_temp": 17.0,
    "summer_mode_temp": 17.0,
    "cooling_setpoint": 20.0,
    "cooling_temp": 18.0,
    "outdoor_offset": 0.0,
    "external_control_reduction": 0.0,
    "hot_water_difference": 7.0,
    "holiday_mode": 0.0,
    "extra_hot_water_minutes": 0.0,
    "electric_heater_enabled": 1.0,
    "external_control": 0.0,
    "alarm_reset": 0.0,
    "heating_cable": 0.0,
    "hot_water_program": 1.0,
    "pool_mode": 0.0,
    "max_add_heat_kw": 9.0,
    "room_temp_setpoint": 21.0,
    "room_temp_setpoint_2": 20.0,
    "pool": 27.0,
    "air_intake": 20.0,
    "air_outlet": 6.0,
}

# Counters: growth per simulated hour (hours/h or kWh/h), by name.
_COUNTER_RATES: dict[str, float] = {
    "compressor_hours": 0.40,
    "compressor_hours_heating": 0.33,
    "compressor_hours_hot_water": 0.07,
    "hot_water_hours": 0.07,
    "aux_hours_heating": 0.010,
    "aux_hours_hot_water": 0.002,
    "aux_3kw_hours": 0.010,
    "aux_6kw_hours": 0.004,
    "energy_kwh": 0.60,
    "energy_total_kwh": 0.60,
    "energy_hot_water_kwh": 0.15,
    "energy_ventilation_kwh": 0.05,
}

# Growth per simulated hour of counters the model knows only by kind (read-only 32-bit ones:
# S0 meter pulses at 1000 per kWh, compressor starts).
_KIND_RATES: dict[str, float] = {"energy": 0.3, "hours": 0.1, "pulses": 600.0, "counter": 2.0}

# Accessories most houses lack: served as an uninstalled sensor when the provider allows it.
_OPTIONAL_SENSOR_HINTS = ("pool", "air_intake", "air_outlet", "cooling_temp")


def _is_optional_sensor(reg: Register) -> bool:
    if reg.absent_at_or_below is None and not reg.absent_raw:
        return False
    return reg.name.endswith("_2") or any(h in reg.name for h in _OPTIONAL_SENSOR_HINTS)


_Rule = Callable[["PumpModel", Register, _State], float]

# Registers with their own physics, by name (a "_2" suffix falls back to the name without it).
_SPECIFIC: dict[str, _Rule] = {
    "outdoor_temp": lambda m, r, s: s.outdoor,
    "indoor_temp": lambda m, r, s: s.indoor,
    "indoor_2": lambda m, r, s: s.indoor - 0.4,
    "room_controller_emulation": lambda m, r, s: s.indoor,
    "radiator_forward": lambda m, r, s: s.forward,
    "radiator_forward_2": lambda m, r, s: s.forward - 4.0,
    "radiator_return": lambda m, r, s: s.ret,
    "heat_carrier_forward": lambda m, r, s: s.heat_carrier_forward,
    "heat_carrier_return": lambda m, r, s: s.heat_carrier_return,
    "heat_carrier_return_2": lambda m, r, s: s.ret - 2.0,
    "brine_in_evaporator": lambda m, r, s: s.brine_in,
    "brine_out_condenser": lambda m, r, s: s.brine_out,
    "hot_water_top": lambda m, r, s: s.hot_water_top,
    "hot_water_mid": lambda m, r, s: s.hot_water_top - 4.0 - 2.0 * (1.0 - s.hw_act),
    "hot_gas": lambda m, r, s: s.indoor + 8.0 + 62.0 * s.comp_act,
    "suction_gas": lambda m, r, s: s.brine_out - 1.5 * s.comp_act + 2.0 * (1.0 - s.comp_act),
    "liquid_flow": lambda m, r, s: s.indoor + 3.0 + (s.heat_carrier_return - s.indoor) * s.comp_act,
    "heating_setpoint": lambda m, r, s: s.supply_setpoint,
    "room_temp_setpoint_current": lambda m, r, s: s.room_setpoint,
    "hot_water_setpoint": lambda m, r, s: s.hot_water_stop,
    "hot_water_stop_temp": lambda m, r, s: s.hot_water_stop,
    "hot_water_start_temp": lambda m, r, s: s.hot_water_start,
    "heat_curve": lambda m, r, s: m._setting(r.name, 40.0 if r.kind == "temperature" else 5.0),
    "compressor": lambda m, r, s: 1.0 if s.compressor else 0.0,
    "brine_pump": lambda m, r, s: 1.0 if s.compressor else 0.0,
    "switch_valve": lambda m, r, s: 1.0 if s.hot_water else 0.0,
    "heat_circuit_pump": lambda m, r, s: 1.0 if s.heating_pumps else 0.0,
    "radiator_pump": lambda m, r, s: 1.0 if s.heating_pumps else 0.0,
    "additional_heat": lambda m, r, s: s.add_heat,
    "add_heat_step_1": lambda m, r, s: 1.0 if s.add_heat > 0 else 0.0,
    "add_heat_step_2": lambda m, r, s: 1.0 if s.add_heat > 50 else 0.0,
    "add_heat_kw": lambda m, r, s: s.add_heat / 100.0 * m._setting("max_add_heat_kw", 9.0),
    "circulation_pump_speed": lambda m, r, s: 30.0 + 40.0 * s.rad_act + 30.0 * s.hw_act,
    "brine_pump_speed": lambda m, r, s: 80.0 * s.comp_act,
    "compressor_speed": lambda m, r, s: (30.0 + 60.0 * s.load) * s.comp_act,
    "degree_minutes": lambda m, r, s: s.degree_minutes,
    "degree_minutes_integral": lambda m, r, s: s.degree_minutes,
    "power_w": lambda m, r, s: (60.0 + s.comp_act * (1500.0 + 20.0 * (s.supply_setpoint - 25.0))
                                + 90.0 * s.add_heat),
    "load_l1": lambda m, r, s: 0.6 + 6.5 * s.comp_act + 0.13 * s.add_heat,
    "load_l2": lambda m, r, s: 0.4 + 6.5 * s.comp_act + 0.13 * s.add_heat,
    "load_l3": lambda m, r, s: 0.3 + 6.5 * s.comp_act + 0.13 * s.add_heat,
}


# ---------------------------------------------------------------- the model


class PumpModel:
    """A simulated heat pump behind an H66 gateway.

    ``brand`` is a brand name (``load_provider``) or a :class:`Provider`. The model is
    deterministic given ``seed`` and the clock. Options:

    * ``time_scale``: simulated seconds per real second (60 = a simulated minute per second);
    * ``start``: simulated epoch at construction (default: the real clock's now);
    * ``outdoor_mean``: fix the daily mean outdoor temperature (default: seasonal, about -5 C in
      January and +15 C in July) -- e.g. ``-14`` for a day with additional heat;
    * ``outdoor_amplitude``: half the daily swing (default 5 C, minimum at 05:00 UTC);
    * ``cycle_seconds``: heating compressor cycle length (default 30 min);
    * ``hot_water_period`` / ``hot_water_charge``: time between hot-water charges and their length;
    * ``absent_sensors``: serve accessory sensors (pool, circuit 2...) as uninstalled.
    """

    def __init__(
        self,
        brand: str | Provider,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        *,
        time_scale: float = 1.0,
        start: float | None = None,
        outdoor_mean: float | None = None,
        outdoor_amplitude: float = 5.0,
        cycle_seconds: float = 1800.0,
        hot_water_period: float = 6 * HOUR,
        hot_water_charge: float = 40 * 60.0,
        absent_sensors: bool = True,
        firmware: str = "current",
    ) -> None:
        self.provider: Provider = brand if isinstance(brand, Provider) else load_provider(brand)
        self.brand = self.provider.brand
        self.seed = int(seed)
        self._clock = clock
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = float(time_scale)
        self._anchor = math.floor(clock())
        self.start = float(self._anchor if start is None else start)
        self.outdoor_mean = outdoor_mean
        self.outdoor_amplitude = outdoor_amplitude
        self.cycle_seconds = cycle_seconds
        self.hot_water_period = hot_water_period
        self.hot_water_charge = min(hot_water_charge, hot_water_period / 2)
        self.absent_sensors = absent_sensors
        if firmware not in FIRMWARES:
            raise ValueError(f"firmware must be one of {', '.join(FIRMWARES)}")
        self.firmware = firmware
        self.overrides: dict[str, int] = {}  # index -> raw, written through set_register
        # Per-seed phases so several simulated pumps do not cycle in lockstep.
        self._cycle_phase = (_hash_unit(self.seed, 1, 0) + 1) / 2 * cycle_seconds
        self._hw_phase = (_hash_unit(self.seed, 2, 0) + 1) / 2 * hot_water_period
        self._installed = _COUNTER_EPOCH + (_hash_unit(self.seed, 3, 0) + 1) / 2 * 900 * DAY
        self._by_name = {reg.name: reg for reg in self.provider.registers.values()}
        self._bounds = {idx: _raw_bounds(reg) for idx, reg in self.provider.registers.items()}
        self._plan = [(idx, reg, self._plan_for(reg)) for idx, reg in self.provider.registers.items()]
        self._cache: tuple[float, dict[str, int], int] | None = None  # (t, raw, overrides version)
        self._version = 0

    # ------------------------------------------------------------ public API

    def sim_time(self) -> float:
        """The simulated epoch now (whole real seconds, scaled by ``time_scale``)."""
        return self.start + (math.floor(self._clock()) - self._anchor) * self.time_scale

    def raw_alldata(self, t: float | None = None) -> dict[str, int]:
        """What ``GET /api/alldata`` answers: upper-case index -> raw integer, in the form of
        the model's ``firmware`` (current: signed, counters above 65535; old: 0..65535)."""
        t = self.sim_time() if t is None else t
        if self._cache and self._cache[0] == t and self._cache[2] == self._version:
            return dict(self._cache[1])
        state = self._state(t)
        raw: dict[str, int] = {}
        for idx, reg, rule in self._plan:
            if idx in self.overrides:
                raw[idx] = as_firmware(reg, self.overrides[idx], self.firmware)
                continue
            if self.absent_sensors and _is_optional_sensor(reg):
                absent = _absent_raw(reg)
                if absent is not None:
                    raw[idx] = as_firmware(reg, absent, self.firmware)
                    continue
            raw[idx] = encode_value(reg, rule(self, reg, state), self._bounds[idx], self.firmware)
        self._cache = (t, raw, self._version)
        return dict(raw)

    def values(self, t: float | None = None) -> dict[str, float]:
        """The served registers in real units, by name (decoded from :meth:`raw_alldata`, so
        exactly what a client decodes; uninstalled sensors show their raw reading, about -49)."""
        raw = self.raw_alldata(t)
        regs = self.provider.registers
        return {regs[idx].name: raw_to_value(regs[idx], r) for idx, r in raw.items()}

    def set_register(self, index: str, raw: int) -> int:
        """Store a written value for a writable register; returns the stored raw value.

        ``raw`` is the gateway's raw integer, in either firmware's form (-20 or 65516).
        Raises :class:`RegisterRefused` (status 400 unknown index / bad value, 403 not writable).
        """
        idx = normalize_index(index)
        reg = self.provider.registers.get(idx) if idx else None
        if reg is None:
            raise RegisterRefused(f"unknown register {index!r}", 400)
        if not reg.writable:
            raise RegisterRefused(f"register {idx} ({reg.name}) is not writable", 403)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise RegisterRefused(f"value must be an integer, got {raw!r}", 400)
        try:
            raw = signed_raw(reg, raw)  # kept in the current firmware's form
        except BadValue as exc:
            raise RegisterRefused(str(exc), 400) from None
        value = raw / reg.factor
        if (reg.min is not None and value < reg.min) or (reg.max is not None and value > reg.max):
            raise RegisterRefused(
                f"{value:g} outside {reg.name}'s range {reg.min}..{reg.max}", 400)
        self.overrides[reg.index] = raw
        self._version += 1
        return raw

    def clear_overrides(self) -> None:
        self.overrides.clear()
        self._version += 1

    # ------------------------------------------------------------ settings

    def _setting(self, name: str, default: float) -> float:
        """A setting's current value: the written override if any, else its typical value."""
        reg = self._by_name.get(name)
        if reg is None:
            return default
        raw = self.overrides.get(reg.index)
        if raw is not None:
            return raw_to_value(reg, raw)
        lo, hi = self._bounds[reg.index]
        return _clamp(default, lo / reg.factor, hi / reg.factor)

    # ------------------------------------------------------------ physics

    def outdoor(self, t: float) -> float:
        """Outdoor temperature at simulated epoch ``t``."""
        if self.outdoor_mean is None:
            day_of_year = (t / DAY) % 365.25
            mean = 5.0 - 10.0 * math.cos(2 * math.pi * (day_of_year - 15.0) / 365.25)
            mean += 3.0 * _noise(self.seed, 10, t, 1.7 * DAY)  # weather fronts
        else:
            mean = self.outdoor_mean + 0.8 * _noise(self.seed, 10, t, 1.7 * DAY)
        hour = (t % DAY) / HOUR
        daily = -self.outdoor_amplitude * math.cos(2 * math.pi * (hour - 5.0) / 24.0)
        return mean + daily + 0.4 * _noise(self.seed, 11, t, 2400.0)

    def _stop_temp(self) -> float:
        return self._setting("heating_stop_temp", self._setting("summer_mode_temp", 17.0))

    def _load(self, outdoor: float) -> float:
        stop = self._stop_temp()
        return _clamp((stop - outdoor) / max(1.0, stop + 20.0), 0.0, 1.0)

    def _add_heat(self, outdoor: float) -> float:
        if self._setting("electric_heater_enabled", 1.0) == 0:
            return 0.0
        return _clamp(round((-10.0 - outdoor) * 8.0), 0.0, 100.0)

    def _heat_cycle(self, k: int) -> tuple[float, float, float, float]:
        """Heating cycle ``k``: (start, on length, duty, degree-minute amplitude)."""
        period = self.cycle_seconds
        start = k * period - self._cycle_phase
        out = self.outdoor(start)
        load = self._load(out)
        if load <= 0.0:
            return start, 0.0, 0.0, 0.0
        duty = _clamp(0.2 + load + 0.05 * _hash_unit(self.seed, 20, k), 0.15, 1.0)
        amplitude = 60.0 + 4.4 * self._add_heat(out)
        return start, duty * period, duty, amplitude

    def _intervals(self, t: float, lookback: float = 2 * HOUR) -> tuple[list[Interval], list[Interval]]:
        """(heating compressor intervals, hot-water charge intervals) around ``t``."""
        period = self.cycle_seconds
        k_now = math.floor((t + self._cycle_phase) / period)
        k_first = math.floor((t - lookback + self._cycle_phase) / period)
        heating = []
        for k in range(k_first, k_now + 1):
            start, on_len, _, _ = self._heat_cycle(k)
            if on_len > 0:
                heating.append((start, start + on_len))
        hw_p = self.hot_water_period
        charges = []
        for j in range(math.floor((t - lookback + self._hw_phase) / hw_p), math.floor((t + self._hw_phase) / hw_p) + 1):
            end = (j + 1) * hw_p - self._hw_phase
            charges.append((end - self.hot_water_charge, end))
        return _union(heating), _union(charges)

    def _hot_water_temps(self) -> tuple[float, float]:
        stop = self._setting("hot_water_stop_temp", 52.0)
        if "hot_water_start_temp" in self._by_name:
            start = self._setting("hot_water_start_temp", stop - 7.0)
        else:
            start = stop - self._setting("hot_water_difference", 7.0)
        if start > stop - 1.0:
            start = stop - 5.0
        return start, stop

    def _hot_water_top(self, t: float, start: float, stop: float) -> float:
        """Saw-tooth: sinks from stop to just below start while idle, rises back while charging."""
        hw_p, charge = self.hot_water_period, self.hot_water_charge
        e = (t + self._hw_phase) % hw_p
        idle = hw_p - charge
        bottom = start - 0.5
        if e < idle:
            x = e / idle
            return stop - (stop - bottom) * x + 0.15 * math.sin(math.pi * x) * _noise(self.seed, 30, t, 900.0)
        return bottom + (stop - bottom) * (e - idle) / charge

    def _degree_minutes(self, t: float) -> float:
        period = self.cycle_seconds
        k = math.floor((t + self._cycle_phase) / period)
        start, on_len, duty, amp = self._heat_cycle(k)
        if on_len <= 0:
            return 0.0
        e = t - start
        if e < on_len:
            return -amp + amp * (1.0 - duty) * e / on_len
        return -amp * duty - amp * (1.0 - duty) * (e - on_len) / max(1.0, period - on_len)

    def _state(self, t: float) -> _State:
        outdoor = self.outdoor(t)
        room_sp = self._setting("room_temp_setpoint", 21.0)
        load = self._load(outdoor)
        indoor = (room_sp - 0.3 + 0.3 * math.sin(2 * math.pi * ((t % DAY) / DAY - 0.375))
                  + 0.15 * _noise(self.seed, 40, t, 3 * HOUR))
        offset = self._setting("heat_curve_offset", self._setting("heat_curve_parallel", 0.0))
        supply_sp = _clamp(room_sp + 4.0 + 0.75 * max(0.0, 20.0 - outdoor) + offset, 20.0, 60.0)
        if "heating_setpoint" in self._by_name and self._by_name["heating_setpoint"].index in self.overrides:
            supply_sp = self._setting("heating_setpoint", supply_sp)

        heating, charges = self._intervals(t)
        compressor_iv = _union(heating + charges)
        radiator_iv = _subtract(heating, charges)
        comp_act = _lag(compressor_iv, t, 150.0)
        rad_act = _lag(radiator_iv, t, 420.0)
        ret_act = _lag(radiator_iv, t, 700.0)
        hw_act = _lag(charges, t, 240.0)
        compressor = _inside(compressor_iv, t)
        hot_water = _inside(charges, t)

        low = indoor + 0.25 * (supply_sp - indoor)
        high = supply_sp + 3.0
        forward = low + (high - low) * rad_act
        ret = low - 0.5 + max(0.0, high - 6.0 - low + 0.5) * ret_act
        hw_start, hw_stop = self._hot_water_temps()
        top = self._hot_water_top(t, hw_start, hw_stop)
        hc_forward = forward + hw_act * (top + 6.0 - forward)
        hc_return = hc_forward - 1.0 - 6.0 * comp_act
        brine_base = 3.5 + 1.0 * math.sin(2 * math.pi * ((t / DAY) % 365.25 - 200.0) / 365.25) \
            + 0.3 * _noise(self.seed, 50, t, 6 * HOUR)
        brine_in = brine_base - 0.6 * comp_act
        brine_out = brine_in - 2.8 * comp_act
        return _State(
            t=t, outdoor=outdoor, indoor=indoor, room_setpoint=room_sp, supply_setpoint=supply_sp,
            load=load, compressor=compressor, hot_water=hot_water, comp_act=comp_act,
            rad_act=rad_act, hw_act=hw_act, forward=forward, ret=ret,
            heat_carrier_forward=hc_forward, heat_carrier_return=hc_return,
            brine_in=brine_in, brine_out=brine_out, hot_water_top=top,
            hot_water_start=hw_start, hot_water_stop=hw_stop,
            add_heat=self._add_heat(outdoor), degree_minutes=self._degree_minutes(t),
            heating_pumps=load > 0.0 or compressor,
        )

    # ------------------------------------------------------------ registers

    def _counter(self, reg: Register, t: float, rate: float) -> float:
        """A counter growing ``rate`` per simulated hour since installation (a 32-bit one from
        :data:`WIDE_COUNTER_START`), wrapping at its largest raw value instead of sticking."""
        value = max(0.0, (t - self._installed) / HOUR * rate)
        if reg.wide:
            value += WIDE_COUNTER_START / reg.factor
        lo, hi = self._bounds[reg.index]
        top = hi / reg.factor
        bottom = max(0.0, lo / reg.factor)
        if value > top and top > bottom:
            value = bottom + (value - bottom) % (top - bottom)
        return value

    def _plan_for(self, reg: Register) -> _Rule:
        """How the value of ``reg`` is made: chosen once per register from its name and kind."""
        name = reg.name
        base = name[:-2] if name.endswith("_2") else name
        if name.startswith("alarm") or reg.kind == "alarm":
            return lambda m, r, s: 0.0  # alarm status, alarm codes, alarm reset: no alarm
        for key in (name, base):
            if key in _SPECIFIC:
                return _SPECIFIC[key]
            if key in _COUNTER_RATES:
                rate = _COUNTER_RATES[key]
                return lambda m, r, s: m._counter(r, s.t, rate)
        for key in (name, base):
            if key in _TYPICAL:
                typical = _TYPICAL[key]
                return lambda m, r, s: m._setting(r.name, typical)
        return lambda m, r, s: m._by_kind(r, s)

    def _by_kind(self, reg: Register, s: _State) -> float:
        """A sensible value for a register the model knows nothing specific about."""
        if reg.mapping:
            for word in ("auto", "normal"):
                for code, text in sorted(reg.mapping.items()):
                    if word in text.lower():
                        return float(code)
            return float(0 if 0 in reg.mapping else min(reg.mapping))
        if (reg.kind in ("energy", "hours") or reg.wide) and not reg.writable:
            return self._counter(reg, s.t, _KIND_RATES.get(reg.kind, 1.0))
        if reg.kind == "temperature":
            return s.indoor if not reg.writable else 20.0
        if reg.kind in ("status", "minutes", "degree_minutes", "alarm"):
            return 0.0
        lo, hi = self._bounds[reg.index]
        if reg.min is not None and reg.max is not None and not reg.signed:
            # a slow drift in the lower part of the range, a constant for settings
            base = lo + (hi - lo) * 0.2
            if not reg.writable:
                base += (hi - lo) * 0.05 * _noise(self.seed, _key(reg.index), s.t, 4 * HOUR)
            return base / reg.factor
        return 0.0
