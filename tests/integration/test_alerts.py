"""Alerts end to end: the simulator raises an alarm, the collector (the real process) stores it,
the message reaches a real local HTTP receiver (apprise's json:// webhook) within two ticks,
clearing it sends "resolved"; the state survives a restart without a repeat; health and
metrics report the delivery; no URL secret anywhere."""

from __future__ import annotations

import json
import re
import signal
import sys
import time

import httpx
import pytest

from heatpump_monitor.stores.embedded import EmbeddedReader

from ..alerts.test_notify import HttpReceiver
from ..servers import free_port, wait_until
from .conftest import addr

pytestmark = pytest.mark.realserver

INTERVAL = 2
SECRET = "s3cretHookToken42"


def alarm(url: str, code: int) -> None:
    r = httpx.post(url + "/sim/fault", json={"alarm": code}, trust_env=False)
    assert r.status_code == 200, r.text


def bodies(receiver: HttpReceiver) -> list[dict]:
    return [json.loads(b) for _, _, b in list(receiver.requests)]


def first_alarm_tick(store, gateway: str) -> str:
    """The ISO time of the first stored snapshot with alarm 60 (as the "Stored" lines show it)."""
    for s in EmbeddedReader(store).snapshots(gateway, 0, 2**62):
        if s.values.get("alarm_code") == 60:
            return s.iso_time[:19]
    raise AssertionError("no stored snapshot shows the alarm")


def test_alarm_reaches_the_receiver_within_two_ticks_then_resolved_and_no_repeat_after_restart(
        simulator, collector, tmp_path):
    receiver = HttpReceiver()
    try:
        sim = simulator(["thermia"], alarms=False)
        url = sim.urls[0]
        gw = addr(url)
        store = tmp_path / "hp.sqlite3"
        port = free_port()
        env = {"H66_IP": gw, "COLLECTION_INTERVAL": str(INTERVAL), "HEATPUMP_BRAND": "thermia",
               "STORE_PATH": str(store), "METRICS_PORT": str(port), "LANGUAGE": "en",
               "NOTIFY_URLS": f"json://127.0.0.1:{receiver.port}/hook/{SECRET}"}
        c = collector(env)
        c.wait_for(r"Alerts: \d+ rule\(s\) on")
        c.wait_for("Stored ", count=2)
        assert receiver.requests == []  # nothing wrong: nothing sent

        before = len(c.log.splitlines())
        alarm(url, 60)
        # the model steps its physics 10 s at a time: the alarm shows in a poll within a few ticks
        fired = c.wait_for(r"Alert fired: Heat pump .*: alarm 'external alarm' since \d\d:\d\d", timeout=60)
        got = wait_until(lambda: [b for b in bodies(receiver) if "external alarm" in b.get("message", "")],
                         "alarm message at the receiver")
        assert got[0]["title"] == f"Heat pump {gw}" and got[0]["message"].startswith("alarm 'external alarm' since")
        # within two ticks of the first snapshot that shows the alarm: that tick's own "Stored"
        # line, or the next one, comes before the alert; never two ticks later
        lines = c.log.splitlines()[before:]
        tick = first_alarm_tick(store, gw)
        at = next(i for i, line in enumerate(lines) if "Alert fired" in line)
        stored_after = [line for line in lines[:at] if "Stored " in line
                        and re.search(r"timestamp (\S+)", line).group(1)[:19] > tick]  # type: ignore[union-attr]
        assert len(stored_after) <= 1, (tick, lines[:at + 1])
        assert len(fired) == 1

        health = httpx.get(f"http://127.0.0.1:{port}/readyz", trust_env=False).json()
        assert health["alerts"]["active"] == 1 and health["alerts"]["delivery"]["sent"] >= 1
        assert health["alerts"]["delivery"]["pending"] == 0
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", trust_env=False).text
        assert 'heatpump_alerts_active{rule="alarm"} 1.0' in metrics
        assert re.search(r"^heatpump_notify_sent_total [1-9]", metrics, re.M)

        # a restart while the alarm is still active: no second "fired"
        rc, _ = c.terminate(signal.SIGTERM)
        assert rc == 0, c.log
        n_before_restart = len(receiver.requests)
        c2 = collector(env)
        c2.wait_for("Stored ", count=3)
        assert len(receiver.requests) == n_before_restart
        assert "Alert fired" not in c2.log

        alarm(url, 0)
        c2.wait_for(r"Alert resolved: Heat pump .*: alarm 'external alarm' cleared", timeout=60)
        resolved = wait_until(lambda: [b for b in bodies(receiver) if "cleared" in b.get("message", "")],
                              "resolved message at the receiver")
        assert len(resolved) == 1
        c2.terminate(signal.SIGTERM)
        everything = c.log + c2.log + json.dumps(health) + metrics
        assert SECRET not in everything and "/hook/" not in everything
        assert "json://***" in c.log  # the start-up line names the target, redacted
    finally:
        receiver.stop()


def test_a_bad_notify_url_stops_the_collector_with_one_line(simulator, collector, tmp_path):
    sim = simulator(["thermia"], frozen=True)
    c = collector({"H66_IP": addr(sim.urls[0]), "HEATPUMP_BRAND": "thermia", "STORE_PATH": str(tmp_path / "hp.sqlite3"),
                   "NOTIFY_URLS": f"nosuchservice://{SECRET}@host/x"})
    assert _exited(c), c.log
    assert c.proc.returncode == 1, c.log
    errors = [line for line in c.log.splitlines() if "Alerts cannot start" in line]
    assert len(errors) == 1 and "apprise does not accept it" in errors[0], c.log
    assert SECRET not in c.log


def _exited(c, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if c.proc.poll() is not None:
            return True
        time.sleep(0.05)
    return False


def test_the_mqtt_collector_sends_the_alarm_too(broker, collector, tmp_path):
    from heatpump_monitor.simulator.mqtt import MqttSimulatorThread

    receiver = HttpReceiver()
    sim = MqttSimulatorThread(["thermia"], "127.0.0.1", broker.port, max_delay=0.2, alarms=False)
    sim.start(wait_connected=True)
    try:
        model = sim.gateways[0].model
        c = collector({"MQTT_BROKER": "127.0.0.1", "MQTT_PORT": str(broker.port), "COLLECTION_INTERVAL": "1",
                       "H66_MAC": sim.gateways[0].mac, "GATEWAY_NAME": "house", "HEATPUMP_BRAND": "thermia",
                       "STORE_PATH": str(tmp_path / "hp.sqlite3"), "LANGUAGE": "sv",
                       "NOTIFY_URLS": f"json://127.0.0.1:{receiver.port}/mqtt"},
                      name="mqtt-alerts", argv=[sys.executable, "-m", "heatpump_monitor", "collect", "--source", "mqtt"])
        c.wait_for("Stored ", count=2)
        model.force_alarm(60)
        # LANGUAGE=sv: the brand's alarm text in Swedish too (i18n/locales/sv.po, context "alarm")
        got = wait_until(lambda: [b for b in bodies(receiver) if "externt larm" in b.get("message", "")],
                         "alarm message from the MQTT collector")
        assert got[0]["title"] == "Värmepump house" and got[0]["message"].startswith("larm 'externt larm' sedan")
        model.force_alarm(0)
        wait_until(lambda: [b for b in bodies(receiver) if "återställt" in b.get("message", "")], "resolved message")
        assert c.terminate()[0] == 0
        assert "alerts-mqtt.sqlite3" in c.log
    finally:
        sim.stop()
        receiver.stop()
