"""InfluxReader.series against a real InfluxDB 1.6: the same snapshots written to InfluxDB (line
protocol, as the sink writes them) and to the embedded store give the same series - buckets,
min/max exactly, means within float rounding - on the raw and the rollup grid, for registers
and derived fields; request values cannot change the query."""

from __future__ import annotations

import itertools

import httpx
import pytest

from heatpump_monitor.config import StoreConfig
from heatpump_monitor.model import Snapshot
from heatpump_monitor.stores.embedded import EmbeddedReader
from heatpump_monitor.stores.influx import InfluxReader
from heatpump_monitor.stores.embedded import EmbeddedSink
from heatpump_monitor.stores.influx.lineproto import to_lines
from tests.servers import influx1_query

T0 = 1764324000000  # 2025-11-28T10:00:00Z
I = 30_000
H = 3_600_000
DAY = 24 * H
OUTAGE = (T0 + 20 * H + 4 * 60_000, T0 + 23 * H + 11 * 60_000)

_db_counter = itertools.count()


def values_at(i: int) -> dict[str, float]:
    v = {
        "outdoor_temp": round(-3.0 + 0.37 * (i % 29) - 0.11 * (i % 7), 2),
        "radiator_forward": round(30.0 + (i % 11) * 0.3, 1),
        "radiator_return": round(25.0 + (i % 7) * 0.7, 1),
        "brine_in_evaporator": round(2.0 + (i % 5) * 0.1, 1),
        "brine_out_condenser": round(-1.0 + (i % 3) * 0.4, 1),
    }
    if i % 13 == 0:
        del v["radiator_return"]
    return v


def snapshots() -> list[Snapshot]:
    out = []
    for i in range(2 * DAY // I):
        t = T0 + i * I
        if OUTAGE[0] <= t < OUTAGE[1]:
            continue
        out.append(Snapshot("gw-1", "thermia", "api", t, values_at(i)))
        if i % 4 == 0:  # a second source of the same gateway, off the api grid
            out.append(Snapshot("gw-1", "thermia", "mqtt", t + 7_000, {"outdoor_temp": -20.0 + (i % 17),
                                                                       "radiator_forward": 45.5}))
    out.append(Snapshot("other", "thermia", "api", T0 + 5 * I, {"outdoor_temp": 99.0}))
    return out


@pytest.fixture(scope="module")
def stores(influxdb1, tmp_path_factory):
    db = f"series_{next(_db_counter)}"
    influx1_query(influxdb1.url, None, f'CREATE DATABASE "{db}"')
    snaps = snapshots()
    body = to_lines(snaps)
    with httpx.Client(trust_env=False, timeout=30) as c:
        resp = c.post(f"{influxdb1.url}/write", params={"db": db, "precision": "ms"}, content=body.encode())
    assert resp.status_code == 204, resp.text
    path = tmp_path_factory.mktemp("influx_series") / "s.sqlite3"
    EmbeddedSink(path).write_sync(snaps)
    influx = InfluxReader(StoreConfig(kind="influxdb1", url=influxdb1.url, database=db))
    yield influx, EmbeddedReader(path)
    influx.close()


def assert_same(a, b):
    assert [s.field for s in a] == [s.field for s in b]
    for x, y in zip(a, b):
        assert x.t == y.t, x.field
        assert x.min == y.min and x.max == y.max, x.field
        assert [m is None for m in x.mean] == [m is None for m in y.mean], x.field
        assert [m for m in x.mean if m is not None] == pytest.approx(
            [m for m in y.mean if m is not None], rel=1e-9, abs=1e-9), x.field


FIELDS = ["outdoor_temp", "radiator_forward", "delta_t_radiator", "delta_t_brine"]

CASES = {
    "2d raw grid": (T0, T0 + 2 * DAY, 1500, None),  # 115.2 s buckets from start
    "2d rollup grid": (T0, T0 + 2 * DAY, 100, None),  # 30 min buckets
    "unaligned rollup grid": (T0 + 7 * 60_000 + 13_000, T0 + 2 * DAY - 250_000, 48, None),  # 1 h, offset
    "6h around the outage": (T0 + 19 * H + 17_000, T0 + 25 * H, 1500, None),
    "api only": (T0 + 3 * H + 1, T0 + 30 * H, 40, "api"),
    "mqtt only, raw": (T0, T0 + 3 * H, 1000, "mqtt"),
}


@pytest.mark.realserver
@pytest.mark.parametrize("case", list(CASES))
def test_influx_series_equals_embedded_series(stores, case):
    influx, embedded = stores
    start, end, max_points, source = CASES[case]
    a = influx.series("gw-1", FIELDS, start, end, max_points=max_points, source=source)
    b = embedded.series("gw-1", FIELDS, start, end, max_points=max_points, source=source)
    assert a[0].t, "no data at all: the comparison would prove nothing"
    assert len(a[0].t) <= max_points
    assert_same(a, b)


@pytest.mark.realserver
def test_influx_gaps_and_derived_values(stores):
    influx, _ = stores
    start, end = T0 + 19 * H, T0 + 25 * H
    out, d = influx.series("gw-1", ["outdoor_temp", "delta_t_radiator"], start, end, max_points=36, source="api")
    assert len(out.t) == 36 - 18  # 10 min buckets; 20:10 .. 23:00 fully in the outage
    assert T0 + 20 * H + 10 * 60_000 not in out.t and T0 + 23 * H + 10 * 60_000 in out.t
    # the first bucket (19:00-19:10): delta = forward - return per snapshot, by hand
    ds = [v["radiator_forward"] - v["radiator_return"]
          for i in range((19 * H) // I, (19 * H + 10 * 60_000) // I)
          for v in [values_at(i)] if "radiator_return" in v]
    assert (d.min[0], d.max[0]) == (min(ds), max(ds))
    assert d.mean[0] == pytest.approx(sum(ds) / len(ds), rel=1e-12)


@pytest.mark.realserver
def test_influx_series_first_bucket_clamped_to_start(stores):
    influx, _ = stores
    start = T0 + 7 * 60_000 + 13_000  # inside the 10:00-11:00 bucket of a 1 h grid
    (s,) = influx.series("gw-1", ["outdoor_temp"], start, T0 + 2 * DAY, max_points=48, source="api")
    assert s.t[0] == start and s.t[1] == T0 + H


@pytest.mark.realserver
@pytest.mark.parametrize("gateway", ["gw-1' OR gateway =~ /.*/ --", "x' OR '1'='1", "gw-1\\", 'gw-1" OR 1=1'])
def test_injection_in_gateway_returns_nothing(stores, gateway):
    influx, _ = stores
    series = influx.series(gateway, FIELDS, T0, T0 + 2 * DAY, max_points=50)
    assert [s.t for s in series] == [[]] * len(FIELDS)


@pytest.mark.realserver
def test_odd_field_names_are_quoted(stores):
    influx, _ = stores
    bad, ok = influx.series("gw-1", ['x") FROM heatpump --', "outdoor_temp"], T0, T0 + 12 * H, max_points=12)
    assert len(ok.t) == 12 and set(bad.mean) == {None}
