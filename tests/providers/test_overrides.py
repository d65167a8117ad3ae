"""CONFIG_FILE's registers: section: fix a factor, unit, name, range or "no sensor" marker, or
add a register, without editing the package; every mistake is one clear line."""

from __future__ import annotations

import pytest
import yaml

from heatpump_monitor.providers import load_provider
from heatpump_monitor.providers.overrides import (
    NO_OVERRIDES,
    Providers,
    RegisterOverrides,
    apply_overrides,
    check_overrides,
    parse_overrides,
)


def parsed(text: str, path: str = "config.yaml") -> RegisterOverrides:
    overrides, errors = parse_overrides(yaml.safe_load(text)["registers"], path)
    assert errors == []
    return overrides


def effective(text: str, brand: str = "ivt"):
    provider, errors = apply_overrides(load_provider(brand), parsed(text))
    assert errors == []
    return provider


def test_fix_a_factor():
    p = effective('registers:\n  "6C56": {factor: 10}\n')
    reg = p.registers["6C56"]
    assert (reg.factor, reg.factor_source, reg.name) == (10, "config", "compressor_hours_hot_water")
    assert reg.origin["factor"] == "config.yaml" and reg.origin["name"] == "ivt.yaml"
    assert p.decode_poll({"6C56": 107260}).values == {"compressor_hours_hot_water": 10726.0}
    assert p.sources["config"] == "your override in config.yaml"
    assert load_provider("ivt").registers["6C56"].factor == 1  # the shipped data is untouched


def test_fix_unit_name_range_and_no_sensor_marker():
    p = effective("""
registers:
  "0008": {absent_at_or_below: null}          # a real room sensor that reads -49 in a freezer
  "2210": {unit: days, max: 99.0}
  "1A09": {name: fan_running, description: "Fan"}
""")
    assert p.decode_poll({"0008": -490}).values == {"indoor_temp": -49.0}
    assert p.registers["2210"].unit == "days" and p.decode_poll({"2210": 500}).values == {"holiday_mode": 50.0}
    assert p.by_name("fan_running").index == "1A09" and p.by_name("fan") is None


def test_add_a_register_with_its_type_defaults():
    p = effective("""
registers:
  "0015": {name: garage_temp}
  "6C70": {name: pool_pump_hours}
  "3ABC": {name: valve_position, max: 50.0}
""")
    g, h, v = p.registers["0015"], p.registers["6C70"], p.registers["3ABC"]
    assert (g.kind, g.unit, g.factor, g.size, g.source) == ("temperature", "°C", 10, "s16", ("config",))
    assert (h.unit, h.size) == ("h", "u32")
    assert (v.kind, v.max, v.origin["max"]) == ("percent", 50.0, "config.yaml")
    out = p.decode_poll({"0015": -26, "6C70": 70000, "3ABC": 600})
    assert out.values == {"garage_temp": -2.6, "pool_pump_hours": 70000.0}
    assert out.rejected == [("3ABC", 600, "60 % outside plausible range 0..50")]
    assert out.unknown == []


def test_entries_for_one_brand_and_for_all():
    o = parsed("""
registers:
  "CFAA": {max: 20000.0}
  nibe:
    "9108": {unit: Hz, kind: number, max: 120.0}
  IVT:
    "CFAA": {max: 30000.0}
""")
    ivt, nibe, thermia = (apply_overrides(load_provider(b), o)[0] for b in ("ivt", "nibe", "thermia"))
    assert (ivt.registers["CFAA"].max, nibe.registers["CFAA"].max, thermia.registers["CFAA"].max) == (30000.0, 20000.0, 20000.0)
    assert nibe.registers["9108"].unit == "Hz" and "9108" not in thermia.registers


def test_unquoted_four_digit_index_is_accepted_but_not_one_with_leading_zeros():
    o, errors = parse_overrides(yaml.safe_load("registers:\n  2205: {factor: 1}\n  0010: {name: x}\n")["registers"], "c.yaml")
    assert list(o.common) == ["2205"]
    assert errors == ['c.yaml: registers 8: write the index in quotes, e.g. "0010" '
                      "(YAML reads an unquoted number with leading zeros differently)"]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("[1, 2]", "c.yaml: registers must be a mapping of quoted indices"),
        ('{"XYZ1": {factor: 1}}', "c.yaml: registers 'XYZ1': not a register index (four hex digits) or a brand"),
        ('{"0007": 10}', 'c.yaml: registers 0007: expected settings such as {factor: 10, unit: "°C"}'),
        ('{"0007": {}}', "c.yaml: registers 0007: expected settings"),
        ('{"0007": {factr: 10}}', "c.yaml: registers 0007: unknown keys ['factr']"),
        ('{"0007": {factor: 0}}', "c.yaml: registers 0007: factor must be a positive number, got 0"),
        ('{"0007": {factor: ten}}', "c.yaml: registers 0007: factor must be a positive number, got 'ten'"),
        ('{"0007": {min: 5, max: 1}}', "c.yaml: registers 0007: min 5 must be below max 1"),
        ('{"0007": {size: s32}}', "c.yaml: registers 0007: size must be one of s16, u16, u32"),
        ('{"0007": {name: Outdoor}}', "c.yaml: registers 0007: name must be snake_case"),
        ('{"0007": {index: "0007"}}', "c.yaml: registers 0007: 'index' is the key itself"),
        ('{ivt: [1]}', "c.yaml: registers ivt: expected a mapping of quoted indices to settings"),
        ('{ivt: {"0007": {factor: -1}}}', "c.yaml: registers ivt 0007: factor must be a positive number"),
    ],
)
def test_parse_mistakes_are_one_clear_line_each(section, message):
    _, errors = parse_overrides(yaml.safe_load(section), "c.yaml")
    assert len(errors) == 1 and errors[0].startswith(message), errors


def test_every_mistake_is_reported_not_just_the_first():
    _, errors = parse_overrides(yaml.safe_load('{"0007": {factor: 0}, "0009": {unit: 5}, "XX": {}}'), "c.yaml")
    assert len(errors) == 3


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('{"6C70": {unit: h}}', "c.yaml: registers 6C70 (ivt): a register the ivt data lacks needs a name"),
        ('{"0009": {name: outdoor_temp}}', "c.yaml: registers 0009 (ivt): name outdoor_temp is already register 0007's"),
        ('{"0007": {min: 200.0}}', "c.yaml: registers 0007 (ivt): min 200 must be below max 150"),
        ('{"0007": {factor_source: mystery}}', "c.yaml: registers 0007 (ivt): source 'mystery' unknown"),
        ('{"0007": {source: [c00, mystery]}}', "c.yaml: registers 0007 (ivt): source 'mystery' unknown"),
    ],
)
def test_mistakes_against_the_brand_data(section, message):
    o, errors = parse_overrides(yaml.safe_load(section), "c.yaml")
    assert errors == []
    provider, errors = apply_overrides(load_provider("ivt"), o)
    assert provider is load_provider("ivt")  # nothing half-applied
    assert len(errors) == 1 and errors[0].startswith(message), errors


def test_check_overrides_looks_at_every_brand_it_may_apply_to():
    o, _ = parse_overrides(yaml.safe_load('{"0001": {name: x}, "0002": {name: x}, thermia: {"0009": {factor: 1}}}'), "c.yaml")
    # 0001 and 0002 both named x: a clash on every brand (nibe gets 0001 as a new register)
    errors = check_overrides(o)
    assert errors == [f"c.yaml: registers 0002 ({b}): name x is already register 0001's"
                      for b in ("thermia", "ivt", "nibe")]
    # the thermia entry (factor 1 on a temperature) is never applied to a nibe collector
    assert check_overrides(o, ("nibe",)) == ["c.yaml: registers 0002 (nibe): name x is already register 0001's"]


def test_no_overrides_is_the_shipped_data():
    assert not NO_OVERRIDES
    assert Providers().get("ivt") is load_provider("ivt")
    o = parsed('registers:\n  "6C56": {factor: 10}\n')
    assert o
    providers = Providers(o)
    assert providers.get("ivt") is providers.get("ivt")  # built once
    assert providers.get("ivt").registers["6C56"].factor == 10
