"""Derived values of any shape from a real InfluxDB 1.6: on chart buckets under 10 minutes a
ratio, a counter's increase (with a reset, and the snapshot before the range) and a weighted
linear one equal the embedded store's; on longer buckets the ratio and increase come from
bucket summaries: the mean only, as derived.py documents."""

from __future__ import annotations

import itertools

import httpx
import pytest

from heatpump_monitor.config import StoreConfig
from heatpump_monitor.stores.embedded import EmbeddedReader, EmbeddedSink
from heatpump_monitor.stores.influx import InfluxReader
from heatpump_monitor.stores.influx.lineproto import to_lines
from tests.servers import influx1_query
from tests.stores.derived_data import DAY, FIELDS, H, I, RESET, T0, registered, two_days
from tests.stores.influx.test_series import assert_same

_db_counter = itertools.count()


@pytest.fixture(scope="module")
def stores(influxdb1, tmp_path_factory):
    db = f"derived_{next(_db_counter)}"
    influx1_query(influxdb1.url, None, f'CREATE DATABASE "{db}"')
    snaps = two_days(counter_gap=False)  # InfluxDB sees only points holding an input: see derived.py
    with httpx.Client(trust_env=False, timeout=30) as c:
        resp = c.post(f"{influxdb1.url}/write", params={"db": db, "precision": "ms"},
                      content=to_lines(snaps).encode())
    assert resp.status_code == 204, resp.text
    path = tmp_path_factory.mktemp("influx_derived") / "s.sqlite3"
    with registered():
        EmbeddedSink(path).write_sync(snaps)
    influx = InfluxReader(StoreConfig(kind="influxdb1", url=influxdb1.url, database=db))
    yield influx, EmbeddedReader(path), snaps
    influx.close()


CASES = {
    "2d raw grid": (T0, T0 + 2 * DAY, 1500, None),
    "6h around the outage, unaligned": (T0 + 19 * H + 17_000, T0 + 25 * H, 1500, None),
    "around the reset, api only": (T0 + RESET * I - H + 1, T0 + RESET * I + H, 1000, "api"),
    "mqtt only": (T0 + 5 * H + 3, T0 + 8 * H, 700, "mqtt"),
}


@pytest.mark.realserver
@pytest.mark.parametrize("case", list(CASES))
def test_raw_grid_equals_embedded(stores, case):
    influx, embedded, _ = stores
    start, end, max_points, source = CASES[case]
    with registered():
        a = influx.series("gw", FIELDS, start, end, max_points=max_points, source=source)
        b = embedded.series("gw", FIELDS, start, end, max_points=max_points, source=source)
    assert a[0].t and any(m is not None for s in a[2:4] for m in s.mean)
    assert_same(a, b)


@pytest.mark.realserver
def test_long_buckets_linear_exact_increase_and_ratio_from_bucket_summaries(stores):
    influx, embedded, snaps = stores
    start, end = T0 + H, T0 + 19 * H  # 1 h buckets, api only: no reset (poll 3000 is at 35 h)
    with registered():
        a = influx.series("gw", FIELDS, start, end, max_points=18, source="api")
        b = embedded.series("gw", FIELDS, start, end, max_points=18, source="api")
    by = {s.field: s for s in a}
    exact = {s.field: s for s in b}
    for f in ("outdoor_temp", "test_mix", "delta_t_radiator"):
        assert_same([by[f]], [exact[f]])
    # the increase: its mean is exact here (no reset, the counter in every snapshot); no min/max
    assert by["test_starts"].mean == pytest.approx(exact["test_starts"].mean, rel=1e-12)
    assert set(by["test_starts"].min) == set(by["test_starts"].max) == {None}
    # the ratio: mean(heat) / mean(electric) per hour, by hand (approximate by definition)
    api = [s for s in snaps if s.source == "api"]
    for k, t in enumerate(by["test_cop"].t):
        hour = [s.values for s in api if t <= s.time_ms < t + H]
        heat = [v["heat_power"] for v in hour if "heat_power" in v]
        el = [v["electric_power"] for v in hour]
        assert by["test_cop"].mean[k] == pytest.approx((sum(heat) / len(heat)) / (sum(el) / len(el)), rel=1e-12)
    assert by["test_cop"].mean != pytest.approx(exact["test_cop"].mean, rel=1e-3)
