"""The outbox: stored before sending, retried with backoff while the receiver is down,
delivered exactly once when it is back, resumed after a restart, bounded, given up after 24 h."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from heatpump_monitor.alerts.notify import Notifier, TargetResult
from heatpump_monitor.alerts.outbox import GIVE_UP_AFTER_S, Outbox, backoff_s
from heatpump_monitor.masking import Secrets

from ..servers import free_port
from .test_notify import HttpReceiver

T0 = 1_800_000_000.0


def test_backoff_doubles_from_30_s_to_an_hour():
    assert [backoff_s(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff_s(8) == 3600 and backoff_s(1000) == 3600


def test_receiver_down_then_up_delivers_exactly_once(tmp_path):
    port = free_port()
    notifier = Notifier([f"json://127.0.0.1:{port}/hook"], Secrets())
    box = Outbox(tmp_path / "notify.sqlite3", notifier)
    assert box.add("gw1:alarm:1", "Alarm", "gw1: HP alarm 12", T0)
    assert not box.add("gw1:alarm:1", "Alarm", "gw1: HP alarm 12", T0)  # same key: not twice

    assert asyncio.run(box.flush(T0)) == 0  # nobody listens
    h = box.health(T0 + 10)
    assert h["pending"] == 1 and h["failed_attempts"] == 1 and h["oldest_pending_age_s"] == 10
    assert h["last_error"].startswith("1 json://***: ")
    assert box.next_try() == T0 + 30
    assert asyncio.run(box.flush(T0 + 29)) == 0 and box.counters.failed_attempts == 1  # not yet due

    receiver = HttpReceiver(port)
    try:
        assert asyncio.run(box.flush(T0 + 30)) == 1
        assert asyncio.run(box.flush(T0 + 10_000)) == 0  # nothing left: not sent again
        assert len(receiver.requests) == 1
        assert json.loads(receiver.requests[0][2])["message"] == "gw1: HP alarm 12"
        assert box.health(T0 + 31) | {"last_error": ""} == {
            "pending": 0, "oldest_pending_age_s": 0.0, "sent": 1, "failed_attempts": 1, "given_up": 0,
            "dropped": 0, "last_error": ""}
    finally:
        receiver.stop()


def test_a_restart_resumes_pending_messages_and_only_failed_targets(tmp_path):
    receiver = HttpReceiver()
    dead = free_port()
    urls = [f"json://127.0.0.1:{receiver.port}/a", f"json://127.0.0.1:{dead}/b"]
    try:
        box = Outbox(tmp_path / "o.sqlite3", Notifier(urls, Secrets()))
        box.add("k1", "t", "first", T0)
        assert asyncio.run(box.flush(T0)) == 1  # target 1 ok, target 2 down
        box.close()

        late = HttpReceiver(dead)
        try:
            again = Outbox(tmp_path / "o.sqlite3", Notifier(urls, Secrets()))  # the process restarted
            assert again.pending() == 1
            assert asyncio.run(again.flush(T0 + 60)) == 1
            assert [r[0] for r in receiver.requests] == ["/a"] and [r[0] for r in late.requests] == ["/b"]
            assert again.pending() == 0
        finally:
            late.stop()
    finally:
        receiver.stop()


class _Recorder:
    """A sender that records calls and fails while ``up`` is False (no network: unit checks)."""

    def __init__(self) -> None:
        self.up = True
        self.sent: list[str] = []

    @property
    def keys(self) -> list[str]:
        return ["t1"]

    def send_to(self, key: str, title: str, body: str) -> TargetResult:
        if not self.up:
            return TargetResult("1 json://***", False, "refused")
        self.sent.append(body)
        return TargetResult("1 json://***", True)


def test_gives_up_after_a_day_with_one_log_line(tmp_path, caplog):
    sender = _Recorder()
    sender.up = False
    box = Outbox(tmp_path / "o.sqlite3", sender)
    box.add("k", "t", "b", T0)
    asyncio.run(box.flush(T0))
    with caplog.at_level(logging.WARNING, logger="heatpump_monitor.alerts.outbox"):
        asyncio.run(box.flush(T0 + GIVE_UP_AFTER_S + 1))
    assert box.pending() == 0 and box.counters.given_up == 1
    assert len([r for r in caplog.records if "given up" in r.getMessage()]) == 1


def test_keeps_the_newest_messages_only(tmp_path):
    sender = _Recorder()
    box = Outbox(tmp_path / "o.sqlite3", sender, max_messages=3)
    for i in range(5):
        box.add(f"k{i}", "t", f"m{i}", T0 + i)
    assert box.pending() == 3 and box.counters.dropped == 2
    asyncio.run(box.flush(T0 + 10))
    assert sender.sent == ["m2", "m3", "m4"]


def test_concurrent_flushes_send_each_message_once(tmp_path):
    sender = _Recorder()
    box = Outbox(tmp_path / "o.sqlite3", sender)
    for i in range(20):
        box.add(f"k{i}", "t", f"m{i}", T0)

    async def both() -> None:
        await asyncio.gather(box.flush(T0), box.flush(T0))

    asyncio.run(both())
    assert sorted(sender.sent) == sorted(f"m{i}" for i in range(20))


@pytest.mark.parametrize("secret_url", ["json://alice:pw-9Hq2zT@127.0.0.1:{port}/tok7GhJkL0"])
def test_health_names_no_secret(tmp_path, secret_url):
    url = secret_url.format(port=free_port())
    box = Outbox(tmp_path / "o.sqlite3", Notifier([url], Secrets()))
    box.add("k", "t", "b", T0)
    asyncio.run(box.flush(T0))
    text = json.dumps(box.health(T0))
    assert box.counters.failed_attempts == 1 and "pw-9Hq2zT" not in text and "tok7GhJkL0" not in text
    db = b"".join(f.read_bytes() for f in tmp_path.glob("o.sqlite3*"))  # with the WAL file
    assert len(db) > 0
    assert b"pw-9Hq2zT" not in db and b"tok7GhJkL0" not in db


def test_a_damaged_file_is_set_aside_with_one_log_line(tmp_path, caplog):
    path = tmp_path / "o.sqlite3"
    path.write_bytes(b"this is no database" * 100)
    with caplog.at_level(logging.ERROR, logger="heatpump_monitor.alerts.outbox"):
        box = Outbox(path, _Recorder())
    assert len(caplog.records) == 1 and "unreadable" in caplog.records[0].getMessage()
    assert (tmp_path / "o.sqlite3.damaged").read_bytes().startswith(b"this is no database")
    assert box.add("k", "t", "b", T0) and box.pending() == 1


def test_the_same_url_twice_is_a_config_error():
    from heatpump_monitor.config import ConfigError

    with pytest.raises(ConfigError, match="same URL as entry 1"):
        Notifier(["ntfy://127.0.0.1:1/topic", "ntfy://127.0.0.1:1/topic"], Secrets())


def test_metric_families_expose_the_counters(tmp_path):
    from heatpump_monitor.alerts.outbox import metric_families

    sender = _Recorder()
    sender.up = False
    box = Outbox(tmp_path / "o.sqlite3", sender)
    box.add("k", "t", "b", T0)
    asyncio.run(box.flush(T0))
    values = {s.name: s.value for f in metric_families(box, T0 + 90) for s in f.samples}
    assert values["heatpump_notify_failed_attempts_total"] == 1 and values["heatpump_notify_pending"] == 1
    assert values["heatpump_notify_oldest_pending_age_seconds"] == 90 and values["heatpump_notify_sent_total"] == 0
