"""The summary rules on hand-built snapshot sequences with known answers: starts and cycles,
gaps ("unknown", never a start), counters that wrap or reset, cycles across midnight, DST days
of 23 and 25 hours, the short-cycling rule, hot-water cycles, alarms, measured vs estimated
energy, and prices."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from heatpump_monitor.analytics import Prices, Summarizer, hour_units, load_prices, profile_for, walk
from heatpump_monitor.analytics.prices import PriceFileError
from heatpump_monitor.analytics.summary import summarize
from heatpump_monitor.config import AnalyticsConfig
from heatpump_monitor.model import Snapshot
from heatpump_monitor.providers import load_provider
from heatpump_monitor.stores.embedded import EmbeddedReader, EmbeddedSink

UTC = ZoneInfo("UTC")
STHLM = ZoneInfo("Europe/Stockholm")
CONFIG = AnalyticsConfig(tz=UTC)
FLAT = Prices(2.0, "SEK")
I = 30_000  # interval, ms
H = 3_600_000
T0 = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp() * 1000)  # a Monday, midnight UTC


def thermia(**kw):
    return profile_for(load_provider("thermia"), replace(CONFIG, **kw))


def snaps(states, start=T0, step=I, brand="thermia", **const):
    """One snapshot per element of ``states`` (a dict of values, or None for a missing tick)."""
    out = []
    for k, v in enumerate(states):
        if v is not None:
            out.append(Snapshot("gw", brand, "api", start + k * step, {**const, **v}))
    return out


def pattern(on_min, off_min, hours, first_on=True, **values):
    """Compressor on ``on_min`` minutes, off ``off_min``, repeated for ``hours`` (30 s ticks)."""
    per = (on_min + off_min) * 2
    out = []
    for k in range(hours * 120):
        e = k % per
        on = e < on_min * 2 if first_on else e >= off_min * 2
        out.append({"compressor": 1.0 if on else 0.0, **values})
    return out


def one_period(units, start_ms, end_ms, profile, config=CONFIG, prices=FLAT):
    return summarize(units, datetime.fromtimestamp(start_ms / 1000, UTC), datetime.fromtimestamp(end_ms / 1000, UTC),
                     profile, prices, config).values


def run(states, hours, profile=None, start=T0, **kw):
    profile = profile or thermia()
    units = hour_units(start, start + hours * H)
    walk(units, snaps(states, start=start, **kw), I, profile)
    return units, one_period(units, start, start + hours * H, profile)


def test_starts_runtime_and_cycles_of_a_regular_pattern():
    # off 20 min first, then 10 on / 20 off: starts at 20, 50, 80, ... minutes
    units, v = run(pattern(10, 20, 3, first_on=False), 3)
    assert v["compressor_starts"] == 6
    assert v["cycles"] == 5  # the sixth run ends after the data
    assert v["cycle_median_min"] == 10.0 and v["cycle_mean_min"] == 10.0
    assert v["compressor_runtime_h"] == pytest.approx(1.0 - 0.5 / 60, abs=0.01)  # last tick's span not closed
    assert v["starts_per_hour"] == pytest.approx(6 / (3 - 0.5 / 60), abs=0.01)
    assert [u.starts for u in units] == [2, 2, 2]
    assert v["unknown_starts"] == 0 and v["unknown_h"] == 0


def test_a_run_going_on_when_the_data_begins_has_no_start_and_no_length():
    _, v = run(pattern(10, 20, 1, first_on=True), 1)
    # on 0-10 and 30-40 min: the run at 0 was not seen starting, so only the second is a cycle
    assert v["compressor_starts"] == 1
    assert v["cycles"] == 1 and v["cycle_median_min"] == 10.0


def test_a_gap_is_unknown_never_a_start_or_stop():
    # off 0-20 min, then on 10 / off 20: starts at 20, 50, 80 and 110 min
    states = pattern(10, 20, 2, first_on=False)
    # ticks 15 to 24.5 min missing: the start at 20 min happened inside the gap
    for k in range(30, 50):
        states[k] = None
    units, v = run(states, 2)
    assert v["unknown_h"] == pytest.approx((50 - 29) * I / H, abs=1e-3)
    assert v["compressor_starts"] == 3  # 50, 80, 110: the one in the gap is unknown
    assert v["unknown_starts"] == 1
    assert v["cycles"] == 2  # the run seen after the gap has no known start; the last no stop
    events = [(e.kind, e.time_ms - T0) for u in units for e in u.events]
    assert events[:3] == [("gateway_silent", 30 * I), ("gateway_back", 50 * I), ("compressor_off", 60 * I)]


def test_a_missed_single_tick_is_a_gap_but_not_lost_runtime():
    states = pattern(10, 20, 1, first_on=True)
    states[5] = None  # one tick
    _, v = run(states, 1)
    assert v["unknown_h"] == pytest.approx(2 * I / H, abs=1e-3)


def test_energy_counter_wraps_and_resets():
    base = pattern(30, 30, 2, first_on=True)
    kwh = [65530 + k // 20 for k in range(len(base))]  # +1 kWh every 10 minutes: 12 kWh in 2 h
    wrapped = [{**s, "energy_kwh": float(x % 65536)} for s, x in zip(base, kwh)]
    _, v = run(wrapped, 2)
    assert v["energy_kwh"] == 11.0  # 65530 -> 65535 -> 0 -> 5: whole kWh, as the counter counts
    assert v["energy_method"] == "counter" and "energy_kwh" not in v["estimated"]
    assert v["counter_resets"] == 0

    reset = [dict(s) for s in wrapped]
    for k, s in enumerate(reset[120:]):
        s["energy_kwh"] = 3.0 + k // 20  # the pump restarted: its counter starts again from 3
    _, r = run(reset, 2)
    assert r["counter_resets"] == 1
    # 65530 -> 65535, then 3 -> 8; the step across the reset (compressor off) counts nothing
    assert r["energy_kwh"] == 10.0


def test_a_huge_counter_jump_is_not_energy():
    base = [{"compressor": 1.0, "energy_kwh": 100.0} for _ in range(120)]
    base[60]["energy_kwh"] = 90_000.0  # a glitch, back to normal after
    _, v = run(base, 1)
    assert v["energy_kwh"] < 5  # the two glitch steps are estimated (2 kW x 30 s each), not 89,900 kWh


def test_power_integrated_when_there_is_no_counter():
    states = [{"compressor": 1.0, "power_w": 2000.0} for _ in range(120)]
    _, v = run(states, 1)
    assert v["energy_method"] == "power"
    assert v["energy_kwh"] == pytest.approx(2.0 * 119 / 120, abs=1e-3)
    assert "energy_kwh" not in v["estimated"] and "cop" in v["estimated"]


def test_rego_600_energy_is_estimated_from_runtime_and_add_heat_steps():
    ivt = profile_for(load_provider("ivt"), replace(CONFIG, compressor_kw=2.0))
    states = [{"compressor": 1.0, "add_heat_step_1": 1.0 if k < 60 else 0.0, "add_heat_step_2": 0.0}
              for k in range(121)]
    units, v = run(states, 1, profile=ivt, brand="ivt")
    assert v["energy_method"] == "estimate"
    assert v["energy_kwh"] == pytest.approx(2.0 + 3.0 * 0.5, abs=1e-6)  # 1 h x 2 kW + 30 min x 3 kW
    assert v["add_heat_h"] == pytest.approx(0.5) and v["add_heat_kwh"] == pytest.approx(1.5)
    assert {"energy_kwh", "cop", "cost", "add_heat_kwh"} <= set(v["estimated"])
    assert [e.kind for u in units for e in u.events] == ["add_heat_off"]


def test_cop_from_flow_factor_and_delta_t_split_by_the_switch_valve():
    p = thermia(flow_factor_kw_per_k=2.7)
    heating = {"compressor": 1.0, "power_w": 2000.0, "radiator_forward": 40.0, "radiator_return": 37.0,
               "switch_valve": 0.0}
    hot = {**heating, "switch_valve": 1.0, "radiator_return": 38.0}
    states = [heating] * 60 + [hot] * 61
    _, v = run(states, 1, profile=p)
    assert v["cop_heating"] == pytest.approx(2.7 * 3 / 2.0)
    assert v["cop_hot_water"] == pytest.approx(2.7 * 2 / 2.0)
    assert v["energy_hot_water_kwh"] == pytest.approx(1.0, abs=1e-6)
    assert "cop" in v["estimated"] and "heat_kwh" in v["estimated"]
    # not running or under 100 W: no heat counted
    _, idle = run([{**heating, "power_w": 50.0}] * 121, 1, profile=p)
    assert idle["cop"] is None and idle["heat_kwh"] is None


def test_measured_heat_makes_a_measured_cop():
    ivt = profile_for(load_provider("ivt"), CONFIG)
    counters = ("compressor_energy_heating", "compressor_energy_hot_water", "aux_energy_heating",
                "aux_energy_hot_water", "supplied_energy_heating", "supplied_energy_hot_water")
    states = []
    for k in range(121):
        s = {"compressor": 1.0, **dict.fromkeys(counters, 1000.0)}
        s["compressor_energy_heating"] = 1000.0 + k * 2.0 / 120  # 2 kWh in the hour
        s["supplied_energy_heating"] = 1000.0 + k * 7.0 / 120  # 7 kWh of heat
        states.append(s)
    _, v = run(states, 1, profile=ivt, brand="ivt")
    assert v["energy_method"] == "counter" and v["energy_kwh"] == pytest.approx(2.0)
    assert v["heat_kwh"] == pytest.approx(7.0) and v["cop"] == pytest.approx(3.5)
    assert "cop" not in v["estimated"] and "heat_kwh" not in v["estimated"]


def test_hot_water_cycles_count_duration_and_gain_and_skip_blips():
    s = []
    for k in range(240):
        if 20 <= k < 80:  # 30 minutes on hot water, 45 -> 52 C
            s.append({"compressor": 1.0, "switch_valve": 1.0, "hot_water_top": 45.0 + 7.0 * (k - 20) / 59})
        elif k == 150:  # a 30 s blip is noise
            s.append({"compressor": 1.0, "switch_valve": 1.0, "hot_water_top": 50.0})
        else:
            s.append({"compressor": 0.0, "switch_valve": 0.0, "hot_water_top": 45.0})
    units, v = run(s, 2)
    assert v["hot_water_cycles"] == 1
    assert v["hot_water_cycle_min"] == 30.0
    assert v["hot_water_gain_k"] == pytest.approx(7.0, abs=0.01)
    kinds = [e.kind for u in units for e in u.events]
    assert kinds.count("hot_water_start") == 2 and kinds.count("hot_water_end") == 2


def test_alarm_raised_and_cleared_with_the_brands_text():
    p = thermia()
    s = [{"alarm": 0.0, "alarm_code": 0.0}] * 10 + [{"alarm": 1.0, "alarm_code": 10.0}] * 20 + \
        [{"alarm": 0.0, "alarm_code": 0.0}] * 10
    units = hour_units(T0, T0 + H)
    provider = load_provider("thermia")
    walk(units, snaps(s), I, p, lambda v: provider.alarm_text(int(v.get("alarm_code", 0))))
    ev = [(e.kind, e.text, e.duration_s) for e in units[0].events]
    assert ev == [("alarm_raised", "high pressure switch", None), ("alarm_cleared", "", 600.0)]


def test_a_cycle_across_midnight_belongs_to_the_day_it_ended():
    start = T0 - 2 * H  # 22:00
    s = [{"compressor": 0.0}] * 220 + [{"compressor": 1.0}] * 60 + [{"compressor": 0.0}] * 200  # on 23:50-00:20
    units = hour_units(start, start + 4 * H)
    walk(units, snaps(s, start=start), I, thermia())
    day1 = one_period(units[:2], start, T0, thermia())
    day2 = one_period(units[2:], T0, T0 + 2 * H, thermia())
    assert (day1["compressor_starts"], day1["cycles"]) == (1, 0)
    assert (day2["compressor_starts"], day2["cycles"], day2["cycle_median_min"]) == (0, 1, 30.0)
    assert day1["compressor_runtime_h"] == pytest.approx(10 / 60, abs=1e-3)
    assert day2["compressor_runtime_h"] == pytest.approx(20 / 60, abs=1e-3)


def _day_units(hour_patterns):
    """24 hour units of T0's day, each hour with its own (on, off) minutes or None (idle)."""
    states = []
    for hp in hour_patterns:
        states += pattern(*hp, 1, first_on=False) if hp else [{"compressor": 0.0}] * 120
    states.append({"compressor": 0.0})
    units = hour_units(T0, T0 + 24 * H)
    walk(units, snaps(states), I, thermia())
    return units


def test_short_cycling_needs_busy_hours_and_a_short_median_sustained():
    busy = (3, 7)  # 6 starts an hour, 3-minute runs
    three = _day_units([busy] * 3 + [None] * 21)
    assert one_period(three, T0, T0 + 24 * H, thermia())["short_cycling"] is True
    one_busy = _day_units([busy] + [(25, 35)] * 23)  # one busy hour among normal ones
    v = one_period(one_busy, T0, T0 + 24 * H, thermia())
    assert v["short_cycling"] is False and v["short_cycling_hours"] == 1
    # busy hours but long cycles of the day (the median over the day is what counts)
    long = _day_units([busy] * 3 + [(50, 10)] * 21)
    lv = one_period(long, T0, T0 + 24 * H, thermia())
    assert lv["short_cycling_hours"] == 3 and lv["cycle_median_min"] > 15 and lv["short_cycling"] is False
    # the thresholds are settings
    strict = thermia(short_cycle_hours=4)
    assert one_period(three, T0, T0 + 24 * H, strict, config=strict.config)["short_cycling"] is False


def test_no_data_means_none_not_zero():
    units = hour_units(T0, T0 + H)
    v = one_period(units, T0, T0 + H, thermia())
    assert v["compressor_starts"] is None and v["energy_kwh"] is None and v["cop"] is None
    assert v["short_cycling"] is None and v["outdoor_mean"] is None and v["coverage"] == 0


def test_prices_from_a_csv_weight_each_hour(tmp_path):
    f = tmp_path / "spot.csv"
    f.write_text("time;price\n2026-01-05T00:00:00+00:00;1,00\n2026-01-05T01:00:00Z;3,00\n")
    prices = load_prices(2.0, "SEK", str(f), UTC)
    states = [{"compressor": 1.0, "power_w": 1000.0}] * 241
    units = hour_units(T0, T0 + 2 * H)
    walk(units, snaps(states), I, thermia())
    v = one_period(units, T0, T0 + 2 * H, thermia(), prices=prices)
    assert v["cost"] == pytest.approx(1.0 * 1 + 3.0 * 1)
    bad = tmp_path / "bad.csv"
    bad.write_text("time,price\n2026-01-05T00:00:00Z,1.0\nyesterday,2\n")
    with pytest.raises(PriceFileError, match=r"bad.csv, row 3"):
        load_prices(2.0, "SEK", str(bad), UTC)


@pytest.mark.parametrize("day,hours", [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 6, 1), 24)])
def test_local_days_of_23_and_25_hours(tmp_path, day, hours):
    cfg = AnalyticsConfig(tz=STHLM)
    start = int(datetime(day.year, day.month, day.day, tzinfo=STHLM).timestamp() * 1000)
    n = hours * 120
    states = [{"compressor": 1.0 if (k // 60) % 2 else 0.0, "outdoor_temp": -2.0} for k in range(n + 240)]
    path = tmp_path / "dst.sqlite3"
    EmbeddedSink(path).write_sync(snaps(states, start=start - 60 * I))
    s = Summarizer(EmbeddedReader(path), cfg, FLAT)
    info = s.gateway("gw")
    [p] = s.periods(info, day, day, "day")
    assert p.values["hours"] == hours
    assert p.start.isoformat().startswith(day.isoformat()) and p.end.date() > day
    assert p.values["snapshots"] == n and p.values["coverage"] == 1.0
    assert p.values["compressor_runtime_h"] == pytest.approx(hours / 2)
    assert len(s.periods(info, day, day, "hour")) == hours
