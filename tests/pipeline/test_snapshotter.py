"""MQTT messages -> aligned snapshots (pure unit tests, no broker)."""

import logging

import pytest

from heatpump_monitor.pipeline.snapshotter import ScaleGuess, Snapshotter
from heatpump_monitor.providers import load_provider

MAC = "cd4dee258efa"
T0 = 1_764_324_000_000  # on the 30 s grid
I = 30_000


def make(**kw):
    kw.setdefault("payload_scale", "raw")  # integers like /api/alldata (auto mode: tested below)
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
    (f"{MAC}/HP/0007", b"abc", "not a number ('abc')"),
    (f"{MAC}/HP/0007", b"27,5", "not a number ('27,5')"),
    (f"{MAC}/HP/0007", b"nan", "not a number ('nan')"),
    (f"{MAC}/HP/0007", b"1e3", "not a number ('1e3')"),
    (f"{MAC}/HP/0007", b"--5", "not a number ('--5')"),
    (f"{MAC}/HP/0007", b"12345678901", "not a number"),  # more digits than any register has
    (f"{MAC}/HP/0007", b"-32769", "raw value -32769 outside -32768..65535 (16-bit register)"),
    (f"{MAC}/HP/0007", b"70000", "raw value 70000 outside -32768..65535 (16-bit register)"),
    (f"{MAC}/HP/6C60", b"-5", "raw value -5 outside 0..4294967295 (32-bit counter)"),
    (f"{MAC}/HP/0007", b"9" * 2000, "oversized payload (2000 bytes)"),
    (f"{MAC}/HP/0007", b"\xff\xfe", "not a number"),
    (f"{MAC}/HP/0007", b"32768", "outside plausible range"),  # -3276.8 °C
    (f"{MAC}/HP/0007", b"540.0", "540 °C outside plausible range"),  # a decimal is already scaled
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


@pytest.mark.parametrize("payload", [b"65046", b"-490", b"-48.3"])
def test_absent_sensor_removes_held_value_and_is_said_once(caplog, payload):
    s = Snapshotter(load_provider("ivt"), I, 300_000, payload_scale="raw")
    s.accept(f"{MAC}/HP/0008", b"215", T0)  # indoor 21.5
    s.accept(f"{MAC}/HP/0007", b"12", T0)
    with caplog.at_level(logging.INFO):
        assert s.accept(f"{MAC}/HP/0008", payload, T0 + 1) is None  # sensor unplugged
        s.accept(f"{MAC}/HP/0008", payload, T0 + 2)
    assert s.tick(T0 + I, T0 + I)[0].values == {"outdoor_temp": 1.2}
    said = [r for r in caplog.records if "no sensor" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.INFO
    assert "indoor_temp" in said[0].getMessage() and "0008" in said[0].getMessage()
    assert s.stats.rejected == 0  # "no sensor" is not a bad value


def test_absent_sensor_said_once_per_gateway(caplog):
    s = Snapshotter(load_provider("nibe"), I, 300_000, payload_scale="raw")
    with caplog.at_level(logging.INFO):
        for mac in (MAC, "aabbccddeeff", MAC):
            s.accept(f"{mac}/HP/0011", b"32758", T0)  # NIBE: no pool sensor
            s.accept(f"{mac}/HP/0007", b"-26", T0)
    assert caplog.text.count("no sensor on pool") == 2
    assert {x.gateway: x.values for x in s.tick(T0 + I, T0 + I)} == {
        MAC: {"outdoor_temp": -2.6}, "aabbccddeeff": {"outdoor_temp": -2.6}}


def test_one_warning_per_register_and_kind_of_mistake_not_per_value(caplog):
    s = make()
    with caplog.at_level(logging.WARNING):
        for payload in (b"1600", b"1700", b"-900", b"abc", b"xyz"):
            s.accept(f"{MAC}/HP/0007", payload, T0)
        s.accept(f"{MAC}/HP/0009", b"1600", T0)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 3, warnings  # 0007 out of range, 0007 not a number, 0009 out of range
    assert s.stats.rejected == 6


# ------------------------------------------------------------------ payload forms (firmware)


@pytest.mark.parametrize(("mode", "payload", "value"), [
    ("raw", b"540", 54.0), ("raw", b"-26", -2.6), ("raw", b"65510", -2.6), ("raw", b"54.0", 54.0),
    ("raw", b"23.00", 23.0), ("raw", b" 215\n", 21.5),
    ("scaled", b"54", 54.0), ("scaled", b"-2.6", -2.6), ("scaled", b"23.00", 23.0),
    ("scaled", b"54.0", 54.0), ("scaled", b"-3", -3.0),
    ("auto", b"54.0", 54.0), ("auto", b"-2.6", -2.6), ("auto", b"23.00", 23.0),
])
def test_every_payload_form(mode, payload, value):
    s = make(payload_scale=mode)
    single = s.accept(f"{MAC}/HP/0009", payload, T0)
    assert single is not None and single.values == {"hot_water_top": value}
    assert s.tick(T0 + I, T0 + I)[0].values == {"hot_water_top": value}


@pytest.mark.parametrize(("mode", "payload", "cause"), [
    ("scaled", b"540", "540 °C outside plausible range"),
    ("raw", b"1501", "150.1 °C outside plausible range"),
    ("scaled", b"151.0", "151 °C outside plausible range"),
])
def test_implausible_in_the_configured_form_is_dropped(caplog, mode, payload, cause):
    s = make(payload_scale=mode)
    with caplog.at_level(logging.WARNING):
        assert s.accept(f"{MAC}/HP/0009", payload, T0) is None
    assert cause in caplog.text and s.tick(T0 + I, T0 + I) == []


@pytest.mark.parametrize("mode", ["raw", "scaled", "auto"])
def test_registers_without_a_factor_are_the_same_in_every_form(mode):
    s = make(payload_scale=mode)
    s.accept(f"{MAC}/HP/1A01", b"1", T0)
    s.accept(f"{MAC}/HP/6C60", b"107260", T0)
    s.accept(f"{MAC}/HP/8105", b"-120", T0)
    assert s.tick(T0 + I, T0 + I)[0].values == {"compressor": 1.0, "compressor_hours": 107260.0,
                                                 "degree_minutes": -120.0}


def test_auto_decides_raw_from_plausibility_and_says_so_once(caplog):
    s = make(payload_scale="auto")
    with caplog.at_level(logging.INFO):
        assert s.accept(f"{MAC}/HP/0007", b"12", T0) is None      # 1.2 or 12 C: no vote, held
        assert s.accept(f"{MAC}/HP/1A01", b"1", T0) is not None   # no factor: taken at once
        assert s.accept(f"{MAC}/HP/0009", b"512", T0) is None     # 51.2 C, not 512 C: raw 1
        assert s.tick(T0 + I, T0 + I)[0].values == {"compressor": 1.0}  # nothing guessed
        assert s.accept(f"{MAC}/HP/0002", b"355", T0 + I + 1) is None  # raw 2
        single = s.accept(f"{MAC}/HP/0206", b"550", T0 + I + 2)  # raw 3: decided
        s.accept(f"{MAC}/HP/0007", b"13", T0 + I + 3)            # from now on: raw
    assert single is not None and single.values == {
        "outdoor_temp": 1.2, "hot_water_top": 51.2, "radiator_forward": 35.5, "heat_curve_max": 55.0}
    assert s.tick(T0 + 2 * I, T0 + 2 * I)[0].values == {
        "outdoor_temp": 1.3, "compressor": 1.0, "hot_water_top": 51.2, "radiator_forward": 35.5,
        "heat_curve_max": 55.0}
    said = [r.getMessage() for r in caplog.records if "publishes" in r.getMessage()]
    assert len(said) == 1
    assert "raw (x10, like /api/alldata)" in said[0] and "0009=512 is 51.2 °C, not 512" in said[0]
    assert s.guesses[MAC].decided == "raw" and s.guesses[MAC].held == {}


def test_auto_decides_scaled_from_a_decimal_and_releases_what_it_held(caplog):
    s = make(payload_scale="auto")
    with caplog.at_level(logging.INFO):
        assert s.accept(f"{MAC}/HP/0007", b"12", T0) is None   # held
        single = s.accept(f"{MAC}/HP/0009", b"51.2", T0 + 1)   # a decimal: scaled, decided
        s.accept(f"{MAC}/HP/0002", b"35", T0 + 2)               # integers are now real units
    assert single.values == {"hot_water_top": 51.2, "outdoor_temp": 12.0}
    assert s.tick(T0 + I, T0 + I)[0].values == {"outdoor_temp": 12.0, "hot_water_top": 51.2,
                                                 "radiator_forward": 35.0}
    assert "already scaled (real units)" in caplog.text and "0009=51.2 is a decimal" in caplog.text


def test_auto_integers_plausible_either_way_or_neither_way_do_not_vote():
    s = make(payload_scale="auto")
    for idx, payload in (("0007", b"12"), ("0008", b"21"), ("3104", b"5"), ("2204", b"3"),
                         ("3109", b"2000"), ("0009", b"9999")):  # last two: garbage both ways
        assert s.accept(f"{MAC}/HP/{idx}", payload, T0) is None
    g = s.guesses[MAC]
    assert (g.raw, g.scaled, g.decided) == (0, 0, "")
    assert set(g.held) == {"0007", "0008", "3104", "2204", "3109", "0009"}
    s.accept(f"{MAC}/HP/0009", b"-480", T0)  # -48.0 C raw (no sensor) but -480 C scaled: raw
    assert (g.raw, g.held["0009"]) == (1, -480)  # the newest value per register is held


def test_auto_mixed_evidence_needs_a_clear_majority():
    s = make(payload_scale="auto")
    g = s.guesses.setdefault(MAC, ScaleGuess())
    reg = load_provider("thermia").register("0009")
    for _ in range(2):
        g.vote(reg, 512, False, T0)   # raw
    g.vote(reg, 54.0, True, T0)        # a decimal: 3 scaled votes
    assert (g.raw, g.scaled, g.decided) == (2, 3, "")  # 3 < 3 x 2: no decision yet
    for _ in range(7):
        g.vote(reg, 512, False, T0)
    assert (g.raw, g.decided) == (9, "raw")  # 9 >= 3 x 3


def test_auto_undecided_too_long_assumes_raw_and_warns(caplog):
    s = make(payload_scale="auto")
    with caplog.at_level(logging.INFO):
        s.accept(f"{MAC}/HP/0007", b"12", T0)
        s.accept(f"{MAC}/HP/0007", b"13", T0 + 599_999)
        assert s.guesses[MAC].decided == ""
        single = s.accept(f"{MAC}/HP/0008", b"21", T0 + 600_000)
    assert single.values == {"outdoor_temp": 1.3, "indoor_temp": 2.1}
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "Set MQTT_PAYLOAD_SCALE=raw or scaled" in warned[0].getMessage()
    assert s.guesses[MAC].timed_out


def test_auto_decides_per_gateway():
    s = make(payload_scale="auto")
    other = "aabbccddeeff"
    for idx, payload in (("0009", b"512"), ("0002", b"355"), ("0206", b"550")):
        s.accept(f"{MAC}/HP/{idx}", payload, T0)
    s.accept(f"{other}/HP/0009", b"51.2", T0)
    s.accept(f"{MAC}/HP/0007", b"12", T0 + 1)
    s.accept(f"{other}/HP/0007", b"12", T0 + 1)
    snaps = {x.gateway: x.values for x in s.tick(T0 + I, T0 + I)}
    assert snaps[MAC]["outdoor_temp"] == 1.2 and snaps[other]["outdoor_temp"] == 12.0
    assert (s.guesses[MAC].decided, s.guesses[other].decided) == ("raw", "scaled")


def test_auto_held_garbage_is_dropped_when_decided(caplog):
    s = make(payload_scale="auto")
    s.accept(f"{MAC}/HP/0007", b"12", T0)
    s.accept(f"{MAC}/HP/3104", b"5000", T0)   # 500 % raw, 5000 % scaled: garbage either way
    with caplog.at_level(logging.WARNING):
        s.accept(f"{MAC}/HP/0009", b"51.2", T0)  # decided: scaled
    assert "register 3104" in caplog.text
    assert s.tick(T0 + I, T0 + I)[0].values == {"outdoor_temp": 12.0, "hot_water_top": 51.2}


def test_round_mode_snapshot_is_the_message_in_its_window():
    s = make()
    single = s.accept(f"{MAC}/HP/0007", b"12", T0 + 29_999)
    assert (single.time_ms, single.values) == (T0, {"outdoor_temp": 1.2})
    assert s.accept(f"{MAC}/HP/0007", b"12", T0 + 30_000).time_ms == T0 + I


# ------------------------------------------------------------------ exact lines and counters


def warnings_of(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_defaults_are_auto_scale_and_unknown_registers_not_stored():
    s = Snapshotter(load_provider("thermia"), I, 300_000)
    assert s.payload_scale == "auto" and s.store_unknown is False
    s.accept(f"{MAC}/HP/EEEE", b"5", T0)
    s.accept(f"{MAC}/HP/1A01", b"1", T0)
    assert s.tick(T0 + I, T0 + I)[0].values == {"compressor": 1.0}


@pytest.mark.parametrize(("topic", "payload", "line"), [
    (f"{MAC}/HP/0007", b"", f"Dropped MQTT message on register 0007 from {MAC}: empty payload"),
    (f"{MAC}/HP/0007", b"abcdefghijklmnopq", f"Dropped MQTT message on register 0007 from {MAC}: "
                                              "not a number ('abcdefghijkl')"),
    (f"{MAC}/HP/0007", b"9" * 33, f"Dropped MQTT message on register 0007 from {MAC}: oversized payload (33 bytes)"),
    ("weird", b"1", "Dropped MQTT message on topic 'weird': unexpected topic shape"),
    ("/HP/0007", b"1", "Dropped MQTT message on topic '/HP/0007': unexpected topic shape"),  # empty MAC
    (f"{MAC}/hp/0007", b"1", f"Dropped MQTT message on topic '{MAC}/hp/0007': unexpected topic shape"),
    (f"{MAC}/HP/00071", b"1", f"Dropped MQTT message on topic '{MAC}/HP/00071': unexpected topic shape"),
])
def test_exact_warning_lines(caplog, topic, payload, line):
    s = make()
    with caplog.at_level(logging.WARNING):
        assert s.accept(topic, payload, T0) is None
    assert warnings_of(caplog) == [line]
    assert (s.stats.messages, s.stats.rejected, s.stats.accepted, s.stats.ignored) == (1, 1, 0, 0)
    assert s.gateways == {}


def test_a_payload_of_exactly_the_limit_is_read():
    s = make()
    payload = b" " * 29 + b"215"
    assert len(payload) == 32
    assert s.accept(f"{MAC}/HP/0009", payload, T0).values == {"hot_water_top": 21.5}


def test_one_warning_per_gateway_register_and_kind(caplog):
    s = make()
    long_a, long_b = "X" * 20 + "A", "X" * 20 + "B"  # the same first 20 characters: one warning
    with caplog.at_level(logging.WARNING):
        for mac in (MAC, "aabbccddeeff", MAC):
            s.accept(f"{mac}/HP/0007", b"", T0)
        s.accept(f"{MAC}/HP/{long_a}", b"1", T0)
        s.accept(f"{MAC}/HP/{long_b}", b"1", T0)
    assert warnings_of(caplog) == [
        f"Dropped MQTT message on register 0007 from {MAC}: empty payload",
        "Dropped MQTT message on register 0007 from aabbccddeeff: empty payload",
        f"Dropped MQTT message on topic '{MAC}/HP/{long_a}': unexpected topic shape",
    ]


@pytest.mark.parametrize(("store_unknown", "line", "values"), [
    (False, f"Unknown register: EEEE (brand thermia, gateway {MAC})", {"compressor": 1.0}),
    (True, f"Unknown register: EEEE (brand thermia, gateway {MAC}; stored as reg_EEEE)",
     {"compressor": 1.0, "reg_EEEE": 5.0}),
])
def test_unknown_register_line(caplog, store_unknown, line, values):
    s = make(store_unknown=store_unknown)
    with caplog.at_level(logging.WARNING):
        s.accept(f"{MAC}/HP/1A01", b"1", T0)
        s.accept(f"{MAC}/HP/EEEE", b"5", T0)
    assert warnings_of(caplog) == [line]
    assert s.tick(T0 + I, T0 + I)[0].values == values
    assert (s.stats.accepted, s.stats.ignored) == ((2, 0) if store_unknown else (1, 1))


def test_counters_over_a_mixed_stream():
    s = Snapshotter(load_provider("ivt"), I, 300_000, payload_scale="raw")
    s.accept(f"{MAC}/HP/0007", b"-26", T0)      # accepted
    s.accept(f"{MAC}/HP/0008", b"-483", T0)     # no sensor: ignored (nothing to store)
    s.accept(f"{MAC}/HP/EEEE", b"1", T0)        # unknown, not stored: ignored
    s.accept(f"{MAC}/HP/CMD", b"GETALL", T0)    # our own command: ignored
    s.accept(f"{MAC}/HP/0009", b"x", T0)        # rejected
    s.accept(f"{MAC}/HP/0009", b"99999", T0)    # rejected (raw domain)
    s.accept(f"{MAC}/HP/0009", b"512", T0)      # accepted
    s.accept("aabbccddeeff/HP/0007", b"12", T0)  # accepted, a second gateway
    st = s.stats
    assert (st.messages, st.accepted, st.rejected, st.ignored, st.snapshots) == (8, 3, 2, 3, 0)
    assert len(s.tick(T0 + I, T0 + I)) == 2
    assert len(s.tick(T0 + 2 * I, T0 + 2 * I)) == 2
    assert st.snapshots == 4


def test_gateway_lines_seen_named_silent_and_back(caplog):
    s = make(names={MAC: "house"})
    with caplog.at_level(logging.INFO):
        s.accept(f"{MAC}/HP/0007", b"12", T0)
        s.accept("aabbccddeeff/HP/0007", b"12", T0)
        s.tick(T0 + 330_000, T0 + 330_500)
        s.accept(f"{MAC}/HP/0007", b"13", T0 + 331_000)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        f"Gateway {MAC} seen on MQTT (stored as house)",
        "Gateway aabbccddeeff seen on MQTT",
        "Gateway house silent for 330 s: no snapshots until it publishes again",
        "Gateway aabbccddeeff silent for 330 s: no snapshots until it publishes again",
        "Gateway house publishes again; snapshots resume",
    ]


def test_a_silent_gateway_does_not_stop_the_others():
    s = make()
    s.accept("aaaaaaaaaaaa/HP/0007", b"12", T0)            # first in the table, goes silent
    s.accept(f"{MAC}/HP/0007", b"34", T0 + 300_000)
    snaps = s.tick(T0 + 330_000, T0 + 330_000)
    assert [(x.gateway, x.values) for x in snaps] == [(MAC, {"outdoor_temp": 3.4})]


def test_round_mode_snapshot_names_gateway_brand_and_source():
    s = make(names={MAC: "house"})
    single = s.accept(f"{MAC}/HP/0007", b"12", T0 + 5)
    assert (single.gateway, single.brand, single.source, single.time_ms) == ("house", "thermia", "mqtt", T0)


def test_absent_line_names_gateway_register_and_index(caplog):
    s = Snapshotter(load_provider("ivt"), I, 300_000, payload_scale="raw", names={MAC: "house"})
    with caplog.at_level(logging.INFO):
        s.accept(f"{MAC}/HP/0008", b"-483", T0)
    assert [r.getMessage() for r in caplog.records if "no sensor" in r.getMessage()] == [
        "Gateway house: no sensor on indoor_temp (0008 reads the 'not installed' value); not stored"]


# ------------------------------------------------------------------ auto mode, exactly


def test_auto_decision_line_exactly(caplog):
    s = make(payload_scale="auto")
    with caplog.at_level(logging.INFO):
        s.accept(f"{MAC}/HP/0009", b"512", T0)
        s.accept(f"{MAC}/HP/0002", b"355", T0)
        s.accept(f"{MAC}/HP/2201", b"5000", T0)   # 500 or 5000: no range on a mode, no vote
        s.accept(f"{MAC}/HP/0206", b"550", T0)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        f"MQTT gateway {MAC} publishes raw (x10, like /api/alldata) integers: 0009=512 is 51.2 °C, not 512; "
        "0002=355 is 35.5 °C, not 355; 0206=550 is 55 °C, not 550 (MQTT_PAYLOAD_SCALE=auto, 3 vote(s) to 0)",
        f"Gateway {MAC} seen on MQTT",
    ]


def test_auto_examples_are_at_most_three(caplog):
    s = make(payload_scale="auto")
    with caplog.at_level(logging.INFO):
        s.accept(f"{MAC}/HP/0009", b"512", T0)
        s.accept(f"{MAC}/HP/0002", b"355", T0)
        s.accept(f"{MAC}/HP/0001", b"54.5", T0)   # a decimal: 3 scaled votes, 2 raw: undecided
        for idx in ("0206", "0205", "0208", "0211", "0212", "0214", "0107"):
            s.accept(f"{MAC}/HP/{idx}", b"550", T0)
    (line,) = [r.getMessage() for r in caplog.records if "publishes" in r.getMessage()]
    assert line.count("; ") == 2 and line.endswith("(MQTT_PAYLOAD_SCALE=auto, 9 vote(s) to 3)")
    assert "0001=54.5 is a decimal" in line


def test_auto_timeout_line_and_decision_from_time_zero(caplog):
    s = make(payload_scale="auto")
    with caplog.at_level(logging.INFO):
        s.accept(f"{MAC}/HP/0007", b"12", 0)          # the very first moment counts as a start
        s.accept(f"{MAC}/HP/0008", b"21", 599_999)
        assert s.guesses[MAC].decided == ""
        s.accept(f"{MAC}/HP/0008", b"22", 600_000)
    assert s.guesses[MAC].decided == "raw" and s.guesses[MAC].timed_out
    assert warnings_of(caplog) == [
        f"MQTT gateway {MAC}: no payload told within 10 min whether its integers are raw or scaled; "
        "taking them as raw (x10, like /api/alldata). Set MQTT_PAYLOAD_SCALE=raw or scaled to say"]


def test_scaled_integer_votes_where_only_real_units_are_plausible(caplog):
    from heatpump_monitor.providers.registry import provider_from_dict

    p = provider_from_dict({"brand": "t", "registers": [
        {"index": "0009", "name": "hot_water_top", "min": 10.0, "source": "h1", "factor_source": "h1"},
        {"index": "0002", "name": "radiator_forward", "min": 10.0, "source": "h1", "factor_source": "h1"},
        {"index": "0003", "name": "heat_carrier_return", "min": 10.0, "source": "h1", "factor_source": "h1"},
    ]})
    s = Snapshotter(p, I, 300_000, payload_scale="auto")
    with caplog.at_level(logging.INFO):
        s.accept(f"{MAC}/HP/0009", b"54", T0)   # 5.4 C is below the 10 C minimum: scaled
        assert (s.guesses[MAC].raw, s.guesses[MAC].scaled) == (0, 1)
        s.accept(f"{MAC}/HP/0002", b"35", T0)
        single = s.accept(f"{MAC}/HP/0003", b"30", T0)
    assert single.values == {"hot_water_top": 54.0, "radiator_forward": 35.0, "heat_carrier_return": 30.0}
    (line,) = [r.getMessage() for r in caplog.records if "publishes" in r.getMessage()]
    assert "already scaled (real units) integers: 0009=54 is 54 °C, not 5.4; 0002=35 is 35 °C, not 3.5" in line


def test_bad_value_from_the_decoder_names_gateway_and_register(caplog):
    s = make()
    with caplog.at_level(logging.WARNING):
        for mac in (MAC, "aabbccddeeff"):
            s.accept(f"{mac}/HP/0007", b"32768", T0)
    assert warnings_of(caplog) == [
        f"Dropped MQTT message on register 0007 from {MAC}: -3276.8 °C outside plausible range -50..150",
        "Dropped MQTT message on register 0007 from aabbccddeeff: -3276.8 °C outside plausible range -50..150"]


def test_bad_topics_warned_per_gateway_and_last_level(caplog):
    s = make()
    with caplog.at_level(logging.WARNING):
        for topic in ("a/XX/1", "b/XX/1", "a/XX/2", f"{MAC}/HP/XYZ1", f"{MAC}/HP/XYZ2", "aabbccddeeff/HP/XYZ1"):
            s.accept(topic, b"1", T0)
    assert len(warnings_of(caplog)) == 5  # a/XX/2 repeats gateway a's topic mistake


def test_ignored_counts_every_message_with_nothing_to_store():
    s = Snapshotter(load_provider("ivt"), I, 300_000, payload_scale="raw")
    for _ in range(2):
        s.accept(f"{MAC}/HP/0008", b"-483", T0)  # no sensor
        s.accept(f"{MAC}/HP/EEEE", b"1", T0)     # unknown, not stored
        s.accept(f"{MAC}/HP/CMD", b"GETALL", T0)
    assert (s.stats.ignored, s.stats.accepted, s.stats.rejected) == (6, 0, 0)


def test_auto_unitless_example_and_decimals_add_up(caplog):
    s = make(payload_scale="auto")
    with caplog.at_level(logging.INFO):
        s.accept(f"{MAC}/HP/2204", b"900", T0)     # 90 or 900 (0..100): raw, no unit
        s.accept(f"{MAC}/HP/0009", b"512", T0)     # raw
        s.accept(f"{MAC}/HP/0001", b"30.5", T0)    # 3 scaled votes against 2 raw: undecided
        assert (s.guesses[MAC].raw, s.guesses[MAC].scaled, s.guesses[MAC].decided) == (2, 3, "")
        s.accept(f"{MAC}/HP/0002", b"35.5", T0)    # 6 against 2: scaled
    assert s.guesses[MAC].decided == "scaled"
    (line,) = [r.getMessage() for r in caplog.records if "publishes" in r.getMessage()]
    assert "2204=900 is 90, not 900; 0009=512 is 51.2 °C, not 512; 0001=30.5 is a decimal" in line
