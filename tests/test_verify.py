"""``heatpump-monitor verify``: analyse() on known data (holes, off-grid timestamps, api vs
mqtt), and the command end to end on an embedded store and on a real InfluxDB 1.x, with an
injected "now" so the window is fixed."""

from __future__ import annotations

import argparse
import itertools

import httpx
import pytest

from heatpump_monitor.config import Settings
from heatpump_monitor.model import Snapshot
from heatpump_monitor.stores.embedded import EmbeddedSink
from heatpump_monitor.stores.influx.lineproto import to_lines
from heatpump_monitor.verify import (Gap, RegisterDiff, add_arguments, analyse, format_duration, grid, main,
                                     parse_duration, render)
from tests.servers import influx1_query, start_influxdb1

I = 30_000
T0 = 1764324000000  # 2025-11-28T10:00:00Z, on the grid
NOW = T0 + 120 * I + 12_345  # 11:00:12.345Z: the tick 11:00:00 is in progress
GW = "192.168.1.100"
REGS = {"outdoor_temp": -5.5, "supply_temp": 35.25, "return_temp": 30.0}

_db_counter = itertools.count()


def snap(i: int, source: str = "api", gateway: str = GW, values: dict | None = None, offset_ms: int = 0) -> Snapshot:
    return Snapshot(gateway, "thermia", source, T0 + i * I + offset_ms, dict(REGS if values is None else values))


# -- analyse ----------------------------------------------------------------------------------


def test_known_hole_gives_exact_coverage_and_gap():
    snaps = [snap(i) for i in range(120) if not 40 <= i <= 49]
    report = analyse({(GW, "api"): snaps}, T0, T0 + 120 * I, I)
    [s] = report.sources
    assert (s.expected, s.present, s.snapshots, s.missing) == (120, 110, 110, 10)
    assert s.coverage == 100 * 110 / 120
    assert s.gaps == [Gap(T0 + 40 * I, T0 + 49 * I, 10)]
    assert not s.meets(99) and s.meets(110 / 120 * 100) and s.meets(91.66)
    assert s.first_ms == T0 and s.last_ms == T0 + 119 * I
    text = render(report, 99)
    assert "10:20:00Z..10:24:30Z (10 ticks)" in text
    assert "91.67%" in text and "FAIL: 1 of 1" in text


def test_gaps_at_window_edges_and_single_ticks():
    present = [2, 3, 5, 9]  # of 12 ticks: missing 0-1, 4, 6-8, 10-11
    report = analyse({(GW, "api"): [snap(i) for i in present]}, T0, T0 + 12 * I, I)
    assert report.sources[0].gaps == [
        Gap(T0, T0 + I, 2), Gap(T0 + 4 * I, T0 + 4 * I, 1), Gap(T0 + 6 * I, T0 + 8 * I, 3),
        Gap(T0 + 10 * I, T0 + 11 * I, 2),
    ]
    assert "10:02:00Z (1 tick)" in render(report)


def test_no_snapshot_at_all_is_one_gap_of_the_whole_window():
    report = analyse({(GW, "mqtt"): []}, T0, T0 + 10 * I, I)
    [s] = report.sources
    assert (s.present, s.coverage, s.first_ms, s.registers_min) == (0, 0.0, None, None)
    assert s.gaps == [Gap(T0, T0 + 9 * I, 10)]
    assert "  -  " in render(report)


def test_window_aligned_to_the_grid_and_outside_snapshots_ignored():
    # window from 10:00:10 to 10:05:00 (exclusive): ticks 10:00:30 .. 10:04:30 = 9
    assert grid(T0 + 10_000, T0 + 10 * I, I) == (T0 + I, 9)
    assert grid(T0, T0, I) == (T0, 0)
    snaps = [snap(i) for i in range(0, 12)]  # 10:00:00 (before) and 10:05:00, 10:05:30 (after)
    report = analyse({(GW, "api"): snaps}, T0 + 10_000, T0 + 10 * I, I)
    [s] = report.sources
    assert (s.expected, s.present, s.snapshots, s.gaps) == (9, 9, 9, [])
    assert report.ok(100)


def test_off_grid_snapshots_are_counted_and_not_present():
    snaps = [snap(i) for i in range(10) if i not in (3, 4)]
    snaps += [snap(3, offset_ms=1000), snap(4, offset_ms=-500), snap(6, offset_ms=15_000)]  # old MQTT rounding
    report = analyse({(GW, "mqtt"): snaps}, T0, T0 + 10 * I, I)
    [s] = report.sources
    assert (s.expected, s.present, s.off_grid, s.snapshots) == (10, 8, 3, 11)
    assert s.gaps == [Gap(T0 + 3 * I, T0 + 4 * I, 2)]
    assert "mqtt: 3 of 11" in render(report)


def test_registers_per_snapshot_min_median_max():
    sizes = [3, 1, 4, 1, 5, 9]
    snaps = [snap(i, values={f"r{k}": 1.0 for k in range(n)}) for i, n in enumerate(sizes)]
    [s] = analyse({(GW, "api"): snaps}, T0, T0 + 6 * I, I).sources
    assert (s.registers_min, s.registers_median, s.registers_max) == (1, 3.5, 9)
    [s] = analyse({(GW, "api"): snaps[:5]}, T0, T0 + 6 * I, I).sources
    assert (s.registers_min, s.registers_median, s.registers_max) == (1, 3, 5)


def test_api_vs_mqtt_shared_ticks_and_max_difference_per_register():
    api = [snap(i, "api", values={"outdoor_temp": -5.0 + i / 4, "supply_temp": 35.0, "only_api": 1.0})
           for i in range(10) if i != 9]
    mqtt = [snap(i, "mqtt", values={"outdoor_temp": -5.0 + i / 4 + (0.75 if i == 6 else 0.25 if i == 2 else 0),
                                    "supply_temp": 35.0 - (0.5 if i == 1 else 0)})
            for i in range(10) if i not in (0, 1, 2)] + [snap(1, "mqtt", values={"supply_temp": 34.5})]
    mqtt.append(snap(2, "mqtt", offset_ms=7, values={"outdoor_temp": 99.0}))  # off grid: not compared
    report = analyse({(GW, "api"): api, (GW, "mqtt"): mqtt, ("other", "api"): [snap(0, gateway="other")]},
                     T0, T0 + 10 * I, I)
    [c] = report.comparisons  # "other" has no mqtt
    assert (c.gateway, c.expected, c.both, c.only_a, c.only_b) == (GW, 10, 7, 2, 1)
    assert c.both_share == 70.0
    assert c.diffs == [
        RegisterDiff("outdoor_temp", 0.75, T0 + 6 * I, -5.0 + 6 / 4, -5.0 + 6 / 4 + 0.75),
        RegisterDiff("supply_temp", 0.5, T0 + I, 35.0, 34.5),
    ]
    assert (c.registers_compared, c.identical, c.only_in_a, c.only_in_b) == (2, 0, ["only_api"], [])
    text = render(report)
    assert "api vs mqtt on 192.168.1.100: both at 7/10 ticks (70.00%), api only 2, mqtt only 1" in text
    assert "only in api: only_api" in text
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("outdoor_temp"))
    assert line.split() == ["outdoor_temp", "0.75", "10:03:00Z", "-3.5", "-2.75"]


def test_render_is_an_aligned_table():
    report = analyse({("a-long-gateway-name", "api"): [snap(0, gateway="a-long-gateway-name")],
                      ("b", "mqtt"): [snap(i, "mqtt", gateway="b") for i in range(4)]}, T0, T0 + 4 * I, I)
    lines = render(report).splitlines()
    header = next(ln for ln in lines if ln.startswith("gateway"))
    rows = lines[lines.index(header) + 1: lines.index(header) + 3]
    col = header.index("coverage") + len("coverage")
    assert [r[col - len("100.00%"): col] for r in rows] == [" 25.00%", "100.00%"]
    assert len({len(r) for r in [header, *rows]}) <= 2  # right-aligned columns end together


def test_durations():
    assert [parse_duration(t) for t in ("30m", "1h", "2d", "1w", "90s", "1h30m")] == [
        1800, 3600, 172800, 604800, 90, 5400]
    for bad in ("", "1", "h", "1y", "-1h", "0m", "1h x"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_duration(bad)
    assert format_duration(5400_000) == "1h30m" and format_duration(0) == "0s"


# -- the command ------------------------------------------------------------------------------


@pytest.fixture
def env(monkeypatch, tmp_path):
    """No store/interval variables from the outer environment; embedded store in tmp_path."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("STORE_PATH", str(tmp_path / "store.sqlite3"))
    return monkeypatch


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return main(parser.parse_args(["--now", str(NOW), *argv]))


def holed() -> list[Snapshot]:
    """api: ticks 40..49 missing; mqtt: complete, one value off by 0.5 at tick 7."""
    api = [snap(i) for i in range(121) if not 40 <= i <= 49]  # tick 120 = the current one
    mqtt = [snap(i, "mqtt", values={**REGS, "outdoor_temp": REGS["outdoor_temp"] + (0.5 if i == 7 else 0)})
            for i in range(120)]
    return api + mqtt + [snap(-1, "api")]  # one before the window


def write_embedded(path, snaps) -> None:
    sink = EmbeddedSink(path)
    sink.write_sync(snaps)
    sink._db().close()


def test_command_on_embedded_store_with_a_hole(env, tmp_path, capsys):
    write_embedded(tmp_path / "store.sqlite3", holed())
    assert run("--since", "1h") == 1
    out = capsys.readouterr().out
    assert "Store: embedded store at" in out
    assert "120 ticks expected" in out
    row = next(ln for ln in out.splitlines() if ln.startswith(GW) and " api " in ln)
    assert row.split() == [GW, "api", "2025-11-28", "10:00:00Z", "120", "110", "91.67%", "3/3/3", "0", "10", "1"]
    assert f"{GW} api  10:20:00Z..10:24:30Z (10 ticks)" in out
    assert "outdoor_temp" in out and "10:03:30Z" in out  # the 0.5 difference at tick 7
    assert f"FAIL: 1 of 2 gateway/source below 99% coverage: {GW} api (91.67%)" in out


def test_command_full_coverage_exits_0(env, tmp_path, capsys):
    write_embedded(tmp_path / "store.sqlite3", [snap(i, src) for i in range(120) for src in ("api", "mqtt")])
    assert run() == 0
    out = capsys.readouterr().out
    assert "OK: all 2 gateway/source at or above 99% coverage" in out
    assert "Gaps" not in out and "3 identical" in out


def test_command_min_coverage_gateway_filter_and_interval(env, tmp_path, capsys):
    snaps = holed() + [snap(i, gateway="10.0.0.9") for i in range(0, 120, 2)]  # every other tick
    write_embedded(tmp_path / "store.sqlite3", snaps)
    assert run("--min-coverage", "91") == 1  # 10.0.0.9 is at 50%
    assert run("--min-coverage", "91", "--gateway", GW) == 0
    out = capsys.readouterr().out
    assert "10.0.0.9" not in out.split("Store:")[-1]
    assert run("--gateway", "10.0.0.9", "--interval", "60") == 0  # every 60 s tick is there
    assert "60 ticks expected" in capsys.readouterr().out
    env.setenv("COLLECTION_INTERVAL", "60")
    assert run("--gateway", "10.0.0.9") == 0
    assert run("--gateway", "nope") == 1
    assert "'nope' has no snapshots" in capsys.readouterr().out


def test_command_store_and_config_errors_exit_2(env, tmp_path, capsys):
    assert run() == 2  # the embedded store does not exist
    err = capsys.readouterr().err
    assert err.startswith("error: embedded store") and "does not exist" in err and err.count("\n") == 1
    env.setenv("COLLECTION_INTERVAL", "abc")
    assert run() == 2
    assert "COLLECTION_INTERVAL" in capsys.readouterr().err
    env.delenv("COLLECTION_INTERVAL")
    write_embedded(tmp_path / "store.sqlite3", holed())
    assert run("--since", "10s") == 2
    assert "shorter than the interval" in capsys.readouterr().err


def test_command_empty_store_exits_1(env, tmp_path, capsys):
    write_embedded(tmp_path / "store.sqlite3", [])
    EmbeddedSink(tmp_path / "store.sqlite3")._db().close()  # creates the empty table
    assert run() == 1
    assert "No snapshots in the store." in capsys.readouterr().out


# -- the command on a real InfluxDB 1.x -------------------------------------------------------


@pytest.fixture(scope="module")
def influx(tmp_path_factory):
    handle = start_influxdb1(tmp_path_factory.mktemp("influxdb1-verify"))
    yield handle
    handle.stop()


@pytest.mark.realserver
def test_command_on_influxdb1_gives_the_same_report(env, tmp_path, influx, capsys):
    write_embedded(tmp_path / "store.sqlite3", holed())
    assert run() == 1
    embedded_out = capsys.readouterr().out

    db = f"verify_{next(_db_counter)}"
    influx1_query(influx.url, None, f'CREATE DATABASE "{db}"')
    with httpx.Client(trust_env=False, timeout=10) as c:
        resp = c.post(f"{influx.url}/write", params={"db": db, "precision": "ms"}, content=to_lines(holed()))
    assert resp.status_code == 204, resp.text
    env.setenv("INFLUXDB_URL", influx.url)
    env.setenv("INFLUXDB_DATABASE", db)
    assert run() == 1
    influx_out = capsys.readouterr().out
    assert influx_out.startswith(f"Store: InfluxDB 1.x at {influx.url} (database {db})\n")
    assert f"{GW} api  10:20:00Z..10:24:30Z (10 ticks)" in influx_out
    assert influx_out.split("\n", 1)[1] == embedded_out.split("\n", 1)[1]  # the same report

    env.setenv("INFLUXDB_DATABASE", "missing_db")
    assert run() == 2
    assert "database 'missing_db' not found" in capsys.readouterr().err


# -- a source that started inside the window ---------------------------------------------------


def test_ticks_before_a_source_started_are_not_yet_collecting_not_missing():
    late = [snap(i) for i in range(100, 120) if i != 110]  # started at tick 100, one tick missed
    early = [snap(i, "mqtt") for i in range(120)]
    report = analyse({(GW, "api"): late, (GW, "mqtt"): early}, T0, T0 + 120 * I, I,
                     started={(GW, "api"): T0 + 100 * I, (GW, "mqtt"): T0 - 5 * I})
    api, mqtt = report.sources
    assert (api.expected, api.present, api.missing, api.not_collecting, api.started_ms) == (20, 19, 1, 100, T0 + 100 * I)
    assert api.gaps == [Gap(T0 + 110 * I, T0 + 110 * I, 1)]
    assert api.coverage == 95.0
    assert (mqtt.expected, mqtt.not_collecting, mqtt.started_ms) == (120, 0, None)
    text = render(report, 99)
    assert ("Not yet collecting (ticks before the first snapshot; not expected, not counted as missing):\n"
            f"  {GW} api: started at 2025-11-28 10:50:00Z, 100 ticks (50m) of the window before") in text
    assert f"{GW} mqtt: started" not in text
    # without `started` the whole window counts, as for a source collecting before it
    [whole] = analyse({(GW, "api"): late}, T0, T0 + 120 * I, I).sources
    assert (whole.expected, whole.not_collecting, whole.gaps[0]) == (120, 0, Gap(T0, T0 + 99 * I, 100))


def test_a_first_snapshot_off_the_grid_starts_at_the_next_tick():
    report = analyse({(GW, "api"): [snap(3, offset_ms=1000), snap(4)]}, T0, T0 + 6 * I, I,
                     started={(GW, "api"): T0 + 3 * I + 1000})
    [s] = report.sources
    assert (s.not_collecting, s.expected, s.present, s.gaps) == (4, 2, 1, [Gap(T0 + 5 * I, T0 + 5 * I, 1)])


def test_command_on_a_collector_started_10_minutes_ago(env, tmp_path, capsys):
    write_embedded(tmp_path / "store.sqlite3", [snap(i) for i in range(100, 120)])
    assert run("--since", "1h") == 0  # was 16.67% before: 100 of 120 ticks "missing"
    out = capsys.readouterr().out
    row = next(ln for ln in out.splitlines() if ln.startswith(GW))
    assert row.split()[4:8] == ["20", "20", "100.00%", "3/3/3"]
    assert f"{GW} api: started at 2025-11-28 10:50:00Z, 100 ticks (50m) of the window before" in out


def test_command_store_option_reads_that_file(env, tmp_path, capsys):
    write_embedded(tmp_path / "other.sqlite3", [snap(i) for i in range(120)])
    assert run("--store", str(tmp_path / "other.sqlite3")) == 0  # STORE_PATH (store.sqlite3) does not exist
    assert capsys.readouterr().out.startswith(f"Store: embedded store at {tmp_path / 'other.sqlite3'}\n")


def test_bad_interval_option_is_the_variable_rule(capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(SystemExit) as e:
        parser.parse_args(["--interval", "1_0"])
    assert e.value.code == 2
    assert ("argument --interval: Invalid --interval='1_0': expected a whole number of seconds from 1 to 86400"
            in capsys.readouterr().err)
