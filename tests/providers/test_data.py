"""The brand data files (providers/data/<brand>.yaml) and the loader's validation.

The expected register tables below are copied by hand from the reference
(/work/shared/reference/husdata-h66.md), not generated from the data files.
"""

from __future__ import annotations

import math
import re
from importlib import resources

import pytest
import yaml

from heatpump_monitor.providers import ProviderError, brand_for_h1ver, load_provider
from heatpump_monitor.providers.registry import KIND_DEFAULTS, provider_from_dict

BRANDS = ["thermia", "ivt", "nibe"]
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
INDEX = re.compile(r"^[0-9A-F]{4}$")

COMMON = {
    "0002": "radiator_forward",
    "0005": "brine_in_evaporator",
    "0006": "brine_out_condenser",
    "0007": "outdoor_temp",
    "0008": "indoor_temp",
    "0009": "hot_water_top",
    "0107": "heating_setpoint",
    "0203": "room_temp_setpoint",
    "2204": "room_sensor_influence",
    "1A01": "compressor",
    "1A04": "brine_pump",
    "1A07": "switch_valve",
    "3104": "additional_heat",
}
IVT_THERMIA_COMMON = {"0001": "radiator_return", "1A20": "alarm"}

EXPECTED = {
    "ivt": {
        **COMMON, **IVT_THERMIA_COMMON,
        "0003": "heat_carrier_return", "0004": "heat_carrier_forward", "000A": "hot_water_mid",
        "000B": "hot_gas", "0111": "hot_water_setpoint", "0208": "hot_water_stop_temp",
        "020A": "summer_mode_temp", "020B": "hot_water_difference", "2205": "heat_curve_level",
        "0207": "heat_curve_parallel", "7209": "extra_hot_water_minutes", "2210": "holiday_mode",
        "1215": "electric_heater_enabled", "1233": "external_control", "12F2": "alarm_reset",
        "1A02": "add_heat_step_1", "1A03": "add_heat_step_2", "1A05": "heat_circuit_pump",
        "1A06": "radiator_pump", "BA91": "alarm_code", "6C55": "compressor_hours_heating",
        "6C56": "compressor_hours_hot_water", "6C58": "aux_hours_heating",
        "6C59": "aux_hours_hot_water",
    },
    "nibe": {
        **COMMON,
        "0003": "heat_carrier_return", "0004": "heat_carrier_forward", "000A": "hot_water_mid",
        "000B": "hot_gas", "000C": "suction_gas", "000D": "liquid_flow", "000F": "air_intake",
        "0010": "air_outlet", "0011": "pool", "0020": "radiator_forward_2", "0021": "indoor_2",
        "0022": "heat_carrier_return_2", "0106": "room_temp_setpoint_current",
        "2201": "operating_mode", "2205": "heat_curve", "2207": "heat_curve_offset",
        "2213": "hot_water_program", "2218": "pool_mode", "0220": "room_temp_setpoint_2",
        "2222": "heat_curve_2", "2224": "heat_curve_offset_2", "8255": "degree_minutes",
        "8105": "degree_minutes_integral", "22F2": "alarm_reset",
        "02F1": "room_controller_emulation", "9226": "max_add_heat_kw", "9124": "add_heat_kw",
        "9108": "compressor_speed", "4101": "load_l1", "4102": "load_l2", "4103": "load_l3",
        "1A05": "heat_circuit_pump", "1A0C": "heating_cable", "2A20": "alarm_code",
        "5C51": "energy_total_kwh", "5C53": "energy_hot_water_kwh",
        "5C65": "energy_ventilation_kwh",
    },
    "thermia": {
        **COMMON, **IVT_THERMIA_COMMON,
        "0012": "hot_gas", "0013": "cooling_temp", "2201": "operating_mode", "0205": "heat_curve",
        "0206": "heat_curve_max", "0208": "hot_water_stop_temp", "0211": "heating_stop_temp",
        "0212": "hot_water_start_temp", "0214": "cooling_setpoint", "0217": "outdoor_offset",
        "0233": "external_control_reduction", "8105": "degree_minutes",
        "3109": "circulation_pump_speed", "3110": "brine_pump_speed", "1A06": "radiator_pump",
        "2A91": "alarm_code", "6C60": "compressor_hours", "6C63": "aux_3kw_hours",
        "6C64": "hot_water_hours", "6C66": "aux_6kw_hours", "CFAA": "power_w",
        "5FAB": "energy_kwh",
    },
}

# rw marks in the reference (Thermia: the common 0203/2204, plus operating_mode as the brief asks)
EXPECTED_WRITABLE = {
    "ivt": {"0203", "2204", "0208", "020A", "020B", "2205", "0207", "7209", "2210", "1215",
            "1233", "12F2"},
    "nibe": {"0203", "2204", "2201", "2205", "2207", "2213", "2218", "0220", "2222", "2224",
             "8255", "22F2", "02F1", "9226"},
    "thermia": {"0203", "2204", "2201"},
}

EXPECTED_ALARM_REGISTER = {"ivt": "BA91", "nibe": "2A20", "thermia": "2A91"}
EXPECTED_H1VER = {"ivt": ("00",), "nibe": ("40",), "thermia": ("60",)}
EXPECTED_COUNT = {"ivt": 39, "nibe": 50, "thermia": 37}


def raw_doc(brand: str) -> dict:
    text = resources.files("heatpump_monitor.providers").joinpath("data", f"{brand}.yaml")
    return yaml.safe_load(text.read_text("utf-8"))


@pytest.mark.parametrize("brand", BRANDS)
def test_brand_loads(brand):
    p = load_provider(brand)
    assert p.brand == brand
    assert p.title
    assert p.notes
    assert p.h1ver_codes == EXPECTED_H1VER[brand]
    assert len(p.registers) == EXPECTED_COUNT[brand]


@pytest.mark.parametrize("brand", BRANDS)
def test_names_unique_and_snake_case(brand):
    doc = raw_doc(brand)
    names = [d["name"] for d in doc["registers"]]
    assert len(names) == len(set(names))
    bad = [n for n in names if not SNAKE.match(n)]
    assert bad == []


@pytest.mark.parametrize("brand", BRANDS)
def test_indices_quoted_upper_case_and_unique(brand):
    doc = raw_doc(brand)
    indices = [d["index"] for d in doc["registers"]]
    assert all(isinstance(i, str) and INDEX.match(i) for i in indices), indices
    assert len(indices) == len(set(indices))


@pytest.mark.parametrize("brand", BRANDS)
def test_exactly_the_reference_registers(brand):
    p = load_provider(brand)
    assert {i: r.name for i, r in p.registers.items()} == EXPECTED[brand]


@pytest.mark.parametrize(
    ("brand", "index", "name"),
    [(b, i, n) for b in BRANDS for i, n in sorted(EXPECTED[b].items())],
)
def test_reference_name_exists(brand, index, name):
    p = load_provider(brand)
    reg = p.by_name(name)
    assert reg is not None, f"{brand}: {name} missing"
    assert reg.index == index
    assert p.register(index.lower()) is reg


@pytest.mark.parametrize("brand", BRANDS)
def test_writable_flags(brand):
    p = load_provider(brand)
    assert {i for i, r in p.registers.items() if r.writable} == EXPECTED_WRITABLE[brand]


@pytest.mark.parametrize("brand", BRANDS)
def test_temperatures_are_signed_tenths(brand):
    p = load_provider(brand)
    temps = [r for i, r in p.registers.items() if i[0] == "0"]
    assert temps
    for r in temps:
        assert (r.kind, r.unit, r.factor, r.signed) == ("temperature", "°C", 10, True), r.index


@pytest.mark.parametrize(
    ("brand", "name"),
    [
        ("ivt", "indoor_temp"), ("ivt", "hot_water_mid"), ("ivt", "radiator_forward"),
        ("nibe", "indoor_temp"), ("nibe", "hot_water_mid"), ("nibe", "pool"),
        ("nibe", "indoor_2"), ("nibe", "radiator_forward_2"), ("nibe", "heat_carrier_return_2"),
        ("nibe", "air_intake"), ("nibe", "air_outlet"),
        ("thermia", "indoor_temp"), ("thermia", "cooling_temp"),
    ],
)
def test_optional_sensors_marked_absent(brand, name):
    assert load_provider(brand).by_name(name).absent_at_or_below == -48.0


@pytest.mark.parametrize("brand", BRANDS)
def test_sensors_that_must_always_report_are_not_optional(brand):
    p = load_provider(brand)
    for name in ("outdoor_temp", "hot_water_top", "heating_setpoint", "room_temp_setpoint"):
        assert p.by_name(name).absent_at_or_below is None, name


@pytest.mark.parametrize(
    ("brand", "name", "kind", "unit", "factor", "signed", "lo", "hi"),
    [
        ("ivt", "compressor", "status", "", 1, False, 0.0, 1.0),
        ("ivt", "alarm", "status", "", 1, False, 0.0, None),
        ("thermia", "alarm", "status", "", 1, False, 0.0, None),
        ("ivt", "additional_heat", "percent", "%", 1, False, 0.0, 100.0),
        ("ivt", "compressor_hours_heating", "hours", "h", 1, False, 0.0, None),
        ("ivt", "alarm_code", "alarm", "", 1, False, None, None),
        ("nibe", "alarm_code", "alarm", "", 1, False, None, None),
        ("thermia", "alarm_code", "alarm", "", 1, False, None, None),
        ("nibe", "degree_minutes", "degree_minutes", "°Cmin", 1, True, None, None),
        ("nibe", "degree_minutes_integral", "degree_minutes", "°Cmin", 1, True, None, None),
        ("thermia", "degree_minutes", "degree_minutes", "°Cmin", 1, True, None, None),
        ("nibe", "add_heat_kw", "power", "kW", 10, False, 0.0, 100.0),
        ("nibe", "max_add_heat_kw", "power", "kW", 10, False, 0.0, 100.0),
        ("nibe", "compressor_speed", "number", "Hz", 10, False, 0.0, 200.0),
        ("nibe", "load_l1", "current", "A", 10, False, 0.0, 100.0),
        ("nibe", "energy_total_kwh", "energy", "kWh", 1, False, 0.0, None),
        ("nibe", "operating_mode", "setting", "", 1, False, None, None),
        ("nibe", "hot_water_program", "setting", "", 1, False, None, None),
        ("nibe", "heat_curve_offset", "setting", "", 10, True, -50.0, 50.0),
        ("thermia", "power_w", "power", "W", 1, False, 0.0, 50000.0),
        ("thermia", "energy_kwh", "energy", "kWh", 1, False, 0.0, None),
        ("thermia", "brine_pump_speed", "percent", "%", 1, False, 0.0, 100.0),
        ("thermia", "operating_mode", "setting", "", 1, False, None, None),
    ],
)
def test_register_properties(brand, name, kind, unit, factor, signed, lo, hi):
    r = load_provider(brand).by_name(name)
    assert (r.kind, r.unit, r.factor, r.signed, r.min, r.max) == (
        kind, unit, factor, signed, lo, hi)


@pytest.mark.parametrize("brand", BRANDS)
def test_ranges_consistent(brand):
    for r in load_provider(brand).registers.values():
        if r.min is not None and r.max is not None:
            assert r.min < r.max, r.index
        if r.absent_at_or_below is not None:
            assert r.kind == "temperature", r.index
        assert r.factor > 0 and math.isfinite(r.factor)


@pytest.mark.parametrize("brand", BRANDS)
def test_mappings_are_real_texts(brand):
    """A bare off/on/yes/no in YAML becomes a bool; the loader would then show 'False'."""
    for d in raw_doc(brand)["registers"]:
        for k, v in (d.get("mapping") or {}).items():
            assert isinstance(k, int) and isinstance(v, str), (d["index"], k, v)


@pytest.mark.parametrize("brand", BRANDS)
def test_no_key_repeats_the_first_digit_default(brand):
    """Data lint: keys equal to the first-digit default are left out of the files."""
    positions = {"kind": 0, "unit": 1, "factor": 2, "signed": 3, "min": 4, "max": 5}
    redundant = []
    for d in raw_doc(brand)["registers"]:
        defaults = KIND_DEFAULTS[d["index"][0]]
        for key, pos in positions.items():
            if key in d and d[key] == defaults[pos] and type(d[key]) is type(defaults[pos]):
                redundant.append((d["index"], key))
        if d.get("writable") is False:
            redundant.append((d["index"], "writable"))
    assert redundant == []


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("6011abc", "thermia"),
        ("60", "thermia"),
        ("0012", "ivt"),
        ("00", "ivt"),
        ("40xx", "nibe"),
        (" 4012", "nibe"),
        ("10xx", None),     # IVT Rego 2000: no register sheet here
        ("30xx", None),     # IVT Rego 1000
        ("", None),
        ("6", None),
    ],
)
def test_brand_for_h1ver(code, expected):
    assert brand_for_h1ver(code) == expected


@pytest.mark.parametrize("brand", BRANDS)
def test_alarm_register(brand):
    p = load_provider(brand)
    assert p.alarm_register == EXPECTED_ALARM_REGISTER[brand]
    assert p.registers[p.alarm_register].name == "alarm_code"


@pytest.mark.parametrize(("brand", "count"), [("ivt", 23), ("thermia", 14), ("nibe", 0)])
def test_alarm_tables(brand, count):
    alarms = load_provider(brand).alarms
    assert len(alarms) == count
    assert all(isinstance(k, int) and k > 0 and isinstance(v, str) and v for k, v in alarms.items())


# ------------------------------------------------------------------ loader validation


def doc(*registers, **top):
    base = {"brand": "testbrand", "registers": list(registers)}
    base.update(top)
    return base


OUTDOOR = {"index": "0007", "name": "outdoor_temp"}
ALARM = {"index": "BA91", "name": "alarm_code"}


def test_minimal_doc_loads():
    p = provider_from_dict(doc(OUTDOOR, {"index": "ba91", "name": "alarm_code"},
                               alarm_register="ba91", h1ver_codes=["99"]))
    assert set(p.registers) == {"0007", "BA91"}
    assert p.alarm_register == "BA91"
    assert p.h1ver_codes == ("99",)
    assert p.title == "testbrand"
    r = p.registers["0007"]
    assert (r.kind, r.unit, r.factor, r.signed, r.min, r.max, r.writable) == (
        "temperature", "°C", 10, True, -50.0, 150.0, False)


@pytest.mark.parametrize(
    ("the_doc", "message"),
    [
        (doc(OUTDOOR, {"index": "0007", "name": "other"}), "listed twice"),
        (doc({"index": "1a01", "name": "a"}, {"index": "1A01", "name": "b"}), "listed twice"),
        (doc(OUTDOOR, {"index": "0009", "name": "outdoor_temp"}), "used twice"),
        (doc({"index": "XYZ1", "name": "x"}), "bad register index"),
        (doc({"index": "007", "name": "x"}), "bad register index"),
        (doc({"index": 7, "name": "x"}), "bad register index"),      # unquoted 0007 in YAML
        (doc({"name": "x"}), "bad register index"),
        (doc({"index": "0007", "name": "x", "scale": 10}), "unknown keys"),
        (doc({"index": "0007", "name": "x", "factor": 0}), "factor"),
        (doc({"index": "0007", "name": "x", "factor": -10}), "factor"),
        (doc({"index": "0007", "name": "x", "factor": "10"}), "factor"),
        (doc({"index": "0007", "name": "x", "factor": float("nan")}), "factor"),
        (doc({"index": "0007", "name": "x", "factor": float("inf")}), "factor"),
        (doc({"index": "0007", "name": "x", "factor": True}), "factor"),
        (doc({"index": "0007", "name": "OutdoorTemp"}), "snake_case"),
        (doc({"index": "0007", "name": "outdoor-temp"}), "snake_case"),
        (doc({"index": "0007", "name": "1st"}), "snake_case"),
        (doc({"index": "0007"}), "snake_case"),
        (doc(OUTDOOR, alarm_register="BA91"), "alarm_register"),
        (doc(OUTDOOR, ALARM, alarm_register="XYZ1"), "alarm_register"),
    ],
)
def test_provider_errors(the_doc, message):
    with pytest.raises(ProviderError) as excinfo:
        provider_from_dict(the_doc)
    assert message in str(excinfo.value)
