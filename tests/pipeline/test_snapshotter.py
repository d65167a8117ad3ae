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


def test_silent_macs_are_asked_again_and_configured_ones_until_heard():
    assert make().silent_macs() == []  # nothing configured, nothing known
    s = make(macs=(MAC, "aabbccddeeff"))
    assert s.silent_macs() == [MAC, "aabbccddeeff"]  # configured, never heard from
    s.accept(f"{MAC}/HP/0007", b"12", T0)
    assert s.silent_macs() == ["aabbccddeeff"]
    s.accept("aabbccddeeff/HP/0007", b"34", T0 + 200_000)
    assert s.silent_macs() == []
    s.tick(T0 + 330_000, T0 + 330_000)  # MAC silent for 330 s > 300 s; the other for 130 s
    assert s.silent_macs() == [MAC]
    s.accept(f"{MAC}/HP/0007", b"13", T0 + 331_000)
    s.tick(T0 + 360_000, T0 + 360_000)
    assert s.silent_macs() == []


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
    (f"{MAC}/HP/XYZ1", b"1", "with a topic not <12 hex digits>/HP/<register>"),
    ("weird", b"1", "with a topic not <12 hex digits>/HP/<register>"),
    (f"{MAC}/XX/0007", b"1", "with a topic not <12 hex digits>/HP/<register>"),
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


@pytest.mark.parametrize("topic", [f"{MAC}/HP/CMD", f"{MAC}/HP/STATUS", f"{MAC}/HP/SET/0203", f"{MAC}/HP/a/b/c"])
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
    assert warnings_of(caplog) == [f"Dropped MQTT message on register 3104 from {MAC}: 5000 % outside plausible "
                                   "range 0..100"]
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


@pytest.mark.parametrize(("payload", "line"), [
    (b"", f"Dropped MQTT message on register 0007 from {MAC}: empty payload"),
    (b"abcdefghijklmnopq", f"Dropped MQTT message on register 0007 from {MAC}: not a number ('abcdefghijkl')"),
    (b"9" * 33, f"Dropped MQTT message on register 0007 from {MAC}: oversized payload (33 bytes)"),
])
def test_exact_warning_lines(caplog, payload, line):
    s = make()
    with caplog.at_level(logging.WARNING):
        assert s.accept(f"{MAC}/HP/0007", payload, T0) is None
    assert warnings_of(caplog) == [line]
    assert (s.stats.messages, s.stats.rejected, s.stats.accepted, s.stats.ignored, s.stats.refused) == (1, 1, 0, 0, 0)
    assert s.gateways[MAC].values == {} and s.tick(T0 + I, T0 + I) == []  # accepted gateway, nothing stored


def refused_line(n, causes, example):
    return (f"Refused {n} MQTT message(s): {causes} (e.g. topic {example}); refused messages are summed up at "
            "most once a minute")


TOPIC = "with a topic not <12 hex digits>/HP/<register>"


@pytest.mark.parametrize(("topic", "example"), [
    ("weird", "'weird'"),
    ("/HP/0007", "'/HP/0007'"),                                  # empty MAC
    (f"{MAC}/hp/0007", f"'{MAC}/hp/0007'"),
    (f"{MAC}/HP/00071", f"'{MAC}/HP/00071'"),
    (f"{MAC}/HP/XYZ1", f"'{MAC}/HP/XYZ1'"),
    ("cd4dee258ef/HP/0007", "'cd4dee258ef/HP/0007'"),            # 11 hex digits
    ("cd4dee258efa0/HP/0007", "'cd4dee258efa0/HP/0007'"),        # 13
    ("cd:4d:ee:25:8e:fa/HP/0007", "'cd:4d:ee:25:8e:fa/HP/0007'"),  # separators: not in a topic
    ("cd4dee258efg/HP/0007", "'cd4dee258efg/HP/0007'"),          # not hex
    ("cd4dee\\258efa/HP/0007", "'cd4dee\\\\258efa/HP/0007'"),  # a backslash, shown escaped
    ("cd4dee\n258ef/HP/0007", "'cd4dee\\n258ef/HP/0007'"),        # a newline, shown escaped
    (f"{MAC}\\/HP/0007", f"'{MAC}\\\\/HP/0007'"),              # a trailing backslash
    ("a" * 60_000 + "/HP/0001", "'" + "a" * 40 + "' (60008 characters)"),  # issue 10's MAC
])
def test_a_topic_that_is_not_a_mac_and_register_is_refused_and_shown_short(caplog, topic, example):
    s = make()
    with caplog.at_level(logging.INFO):
        assert s.accept(topic, b"215", T0) is None
    assert [r.getMessage() for r in caplog.records] == [refused_line(1, f"1 {TOPIC}", example)]
    assert max(len(r.getMessage()) for r in caplog.records) < 250
    assert (s.stats.messages, s.stats.rejected, s.stats.refused, s.stats.accepted, s.stats.ignored) == (1, 1, 1, 0, 0)
    assert s.gateways == {} and s.guesses == {} and s.tick(T0 + I, T0 + I) == []


def test_a_payload_of_exactly_the_limit_is_read():
    s = make()
    payload = b" " * 29 + b"215"
    assert len(payload) == 32
    assert s.accept(f"{MAC}/HP/0009", payload, T0).values == {"hot_water_top": 21.5}


def test_one_warning_per_gateway_register_and_kind(caplog):
    s = make()
    long_a, long_b = "X" * 20 + "A", "X" * 20 + "B"
    with caplog.at_level(logging.WARNING):
        for mac in (MAC, "aabbccddeeff", MAC):
            s.accept(f"{mac}/HP/0007", b"", T0)
        s.accept(f"{MAC}/HP/{long_a}", b"1", T0)
        s.accept(f"{MAC}/HP/{long_b}", b"1", T0)  # refused again within the minute: counted only
    assert warnings_of(caplog) == [
        f"Dropped MQTT message on register 0007 from {MAC}: empty payload",
        "Dropped MQTT message on register 0007 from aabbccddeeff: empty payload",
        refused_line(1, f"1 {TOPIC}", f"'{MAC}/HP/{long_a}'"),  # 40 characters: shown whole
    ]
    assert (s.stats.rejected, s.stats.refused) == (5, 2)


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
        f"Gateway {MAC} seen on MQTT",
        f"MQTT gateway {MAC} publishes raw (x10, like /api/alldata) integers: 0009=512 is 51.2 °C, not 512; "
        "0002=355 is 35.5 °C, not 355; 0206=550 is 55 °C, not 550 (MQTT_PAYLOAD_SCALE=auto, 3 vote(s) to 0)",
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


def test_bad_topics_are_summed_up_not_warned_per_made_up_gateway(caplog):
    s = make()
    with caplog.at_level(logging.WARNING):
        for topic in ("a/XX/1", "b/XX/1", "a/XX/2", f"{MAC}/HP/XYZ1", f"{MAC}/HP/XYZ2", "aabbccddeeff/HP/XYZ1"):
            s.accept(topic, b"1", T0)
    assert warnings_of(caplog) == [refused_line(1, f"1 {TOPIC}", "'a/XX/1'")]
    assert (s.stats.rejected, s.stats.refused, s.gateways) == (6, 6, {})


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


# ------------------------------------------------------------------ bounds (issue 10: a flood of made-up gateways)

from heatpump_monitor.pipeline import snapshotter as snapshotter_module  # noqa: E402

OTHER = "aabbccddeeff"


def gateway_macs(n, start=0x100000000000):
    return [f"{start + i:012x}" for i in range(n)]


def test_a_mac_in_upper_case_is_the_same_gateway_in_lower_case():
    s = make()
    s.accept(MAC.upper() + "/HP/0007", b"12", T0)
    s.accept(f"{MAC}/HP/0009", b"480", T0)
    assert [(x.gateway, x.values) for x in s.tick(T0 + I, T0 + I)] == [
        (MAC, {"outdoor_temp": 1.2, "hot_water_top": 48.0})]


def test_discovery_stops_at_max_gateways_and_the_known_ones_go_on(caplog):
    new = []
    s = make(max_gateways=3, on_new_gateway=new.append)
    macs = gateway_macs(5)
    with caplog.at_level(logging.INFO):
        for mac in macs:
            s.accept(f"{mac}/HP/0007", b"12", T0)
        for mac in macs[:3]:
            assert s.accept(f"{mac}/HP/0007", b"13", T0 + 1) is not None  # known: still accepted
    assert list(s.gateways) == macs[:3] and new == macs[:3]  # GETALL asked once per new gateway
    assert [r.getMessage() for r in caplog.records] == [f"Gateway {mac} seen on MQTT" for mac in macs[:3]] + [
        refused_line(1, "1 from gateways beyond MQTT_MAX_GATEWAYS=3", f"'{macs[3]}/HP/0007'")]
    assert (s.stats.accepted, s.stats.rejected, s.stats.refused) == (6, 2, 2)
    assert sorted(x.gateway for x in s.tick(T0 + I, T0 + I)) == macs[:3]


def test_without_a_limit_every_gateway_is_discovered():
    s = make()  # the class alone sets no limit; the MQTT collector always passes MQTT_MAX_GATEWAYS
    for mac in gateway_macs(50):
        s.accept(f"{mac}/HP/0007", b"12", T0)
    assert len(s.gateways) == 50 and s.stats.refused == 0


def test_a_retained_message_never_discovers_a_gateway(caplog):
    s = make(max_gateways=5)
    with caplog.at_level(logging.WARNING):
        assert s.accept(f"{MAC}/HP/0007", b"12", T0, retained=True) is None
    assert s.gateways == {} and warnings_of(caplog) == [
        refused_line(1, "1 retained from a gateway not seen yet", f"'{MAC}/HP/0007'")]
    s.accept(f"{MAC}/HP/0007", b"13", T0 + 1)                          # live: discovered
    assert s.accept(f"{MAC}/HP/0009", b"480", T0 + 2, retained=True).values == {"hot_water_top": 48.0}
    assert s.tick(T0 + I, T0 + I)[0].values == {"outdoor_temp": 1.3, "hot_water_top": 48.0}


def test_configured_gateways_only_and_retained_from_them_taken(caplog):
    new = []
    s = make(macs=(MAC,), max_gateways=1, on_new_gateway=new.append)
    with caplog.at_level(logging.WARNING):
        assert s.accept(f"{OTHER}/HP/0007", b"12", T0) is None
    assert s.accept(f"{MAC}/HP/0007", b"12", T0, retained=True).values == {"outdoor_temp": 1.2}
    assert list(s.gateways) == [MAC] and new == []  # a configured gateway is asked on connect
    assert warnings_of(caplog) == [refused_line(1, "1 from a gateway not in H66_MAC", f"'{OTHER}/HP/0007'")]


def test_commands_of_unknown_gateways_are_ignored_without_state():
    s = make(max_gateways=1)
    for mac in gateway_macs(5):
        s.accept(f"{mac}/HP/CMD", b"GETALL", T0)
        s.accept(f"{mac}/HP/SET/0203", b"1", T0)
    assert (s.stats.ignored, s.stats.refused, s.gateways) == (10, 0, {})


def test_refused_messages_summed_up_at_most_once_a_minute(caplog):
    s = make(max_gateways=1)
    s.accept(f"{MAC}/HP/0007", b"12", 0)
    with caplog.at_level(logging.WARNING):
        s.accept("weird", b"1", 0)                                  # the first: said at once
        s.accept(f"{OTHER}/HP/0007", b"1", 1)                       # beyond the limit
        s.accept("x/HP/0007", b"1", 2)
        s.accept(f"{OTHER}/HP/0007", b"1", 3, retained=True)
        s.tick(30_000, 59_999)                                       # within the minute: nothing
        assert len(caplog.records) == 1
        s.tick(60_000, 60_000)                                       # a minute after the first line
        s.tick(90_000, 90_000)                                       # nothing refused since: nothing
        s.accept(f"{OTHER}/HP/0007", b"1", 119_998)                 # within the minute: counted
        s.accept(f"{OTHER}/HP/0007", b"1", 119_999)
        s.accept("y", b"1", 120_000)                                # a minute on: said with them
    assert warnings_of(caplog) == [
        refused_line(1, f"1 {TOPIC}", "'weird'"),
        refused_line(3, f"1 from gateways beyond MQTT_MAX_GATEWAYS=1, 1 {TOPIC}, 1 retained from a gateway "
                        "not seen yet", f"'{OTHER}/HP/0007'"),
        refused_line(3, f"2 from gateways beyond MQTT_MAX_GATEWAYS=1, 1 {TOPIC}", f"'{OTHER}/HP/0007'"),
    ]
    assert (s.stats.refused, s.stats.rejected) == (7, 7)


@pytest.mark.parametrize(("topic", "shown"), [
    ("x" * 40, "'" + "x" * 40 + "'"),
    ("x" * 41, "'" + "x" * 40 + "' (41 characters)"),
])
def test_a_topic_is_shown_up_to_forty_characters(caplog, topic, shown):
    with caplog.at_level(logging.WARNING):
        make().accept(topic, b"1", T0)
    assert warnings_of(caplog) == [refused_line(1, f"1 {TOPIC}", shown)]


def test_a_silent_discovered_gateway_is_forgotten_and_its_place_freed(caplog):
    new = []
    s = make(max_gateways=1, payload_scale="auto", on_new_gateway=new.append)
    s.accept(f"{MAC}/HP/0007", b"12", T0)                      # held: auto mode undecided
    s.accept(f"{MAC}/HP/0009", b"", T0)                        # a warning remembered
    assert MAC in s.guesses and s.gateways[MAC].warned
    caplog.clear()
    with caplog.at_level(logging.INFO):
        s.tick(T0 + 330_000, T0 + 330_000)                     # silent: kept, asked again
        assert s.silent_macs() == [MAC]
        s.tick(T0 + 600_000, T0 + 600_000)                     # exactly twice the limit: kept
        assert MAC in s.gateways
        s.tick(T0 + 630_000, T0 + 600_001)                     # longer: forgotten
        assert s.gateways == {} and s.guesses == {} and s.silent_macs() == []
        s.accept(f"{OTHER}/HP/0007", b"12", T0 + 600_002)      # its place is free
    assert list(s.gateways) == [OTHER] and new == [MAC, OTHER]
    assert [r.getMessage() for r in caplog.records] == [
        f"Gateway {MAC} silent for 330 s: no snapshots until it publishes again",
        f"Gateway {MAC} silent for 600 s: forgotten (held values dropped, its place among MQTT_MAX_GATEWAYS "
        "free); found again when it publishes",
        f"Gateway {OTHER} seen on MQTT",
    ]


def test_a_forgotten_gateway_comes_back_as_new_and_warns_again(caplog):
    new = []
    s = make(on_new_gateway=new.append)
    s.accept(f"{MAC}/HP/0009", b"", T0)
    s.tick(T0 + 700_000, T0 + 700_000)
    with caplog.at_level(logging.WARNING):
        s.accept(f"{MAC}/HP/0009", b"", T0 + 700_001)
    assert new == [MAC, MAC] and warnings_of(caplog) == [
        f"Dropped MQTT message on register 0009 from {MAC}: empty payload"] * 2  # its warnings were forgotten too


def test_a_configured_gateway_is_never_forgotten():
    s = make(macs=(MAC,))
    s.accept(f"{MAC}/HP/0007", b"12", T0)
    s.tick(T0 + 10_000_000, T0 + 10_000_000)
    assert s.silent_macs() == [MAC]
    s.accept(f"{MAC}/HP/0009", b"480", T0 + 10_000_001)
    assert s.tick(T0 + 10_020_000, T0 + 10_020_000)[0].values == {"outdoor_temp": 1.2, "hot_water_top": 48.0}


def test_a_gateway_that_sends_only_garbage_is_forgotten_too():
    s = make(max_gateways=1)
    for k in range(0, 600_001, 30_000):
        s.accept(f"{MAC}/HP/0009", b"abc", T0 + k)             # no value: not heard as alive
    s.tick(T0 + 600_001, T0 + 600_001)
    assert s.gateways == {}


def test_warnings_per_gateway_are_bounded(caplog):
    s = make()
    with caplog.at_level(logging.WARNING):
        for i in range(300):
            s.accept(f"{MAC}/HP/{i:04X}", b"", T0)
        s.accept(f"{OTHER}/HP/0007", b"", T0)
    lines = warnings_of(caplog)
    assert len(lines) == snapshotter_module.MAX_WARNED + 2 == 258
    assert lines[255] == f"Dropped MQTT message on register 00FF from {MAC}: empty payload"
    assert lines[256] == (f"Gateway {MAC}: more than 256 kinds of bad messages; further ones are counted, "
                          "not logged")
    assert lines[257] == f"Dropped MQTT message on register 0007 from {OTHER}: empty payload"
    assert len(s.gateways[MAC].warned) == 257 and s.stats.rejected == 301


def test_unknown_registers_named_in_the_log_are_bounded(caplog):
    s = make()
    unknown = [f"{i:04X}" for i in range(0xE000, 0xE200)]
    assert not any(s.provider.register(i) for i in unknown)
    with caplog.at_level(logging.WARNING):
        for idx in unknown[:300]:
            s.accept(f"{MAC}/HP/{idx}", b"1", T0)
    lines = warnings_of(caplog)
    assert len(lines) == snapshotter_module.MAX_UNKNOWN_LOGGED == 256
    assert lines[-1] == f"Unknown register: E0FF (brand thermia, gateway {MAC})"
    assert s.stats.ignored == 300


def test_values_held_per_gateway_are_bounded(caplog):
    s = make(store_unknown=True)
    assert s.max_values == len(s.provider.registers) + 256
    unknown = [f"{i:04X}" for i in range(0xE000, 0xE200)]
    s.accept(f"{MAC}/HP/0007", b"12", T0)
    with caplog.at_level(logging.WARNING):
        for idx in unknown:
            s.accept(f"{MAC}/HP/{idx}", b"1", T0)
        assert s.accept(f"{MAC}/HP/E000", b"2", T0).values == {"reg_E000": 2.0}  # a held one: updated
        assert s.accept(f"{MAC}/HP/0009", b"480", T0) is None  # a new name beyond the bound
    assert len(s.gateways[MAC].values) == s.max_values
    too_many = [line for line in warnings_of(caplog) if "registers from one gateway" in line]
    assert too_many == [f"Dropped MQTT message on register reg_* from {MAC}: "
                        f"more than {s.max_values} registers from one gateway"]
    assert s.stats.rejected == len(unknown) + 2 - s.max_values


class NoWalk(dict):
    """The gateway table, refusing to be walked: the work per message must not depend on it."""

    def _walk(self, *a):
        raise AssertionError("walked every gateway for one message")

    __iter__ = keys = values = items = __len__ = _walk


def test_the_work_per_message_never_walks_the_gateways():
    s = make(max_gateways=None)
    for mac in gateway_macs(100):
        s.accept(f"{mac}/HP/0007", b"12", T0)
    s.gateways = NoWalk(s.gateways)
    for mac in gateway_macs(100):
        s.accept(f"{mac}/HP/0009", b"480", T0 + 1)          # known gateways
        s.accept(f"{mac}/HP/0009", b"x", T0 + 1)            # a bad value
        s.accept(f"{mac}/HP/0009", b"480", T0 + 1, retained=True)
        s.accept(f"{mac}x/HP/0009", b"480", T0 + 1)         # a bad topic
        s.accept(f"{mac}/HP/CMD", b"GETALL", T0 + 1)
    assert s.stats.accepted == 300


def test_the_discovery_limit_walks_nothing_either():
    s = make(max_gateways=100)
    for mac in gateway_macs(100):
        s.accept(f"{mac}/HP/0007", b"12", T0)
    s.gateways = NoWalk(s.gateways)
    NoWalk.__len__ = dict.__len__  # counting is O(1); only walking is refused
    try:
        for mac in gateway_macs(100, 0x200000000000):
            s.accept(f"{mac}/HP/0007", b"12", T0 + 1)     # beyond the limit
    finally:
        NoWalk.__len__ = NoWalk._walk
    assert s.stats.refused == 100


def test_auto_mode_names_the_gateway_of_a_bad_value_before_and_after_the_decision(caplog):
    with caplog.at_level(logging.WARNING):
        make(payload_scale="auto").accept(f"{MAC}/HP/0009", b"540.0", T0)  # undecided: a decimal, implausible
        s = make(payload_scale="auto")
        for idx, payload in (("0009", b"512"), ("0002", b"355"), ("0206", b"550")):
            s.accept(f"{MAC}/HP/{idx}", payload, T0)           # decided: raw
        s.accept(f"{MAC}/HP/0002", b"1501", T0)                # 150.1 C
    assert warnings_of(caplog) == [
        f"Dropped MQTT message on register 0009 from {MAC}: 540 °C outside plausible range -50..150",
        f"Dropped MQTT message on register 0002 from {MAC}: 150.1 °C outside plausible range -50..150"]
