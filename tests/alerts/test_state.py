"""Alert state on disk: a restart (a new engine on the same file) neither repeats a "fired"
nor misses a "resolved"; batches are atomic; the history is bounded."""

from __future__ import annotations

import sqlite3

import pytest

from heatpump_monitor.alerts import AlertEngine, AlertStore, Notice, alert_files, alerts_path, parse_alert_settings
from heatpump_monitor.model import Snapshot

from .test_rules import GW, HEALTHY, HOUR, MIN, T0, kinds, snap


@pytest.fixture
def path(tmp_path):
    return alerts_path(str(tmp_path / "data"))


def engine(path: str, **settings: object) -> AlertEngine:
    return AlertEngine(parse_alert_settings(settings), store=AlertStore(path))


def test_the_file_lives_in_the_data_dir():
    assert alerts_path("/data") == "/data/alerts-api.sqlite3"
    assert alerts_path("/data", "watch") == "/data/alerts-watch.sqlite3"


def test_no_repeated_fired_after_a_restart_while_still_active(path):
    e = engine(path)
    assert kinds(e.observe(snap(T0, alarm=1, alarm_code=20))) == [("alarm", "fired")]
    e.store.close()  # type: ignore[union-attr]
    e2 = engine(path)
    assert [(n.rule, n.since_ms) for n in e2.active()] == [("alarm", T0)]
    assert e2.observe(snap(T0 + 5 * MIN, alarm=1, alarm_code=20)) == []
    # the reminder clock survives too: 12 h after the fire, not after the restart
    out = e2.observe(snap(T0 + 12 * HOUR, alarm=1, alarm_code=20))
    assert kinds(out) == [("alarm", "reminder")] and out[0].since_ms == T0


def test_a_condition_that_cleared_during_the_downtime_resolves_on_the_first_snapshot(path):
    e = engine(path)
    e.observe(snap(T0, alarm=1, alarm_code=20))
    for i in range(1, 32):
        e.observe(snap(T0 + i * MIN, alarm=1, alarm_code=20, hot_water_top=35.0))
    assert {n.rule for n in e.active()} == {"alarm", "hot_water"}
    e.store.close()  # type: ignore[union-attr]
    e2 = engine(path)
    out = e2.observe(snap(T0 + 2 * HOUR))
    assert sorted(kinds(out)) == [("alarm", "resolved"), ("hot_water", "resolved")]
    assert {n.rule: n.since_ms for n in out} == {"alarm": T0, "hot_water": T0 + MIN}
    assert e2.active() == [] and AlertStore(path).active() == []
    history = AlertStore(path).history()
    assert {n.kind for n in history[:2]} == {"resolved"}  # newest first
    assert sorted((n.rule, n.kind) for n in history) == [("alarm", "fired"), ("alarm", "resolved"),
                                                        ("hot_water", "fired"), ("hot_water", "resolved")]


def test_a_missing_sensor_still_missing_after_a_restart_stays_active(path):
    e = engine(path, sensor_missing={"ticks": 2})
    gone = {k: v for k, v in HEALTHY["thermia"].items() if k != "outdoor_temp"}
    e.observe(snap(T0))
    out = [n for i in (1, 2) for n in e.observe(Snapshot(GW, "thermia", "api", T0 + i * MIN, gone))]
    assert kinds(out) == [("sensor_missing", "fired")]
    e.store.close()  # type: ignore[union-attr]
    e2 = engine(path, sensor_missing={"ticks": 2})
    assert e2.observe(Snapshot(GW, "thermia", "api", T0 + 10 * MIN, gone)) == []
    assert kinds(e2.observe(snap(T0 + 11 * MIN))) == [("sensor_missing", "resolved")]


def test_short_cycling_is_not_resolved_by_the_empty_history_after_a_restart(path):
    e = engine(path)
    period = 8 * MIN
    for t in range(T0, T0 + 4 * HOUR, 30_000):
        e.observe(snap(t, compressor=1 if (t - T0) % period < 4 * MIN else 0))
    assert "short_cycling" in {n.rule for n in e.active()}
    e.store.close()  # type: ignore[union-attr]
    e2 = engine(path)
    t = T0 + 4 * HOUR
    assert kinds(e2.observe(snap(t, compressor=1)), "short_cycling") == []
    assert kinds(e2.observe(snap(t + 30_000, compressor=1)), "short_cycling") == []


def test_silence_across_a_restart_resolves_when_data_comes_back(path):
    e = AlertEngine(parse_alert_settings({}), store=AlertStore(path), gateways=[GW])
    e.observe(snap(T0))
    assert kinds(e.tick(T0 + 11 * MIN)) == [("gateway_silent", "fired")]
    e.store.close()  # type: ignore[union-attr]
    e2 = AlertEngine(parse_alert_settings({}), store=AlertStore(path), gateways=[GW])
    assert e2.tick(T0 + 20 * MIN) == []  # still silent: no second "fired"
    out = e2.observe(snap(T0 + 21 * MIN))
    assert kinds(out) == [("gateway_silent", "resolved")] and out[0].since_ms == T0


def notice(i: int, kind: str = "fired", rule: str = "alarm") -> Notice:
    return Notice(f"gw{i}", rule, kind, T0 + i, T0 + i, float(i), None, "t")  # type: ignore[arg-type]


def test_history_keeps_the_newest_rows(path):
    store = AlertStore(path, history_rows=5)
    for i in range(12):
        store.apply([notice(i)])
    assert [n.gateway for n in store.history(100)] == ["gw11", "gw10", "gw9", "gw8", "gw7"]
    assert len(store.active()) == 12  # the active table is not trimmed
    assert [n.gateway for n in store.history(2)] == ["gw11", "gw10"]
    assert [n.gateway for n in store.history(100, gateway="gw9")] == ["gw9"]


def test_reminders_update_the_active_row_and_are_not_history(path):
    store = AlertStore(path)
    store.apply([notice(1)])
    store.apply([Notice("gw1", "alarm", "reminder", T0 + 1, T0 + 99, 7.0, None, "t")])
    [a] = store.active()
    assert (a.last_notice_ms, a.value, a.since_ms) == (T0 + 99, 7.0, T0 + 1)
    assert [n.kind for n in store.history()] == ["fired"]


def test_a_failing_batch_leaves_nothing_behind(path):
    store = AlertStore(path)
    store.apply([notice(1)])
    bad = Notice("gw2", "alarm", "fired", T0, T0, float("nan"), None, None)  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        store.apply([notice(3), bad])  # text NOT NULL: the second row fails, the first is rolled back
    assert [a.gateway for a in store.active()] == ["gw1"]
    assert [n.gateway for n in store.history()] == ["gw1"]
    store.apply([notice(4)])  # the store still works afterwards
    assert {a.gateway for a in store.active()} == {"gw1", "gw4"}


def test_alert_files_finds_each_owners_file(tmp_path):
    d = str(tmp_path)
    assert alert_files(d) == {}
    assert alert_files(str(tmp_path / "absent")) == {}
    for owner in ("api", "mqtt", "watch"):
        AlertStore(alerts_path(d, owner)).close()
    (tmp_path / "alerts-old.sqlite3-wal").write_text("")  # not a state file
    assert sorted(alert_files(d)) == ["api", "mqtt", "watch"]
    assert alert_files(d)["mqtt"] == alerts_path(d, "mqtt")
