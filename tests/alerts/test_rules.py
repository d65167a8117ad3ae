"""The rules engine driven by hand-built snapshot sequences (every rule: fires at the threshold
after its duration, does not flap at the threshold, resolves, reminds), the settings parser and
the messages."""

from __future__ import annotations

from typing import Iterable
from zoneinfo import ZoneInfo

import pytest

from heatpump_monitor.alerts import (
    MAX_CHARS,
    RULES,
    AlertEngine,
    AlertStore,
    AlertSettings,
    Notice,
    message,
    parse_alert_settings,
)
from heatpump_monitor.config import ConfigError
from heatpump_monitor.model import Snapshot

MIN = 60_000
HOUR = 3_600_000
T0 = 1_764_748_800_000  # 2025-12-03 08:00 UTC
GW = "192.168.1.50"

# values of a healthy pump of each brand (register names from the brand files)
HEALTHY = {
    "thermia": {"alarm": 0, "alarm_code": 0, "compressor": 1, "hot_water_top": 50.0, "brine_in_evaporator": 2.0,
                "brine_out_condenser": -1.0, "additional_heat": 0, "outdoor_temp": -5.0},
    "ivt": {"alarm": 0, "alarm_code": 18, "compressor": 1, "hot_water_top": 50.0, "brine_in_evaporator": 2.0,
            "brine_out_condenser": -1.0, "add_heat_step_1": 0, "add_heat_step_2": 0},
    "nibe": {"alarm_code": 0, "compressor": 1, "hot_water_top": 50.0, "brine_in_evaporator": 2.0,
             "brine_out_condenser": -1.0, "add_heat_kw": 0.0},
}


def snap(t: int, brand: str = "thermia", gateway: str = GW, **changes: float) -> Snapshot:
    return Snapshot(gateway, brand, "api", t, {**HEALTHY[brand], **changes})


def engine(**settings: object) -> AlertEngine:
    return AlertEngine(parse_alert_settings(settings))


def feed(e: AlertEngine, snaps: Iterable[Snapshot]) -> list[Notice]:
    return [n for s in snaps for n in e.observe(s)]


def kinds(notices: list[Notice], rule: str | None = None) -> list[tuple[str, str]]:
    return [(n.rule, n.kind) for n in notices if rule is None or n.rule == rule]


def every(start: int, end: int, step: int = MIN // 2) -> range:
    return range(start, end, step)


# -- hot water --------------------------------------------------------------------------------

def test_hot_water_fires_after_its_minutes_below_the_threshold_and_not_before():
    e = engine()
    assert feed(e, [snap(T0 + i * MIN, hot_water_top=39.9) for i in range(30)]) == []  # 0..29 min
    out = e.observe(snap(T0 + 30 * MIN, hot_water_top=39.5))
    assert kinds(out) == [("hot_water", "fired")]
    assert (out[0].since_ms, out[0].value, out[0].threshold) == (T0, 39.5, 40.0)


def test_hot_water_hovering_at_the_threshold_neither_fires_nor_flaps():
    e = engine()
    # alternating around 40 C for two hours: never 30 minutes below in a row
    hover = [snap(t, hot_water_top=39.9 if (t // MIN) % 2 else 40.1) for t in every(T0, T0 + 2 * HOUR, MIN)]
    assert feed(e, hover) == []
    # once fired, values up to 40 + 2 K (exclusive) do not resolve it
    assert kinds(feed(e, [snap(t, hot_water_top=38.0) for t in every(T0 + 2 * HOUR, T0 + 3 * HOUR, MIN)])) \
        == [("hot_water", "fired")]
    t = T0 + 3 * HOUR
    assert feed(e, [snap(t + i * MIN, hot_water_top=x) for i, x in enumerate([40.5, 39.9, 41.9, 40.0, 41.99])]) == []
    out = e.observe(snap(t + 10 * MIN, hot_water_top=42.0))
    # low since the hover's last 39.9 (minute 119), which the 38.0 run continued
    assert kinds(out) == [("hot_water", "resolved")] and out[0].value == 42.0 and out[0].since_ms == T0 + 119 * MIN


def test_a_disabled_rule_never_fires():
    e = engine(hot_water=False)
    assert feed(e, [snap(t, hot_water_top=10.0) for t in every(T0, T0 + 2 * HOUR, MIN)]) == []


# -- add-heat ---------------------------------------------------------------------------------

@pytest.mark.parametrize("brand,on,off", [
    ("thermia", {"additional_heat": 33.0}, {"additional_heat": 0.0}),  # percent of ADD_HEAT_KW
    ("ivt", {"add_heat_step_1": 1.0}, {"add_heat_step_1": 0.0}),  # steps of 3 and 6 kW
    ("nibe", {"add_heat_kw": 4.5}, {"add_heat_kw": 0.0}),  # its kW register
])
def test_add_heat_running_longer_than_its_minutes_fires_and_resolves_when_off(brand, on, off):
    e = engine(add_heat={"minutes": 60})
    assert feed(e, [snap(t, brand, **on) for t in every(T0, T0 + 60 * MIN)]) == []
    out = e.observe(snap(T0 + 60 * MIN, brand, **on))
    assert kinds(out) == [("add_heat", "fired")] and out[0].value > 0 and out[0].threshold == 60
    assert e.observe(snap(T0 + 61 * MIN, brand, **on)) == []
    assert kinds(e.observe(snap(T0 + 62 * MIN, brand, **off))) == [("add_heat", "resolved")]


def test_add_heat_switching_off_restarts_the_count():
    e = engine(add_heat={"minutes": 60})
    seq = [snap(t, additional_heat=50.0) for t in every(T0, T0 + 50 * MIN)]
    seq += [snap(T0 + 50 * MIN, additional_heat=0.0)]
    seq += [snap(t, additional_heat=50.0) for t in every(T0 + 51 * MIN, T0 + 100 * MIN)]
    assert feed(e, seq) == []


# -- brine delta T ----------------------------------------------------------------------------

def test_brine_delta_t_fires_holds_while_stopped_and_resolves_below_the_hysteresis():
    e = engine()
    high = {"brine_in_evaporator": 3.0, "brine_out_condenser": -3.0}  # 6 K
    assert feed(e, [snap(t, **high) for t in every(T0, T0 + 15 * MIN)]) == []
    out = e.observe(snap(T0 + 15 * MIN, **high))
    assert kinds(out) == [("brine_delta_t", "fired")] and (out[0].value, out[0].threshold) == (6.0, 5.0)
    # the compressor stops (delta T falls to 0): no evidence, no "resolved"
    t = T0 + 16 * MIN
    stopped = [snap(t + i * MIN, compressor=0, brine_in_evaporator=1.0, brine_out_condenser=1.0) for i in range(20)]
    assert feed(e, stopped) == []
    # 4.5 K is below 5 K but not by the 1 K hysteresis: still active
    t += 20 * MIN
    assert e.observe(snap(t, brine_in_evaporator=2.0, brine_out_condenser=-2.5)) == []
    out = e.observe(snap(t + MIN, brine_in_evaporator=2.0, brine_out_condenser=-2.0))  # 4.0 K
    assert kinds(out) == [("brine_delta_t", "resolved")]


def test_brine_at_exactly_the_threshold_does_not_fire():
    e = engine()
    five = {"brine_in_evaporator": 3.0, "brine_out_condenser": -2.0}
    assert feed(e, [snap(t, **five) for t in every(T0, T0 + HOUR)]) == []


# -- alarm ------------------------------------------------------------------------------------

def test_thermia_alarm_fires_at_once_with_the_brand_text_and_resolves():
    e = engine()
    assert e.observe(snap(T0)) == []
    out = e.observe(snap(T0 + 30_000, alarm=1, alarm_code=20))
    assert kinds(out) == [("alarm", "fired")] and out[0].alarm_text == "brine flow switch"
    assert e.observe(snap(T0 + 60_000, alarm=1, alarm_code=20)) == []
    out = e.observe(snap(T0 + 90_000, alarm=0, alarm_code=0))
    assert kinds(out) == [("alarm", "resolved")] and out[0].since_ms == T0 + 30_000
    assert out[0].alarm_text == "brine flow switch"


def test_ivt_alarm_follows_the_status_register_not_the_kept_alarm_number():
    e = engine()
    # BA91 keeps 18 after the alarm cleared: no alarm while 1A20 (alarm) is 0
    assert feed(e, [snap(t, "ivt", alarm=0, alarm_code=18) for t in every(T0, T0 + 10 * MIN)]) == []
    out = e.observe(snap(T0 + 10 * MIN, "ivt", alarm=1, alarm_code=18))
    assert kinds(out) == [("alarm", "fired")] and out[0].alarm_text == "brine in under limit GT10"
    assert kinds(e.observe(snap(T0 + 11 * MIN, "ivt", alarm=0, alarm_code=18))) == [("alarm", "resolved")]


def test_nibe_alarm_from_the_alarm_number_without_a_text_table():
    e = engine()
    out = feed(e, [snap(T0, "nibe"), snap(T0 + MIN, "nibe", alarm_code=162)])
    assert kinds(out) == [("alarm", "fired")] and out[0].alarm_text == "alarm 162" and out[0].value == 162
    assert kinds(e.observe(snap(T0 + 2 * MIN, "nibe", alarm_code=0))) == [("alarm", "resolved")]


def test_a_new_alarm_code_while_one_is_active_is_told():
    e = engine()
    e.observe(snap(T0, alarm=1, alarm_code=20))
    out = e.observe(snap(T0 + MIN, alarm=1, alarm_code=10))
    assert [(n.kind, n.alarm_text) for n in out] == [("resolved", "brine flow switch"), ("fired", "high pressure switch")]
    assert out[1].since_ms == T0 + MIN


# -- reminders --------------------------------------------------------------------------------

def test_a_reminder_every_reminder_hours_while_active_from_snapshots_and_ticks():
    e = engine(reminder_hours=12)
    e.observe(snap(T0, alarm=1, alarm_code=20))
    assert e.observe(snap(T0 + 12 * HOUR - 1, alarm=1, alarm_code=20)) == []
    out = e.observe(snap(T0 + 12 * HOUR, alarm=1, alarm_code=20))
    assert kinds(out) == [("alarm", "reminder")] and out[0].since_ms == T0
    assert e.observe(snap(T0 + 13 * HOUR, alarm=1, alarm_code=20)) == []
    # the gateway falls silent: the tick reminds (and tells the silence)
    out = e.tick(T0 + 24 * HOUR)
    assert sorted(kinds(out)) == [("alarm", "reminder"), ("gateway_silent", "fired")]


def test_no_reminders_when_reminder_hours_is_0():
    e = engine(reminder_hours=0)
    e.observe(snap(T0, alarm=1, alarm_code=20))
    assert feed(e, [snap(T0 + i * HOUR, alarm=1, alarm_code=20) for i in range(1, 50)]) == []


# -- gateway silent ---------------------------------------------------------------------------

def test_a_configured_gateway_that_never_reports_is_silent_after_its_minutes():
    e = AlertEngine(AlertSettings(), gateways=[GW])
    assert e.tick(T0) == [] and e.tick(T0 + 10 * MIN) == []
    out = e.tick(T0 + 10 * MIN + 1000)
    assert kinds(out) == [("gateway_silent", "fired")] and out[0].since_ms == T0 and out[0].threshold == 10
    assert e.tick(T0 + 20 * MIN) == []  # fired once
    out = e.observe(snap(T0 + 21 * MIN))
    assert kinds(out, "gateway_silent") == [("gateway_silent", "resolved")]


def test_silence_counts_from_the_last_snapshot():
    e = engine(gateway_silent={"minutes": 5})
    e.observe(snap(T0))
    assert e.tick(T0 + 5 * MIN) == []
    out = e.tick(T0 + 6 * MIN)
    assert kinds(out) == [("gateway_silent", "fired")] and out[0].since_ms == T0 and out[0].value == 6.0


# -- sensor missing ---------------------------------------------------------------------------

def test_a_register_absent_for_its_ticks_is_missing_and_back_resolves():
    e = engine(sensor_missing={"ticks": 3})
    e.observe(snap(T0))
    gone = {k: v for k, v in HEALTHY["thermia"].items() if k != "outdoor_temp"}
    out = feed(e, [Snapshot(GW, "thermia", "api", T0 + i * MIN, gone) for i in (1, 2)])
    assert out == []
    out = e.observe(Snapshot(GW, "thermia", "api", T0 + 3 * MIN, gone))
    assert kinds(out) == [("sensor_missing", "fired")] and out[0].alarm_text == "outdoor_temp"
    assert out[0].since_ms == T0 + 3 * MIN
    # an empty poll says nothing about sensors
    assert e.observe(Snapshot(GW, "thermia", "api", T0 + 4 * MIN, {})) == []
    assert kinds(e.observe(snap(T0 + 5 * MIN))) == [("sensor_missing", "resolved")]


def test_a_register_never_seen_is_not_missing():
    e = engine(sensor_missing={"ticks": 1})
    assert feed(e, [snap(T0 + i * MIN) for i in range(20)]) == []


# -- short-cycling ----------------------------------------------------------------------------

def cycling(start: int, end: int, on_min: int, off_min: int, brand: str = "thermia") -> list[Snapshot]:
    period = (on_min + off_min) * MIN
    return [snap(t, brand, compressor=1 if (t - start) % period < on_min * MIN else 0) for t in every(start, end)]


def test_short_cycling_needs_its_busy_hours_and_a_short_median_then_resolves():
    e = engine()
    # 4 min on, 4 min off: 7.5 starts an hour, median cycle 4 min
    out = feed(e, cycling(T0, T0 + 2 * HOUR + 30 * MIN, 4, 4))
    assert out == []  # two busy hours are not three
    out = feed(e, cycling(T0 + 2 * HOUR + 30 * MIN, T0 + 3 * HOUR + 30 * MIN, 4, 4))
    fired = [n for n in out if n.rule == "short_cycling"]
    assert [n.kind for n in fired] == ["fired"] and fired[0].value >= 3 and fired[0].threshold == 3
    assert fired[0].alarm_text == "median 4 min"
    # running steadily: resolved once no hour of the 6 h window is busy, not before
    t = T0 + 3 * HOUR + 30 * MIN
    steady = [snap(x, compressor=1) for x in every(t, t + 6 * HOUR)]
    out = kinds(feed(e, steady), "short_cycling")
    assert out == [("short_cycling", "resolved")]


def test_long_cycles_are_not_short_cycling_even_with_many_hours():
    e = engine(short_cycling={"starts": 2})
    # 20 min on, 10 min off: two starts an hour (busy by this setting) but a 20 min median
    assert kinds(feed(e, cycling(T0, T0 + 8 * HOUR, 20, 10)), "short_cycling") == []


@pytest.mark.parametrize("brand", ["thermia", "ivt", "nibe"])
def test_short_cycling_reads_each_brands_compressor(brand):
    e = engine()
    out = feed(e, cycling(T0, T0 + 4 * HOUR, 3, 3, brand))
    assert ("short_cycling", "fired") in kinds(out)


# -- engine limits ----------------------------------------------------------------------------

def test_gateways_beyond_max_gateways_are_not_tracked():
    e = engine(max_gateways=2)
    for g in ("a", "b", "c"):
        e.observe(snap(T0, gateway=g, alarm=1, alarm_code=20))
    assert e.tracked == 2
    assert {n.gateway for n in e.active()} == {"a", "b"}


def test_an_older_snapshot_changes_nothing():
    e = engine()
    e.observe(snap(T0 + 10 * MIN))
    assert e.observe(snap(T0, alarm=1, alarm_code=20)) == []
    assert e.active() == []


def test_an_unknown_brand_is_skipped_without_raising():
    e = engine()
    assert e.observe(Snapshot(GW, "daikin", "api", T0, {"alarm": 1})) == []


# -- settings ---------------------------------------------------------------------------------

def test_defaults_match_the_documented_thresholds():
    s = parse_alert_settings(None)
    assert (s.gateway_silent.minutes, s.add_heat.minutes, s.hot_water.below_c, s.hot_water.minutes,
            s.brine_delta_t.above_k, s.brine_delta_t.minutes, s.reminder_hours) == (10, 120, 40, 30, 5, 15, 12)
    assert (s.short_cycling.starts, s.short_cycling.hours, s.short_cycling.median_minutes) == (6, 3, 15)
    assert all(getattr(s, r).enabled for r in RULES)


def test_settings_mistakes_are_one_line_each_naming_the_key():
    with pytest.raises(ConfigError) as info:
        parse_alert_settings({"hot_watr": {}, "brine_delta_t": {"above_k": "x", "minuets": 3},
                              "language": "de"}, "config.yaml")
    lines = info.value.lines
    assert len(lines) == 4
    assert "config.yaml: alerts hot_watr: unknown key" in lines
    assert "config.yaml: alerts brine_delta_t minuets: unknown key" in lines
    assert any(line.startswith("config.yaml: alerts brine_delta_t above_k:") for line in lines)
    assert any(line.startswith("config.yaml: alerts language:") for line in lines)


def test_settings_rule_switches_and_section_type():
    s = parse_alert_settings({"add_heat": False, "alarm": True, "hot_water": {"below_c": 38}})
    assert not s.add_heat.enabled and s.alarm.enabled and s.hot_water.below_c == 38
    with pytest.raises(ConfigError):
        parse_alert_settings(["alarm"])
    with pytest.raises(ConfigError):
        parse_alert_settings({"short_cycling": {"hours": 7, "window_hours": 6}})


# -- messages ---------------------------------------------------------------------------------

SAMPLES = {"alarm": (20, None, "High pressure"), "gateway_silent": (12, 10, ""), "add_heat": (4.5, 120, ""), "add_heat_share": (62.5, 50, ""),
           "hot_water": (38.4, 40, ""), "brine_delta_t": (6.2, 5, ""), "short_cycling": (4, 3, "median 5 min"),
           "sensor_missing": (1, 10, "outdoor_temp"), "store_unreachable": (12, 10, ""),
           "spool_filling": (85, 80, ""), "not_stored": (16, 15, "")}


@pytest.mark.parametrize("language", ["en", "sv"])
@pytest.mark.parametrize("kind", ["fired", "resolved", "reminder"])
@pytest.mark.parametrize("rule", RULES)
def test_every_message_names_gateway_and_time_and_fits_a_lock_screen(rule, kind, language):
    value, threshold, text = SAMPLES[rule]
    n = Notice(GW, rule, kind, T0 + 12 * MIN, T0 + 13 * HOUR, value, threshold, text)
    m = message(n, language, ZoneInfo("UTC"))
    assert GW in m.title and ("Värmepump" if language == "sv" else "Heat pump") in m.title
    assert "08:12" in m.body
    assert len(m.title) + len(m.body) <= MAX_CHARS
    if kind == "fired" and rule not in ("alarm", "sensor_missing"):  # those name the alarm / registers
        assert f"{value:g}" in m.body
        if threshold is not None:
            assert f"{threshold:g}" in m.body
    if text:
        assert text in m.body or kind == "resolved"
    assert m.body.startswith(("still", "fortfarande")) == (kind == "reminder")


@pytest.mark.parametrize("language", ["en", "sv"])
@pytest.mark.parametrize("rule", RULES)
def test_long_names_are_cut_to_keep_the_bound(rule, language):
    n = Notice("g" * 100, rule, "reminder", T0, T0 + 30 * HOUR, 123456.7, 99999.5, "x" * 200)
    m = message(n, language)
    assert len(m.title) + len(m.body) <= MAX_CHARS
    assert "…" in m.title
    assert "3/12 08:00" in m.body  # another day: with the date


def test_the_issue_example_texts():
    n = Notice(GW, "alarm", "fired", T0 - 108 * MIN, T0, 10, None, "High pressure")
    assert message(n, "en").text == "Heat pump 192.168.1.50: alarm 'High pressure' since 06:12"
    n = Notice(GW, "alarm", "fired", T0 - 108 * MIN, T0, 10, None, "Högtryck")
    assert message(n, "sv").text == "Värmepump 192.168.1.50: larm 'Högtryck' sedan 06:12"
    # the owner's zone: 06:12 UTC is 07:12 in Stockholm
    assert "07:12" in message(n, "sv", ZoneInfo("Europe/Stockholm")).body


def test_a_change_across_a_silence_is_not_a_start():
    e = engine(short_cycling={"starts": 1})
    # one snapshot every 11 min (longer than gateway_silent's 10): on/off flips are unknown
    seq = [snap(T0 + i * 11 * MIN, compressor=i % 2) for i in range(60)]
    assert kinds(feed(e, seq), "short_cycling") == []
    # the same flips 5 minutes apart are starts (5 min cycles, busy hours)
    seq = [snap(T0 + 11 * HOUR + i * 5 * MIN, compressor=i % 2) for i in range(60)]
    assert ("short_cycling", "fired") in kinds(feed(e, seq))


# -- the collector's own: store and spool -------------------------------------------------------

def test_store_unreachable_for_its_minutes_fires_and_a_write_resolves():
    e = engine()
    assert e.observe_store(T0, True) == []
    out = [n for i in range(1, 11) for n in e.observe_store(T0 + i * MIN, False)]
    out += e.observe_store(T0 + 10 * MIN + 30_000, None)  # no write this tick: no change
    assert out == []
    out = e.observe_store(T0 + 11 * MIN, False)
    assert kinds(out) == [("store_unreachable", "fired")] and out[0].gateway == "collector"
    assert (out[0].since_ms, out[0].value, out[0].threshold) == (T0 + MIN, 10.0, 10.0)
    assert kinds(e.observe_store(T0 + 12 * MIN, True)) == [("store_unreachable", "resolved")]


def test_spool_filling_fires_at_its_percent_and_resolves_below_the_hysteresis():
    e = engine()
    assert e.observe_store(T0, None, 79.9) == []
    out = e.observe_store(T0 + MIN, None, 80.0)
    assert kinds(out) == [("spool_filling", "fired")] and out[0].value == 80.0
    assert e.observe_store(T0 + 2 * MIN, None, 79.0) == [] and e.observe_store(T0 + 3 * MIN, None, 81.0) == []
    assert e.observe_store(T0 + 4 * MIN, None, 70.1) == []
    assert kinds(e.observe_store(T0 + 5 * MIN, None, 70.0)) == [("spool_filling", "resolved")]


def test_partial_snapshots_neither_reset_a_count_nor_make_sensors_missing():
    # MQTT_TIMESTAMP_MODE=round stores one message at a time: snapshots of a single register
    e = engine(sensor_missing={"ticks": 3})
    seq: list[Snapshot] = []
    for i in range(31):
        seq.append(snap(T0 + i * MIN, hot_water_top=35.0))
        seq += [Snapshot(GW, "thermia", "mqtt", T0 + i * MIN + k * 10_000, {"outdoor_temp": -4.0}) for k in (1, 2, 3)]
    out = feed(e, seq)
    assert kinds(out) == [("hot_water", "fired")] and out[0].since_ms == T0


# -- not stored (the watcher) -----------------------------------------------------------------


def test_not_stored_fires_after_the_limit_resolves_on_new_data_and_reminds():
    e = engine(reminder_hours=2)
    assert e.observe_stored(T0 + 15 * MIN, {GW: T0}) == []  # exactly the limit: not yet
    [n] = e.observe_stored(T0 + 16 * MIN, {GW: T0})
    assert (n.rule, n.kind, n.since_ms, n.value, n.threshold) == ("not_stored", "fired", T0, 16.0, 15.0)
    assert e.observe_stored(T0 + 30 * MIN, {GW: T0}) == []  # no repeat
    assert kinds(e.tick(T0 + 16 * MIN + 2 * HOUR)) == [("not_stored", "reminder")]
    [r] = e.observe_stored(T0 + 3 * HOUR, {GW: T0 + 3 * HOUR - MIN})
    assert (r.kind, r.value) == ("resolved", 179.0)  # the gap it was silent, in minutes
    assert e.active() == []


def test_not_stored_forgets_a_retired_gateway_quietly(tmp_path):
    e = AlertEngine(parse_alert_settings({"not_stored": {"forget_days": 1}}), store=AlertStore(str(tmp_path / "a.sqlite3")))
    assert kinds(e.observe_stored(T0 + HOUR, {GW: T0})) == [("not_stored", "fired")]
    assert e.observe_stored(T0 + 25 * HOUR, {GW: T0}) == []  # no message: it was said
    assert e.active() == [] and e.store is not None and e.store.active() == []
    assert e.observe_stored(T0 + 26 * HOUR, {GW: T0, "old": T0 - 100 * HOUR}) == []  # never watched
    assert e.observe_stored(T0 + HOUR, {}) == [] and engine(not_stored=False).observe_stored(T0 + HOUR, {GW: T0}) == []


# -- add-heat share of today's heat ------------------------------------------------------------


def test_add_heat_share_of_todays_heat_fires_resolves_and_starts_again_each_local_day():
    e = engine(add_heat=False)
    # compressor heat 2.7 kW/K x 3 K = 8.1 kW, the heater at 100 % of ADD_HEAT_KW (9 kW): 52.6 %
    running = {"radiator_forward": 35.0, "radiator_return": 32.0}
    notices = feed(e, [snap(t, **running, additional_heat=100) for t in every(T0, T0 + HOUR)])
    [fired] = [n for n in notices if n.rule == "add_heat_share"]
    # nothing before 10 kWh of heat (17.1 kW: after 35 min), then 52.6 % > 50 %
    assert fired.kind == "fired" and fired.value == 52.6 and fired.threshold == 50
    assert T0 + 35 * MIN <= fired.time_ms <= T0 + 36 * MIN
    # the heater off: the share falls; resolved at 45 % (hysteresis 5), not at 50 %
    later = feed(e, [snap(t, **running, additional_heat=0) for t in every(T0 + HOUR, T0 + 4 * HOUR)])
    [resolved] = [n for n in later if n.rule == "add_heat_share"]
    assert resolved.kind == "resolved" and resolved.value <= 45.0 and resolved.value > 44.0
    # a new local day starts from nothing: 20 minutes of heater alone is under min_kwh
    next_day = T0 + 24 * HOUR
    assert kinds(feed(e, [snap(t, **running, additional_heat=100) for t in every(next_day, next_day + 20 * MIN)]),
                 "add_heat_share") == []


def test_add_heat_share_counts_nothing_across_a_gap():
    e = engine(add_heat=False, gateway_silent={"minutes": 10})
    seq = [snap(T0 + i * 11 * MIN, radiator_forward=35.0, radiator_return=32.0, additional_heat=100) for i in range(30)]
    assert kinds(feed(e, seq), "add_heat_share") == []


def test_add_heat_share_days_are_local_days_even_across_dst():
    from heatpump_monitor.config import AnalyticsConfig

    e = AlertEngine(parse_alert_settings({"add_heat": False}), analytics=AnalyticsConfig(tz=ZoneInfo("Europe/Stockholm")))
    # 2026-03-29 is 23 h long in Stockholm; its local midnight is 2026-03-28 23:00 UTC
    day_start = 1_774_738_800_000
    running = {"radiator_forward": 35.0, "radiator_return": 32.0}
    # the heater alone all evening before: fires; the new local day starts from nothing
    evening = [snap(t, **running, additional_heat=100) for t in every(day_start - 3 * HOUR, day_start)]
    assert ("add_heat_share", "fired") in kinds(feed(e, evening))
    gw = e._gateways[GW]
    feed(e, [snap(day_start + MIN, **running, additional_heat=100)])
    assert gw.day == (day_start, day_start + 23 * HOUR) and gw.heat_kwh < 1.0
