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
    f.write_text(json.dumps({"0007": 65483, "1a07": 1, "2201": 1, "0001": "275", "EEEE": 7, "2A91": 10}))
    assert main(["decode", "--brand", "thermia", str(f)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["index", "name", "raw", "value", "unit"]
    rows = {line.split()[0]: line for line in out[1:] if line and line.split()[0] != "index"}
    assert rows["0007"].split()[:5] == ["0007", "outdoor_temp", "65483", "-5.3", "°C"]
    assert "switch_valve" in rows["1A07"] and "(hot water)" in rows["1A07"]
    assert "operating_mode" in rows["2201"] and "(auto)" in rows["2201"]
    assert "DROPPED: not an integer (str)" in rows["0001"]
    assert "reg_EEEE (unknown)" in rows["EEEE"]
    assert "(high pressure switch)" in rows["2A91"]
    assert any(line.startswith("4 decoded, 1 unknown") for line in out)


def test_decode_bad_file(tmp_path, capsys):
    f = tmp_path / "x.json"
    f.write_text("<html>")
    assert main(["decode", "--brand", "ivt", str(f)]) == 1
    assert "not valid JSON" in capsys.readouterr().err


def test_providers_lists_brands_and_registers(capsys):
    assert main(["providers"]) == 0
    out = capsys.readouterr().out
    assert all(b in out for b in ("thermia:", "ivt:", "nibe:"))
    assert main(["providers", "ivt"]) == 0
    out = capsys.readouterr().out
    assert "BA91" in out and "alarm_code" in out and "low pressure switch" in out


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
