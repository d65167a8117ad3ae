"""InfluxReader against a real InfluxDB 1.6 (tests/servers.py): what the sink's line protocol
writes comes back as the same Snapshots (values, tags, timestamps); request values cannot
change a query (quoting, injection attempts); errors name their cause and never hold the
password or token."""

from __future__ import annotations

import itertools

import httpx
import pytest
from pydantic import SecretStr

from heatpump_monitor.config import StoreConfig
from heatpump_monitor.model import Snapshot
from heatpump_monitor.stores import GatewayInfo, ReaderError, make_reader
from heatpump_monitor.stores.embedded import EmbeddedReader
from heatpump_monitor.stores.influx import InfluxReader, quote_ident, quote_literal
from heatpump_monitor.stores.influx.lineproto import to_lines
from tests.servers import free_port, influx1_query, start_influxdb1

T0 = 1764324000000  # 2025-11-28T10:00:00Z, on the 30 s grid
I = 30_000
PASSWORD = "Sekr3t-Pw-4471"
TOKEN = "tok-Zz91-very-secret"

_db_counter = itertools.count()


# -- quoting (no server) --------------------------------------------------------------------


def test_quote_literal_escapes_quote_backslash_newline():
    assert quote_literal("gw1") == "'gw1'"
    assert quote_literal("x' OR 1=1 --") == r"'x\' OR 1=1 --'"
    assert quote_literal("back\\slash") == r"'back\\slash'"
    assert quote_literal("a\nb") == r"'a\nb'"
    assert quote_literal('say "hi"') == "'say \"hi\"'"  # a double quote needs no escape here
    assert quote_literal("\\'") == r"'\\\''"  # backslash first, then the quote: no un-escaping


def test_quote_ident_escapes_double_quote():
    assert quote_ident("heatpump") == '"heatpump"'
    assert quote_ident('a"b') == r'"a\"b"'
    assert quote_ident("a\\") == r'"a\\"'


@pytest.mark.parametrize("bad", ["a\rb", "a\x00b"])
def test_quote_refuses_what_influxql_cannot_express(bad):
    with pytest.raises(ValueError):
        quote_literal(bad)
    with pytest.raises(ValueError):
        quote_ident(bad)


def test_make_reader_picks_by_kind(tmp_path):
    assert isinstance(make_reader(StoreConfig(kind="embedded", path=str(tmp_path / "x.sqlite3"))), EmbeddedReader)
    r = make_reader(StoreConfig(kind="influxdb1", url="http://127.0.0.1:1", database="hp"))
    assert isinstance(r, InfluxReader)
    r.close()
    r = make_reader(StoreConfig(kind="influxdb2", url="http://127.0.0.1:1", token=SecretStr("t"), bucket="b"))
    assert isinstance(r, InfluxReader) and r.database == "b"
    r.close()


# -- real server ----------------------------------------------------------------------------



def new_db(url: str, auth=None) -> str:
    name = f"rd_{next(_db_counter)}"
    influx1_query(url, None, f'CREATE DATABASE "{name}"', auth=auth)
    return name


def write(url: str, db: str, body: str, auth=None) -> None:
    with httpx.Client(trust_env=False, timeout=10) as c:
        resp = c.post(f"{url}/write", params={"db": db, "precision": "ms"}, content=body.encode(), auth=auth)
    assert resp.status_code == 204, resp.text


def reader(url: str, db: str, **kw) -> InfluxReader:
    return InfluxReader(StoreConfig(kind="influxdb1", url=url, database=db), **kw)


WEIRD = "o'brien gw,1=2"  # a quote, a space, a comma and an equals sign
SNAPS = (
    # gw1 api: 4 polls, tick 2 missing; register "c" only in the last one (a null elsewhere)
    [Snapshot("192.168.1.100", "thermia", "api", T0 + i * I,
              {"outdoor_temp": -5.3 + i, "supply_temp": 0.1 + 0.2, "tiny": 1e-300, "big": 123456789.12345679,
               **({"c": 7.0} if i == 4 else {})})
     for i in (0, 1, 3, 4)]
    # gw1 mqtt: other values, one register fewer
    + [Snapshot("192.168.1.100", "thermia", "mqtt", T0 + i * I, {"outdoor_temp": -5.5 + i, "supply_temp": 31.25})
       for i in range(4)]
    + [Snapshot(WEIRD, "ivt", "api", T0 + I, {"outdoor_temp": 2.0, "x": -1.0})]
)


@pytest.fixture(scope="module")
def filled(influxdb1):
    db = new_db(influxdb1.url)
    write(influxdb1.url, db, to_lines(SNAPS))
    return db


@pytest.mark.realserver
def test_gateways_lists_each_gateway_and_source(influxdb1, filled):
    with reader(influxdb1.url, filled) as r:
        assert r.gateways() == [
            GatewayInfo("192.168.1.100", "api", "thermia", T0, T0 + 4 * I, 4),
            GatewayInfo("192.168.1.100", "mqtt", "thermia", T0, T0 + 3 * I, 4),
            GatewayInfo(WEIRD, "api", "ivt", T0 + I, T0 + I, 1),
        ]


@pytest.mark.realserver
def test_gateways_of_an_empty_database_is_empty(influxdb1):
    with reader(influxdb1.url, new_db(influxdb1.url)) as r:
        assert r.gateways() == []
        assert list(r.snapshots("gw", T0, T0 + I)) == []
        assert r.latest("gw") is None


@pytest.mark.realserver
def test_snapshots_round_trip_exactly(influxdb1, filled):
    want = sorted((s for s in SNAPS if s.gateway == "192.168.1.100"), key=lambda s: (s.time_ms, s.source))
    with reader(influxdb1.url, filled) as r:
        got = list(r.snapshots("192.168.1.100", T0, T0 + 10 * I))
    assert got == want  # values (nulls dropped), brand/gateway/source tags, timestamps
    assert all(type(v) is float for s in got for v in s.values.values())


@pytest.mark.realserver
def test_snapshots_window_is_start_inclusive_end_exclusive(influxdb1, filled):
    with reader(influxdb1.url, filled) as r:
        got = [(s.source, s.time_ms) for s in r.snapshots("192.168.1.100", T0 + I, T0 + 3 * I)]
    assert got == [("api", T0 + I), ("mqtt", T0 + I), ("mqtt", T0 + 2 * I)]


@pytest.mark.realserver
def test_snapshots_source_filter(influxdb1, filled):
    with reader(influxdb1.url, filled) as r:
        mqtt = list(r.snapshots("192.168.1.100", T0, T0 + 10 * I, source="mqtt"))
        assert mqtt == [s for s in SNAPS if s.source == "mqtt"]
        assert list(r.snapshots("192.168.1.100", T0, T0 + 10 * I, source="modbus")) == []
        assert r.latest("192.168.1.100", source="mqtt") == SNAPS[7]
        assert r.latest("192.168.1.100") == SNAPS[3]


@pytest.mark.realserver
def test_tag_values_with_quote_space_comma_are_found(influxdb1, filled):
    with reader(influxdb1.url, filled) as r:
        assert list(r.snapshots(WEIRD, T0, T0 + 10 * I)) == [SNAPS[-1]]


@pytest.mark.realserver
@pytest.mark.parametrize("attempt", [
    "x' OR 1=1 --",
    "x' OR gateway =~ /.*/ --",
    "192.168.1.100' OR '1'='1",
    "x\\' OR 1=1 --",  # a backslash before the quote must not eat our escape
    "x'; DROP DATABASE \"rd_0\"; --",
    'x" OR 1=1 --',
    "a\nb",
    "",
])
def test_injection_attempts_match_nothing_and_do_not_error(influxdb1, filled, attempt):
    with reader(influxdb1.url, filled) as r:
        assert list(r.snapshots(attempt, T0 - 10 * I, T0 + 10 * I)) == []
        if attempt:  # source="" means no source filter (as in EmbeddedReader)
            assert list(r.snapshots("192.168.1.100", T0 - 10 * I, T0 + 10 * I, source=attempt)) == []
        assert r.latest(attempt) is None
        assert len(r.gateways()) == 3  # nothing was dropped


@pytest.mark.realserver
def test_backslash_in_a_stored_tag_is_matched(influxdb1):
    # InfluxDB 1.6 stores a lone backslash in a tag value literally (written by hand here)
    db = new_db(influxdb1.url)
    write(influxdb1.url, db, f"heatpump,brand=nibe,gateway=back\\slash,source=api a=1.5 {T0}")
    with reader(influxdb1.url, db) as r:
        assert [g.gateway for g in r.gateways()] == ["back\\slash"]
        assert list(r.snapshots("back\\slash", T0, T0 + I)) == [Snapshot("back\\slash", "nibe", "api", T0, {"a": 1.5})]
        assert list(r.snapshots("back", T0, T0 + I)) == []


@pytest.mark.realserver
def test_carriage_return_in_a_name_is_a_reader_error(influxdb1, filled):
    with reader(influxdb1.url, filled) as r, pytest.raises(ReaderError, match="carriage return"):
        list(r.snapshots("a\rb", T0, T0 + I))


@pytest.mark.realserver
def test_long_window_in_slices_keeps_time_order(influxdb1):
    db = new_db(influxdb1.url)
    snaps = [Snapshot("gw", "thermia", src, T0 + i * I, {"a": float(i)}) for i in range(200) for src in ("api", "mqtt")]
    write(influxdb1.url, db, to_lines(snaps))
    with reader(influxdb1.url, db, slice_ms=7 * I + 1234) as r:  # slices not aligned to the grid
        assert list(r.snapshots("gw", T0, T0 + 200 * I)) == snaps


@pytest.mark.realserver
def test_wrong_database_names_it(influxdb1):
    with reader(influxdb1.url, "no_such_db") as r:
        with pytest.raises(ReaderError, match="database 'no_such_db' not found") as exc:
            r.gateways()
        assert "INFLUXDB_DATABASE" in str(exc.value)
        with pytest.raises(ReaderError, match="no_such_db"):
            list(r.snapshots("gw", T0, T0 + I))


@pytest.mark.realserver
def test_influxdb2_kind_uses_the_v1_api_with_the_bucket_as_db(influxdb1, filled):
    # InfluxDB 1.6 without auth ignores the Token header: this checks the db=<bucket> path
    store = StoreConfig(kind="influxdb2", url=influxdb1.url, token=SecretStr(TOKEN), org="o", bucket=filled)
    with InfluxReader(store) as r:
        assert len(r.gateways()) == 3
    store = StoreConfig(kind="influxdb2", url=influxdb1.url, token=SecretStr(TOKEN), org="o", bucket="nobucket")
    with InfluxReader(store) as r, pytest.raises(ReaderError) as exc:
        r.gateways()
    msg = str(exc.value)
    assert "bucket 'nobucket'" in msg and "influx v1 dbrp create" in msg and TOKEN not in msg


def test_unreachable_server_is_a_reader_error():
    with reader(f"http://127.0.0.1:{free_port()}", "hp") as r, pytest.raises(ReaderError) as exc:
        r.gateways()
    assert "unreachable: connection refused" in str(exc.value)


@pytest.mark.realserver
def test_credentials_errors_never_show_the_password(tmp_path):
    h = start_influxdb1(tmp_path / "auth", auth=True)
    try:
        admin = h.credentials
        db = new_db(h.url, auth=admin)
        write(h.url, db, to_lines(SNAPS[:1]), auth=admin)
        ok = StoreConfig(kind="influxdb1", url=h.url, database=db, username=admin[0], password=SecretStr(admin[1]))
        with InfluxReader(ok) as r:
            assert list(r.snapshots("192.168.1.100", T0, T0 + I)) == SNAPS[:1]
        cases = [
            (StoreConfig(kind="influxdb1", url=h.url, database=db, username=admin[0], password=SecretStr(PASSWORD)),
             "rejected the username/password"),
            (StoreConfig(kind="influxdb1", url=h.url, database=db), "requires a username/password"),
            (StoreConfig(kind="influxdb2", url=h.url, token=SecretStr(TOKEN), bucket=db), "rejected the token"),
        ]
        for store, cause in cases:
            with InfluxReader(store) as r, pytest.raises(ReaderError) as exc:
                r.gateways()
            msg = str(exc.value)
            assert cause in msg
            assert PASSWORD not in msg and TOKEN not in msg and admin[1] not in msg
    finally:
        h.stop()


@pytest.mark.realserver
def test_answer_cut_by_max_row_limit_is_asked_again_in_smaller_slices(tmp_path):
    h = start_influxdb1(tmp_path / "limited")
    try:
        h.stop()  # same port and data; now with a row limit
        conf = h.workdir / "influxdb.conf"
        conf.write_text(conf.read_text().replace("[http]\n", "[http]\n  max-row-limit = 5\n"))
        h.start()
        db = new_db(h.url)
        snaps = [Snapshot("gw", "thermia", "api", T0 + i * I, {"a": float(i)}) for i in range(40)]
        write(h.url, db, to_lines(snaps))
        with reader(h.url, db, slice_ms=3600_000) as r:  # 40 rows in one slice: cut at 5
            assert list(r.snapshots("gw", T0, T0 + 40 * I)) == snaps
    finally:
        h.stop()
