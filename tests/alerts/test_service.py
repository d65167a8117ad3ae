"""The alerts service as a process runs it: snapshots in, the clock, the store and the spool,
messages through the durable outbox (a recording sender here; real receivers in
tests/alerts/test_notify.py and tests/integration/test_alerts.py)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

from heatpump_monitor.alerts.notify import TargetResult
from heatpump_monitor.alerts.service import AlertService, outbox_path
from heatpump_monitor.alerts.settings import parse_alert_settings
from heatpump_monitor.alerts.state import alerts_path
from heatpump_monitor.config import AlertsConfig
from heatpump_monitor.providers import load_provider

from .test_rules import GW, MIN, T0, snap


class Recorder:
    """A Sender that records (and can refuse) what it is asked to send."""

    keys = ["k1"]
    targets = ["1 json://***"]

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.down = False

    def send_to(self, key: str, title: str, body: str) -> TargetResult:
        if self.down:
            return TargetResult("1 json://***", False, "connection refused")
        self.sent.append((title, body))
        return TargetResult("1 json://***", True)


def config(tmp_path: Path, urls: tuple[str, ...] = ("json://x",), **rules: object) -> AlertsConfig:
    return AlertsConfig(urls=urls, settings=parse_alert_settings(rules or None), directory=str(tmp_path),
                        language="en", tz=ZoneInfo("UTC"))


class Clock:
    def __init__(self, t_ms: int) -> None:
        self.t = t_ms / 1000

    def __call__(self) -> float:
        return self.t


def service(tmp_path: Path, sender: Recorder | None, clock: Clock, state=None, **kw: object) -> AlertService:
    return AlertService(config(tmp_path, **kw), "api", load_provider, gateways=[GW], store_state=state,
                        sender=sender, clock=clock)


def test_an_alarm_is_logged_queued_and_sent_once_then_resolved(tmp_path, caplog):
    rec, clock = Recorder(), Clock(T0)
    s = service(tmp_path, rec, clock)
    with caplog.at_level(logging.INFO, "heatpump_monitor.alerts"):
        s.on_snapshots([snap(T0), snap(T0 + MIN, alarm=1, alarm_code=60)])
        assert asyncio.run(s.flush()) == 1
        assert asyncio.run(s.flush()) == 0  # delivered once, not again
        s.on_snapshots([snap(T0 + 2 * MIN)])
        asyncio.run(s.flush())
    assert rec.sent == [(f"Heat pump {GW}", "alarm 'external alarm' since 08:01"),
                        (f"Heat pump {GW}", "alarm 'external alarm' cleared (since 08:01)")]
    assert [r.getMessage() for r in caplog.records] == [
        f"Alert fired: Heat pump {GW}: alarm 'external alarm' since 08:01",
        f"Alert resolved: Heat pump {GW}: alarm 'external alarm' cleared (since 08:01)"]
    assert s.health() == {"active": 0, "notices": 2, "delivery": {
        "pending": 0, "oldest_pending_age_s": 0.0, "sent": 2, "failed_attempts": 0, "given_up": 0, "dropped": 0,
        "last_error": ""}}


def test_a_service_that_is_down_is_retried_and_shown_in_health(tmp_path):
    rec, clock = Recorder(), Clock(T0)
    rec.down = True
    s = service(tmp_path, rec, clock)
    s.on_snapshots([snap(T0, alarm=1, alarm_code=60)])
    assert asyncio.run(s.flush()) == 0
    h = s.health()["delivery"]
    assert h["pending"] == 1 and h["failed_attempts"] == 1 and h["last_error"] == "1 json://***: connection refused"
    names = {m.name for m in s.metric_families()}
    assert {"heatpump_alerts_active", "heatpump_notify_pending", "heatpump_notify_failed_attempts"} <= names
    rec.down = False
    clock.t += 10
    assert asyncio.run(s.flush()) == 0  # the backoff (30 s) is not over
    clock.t += 30
    assert asyncio.run(s.flush()) == 1 and len(rec.sent) == 1


def test_a_restart_neither_repeats_nor_loses(tmp_path):
    rec, clock = Recorder(), Clock(T0)
    rec.down = True
    s = service(tmp_path, rec, clock)
    s.on_snapshots([snap(T0, alarm=1, alarm_code=60)])
    asyncio.run(s.flush())
    s.close()  # stopped before the message could be delivered
    rec.down = False
    s2 = service(tmp_path, rec, clock)
    s2.on_snapshots([snap(T0 + MIN, alarm=1, alarm_code=60)])  # still active: no second "fired"
    clock.t += 60
    assert asyncio.run(s2.flush()) == 1
    assert rec.sent == [(f"Heat pump {GW}", "alarm 'external alarm' since 08:00")]
    assert Path(alerts_path(str(tmp_path), "api")).is_file() and Path(outbox_path(str(tmp_path), "api")).is_file()


def test_the_store_and_the_spool_are_watched_once_a_tick(tmp_path):
    rec, clock = Recorder(), Clock(T0)
    state = {"reachable": True, "spool": 5.0}
    s = service(tmp_path, rec, clock, lambda: (state["reachable"], state["spool"]))
    state.update(reachable=False, spool=85.0)
    fired = []
    for minute in range(0, 12):
        fired += [(n.rule, n.kind) for n in s.check(T0 + minute * MIN)]
    assert ("spool_filling", "fired") in fired and ("store_unreachable", "fired") in fired
    assert ("gateway_silent", "fired") in fired  # the configured gateway never sent a thing
    state.update(reachable=True, spool=20.0)
    done = [(n.rule, n.kind) for n in s.check(T0 + 13 * MIN)]
    assert ("spool_filling", "resolved") in done and ("store_unreachable", "resolved") in done


def test_without_notify_urls_the_rules_run_and_nothing_is_sent(tmp_path):
    s = AlertService(config(tmp_path, urls=()), "mqtt", load_provider, clock=Clock(T0))
    assert not s.sending and "not sent (NOTIFY_URLS not set)" in s.describe()
    s.on_snapshots([snap(T0, alarm=1, alarm_code=60)])
    assert [n.rule for n in s.engine.active()] == ["alarm"]
    assert not Path(outbox_path(str(tmp_path), "mqtt")).exists()
    assert s.health() == {"active": 1, "notices": 1}


def test_run_checks_the_clock_and_delivers_until_stopped(tmp_path):
    rec = Recorder()
    s = AlertService(config(tmp_path), "api", load_provider, gateways=[GW], sender=rec, interval_s=0.05)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(s.run(stop))
        await asyncio.sleep(0.1)
        s.on_snapshots([snap(int(s.clock() * 1000), alarm=1, alarm_code=60)])
        for _ in range(100):
            if rec.sent:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())
    assert len(rec.sent) == 1 and "external alarm" in rec.sent[0][1]
