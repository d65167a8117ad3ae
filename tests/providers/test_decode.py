"""Table-driven tests of the decoding rule (`decode_value`) and of `Provider.decode_poll`.

Every expected value is worked out by hand in the tables: raw 16-bit integer -> signed
(raw - 65536 when the register is signed and raw > 32767) -> divided by the factor.
"""

from __future__ import annotations

import pytest

from heatpump_monitor.providers import BadValue, Register, decode_value, load_provider
from heatpump_monitor.providers.registry import provider_from_dict

# ------------------------------------------------------------------ registers built directly

TEMP = Register(index="0007", name="outdoor_temp", kind="temperature", unit="°C", factor=10,
                signed=True, min=-50.0, max=150.0)
TEMP_OPEN = Register(index="0007", name="outdoor_temp", kind="temperature", unit="°C", factor=10,
                     signed=True, min=None, max=None)
INDOOR = Register(index="0008", name="indoor_temp", kind="temperature", unit="°C", factor=10,
                  signed=True, min=-50.0, max=150.0, absent_at_or_below=-48.0)
STATUS = Register(index="1A01", name="compressor", kind="status", factor=1, min=0.0, max=1.0)
MODE = Register(index="2201", name="operating_mode", kind="setting", factor=1,
                mapping={0: "off", 1: "auto", 2: "normal", 3: "add-heat only", 4: "hot water only"})
OFFSET = Register(index="2207", name="heat_curve_offset", kind="setting", factor=10, signed=True,
                  min=-50.0, max=50.0)
PERCENT = Register(index="3104", name="additional_heat", kind="percent", unit="%", factor=1,
                   min=0.0, max=100.0)
CURRENT = Register(index="4101", name="load_l1", kind="current", unit="A", factor=10,
                   min=0.0, max=100.0)
ENERGY = Register(index="5C51", name="energy_total_kwh", kind="energy", unit="kWh", factor=1,
                  min=0.0, max=None)
HOURS = Register(index="6C60", name="compressor_hours", kind="hours", unit="h", factor=1,
                 min=0.0, max=None)
MINUTES = Register(index="7209", name="extra_hot_water_minutes", kind="minutes", unit="min",
                   factor=1, min=0.0, max=None)
DM = Register(index="8105", name="degree_minutes", kind="degree_minutes", unit="°Cmin", factor=1,
              signed=True, min=None, max=None)
KW = Register(index="9124", name="add_heat_kw", kind="power", unit="kW", factor=10,
              min=0.0, max=100.0)
ALARM = Register(index="BA91", name="alarm_code", kind="alarm", factor=1)
WATT = Register(index="CFAA", name="power_w", kind="power", unit="W", factor=1, min=0.0, max=None)


@pytest.mark.parametrize(
    ("reg", "raw", "expected"),
    [
        # temperature: tenths, signed
        (TEMP, 0, 0.0),
        (TEMP, 1, 0.1),
        (TEMP, 275, 27.5),
        (TEMP, 65483, -5.3),          # 65483 - 65536 = -53
        (TEMP, 65535, -0.1),          # -1
        (TEMP, 65036, -50.0),         # -500: lower bound is inclusive
        (TEMP, 1500, 150.0),          # upper bound is inclusive
        (TEMP_OPEN, 32767, 3276.7),   # largest positive signed value
        (TEMP_OPEN, 32768, -3276.8),  # smallest negative signed value
        (TEMP_OPEN, 65535, -0.1),
        (INDOOR, 215, 21.5),
        (INDOOR, 65057, -47.9),       # -479: just above the absent threshold
        # status
        (STATUS, 0, 0.0),
        (STATUS, 1, 1.0),
        # settings: unsigned factor 1, and a signed tenths offset
        (MODE, 4, 4.0),
        (MODE, 32768, 32768.0),       # unsigned: no wrap
        (MODE, 65535, 65535.0),
        (OFFSET, 35, 3.5),
        (OFFSET, 65516, -2.0),        # -20
        # percent
        (PERCENT, 0, 0.0),
        (PERCENT, 45, 45.0),
        (PERCENT, 100, 100.0),
        # ampere, tenths
        (CURRENT, 163, 16.3),
        (CURRENT, 1000, 100.0),
        # counters: unsigned, no upper bound
        (ENERGY, 12345, 12345.0),
        (ENERGY, 65535, 65535.0),
        (HOURS, 0, 0.0),
        (HOURS, 32768, 32768.0),
        (HOURS, 65535, 65535.0),
        (MINUTES, 90, 90.0),
        # degree minutes: signed, factor 1, no range
        (DM, 0, 0.0),
        (DM, 32767, 32767.0),
        (DM, 32768, -32768.0),
        (DM, 64536, -1000.0),
        (DM, 65535, -1.0),
        # kilowatt, tenths
        (KW, 90, 9.0),
        (KW, 1000, 100.0),
        # alarm numbers and watts
        (ALARM, 15, 15.0),
        (ALARM, 65535, 65535.0),
        (WATT, 3200, 3200.0),
        (WATT, 65535, 65535.0),
    ],
)
def test_decode_value(reg, raw, expected):
    value = decode_value(reg, raw)
    assert isinstance(value, float)
    assert value == expected


@pytest.mark.parametrize(
    ("raw", "meaning"),
    [
        (65046, "-49.0: uninstalled sensor"),
        (65056, "-48.0: the threshold itself counts as absent"),
        (65036, "-50.0"),
    ],
)
def test_absent_sensor_decodes_to_none(raw, meaning):
    assert decode_value(INDOOR, raw) is None, meaning


@pytest.mark.parametrize(
    ("reg", "raw", "fragments"),
    [
        (TEMP, 32768, ["-3276.8", "outside plausible range", "-50..150"]),
        (TEMP, 32767, ["3276.7", "outside plausible range"]),
        (TEMP, 1501, ["150.1", "outside plausible range"]),
        (TEMP, 65035, ["-50.1", "outside plausible range"]),
        (INDOOR, 1501, ["150.1", "outside plausible range"]),
        (STATUS, 2, ["2 outside plausible range 0..1"]),
        (PERCENT, 101, ["101 % outside plausible range 0..100"]),
        (CURRENT, 1001, ["100.1 A outside plausible range"]),
        (KW, 1001, ["100.1 kW outside plausible range"]),
        (OFFSET, 501, ["50.1", "outside plausible range -50..50"]),
        (OFFSET, 65035, ["-50.1", "outside plausible range"]),
        # raw values that are not 16-bit unsigned integers
        (TEMP, -1, ["raw value -1 outside 0..65535"]),
        (TEMP, 65536, ["raw value 65536 outside 0..65535"]),
        (DM, -32768, ["outside 0..65535"]),
        (HOURS, 10**12, ["outside 0..65535"]),
        (ENERGY, 2**64, ["outside 0..65535"]),
    ],
)
def test_decode_value_rejects(reg, raw, fragments):
    with pytest.raises(BadValue) as excinfo:
        decode_value(reg, raw)
    for fragment in fragments:
        assert fragment in str(excinfo.value)


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

TEST_DOC = {
    "brand": "testbrand",
    "title": "Test",
    "h1ver_codes": ["99"],
    "alarm_register": "BA91",
    "alarms": {1: "sensor fault"},
    "registers": [
        {"index": "0007", "name": "outdoor_temp"},
        {"index": "0008", "name": "indoor_temp", "absent_at_or_below": -48.0},
        {"index": "0009", "name": "hot_water_top"},
        {"index": "1A01", "name": "compressor"},
        {"index": "2201", "name": "operating_mode", "mapping": {0: "off", 1: "auto"}},
        {"index": "6C60", "name": "compressor_hours"},
        {"index": "8105", "name": "degree_minutes"},
        {"index": "BA91", "name": "alarm_code"},
    ],
}

GOOD_POLL = {
    "0007": 65483,  # -5.3
    "1a01": 1,      # lower-case index from the gateway
    "0008": 65046,  # -49.0: no room sensor
    "6c60": 65535,  # unsigned counter
    "8105": 65036,  # -500 degree minutes
    "BA91": 0,
    "2201": 1,
}
GOOD_VALUES = {
    "outdoor_temp": -5.3,
    "compressor": 1.0,
    "compressor_hours": 65535.0,
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
        (-1, "raw value -1 outside 0..65535"),
        (65536, "raw value 65536 outside 0..65535"),
        (2**64, "outside 0..65535"),
        (10**30, "outside 0..65535"),
        (32768, "-3276.8 °C outside plausible range"),
        (1501, "150.1 °C outside plausible range"),
    ],
)
def test_decode_poll_rejects_bad_value_keeps_rest(provider, bad, cause):
    out = provider.decode_poll({**GOOD_POLL, "0009": bad})
    assert out.values == GOOD_VALUES            # the rest of the poll is kept
    assert "hot_water_top" not in out.values
    assert len(out.rejected) == 1
    idx, raw, text = out.rejected[0]
    assert idx == "0009"
    assert raw is bad or (type(raw) is type(bad) and raw == bad)
    assert cause in text


def test_decode_poll_rejects_lower_case_index_with_upper_case_key(provider):
    out = provider.decode_poll({"1a01": 2})
    assert out.values == {}
    assert out.rejected == [("1A01", 2, "2 outside plausible range 0..1")]


@pytest.mark.parametrize("key", ["abc", "00071", "", "00 7", "XYZ1"])
def test_decode_poll_rejects_bad_index(provider, key):
    out = provider.decode_poll({key: 5, "0007": 275})
    assert out.values == {"outdoor_temp": 27.5}
    assert out.rejected == [(key, 5, "not a register index")]


@pytest.mark.parametrize(
    ("store_unknown", "expected_values"),
    [
        (False, {"outdoor_temp": 27.5}),
        (True, {"outdoor_temp": 27.5, "reg_9999": 7.0, "reg_C0DE": 65535.0}),
    ],
)
def test_decode_poll_unknown_registers(provider, store_unknown, expected_values):
    out = provider.decode_poll({"0007": 275, "9999": 7, "c0de": 65535}, store_unknown=store_unknown)
    assert out.unknown == ["9999", "C0DE"]
    assert out.values == expected_values
    assert out.rejected == []


def test_decode_poll_unknown_register_bad_raw_rejected_when_stored(provider):
    out = provider.decode_poll({"9999": 70000, "0007": 275}, store_unknown=True)
    assert out.unknown == ["9999"]
    assert out.values == {"outdoor_temp": 27.5}
    assert out.rejected == [("9999", 70000, "raw value 70000 outside 0..65535")]


def test_alarm_text_test_provider(provider):
    assert provider.alarm_text(1) == "sensor fault"
    assert provider.alarm_text(2) == "alarm 2"
    assert provider.alarm_text(0) == "no alarm"


# ------------------------------------------------------------------ the real brand data

BRANDS = ["thermia", "ivt", "nibe"]


@pytest.mark.parametrize("brand", BRANDS)
def test_brand_poll_common_registers(brand):
    p = load_provider(brand)
    out = p.decode_poll({"0007": 65483, "1a01": 1, "1A07": 1, "0009": 512, "0008": 65046})
    assert out.values == {"outdoor_temp": -5.3, "compressor": 1.0, "switch_valve": 1.0,
                          "hot_water_top": 51.2}
    assert out.absent == ["indoor_temp"]
    assert out.rejected == []
    assert out.unknown == []


@pytest.mark.parametrize("brand", BRANDS)
def test_brand_temperature_32768_rejected(brand):
    out = load_provider(brand).decode_poll({"0007": 32768, "0009": 32767})
    assert out.values == {}
    assert [r[0] for r in out.rejected] == ["0007", "0009"]
    assert "-3276.8" in out.rejected[0][2]
    assert "3276.7" in out.rejected[1][2]


@pytest.mark.parametrize(
    ("brand", "index", "raw", "name", "expected"),
    [
        ("ivt", "0001", 275, "radiator_return", 27.5),
        ("ivt", "0002", 65046, "radiator_forward", None),           # no mixing valve sensor
        ("ivt", "000a", 65046, "hot_water_mid", None),
        ("ivt", "1A20", 3, "alarm", 3.0),                           # >1 is allowed
        ("ivt", "2204", 30, "room_sensor_influence", 3.0),
        ("ivt", "2205", 45, "heat_curve_level", 4.5),
        ("ivt", "2210", 14, "holiday_mode", 14.0),
        ("ivt", "3104", 100, "additional_heat", 100.0),
        ("ivt", "6C55", 65535, "compressor_hours_heating", 65535.0),
        ("ivt", "7209", 120, "extra_hot_water_minutes", 120.0),
        ("ivt", "BA91", 15, "alarm_code", 15.0),
        ("nibe", "0002", 351, "radiator_forward", 35.1),
        ("nibe", "0011", 65046, "pool", None),
        ("nibe", "0021", 65046, "indoor_2", None),
        ("nibe", "2201", 2, "operating_mode", 2.0),
        ("nibe", "2207", 65526, "heat_curve_offset", -1.0),         # -10 tenths
        ("nibe", "2a20", 0, "alarm_code", 0.0),
        ("nibe", "4101", 163, "load_l1", 16.3),
        ("nibe", "5C51", 65535, "energy_total_kwh", 65535.0),
        ("nibe", "8105", 60536, "degree_minutes_integral", -5000.0),
        ("nibe", "8255", 65336, "degree_minutes", -200.0),
        ("nibe", "9108", 652, "compressor_speed", 65.2),
        ("nibe", "9124", 90, "add_heat_kw", 9.0),
        ("nibe", "9226", 65, "max_add_heat_kw", 6.5),
        ("thermia", "0013", 65046, "cooling_temp", None),
        ("thermia", "0012", 1052, "hot_gas", 105.2),
        ("thermia", "2201", 4, "operating_mode", 4.0),
        ("thermia", "2A91", 13, "alarm_code", 13.0),
        ("thermia", "3109", 55, "circulation_pump_speed", 55.0),
        ("thermia", "5FAB", 65535, "energy_kwh", 65535.0),
        ("thermia", "6C60", 40000, "compressor_hours", 40000.0),
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
        ("ivt", "1A01", 2),        # status beyond 0/1
        ("ivt", "3104", 101),      # percent beyond 100
        ("nibe", "9124", 1001),    # 100.1 kW
        ("nibe", "4102", 1001),    # 100.1 A
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
        ("ivt", "switch_valve", 0.0, "heating"),
        ("ivt", "switch_valve", 1.0, "hot water"),
        ("nibe", "switch_valve", 1.0, "hot water"),
        ("thermia", "switch_valve", 0.0, "heating"),
        ("ivt", "compressor", 1.0, None),
    ],
)
def test_brand_mapping_text(brand, name, value, expected):
    reg = load_provider(brand).by_name(name)
    assert reg is not None
    assert reg.text(value) == expected


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
    from heatpump_monitor.providers import BadValue, load_provider

    indoor = load_provider("ivt").by_name("indoor_temp")
    assert indoor.absent_at_or_below is not None
    with pytest.raises(BadValue):
        decode_value(indoor, 32768)  # -3276.8 °C: a broken reading, not an unplugged sensor
    assert decode_value(indoor, 65046) is None  # -49.0 °C: the unplugged-sensor signature
