"""`heatpump-monitor demo --history`: a week (here a day) of simulated history lands in the
demo's store through the collector's path before live collection, and the analytics find in
it what the simulator does: compressor starts, energy, a plausible COP."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from heatpump_monitor.analytics import Prices, Summarizer
from heatpump_monitor.config import AnalyticsConfig, StoreConfig
from heatpump_monitor.stores import make_reader

from .test_cli import _clean_env

DAY_MS = 86_400_000


def test_demo_writes_history_then_collects(tmp_path):
    demo = subprocess.run(
        [sys.executable, "-m", "heatpump_monitor", "demo", "--brand", "thermia,ivt,nibe", "--history", "1d",
         "--interval", "30", "--duration", "1", "--dashboard-port", "0"],
        cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr
    line = next(ln for ln in demo.stdout.splitlines() if ln.strip().startswith("history: "))
    assert "1 d x 3 gateway(s) every 30 s" in line and line.rstrip().endswith(" s"), line
    written = int(line.split("history: ")[1].split()[0])
    assert written == 3 * 2881  # a day of 30 s ticks, both ends included, per gateway
    assert "Traceback" not in demo.stderr

    reader = make_reader(StoreConfig(kind="embedded", path=str(tmp_path / "data" / "demo.sqlite3")))
    try:
        infos = reader.gateways()
        assert sorted(i.brand for i in infos) == ["ivt", "nibe", "thermia"]
        summarizer = Summarizer(reader, AnalyticsConfig(tz=ZoneInfo("UTC")), Prices(2.0, "SEK"))
        for info in infos:
            assert info.snapshots >= 2881
            assert info.last_ms - info.first_ms >= DAY_MS  # the whole day is there
            assert info.first_ms % 30_000 == 0  # on the collector's grid
            first = datetime.fromtimestamp(info.first_ms / 1000, timezone.utc).date()
            last = datetime.fromtimestamp(info.last_ms / 1000, timezone.utc).date()
            [period] = summarizer.periods(info, first, last, "period")
            p = period.as_dict()
            assert p["compressor_starts"] and p["compressor_starts"] >= 5, (info.brand, p)
            assert p["energy_kwh"] and 5 < p["energy_kwh"] < 24 * 15, (info.brand, p)  # kWh of a day
            assert p["cop"] is not None and 1.5 < p["cop"] < 4.5, (info.brand, p)
            assert p["hot_water_cycles"] and p["hot_water_cycles"] >= 1, (info.brand, p)
            assert not p["counter_resets"], (info.brand, p)  # a wrap is a wrap, not a reset
    finally:
        reader.close()


def test_demo_rejects_a_bad_history(tmp_path):
    r = subprocess.run([sys.executable, "-m", "heatpump_monitor", "demo", "--history", "soon"],
                       cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "invalid duration 'soon'" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_dashboard_config_error_is_one_line_not_a_traceback(tmp_path, monkeypatch, caplog):
    """A setting the dashboard refuses (say a bad analytics variable) stops the demo with the
    setting's own line and exit code 1."""
    import argparse
    import asyncio
    import contextlib

    from heatpump_monitor import demo
    from heatpump_monitor.config import ConfigError
    import importlib

    serve = importlib.import_module("heatpump_monitor.web.serve")  # the module, not web.serve()

    @contextlib.asynccontextmanager
    async def refusing(*args, **kwargs):
        raise ConfigError("Invalid PRICE_FILE='/nowhere': no such file")
        yield ""  # pragma: no cover

    monkeypatch.setattr(serve, "running_dashboard", refusing)
    args = argparse.Namespace(brand="nibe", gateways=0, port=0, time_scale=1.0, history=3600, interval=30,
                              store=str(tmp_path / "demo.sqlite3"), dashboard_port=0, duration=1)
    with caplog.at_level("ERROR"):
        rc = asyncio.run(demo.run_demo(args))
    assert rc == 1
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "Cannot start the dashboard: Invalid PRICE_FILE='/nowhere': no such file"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_second_demo_keeps_its_gateways_and_adds_only_the_missing_history(tmp_path):
    """Gateways are named by address: the same ports on the next run are the same gateways, and
    the history the first run wrote is not written again (the selector would otherwise grow by
    every gateway of every run, each with a week of its own)."""
    port = str(_free_port())
    args = [sys.executable, "-m", "heatpump_monitor", "demo", "--history", "2h", "--interval", "30",
            "--duration", "1", "--dashboard-port", "0", "--port", port]
    runs = [subprocess.run(args, cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=300)
            for _ in range(2)]
    lines = []
    for r in runs:
        assert r.returncode == 0, r.stderr
        lines.append(next(ln for ln in r.stdout.splitlines() if ln.strip().startswith("history: ")))
    assert int(lines[0].split("history: ")[1].split()[0]) == 241  # 2 h of 30 s ticks, both ends
    second = int(lines[1].split("history: ")[1].split()[0])
    kept = int(lines[1].split("; ")[1].split()[0])
    assert second < 20 and second + kept == 241, lines[1]  # only the ticks since the first run
    reader = make_reader(StoreConfig(kind="embedded", path=str(tmp_path / "data" / "demo.sqlite3")))
    try:
        [info] = reader.gateways()
        assert info.gateway == f"127.0.0.1:{port}"
        assert info.snapshots == (info.last_ms - info.first_ms) // 30_000 + 1  # no tick twice, none missing
    finally:
        reader.close()
