"""``heatpump-monitor summary``: table, CSV and JSON of a real embedded store; clear errors."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from heatpump_monitor.cli import main
from heatpump_monitor.model import Snapshot
from heatpump_monitor.stores.embedded import EmbeddedSink

REQUIRED = ("start", "compressor_starts", "compressor_runtime_h", "add_heat_h", "energy_kwh", "cop",
            "short_cycling", "outdoor_mean", "estimated")


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    t0 = int(midnight.timestamp() * 1000)
    snaps = [Snapshot("gw", "thermia", "api", t0 + k * 30_000,
                      {"compressor": 1.0 if (k // 40) % 2 else 0.0, "power_w": 2000.0 if (k // 40) % 2 else 10.0,
                       "outdoor_temp": -5.0})
             for k in range(2880)]  # yesterday, whole: a start every 40 minutes
    path = tmp_path / "s.sqlite3"
    EmbeddedSink(path).write_sync(snaps)
    return path, midnight.date()


def test_json_is_a_list_of_periods_with_the_promised_keys(store, capsys):
    path, yesterday = store
    assert main(["summary", "--store", str(path), "--from", str(yesterday), "--to", str(yesterday), "--json"]) == 0
    [gw] = json.loads(capsys.readouterr().out)
    assert gw["gateway"] == "gw" and gw["tz"] == "UTC"
    [day] = gw["periods"]
    assert all(k in day for k in REQUIRED)
    assert day["start"] == f"{yesterday}T00:00:00+00:00"
    assert day["compressor_starts"] == 36 and day["compressor_runtime_h"] == pytest.approx(12.0, abs=0.01)
    # 1,439 running spans of 30 s at 2 kW (the last tick's span is not closed) + 1,440 idle at 10 W
    assert day["energy_kwh"] == pytest.approx(1439 * 30 / 3600 * 2 + 1440 * 30 / 3600 * 0.01, abs=1e-3) and day["energy_method"] == "power"
    assert day["outdoor_mean"] == -5.0 and day["short_cycling"] is False


def test_table_and_csv(store, capsys):
    path, yesterday = store
    assert main(["summary", "--store", str(path), "--since", "2d"]) == 0
    out = capsys.readouterr().out
    assert "gw (thermia)" in out and str(yesterday) in out and "computed in" in out
    assert main(["summary", "--store", str(path), "--since", "2d", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["start"][:10] for r in rows] == [str(yesterday), str(yesterday + timedelta(days=1))]
    assert rows[0]["compressor_starts"] == "36" and "cop" in rows[0]["estimated"].split(";")


def test_errors_are_one_line(store, capsys, tmp_path):
    path, _ = store
    assert main(["summary", "--store", str(path), "--gateway", "nope"]) == 1
    assert capsys.readouterr().err.startswith("error: no data for gateway 'nope'")
    assert main(["summary", "--store", str(tmp_path / "missing.sqlite3")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["summary", "--store", str(path), "--from", "2026-02-01", "--to", "2026-01-01"]) == 2
    assert "first day on or before the last" in capsys.readouterr().err


@pytest.mark.parametrize("text,days", [("30d", 30), ("4w", 28), (" 7 d ", 7), ("3700d", 3700)])
def test_one_rule_for_since_in_the_cli_and_the_api(text, days):
    from heatpump_monitor.analytics.cli import since_arg
    from heatpump_monitor.analytics.summary import parse_days

    assert parse_days(text) == since_arg(text) == days


@pytest.mark.parametrize("text,message", [("yesterday", "expected days or weeks, e.g. 30d or 4w"),
                                          ("0d", "at least 1 day"), ("3701d", "at most 3700 days"),
                                          ("530w", "at most 3700 days")])
def test_since_is_refused_in_the_same_words_by_the_cli_and_the_api(text, message):
    """The CLI's --since and the API's since= share analytics.summary.parse_days: same words."""
    import argparse

    from heatpump_monitor.analytics.cli import since_arg
    from heatpump_monitor.web.errors import ApiError
    from heatpump_monitor.web.summaries import Summaries

    with pytest.raises(argparse.ArgumentTypeError, match=f"^{message}$"):
        since_arg(text)
    summaries = SimpleNamespace(today=lambda: date(2026, 12, 3))  # all Summaries.days asks of itself
    with pytest.raises(ApiError) as err:
        Summaries.days(summaries, text, None, None, 7, 3700, "")  # type: ignore[arg-type]
    assert err.value.status == 400 and err.value.message.endswith(f": {message}")
