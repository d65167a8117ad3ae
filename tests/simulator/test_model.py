"""The heat-pump model: encoding, decodability for every brand, and plausible physics."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from heatpump_monitor.providers import BRANDS, load_provider
from heatpump_monitor.providers.registry import provider_from_dict
from heatpump_monitor.simulator import PumpModel, RegisterRefused, encode_value, raw_to_value
from heatpump_monitor.simulator.model import FIRMWARES, WIDE_COUNTER_START, as_firmware

JAN_15_0500 = datetime(2026, 1, 15, 5, 0, tzinfo=timezone.utc).timestamp()
DAY = 86400
INDEX = re.compile(r"^[0-9A-F]{4}$")


def model(brand: str = "thermia", t: float = JAN_15_0500, **kw) -> PumpModel:
    return PumpModel(brand, seed=kw.pop("seed", 7), clock=lambda: t, **kw)


def day(m: PumpModel, step: int = 60, start: float = JAN_15_0500):
    """(t, values) over one simulated day."""
    for i in range(0, DAY, step):
        yield start + i, m.values(start + i)


def wide_counters(provider) -> list[str]:
    """Indices of the read-only 32-bit registers (counters; a writable one is a setting)."""
    return [idx for idx, reg in provider.registers.items() if reg.wide and not reg.writable]


@pytest.mark.parametrize("brand", BRANDS)
def test_raw_alldata_is_what_a_gateway_sends_current_firmware(brand):
    """Current firmware: signed JSON integers for negatives, 32-bit counters whole."""
    provider = load_provider(brand)
    m = model(brand)  # firmware="current" is the default
    assert m.firmware == "current"
    raw = m.raw_alldata()
    assert set(raw) == set(provider.registers)
    for idx, value in raw.items():
        reg = provider.registers[idx]
        assert INDEX.match(idx), idx
        assert type(value) is int, (idx, value)
        if reg.signed:
            assert -32768 <= value <= 32767, (idx, value)
        elif reg.wide:
            assert 0 <= value <= 2**32 - 1, (idx, value)
        else:
            assert 0 <= value <= 65535, (idx, value)
    assert raw["0007"] < 0  # 05:00 on a January morning: a negative outdoor temperature as is
    counters = wide_counters(provider)
    assert counters
    for idx in counters:  # every counter starts above 65535 (WIDE_COUNTER_START)
        assert raw[idx] > 65535, (idx, raw[idx])


@pytest.mark.parametrize("brand", BRANDS)
def test_raw_alldata_is_what_a_gateway_sends_old_firmware(brand):
    """Old firmware: every value 0..65535, negatives wrapped, counters cut to 16 bits."""
    provider = load_provider(brand)
    m = model(brand, firmware="old")
    raw = m.raw_alldata()
    current = model(brand).raw_alldata()
    assert set(raw) == set(provider.registers)
    for idx, value in raw.items():
        assert INDEX.match(idx), idx
        assert type(value) is int and 0 <= value <= 65535, (idx, value)
        assert value == current[idx] & 0xFFFF, idx  # the same number, written the old way
    assert raw["0007"] > 32767 and raw["0007"] == 65536 + current["0007"]


def test_unknown_firmware_is_refused():
    with pytest.raises(ValueError, match="firmware"):
        model(firmware="new")
    assert FIRMWARES == ("current", "old")


def test_as_firmware_and_encode_value():
    reg = load_provider("ivt").registers["0007"]  # s16, tenths
    assert encode_value(reg, -2.6) == -26
    assert encode_value(reg, -2.6, firmware="old") == 65510
    assert encode_value(reg, 27.5, firmware="old") == encode_value(reg, 27.5) == 275
    assert as_firmware(reg, -483, "old") == 65053 and as_firmware(reg, -483, "current") == -483
    for raw in (-26, 65510):
        assert raw_to_value(reg, raw) == pytest.approx(-2.6)
    counter = load_provider("ivt").registers["6C56"]  # u32
    assert counter.wide
    assert encode_value(counter, 107260) == 107260  # capture-lauri
    assert encode_value(counter, 107260, firmware="old") == 107260 - 65536
    assert raw_to_value(counter, 107260) == 107260


@pytest.mark.parametrize("brand", BRANDS)
@pytest.mark.parametrize("firmware", FIRMWARES)
@pytest.mark.parametrize("mean", [None, -18.0, 12.0, 25.0])
def test_every_register_decodes_cleanly_all_day(brand, firmware, mean):
    provider = load_provider(brand)
    m = model(brand, outdoor_mean=mean, firmware=firmware)
    names = {reg.name for reg in provider.registers.values()}
    for t in range(int(JAN_15_0500), int(JAN_15_0500) + DAY, 900):
        decoded = provider.decode_poll(m.raw_alldata(t))
        assert decoded.rejected == [] and decoded.unknown == [], (t, decoded.rejected, decoded.unknown)
        assert set(decoded.values) | set(decoded.absent) == names
        assert set(decoded.values) & set(decoded.absent) == set()
        served = m.values(t)
        for name, value in decoded.values.items():
            assert value == pytest.approx(served[name]), name


@pytest.mark.parametrize("brand", BRANDS)
def test_main_sensors_are_present(brand):
    decoded = load_provider(brand).decode_poll(model(brand).raw_alldata())
    for name in ("outdoor_temp", "indoor_temp", "radiator_forward", "brine_in_evaporator",
                 "brine_out_condenser", "hot_water_top", "compressor", "switch_valve"):
        assert name in decoded.values, name


def test_negative_temperatures_signed_now_wrapped_by_old_firmware():
    current = model("ivt", outdoor_mean=-8.0)  # 05:00 is the coldest hour of the day
    old = model("ivt", outdoor_mean=-8.0, firmware="old")
    value = current.values()["outdoor_temp"]
    assert value < 0 and old.values()["outdoor_temp"] == value
    assert current.raw_alldata()["0007"] == round(value * 10) < 0
    assert old.raw_alldata()["0007"] == 65536 + round(value * 10) > 32767
    for m in (current, old):
        decoded = load_provider("ivt").decode_poll({"0007": m.raw_alldata()["0007"]})
        assert decoded.values["outdoor_temp"] == pytest.approx(value)


@pytest.mark.parametrize("brand", BRANDS)
def test_firmwares_agree_on_every_16_bit_register(brand):
    """Same seed, same clock: both firmware forms decode to the same values and the same absent
    sensors; only the 32-bit counters differ (old firmware keeps their low 16 bits)."""
    provider = load_provider(brand)
    current, old = model(brand, outdoor_mean=-12.0), model(brand, outdoor_mean=-12.0, firmware="old")
    narrow = {reg.name for reg in provider.registers.values() if not reg.wide}
    wide = {reg.name: idx for idx, reg in provider.registers.items() if reg.wide}
    negatives = 0
    for t in range(int(JAN_15_0500), int(JAN_15_0500) + DAY, 1800):
        raw_c, raw_o = current.raw_alldata(t), old.raw_alldata(t)
        a, b = provider.decode_poll(raw_c), provider.decode_poll(raw_o)
        assert a.rejected == b.rejected == [] and a.unknown == b.unknown == []
        assert a.absent == b.absent
        assert {n: v for n, v in a.values.items() if n in narrow} == \
            {n: v for n, v in b.values.items() if n in narrow}
        assert set(a.values) == set(b.values)
        for name, idx in wide.items():
            assert raw_o[idx] == raw_c[idx] & 0xFFFF
            if raw_c[idx] > 65535:
                assert a.values[name] != b.values[name]  # the honest difference: wrapped
        negatives += sum(1 for v in raw_c.values() if v < 0)
        assert all(0 <= v <= 65535 for v in raw_o.values())
    assert negatives  # the comparison did cover negative numbers


@pytest.mark.parametrize("firmware", FIRMWARES)
def test_absent_sensors_read_as_absent_in_both_forms(firmware):
    """NIBE's uninstalled sensors send 32758 (the same in both forms); IVT's read -48.3 C:
    -483 from current firmware, 65053 from old firmware."""
    nibe, ivt = model("nibe", firmware=firmware), model("ivt", firmware=firmware)
    nibe_raw = nibe.raw_alldata()
    nibe_decoded = load_provider("nibe").decode_poll(nibe_raw)
    assert {"pool", "radiator_forward_2", "indoor_2"} <= set(nibe_decoded.absent)
    for name in nibe_decoded.absent:
        assert nibe_raw[load_provider("nibe").by_name(name).index] == 32758
    ivt_raw = ivt.raw_alldata()
    ivt_decoded = load_provider("ivt").decode_poll(ivt_raw)
    assert {"pool", "radiator_forward_2", "indoor_2"} <= set(ivt_decoded.absent)
    expected = -483 if firmware == "current" else 65053
    for name in ivt_decoded.absent:
        assert ivt_raw[load_provider("ivt").by_name(name).index] == expected
    for decoded in (nibe_decoded, ivt_decoded):  # the main sensors are installed
        assert "outdoor_temp" in decoded.values and "hot_water_top" in decoded.values
    # without absent sensors every optional one reads a value
    full = PumpModel("nibe", seed=7, clock=lambda: JAN_15_0500, absent_sensors=False, firmware=firmware)
    assert load_provider("nibe").decode_poll(full.raw_alldata()).absent == []


def test_outdoor_follows_a_daily_sine_with_its_minimum_in_the_morning():
    m = model(outdoor_mean=0.0, seed=1)
    midnight = datetime(2026, 1, 15, tzinfo=timezone.utc).timestamp()
    at = {h: m.outdoor(midnight + h * 3600) for h in range(24)}
    assert min(at, key=at.get) in (3, 4, 5, 6, 7)
    assert max(at, key=at.get) in (15, 16, 17, 18, 19)
    assert at[17] - at[5] > 7


def test_deterministic_given_seed_and_clock():
    a, b, c = model(seed=3), model(seed=3), model(seed=4)
    assert a.raw_alldata() == b.raw_alldata()
    t = JAN_15_0500 + 3 * 3600 + 600
    assert a.values(t) == b.values(t)
    assert any(a.values(t2) != c.values(t2) for t2 in range(int(t), int(t) + 7200, 600))


def test_reads_in_the_same_second_agree_and_time_scale_speeds_up():
    now = [JAN_15_0500 + 0.1]
    m = PumpModel("nibe", seed=2, clock=lambda: now[0], time_scale=60)
    first = m.raw_alldata()
    now[0] += 0.8  # same real second
    assert m.raw_alldata() == first
    t0 = m.sim_time()
    now[0] += 1.0
    assert m.sim_time() == t0 + 60  # one real second = one simulated minute
    now[0] += 30 * 60  # half an hour real = 30 simulated hours: the counters move
    assert m.values()["energy_total_kwh"] > m.values(t0)["energy_total_kwh"]


@pytest.mark.parametrize("brand", BRANDS)
def test_a_winter_day_cycles_compressor_and_hot_water(brand):
    m = model(brand, outdoor_mean=-3.0)
    start_temp, stop_temp = m._hot_water_temps()
    prev = None
    switches = charges = 0
    for t, v in day(m):
        if v["switch_valve"] == 1:
            assert v["compressor"] == 1  # the compressor charges the tank
        if prev is not None:
            switches += v["compressor"] != prev["compressor"]
            if prev["switch_valve"] == 0 and v["switch_valve"] == 1:
                charges += 1
                assert v["hot_water_top"] < start_temp + 0.3  # started because the tank cooled
            if prev["switch_valve"] == 1 and v["switch_valve"] == 0:
                assert prev["hot_water_top"] > stop_temp - 0.5  # stopped at the stop temperature
        prev = v
    assert switches >= 8  # on/off cycles, not a stuck compressor
    assert charges >= 2


def test_summer_runs_the_compressor_only_for_hot_water():
    m = model(outdoor_mean=24.0)
    samples = [v for _, v in day(m)]
    assert any(v["compressor"] == 1 for v in samples)
    assert all(v["compressor"] == v["switch_valve"] for v in samples)
    assert all(v["additional_heat"] == 0 for v in samples)


def test_additional_heat_only_when_cold():
    mild = [v for _, v in day(model(outdoor_mean=2.0))]
    assert all(v["additional_heat"] == 0 for v in mild)
    cold = [v for _, v in day(model(outdoor_mean=-15.0))]
    assert max(v["additional_heat"] for v in cold) > 20
    assert all(v["outdoor_temp"] < -9.5 for v in cold if v["additional_heat"] > 0)


def test_heating_physics_is_plausible():
    m = model("ivt", outdoor_mean=-5.0)
    rows = [v for _, v in day(m, step=30)]
    running = [v for v in rows if v["compressor"] == 1 and v["switch_valve"] == 0]
    assert running
    for v in rows:
        assert 19.5 < v["indoor_temp"] < 22.5
        assert 1.0 < v["brine_in_evaporator"] < 5.5
        assert v["brine_in_evaporator"] - v["brine_out_condenser"] <= 3.5
        assert v["alarm"] == 0 and v["alarm_code"] == 0
    # after a while of running the forward is near/above the setpoint, above the return, and the
    # brine comes back 1..3 C colder
    settled = [v for v in running if v["radiator_forward"] > v["heating_setpoint"] - 1]
    assert settled
    for v in settled:
        assert v["radiator_forward"] > v["radiator_return"]
        assert 1.0 <= v["brine_in_evaporator"] - v["brine_out_condenser"] <= 3.5


def test_values_change_continuously():
    """No jumps: within 10 simulated seconds each temperature moves at most its limit (hot gas
    follows the compressor fastest)."""
    limits = {"outdoor_temp": 0.2, "indoor_temp": 0.2, "radiator_forward": 1.0,
              "radiator_return": 1.0, "heat_carrier_forward": 1.5, "heat_carrier_return": 1.5,
              "hot_water_top": 0.5, "brine_in_evaporator": 0.5, "brine_out_condenser": 0.5,
              "hot_gas": 5.0}
    m = model("ivt", outdoor_mean=-12.0)
    prev = None
    for _, v in day(m, step=10):
        if prev is not None:
            for name, limit in limits.items():
                assert abs(v[name] - prev[name]) <= limit + 1e-9, (name, prev[name], v[name])
        prev = v


def test_hour_counters_grow_and_never_go_back():
    m = model("thermia")
    hours = [v["compressor_hours"] for _, v in day(m, step=600)]
    assert all(b >= a for a, b in zip(hours, hours[1:]))
    assert m.values(JAN_15_0500 + 3 * DAY)["compressor_hours"] > hours[0]
    assert m.values(JAN_15_0500 + 3 * DAY)["energy_kwh"] > m.values()["energy_kwh"]


def test_set_register_overrides_writable_registers():
    m = model("thermia")
    assert m.set_register("0203", 235) == 235
    assert m.raw_alldata()["0203"] == 235
    assert m.values()["room_temp_setpoint"] == 23.5
    # the house follows the new setpoint slowly: warmer by the next day than without the write
    assert m.values(JAN_15_0500 + DAY)["indoor_temp"] > model("thermia").values(JAN_15_0500 + DAY)["indoor_temp"] + 1.0
    with pytest.raises(RegisterRefused) as e:
        m.set_register("0001", 300)
    assert e.value.status == 403
    with pytest.raises(RegisterRefused) as e:
        m.set_register("FFFF", 1)
    assert e.value.status == 400
    with pytest.raises(RegisterRefused) as e:
        m.set_register("2204", 5000)  # 500 %, outside the register's range
    assert e.value.status == 400
    assert m.raw_alldata()["2204"] != 5000


@pytest.mark.parametrize("index, name, value", [("8255", "degree_minutes", -20.0),
                                                 ("2207", "heat_curve_offset", -2.0)])
def test_set_register_takes_both_forms_of_a_negative_value(index, name, value):
    """-20 (current firmware) and 65516 (old firmware) are the same write; the model stores the
    signed number and serves it in its own firmware's form."""
    provider = load_provider("nibe")
    assert provider.registers[index].signed and provider.registers[index].writable
    for firmware, served in (("current", -20), ("old", 65516)):
        for written in (-20, 65516):
            m = model("nibe", firmware=firmware)
            assert m.raw_alldata()[index] != served  # not what it was anyway
            assert m.set_register(index, written) == -20
            assert m.overrides[index] == -20
            assert m.raw_alldata()[index] == served
            assert m.values()[name] == value
            assert provider.decode_poll(m.raw_alldata()).values[name] == value
    m = model("nibe")
    for bad in (65536, -32769, 2**32):
        with pytest.raises(RegisterRefused) as e:
            m.set_register("8255", bad)
        assert e.value.status == 400
    with pytest.raises(RegisterRefused) as e:
        m.set_register("2207", -600)  # -60.0: outside -50..50
    assert e.value.status == 400
    assert m.overrides == {}


def test_hot_water_stop_setting_moves_the_charge():
    m = model("ivt", outdoor_mean=0.0)
    m.set_register("0208", 580)
    assert max(v["hot_water_top"] for _, v in day(m, step=120)) > 57.0


def test_any_register_of_any_provider_gets_a_plausible_value():
    """Registers the model has never heard of still decode, whatever their kind and range."""
    lines = [
        {"index": "0001", "name": "radiator_return"},
        {"index": "0030", "name": "mystery_temp", "min": 60.0, "max": 70.0},
        {"index": "0031", "name": "mystery_sensor", "absent_at_or_below": -48.0},
        {"index": "0032", "name": "pool", "absent_at_or_below": -48.0},
        {"index": "0033", "name": "pool_2", "absent_raw": 32758},
        {"index": "1B00", "name": "mystery_flag"},
        {"index": "2300", "name": "mystery_mode", "mapping": {3: "x", 5: "y"}},
        {"index": "2301", "name": "mystery_setting", "min": 10.0, "max": 20.0, "factor": 10},
        {"index": "2302", "name": "signed_setting", "size": "s16", "min": -5.0, "max": -1.0},
        {"index": "3300", "name": "mystery_percent", "factor": 10},
        {"index": "4400", "name": "mystery_current"},
        {"index": "5500", "name": "mystery_energy", "factor": 10, "max": 1000.0},
        {"index": "6600", "name": "mystery_hours"},
        {"index": "7700", "name": "mystery_minutes"},
        {"index": "8800", "name": "mystery_dm"},
        {"index": "9900", "name": "mystery_kw", "min": 2.0},
        {"index": "AA00", "name": "mystery_pulses"},
        {"index": "BA00", "name": "mystery_alarm"},
        {"index": "CC00", "name": "mystery_watts", "max": 10.0},
        {"index": "D000", "name": "mystery_number"},
        {"index": "0008", "name": "indoor_temp", "min": 30.0, "max": 40.0},
    ]
    provider = provider_from_dict({
        "brand": "odd",
        "h1ver_codes": ["77"],
        "registers": [{**d, "source": "h1", "factor_source": "h1"} for d in lines],
    })
    assert provider.registers["6600"].wide and provider.registers["AA00"].wide
    assert provider.registers["2302"].signed
    for firmware in FIRMWARES:
        m = PumpModel(provider, seed=5, clock=lambda: JAN_15_0500, firmware=firmware)
        for t in range(int(JAN_15_0500), int(JAN_15_0500) + 5 * DAY, 3 * 3600):
            raw = m.raw_alldata(t)
            decoded = provider.decode_poll(raw)
            assert decoded.rejected == [] and decoded.unknown == []
            assert set(decoded.absent) == {"pool", "pool_2"}
            assert raw["0033"] == 32758
            assert len(decoded.values) == len(provider.registers) - 2
            assert 30.0 <= decoded.values["indoor_temp"] <= 40.0  # clamped into the range
            assert decoded.values["mystery_mode"] in (3.0, 5.0)
            assert decoded.values["mystery_sensor"] > -48.0
            assert -5.0 <= decoded.values["signed_setting"] <= -1.0
            assert decoded.values["mystery_energy"] <= 1000.0  # a counter wraps at its maximum
            if firmware == "current":
                assert raw["2302"] < 0
                assert raw["6600"] > WIDE_COUNTER_START and raw["AA00"] > WIDE_COUNTER_START
            else:
                assert 32767 < raw["2302"] <= 65535
                assert all(0 <= v <= 65535 for v in raw.values())


# ---------------------------------------------------------------- realistic behaviour (issue 13)


def runs(samples: list[dict[str, float]], name: str = "compressor") -> list[int]:
    """Lengths (in samples) of the stretches where ``name`` is on."""
    out, cur = [], 0
    for v in samples:
        if v[name] > 0:
            cur += 1
        elif cur:
            out.append(cur)
            cur = 0
    return out


@pytest.mark.parametrize("mean, low, high", [(5.0, 10, 45), (-2.0, 6, 35)])
def test_compressor_cycles_with_hysteresis(mean, low, high):
    """Starts per day in a plausible range, more in mild weather; no flapping: every run and
    every pause lasts at least the minimum time (runs of 30 s samples)."""
    m = model("nibe", outdoor_mean=mean)
    samples = [v for _, v in day(m, step=30)]
    starts = sum(1 for a, b in zip(samples, samples[1:]) if a["compressor"] == 0 and b["compressor"] == 1)
    assert low <= starts <= high, starts
    on = runs(samples)[1:-1]  # the first and last may be cut by the day's edges
    off = runs([{"x": 1 - v["compressor"]} for v in samples], "x")[1:-1]
    assert on and off
    assert min(on) * 30 >= 10 * 60 - 30  # minimum on time
    assert min(off) * 30 >= 15 * 60 - 30  # minimum off time
    median = sorted(on)[len(on) // 2] * 30 / 60
    assert 15 <= median <= 90, median


def test_more_starts_in_mild_weather():
    def starts(mean: float) -> int:
        s = [v for _, v in day(model("thermia", outdoor_mean=mean), step=30)]
        return sum(1 for a, b in zip(s, s[1:]) if a["compressor"] == 0 and b["compressor"] == 1)
    assert starts(6.0) > starts(-12.0)


@pytest.mark.parametrize("brand", BRANDS)
def test_hot_water_charges_raise_the_tank(brand):
    m = model(brand, outdoor_mean=0.0)
    samples = [v for _, v in day(m, step=30)]
    charges = [i for i, (a, b) in enumerate(zip(samples, samples[1:]))
               if a["switch_valve"] == 0 and b["switch_valve"] == 1]
    assert 2 <= len(charges) <= 6, len(charges)
    for i in charges:
        end = next((j for j in range(i + 1, len(samples)) if samples[j]["switch_valve"] == 0), None)
        if end is not None:  # the tank is warmer at the end of the charge than at its start
            assert samples[end - 1]["hot_water_top"] > samples[i + 1]["hot_water_top"] + 3.0
    assert max(v["hot_water_top"] for v in samples) - min(v["hot_water_top"] for v in samples) > 5.0


def test_add_heat_only_on_cold_days():
    cold = [v for _, v in day(model("ivt", outdoor_mean=-14.0), step=60)]
    mild = [v for _, v in day(model("ivt", outdoor_mean=3.0), step=60)]
    assert sum(1 for v in cold if v["additional_heat"] > 0) > 60  # over an hour of it
    assert all(v["additional_heat"] == 0 for v in mild)
    # the heater backs the running compressor up, never heats alone (no alarm in these days)
    assert all(v["compressor"] == 1 for v in cold if v["additional_heat"] > 0 and v["alarm"] == 0)


@pytest.mark.parametrize("brand, name", [("thermia", "energy_kwh"), ("nibe", "energy_total_kwh"),
                                         ("ivt", "compressor_energy_heating"), ("nibe", "compressor_hours")])
@pytest.mark.parametrize("firmware", FIRMWARES)
def test_counters_grow_and_only_wrap_at_the_register_width(brand, name, firmware):
    provider = load_provider(brand)
    reg = provider.by_name(name)
    start = JAN_15_0500
    m = PumpModel(brand, seed=7, clock=lambda: start, history=3 * DAY, firmware=firmware)
    prev = None
    wraps = 0
    for i in range(0, 3 * DAY, 300):
        value = provider.decode_poll(m.raw_alldata(start - 3 * DAY + i)).values[name]
        if prev is not None:
            if value < prev:
                wraps += 1
                top = 65536 / reg.factor if (firmware == "old" or not reg.wide) else 2**32 / reg.factor
                assert prev + (value - prev) % top - prev < 50, (prev, value)  # a wrap, not a reset
            else:
                assert value - prev < 50  # 5 minutes: never a jump
        prev = value
    if name == "energy_kwh":  # thermia's kWh counter, cut to 16 bits by old firmware, wraps
        assert wraps == (1 if firmware == "old" else 0)  # within a demo's history
    assert prev is not None


def test_energy_counter_follows_power():
    """The kWh counter grows by the integral of the power register (within a few percent)."""
    provider = load_provider("nibe")
    m = model("nibe", outdoor_mean=-2.0)
    first = last = None
    integral = 0.0
    for t, v in day(m, step=30):
        integral += v["power_w"] / 1000 * 30 / 3600
        first = v if first is None else first
        last = v
    assert first and last
    counted = last["energy_total_kwh"] - first["energy_total_kwh"]
    assert counted == pytest.approx(integral, rel=0.05)
    assert 40 < counted < 150  # a large house on a winter day


def test_alarms_are_rare_and_clear():
    m = model("thermia", outdoor_mean=0.0)
    samples = [v for _, v in day(m, step=120, start=JAN_15_0500)]
    samples += [m.values(JAN_15_0500 + d * DAY + i) for d in range(1, 20) for i in range(0, DAY, 600)]
    alarming = [v for v in samples if v["alarm"] > 0]
    assert alarming  # some day of these 20 has one
    assert len(alarming) < 0.02 * len(samples)  # ... and it is rare
    assert all(v["alarm_code"] > 0 for v in alarming)
    assert samples[-1]["alarm"] == 0 or samples[0]["alarm"] == 0


def test_reads_in_any_order_agree():
    """The model has state, yet a read depends only on the instant: forwards, backwards or
    after a jump, the same answer."""
    a, b = model("ivt"), model("ivt")
    times = [JAN_15_0500 + s for s in (0, 3600, 7200, 40000, 86000)]
    forward = [a.raw_alldata(t) for t in times]
    backward = [b.raw_alldata(t) for t in reversed(times)][::-1]
    assert forward == backward


@pytest.mark.parametrize("brand", BRANDS)
def test_history_continues_into_live_reads(brand):
    """With ``history`` the simulation starts before it: the last history read and the first
    live one a step later are neighbours, and the history is no warm-up (tank and house
    already cycling at its first instant)."""
    now = [JAN_15_0500]
    m = PumpModel(brand, seed=7, clock=lambda: now[0], history=DAY)
    last = m.values(JAN_15_0500 - 30)
    now[0] += 30
    live = m.values()
    assert abs(live["outdoor_temp"] - last["outdoor_temp"]) < 0.5
    assert abs(live["hot_water_top"] - last["hot_water_top"]) < 1.0
    first = m.values(JAN_15_0500 - DAY)
    assert 19.0 < first["indoor_temp"] < 23.0


def test_concurrent_reads_agree():
    """The HTTP server, the MQTT publisher and a test read one model from their own threads;
    a read steps the simulation, so they take turns: all see the same answer."""
    import threading

    m = model("nibe")
    want = model("nibe").raw_alldata()
    got: list[dict[str, int]] = []
    threads = [threading.Thread(target=lambda: got.append(m.raw_alldata())) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(got) == 6 and all(g == want for g in got)
