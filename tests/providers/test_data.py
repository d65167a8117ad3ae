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

from heatpump_monitor.providers import ProviderError, brand_for_h1ver, default_register, load_provider
from heatpump_monitor.providers.registry import provider_from_dict, type_table

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

# Registers of Husdata's sheets (C00 for IVT Rego 600/637, C40 for NIBE EB100) and of the
# upstream project's Thermia list, as in the reference; then what other controllers add.
REGO_600 = {
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
}
# IVT Rego 800/1000 (stampzilla-go, prankstr's exporter, openHAB): curve points, second circuit,
# pressostats, external block, Rego 1000 energy counters
REGO_800_1000 = {
    "000E": "air_intake", "0011": "pool", "0020": "radiator_forward_2", "0021": "indoor_2",
    "0120": "heating_setpoint_2", "0205": "heat_curve_left", "0206": "heat_curve_right",
    "0217": "outdoor_offset", "0219": "pool_setpoint", "0222": "heat_curve_left_2",
    "0223": "heat_curve_right_2", "1A08": "switch_valve_2", "1A09": "fan",
    "1A0A": "high_pressostat", "1A0B": "low_pressostat", "1A0C": "heating_cable",
    "1A0D": "crankcase_heater", "1A21": "radiator_pump_2", "2233": "external_block",
    "2234": "external_block_2", "5C52": "supplied_energy_heating",
    "5C53": "supplied_energy_hot_water", "5C55": "compressor_energy_heating",
    "5C56": "compressor_energy_hot_water", "5C58": "aux_energy_heating",
    "5C59": "aux_energy_hot_water", "6209": "extra_hot_water_hours",
}
EB100 = {
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
}
# NIBE Styr2002 (prankstr's exporter): add-heat steps, compressor starts, run times
STYR_2002 = {"1A02": "add_heat_step_1", "1A03": "add_heat_step_2", "BC61": "compressor_starts",
             "6C60": "compressor_hours", "6C63": "add_heat_hours", "6C64": "hot_water_hours"}
THERMIA = {
    **COMMON, **IVT_THERMIA_COMMON,
    "0012": "hot_gas", "0013": "cooling_temp", "2201": "operating_mode", "0205": "heat_curve",
    "0206": "heat_curve_max", "0208": "hot_water_stop_temp", "0211": "heating_stop_temp",
    "0212": "hot_water_start_temp", "0214": "cooling_setpoint", "0217": "outdoor_offset",
    "0233": "external_control_reduction", "8105": "degree_minutes",
    "3109": "circulation_pump_speed", "3110": "brine_pump_speed", "1A06": "radiator_pump",
    "2A91": "alarm_code", "6C60": "compressor_hours", "6C63": "aux_3kw_hours",
    "6C64": "hot_water_hours", "6C66": "aux_6kw_hours", "CFAA": "power_w",
    "5FAB": "energy_kwh",
}
# registers of the gateway itself (S0 meter inputs; CFAA power it calculates)
GATEWAY = {"AFF1": "meter_1_pulses", "AFF2": "meter_2_pulses", "CFAA": "power_w"}

EXPECTED = {
    "ivt": {**REGO_600, **REGO_800_1000, **GATEWAY},
    "nibe": {**EB100, **STYR_2002, **GATEWAY},
    "thermia": {**THERMIA, **GATEWAY},
}

# rw marks in the register sheets (Thermia: the common 0203/2204, plus operating_mode)
EXPECTED_WRITABLE = {
    "ivt": {"0203", "2204", "0208", "020A", "020B", "2205", "0207", "7209", "2210", "1215",
            "1233", "12F2", "6209"},
    "nibe": {"0203", "2204", "2201", "2205", "2207", "2213", "2218", "0220", "2222", "2224",
             "8255", "22F2", "02F1", "9226"},
    "thermia": {"0203", "2204", "2201"},
}

EXPECTED_ALARM_REGISTER = {"ivt": "BA91", "nibe": "2A20", "thermia": "2A91"}
EXPECTED_H1VER = {"ivt": ("00", "10", "30"), "nibe": ("40",), "thermia": ("60",)}
EXPECTED_COUNT = {"ivt": 69, "nibe": 59, "thermia": 39}


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
        assert (r.kind, r.unit, r.factor, r.size, r.signed) == ("temperature", "°C", 10, "s16", True), r.index


# ------------------------------------------------------------------ Husdata's H1 type table

# The table as the reference gives it (by hand), with the choices the data file makes where
# sources disagree (9xxx kW: tenths, Homey; B and C are not in the H1 table).
H1_TABLE = {
    "0": ("temperature", "°C", 10, "s16", -50.0, 150.0),
    "1": ("status", "", 1, "u16", 0.0, 1.0),
    "2": ("setting", "", 10, "s16", None, None),
    "3": ("percent", "%", 10, "u16", 0.0, 100.0),
    "4": ("current", "A", 10, "u16", 0.0, 100.0),
    "5": ("energy", "kWh", 10, "u32", 0.0, None),
    "6": ("hours", "h", 1, "u32", 0.0, None),
    "7": ("minutes", "min", 1, "u16", 0.0, None),
    "8": ("degree_minutes", "°Cmin", 1, "s16", None, None),
    "9": ("power", "kW", 10, "u16", 0.0, 100.0),
    "A": ("pulses", "", 1, "u32", 0.0, None),
    "B": ("alarm", "", 1, "u16", None, None),
    "C": ("power", "W", 1, "u16", 0.0, 50000.0),
}


@pytest.mark.parametrize(("digit", "expected"), sorted(H1_TABLE.items()))
def test_type_table_defaults(digit, expected):
    r = default_register(f"{digit}FFF")
    assert (r.kind, r.unit, r.factor, r.size, r.min, r.max) == expected
    assert r.name == f"reg_{digit}FFF"
    assert r.factor_source == "h1"


def test_type_table_fallback_for_digits_without_a_kind():
    r = default_register("EEEE")
    assert (r.kind, r.unit, r.factor, r.size, r.min, r.max) == ("number", "", 1, "u16", None, None)


def test_type_table_entries_say_where_disputed_factors_come_from():
    kinds = type_table().kinds
    assert kinds["9"]["source"] == "homey"  # the H1 manual says as is; Husdata's Homey app /10
    assert "disputed" in kinds["9"]["description"]
    assert all(kinds[d].get("source") for d in "BC")  # not in the H1 table
    doc = yaml.safe_load(resources.files("heatpump_monitor.providers").joinpath(
        "data", "h1-types.yaml").read_text("utf-8"))
    assert set(doc["types"]) == set(H1_TABLE)


# ------------------------------------------------------------------ where each factor comes from


@pytest.mark.parametrize("brand", BRANDS)
def test_every_register_names_its_source_and_factor_source(brand):
    p = load_provider(brand)
    for d in raw_doc(brand)["registers"]:
        assert "source" in d and "factor_source" in d, d["index"]
        reg = p.registers[d["index"]]
        assert reg.source and all(s in p.sources for s in reg.source), d["index"]
        assert reg.factor_source in p.sources, d["index"]
        if reg.factor_source == "h1":
            assert reg.factor == type_table().defaults(reg.index)["factor"], d["index"]


@pytest.mark.parametrize("brand", BRANDS)
def test_every_source_of_a_brand_file_is_cited(brand):
    doc = raw_doc(brand)
    used = {s for d in doc["registers"] for s in ([d["source"]] if isinstance(d["source"], str) else d["source"])}
    used |= {d["factor_source"] for d in doc["registers"]}
    assert set(doc.get("sources", {})) <= used
    assert all(len(text) > 40 for text in doc.get("sources", {}).values())  # a citation, not a word


@pytest.mark.parametrize(
    ("brand", "index", "factor", "factor_source"),
    [
        # factors that are not the type table's, each from a source that shows it
        ("ivt", "5C52", 100, "capture-stampzilla-316"),
        ("ivt", "5C53", 100, "capture-stampzilla-316"),
        ("ivt", "5C55", 1000, "capture-stampzilla-316"),
        ("ivt", "5C59", 1000, "capture-stampzilla-316"),
        ("ivt", "2233", 1, "mm"),
        ("ivt", "2234", 1, "sz"),
        ("nibe", "6C60", 10, "pr"),
        ("nibe", "BC61", 10, "pr"),
        ("thermia", "5FAB", 1, "upstream"),
        ("thermia", "2201", 10, "ep"),
        ("thermia", "2A91", 1, "upstream"),
        ("nibe", "2A20", 1, "homey"),
    ],
)
def test_factors_from_sources_other_than_the_type_table(brand, index, factor, factor_source):
    r = load_provider(brand).registers[index]
    assert (r.factor, r.factor_source) == (factor, factor_source)


@pytest.mark.parametrize(
    ("brand", "name"),
    [
        ("ivt", "indoor_temp"), ("ivt", "hot_water_mid"), ("ivt", "radiator_forward"),
        ("ivt", "hot_water_top"), ("ivt", "radiator_return"), ("ivt", "pool"),
        ("ivt", "radiator_forward_2"), ("ivt", "indoor_2"), ("ivt", "air_intake"),
        ("thermia", "indoor_temp"), ("thermia", "cooling_temp"), ("thermia", "radiator_forward"),
    ],
)
def test_ivt_style_optional_sensors_absent_at_about_minus_48(brand, name):
    reg = load_provider(brand).by_name(name)
    assert reg.absent_at_or_below == -48.0
    assert reg.absent_raw in ((), (-8531,))  # 0xDEAD on IVT's indoor sensor


def test_nibe_temperature_sensors_absent_at_32758():
    p = load_provider("nibe")
    sensors = [r for r in p.registers.values() if r.index < "0100"]
    assert len(sensors) == 18
    for r in sensors:
        assert (r.absent_raw, r.absent_at_or_below) == ((32758,), None), r.index


@pytest.mark.parametrize("brand", BRANDS)
def test_outdoor_and_setpoints_are_never_taken_for_an_absent_sensor(brand):
    p = load_provider(brand)
    for name in ("outdoor_temp", "heating_setpoint", "room_temp_setpoint"):
        assert p.by_name(name).absent_at_or_below is None, name
    for r in p.registers.values():
        if r.index[:2] in ("01", "02"):  # setpoints and settings, not sensors
            assert r.absent_at_or_below is None and not r.absent_raw, r.index


@pytest.mark.parametrize(
    ("brand", "name", "kind", "unit", "factor", "size", "lo", "hi"),
    [
        ("ivt", "compressor", "status", "", 1, "u16", 0.0, 1.0),
        ("ivt", "alarm", "status", "", 1, "u16", 0.0, None),
        ("thermia", "alarm", "status", "", 1, "u16", 0.0, None),
        ("ivt", "additional_heat", "percent", "%", 10, "u16", 0.0, 100.0),
        ("ivt", "compressor_hours_heating", "hours", "h", 1, "u32", 0.0, None),
        ("ivt", "compressor_hours_hot_water", "hours", "h", 1, "u32", 0.0, None),
        ("ivt", "alarm_code", "alarm", "", 1, "u16", None, None),
        ("ivt", "heat_curve_level", "setting", "", 10, "s16", 0.0, 100.0),
        ("ivt", "holiday_mode", "setting", "d", 10, "s16", 0.0, 30.0),
        ("ivt", "supplied_energy_heating", "energy", "kWh", 100, "u32", 0.0, None),
        ("ivt", "compressor_energy_heating", "energy", "kWh", 1000, "u32", 0.0, None),
        ("ivt", "external_block", "setting", "", 1, "s16", 0.0, 1.0),
        ("ivt", "meter_1_pulses", "pulses", "", 1, "u32", 0.0, None),
        ("ivt", "radiator_forward_2", "temperature", "°C", 10, "s16", -60.0, 150.0),
        ("nibe", "alarm_code", "alarm", "", 1, "u16", None, None),
        ("thermia", "alarm_code", "alarm", "", 1, "u16", None, None),
        ("nibe", "degree_minutes", "degree_minutes", "°Cmin", 1, "s16", None, None),
        ("nibe", "degree_minutes_integral", "degree_minutes", "°Cmin", 1, "s16", None, None),
        ("thermia", "degree_minutes", "degree_minutes", "°Cmin", 1, "s16", None, None),
        ("nibe", "add_heat_kw", "power", "kW", 10, "u16", 0.0, 100.0),
        ("nibe", "max_add_heat_kw", "power", "kW", 10, "u16", 0.0, 100.0),
        ("nibe", "compressor_speed", "percent", "%", 10, "u16", 0.0, 100.0),
        ("nibe", "load_l1", "current", "A", 10, "u16", 0.0, 100.0),
        ("nibe", "energy_total_kwh", "energy", "kWh", 10, "u32", 0.0, None),
        ("nibe", "operating_mode", "setting", "", 10, "s16", None, None),
        ("nibe", "hot_water_program", "setting", "", 10, "s16", None, None),
        ("nibe", "heat_curve_offset", "setting", "", 10, "s16", -50.0, 50.0),
        ("nibe", "compressor_starts", "counter", "", 10, "u32", 0.0, None),
        ("nibe", "compressor_hours", "hours", "h", 10, "u32", 0.0, None),
        ("thermia", "power_w", "power", "W", 1, "u16", 0.0, 50000.0),
        ("thermia", "energy_kwh", "energy", "kWh", 1, "u32", 0.0, None),
        ("thermia", "brine_pump_speed", "percent", "%", 10, "u16", 0.0, 100.0),
        ("thermia", "operating_mode", "setting", "", 10, "s16", None, None),
        ("thermia", "room_sensor_influence", "setting", "", 10, "s16", 0.0, 100.0),
    ],
)
def test_register_properties(brand, name, kind, unit, factor, size, lo, hi):
    r = load_provider(brand).by_name(name)
    assert (r.kind, r.unit, r.factor, r.size, r.min, r.max) == (kind, unit, factor, size, lo, hi)


@pytest.mark.parametrize("brand", BRANDS)
def test_ranges_consistent(brand):
    for r in load_provider(brand).registers.values():
        if r.min is not None and r.max is not None:
            assert r.min < r.max, r.index
        if r.absent_at_or_below is not None:
            assert r.kind == "temperature", r.index
            assert r.min is not None and r.min < r.absent_at_or_below, r.index
        assert r.factor > 0 and math.isfinite(r.factor)
        assert r.size in ("s16", "u16", "u32")
        if r.kind in ("energy", "hours", "pulses", "counter"):
            assert r.size == "u32", r.index  # counters pass 65535 on current firmware


@pytest.mark.parametrize("brand", BRANDS)
def test_mappings_are_real_texts(brand):
    """A bare off/on/yes/no in YAML becomes a bool; the loader would then show 'False'."""
    for d in raw_doc(brand)["registers"]:
        for k, v in (d.get("mapping") or {}).items():
            assert isinstance(k, int) and isinstance(v, str), (d["index"], k, v)


@pytest.mark.parametrize("brand", BRANDS)
def test_no_key_repeats_the_type_table_default(brand):
    """Data lint: keys equal to the first-digit default are left out of the files."""
    redundant = []
    for d in raw_doc(brand)["registers"]:
        defaults = type_table().defaults(d["index"])
        for key in ("kind", "unit", "factor", "size", "min", "max"):
            if key in d and key in defaults and d[key] == defaults[key] and type(d[key]) is type(defaults[key]):
                redundant.append((d["index"], key))
        if d.get("writable") is False:
            redundant.append((d["index"], "writable"))
    # a factor stated together with the source that shows it is not redundant
    assert [r for r in redundant if r[1] != "factor"] == []


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("6011abc", "thermia"),
        ("60", "thermia"),
        ("0012", "ivt"),
        ("00", "ivt"),
        ("40xx", "nibe"),
        (" 4012", "nibe"),
        ("10xx", "ivt"),    # IVT Rego 2000: Husdata's Homey app reads the same registers
        ("30xx", "ivt"),    # IVT Rego 1000
        ("20xx", None),
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


def line(index, name, **kw):
    return {"index": index, "name": name, "source": "h1", "factor_source": "h1", **kw}


OUTDOOR = line("0007", "outdoor_temp")
ALARM = line("BA91", "alarm_code")


def test_minimal_doc_loads():
    p = provider_from_dict(doc(OUTDOOR, line("ba91", "alarm_code"), alarm_register="ba91", h1ver_codes=["99"]))
    assert set(p.registers) == {"0007", "BA91"}
    assert p.alarm_register == "BA91"
    assert p.h1ver_codes == ("99",)
    assert p.title == "testbrand"
    assert p.file == "testbrand.yaml"
    r = p.registers["0007"]
    assert (r.kind, r.unit, r.factor, r.size, r.min, r.max, r.writable) == (
        "temperature", "°C", 10, "s16", -50.0, 150.0, False)
    assert r.origin["factor"] == "h1-types.yaml" and r.origin["name"] == "testbrand.yaml"


def test_a_doc_may_cite_its_own_sources_and_absent_raw_takes_either_form():
    p = provider_from_dict(doc(line("0008", "indoor", absent_raw=[57005, 32758], source="sheet"),
                               line("5C52", "energy", factor=100, factor_source="sheet"),
                               sources={"sheet": "a register sheet"}))
    assert p.registers["0008"].absent_raw == (-8531, 32758)  # as signed_raw() gives them
    assert p.registers["5C52"].factor == 100
    assert p.registers["5C52"].origin["factor"] == "testbrand.yaml"
    assert p.sources["sheet"] == "a register sheet" and "h1" in p.sources


@pytest.mark.parametrize(
    ("the_doc", "message"),
    [
        (doc(OUTDOOR, line("0007", "other")), "listed twice"),
        (doc(line("1a01", "a"), line("1A01", "b")), "listed twice"),
        (doc(OUTDOOR, line("0009", "outdoor_temp")), "used twice"),
        (doc(line("XYZ1", "x")), "bad register index"),
        (doc(line("007", "x")), "bad register index"),
        (doc(line(7, "x")), "bad register index"),      # unquoted 0007 in YAML
        (doc({"name": "x"}), "bad register index"),
        (doc(line("0007", "x", scale=10)), "unknown keys"),
        (doc(line("0007", "x", factor=0, factor_source="upstream")), "factor"),
        (doc(line("0007", "x", factor=-10, factor_source="upstream")), "factor"),
        (doc(line("0007", "x", factor="10")), "factor"),
        (doc(line("0007", "x", factor=float("nan"))), "factor"),
        (doc(line("0007", "x", factor=float("inf"))), "factor"),
        (doc(line("0007", "x", factor=True)), "factor"),
        (doc(line("0007", "x", factor=1)), "not the H1 type table's 10"),
        (doc(line("0007", "x", size="s32")), "size must be one of s16, u16, u32"),
        (doc(line("0007", "x", absent_raw="32758")), "absent_raw"),
        (doc(line("0007", "x", absent_raw=[1.5])), "absent_raw"),
        (doc(line("0007", "x", min=10.0, max=5.0)), "min 10 must be below max 5"),
        (doc(line("0007", "x", min="low")), "min must be a number"),
        (doc(line("0007", "x", max=float("inf"))), "max must be a number"),
        (doc(line("1A07", "x", mapping={"0": "off"})), "mapping"),
        (doc(line("1A07", "x", mapping={0: False})), "mapping"),
        (doc(line("1A07", "x", writable="yes")), "writable"),
        (doc(line("1A07", "x", unit=5)), "unit must be text"),
        (doc(line("0007", "OutdoorTemp")), "snake_case"),
        (doc(line("0007", "outdoor-temp")), "snake_case"),
        (doc(line("0007", "1st")), "snake_case"),
        (doc({"index": "0007", "source": "h1", "factor_source": "h1"}), "snake_case"),
        (doc({"index": "0007", "name": "x", "factor_source": "h1"}), "source missing"),
        (doc({"index": "0007", "name": "x", "source": "h1"}), "factor_source missing"),
        (doc(line("0007", "x", source="nowhere")), "source 'nowhere' is not in the sources table"),
        (doc(line("0007", "x", source=[])), "source must name"),
        (doc(line("0007", "x", factor_source="nowhere")), "source 'nowhere'"),
        (doc(OUTDOOR, alarm_register="BA91"), "alarm_register"),
        (doc(OUTDOOR, ALARM, alarm_register="XYZ1"), "alarm_register"),
    ],
)
def test_provider_errors(the_doc, message):
    with pytest.raises(ProviderError) as excinfo:
        provider_from_dict(the_doc)
    assert message in str(excinfo.value)


# ------------------------------------------------------------------ the loader, exactly


def test_exact_error_lines_name_brand_and_index():
    cases = [
        (doc(line(7, "x")), "testbrand: bad register index 7 (four hex digits, quoted)"),
        (doc(line("0007", "x", source=[5])), "testbrand 0007: source must name a source or a list of them, got [5]"),
        (doc(line("0007", "x", min=5.0, max=5.0)), "testbrand 0007: min 5 must be below max 5"),
        (doc(line("0007", "x", factor=float("inf"), factor_source="upstream")),
         "testbrand 0007: factor must be a positive number, got inf"),
        (doc(line("0007", "x", factor=5)), "testbrand 0007: factor 5 is not the H1 type table's 10; name the "
                                           "source that gives it"),
        (doc({"index": "0007", "source": "h1", "factor_source": "h1"}), "testbrand 0007: name must be snake_case, got None"),
        (doc(line("0007", "x", colour="red")), "testbrand 0007: unknown keys ['colour'] (accepted: absent_at_or_below, "
                                               "absent_raw, description, factor, factor_source, kind, mapping, max, min, "
                                               "name, size, source, unit, writable)"),
        (doc(OUTDOOR, ALARM, alarm_register="ba92"), "testbrand: alarm_register ba92 not defined"),
    ]
    for the_doc, message in cases:
        with pytest.raises(ProviderError) as excinfo:
            provider_from_dict(the_doc)
        assert str(excinfo.value) == message


def test_origin_says_which_file_set_each_field():
    r = provider_from_dict(doc(line("0008", "indoor", unit="K", absent_at_or_below=-48.0))).registers["0008"]
    assert r.origin == {"kind": "h1-types.yaml", "unit": "testbrand.yaml", "factor": "h1-types.yaml",
                        "size": "h1-types.yaml", "min": "h1-types.yaml", "max": "h1-types.yaml",
                        "name": "testbrand.yaml", "absent_at_or_below": "testbrand.yaml",
                        "source": "testbrand.yaml", "factor_source": "testbrand.yaml"}
    assert default_register("0015").origin == dict.fromkeys(("kind", "unit", "factor", "size", "min", "max"),
                                                            "h1-types.yaml")


def test_doc_defaults_title_notes_and_no_registers():
    p = provider_from_dict({"brand": "empty"})
    assert (p.title, p.notes, dict(p.registers), p.h1ver_codes, p.alarm_register) == ("empty", "", {}, (), None)
    p = provider_from_dict({"brand": "b", "title": "A Title", "notes": "n"}, "b-file.yaml")
    assert (p.title, p.notes, p.file) == ("A Title", "n", "b-file.yaml")


def test_absent_raw_forms_bounds_and_counters():
    p = provider_from_dict(doc(
        line("0008", "a", absent_raw=[-32768, 65535, 57005, -32769, 65536, 32767, 32768]),
        line("1A01", "b", absent_raw=40000),          # an unsigned register keeps the pattern
        line("6C60", "c", absent_raw=[70000, 4000000000]),  # a counter: taken as they are
        line("0009", "d", absent_raw=None)))
    # as signed_raw() reads them; outside the 16-bit domain: dropped
    assert p.registers["0008"].absent_raw == (-32768, -1, -8531, 32767, -32768)
    assert p.registers["1A01"].absent_raw == (40000,)
    assert p.registers["6C60"].absent_raw == (70000, 4000000000)
    assert p.registers["0009"].absent_raw == ()
    assert p.decode_poll({"6C60": 70000, "1A01": -25536}).absent == ["c", "b"]


@pytest.mark.parametrize(("index", "expected"), [
    ("0007", "0007"), ("1a0f", "1A0F"), ("FFFF", "FFFF"), ("XXXX", None), ("0G00", None),
    ("007", None), ("00007", None), ("", None), (7, None), (None, None),
])
def test_normalize_index(index, expected):
    from heatpump_monitor.providers import normalize_index

    assert normalize_index(index) == expected


@pytest.mark.parametrize(("digit", "entry"), [
    ("G", {"kind": "x", "factor": 1, "size": "u16"}),          # not a hex digit
    ("X", {"kind": "x", "factor": 1, "size": "u16"}),
    ("10", {"kind": "x", "factor": 1, "size": "u16"}),         # two characters
    ("0", {"kind": "x", "factor": 1, "size": "u16", "colour": "red"}),  # an unknown key
    ("0", {"kind": "x", "size": "u16"}),                        # no factor
    ("fallback", {"factor": 1, "size": "u16"}),                 # no kind
])
def test_type_table_entries_are_checked(digit, entry):
    from heatpump_monitor.providers.registry import _type_entry

    with pytest.raises(ProviderError) as excinfo:
        _type_entry(digit, entry)
    assert str(excinfo.value) == f"h1-types.yaml: bad entry {digit!r}"


def test_type_table_entries_that_pass():
    from heatpump_monitor.providers.registry import _type_entry

    assert _type_entry("a", {"kind": "pulses", "factor": 1, "size": "u32", "source": "h1"}) == "A"
    assert _type_entry("fallback", {"kind": "number", "factor": 1, "size": "u16"}) == "FALLBACK"
