"""Property-based tests (hypothesis): whatever JSON or bytes a gateway sends, decoding never
raises, and nothing outside a register's plausible range is ever kept."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from heatpump_monitor.pipeline.snapshotter import Snapshotter
from heatpump_monitor.providers import BRANDS, load_provider
from heatpump_monitor.sources.api import FetchError, parse_alldata

PROVIDERS = [load_provider(b) for b in BRANDS]
KNOWN = sorted({idx for p in PROVIDERS for idx in p.registers})

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=10,
)
indices = st.sampled_from(KNOWN) | st.sampled_from([k.lower() for k in KNOWN]) | st.text(max_size=8)
raw_ints = st.integers(0, 65535)
polls = st.dictionaries(indices, raw_ints | json_values, max_size=40)


def assert_plausible(provider, values):
    for name, value in values.items():
        if name.startswith("reg_"):
            assert 0 <= value <= 65535
            continue
        reg = provider.by_name(name)
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
def test_every_raw_16_bit_value_is_decoded_or_rejected_never_both(provider, raw):
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
