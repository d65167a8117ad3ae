"""The same snapshots in the embedded store and in a real InfluxDB 1.x give the same summaries
and events, by hour and by local day; a warm cache answers the same as a cold one; a replay
into the past is seen."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from heatpump_monitor.analytics import Prices, Summarizer
from heatpump_monitor.config import AnalyticsConfig, StoreConfig
from heatpump_monitor.model import Snapshot
from heatpump_monitor.stores.embedded import EmbeddedReader, EmbeddedSink
from heatpump_monitor.stores.influx import InfluxReader
from heatpump_monitor.stores.influx.lineproto import to_lines
from tests.servers import influx1_query

STHLM = ZoneInfo("Europe/Stockholm")
CONFIG = AnalyticsConfig(tz=STHLM)
I = 30_000
DAY0 = date(2026, 10, 24)  # then 25 October: the 25-hour day
T0 = int(datetime(2026, 10, 24, tzinfo=STHLM).timestamp() * 1000)
_db = itertools.count()


def history() -> list[Snapshot]:
    """Two and a half local days of a Thermia: cycles, hot water, an alarm, a wrapping energy
    counter, power, and an hour-long gap."""
    out = []
    kwh = 65500.0
    for k in range(int(2.5 * 86400 / 30)):
        t = T0 + k * I
        if 2000 <= k < 2120:
            continue  # the gateway was silent for an hour
        minute = (k // 2) % 45
        on = minute < 20 or (k // 2) % 360 < 40
        hot = (k // 2) % 360 < 40
        kwh += 0.03 if on else 0.001
        out.append(Snapshot("gw", "thermia", "api", t, {
            "compressor": 1.0 if on else 0.0,
            "switch_valve": 1.0 if hot else 0.0,
            "hot_water_top": 45.0 + (0.2 * ((k // 2) % 360) if hot else 0.0),
            "outdoor_temp": -3.0 + 4.0 * ((k % 2880) / 2880),
            "degree_minutes": -40.0 + (k % 90),
            "radiator_forward": 38.0 + (2.5 if on else 0.0),
            "radiator_return": 36.0,
            "power_w": 1900.0 if on else 15.0,
            "energy_kwh": float(int(kwh) % 65536),
            "alarm": 1.0 if 5000 <= k < 5040 else 0.0,
            "alarm_code": 10.0 if 5000 <= k < 5040 else 0.0,
        }))
    return out


@pytest.fixture(scope="module")
def stores(influxdb1, tmp_path_factory):
    db = f"analytics_{next(_db)}"
    influx1_query(influxdb1.url, None, f'CREATE DATABASE "{db}"')
    snaps = history()
    with httpx.Client(trust_env=False, timeout=60) as c:
        resp = c.post(f"{influxdb1.url}/write", params={"db": db, "precision": "ms"}, content=to_lines(snaps).encode())
    assert resp.status_code == 204, resp.text
    path = tmp_path_factory.mktemp("analytics") / "s.sqlite3"
    EmbeddedSink(path).write_sync(snaps)
    influx = InfluxReader(StoreConfig(kind="influxdb1", url=influxdb1.url, database=db))
    yield influx, EmbeddedReader(path), path
    influx.close()


def _answers(reader):
    s = Summarizer(reader, CONFIG, Prices(1.5, "SEK"))
    info = s.gateway("gw")
    days = [p.as_dict() for p in s.periods(info, DAY0, date(2026, 10, 26), "day")]
    hours = [p.as_dict() for p in s.periods(info, DAY0, date(2026, 10, 26), "hour")]
    events = s.events(info, T0, T0 + 3 * 86_400_000)
    return s, info, days, hours, events


@pytest.mark.realserver
def test_influxdb1_and_embedded_give_the_same_summaries(stores):
    influx, embedded, _ = stores
    _, _, d1, h1, e1 = _answers(influx)
    _, _, d2, h2, e2 = _answers(embedded)
    assert d1 == d2 and h1 == h2 and e1 == e2
    assert [d["hours"] for d in d1] == [24, 25, 24]
    first = d1[0]
    assert first["compressor_starts"] > 20 and first["energy_method"] == "counter"
    assert first["unknown_h"] == pytest.approx(1 + 0.5 / 60, abs=1e-3)  # the silent hour
    kinds = {e.kind for e in e1}
    assert {"compressor_on", "compressor_off", "hot_water_start", "hot_water_end", "alarm_raised",
            "alarm_cleared", "gateway_silent", "gateway_back"} <= kinds
    assert [e.text for e in e1 if e.kind == "alarm_raised"] == ["high pressure switch"]


def test_the_cache_answers_like_a_cold_read_and_sees_a_replay(tmp_path):
    snaps = history()
    path = tmp_path / "s.sqlite3"
    held_back = [s for s in snaps if T0 + 3_600_000 <= s.time_ms < T0 + 7_200_000]
    EmbeddedSink(path).write_sync([s for s in snaps if s not in held_back])
    s, info, cold, _, _ = _answers(EmbeddedReader(path))
    warm = [p.as_dict() for p in s.periods(s.gateway("gw"), DAY0, date(2026, 10, 26), "day")]
    assert warm == cold
    assert len(s._cache[("gw", "api")].units) > 40  # closed hours were kept
    # the held-back hour arrives late (a spool replay): the first day changes
    EmbeddedSink(path).write_sync(held_back)
    after = [p.as_dict() for p in s.periods(s.gateway("gw"), DAY0, date(2026, 10, 26), "day")]
    assert after[0]["snapshots"] == cold[0]["snapshots"] + len(held_back)
    assert after[0]["unknown_h"] < cold[0]["unknown_h"]
    _, _, fresh, _, _ = _answers(EmbeddedReader(path))
    assert after == fresh
