"""The watcher: "nothing stored from a gateway for N minutes", read from a real embedded store;
and ``heatpump-monitor watch`` as a process delivering to a real local HTTP receiver."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from heatpump_monitor.alerts.settings import parse_alert_settings
from heatpump_monitor.alerts.watch import newest_by_gateway, watcher
from heatpump_monitor.config import AlertsConfig
from heatpump_monitor.model import Snapshot
from heatpump_monitor.stores.embedded import EmbeddedReader, EmbeddedSink

from ..servers import free_port, wait_until
from .test_notify import HttpReceiver
from .test_service import Clock, Recorder

MIN = 60_000
T0 = 1_764_748_800_000  # 2025-12-03 08:00 UTC
ROOT = Path(__file__).resolve().parents[2]


def snap(t: int, gateway: str, source: str = "api") -> Snapshot:
    return Snapshot(gateway, "thermia", source, t, {"outdoor_temp": 1.0})


def start(tmp_path: Path, argv: list[str], notify_url: str) -> tuple[subprocess.Popen, Path]:
    """``heatpump-monitor ARGV`` with alerts to ``notify_url``; its output goes to a log file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFLUXDB_", "DATA_DIR", "STORE_"))}
    env.update({"NOTIFY_URLS": notify_url, "CONFIG_FILE": "", "ALERTS_DIR": str(tmp_path / "alerts"), "TZ": "UTC",
                "PYTHONUNBUFFERED": "1"})
    log = tmp_path / f"{argv[0]}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "heatpump_monitor", *argv], env=env, stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT)
    return proc, log


def test_newest_by_gateway_names_the_source_only_when_two_collectors_store_one_gateway(tmp_path):
    path = tmp_path / "hp.sqlite3"
    EmbeddedSink(path).write_sync([snap(T0, "a"), snap(T0 + MIN, "a"), snap(T0, "b"), snap(T0 + 2 * MIN, "b", "mqtt")])
    assert newest_by_gateway(EmbeddedReader(path)) == {"a": T0 + MIN, "b (api)": T0, "b (mqtt)": T0 + 2 * MIN}


def test_the_watcher_fires_for_the_gateway_that_stopped_and_resolves_when_data_returns(tmp_path):
    path = tmp_path / "hp.sqlite3"
    sink = EmbeddedSink(path)
    sink.write_sync([snap(T0, "stopped"), snap(T0 + 20 * MIN, "running")])
    config = AlertsConfig(urls=("json://x",), settings=parse_alert_settings(None), directory=str(tmp_path),
                          language="sv", tz=ZoneInfo("Europe/Stockholm"))
    rec, clock = Recorder(), Clock(T0 + 20 * MIN)
    w = watcher(config, EmbeddedReader(path), clock=clock, sender=rec)
    notices = w.check(T0 + 20 * MIN, newest_by_gateway(EmbeddedReader(path)))
    assert [(n.gateway, n.rule, n.kind) for n in notices] == [("stopped", "not_stored", "fired")]
    assert w.check(T0 + 21 * MIN, newest_by_gateway(EmbeddedReader(path))) == []
    sink.write_sync([snap(T0 + 22 * MIN, "stopped")])
    [n] = w.check(T0 + 22 * MIN, newest_by_gateway(EmbeddedReader(path)))
    assert (n.kind, n.value) == ("resolved", 22.0)
    asyncio.run(w.flush())
    assert rec.sent == [("Värmepump stopped", "inget lagrat på 20 min (gräns 15) sedan 09:00: går insamlaren?"),
                        ("Värmepump stopped", "lagras igen efter 22 min (sedan 09:00)")]


def test_the_watch_command_delivers_to_a_real_receiver_and_stops_on_sigterm(tmp_path):
    receiver = HttpReceiver()
    try:
        store = tmp_path / "hp.sqlite3"
        now = int(time.time() * 1000)
        EmbeddedSink(store).write_sync([snap(now - 30 * MIN, "gw1"), snap(now, "gw2")])
        secret = "w4tchS3cretTopic"
        proc, log = start(tmp_path, ["watch", "--store", str(store), "--interval", "0.2"],
                          f"json://127.0.0.1:{receiver.port}/{secret}")
        try:
            wait_until(lambda: receiver.requests or proc.poll() is not None, "message", detail=log.read_text)
            assert receiver.requests, log.read_text()
            body = json.loads(receiver.requests[0][2])
            assert body["title"] == "Heat pump gw1" and body["message"].startswith("nothing stored for 30")
            EmbeddedSink(store).write_sync([snap(int(time.time() * 1000), "gw1")])
            wait_until(lambda: len(receiver.requests) >= 2, "second message", detail=log.read_text)
            assert "stored again after" in json.loads(receiver.requests[1][2])["message"]
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(20)
        text = log.read_text()
        assert rc == 0, text
        assert secret not in text and "json://***" in text
        assert (tmp_path / "alerts" / "alerts-watch.sqlite3").is_file()
        assert len(receiver.requests) == 2  # gw2 is fine: nothing about it
    finally:
        receiver.stop()


def test_the_dashboard_watches_the_store_when_alerts_are_on(tmp_path):
    """`serve` with NOTIFY_URLS: the first check, at start, finds the stopped gateway."""
    receiver = HttpReceiver()
    try:
        store = tmp_path / "hp.sqlite3"
        EmbeddedSink(store).write_sync([snap(int(time.time() * 1000) - 60 * MIN, "gw9")])
        proc, log = start(tmp_path, ["serve", "--store", str(store), "--port", str(free_port())],
                          f"json://127.0.0.1:{receiver.port}/dash")
        try:
            wait_until(lambda: receiver.requests or proc.poll() is not None, "message", detail=log.read_text)
            assert receiver.requests, log.read_text()
            assert json.loads(receiver.requests[0][2])["message"].startswith("nothing stored for 60")
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(20)
        text = log.read_text()
        assert rc == 0, text
        assert "Watching the store for gateways with nothing stored for 15 min" in text
    finally:
        receiver.stop()
