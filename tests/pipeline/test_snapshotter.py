"""MQTT messages -> aligned snapshots (pure unit tests, no broker)."""

import logging

import pytest

from heatpump_monitor.pipeline.snapshotter import Snapshotter
from heatpump_monitor.providers import load_provider

MAC = "cd4dee258efa"
T0 = 1_764_324_000_000  # on the 30 s grid
I = 30_000


def make(**kw):
    return Snapshotter(load_provider("thermia"), I, 300_000, **kw)


def test_messages_at_different_moments_become_one_snapshot_at_the_tick():
    s = make()
    s.accept(f"{MAC}/HP/0007", b"65483", T0 + 123)  # outdoor -5.3
    s.accept(f"{MAC}/HP/0002", b"355", T0 + 456)
    s.accept(f"{MAC}/HP/1A01", b"1", T0 + 1_234)
    s.accept(f"{MAC}/HP/0002", b"360", T0 + 20_000)  # replaced before the tick
    (snap,) = s.tick(T0 + I, T0 + I + 5)
    assert (snap.gateway, snap.source, snap.brand, snap.time_ms) == (MAC, "mqtt", "thermia", T0 + I)
    assert snap.values == {"outdoor_temp": -5.3, "radiator_forward": 36.0, "compressor": 1.0}


def test_values_are_held_until_replaced_and_gateways_kept_apart():
    s = make()
    s.accept(f"{MAC}/HP/0007", b"12", T0)
    s.accept("aabbccddeeff/HP/0007", b"34", T0)
    first = {x.gateway: x.values for x in s.tick(T0 + I, T0 + I)}
    s.accept(f"{MAC}/HP/0009", b"480", T0 + I + 1)
    second = {x.gateway: x.values for x in s.tick(T0 + 2 * I, T0 + 2 * I)}
    assert first == {MAC: {"outdoor_temp": 1.2}, "aabbccddeeff": {"outdoor_temp": 3.4}}
    assert second == {MAC: {"outdoor_temp": 1.2, "hot_water_top": 48.0}, "aabbccddeeff": {"outdoor_temp": 3.4}}


def test_gateway_name_replaces_mac_in_the_tag():
    s = make(names={MAC: "house"})
    s.accept(f"{MAC}/HP/0007", b"12", T0)
    assert [x.gateway for x in s.tick(T0 + I, T0 + I)] == ["house"]


def test_silent_gateway_not_emitted_warned_once_then_resumes(caplog):
    s = make()
    s.accept(f"{MAC}/HP/0007", b"12", T0)
    with caplog.at_level(logging.INFO):
        assert s.tick(T0 + 300_000, T0 + 300_000) != []  # exactly at the limit: still live
        assert s.tick(T0 + 330_000, T0 + 330_001) == []
        assert s.tick(T0 + 360_000, T0 + 360_000) == []
        s.accept(f"{MAC}/HP/0007", b"13", T0 + 361_000)
        (snap,) = s.tick(T0 + 390_000, T0 + 390_000)
    assert snap.values == {"outdoor_temp": 1.3}
    assert caplog.text.count(f"Gateway {MAC} silent for 330 s") == 1
    assert f"Gateway {MAC} publishes again" in caplog.text
    assert s.live_macs() == [MAC]


def test_silent_macs_are_asked_again_and_a_configured_one_until_heard():
    s = make()
    assert s.silent_macs(MAC) == [MAC]  # configured, never heard from
    assert s.silent_macs() == []
    s.accept(f"{MAC}/HP/0007", b"12", T0)
    s.accept("aabbccddeeff/HP/0007", b"34", T0 + 200_000)
    assert s.silent_macs(MAC) == []
    s.tick(T0 + 330_000, T0 + 330_000)  # MAC silent for 330 s > 300 s; the other for 130 s
    assert s.silent_macs(MAC) == [MAC] and s.silent_macs() == [MAC]
    s.accept(f"{MAC}/HP/0007", b"13", T0 + 331_000)
    s.tick(T0 + 360_000, T0 + 360_000)
    assert s.silent_macs(MAC) == []


@pytest.mark.parametrize("topic,payload,cause", [
    (f"{MAC}/HP/0007", b"", "empty payload"),
    (f"{MAC}/HP/0007", b"abc", "not an integer ('abc')"),
    (f"{MAC}/HP/0007", b"27.5", "not an integer ('27.5')"),
    (f"{MAC}/HP/0007", b"-1", "raw value -1 outside 0..65535"),
    (f"{MAC}/HP/0007", b"70000", "raw value 70000 outside 0..65535"),
    (f"{MAC}/HP/0007", b"9" * 2000, "oversized payload (2000 bytes)"),
    (f"{MAC}/HP/0007", b"\xff\xfe", "not an integer"),
    (f"{MAC}/HP/0007", b"32768", "outside plausible range"),  # -3276.8 °C
    (f"{MAC}/HP/XYZ1", b"1", "unexpected topic shape"),
    ("weird", b"1", "unexpected topic shape"),
    (f"{MAC}/XX/0007", b"1", "unexpected topic shape"),
])
def test_bad_messages_dropped_with_one_warning_per_register_and_cause(caplog, topic, payload, cause):
    s = make()
    s.accept(f"{MAC}/HP/0009", b"480", T0)
    with caplog.at_level(logging.WARNING):
        assert s.accept(topic, payload, T0 + 1) is None
        assert s.accept(topic, payload, T0 + 2) is None
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and cause in warnings[0]
    assert s.stats.rejected == 2
    assert s.tick(T0 + I, T0 + I)[0].values == {"hot_water_top": 48.0}  # nothing bogus kept


@pytest.mark.parametrize("topic", [f"{MAC}/HP/CMD", f"{MAC}/HP/STATUS", f"{MAC}/HP/SET/0203"])
def test_commands_status_and_writes_are_ignored_cleanly(caplog, topic):
    s = make()
    with caplog.at_level(logging.WARNING):
        assert s.accept(topic, b"GETALL", T0) is None
    assert caplog.text == "" and s.stats.ignored == 1 and s.gateways == {}


def test_lower_case_index_and_unknown_register(caplog):
    s = make(store_unknown=True)
    with caplog.at_level(logging.WARNING):
        s.accept(f"{MAC}/HP/1a01", b"1", T0)
        s.accept(f"{MAC}/HP/EEEE", b"5", T0)
        s.accept(f"{MAC}/HP/EEEE", b"6", T0)
    assert s.tick(T0 + I, T0 + I)[0].values == {"compressor": 1.0, "reg_EEEE": 6.0}
    assert caplog.text.count("Unknown register: EEEE") == 1


def test_absent_sensor_removes_held_value():
    s = Snapshotter(load_provider("ivt"), I, 300_000)
    s.accept(f"{MAC}/HP/0008", b"215", T0)  # indoor 21.5
    s.accept(f"{MAC}/HP/0007", b"12", T0)
    s.accept(f"{MAC}/HP/0008", b"65046", T0 + 1)  # -49.0: sensor unplugged
    assert s.tick(T0 + I, T0 + I)[0].values == {"outdoor_temp": 1.2}


def test_round_mode_snapshot_is_the_message_in_its_window():
    s = make()
    single = s.accept(f"{MAC}/HP/0007", b"12", T0 + 29_999)
    assert (single.time_ms, single.values) == (T0, {"outdoor_temp": 1.2})
    assert s.accept(f"{MAC}/HP/0007", b"12", T0 + 30_000).time_ms == T0 + I
