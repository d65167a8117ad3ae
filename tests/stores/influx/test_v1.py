"""InfluxV1Sink against a real InfluxDB 1.6 (started by tests/servers.py): points read back
with InfluxQL carry one timestamp per poll, float fields, the right tags; rewrites overwrite;
missing database, wrong password and unreachable server give clear SinkErrors that never
hold the password."""

from __future__ import annotations

import itertools
import logging
import shlex

import httpx

import pytest

from heatpump_monitor.model import Snapshot
from heatpump_monitor.stores.base import SinkError
from heatpump_monitor.stores.influx.v1 import InfluxV1Sink
from tests.servers import free_port, influx1_query, influx1_rows, start_influxdb1
from tests.stores import run

T0 = 1764324030000  # 2025-11-28T10:00:30Z, on the 30 s grid
WRONG_PASSWORD = "Wr0ng-Pa55-7731"

_db_counter = itertools.count()



@pytest.fixture(scope="module")
def influx_auth(tmp_path_factory):
    handle = start_influxdb1(tmp_path_factory.mktemp("influxdb1-auth"), auth=True)
    yield handle
    handle.stop()


@pytest.fixture
def db(influxdb1):
    name = f"hp_{next(_db_counter)}"
    influx1_query(influxdb1.url, None, f'CREATE DATABASE "{name}"')
    return name


def select_all(url: str, db: str, auth=None) -> list[dict]:
    rows = influx1_rows(influx1_query(url, db, "SELECT * FROM heatpump", auth=auth))
    return sorted(rows, key=lambda r: (r["gateway"], r["time"]))


SNAPS = [
    Snapshot("127.0.0.1:8081", "thermia", "api", T0,
             {"outdoor_temp": -5.3, "supply_temp": 35.0, "compressor_on": 1.0}),
    Snapshot("127.0.0.1:8081", "thermia", "api", T0 + 30_000,
             {"outdoor_temp": -5.4, "supply_temp": 35.5, "compressor_on": 0.0}),
    Snapshot("192.168.1.100", "ivt", "api", T0,
             {"outdoor_temp": 2.25, "hot_water_top": 51.0}),
]


@pytest.mark.realserver
def test_write_and_read_back_one_timestamp_per_poll(influxdb1, db):
    run(InfluxV1Sink(influxdb1.url, db), "write", SNAPS)

    rows = select_all(influxdb1.url, db)
    assert len(rows) == 3
    for snap, row in zip(sorted(SNAPS, key=lambda s: (s.gateway, s.time_ms)), rows):
        assert row["time"] == snap.time_ms
        assert (row["gateway"], row["brand"], row["source"]) == (snap.gateway, snap.brand, snap.source)
        assert {k: row[k] for k in snap.values} == snap.values
        # fields the poll did not have stay empty in its row
        others = set(row) - set(snap.values) - {"time", "gateway", "brand", "source", "_measurement"}
        assert all(row[k] is None for k in others)

    # every field of a poll, read on its own, carries the poll's time and nothing else
    for snap in SNAPS:
        for name, value in snap.values.items():
            got = influx1_rows(influx1_query(
                influxdb1.url, db,
                f'SELECT "{name}" FROM heatpump WHERE gateway = \'{snap.gateway}\' AND time = {snap.time_ms}ms'))
            assert [(r["time"], r[name]) for r in got] == [(snap.time_ms, value)]

    field_types = {r["fieldKey"]: r["fieldType"] for r in influx1_rows(influx1_query(influxdb1.url, db, "SHOW FIELD KEYS"))}
    assert field_types == {"outdoor_temp": "float", "supply_temp": "float", "compressor_on": "float",
                           "hot_water_top": "float"}
    tag_keys = {r["tagKey"] for r in influx1_rows(influx1_query(influxdb1.url, db, "SHOW TAG KEYS"))}
    assert tag_keys == {"brand", "gateway", "source"}


@pytest.mark.realserver
def test_same_snapshot_again_overwrites(influxdb1, db):
    snap = SNAPS[0]
    run(InfluxV1Sink(influxdb1.url, db), "write", [snap])
    run(InfluxV1Sink(influxdb1.url, db), "write", [snap])
    rows = select_all(influxdb1.url, db)
    assert [(r["time"], r["outdoor_temp"]) for r in rows] == [(T0, -5.3)]

    changed = Snapshot(snap.gateway, snap.brand, snap.source, snap.time_ms, {**snap.values, "outdoor_temp": -7.5})
    run(InfluxV1Sink(influxdb1.url, db), "write", [changed])
    rows = select_all(influxdb1.url, db)
    assert [(r["time"], r["outdoor_temp"], r["supply_temp"]) for r in rows] == [(T0, -7.5, 35.0)]


@pytest.mark.realserver
def test_valueless_snapshots_are_skipped(influxdb1, db):
    empty = Snapshot("127.0.0.1:8081", "thermia", "api", T0 + 60_000, {})
    run(InfluxV1Sink(influxdb1.url, db), "write", [empty, SNAPS[0]])
    assert [r["time"] for r in select_all(influxdb1.url, db)] == [T0]


def test_nothing_to_write_sends_no_request():
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: any request would raise
    run(InfluxV1Sink(dead, "hp"), "write", [])
    run(InfluxV1Sink(dead, "hp"), "write", [Snapshot("gw", "thermia", "api", T0, {})])
    with pytest.raises(SinkError):  # ...while a real point does try to reach it
        run(InfluxV1Sink(dead, "hp"), "write", [SNAPS[0]])


@pytest.mark.realserver
def test_check_passes_on_a_good_database(influxdb1, db):
    assert run(InfluxV1Sink(influxdb1.url, db), "check") is None
    # the check's empty write stores nothing
    assert influx1_rows(influx1_query(influxdb1.url, db, "SHOW MEASUREMENTS")) == []


@pytest.mark.realserver
def test_missing_database(influxdb1):
    for method, args in (("write", [SNAPS]), ("check", [])):
        with pytest.raises(SinkError) as err:
            run(InfluxV1Sink(influxdb1.url, "no_such_db"), method, *args)
        assert str(err.value) == (
            """database 'no_such_db' not found (HTTP 404): create it: influx -execute 'CREATE DATABASE "no_such_db"'""")
        assert err.value.fix and not err.value.rejected


@pytest.mark.realserver
def test_the_fix_for_a_missing_database_is_a_statement_influxdb_runs(influxdb1):
    """The name is quoted for InfluxQL and the statement for the shell: the command creates
    exactly the database the sink writes to, whatever its name."""
    name = 'heat "pump\'s" db'
    with pytest.raises(SinkError) as err:
        run(InfluxV1Sink(influxdb1.url, name), "write", SNAPS)
    argv = shlex.split(err.value.fix.removeprefix("create it: "))
    assert argv[:2] == ["influx", "-execute"] and len(argv) == 3
    influx1_query(influxdb1.url, None, argv[2])
    assert run(InfluxV1Sink(influxdb1.url, name), "write", SNAPS) is None


def test_unreachable():
    url = f"http://127.0.0.1:{free_port()}"
    for method, args in (("write", [SNAPS]), ("check", [])):
        with pytest.raises(SinkError) as err:
            run(InfluxV1Sink(url, "hp", username="u", password=WRONG_PASSWORD, timeout_s=2), method, *args)
        assert str(err.value) == f"InfluxDB at {url} unreachable: connection refused"
    # credentials written into the URL do not reach messages or the description either
    sink = InfluxV1Sink(url.replace("//", f"//u:{WRONG_PASSWORD}@"), "hp")
    assert sink.description == f"InfluxDB 1.x at {url} (database hp)"
    with pytest.raises(SinkError) as err:
        run(sink, "write", SNAPS)
    assert str(err.value) == f"InfluxDB at {url} unreachable: connection refused"


@pytest.mark.realserver
def test_auth_wrong_password_never_shows_it(influx_auth, caplog):
    caplog.set_level(logging.DEBUG)  # no debug line may carry it either
    user, _ = influx_auth.credentials
    for method, args in (("write", [SNAPS]), ("check", [])):
        with pytest.raises(SinkError) as err:
            run(InfluxV1Sink(influx_auth.url, "hp", username=user, password=WRONG_PASSWORD), method, *args)
        msg = str(err.value)
        assert msg == ("InfluxDB rejected the username/password (HTTP 401): "
                       "check INFLUXDB_USERNAME/INFLUXDB_PASSWORD")
        assert WRONG_PASSWORD not in repr(err.value.args)
    assert WRONG_PASSWORD not in caplog.text


@pytest.mark.realserver
def test_auth_missing_credentials(influx_auth):
    with pytest.raises(SinkError) as err:
        run(InfluxV1Sink(influx_auth.url, "hp"), "write", [SNAPS[0]])
    assert "HTTP 401" in str(err.value) and "INFLUXDB_USERNAME/INFLUXDB_PASSWORD" in str(err.value)


@pytest.mark.realserver
def test_auth_right_password_writes_and_user_without_privilege_gets_403(influx_auth):
    user, password = influx_auth.credentials
    influx1_query(influx_auth.url, None, 'CREATE DATABASE "secured"', auth=(user, password))
    sink = lambda **kw: InfluxV1Sink(influx_auth.url, "secured", **kw)  # noqa: E731

    run(sink(username=user, password=password), "check")
    run(sink(username=user, password=password), "write", [SNAPS[2]])
    rows = select_all(influx_auth.url, "secured", auth=(user, password))
    assert [(r["gateway"], r["time"], r["hot_water_top"]) for r in rows] == [("192.168.1.100", T0, 51.0)]

    influx1_query(influx_auth.url, None, "CREATE USER reader WITH PASSWORD 'reader-pw-55'", auth=(user, password))
    influx1_query(influx_auth.url, None, 'GRANT READ ON "secured" TO reader', auth=(user, password))
    for method, args in (("write", [SNAPS]), ("check", [])):
        with pytest.raises(SinkError) as err:
            run(sink(username="reader", password="reader-pw-55"), method, *args)
        assert str(err.value).startswith("InfluxDB user 'reader' may not write database 'secured' (HTTP 403)")
        assert "reader-pw-55" not in str(err.value)


@pytest.mark.realserver
def test_field_type_conflict_is_refused_data_not_an_outage(influxdb1, db):
    """InfluxDB 1.x answers 400 when a field already has another type (e.g. integers written by
    an older collector): the write is marked ``rejected`` so the writer sets it aside."""
    resp = httpx.post(f"{influxdb1.url}/write", params={"db": db, "precision": "ms"}, trust_env=False,
                      content=f"heatpump,gateway=old outdoor_temp=5i {T0 - 60_000}")
    assert resp.status_code == 204, resp.text
    with pytest.raises(SinkError) as err:
        run(InfluxV1Sink(influxdb1.url, db), "write", SNAPS[:1])
    assert err.value.rejected is True
    assert "HTTP 400" in str(err.value) and "conflict" in str(err.value)
    with pytest.raises(SinkError) as err:
        run(InfluxV1Sink(influxdb1.url, "no_such_db"), "write", SNAPS[:1])
    assert err.value.rejected is False


@pytest.mark.realserver
def test_credentials_in_the_url_are_sent_as_basic_auth_and_never_shown(influx_auth):
    user, password = influx_auth.credentials
    influx1_query(influx_auth.url, None, 'CREATE DATABASE "in_url"', auth=(user, password))
    url = influx_auth.url.replace("//", f"//{user}:{password}@")
    sink = InfluxV1Sink(url, "in_url")
    assert password not in sink.description
    run(sink, "write", [SNAPS[2]])
    rows = select_all(influx_auth.url, "in_url", auth=(user, password))
    assert [(r["gateway"], r["hot_water_top"]) for r in rows] == [("192.168.1.100", 51.0)]
