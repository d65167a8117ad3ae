"""Table-driven tests of the decoding rule (`decode_value`, `scaled_value`) and of
`Provider.decode_poll`, against both number forms real gateways send.

Every expected value is worked out by hand: raw integer -> the register's own number (a 16-bit
value is reduced to its bit pattern, so -26 and 65510 are one number; signed registers read
patterns above 32767 as negative; 32-bit counters are taken whole) -> divided by the factor.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heatpump_monitor.providers import BadValue, Register, decode_value, load_provider
from heatpump_monitor.providers.registry import provider_from_dict, scaled_value, signed_raw

CAPTURES = Path(__file__).parent / "captures"

# ------------------------------------------------------------------ registers built directly

TEMP = Register(index="0007", name="outdoor_temp", kind="temperature", unit="°C", factor=10,
                size="s16", min=-50.0, max=150.0)
TEMP_OPEN = Register(index="0007", name="outdoor_temp", kind="temperature", unit="°C", factor=10,
                     size="s16", min=None, max=None)
INDOOR = Register(index="0008", name="indoor_temp", kind="temperature", unit="°C", factor=10,
                  size="s16", min=-50.0, max=150.0, absent_at_or_below=-48.0)
NIBE_SENSOR = Register(index="0011", name="pool", kind="temperature", unit="°C", factor=10,
                       size="s16", min=-50.0, max=150.0, absent_raw=(32758,))
STATUS = Register(index="1A01", name="compressor", kind="status", factor=1, min=0.0, max=1.0)
MODE = Register(index="2201", name="operating_mode", kind="setting", factor=10, size="s16",
                mapping={0: "off", 1: "auto", 2: "normal", 3: "add-heat only", 4: "hot water only"})
OFFSET = Register(index="2207", name="heat_curve_offset", kind="setting", factor=10, size="s16",
                  min=-50.0, max=50.0)
PERCENT = Register(index="3104", name="additional_heat", kind="percent", unit="%", factor=10,
                   min=0.0, max=100.0)
CURRENT = Register(index="4101", name="load_l1", kind="current", unit="A", factor=10,
                   min=0.0, max=100.0)
ENERGY = Register(index="5C51", name="energy_total_kwh", kind="energy", unit="kWh", factor=10,
                  size="u32", min=0.0, max=None)
ENERGY_100 = Register(index="5C52", name="supplied_energy_heating", kind="energy", unit="kWh",
                      factor=100, size="u32", min=0.0)
HOURS = Register(index="6C56", name="compressor_hours_hot_water", kind="hours", unit="h", factor=1,
                 size="u32", min=0.0, max=None)
MINUTES = Register(index="7209", name="extra_hot_water_minutes", kind="minutes", unit="min",
                   factor=1, min=0.0, max=None)
DM = Register(index="8105", name="degree_minutes", kind="degree_minutes", unit="°Cmin", factor=1,
              size="s16", min=None, max=None)
KW = Register(index="9124", name="add_heat_kw", kind="power", unit="kW", factor=10,
              min=0.0, max=100.0)
ALARM = Register(index="BA91", name="alarm_code", kind="alarm", factor=1)
WATT = Register(index="CFAA", name="power_w", kind="power", unit="W", factor=1, min=0.0, max=None)


@pytest.mark.parametrize(
    ("reg", "raw", "expected"),
    [
        # temperature: tenths, signed; each negative in both forms
        (TEMP, 0, 0.0),
        (TEMP, 1, 0.1),
        (TEMP, 275, 27.5),
        (TEMP, -26, -2.6),            # current firmware: a signed JSON integer
        (TEMP, 65510, -2.6),          # older firmware: 65510 - 65536 = -26
        (TEMP, -7, -0.7),
        (TEMP, 65529, -0.7),
        (TEMP, -53, -5.3),
        (TEMP, 65483, -5.3),
        (TEMP, -1, -0.1),
        (TEMP, 65535, -0.1),
        (TEMP, -500, -50.0),          # lower bound is inclusive, both forms
        (TEMP, 65036, -50.0),
        (TEMP, 1500, 150.0),          # upper bound is inclusive
        (TEMP_OPEN, 32767, 3276.7),   # largest positive signed value
        (TEMP_OPEN, 32768, -3276.8),  # smallest negative signed value, both forms
        (TEMP_OPEN, -32768, -3276.8),
        (INDOOR, 215, 21.5),
        (INDOOR, -479, -47.9),        # just above the "no sensor" threshold, both forms
        (INDOOR, 65057, -47.9),
        # status
        (STATUS, 0, 0.0),
        (STATUS, 1, 1.0),
        # settings: tenths, signed
        (MODE, 10, 1.0),
        (MODE, 40, 4.0),
        (MODE, 0, 0.0),
        (OFFSET, 35, 3.5),
        (OFFSET, -20, -2.0),
        (OFFSET, 65516, -2.0),
        # percent, tenths
        (PERCENT, 0, 0.0),
        (PERCENT, 455, 45.5),
        (PERCENT, 1000, 100.0),
        # ampere, tenths
        (CURRENT, 163, 16.3),
        (CURRENT, 1000, 100.0),
        # 32-bit counters: whole, above 65535
        (ENERGY, 123456, 12345.6),
        (ENERGY, 65535, 6553.5),
        (ENERGY_100, 844329, 8443.29),   # stampzilla-go model_test.go, Rego 1000
        (HOURS, 107260, 107260.0),       # the Rego 600 capture (current firmware)
        (HOURS, 65535, 65535.0),
        (HOURS, 65536, 65536.0),
        (HOURS, 2**32 - 1, 4294967295.0),
        (MINUTES, 90, 90.0),
        # degree minutes: signed, as is
        (DM, 0, 0.0),
        (DM, 32767, 32767.0),
        (DM, 32768, -32768.0),
        (DM, -32768, -32768.0),
        (DM, -1000, -1000.0),
        (DM, 64536, -1000.0),
        (DM, 65535, -1.0),
        # kilowatt, tenths
        (KW, 90, 9.0),
        (KW, 1000, 100.0),
        # unsigned 16-bit registers: a negative JSON integer is the same bit pattern
        (ALARM, 15, 15.0),
        (ALARM, 65535, 65535.0),
        (ALARM, -1, 65535.0),
        (WATT, 3200, 3200.0),
        (WATT, 32768, 32768.0),
        (WATT, -32768, 32768.0),
    ],
)
def test_decode_value(reg, raw, expected):
    value = decode_value(reg, raw)
    assert isinstance(value, float)
    assert value == expected


def test_nibe_marker_is_exact_and_checked_before_the_range():
    assert decode_value(NIBE_SENSOR, 32758) is None            # 3275.8 C would be out of range
    assert decode_value(NIBE_SENSOR, 215) == 21.5
    with pytest.raises(BadValue, match="3275.7 °C outside plausible range"):
        decode_value(NIBE_SENSOR, 32757)


@pytest.mark.parametrize("reg", [TEMP, INDOOR, MODE, OFFSET, DM, STATUS, PERCENT, ALARM, WATT, KW])
@pytest.mark.parametrize("pattern", [0, 1, 7, 26, 483, 32767, 32768, 40000, 65535])
def test_both_number_forms_decode_alike_on_every_16_bit_register(reg, pattern):
    """Older firmware sends the unsigned pattern, current firmware the signed integer."""
    signed = pattern - 65536 if pattern > 32767 else pattern

    def outcome(raw):
        try:
            return ("value", decode_value(reg, raw))
        except BadValue as exc:
            return ("bad", str(exc).replace(str(raw), "RAW"))

    old, new = outcome(pattern), outcome(signed)
    assert old[0] == new[0]
    if old[0] == "value":
        assert old == new


@pytest.mark.parametrize(
    ("reg", "raw", "number"),
    [
        (TEMP, -26, -26), (TEMP, 65510, -26), (TEMP, 32768, -32768), (TEMP, 32767, 32767),
        (ALARM, -1, 65535), (ALARM, 65535, 65535), (ALARM, -32768, 32768),
        (HOURS, 107260, 107260), (HOURS, 0, 0),
    ],
)
def test_signed_raw(reg, raw, number):
    assert signed_raw(reg, raw) == number


@pytest.mark.parametrize(
    ("raw", "meaning"),
    [
        (-490, "-49.0: uninstalled sensor (C00), current firmware"),
        (65046, "-49.0, older firmware"),
        (-483, "-48.3: as the Rego 600 capture sends it"),
        (65053, "-48.3, older firmware"),
        (-480, "-48.0: the threshold itself counts as absent"),
        (-500, "-50.0"),
    ],
)
def test_absent_sensor_decodes_to_none(raw, meaning):
    assert decode_value(INDOOR, raw) is None, meaning


@pytest.mark.parametrize(
    ("reg", "raw", "fragments"),
    [
        (TEMP, 32768, ["-3276.8", "outside plausible range", "-50..150"]),
        (TEMP, -32768, ["-3276.8", "outside plausible range"]),
        (TEMP, 32767, ["3276.7", "outside plausible range"]),
        (TEMP, 1501, ["150.1", "outside plausible range"]),
        (TEMP, 65035, ["-50.1", "outside plausible range"]),
        (TEMP, -501, ["-50.1", "outside plausible range"]),
        (INDOOR, 1501, ["150.1", "outside plausible range"]),
        (INDOOR, -32768, ["-3276.8", "outside plausible range"]),  # garbage, not "no sensor"
        (STATUS, 2, ["2 outside plausible range 0..1"]),
        (STATUS, -1, ["65535 outside plausible range 0..1"]),
        (PERCENT, 1001, ["100.1 % outside plausible range 0..100"]),
        (CURRENT, 1001, ["100.1 A outside plausible range"]),
        (KW, 1001, ["100.1 kW outside plausible range"]),
        (OFFSET, 501, ["50.1", "outside plausible range -50..50"]),
        (OFFSET, 65035, ["-50.1", "outside plausible range"]),
        # the raw domain: 16-bit registers take -32768..65535, counters 0..2^32-1
        (TEMP, -32769, ["raw value -32769 outside -32768..65535 (16-bit register)"]),
        (TEMP, 65536, ["raw value 65536 outside -32768..65535 (16-bit register)"]),
        (TEMP, 107260, ["outside -32768..65535"]),   # a counter's value on a temperature
        (DM, -40000, ["outside -32768..65535"]),
        (ALARM, 70000, ["outside -32768..65535"]),
        (HOURS, -1, ["raw value -1 outside 0..4294967295 (32-bit counter)"]),
        (HOURS, 2**32, ["outside 0..4294967295"]),
        (HOURS, 10**12, ["outside 0..4294967295"]),
        (ENERGY, 2**64, ["outside 0..4294967295"]),
        (ENERGY, -26, ["outside 0..4294967295"]),
    ],
)
def test_decode_value_rejects(reg, raw, fragments):
    with pytest.raises(BadValue) as excinfo:
        decode_value(reg, raw)
    for fragment in fragments:
        assert fragment in str(excinfo.value)


# ------------------------------------------------------------------ values already scaled (MQTT)


@pytest.mark.parametrize(
    ("reg", "value", "expected"),
    [
        (TEMP, 54.0, 54.0), (TEMP, -2.6, -2.6), (TEMP, 23, 23.0), (TEMP, -50.0, -50.0),
        (INDOOR, -48.3, None), (INDOOR, 21.5, 21.5),
        (NIBE_SENSOR, 3275.8, None), (NIBE_SENSOR, 21.5, 21.5),
        (HOURS, 107260, 107260.0), (ENERGY_100, 8443.29, 8443.29), (MODE, 1.0, 1.0),
    ],
)
def test_scaled_value(reg, value, expected):
    assert scaled_value(reg, value) == expected


@pytest.mark.parametrize(
    ("reg", "value", "fragment"),
    [
        (TEMP, 540.0, "540 °C outside plausible range"),
        (TEMP, float("nan"), "not a number"),
        (TEMP, float("inf"), "not a number"),
        (NIBE_SENSOR, 3275.7, "outside plausible range"),
        (PERCENT, 100.5, "outside plausible range"),
    ],
)
def test_scaled_value_rejects(reg, value, fragment):
    with pytest.raises(BadValue, match=fragment):
        scaled_value(reg, value)


# ------------------------------------------------------------------ Register.text


@pytest.mark.parametrize(
    ("reg", "value", "expected"),
    [
        (MODE, 0.0, "off"),
        (MODE, 1.0, "auto"),
        (MODE, 3.0, "add-heat only"),
        (MODE, 4.0, "hot water only"),
        (MODE, 7.0, None),    # number without a text
        (MODE, 1.5, None),    # not a whole number
        (TEMP, 0.0, None),    # register without a mapping
    ],
)
def test_register_text(reg, value, expected):
    assert reg.text(value) == expected


# ------------------------------------------------------------------ decode_poll on a test provider

R = {"source": "h1", "factor_source": "h1"}
TEST_DOC = {
    "brand": "testbrand",
    "title": "Test",
    "h1ver_codes": ["99"],
    "alarm_register": "BA91",
    "alarms": {1: "sensor fault"},
    "registers": [
        {"index": "0007", "name": "outdoor_temp", **R},
        {"index": "0008", "name": "indoor_temp", "absent_at_or_below": -48.0, **R},
        {"index": "0009", "name": "hot_water_top", **R},
        {"index": "1A01", "name": "compressor", **R},
        {"index": "1a0A", "name": "high_pressostat", **R},
        {"index": "2201", "name": "operating_mode", "mapping": {0: "off", 1: "auto"}, **R},
        {"index": "6C60", "name": "compressor_hours", **R},
        {"index": "8105", "name": "degree_minutes", **R},
        {"index": "BA91", "name": "alarm_code", **R},
    ],
}

GOOD_POLL = {
    "0007": 65483,  # -5.3, older firmware
    "1a01": 1,      # lower-case index from the gateway
    "0008": -483,   # -48.3: no room sensor, current firmware
    "6c60": 107260,  # 32-bit counter
    "8105": -500,   # -500 degree minutes, current firmware
    "BA91": 0,
    "2201": 10,     # auto, in tenths
}
GOOD_VALUES = {
    "outdoor_temp": -5.3,
    "compressor": 1.0,
    "compressor_hours": 107260.0,
    "degree_minutes": -500.0,
    "alarm_code": 0.0,
    "operating_mode": 1.0,
}


@pytest.fixture(scope="module")
def provider():
    return provider_from_dict(TEST_DOC)


def test_decode_poll_good(provider):
    out = provider.decode_poll(GOOD_POLL)
    assert out.values == GOOD_VALUES
    assert out.absent == ["indoor_temp"]
    assert "indoor_temp" not in out.values
    assert out.unknown == []
    assert out.rejected == []


def test_decode_poll_takes_mixed_case_indices(provider):
    out = provider.decode_poll({"1A0a": 1, "1a0a": 0, "1A0A": 1})
    assert out.values == {"high_pressostat": 1.0}
    assert out.unknown == [] and out.rejected == []


def test_decode_poll_empty(provider):
    out = provider.decode_poll({})
    assert (out.values, out.absent, out.unknown, out.rejected) == ({}, [], [], [])


@pytest.mark.parametrize(
    ("bad", "cause"),
    [
        ("12", "not an integer (str)"),
        (27.5, "not an integer (float)"),
        (True, "not an integer (bool)"),
        (False, "not an integer (bool)"),
        (None, "not an integer (NoneType)"),
        ([1], "not an integer (list)"),
        (-32769, "raw value -32769 outside -32768..65535"),
        (65536, "raw value 65536 outside -32768..65535"),
        (2**64, "outside -32768..65535"),
        (10**30, "outside -32768..65535"),
        (32768, "-3276.8 °C outside plausible range"),
        (-32768, "-3276.8 °C outside plausible range"),
        (1501, "150.1 °C outside plausible range"),
    ],
)
def test_decode_poll_rejects_bad_value_keeps_rest(provider, bad, cause):
    poll = {"0009": bad, **GOOD_POLL}  # the bad value comes first: the rest still follows
    out = provider.decode_poll(poll)
    assert out.values == GOOD_VALUES            # the rest of the poll is kept
    assert out.absent == ["indoor_temp"]
    assert "hot_water_top" not in out.values
    assert len(out.rejected) == 1
    idx, raw, text = out.rejected[0]
    assert idx == "0009"
    assert raw is bad or (type(raw) is type(bad) and raw == bad)
    assert cause in text


def test_decode_poll_reports_every_bad_value(provider):
    out = provider.decode_poll({"0009": "x", "0007": 99999, "1A01": 2, "0008": 215})
    assert [r[0] for r in out.rejected] == ["0009", "0007", "1A01"]
    assert out.values == {"indoor_temp": 21.5}


def test_decode_poll_rejects_lower_case_index_with_upper_case_key(provider):
    out = provider.decode_poll({"1a01": 2})
    assert out.values == {}
    assert out.rejected == [("1A01", 2, "2 outside plausible range 0..1")]


@pytest.mark.parametrize("key", ["abc", "00071", "", "00 7", "XYZ1"])
def test_decode_poll_rejects_bad_index(provider, key):
    out = provider.decode_poll({key: 5, "0007": 275})
    assert out.values == {"outdoor_temp": 27.5}
    assert out.rejected == [(key, 5, "not a register index")]


def test_decode_poll_cuts_a_long_bad_key(provider):
    out = provider.decode_poll({"x" * 100: 5})
    assert out.rejected == [("x" * 40, 5, "not a register index")]


def test_unknown_registers_are_not_stored_by_default(provider):
    out = provider.decode_poll({"0007": 275, "0015": 215, "c0de": 7})
    assert out.unknown == ["0015", "C0DE"]
    assert out.values == {"outdoor_temp": 27.5}
    assert out.rejected == []


def test_unknown_registers_stored_decoded_by_their_type_when_asked(provider):
    out = provider.decode_poll({"0007": 275, "0015": -26, "3ABC": 455, "6c99": 107260, "EEEE": 7},
                               store_unknown=True)
    assert out.unknown == ["0015", "3ABC", "6C99", "EEEE"]
    assert out.values == {"outdoor_temp": 27.5, "reg_0015": -2.6, "reg_3ABC": 45.5,
                          "reg_6C99": 107260.0, "reg_EEEE": 7.0}
    assert out.rejected == []


def test_unknown_register_bad_raw_rejected_when_stored(provider):
    out = provider.decode_poll({"0015": 70000, "3ABC": 2000, "1BCD": "x", "0007": 275}, store_unknown=True)
    assert out.unknown == ["0015", "3ABC", "1BCD"]
    assert out.values == {"outdoor_temp": 27.5}
    assert out.rejected == [("0015", 70000, "raw value 70000 outside -32768..65535 (16-bit register)"),
                            ("3ABC", 2000, "200 % outside plausible range 0..100"),
                            ("1BCD", "x", "not an integer (str)")]


def test_decode_poll_scaled_takes_numbers_in_real_units(provider):
    out = provider.decode_poll({"0007": -2.6, "0009": 54, "0008": -48.3, "1A01": 1.0, "6C60": 107260},
                               scaled=True)
    assert out.values == {"outdoor_temp": -2.6, "hot_water_top": 54.0, "compressor": 1.0,
                          "compressor_hours": 107260.0}
    assert out.absent == ["indoor_temp"]
    out = provider.decode_poll({"0007": 540.0, "0009": "54.0", "1A01": True}, scaled=True)
    assert [r[0] for r in out.rejected] == ["0007", "0009", "1A01"]
    assert out.values == {}


def test_a_float_is_not_a_raw_value(provider):
    out = provider.decode_poll({"0007": 54.0})
    assert out.rejected == [("0007", 54.0, "not an integer (float)")]


def test_alarm_text_test_provider(provider):
    assert provider.alarm_text(1) == "sensor fault"
    assert provider.alarm_text(2) == "alarm 2"
    assert provider.alarm_text(0) == "no alarm"


def test_by_name_and_register(provider):
    assert provider.by_name("compressor").index == "1A01"
    assert provider.by_name("nope") is None
    assert provider.register("1a0a").name == "high_pressostat"
    assert provider.register("zzzz") is None


# ------------------------------------------------------------------ the real brand data

BRANDS = ["thermia", "ivt", "nibe"]
# registers every brand has, in both number forms: (index, current raw, old raw, name, value)
COMMON_FORMS = [
    ("0007", -53, 65483, "outdoor_temp", -5.3),
    ("0007", -26, 65510, "outdoor_temp", -2.6),
    ("0007", 12, 12, "outdoor_temp", 1.2),
    ("0009", 512, 512, "hot_water_top", 51.2),
    ("0005", -31, 65505, "brine_in_evaporator", -3.1),
    ("0006", -62, 65474, "brine_out_condenser", -6.2),
    ("0203", 215, 215, "room_temp_setpoint", 21.5),
    ("1A01", 1, 1, "compressor", 1.0),
    ("1A07", 1, 1, "switch_valve", 1.0),
    ("2204", 30, 30, "room_sensor_influence", 3.0),
    ("3104", 455, 455, "additional_heat", 45.5),
    ("CFAA", 3200, 3200, "power_w", 3200.0),
    ("AFF1", 123456, 123456 & 0xFFFF, "meter_1_pulses", None),  # 16-bit on old firmware
]


@pytest.mark.parametrize("brand", BRANDS)
@pytest.mark.parametrize(("index", "current", "old", "name", "value"), COMMON_FORMS)
def test_every_brand_decodes_both_number_forms(brand, index, current, old, name, value):
    p = load_provider(brand)
    new_out, old_out = p.decode_poll({index: current}), p.decode_poll({index: old})
    assert new_out.rejected == [] and old_out.rejected == []
    if value is None:  # a counter: whole on current firmware, wrapped to 16 bits on old
        assert new_out.values == {name: float(current)} and old_out.values == {name: float(old)}
    else:
        assert new_out.values == old_out.values == {name: value}


@pytest.mark.parametrize(
    ("brand", "index", "current", "old"),
    [
        ("ivt", "0008", -483, 65053), ("ivt", "0002", -490, 65046), ("ivt", "0020", -521, 65015),
        ("ivt", "0008", 57005, 57005),          # 0xDEAD on a Rego 1000 without room sensor
        ("nibe", "0008", 32758, 32758), ("nibe", "0011", 32758, 32758),
        ("nibe", "0007", 32758, 32758),
        ("thermia", "0008", -483, 65053), ("thermia", "0013", -490, 65046),
    ],
)
def test_every_brand_no_sensor_in_both_forms(brand, index, current, old):
    p = load_provider(brand)
    name = p.registers[index].name
    for raw in (current, old):
        out = p.decode_poll({index: raw})
        assert (out.values, out.absent, out.rejected) == ({}, [name], []), raw


@pytest.mark.parametrize("brand", BRANDS)
def test_brand_temperature_garbage_rejected(brand):
    out = load_provider(brand).decode_poll({"0007": 32768, "0009": 32767})
    assert out.values == {}
    assert [r[0] for r in out.rejected] == ["0007", "0009"]
    assert "-3276.8" in out.rejected[0][2]
    assert "3276.7" in out.rejected[1][2]


@pytest.mark.parametrize(
    ("brand", "index", "raw", "name", "expected"),
    [
        ("ivt", "0001", 275, "radiator_return", 27.5),
        ("ivt", "0002", -483, "radiator_forward", None),            # no mixing valve sensor
        ("ivt", "000a", 65046, "hot_water_mid", None),
        ("ivt", "1A20", 3, "alarm", 3.0),                           # >1 is allowed
        ("ivt", "2204", 30, "room_sensor_influence", 3.0),
        ("ivt", "2205", 45, "heat_curve_level", 4.5),
        ("ivt", "2210", 140, "holiday_mode", 14.0),
        ("ivt", "2233", 1, "external_block", 1.0),
        ("ivt", "3104", 1000, "additional_heat", 100.0),
        ("ivt", "5C52", 844329, "supplied_energy_heating", 8443.29),   # stampzilla-go tests
        ("ivt", "5C53", 463482, "supplied_energy_hot_water", 4634.82),
        ("ivt", "5C55", 4758500, "compressor_energy_heating", 4758.5),
        ("ivt", "5C56", 2736630, "compressor_energy_hot_water", 2736.63),
        ("ivt", "5C58", 3608, "aux_energy_heating", 3.608),
        ("ivt", "5C59", 250314, "aux_energy_hot_water", 250.314),
        ("ivt", "6C56", 107260, "compressor_hours_hot_water", 107260.0),
        ("ivt", "6C55", 65535, "compressor_hours_heating", 65535.0),
        ("ivt", "7209", 120, "extra_hot_water_minutes", 120.0),
        ("ivt", "BA91", 15, "alarm_code", 15.0),
        ("ivt", "1A0A", 1, "high_pressostat", 1.0),
        ("ivt", "AFF2", 70000, "meter_2_pulses", 70000.0),
        ("nibe", "0002", 351, "radiator_forward", 35.1),
        ("nibe", "0011", 32758, "pool", None),
        ("nibe", "0021", 32758, "indoor_2", None),
        ("nibe", "2201", 20, "operating_mode", 2.0),
        ("nibe", "2207", -10, "heat_curve_offset", -1.0),
        ("nibe", "2207", 65526, "heat_curve_offset", -1.0),
        ("nibe", "2a20", 0, "alarm_code", 0.0),
        ("nibe", "2A20", 5, "alarm_code", 5.0),
        ("nibe", "4101", 163, "load_l1", 16.3),
        ("nibe", "5C51", 123456, "energy_total_kwh", 12345.6),
        ("nibe", "6C60", 123456, "compressor_hours", 12345.6),
        ("nibe", "BC61", 54320, "compressor_starts", 5432.0),
        ("nibe", "8105", -5000, "degree_minutes_integral", -5000.0),
        ("nibe", "8105", 60536, "degree_minutes_integral", -5000.0),
        ("nibe", "8255", 65336, "degree_minutes", -200.0),
        ("nibe", "9108", 652, "compressor_speed", 65.2),
        ("nibe", "9124", 90, "add_heat_kw", 9.0),
        ("nibe", "9226", 65, "max_add_heat_kw", 6.5),
        ("thermia", "0013", -490, "cooling_temp", None),
        ("thermia", "0012", 1052, "hot_gas", 105.2),
        ("thermia", "2201", 40, "operating_mode", 4.0),
        ("thermia", "2A91", 13, "alarm_code", 13.0),
        ("thermia", "3109", 550, "circulation_pump_speed", 55.0),
        ("thermia", "5FAB", 123456, "energy_kwh", 123456.0),
        ("thermia", "6C60", 40000, "compressor_hours", 40000.0),
        ("thermia", "8105", -100, "degree_minutes", -100.0),
        ("thermia", "8105", 65436, "degree_minutes", -100.0),
        ("thermia", "CFAA", 3200, "power_w", 3200.0),
    ],
)
def test_brand_register_decoding(brand, index, raw, name, expected):
    out = load_provider(brand).decode_poll({index: raw})
    assert out.rejected == [] and out.unknown == []
    if expected is None:
        assert out.absent == [name] and out.values == {}
    else:
        assert out.values == {name: expected}


@pytest.mark.parametrize(
    ("brand", "index", "raw"),
    [
        ("ivt", "1A01", 2),          # status beyond 0/1
        ("ivt", "3104", 1001),       # percent beyond 100
        ("ivt", "2210", 310),        # holiday beyond 30 days
        ("ivt", "2233", 10),         # the block input is 0/1
        ("nibe", "9124", 1001),      # 100.1 kW
        ("nibe", "4102", 1001),      # 100.1 A
        ("nibe", "9108", 1001),      # 100.1 %
        ("thermia", "CFAA", 65535),  # 65.5 kW electric power: garbage for a domestic pump
    ],
)
def test_brand_register_implausible(brand, index, raw):
    out = load_provider(brand).decode_poll({index: raw})
    assert out.values == {}
    assert len(out.rejected) == 1 and out.rejected[0][0] == index
    assert "outside plausible range" in out.rejected[0][2]


@pytest.mark.parametrize(
    ("brand", "name", "value", "expected"),
    [
        ("thermia", "operating_mode", 0.0, "off"),   # YAML would read a bare off as False
        ("thermia", "operating_mode", 1.0, "auto"),
        ("thermia", "operating_mode", 3.0, "add-heat only"),
        ("thermia", "operating_mode", 4.0, "hot water only"),
        ("thermia", "operating_mode", 5.0, None),
        ("nibe", "operating_mode", 0.0, "auto"),
        ("nibe", "operating_mode", 2.0, "add-heat only"),
        ("nibe", "hot_water_program", 4.0, "smart"),
        ("nibe", "hot_water_program", 3.0, None),
        ("nibe", "pool_mode", 1.0, "on"),
        ("ivt", "switch_valve", 0.0, "heating"),
        ("ivt", "switch_valve", 1.0, "hot water"),
        ("ivt", "external_block", 1.0, "blocked"),
        ("nibe", "switch_valve", 1.0, "hot water"),
        ("thermia", "switch_valve", 0.0, "heating"),
        ("ivt", "compressor", 1.0, None),
    ],
)
def test_brand_mapping_text(brand, name, value, expected):
    reg = load_provider(brand).by_name(name)
    assert reg is not None
    assert reg.text(value) == expected


def test_thermia_operating_mode_raw_10_is_auto():
    p = load_provider("thermia")
    out = p.decode_poll({"2201": 10})
    assert p.by_name("operating_mode").text(out.values["operating_mode"]) == "auto"


@pytest.mark.parametrize(
    ("brand", "code", "expected"),
    [
        ("ivt", 0, "no alarm"),
        ("ivt", 1, "radiator return sensor GT1"),
        ("ivt", 15, "high pressure switch"),
        ("ivt", 23, "heat delta exceeded"),
        ("ivt", 24, "alarm 24"),
        ("thermia", 10, "high pressure switch"),
        ("thermia", 13, "freeze guard"),
        ("thermia", 80, "information"),
        ("thermia", 15, "alarm 15"),
        ("nibe", 0, "no alarm"),
        ("nibe", 5, "alarm 5"),
    ],
)
def test_alarm_text(brand, code, expected):
    assert load_provider(brand).alarm_text(code) == expected


def test_alarm_code_from_poll_to_text():
    p = load_provider("ivt")
    out = p.decode_poll({"ba91": 14})
    assert p.alarm_text(int(out.values["alarm_code"])) == "low pressure switch"


def test_garbage_on_optional_sensor_is_rejected_not_taken_for_absent():
    indoor = load_provider("ivt").by_name("indoor_temp")
    assert indoor.absent_at_or_below is not None
    with pytest.raises(BadValue):
        decode_value(indoor, 32768)  # -3276.8 °C: a broken reading, not an unplugged sensor
    assert decode_value(indoor, 65046) is None  # -49.0 °C: the unplugged-sensor signature


# ------------------------------------------------------------------ public captures


def test_rego_600_capture_current_firmware():
    """Lauri-Iivarinen/husdata-dashboard-v2: signed integers, -483 on absent sensors, 107260."""
    raw = json.loads((CAPTURES / "ivt-rego600-current-firmware.json").read_text())
    out = load_provider("ivt").decode_poll(raw)
    assert out.rejected == [] and out.unknown == []
    assert sorted(out.absent) == ["hot_water_top", "indoor_temp", "radiator_forward"]
    v = out.values
    assert (v["outdoor_temp"], v["hot_water_mid"], v["brine_in_evaporator"]) == (-2.6, 48.2, 6.3)
    assert (v["room_sensor_influence"], v["heat_curve_level"], v["heat_curve_parallel"]) == (5.0, 1.9, 0.6)
    assert (v["compressor_hours_hot_water"], v["aux_hours_heating"]) == (107260.0, 11930.0)
    assert (v["room_temp_setpoint"], v["hot_water_difference"], v["alarm_code"]) == (20.0, 4.0, 210.0)
    assert len(v) == len(raw) - 3


def test_rego_1000_capture_old_firmware():
    """stampzilla-go issue 224: negatives wrapped; the gateway's own table shows 0020 as -52.10 C
    (an uninstalled circuit-2 sensor) and 0008 as -853.10 C (0xDEAD: no room sensor)."""
    raw = json.loads((CAPTURES / "ivt-rego1000-old-firmware.json").read_text())
    out = load_provider("ivt").decode_poll(raw)
    assert out.rejected == [] and out.unknown == []
    assert sorted(out.absent) == ["indoor_temp", "radiator_forward_2"]
    v = out.values
    assert (v["outdoor_temp"], v["pool"], v["heat_curve_left"], v["heat_curve_right"]) == (19.7, 74.3, 20.0, 35.0)
    assert (v["high_pressostat"], v["low_pressostat"], v["meter_1_pulses"]) == (1.0, 1.0, 0.0)
    assert v["indoor_2"] == 0.0


def test_same_answer_in_both_forms_gives_the_same_values():
    new = json.loads((CAPTURES / "ivt-rego600-current-firmware.json").read_text())
    old = {k: (v & 0xFFFF) for k, v in new.items()}  # what the older firmware would have sent
    p = load_provider("ivt")
    a, b = p.decode_poll(new), p.decode_poll(old)
    wide = {r.name for r in p.registers.values() if r.wide}
    assert {k: v for k, v in a.values.items() if k not in wide} == {k: v for k, v in b.values.items() if k not in wide}
    assert a.absent == b.absent and b.rejected == []


def test_range_messages_with_an_open_end():
    with pytest.raises(BadValue) as excinfo:
        scaled_value(HOURS, -5.0)
    assert str(excinfo.value) == "-5 h outside plausible range 0.."
    with pytest.raises(BadValue) as excinfo:
        scaled_value(Register(index="2201", name="x", kind="setting", max=4.0), 5.0)
    assert str(excinfo.value) == "5 outside plausible range ..4"


def test_at_most_256_unknown_registers_are_stored_from_one_answer(provider):
    from heatpump_monitor.providers.registry import MAX_UNKNOWN_STORED

    raw = {f"{i:04X}": 1 for i in range(0x1B00, 0x1B00 + 1000)}  # 1,000 unknown status registers
    raw["0007"] = 275
    out = provider.decode_poll(raw, store_unknown=True)
    assert MAX_UNKNOWN_STORED == 256
    assert len(out.unknown) == 1000
    assert len(out.values) == 257 and out.values["outdoor_temp"] == 27.5
    assert "reg_1BFF" in out.values and "reg_1C00" not in out.values  # the first 256, in order
    assert len(provider.decode_poll(dict(list(raw.items())[:256]), store_unknown=True).values) == 256
