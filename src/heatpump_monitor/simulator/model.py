"""A deterministic heat-pump model: every register of a brand, as an H66 gateway would serve it.

The model integrates a small physical simulation in fixed steps of :data:`STEP_S` simulated
seconds from an origin (``history`` + :data:`WARMUP_S` before its start), so it has state --
hysteresis, timers, a tank, counters -- yet stays a function of (seed, simulated time, the
settings written so far): any instant can be read in any order (hourly checkpoints make going
back cheap), two models with the same seed and clock agree, and simulated time runs as
``start + (floor(clock()) - anchor) * time_scale`` (whole real seconds, so two reads in the
same second agree; ``time_scale`` 60 = a simulated minute per real second).

Physics, in short (simulated time, UTC):

* outdoor: seasonal mean (or a fixed ``outdoor_mean``) + multi-day weather swings + a daily
  sine with its minimum at 05:00; cold spells go well below 0 C;
* house: one thermal mass losing heat to outdoors, warmed by the radiators (one water mass)
  and by people and sun; the heat curve (+ room-sensor influence) gives the target forward
  temperature;
* control: degree minutes integrate forward - target; the compressor starts at
  :data:`DM_START` and stops at 0, with minimum on and off times, so cycles last tens of
  minutes and are more frequent in mild weather; the add-on heater steps in (3 kW steps) only
  when the compressor cannot keep up (degree minutes far below the start) -- cold days;
* hot water: a tank cooled by tapping (showers morning and evening, small taps) and standing
  loss; below its start temperature the switch valve turns to hot water and the compressor
  charges it to the stop temperature (priority over heating), about 2-4 charges a day;
* the compressor's heat and COP follow the condensing (forward) and brine temperatures; forward
  - return is the heat over the circuit's flow (2.7 kW/K, the analytics' default flow factor),
  5-6 K while running; brine in/out follow the evaporator's load;
* counters (hours, kWh, starts, S0 pulses) integrate what happened, starting from a value that
  fits the pump's age; a 16-bit counter wraps (the old firmware also cuts 32-bit ones to 16
  bits); a model with ``history`` places its 16-bit energy counters so they wrap inside it;
* an alarm on about one day in five, 10-40 min (compressor blocked), then cleared.

Every other register of the provider gets a plausible constant (or slow drift) chosen from its
name and kind, always clamped into the register's plausible range, so decoding what the model
serves never fails the provider's checks. Optional accessory sensors (pool, second circuit,
exhaust air, cooling) read like an uninstalled sensor where the provider marks one: its
``absent_raw`` number (NIBE's 32758), else just below its ``absent_at_or_below`` (-48.3 C).
Every read-only 32-bit register is a counter starting above 65535.
"""
from __future__ import annotations

import functools
import math
import threading
import time
import zlib
from dataclasses import dataclass, replace
from typing import Callable

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


@functools.lru_cache(maxsize=65536)
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


# ---------------------------------------------------------------- the physical simulation

#: Physics step (simulated seconds); every read is the state at the last step at or before it.
STEP_S = 10.0
#: The simulation starts this long before the first instant it must answer, so the house, the
#: tank and the control loop have settled into their rhythm by then.
WARMUP_S = 6 * HOUR
#: A checkpoint every this many steps (one simulated hour): a read in the past restarts there.
CHECKPOINT_STEPS = 360

# The house and the pump, in kW, kWh/K and K (a large ground-source pump in a large house).
HOUSE_UA = 0.5  # kW per K indoor - outdoor
HOUSE_C = 18.0  # kWh per K: a day or two to cool down
GAINS_KW = 0.6  # people, appliances
RADIATOR_K = 0.55  # kW per K radiator water - indoor
WATER_C = 0.6  # kWh per K of the radiator circuit (water + radiators)
FLOW_KW_PER_K = 2.7  # heat per K of forward - return at the circuit's flow (0.65 L/s)
BRINE_KW_PER_K = 3.3  # the same on the brine side
TANK_C = 0.5  # kWh per K of the hot-water tank (as its top sensor sees it)
TANK_LOSS_KW = 0.08
Q_NOMINAL_KW = 14.5  # heat at brine 0 C / forward 35 C
ADD_HEAT_STEP_KW = 3.0  # the add-on heater's steps (3, 6, 9 kW)
ADD_HEAT_STEPS = 3
AUX_PUMPS_KW = 0.08  # controls and circulation pump, always

DM_START = -60.0  # degree minutes: compressor start
DM_STOP = 0.0  # ... and stop
DM_ADD_HEAT = -500.0  # add heat step 1 here, one more per further -100
DM_MIN, DM_MAX = -1500.0, 100.0
MAX_OVERSHOOT_K = 3.0  # ... or when the forward is this far above its target
MIN_ON_S = 10 * 60.0
MIN_OFF_S = 15 * 60.0
MAX_CHARGE_S = 75 * 60.0
ADD_STEP_UP_S = 15 * 60.0
ADD_STEP_DOWN_S = 5 * 60.0


# first-order lags per step: the compressor's ramp (2 min), the valve's (1.5 min), the borehole's (8 h)
_LAG_COMPRESSOR = 1.0 - math.exp(-STEP_S / 120.0)
_LAG_VALVE = 1.0 - math.exp(-STEP_S / 90.0)
_LAG_BOREHOLE = 1.0 - math.exp(-STEP_S / (8 * HOUR))


@dataclass(frozen=True, slots=True)
class _Settings:
    """The settings the physics reads, as written at some instant (see ``set_register``)."""

    room: float
    curve_offset: float
    supply_override: float | None
    hw_start: float
    hw_stop: float
    heater: bool
    stop_temp: float


@dataclass(slots=True)
class _Phys:
    """The simulated pump and house after a step (mutable; copied into checkpoints)."""

    t: float
    indoor: float
    water: float  # radiator circuit mean temperature
    tank: float  # hot water top
    on: bool
    hot_water: bool  # switch valve to the tank
    changed: float  # when the compressor last started or stopped
    charge_start: float
    dm: float
    step: int  # add-heat steps 0..ADD_HEAT_STEPS
    step_changed: float
    comp_act: float  # 0..1, the compressor's ramp
    hw_act: float  # 0..1, the switch valve's
    drawdown: float  # 0..1, the borehole's slow cooling under load
    supply_sp: float
    outdoor: float
    forward: float
    ret: float
    hc_forward: float
    hc_return: float
    brine_in: float
    brine_out: float
    q_hp: float  # kW heat from the compressor
    p_el: float  # kW electric, all of it
    alarm: int  # alarm code, 0 none
    # counters since the origin
    comp_h: float = 0.0
    comp_h_heat: float = 0.0
    comp_h_hw: float = 0.0
    aux_h: float = 0.0
    aux_h6: float = 0.0
    e_total: float = 0.0
    e_hw: float = 0.0
    e_comp_heat: float = 0.0
    e_comp_hw: float = 0.0
    e_aux: float = 0.0
    q_heat: float = 0.0
    q_hw: float = 0.0
    starts: float = 0.0


@dataclass(slots=True)
class _Run:
    """One integration from ``origin``: its newest state and hourly checkpoints."""

    origin: float
    cursor: _Phys
    checkpoints: dict[int, _Phys]


@dataclass(slots=True)
class _State:
    """What the register rules read at one instant: the physics plus derived quantities."""

    t: float
    phys: _Phys
    origin: float  # of the run the physics comes from (counters start there)
    settings: _Settings
    outdoor: float
    indoor: float
    room_setpoint: float
    supply_setpoint: float
    load: float  # 0 (no heating needed) .. 1 (design cold)
    compressor: bool
    hot_water: bool
    comp_act: float
    rad_act: float
    hw_act: float
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
    add_heat_kw: float
    degree_minutes: float
    heating_pumps: bool
    power_w: float
    alarm: int


def _cop(cond_out: float, brine_out: float) -> float:
    """Compressor COP: about half of Carnot between condensing and evaporating temperatures."""
    tc = cond_out + 4.0 + 273.15
    te = brine_out - 5.0 + 273.15
    return _clamp(0.48 * tc / max(10.0, tc - te), 1.5, 6.0)


def _capacity(cond_out: float, brine_out: float) -> float:
    """Heat (kW) the compressor makes: more from warmer brine, less at higher forward."""
    return Q_NOMINAL_KW * (1.0 + 0.025 * brine_out) * (1.0 - 0.006 * (cond_out - 35.0))


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


# Typical values (real units) of settings and other quiet registers, by name. Anything not listed
# falls back to a default by kind; every value is clamped into the register's range anyway.
_TYPICAL: dict[str, float] = {
    "room_sensor_influence": 3.0,
    "heat_curve_level": 5.0,
    "heat_curve_offset": 0.0,
    "heat_curve_parallel": 0.0,
    "heat_curve_max": 55.0,
    # IVT Rego 800/1000's curve points (analytics.curve's two_point: +20 C and -20 C outdoors),
    # placed on the simulated house's own curve at 21 C inside, so the demo's curve fits its data
    "heat_curve_left": 25.0,
    "heat_curve_right": 55.0,
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

# Counters the physics integrates, by name: (the _Phys field, average growth per hour over the
# years before the origin, scale). Growth of a counter the model knows only by kind is below.
_COUNTERS: dict[str, tuple[str | None, float, float]] = {
    "compressor_hours": ("comp_h", 0.40, 1.0),
    "compressor_hours_heating": ("comp_h_heat", 0.33, 1.0),
    "compressor_hours_hot_water": ("comp_h_hw", 0.07, 1.0),
    "hot_water_hours": ("comp_h_hw", 0.07, 1.0),
    "aux_hours_heating": ("aux_h", 0.010, 1.0),
    "aux_hours_hot_water": (None, 0.002, 1.0),
    "aux_3kw_hours": ("aux_h", 0.010, 1.0),
    "add_heat_hours": ("aux_h", 0.010, 1.0),
    "aux_6kw_hours": ("aux_h6", 0.004, 1.0),
    "energy_kwh": ("e_total", 1.6, 1.0),
    "energy_total_kwh": ("e_total", 1.6, 1.0),
    "energy_hot_water_kwh": ("e_hw", 0.3, 1.0),
    "energy_ventilation_kwh": (None, 0.05, 1.0),
    "compressor_energy_heating": ("e_comp_heat", 1.2, 1.0),
    "compressor_energy_hot_water": ("e_comp_hw", 0.3, 1.0),
    "aux_energy_heating": ("e_aux", 0.05, 1.0),
    "aux_energy_hot_water": (None, 0.0, 1.0),
    "supplied_energy_heating": ("q_heat", 3.8, 1.0),
    "supplied_energy_hot_water": ("q_hw", 0.8, 1.0),
    "compressor_starts": ("starts", 0.7, 1.0),
    "meter_1_pulses": ("e_total", 1.6, 1000.0),  # S0 meter: 1000 pulses per kWh
}

# Growth per simulated hour of counters the model knows only by kind (read-only 32-bit ones).
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
    # Thermia's supply at 0 C; NIBE's curve number (its factory setting 9)
    "heat_curve": lambda m, r, s: m._setting(r.name, 40.0 if r.kind == "temperature" else 9.0),
    "compressor": lambda m, r, s: 1.0 if s.compressor else 0.0,
    "brine_pump": lambda m, r, s: 1.0 if s.compressor else 0.0,
    "switch_valve": lambda m, r, s: 1.0 if s.hot_water else 0.0,
    "heat_circuit_pump": lambda m, r, s: 1.0 if s.heating_pumps else 0.0,
    "radiator_pump": lambda m, r, s: 1.0 if s.heating_pumps else 0.0,
    "additional_heat": lambda m, r, s: s.add_heat,
    "add_heat_step_1": lambda m, r, s: 1.0 if s.phys.step in (1, 3) else 0.0,  # 3 kW
    "add_heat_step_2": lambda m, r, s: 1.0 if s.phys.step >= 2 else 0.0,  # 6 kW
    "add_heat_kw": lambda m, r, s: s.add_heat_kw,
    "circulation_pump_speed": lambda m, r, s: 30.0 + 40.0 * s.rad_act + 30.0 * s.hw_act,
    "brine_pump_speed": lambda m, r, s: 80.0 * s.comp_act,
    "compressor_speed": lambda m, r, s: (30.0 + 60.0 * s.load) * s.comp_act,
    "degree_minutes": lambda m, r, s: s.degree_minutes,
    "degree_minutes_integral": lambda m, r, s: s.degree_minutes,
    "power_w": lambda m, r, s: s.power_w,
    "load_l1": lambda m, r, s: 0.4 + s.power_w / 690.0,  # A per phase, 230 V, three phases
    "load_l2": lambda m, r, s: 0.3 + s.power_w / 690.0,
    "load_l3": lambda m, r, s: 0.2 + s.power_w / 690.0,
    "alarm": lambda m, r, s: 1.0 if s.alarm else 0.0,
}


# ---------------------------------------------------------------- the model


class PumpModel:
    """A simulated heat pump behind an H66 gateway.

    ``brand`` is a brand name (``load_provider``) or a :class:`Provider`. The model is
    deterministic given ``seed`` and the clock. Options:

    * ``time_scale``: simulated seconds per real second (60 = a simulated minute per second);
    * ``start``: simulated epoch at construction (default: the real clock's now);
    * ``history``: simulated seconds before ``start`` that will be read (``demo --history``):
      the simulation begins before them, so they continue seamlessly into the live reads;
    * ``outdoor_mean``: fix the daily mean outdoor temperature (default: seasonal, about -5 C in
      January and +15 C in July, with weather swings) -- e.g. ``-14`` for days with add heat;
    * ``outdoor_amplitude``: half the daily swing (default 4 C, minimum at 05:00 UTC);
    * ``alarms``: an occasional alarm (default on);
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
        history: float = 0.0,
        outdoor_mean: float | None = None,
        outdoor_amplitude: float = 4.0,
        alarms: bool = True,
        absent_sensors: bool = True,
        firmware: str = "current",
    ) -> None:
        self.provider: Provider = brand if isinstance(brand, Provider) else load_provider(brand)
        self.brand = self.provider.brand
        self.seed = int(seed)
        self._clock = clock
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        if history < 0:
            raise ValueError("history must be >= 0")
        self.time_scale = float(time_scale)
        self._anchor = math.floor(clock())
        self.start = float(self._anchor if start is None else start)
        self.history = float(history)
        self.outdoor_mean = outdoor_mean
        self.outdoor_amplitude = outdoor_amplitude
        self.alarms = alarms
        #: alarms raised and cleared by hand (tests, demos), from a simulated time on: (t, code);
        #: code None hands back to the occasional alarms
        self._forced_alarms: list[tuple[float, int | None]] = []
        self.absent_sensors = absent_sensors
        if firmware not in FIRMWARES:
            raise ValueError(f"firmware must be one of {', '.join(FIRMWARES)}")
        self.firmware = firmware
        self.overrides: dict[str, int] = {}  # index -> raw, written through set_register
        self._installed = _COUNTER_EPOCH + (_hash_unit(self.seed, 3, 0) + 1) / 2 * 900 * DAY
        self._by_name = {reg.name: reg for reg in self.provider.registers.values()}
        self._bounds = {idx: _raw_bounds(reg) for idx, reg in self.provider.registers.items()}
        # a pump without heat-carrier sensors has no mixing valve: its radiator pair sits on
        # the condenser circuit, so it shows the tank's charge too
        self._condenser_on_radiator = "heat_carrier_forward" not in self._by_name
        self._alarm_codes = sorted(c for c in self.provider.alarms if c > 0) or [1]
        self._plan: list[tuple[str, Register, _Rule, int | None, tuple[int, int], float]] = []
        for idx, reg in self.provider.registers.items():
            fixed = None
            if absent_sensors and _is_optional_sensor(reg):
                absent = _absent_raw(reg)
                fixed = None if absent is None else as_firmware(reg, absent, firmware)
            self._plan.append((idx, reg, self._plan_for(reg), fixed, self._bounds[idx], reg.factor))
        self._lock = threading.RLock()
        self._cache: tuple[float, dict[str, int], int] | None = None  # (t, raw, overrides version)
        self._version = 0
        self._constants: dict[str, float] = {}
        self._constants_version = 0
        self._counter_bases: dict[tuple[str, float], tuple[float, float, float, float]] = {}
        #: (from simulated time, settings) in time order: a write changes the physics from then on
        self._epochs: list[tuple[float, _Settings]] = [(-math.inf, self._current_settings())]
        origin = math.floor((self.start - self.history - WARMUP_S) / STEP_S) * STEP_S
        self._main = self._new_run(origin)
        self._detached: dict[int, _Run] = {}  # day -> run, for reads before the main origin
        self._taps: dict[int, list[tuple[float, float, float]]] = {}

    # ------------------------------------------------------------ public API

    def sim_time(self) -> float:
        """The simulated epoch now (whole real seconds, scaled by ``time_scale``)."""
        return self.start + (math.floor(self._clock()) - self._anchor) * self.time_scale

    def raw_alldata(self, t: float | None = None) -> dict[str, int]:
        """What ``GET /api/alldata`` answers: upper-case index -> raw integer, in the form of
        the model's ``firmware`` (current: signed, counters above 65535; old: 0..65535)."""
        t = self.sim_time() if t is None else t
        # one gateway's model is read by the HTTP server, the MQTT publisher and tests, each in
        # its own thread, and a read steps the simulation: one at a time
        with self._lock:
            return self._raw_alldata(t)

    def _raw_alldata(self, t: float) -> dict[str, int]:
        if self._cache and self._cache[0] == t and self._cache[2] == self._version:
            return dict(self._cache[1])
        state = self._state(t)
        raw: dict[str, int] = {}
        overrides, old = self.overrides, self.firmware == "old"
        # the hot loop of a week of history: encode_value inlined, constant registers once
        for idx, reg, rule, fixed, (lo, hi), factor in self._plan:
            if idx in overrides:
                raw[idx] = as_firmware(reg, overrides[idx], self.firmware)
            elif fixed is not None:
                raw[idx] = fixed
            else:
                v = int(round(rule(self, reg, state) * factor))
                v = lo if v < lo else hi if v > hi else v
                raw[idx] = v & 0xFFFF if old else v
        self._cache = (t, raw, self._version)
        return dict(raw)

    def values(self, t: float | None = None) -> dict[str, float]:
        """The served registers in real units, by name (decoded from :meth:`raw_alldata`, so
        exactly what a client decodes; uninstalled sensors show their raw reading, about -49)."""
        raw = self.raw_alldata(t)
        regs = self.provider.registers
        return {regs[idx].name: raw_to_value(regs[idx], r) for idx, r in raw.items()}

    def set_register(self, index: str, raw: int) -> int:
        """Store a written value for a writable register; returns the stored raw value. The
        register reads the new value at once; the physics follows it from the current
        simulated time on (the house warms up slowly after a higher room setpoint).

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
        with self._lock:
            self.overrides[reg.index] = raw
            self._settings_changed()
        return raw

    def clear_overrides(self) -> None:
        with self._lock:
            self.overrides.clear()
            self._settings_changed()

    def outdoor(self, t: float) -> float:
        """Outdoor temperature at simulated epoch ``t``."""
        if self.outdoor_mean is None:
            day_of_year = (t / DAY) % 365.25
            mean = 5.0 - 10.0 * math.cos(2 * math.pi * (day_of_year - 15.0) / 365.25)
            # weather: fronts every few days, and a milder wobble from day to day
            mean += 6.5 * _noise(self.seed, 10, t, 2.5 * DAY) + 1.5 * _noise(self.seed, 12, t, 0.8 * DAY)
        else:
            mean = self.outdoor_mean + 0.8 * _noise(self.seed, 10, t, 1.7 * DAY)
        hour = (t % DAY) / HOUR
        daily = -self.outdoor_amplitude * math.cos(2 * math.pi * (hour - 5.0) / 24.0)
        return mean + daily + 0.4 * _noise(self.seed, 11, t, 2400.0)

    # ------------------------------------------------------------ settings

    def _setting(self, name: str, default: float, overrides: dict[str, int] | None = None) -> float:
        """A setting's value: the written override if any, else its typical value."""
        reg = self._by_name.get(name)
        if reg is None:
            return default
        raw = (self.overrides if overrides is None else overrides).get(reg.index)
        if raw is not None:
            return raw_to_value(reg, raw)
        lo, hi = self._bounds[reg.index]
        return _clamp(default, lo / reg.factor, hi / reg.factor)

    def _current_settings(self) -> _Settings:
        s = self._setting
        stop = s("hot_water_stop_temp", 52.0)
        if "hot_water_start_temp" in self._by_name:
            start = s("hot_water_start_temp", stop - 7.0)
        else:
            start = stop - s("hot_water_difference", 7.0)
        if start > stop - 1.0:
            start = stop - 5.0
        supply = None
        reg = self._by_name.get("heating_setpoint")
        if reg is not None and reg.index in self.overrides:
            supply = raw_to_value(reg, self.overrides[reg.index])
        return _Settings(
            room=s("room_temp_setpoint", 21.0),
            curve_offset=s("heat_curve_offset", s("heat_curve_parallel", 0.0)),
            supply_override=supply, hw_start=start, hw_stop=stop,
            heater=s("electric_heater_enabled", 1.0) != 0,
            stop_temp=s("heating_stop_temp", s("summer_mode_temp", 17.0)))

    def _hot_water_temps(self) -> tuple[float, float]:
        settings = self._current_settings()
        return settings.hw_start, settings.hw_stop

    def _settings_at(self, t: float) -> _Settings:
        for since, settings in reversed(self._epochs):
            if since <= t:
                return settings
        return self._epochs[0][1]

    def _settings_changed(self) -> None:
        """A write: the physics takes the new settings from now on; what was simulated after
        now (a read ahead of the clock) is forgotten and simulated again."""
        self._version += 1
        now = self.sim_time()
        self._epochs = [e for e in self._epochs if e[0] < now] + [(now, self._current_settings())]
        for run in (self._main, *self._detached.values()):
            if run.cursor.t > now:
                keep = {k: c for k, c in run.checkpoints.items() if c.t <= now}
                run.checkpoints = keep
                run.cursor = replace(keep[max(keep)])

    # ------------------------------------------------------------ the simulation

    def _new_run(self, origin: float) -> _Run:
        settings = self._settings_at(origin)
        out = self.outdoor(origin)
        sp = self._supply_setpoint(settings, out, settings.room)
        tank = settings.hw_start + (settings.hw_stop - settings.hw_start) * (0.5 + 0.4 * _hash_unit(self.seed, 4, 0))
        first = _Phys(
            t=origin, indoor=settings.room - 0.2, water=sp - 2.0, tank=tank, on=False, hot_water=False,
            changed=origin - MIN_OFF_S, charge_start=origin, dm=-20.0, step=0, step_changed=origin,
            comp_act=0.0, hw_act=0.0, drawdown=0.3, supply_sp=sp, outdoor=out, forward=sp - 2.0,
            ret=sp - 2.0, hc_forward=sp - 2.0, hc_return=sp - 2.0, brine_in=3.0, brine_out=3.0,
            q_hp=0.0, p_el=AUX_PUMPS_KW, alarm=0)
        return _Run(origin, first, {0: replace(first)})

    def _run_for(self, t: float) -> _Run:
        if t >= self._main.origin:
            return self._main
        # before the main run (a client reading further back than ``history``): a run of its
        # own per simulated day, deterministic, but not continuous with its neighbours
        day = math.floor(t / DAY)
        run = self._detached.get(day)
        if run is None:
            if len(self._detached) > 8:
                self._detached.clear()
            run = self._detached[day] = self._new_run(day * DAY - WARMUP_S)
        return run

    def _phys_at(self, t: float) -> tuple[_Phys, _Run]:
        run = self._run_for(t)
        k = int((t - run.origin) // STEP_S)
        cur = run.cursor
        k_cur = round((cur.t - run.origin) / STEP_S)
        if k < k_cur:  # back in time: restart from the checkpoint before
            base = max(c for c in run.checkpoints if c * CHECKPOINT_STEPS <= k)
            cur = replace(run.checkpoints[base])
            k_cur = base * CHECKPOINT_STEPS
        while k_cur < k:
            self._step(cur, run.origin)
            k_cur += 1
            if k_cur % CHECKPOINT_STEPS == 0 and k_cur // CHECKPOINT_STEPS not in run.checkpoints:
                run.checkpoints[k_cur // CHECKPOINT_STEPS] = replace(cur)
        run.cursor = cur
        return cur, run

    def _supply_setpoint(self, st: _Settings, outdoor: float, indoor: float) -> float:
        """The heat curve, plus the room sensor's influence (too cold inside: warmer water)."""
        if st.supply_override is not None:
            return st.supply_override
        sp = st.room + 4.0 + 0.75 * max(0.0, 20.0 - outdoor) + st.curve_offset + 1.5 * (st.room - indoor)
        return _clamp(sp, 20.0, 58.0)

    def _tap_kw(self, t: float) -> float:
        """Hot water drawn now (kW): showers in the morning and evening, a few small taps."""
        day = math.floor(t / DAY)
        events = self._taps.get(day)
        if events is None:
            if len(self._taps) > 16:
                self._taps.clear()
            events = self._taps[day] = self._day_taps(day)
        for start, end, kw in events:
            if start <= t < end:
                return kw
        return 0.0

    def _day_taps(self, day: int) -> list[tuple[float, float, float]]:
        h = lambda i: (_hash_unit(self.seed, 70 + i, day) + 1) / 2  # noqa: E731 -- 0..1
        base = day * DAY
        events = [
            (base + (5.75 + 1.5 * h(0)) * HOUR, 10 * 60 + 300 * h(1), 24.0),  # morning shower(s)
            (base + (17.5 + 4.0 * h(2)) * HOUR, 8 * 60 + 400 * h(3), 24.0),  # evening shower/bath
        ]
        if h(4) > 0.6:  # some days a second shower
            events.append((base + (20.0 + 2.0 * h(5)) * HOUR, 8 * 60.0, 24.0))
        for i in range(4):  # dishes, hands
            events.append((base + (7.0 + 15.0 * h(6 + i)) * HOUR, 120.0, 12.0))
        return [(s, s + d, kw) for s, d, kw in events]

    def force_alarm(self, code: int | None) -> None:
        """Raise alarm ``code`` now (0: none) until told otherwise; None: back to the
        occasional alarms. The compressor stops as for any alarm."""
        if code is not None and (isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 65535):
            raise ValueError("alarm must be an alarm code from 0 to 65535, or null")
        with self._lock:
            now = self.sim_time()
            self._forced_alarms = [f for f in self._forced_alarms if f[0] < now] + [(now, code)]
            self._settings_changed()

    @property
    def forced_alarm(self) -> int | None:
        return self._forced_alarms[-1][1] if self._forced_alarms else None

    def _alarm_at(self, t: float) -> int:
        """An alarm on about one day in five, 10-40 minutes, then cleared; 0 otherwise (or
        what :meth:`force_alarm` set)."""
        for since, code in reversed(self._forced_alarms):
            if since <= t:
                if code is not None:
                    return code
                break
        if not self.alarms:
            return 0
        day = math.floor(t / DAY)
        if _hash_unit(self.seed, 60, day) < 0.6:  # cached: called every step
            return 0
        start = day * DAY + (0.05 + 0.85 * (_hash_unit(self.seed, 61, day) + 1) / 2) * DAY
        length = (10 + 30 * (_hash_unit(self.seed, 62, day) + 1) / 2) * 60
        if not start <= t < start + length:
            return 0
        i = int((_hash_unit(self.seed, 63, day) + 1) / 2 * len(self._alarm_codes)) % len(self._alarm_codes)
        return self._alarm_codes[i]

    def _step(self, p: _Phys, origin: float) -> None:
        """Advance ``p`` by one step of :data:`STEP_S` seconds (in place)."""
        dt = STEP_S
        t = p.t
        st = self._settings_at(t)
        out = self.outdoor(t)
        heating_season = out < st.stop_temp
        sp = self._supply_setpoint(st, out, p.indoor)
        alarm = self._alarm_at(t)

        # degree minutes: the forward's deficit (or surplus) against the target, integrated
        if heating_season and not p.hot_water:  # paused while the tank charges, as on most pumps
            p.dm = _clamp(p.dm + (p.forward - sp) * dt / 60.0, DM_MIN, DM_MAX)
        elif not heating_season:
            p.dm = min(0.0, p.dm + 10.0 * dt / 60.0)  # no heating season: back to 0

        # the controller: hot water first, heating by degree minutes, with minimum run times
        since = t - p.changed
        if p.on:
            if alarm:
                p.on, p.hot_water, p.changed = False, False, t
            elif p.hot_water:
                if p.tank >= st.hw_stop or t - p.charge_start >= MAX_CHARGE_S:
                    p.hot_water = False
                    if not (heating_season and p.dm < DM_STOP):
                        p.on, p.changed = False, t
            elif p.tank <= st.hw_start:
                p.hot_water, p.charge_start = True, t
            elif p.forward >= sp + MAX_OVERSHOOT_K and p.step:
                p.step, p.step_changed = p.step - 1, t  # too warm: the add-on heater goes first
            elif (p.dm >= DM_STOP or p.forward >= sp + MAX_OVERSHOOT_K or not heating_season) \
                    and since >= MIN_ON_S:
                p.on, p.changed = False, t
        elif not alarm and since >= MIN_OFF_S:
            if p.tank <= st.hw_start:
                p.on, p.hot_water, p.changed, p.charge_start = True, True, t, t
                p.starts += 1
            elif heating_season and p.dm <= DM_START:
                p.on, p.hot_water, p.changed = True, False, t
                p.starts += 1

        # the add-on heater: a step more while far behind, a step less once caught up
        if p.step < ADD_HEAT_STEPS and st.heater and heating_season \
                and p.dm <= DM_ADD_HEAT - 100.0 * p.step and t - p.step_changed >= ADD_STEP_UP_S \
                and (p.on or alarm) and not p.hot_water:
            p.step, p.step_changed = p.step + 1, t
        elif p.step > 0 and (p.dm > DM_ADD_HEAT + 200.0 or p.forward > sp + 1.0 or not heating_season
                             or not st.heater) and t - p.step_changed >= ADD_STEP_DOWN_S:
            p.step, p.step_changed = p.step - 1, t
        if not (p.on or alarm) or p.hot_water:
            p.step = 0  # the heater backs the compressor up; it does not replace a stopped one

        # heat flows over this step
        p.comp_act += ((1.0 if p.on else 0.0) - p.comp_act) * _LAG_COMPRESSOR
        p.hw_act += ((1.0 if p.hot_water else 0.0) - p.hw_act) * _LAG_VALVE
        p.drawdown += (p.comp_act - p.drawdown) * _LAG_BOREHOLE
        ground = 4.0 + 1.0 * math.sin(2 * math.pi * ((t / DAY) % 365.25 - 200.0) / 365.25) \
            + 0.3 * _noise(self.seed, 50, t, 6 * HOUR)
        brine_in = ground - 1.8 * p.drawdown
        cap = _capacity(p.hc_forward, p.brine_out)
        cop = _cop(p.hc_forward, p.brine_out)
        q_hp = cap * p.comp_act
        p_comp = q_hp / cop
        aux = p.step * ADD_HEAT_STEP_KW
        q_rad_in = q_hp * (1.0 - p.hw_act) + aux
        q_tank_in = q_hp * p.hw_act
        q_rad = RADIATOR_K * (p.water - p.indoor)
        sun = max(0.0, math.sin(2 * math.pi * ((t % DAY) / DAY - 0.25))) * 0.8
        hours = dt / HOUR
        p.water += (q_rad_in - q_rad) * hours / WATER_C
        p.indoor += (q_rad + GAINS_KW + sun - HOUSE_UA * (p.indoor - out)) * hours / HOUSE_C
        p.tank += (q_tank_in - TANK_LOSS_KW * (p.tank - 20.0) / 30.0 - self._tap_kw(t)) * hours / TANK_C
        p.tank = max(p.tank, 12.0)

        # temperatures the sensors see
        half = 0.5 * max(0.3, q_rad_in / FLOW_KW_PER_K)
        p.forward = p.water + half
        p.ret = p.water - half
        p.hc_return = p.ret * (1.0 - p.hw_act) + (p.tank - 2.0) * p.hw_act
        p.hc_forward = p.hc_return + q_hp / FLOW_KW_PER_K
        p.brine_in = brine_in
        p.brine_out = brine_in - (q_hp - p_comp) / BRINE_KW_PER_K
        p.supply_sp, p.outdoor, p.alarm = sp, out, alarm
        p.q_hp = q_hp
        p.p_el = p_comp + aux + AUX_PUMPS_KW + 0.12 * p.comp_act  # + the brine pump

        # counters
        if p.on:
            p.comp_h += hours
            if p.hot_water:
                p.comp_h_hw += hours
            else:
                p.comp_h_heat += hours
        if p.step:
            p.aux_h += hours
            if p.step >= 2:
                p.aux_h6 += hours
        e = p.p_el * hours
        p.e_total += e
        p.e_aux += aux * hours
        if p.hw_act > 0.5:
            p.e_hw += e
            p.e_comp_hw += p_comp * hours
        else:
            p.e_comp_heat += p_comp * hours
        p.q_heat += (q_hp * (1.0 - p.hw_act) + aux) * hours
        p.q_hw += q_tank_in * hours
        p.t = t + dt

    def _state(self, t: float) -> _State:
        p, run = self._phys_at(t)
        st = self._settings_at(t)
        load = _clamp((st.stop_temp - p.outdoor) / max(1.0, st.stop_temp + 20.0), 0.0, 1.0)
        forward, ret = p.forward, p.ret
        if self._condenser_on_radiator:
            forward = forward + (p.hc_forward - forward) * p.hw_act
            ret = ret + (p.hc_return - ret) * p.hw_act
        return _State(
            t=t, phys=p, origin=run.origin, settings=st, outdoor=p.outdoor, indoor=p.indoor,
            room_setpoint=st.room, supply_setpoint=p.supply_sp, load=load, compressor=p.on,
            hot_water=p.hot_water, comp_act=p.comp_act, rad_act=p.comp_act * (1.0 - p.hw_act),
            hw_act=p.hw_act, forward=forward, ret=ret, heat_carrier_forward=p.hc_forward,
            heat_carrier_return=p.hc_return, brine_in=p.brine_in, brine_out=p.brine_out,
            hot_water_top=p.tank, hot_water_start=st.hw_start, hot_water_stop=st.hw_stop,
            add_heat=100.0 * p.step / ADD_HEAT_STEPS, add_heat_kw=p.step * ADD_HEAT_STEP_KW,
            degree_minutes=p.dm, heating_pumps=load > 0.0 or p.on, power_w=1000.0 * p.p_el,
            alarm=p.alarm)

    # ------------------------------------------------------------ registers

    def _counter(self, reg: Register, s: _State, field: str | None, rate: float, scale: float) -> float:
        """A counter: ``rate`` per hour over the pump's life before the run's origin, plus what
        the physics counted since (``field``; else ``rate`` per hour), times ``scale``; a 32-bit
        one from :data:`WIDE_COUNTER_START`. It wraps at the top of its raw range as the pump's
        does (16 bits: 65535 -> 0), or at its plausible maximum."""
        key = (reg.index, s.origin)
        known = self._counter_bases.get(key)
        if known is None:
            known = self._counter_bases[key] = self._counter_base(reg, s.origin, field, rate, scale)
        base, bottom, top, span = known
        grown = getattr(s.phys, field) if field else (s.t - s.origin) / HOUR * rate
        value = base + grown * scale
        if value > top and span > 0:
            value = bottom + (value - bottom) % span
        return value

    def _counter_base(self, reg: Register, origin: float, field: str | None, rate: float,
                      scale: float) -> tuple[float, float, float, float]:
        """(value at ``origin``, bottom, top, wrap span) of a counter: fixed per run."""
        lo, hi = self._bounds[reg.index]
        bottom, top = max(0.0, lo / reg.factor), hi / reg.factor
        span = ((hi + 1) / reg.factor if hi == RAW_DOMAIN[reg.size][1] else top) - bottom
        base = max(0.0, (origin - self._installed) / HOUR * rate) * scale
        if reg.wide:
            base += WIDE_COUNTER_START / reg.factor
        # the width the gateway sends: 16 bits on old firmware, else the register's own
        width = 65536 / reg.factor if reg.wide and self.firmware == "old" else None if reg.wide else span
        if self.history and reg.kind == "energy" and field and width:
            # with history (the demo) start below a wrap by what the warm-up may use (4 kW)
            # and a quarter kWh per hour of history: the week shows the wrap the analytics
            # must add back
            base = base - base % width + width - (4.0 * WARMUP_S + 0.25 * self.history) / HOUR
        return base, bottom, top, span

    def _plan_for(self, reg: Register) -> _Rule:
        """How the value of ``reg`` is made: chosen once per register from its name and kind."""
        name = reg.name
        base = name[:-2] if name.endswith("_2") else name
        if name == "alarm":
            return _SPECIFIC["alarm"]
        if reg.kind == "alarm" or name == "alarm_code" or (name.startswith("alarm") and not reg.writable):
            return lambda m, r, s: float(s.alarm)  # the alarm number while it lasts
        if name.startswith("alarm"):
            return lambda m, r, s: 0.0  # alarm reset: nothing written
        for key in (name, base):
            if key in _SPECIFIC:
                return _SPECIFIC[key]
            if key in _COUNTERS:
                field, rate, scale = _COUNTERS[key]
                return lambda m, r, s: m._counter(r, s, field, rate, scale)
        for key in (name, base):
            if key in _TYPICAL:
                typical = _TYPICAL[key]
                return lambda m, r, s: m._constant(r, lambda: m._setting(r.name, typical))
        if reg.mapping:
            return lambda m, r, s: m._constant(r, lambda: m._by_kind(r, s))
        return lambda m, r, s: m._by_kind(r, s)

    def _constant(self, reg: Register, make: Callable[[], float]) -> float:
        """A value that changes only with a write (settings, modes): made once per write."""
        if self._constants_version != self._version:
            self._constants, self._constants_version = {}, self._version
        value = self._constants.get(reg.index)
        if value is None:
            value = self._constants[reg.index] = make()
        return value

    def _by_kind(self, reg: Register, s: _State) -> float:
        """A sensible value for a register the model knows nothing specific about."""
        if reg.mapping:
            for word in ("auto", "normal"):
                for code, text in sorted(reg.mapping.items()):
                    if word in text.lower():
                        return float(code)
            return float(0 if 0 in reg.mapping else min(reg.mapping))
        if (reg.kind in ("energy", "hours") or reg.wide) and not reg.writable:
            return self._counter(reg, s, None, _KIND_RATES.get(reg.kind, 1.0), 1.0)
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
