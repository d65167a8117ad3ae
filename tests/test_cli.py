"""The command line: decode a saved answer, list providers, health check, skip guard."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from heatpump_monitor.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_decode_prints_index_name_raw_value_unit(tmp_path, capsys):
    f = tmp_path / "alldata.json"
    f.write_text(json.dumps({"0007": 65483, "1a07": 1, "2201": 10, "0001": "275", "EEEE": 7, "2A91": 10,
                             "0008": -483, "0009": -26, "0015": 215}))
    assert main(["decode", "--brand", "thermia", str(f)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["index", "name", "raw", "value", "unit"]
    rows = {line.split()[0]: line for line in out[1:] if line and line.split()[0] != "index"}
    assert rows["0007"].split()[:5] == ["0007", "outdoor_temp", "65483", "-5.3", "°C"]
    assert rows["0009"].split()[:5] == ["0009", "hot_water_top", "-26", "-2.6", "°C"]
    assert "switch_valve" in rows["1A07"] and "(hot water)" in rows["1A07"]
    assert "operating_mode" in rows["2201"] and "(auto)" in rows["2201"]
    assert "DROPPED: not an integer (str)" in rows["0001"]
    assert "no sensor" in rows["0008"]
    assert "reg_EEEE (unknown, H1 type)" in rows["EEEE"]
    assert "reg_0015 (unknown, H1 type)" in rows["0015"] and "21.5" in rows["0015"]
    assert "(high pressure switch)" in rows["2A91"]
    assert any(line.startswith("5 decoded, 2 unknown, 1 without sensor, 1 dropped") for line in out)


def test_decode_json(tmp_path, capsys):
    f = tmp_path / "alldata.json"
    f.write_text(json.dumps({"0007": -26, "0008": -483, "6C56": 107260, "0009": "x", "0015": 215}))
    assert main(["decode", "--brand", "ivt", "--json", str(f)]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["index"]: r for r in doc["registers"]}
    assert doc["brand"] == "ivt" and doc["summary"] == {"decoded": 2, "unknown": 1, "no_sensor": 1, "dropped": 1}
    assert rows["0007"] == {"index": "0007", "name": "outdoor_temp", "known": True, "raw": -26, "value": -2.6,
                            "unit": "°C", "status": "ok", "text": None, "cause": None}
    assert (rows["0008"]["status"], rows["0008"]["value"]) == ("no sensor", None)
    assert rows["6C56"]["value"] == 107260.0
    assert (rows["0009"]["status"], rows["0009"]["cause"]) == ("dropped", "not an integer (str)")
    assert (rows["0015"]["known"], rows["0015"]["name"], rows["0015"]["value"]) == (False, "reg_0015", 21.5)


def test_decode_explain(tmp_path, capsys):
    f = tmp_path / "alldata.json"
    f.write_text(json.dumps({"0007": 65529}))
    assert main(["decode", "--brand", "ivt", "--explain", "0007", str(f)]) == 0
    out = capsys.readouterr().out
    assert "65529 is -7 (older firmware sends negatives wrapped: 65529 - 65536)" in out
    assert "outdoor_temp = -0.7 °C" in out and "[h1-types.yaml]" in out
    assert main(["decode", "--brand", "thermia", "--explain", "2201=10"]) == 0
    assert "operating_mode = 1 (auto)" in capsys.readouterr().out
    assert main(["decode", "--brand", "ivt", "--explain", "6c56=107260", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["index"] == "6C56" and doc["steps"][-1]["detail"] == "compressor_hours_hot_water = 107260 h"
    assert main(["decode", "--brand", "ivt", "--explain", "0002"]) == 0  # the definition only
    assert "at or below -48 °C" in capsys.readouterr().out
    assert main(["decode", "--brand", "ivt", "--explain", "zz"]) == 2
    assert main(["decode", "--brand", "ivt", "--explain", "0007=abc"]) == 2


def test_decode_and_providers_show_the_effective_table(tmp_path, capsys, monkeypatch):
    cfg = tmp_path / "config.yaml"
    cfg.write_text('brand: ivt\nregisters:\n  "6C56": {factor: 10}\n  "6C70": {name: pool_pump_hours}\n')
    f = tmp_path / "alldata.json"
    f.write_text(json.dumps({"6C56": 107260, "6C70": 5}))
    monkeypatch.setenv("CONFIG_FILE", str(cfg))
    monkeypatch.delenv("HEATPUMP_BRAND", raising=False)
    assert main(["decode", str(f)]) == 0  # brand from the config file
    out = capsys.readouterr().out
    assert "10726" in out and "pool_pump_hours" in out
    assert main(["providers", "ivt"]) == 0
    out = capsys.readouterr().out
    assert "overridden by your configuration:" in out
    assert f"6C56 compressor_hours_hot_water: factor, factor_source from {cfg}" in out
    assert "config: your override in" in out
    cfg.write_text('registers:\n  "6C56": {factor: -1}\n')
    assert main(["providers", "ivt"]) == 1
    assert "factor must be a positive number" in capsys.readouterr().err
    monkeypatch.setenv("CONFIG_FILE", "")
    assert main(["decode", str(f)]) == 2  # no brand anywhere
    assert "give --brand" in capsys.readouterr().err
    monkeypatch.setenv("CONFIG_FILE", str(tmp_path / "none.yaml"))
    assert main(["decode", "--brand", "ivt", str(f)]) == 1  # named, but missing
    assert "no such file" in capsys.readouterr().err


def test_decode_bad_file(tmp_path, capsys):
    f = tmp_path / "x.json"
    f.write_text("<html>")
    assert main(["decode", "--brand", "ivt", str(f)]) == 1
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["decode", "--brand", "ivt"]) == 2
    assert "give the FILE" in capsys.readouterr().err


def test_providers_lists_brands_and_registers(capsys):
    assert main(["providers"]) == 0
    out = capsys.readouterr().out
    assert all(b in out for b in ("thermia:", "ivt:", "nibe:"))
    assert main(["providers", "ivt", "--config", ""]) == 0
    out = capsys.readouterr().out
    assert "BA91" in out and "alarm_code" in out and "low pressure switch" in out
    assert "capture-stampzilla-316" in out and "/1000" in out  # where the Rego 1000 factors come from
    assert "overridden" not in out


def test_collect_refuses_bad_register_overrides_one_line_per_mistake(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text('registers:\n  "0007": {factor: 0}\n  "0009": {unit: 5}\n')
    r = subprocess.run([sys.executable, "-m", "heatpump_monitor", "collect"], cwd=tmp_path,
                       env={**os.environ, "H66_IP": "127.0.0.1:9", "CONFIG_FILE": str(cfg),
                            "HEATPUMP_BRAND": "ivt", "PYTHONPATH": str(ROOT / "src")},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    lines = [line for line in r.stderr.splitlines() if "ERROR" in line]
    assert len(lines) == 2, r.stderr
    assert "registers 0007: factor must be a positive number, got 0" in lines[0]
    assert "registers 0009: unit must be text, got 5" in lines[1]


def test_healthcheck_follows_heartbeat(tmp_path, monkeypatch, capsys):
    beat = tmp_path / "hb"
    monkeypatch.setenv("HEARTBEAT_FILE", str(beat))
    monkeypatch.setenv("COLLECTION_INTERVAL", "30")
    assert main(["healthcheck"]) == 1  # no heartbeat yet
    beat.touch()
    assert main(["healthcheck"]) == 0
    old = time.time() - 200
    os.utime(beat, (old, old))
    assert main(["healthcheck"]) == 1
    assert "limit 90 s" in capsys.readouterr().err


def test_skipped_realserver_test_fails_the_run(tmp_path):
    (tmp_path / "conftest.py").write_text("from tests.conftest import *  # the suite's guard\n")
    (tmp_path / "test_x.py").write_text(
        "import pytest\n\n@pytest.mark.realserver\ndef test_needs_server():\n    pytest.skip('no server')\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    realserver: x\n")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                       cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    assert r.returncode == 1, r.stdout
    assert "real-server tests were skipped: failing the run" in r.stdout


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the package's variables (the demo and verify must
    find their store by the command line alone), with the source tree importable."""
    from heatpump_monitor.config import Settings

    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    return {**env, "PYTHONPATH": str(ROOT / "src"), **extra}


def test_output_into_a_closed_pipe_exits_quietly(tmp_path):
    """`heatpump-monitor providers thermia | head -1`: the reader is gone before the output
    ends; no BrokenPipeError traceback, exit 141 as a tool killed by SIGPIPE."""
    f = tmp_path / "alldata.json"
    f.write_text(json.dumps({"0007": 65483, "0009": -26}))
    for argv in (["providers", "thermia"], ["providers"], ["decode", "--brand", "thermia", str(f)]):
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader has already gone: every write fails with EPIPE
        try:
            r = subprocess.run([sys.executable, "-m", "heatpump_monitor", *argv], stdout=write_end,
                               stderr=subprocess.PIPE, text=True, env=_clean_env(), timeout=60)
        finally:
            os.close(write_end)
        assert (r.returncode, r.stderr) == (141, ""), argv


def test_demo_prints_the_verify_and_serve_commands_that_read_its_store(tmp_path):
    """The README's way: run the demo, then the verify command it prints (here after it stopped)."""
    demo = subprocess.run([sys.executable, "-m", "heatpump_monitor", "demo", "--duration", "3", "--interval", "1",
                           "--history", "0",
                           "--dashboard-port", "0"], cwd=tmp_path, env=_clean_env(),
                          capture_output=True, text=True, timeout=120)
    assert demo.returncode == 0, demo.stderr
    verify_line = next(ln for ln in demo.stdout.splitlines() if ln.startswith("Check the data: "))
    serve_line = next(ln for ln in demo.stdout.splitlines() if ln.startswith("The dashboard again: "))
    assert serve_line == "The dashboard again: heatpump-monitor serve --store data/demo.sqlite3"
    command = verify_line.removeprefix("Check the data: ").split("   (")[0].split()
    assert command == ["heatpump-monitor", "verify", "--store", "data/demo.sqlite3", "--interval", "1"]
    r = subprocess.run([sys.executable, "-m", "heatpump_monitor", *command[1:]], cwd=tmp_path, env=_clean_env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode in (0, 1) and r.stderr == "", r.stderr  # 1: ticks since the demo stopped are missing
    assert r.stdout.startswith(f"Store: embedded store at {tmp_path / 'data' / 'demo.sqlite3'}\n")
    row = next(ln for ln in r.stdout.splitlines() if " api " in ln and ln.startswith("127.0.0.1:"))
    assert int(row.split()[5]) >= 1  # present ticks
    assert "Not yet collecting" in r.stdout  # the hour before the demo started is not "missing"


def test_healthcheck_with_a_bad_variable_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("HEARTBEAT_FILE", "/nonexistent/hb")
    monkeypatch.setenv("COLLECTION_INTERVAL", "30s")
    assert main(["healthcheck"]) == 1
    assert capsys.readouterr().err == ("unhealthy: Invalid COLLECTION_INTERVAL='30s': "
                                       "expected a whole number of seconds from 1 to 86400\n")


def test_verify_help_lists_the_exit_codes(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    out = capsys.readouterr().out
    assert "exit codes:\n  0  every gateway/source at or above --min-coverage\n" in out
    assert "  2  cannot run: a bad argument or variable, or the store cannot be read" in out
