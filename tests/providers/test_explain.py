"""`decode --explain`: each step from raw to stored value, and the file that set it; the verdict
is always decode_value's own."""

from __future__ import annotations

import pytest
import yaml

from heatpump_monitor.providers import BadValue, decode_value, load_provider
from heatpump_monitor.providers.explain import explain
from heatpump_monitor.providers.overrides import apply_overrides, parse_overrides


def steps(brand, index, raw, **kw):
    return {s.step: (s.detail, s.set_by) for s in explain(load_provider(brand), index, raw, **kw)}


def test_signed_integer_of_current_firmware():
    s = steps("ivt", "0007", -26)
    assert s["register"][0].startswith("0007 outdoor_temp") and s["register"][1] == "ivt.yaml"
    assert s["source"][0].startswith("c00: Husdata register sheet C00")
    assert s["domain"] == ("16-bit, signed: raw -32768..65535", "h1-types.yaml")
    assert s["number"][0] == "-26 (signed 16-bit, as sent)"
    assert s["factor"] == ("-26 / 10 = -2.6 °C  (factor from the type table for 0xxx, source h1)", "h1-types.yaml")
    assert s["range"][0] == "-2.6 in -50..150 °C? yes"
    assert s["result"][0] == "outdoor_temp = -2.6 °C"


def test_wrapped_integer_of_older_firmware():
    s = steps("ivt", "0007", 65529)
    assert s["number"][0] == "65529 is -7 (older firmware sends negatives wrapped: 65529 - 65536)"
    assert s["result"][0] == "outdoor_temp = -0.7 °C"


def test_wide_counter_and_no_sensor():
    assert steps("ivt", "6C56", 107260)["number"][0] == "107260 (a counter, taken as it is)"
    assert steps("ivt", "6C56", 107260)["result"][0] == "compressor_hours_hot_water = 107260 h"
    s = steps("ivt", "0002", -483)
    assert s["no sensor"] == ("-48.3 at or below -48? yes -> no sensor", "ivt.yaml")
    assert s["result"][0] == "no sensor: not stored, reported once"


def test_nibe_marker_stops_before_the_range():
    s = steps("nibe", "0011", 32758)
    assert s["no sensor (raw)"] == ("32758 in [32758]? yes -> no sensor", "nibe.yaml")
    assert "range" not in s and s["result"][0] == "no sensor: not stored, reported once"


def test_mapping_and_alarm_texts():
    assert steps("thermia", "2201", 10)["result"][0] == "operating_mode = 1 (auto)"
    assert steps("ivt", "BA91", 14)["result"][0] == "alarm_code = 14 (low pressure switch)"
    assert steps("thermia", "2201", 10)["factor"][0].endswith("(factor from source ep)")


@pytest.mark.parametrize(
    ("brand", "index", "raw", "step", "detail"),
    [
        ("ivt", "0007", 70000, "number", "raw value 70000 outside -32768..65535 (16-bit register) -> dropped"),
        ("ivt", "6C56", -1, "number", "raw value -1 outside 0..4294967295 (32-bit counter) -> dropped"),
        ("ivt", "0007", 1501, "range", "150.1 in -50..150 °C? no -> dropped"),
        ("ivt", "0007", "12", "raw", "'12': not an integer (str) -> dropped"),
        ("ivt", "0007", 12.5, "raw", "12.5: not an integer (float) -> dropped"),
    ],
)
def test_dropped_values_say_why(brand, index, raw, step, detail):
    s = steps(brand, index, raw)
    assert s[step][0] == detail
    if step == "range":
        assert s["result"][0].startswith("dropped: 150.1 °C outside plausible range")


def test_scaled_value_skips_the_factor():
    s = steps("ivt", "0009", 54.0, scaled=True)
    assert "factor" not in s and s["result"][0] == "hot_water_top = 54 °C"


def test_definition_only_without_a_value():
    s = steps("nibe", "2201", None)
    assert s["factor"][0] == "/ 10 (from the type table for 2xxx, source h1)"
    assert s["range"][0] == "any value (no plausible range set)"
    assert s["mapping"][0] == "0=auto, 1=manual, 2=add-heat only"
    assert "result" not in s


def test_unknown_register_uses_its_type():
    s = steps("ivt", "0015", -26)
    assert "not in the ivt data: decoded by its H1 type" in s["register"][0]
    assert s["result"][0] == "reg_0015 = -2.6 °C"


def test_overridden_step_names_the_config_file():
    o, _ = parse_overrides(yaml.safe_load('{"6C56": {factor: 10}}'), "/etc/hp/config.yaml")
    p, _ = apply_overrides(load_provider("ivt"), o)
    s = {x.step: (x.detail, x.set_by) for x in explain(p, "6C56", 107260)}
    assert s["factor"] == ("107260 / 10 = 10726 h  (factor from source config)", "/etc/hp/config.yaml")
    assert s["result"][0] == "compressor_hours_hot_water = 10726 h"


@pytest.mark.parametrize("brand", ["ivt", "nibe", "thermia"])
@pytest.mark.parametrize("raw", [-32769, -483, -26, 0, 10, 215, 1501, 32758, 65053, 65529, 107260])
def test_the_verdict_is_decode_values(brand, raw):
    p = load_provider(brand)
    for reg in p.registers.values():
        result = [s for s in explain(p, reg.index, raw) if s.step == "result"]
        try:
            value = decode_value(reg, raw)
        except BadValue:
            assert not result or result[0].detail.startswith("dropped"), (reg.index, raw)
            continue
        assert len(result) == 1, (reg.index, raw)
        if value is None:
            assert result[0].detail.startswith("no sensor"), (reg.index, raw)
        else:
            assert result[0].detail.startswith(f"{reg.name} = {value:g}"), (reg.index, raw)
