"""Property-based tests (hypothesis): whatever JSON or bytes a gateway sends, decoding never
raises, and nothing outside a register's plausible range is ever kept; both number forms of
every 16-bit value decode alike; counters keep values up to 2^32-1."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from heatpump_monitor.pipeline.snapshotter import Snapshotter
from heatpump_monitor.providers import BRANDS, BadValue, decode_value, default_register, load_provider
from heatpump_monitor.providers.registry import RAW_DOMAIN
from heatpump_monitor.sources.api import FetchError, parse_alldata

PROVIDERS = [load_provider(b) for b in BRANDS]
KNOWN = sorted({idx for p in PROVIDERS for idx in p.registers})

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=10,
)
indices = st.sampled_from(KNOWN) | st.sampled_from([k.lower() for k in KNOWN]) | st.text(max_size=8)
# the whole raw domain of every register size, and beyond it on both sides
raw_ints = st.integers(-32768, 65535) | st.integers(0, 2**32 - 1) | st.integers(-2**40, 2**40)
polls = st.dictionaries(indices, raw_ints | json_values, max_size=40)


def assert_plausible(provider, values):
    for name, value in values.items():
        reg = default_register(name[4:]) if name.startswith("reg_") else provider.by_name(name)
        assert reg is not None, name
        assert isinstance(value, float) and value == value  # a float, never NaN
        assert reg.min is None or value >= reg.min, (name, value)
        assert reg.max is None or value <= reg.max, (name, value)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PROVIDERS), polls, st.booleans())
def test_decode_poll_never_raises_and_keeps_only_plausible_values(provider, raw, store_unknown):
    out = provider.decode_poll(raw, store_unknown=store_unknown)
    assert_plausible(provider, out.values)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PROVIDERS), st.dictionaries(st.sampled_from(KNOWN), raw_ints, min_size=1))
def test_every_raw_value_is_decoded_or_rejected_never_both(provider, raw):
    out = provider.decode_poll(raw)
    rejected = {idx for idx, _, _ in out.rejected}
    for idx in raw:
        reg = provider.register(idx)
        if reg is None:
            assert idx in out.unknown
        elif idx in rejected:
            assert reg.name not in out.values
        else:
            assert reg.name in out.values or reg.name in out.absent
    assert_plausible(provider, out.values)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_alldata_parser_gives_a_dict_or_a_fetch_error(body):
    try:
        doc = parse_alldata(body, "application/json")
    except FetchError as exc:
        assert str(exc)  # a cause worth logging
    else:
        assert isinstance(doc, dict)
        assert_plausible(PROVIDERS[0], PROVIDERS[0].decode_poll(doc).values)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30), st.binary(max_size=64))
def test_mqtt_messages_never_raise_and_keep_only_plausible_values(topic, payload):
    s = Snapshotter(PROVIDERS[0], 30_000, 300_000)
    s.accept(topic, payload, 1_000)
    s.accept("cd4dee258efa/HP/0007", payload, 1_000)
    for snap in s.tick(30_000, 30_000):
        assert_plausible(PROVIDERS[0], snap.values)


REGISTERS = [r for p in PROVIDERS for r in p.registers.values()]
SIXTEEN_BIT = [r for r in REGISTERS if not r.wide]
WIDE = [r for r in REGISTERS if r.wide]


def _outcome(reg, raw):
    try:
        return decode_value(reg, raw)
    except BadValue:
        return "bad"


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(SIXTEEN_BIT), st.integers(0, 65535))
def test_old_and_current_firmware_forms_decode_alike(reg, pattern):
    """65529 (older firmware) and -7 (current firmware) are one number on every 16-bit register."""
    signed = pattern - 65536 if pattern > 32767 else pattern
    assert _outcome(reg, pattern) == _outcome(reg, signed)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(REGISTERS), st.integers(-2**40, 2**40))
def test_raw_domain_is_checked_before_anything_else(reg, raw):
    lo, hi = RAW_DOMAIN[reg.size]
    out = _outcome(reg, raw)
    if not lo <= raw <= hi:
        assert out == "bad"
    elif out not in ("bad", None):
        assert reg.min is None or out >= reg.min
        assert reg.max is None or out <= reg.max


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(WIDE), st.integers(0, 2**32 - 1))
def test_wide_counters_keep_values_above_65535(reg, raw):
    out = _outcome(reg, raw)
    expected = raw / reg.factor
    if (reg.min is None or expected >= reg.min) and (reg.max is None or expected <= reg.max):
        assert out == expected
    else:
        assert out == "bad"
