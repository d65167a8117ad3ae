"""The collector's per-poll behaviour, with a fake gateway client (pure unit tests)."""

import asyncio
import itertools
import logging

import pytest

from heatpump_monitor.pipeline.collector import ApiCollector, FatalError
from heatpump_monitor.pipeline.writer import Writer
from heatpump_monitor.sources.api import FetchError
from heatpump_monitor.sources.gateway import parse_gateway

TICK = 1_764_324_030_000


class FakeClient:
    def __init__(self, answers, h1ver="6011"):
        self.answers = answers  # gateway name -> dict or FetchError
        self.h1ver = h1ver
        self.status_calls = 0

    async def fetch_alldata(self, gw):
        a = self.answers[gw.name]
        if isinstance(a, Exception):
            raise a
        return a

    async def fetch_h1ver(self, gw):
        self.status_calls += 1
        if isinstance(self.h1ver, Exception):
            raise self.h1ver
        return self.h1ver


class NullSink:
    description = "null"

    async def write(self, s):
        pass


def make(answers, brand="thermia", store_unknown=False, h1ver="6011"):
    gws = [parse_gateway(n) for n in answers]
    return ApiCollector(gws, brand, 30, Writer(NullSink()), FakeClient(answers, h1ver), store_unknown=store_unknown)


def poll_all(c, tick=TICK):
    return asyncio.run(c.poll_all(tick))


def test_every_value_of_a_poll_gets_the_tick_timestamp():
    c = make({"gw1:80": {"0001": 275, "0007": 65483, "1A01": 1}, "gw2:80": {"0007": 12}})
    snaps = poll_all(c)
    assert [(s.gateway, s.time_ms, s.source, s.brand) for s in snaps] == [
        ("gw1:80", TICK, "api", "thermia"), ("gw2:80", TICK, "api", "thermia")]
    assert snaps[0].values == {"radiator_return": 27.5, "outdoor_temp": -5.3, "compressor": 1.0}
    assert snaps[1].values == {"outdoor_temp": 1.2}


def test_bad_values_dropped_with_warning_naming_register_rest_kept(caplog):
    c = make({"gw": {"0001": "275", "0002": 27.5, "0007": 70000, "0009": 480}})
    with caplog.at_level(logging.WARNING):
        snaps = poll_all(c)
        poll_all(c, TICK + 30_000)  # same faults again: no new warnings
    assert snaps[0].values == {"hot_water_top": 48.0}
    warns = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warns) == 3
    assert any("register 0001" in w and "not an integer (str)" in w for w in warns)
    assert any("register 0002" in w and "not an integer (float)" in w for w in warns)
    assert any("register 0007" in w and "outside -32768..65535 (16-bit register)" in w for w in warns)
    assert c.stats.values_rejected == 6


def test_all_values_bad_is_a_failed_poll(caplog):
    c = make({"gw": {"0001": "275", "0007": "12"}})
    with caplog.at_level(logging.ERROR):
        assert poll_all(c) == []
    assert "Failed to fetch data from API: answer had no valid register values (2 rejected) (gateway gw)" in caplog.text


def test_empty_answer_warns_no_data(caplog):
    c = make({"gw": {}})
    with caplog.at_level(logging.WARNING):
        assert poll_all(c) == []
    assert "No data received from API" in caplog.text
    assert c.stats.polls_empty == 1


def test_fetch_error_logged_with_cause_and_next_tick_runs(caplog):
    answers = {"gw": FetchError("HTTP 500 Internal Server Error from http://gw/api/alldata")}
    c = make(answers)
    with caplog.at_level(logging.INFO):
        assert poll_all(c) == []
        answers["gw"] = {"0007": 10}
        c.client.answers = answers
        assert len(poll_all(c, TICK + 30_000)) == 1
    assert "Failed to fetch data from API: HTTP 500 Internal Server Error from http://gw/api/alldata (gateway gw)" in caplog.text
    assert "Gateway gw answers again" in caplog.text


def test_unknown_register_logged_once_per_run_and_stored_on_request(caplog):
    c = make({"gw": {"0007": 10, "EEEE": 5, "eeee": 5}}, store_unknown=True)
    with caplog.at_level(logging.WARNING):
        s1 = poll_all(c)
        poll_all(c, TICK + 30_000)
    assert s1[0].values["reg_EEEE"] == 5.0
    assert caplog.text.count("Unknown register: EEEE") == 1
    c2 = make({"gw": {"0007": 10, "EEEE": 5}})
    assert "reg_EEEE" not in poll_all(c2)[0].values


def test_auto_brand_detection(caplog):
    c = make({"gw": {"0007": 10}}, brand="auto", h1ver="0012")
    with caplog.at_level(logging.INFO):
        snaps = poll_all(c)
        poll_all(c, TICK + 30_000)
    assert snaps[0].brand == "ivt"
    assert c.client.status_calls == 1  # detected once
    assert "detected brand ivt from H1ver=0012" in caplog.text


def test_auto_brand_unknown_code_disables_gateway_then_fatal(caplog):
    c = make({"gw": {"0007": 10}}, brand="auto", h1ver="2003")

    async def go():
        stop = asyncio.Event()
        c.ticker.interval_ms = 1000
        c.ticker.clock = itertools.count(0, 0.5).__next__  # a fast clock: the first tick comes at once
        await asyncio.wait_for(c.run(stop), 2)

    with caplog.at_level(logging.ERROR), pytest.raises(FatalError) as e:
        asyncio.run(go())
    assert "H1ver='2003' (an unknown controller) is not supported" in str(e.value)
    assert "set HEATPUMP_BRAND to one of thermia, ivt, nibe" in caplog.text


def test_auto_brand_status_unreachable_retries_next_tick(caplog):
    c = make({"gw": {"0007": 10}}, brand="auto", h1ver=FetchError("cannot connect"))
    with caplog.at_level(logging.ERROR):
        assert poll_all(c) == []
    assert "Cannot detect the brand of gateway gw" in caplog.text
    c.client.h1ver = "4012"
    assert poll_all(c, TICK + 30_000)[0].brand == "nibe"


def test_both_number_forms_and_wide_counters_in_one_poll():
    c = make({"new:80": {"0007": -26, "6C60": 107260, "8105": -120},
              "old:80": {"0007": 65510, "6C60": 41724, "8105": 65416}})
    new, old = poll_all(c)
    assert new.values == {"outdoor_temp": -2.6, "compressor_hours": 107260.0, "degree_minutes": -120.0}
    assert old.values == {"outdoor_temp": -2.6, "compressor_hours": 41724.0, "degree_minutes": -120.0}
    assert c.stats.values_rejected == 0


def test_absent_sensor_not_stored_said_once_per_gateway_not_a_bad_value(caplog):
    c = make({"a:80": {"0007": -26, "0008": -483}, "b:80": {"0007": -26, "0008": 65053}}, brand="ivt")
    with caplog.at_level(logging.INFO):
        first = poll_all(c)
        poll_all(c, TICK + 30_000)
    assert [s.values for s in first] == [{"outdoor_temp": -2.6}] * 2
    said = [r.getMessage() for r in caplog.records if "no sensor" in r.getMessage()]
    assert len(said) == 2
    assert "Gateway a:80: no sensor on indoor_temp (register 0008 sends -483" in said[0]
    assert "Gateway b:80: no sensor on indoor_temp (register 0008 sends 65053" in said[1]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert c.stats.values_rejected == 0


def test_register_overrides_from_the_configuration_are_used():
    from heatpump_monitor.providers.overrides import parse_overrides

    overrides, errors = parse_overrides({"6C56": {"factor": 10}, "6C70": {"name": "pool_pump_hours"}}, "cfg.yaml")
    assert errors == []
    gws = [parse_gateway("gw")]
    c = ApiCollector(gws, "ivt", 30, Writer(NullSink()), FakeClient({"gw": {"6C56": 107260, "6C70": 5}}),
                     registers=overrides)
    assert poll_all(c)[0].values == {"compressor_hours_hot_water": 10726.0, "pool_pump_hours": 5.0}


def test_one_warning_per_register_and_kind_not_per_value(caplog):
    c = make({"gw": {"0007": 1600, "0009": 480}})
    with caplog.at_level(logging.WARNING):
        poll_all(c)
        c.client.answers["gw"] = {"0007": 1700, "0009": 480}
        poll_all(c, TICK + 30_000)
    assert len(caplog.records) == 1 and "160 °C outside plausible range" in caplog.text
    assert c.stats.values_rejected == 2


@pytest.mark.attack("10")
def test_an_answer_of_65536_registers_gives_a_few_lines_and_a_bounded_row(caplog):
    flood = {f"{i:04X}": 70000 if i % 2 else 1 for i in range(65536)}  # every index, half bad
    c = make({"gw": flood}, store_unknown=True)
    with caplog.at_level(logging.INFO):
        (snap,) = poll_all(c)
        poll_all(c, TICK + 30_000)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) <= 2 * 10 + 4, len(lines)
    assert any(l.startswith("Unknown registers: ") and " more (brand thermia, gateway gw; stored as "
               "reg_<INDEX> (at most 256 per answer))" in l for l in lines)
    assert any(l.startswith("Dropped ") and " more invalid value(s) from gw in this answer" in l for l in lines)
    assert len(snap.values) <= 256 + 39  # the brand's own registers and at most 256 unknown ones
    assert c.stats.values_rejected >= 2 * 128  # every bad value is counted, not every one is said


@pytest.mark.attack("1")
def test_an_exception_decoding_one_gateway_does_not_stop_the_others(caplog, monkeypatch):
    c = make({"bad": {"0007": 10}, "good": {"0007": 12}})
    real = c.gateways[0].provider.decode_poll

    def boom(raw, **kw):
        if raw == {"0007": 10}:
            raise RecursionError("maximum recursion depth exceeded")
        return real(raw, **kw)

    for g in c.gateways:
        monkeypatch.setattr(g, "provider", type("P", (), {"decode_poll": staticmethod(boom), "brand": "thermia",
                                                          "by_name": real.__self__.by_name})())
    with caplog.at_level(logging.ERROR):
        snaps = poll_all(c)
    assert [s.gateway for s in snaps] == ["good"]
    assert "Failed to fetch data from API: unexpected RecursionError while decoding the answer: " \
           "maximum recursion depth exceeded (gateway bad)" in caplog.text
    assert c.stats.failures["internal"] == 1


def test_one_line_per_outage_a_reminder_and_one_on_recovery(caplog):
    now = [1_000.0]
    c = make({"gw": FetchError("cannot connect to http://gw/api/alldata: connection refused", "connect")})
    c.clock = lambda: now[0]
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            poll_all(c)
            now[0] += 30
        c.client.answers["gw"] = FetchError("HTTP 500 Internal Server Error from http://gw/api/alldata", "http_status")
        for _ in range(25):  # 750 s: one reminder after 600 s of the same cause
            poll_all(c)
            now[0] += 30
        c.client.answers["gw"] = {"0007": 12}
        poll_all(c)
        poll_all(c)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "Failed to fetch data from API: cannot connect to http://gw/api/alldata: connection refused (gateway gw)",
        "Failed to fetch data from API: HTTP 500 Internal Server Error from http://gw/api/alldata (gateway gw)",
        "Failed to fetch data from API: HTTP 500 Internal Server Error from http://gw/api/alldata "
        "(gateway gw; failing for 12 min 30 s, 26 poll(s))",
        "Gateway gw answers again (30 poll(s) failed in 15 min 0 s)",
    ]
    assert c.stats.polls_failed == 30 and c.stats.failures == {"connect": 5, "http_status": 25}


@pytest.mark.attack("10")
def test_the_start_up_line_names_at_most_ten_gateways():
    from heatpump_monitor.pipeline.run import some_names

    assert some_names(["a", "b"]) == "a, b"
    assert some_names([str(i) for i in range(10)]) == "0, 1, 2, 3, 4, 5, 6, 7, 8, 9"
    line = some_names([f"127.0.0.1:{p}" for p in range(20000, 25000)])
    assert line.endswith("127.0.0.1:20009 and 4990 more") and len(line) < 200


class SlowClient(FakeClient):
    """Answers {"0007": 10} after ``delays[name]`` seconds; records how many polls overlap."""

    def __init__(self, delays):
        super().__init__({n: {"0007": 10} for n in delays})
        self.delays = delays
        self.in_flight = self.most_in_flight = 0

    async def fetch_alldata(self, gw):
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delays[gw.name])
        finally:
            self.in_flight -= 1
        return await super().fetch_alldata(gw)


def test_a_poll_unanswered_when_the_tick_budget_ends_is_a_failed_poll_and_the_others_are_kept(caplog):
    c = make({"fast": {}, "hung": {}})
    c.client = SlowClient({"fast": 0.0, "hung": 30.0})
    with caplog.at_level(logging.INFO):
        snaps = asyncio.run(c.poll_all(TICK, budget_s=0.2))
    assert [s.gateway for s in snaps] == ["fast"]
    assert c.stats.polls_ok == 1 and c.stats.failures["timeout"] == 1
    assert "no answer from http://hung before the next tick was due (timeout) (gateway hung)" in caplog.text


def test_requests_in_flight_are_bounded(monkeypatch):
    from heatpump_monitor.pipeline import collector
    monkeypatch.setattr(collector, "MAX_IN_FLIGHT", 3)
    names = [f"gw{i}" for i in range(10)]
    c = make({n: {} for n in names})
    c.client = SlowClient({n: 0.01 for n in names})
    assert len(poll_all(c)) == 10
    assert c.client.most_in_flight == 3
