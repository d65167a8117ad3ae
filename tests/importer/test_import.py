"""``import-upstream`` against a real InfluxDB 1.x holding a week of the old collector's tall
schema (tests/importer/tall_data.py): imported into the embedded store and into a second
InfluxDB database, through the command line.

The expected snapshots come from a plain restatement of the collector's rules over the stored
points (:func:`expected`), and the rules' visible effects are also asserted one by one:
alignment, held values, gaps where the old data stopped, forgetting after a long silence,
rescale, unknown registers, idempotence, resume, and no secret in any output."""

from __future__ import annotations

import itertools
import json
import sqlite3

import httpx
import pytest

from heatpump_monitor.cli import main
from heatpump_monitor.config import StoreConfig
from heatpump_monitor.providers import load_provider
from heatpump_monitor.stores import make_reader
from tests.importer import tall_data as td
from tests.servers import free_port, influx1_query, influx1_rows, start_influxdb1

INTERVAL_S = 30
SILENT_S = 300
SINCE = "2026-01-01"
UNTIL = "2026-01-08"
T0_MS = td.T0_S * 1000
END_MS = T0_MS + td.WEEK_S * 1000
GATEWAY = "192.168.1.100"
PASSWORD = "old-Secret-pw-9931"

_names = itertools.count()

pytestmark = pytest.mark.realserver


# -- the old database ----------------------------------------------------------------------


def fill(url: str, db: str, points: list[td.OldPoint], auth: tuple[str, str] | None = None) -> None:
    influx1_query(url, None, f'CREATE DATABASE "{db}"', auth=auth)
    with httpx.Client(timeout=60) as client:
        for i in range(0, len(points), 20_000):
            body = "\n".join(p.line() for p in points[i:i + 20_000])
            r = client.post(f"{url}/write", params={"db": db, "precision": "ms"}, content=body, auth=auth)
            assert r.status_code == 204, r.text


@pytest.fixture(scope="module")
def week_points() -> list[td.OldPoint]:
    return td.week()


@pytest.fixture(scope="module")
def old_db(influxdb1, week_points) -> str:
    db = "old_collector"
    fill(influxdb1.url, db, week_points)
    return db


@pytest.fixture
def env(tmp_path, monkeypatch):
    """The collector's variables as a user of the MQTT collector has them; the store by --store."""
    monkeypatch.chdir(tmp_path)
    for var in ("STORE", "INFLUXDB_URL", "INFLUXDB_TOKEN", "INFLUXDB_DATABASE", "INFLUXDB_USERNAME",
                "INFLUXDB_PASSWORD", "GATEWAY_NAME", "H66_MAC", "CONFIG_FILE", "STORE_UNKNOWN_REGISTERS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HEATPUMP_BRAND", td.BRAND)
    monkeypatch.setenv("COLLECTION_INTERVAL", str(INTERVAL_S))
    monkeypatch.setenv("MQTT_SILENT_LIMIT", str(SILENT_S))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def import_args(url: str, db: str, *extra: str) -> list[str]:
    return ["import-upstream", "--from-url", url, "--from-database", db, "--since", SINCE, "--until", UNTIL,
            "--gateway", GATEWAY, "--rescale", f"{td.WRONG_FACTOR_ID}=0.1", *extra]


def run_cli(capsys, args: list[str]) -> tuple[int, str, str]:
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def stored(store: StoreConfig, source: str = "import") -> dict[int, dict[str, float]]:
    reader = make_reader(store)
    try:
        return {s.time_ms: s.values for s in reader.snapshots(GATEWAY, T0_MS, END_MS, source=source)}
    finally:
        reader.close()


# -- the rules, restated plainly -----------------------------------------------------------


def expected(points: list[td.OldPoint]) -> dict[int, dict[str, float]]:
    """Tick T: each register's latest value among points before T (rescaled, decoded as
    scaled); nothing while the last point is more than the silent limit old; everything
    forgotten once it is more than twice that old."""
    provider = load_provider(td.BRAND)
    interval, silent = INTERVAL_S * 1000, SILENT_S * 1000
    values: dict[str, float] = {}
    last: int | None = None
    out: dict[int, dict[str, float]] = {}
    i = 0
    for tick in range(T0_MS, END_MS, interval):
        while i < len(points) and points[i].time_ms < tick:
            p = points[i]
            i += 1
            if provider.register(p.register_id) is None:
                continue
            v = p.value * 0.1 if p.register_id == td.WRONG_FACTOR_ID else p.value
            d = provider.decode_poll({p.register_id: v}, scaled=True)
            if d.values or d.absent:
                last = p.time_ms
                values.update(d.values)
                for name in d.absent:
                    values.pop(name, None)
        if last is None:
            continue
        if tick - last > 2 * silent:
            values, last = {}, None
        elif tick - last <= silent and values:
            out[tick] = dict(values)
    return out


@pytest.fixture(scope="module")
def truth(week_points) -> dict[int, dict[str, float]]:
    return expected(week_points)


# -- tests ---------------------------------------------------------------------------------


def test_week_into_the_embedded_store(influxdb1, old_db, week_points, truth, env, capsys):
    store = StoreConfig(kind="embedded", path=str(env / "hp.sqlite3"))
    rc, out, err = run_cli(capsys, import_args(influxdb1.url, old_db, "--store", store.path))
    assert rc == 0, err
    got = stored(store)
    assert got == truth  # every tick, every value, exactly

    # aligned: every snapshot on the 30 s grid, one per tick
    assert got and all(t % (INTERVAL_S * 1000) == 0 for t in got)
    # jittered points, yet most ticks have a snapshot: 7 days = 20,160 ticks
    assert len(got) > 19_000

    def at(day: int, h: int, m: int = 0) -> int:
        return T0_MS + ((day * 24 + h) * 60 + m) * 60_000

    constant = td.CONSTANT_NAME
    # held: the constant register was published once, at the start, and is in every snapshot
    # until the long silence...
    # (but in the first minute after a full publish, the points of that publish are still coming)
    gap_end = T0_MS + sum(td.OUTAGES["gap"]) * 1000
    settling = [(T0_MS, T0_MS + 60_000), (gap_end, gap_end + 60_000)]
    held = [v for t, v in got.items() if t < at(5, 14) and not any(a <= t <= b for a, b in settling)]
    missing = [t for t, v in got.items() if t < at(5, 14) and constant not in v]
    assert len(held) > 15_000 and all(constant in v for v in held), missing[:5]
    # ...and gone after it (forgotten with the silent gateway; never published again)
    after = [v for t, v in got.items() if t > at(5, 17, 2)]
    assert after and all(constant not in v for v in after)
    assert all("radiator_forward" in v for v in after)  # changing registers come back at once

    # the silences: 3 min < silent limit -> no gap; the others -> no snapshots once the last
    # point is 300 s old, until points come again
    for name, (start, length) in td.OUTAGES.items():
        a, b = T0_MS + start * 1000, T0_MS + (start + length) * 1000
        inside = [t for t in got if a <= t < b]
        if length * 1000 <= SILENT_S * 1000:
            assert len(inside) == length // INTERVAL_S, name
        else:
            assert not [t for t in inside if t >= a + SILENT_S * 1000], name
            assert [t for t in got if b + 60_000 < t < b + 180_000], name  # snapshots resume
    # the 7-minute silence: values held across it (the constant one, published before it, is there)
    a = T0_MS + (td.OUTAGES["held"][0] + td.OUTAGES["held"][1]) * 1000
    assert constant in got[min(t for t in got if t > a + 60_000)]

    # rescale: the energy counter back to the model's kWh, not x10
    noon = at(3, 12)
    old_value = [p.value for p in week_points if p.register_id == td.WRONG_FACTOR_ID and p.time_ms < noon][-1]
    assert got[noon]["energy_kwh"] == pytest.approx(old_value / td.WRONG_FACTOR, rel=1e-12)
    assert 1000 < got[noon]["energy_kwh"] < 1_000_000  # kWh of a pump some years old, not x10
    assert "Rescaled:" in out and f"{td.WRONG_FACTOR_ID} x0.1" in out

    # unknown register: counted, named, not stored; the sensor without sensor not stored either
    unknown = sum(1 for p in week_points if p.register_id == td.UNKNOWN_ID)
    assert f"{td.UNKNOWN_ID} ({unknown})" in out
    assert all("reg_0A99" not in v and "cooling_temp" not in v for v in got.values())

    # the coverage report: verify's table and gaps, the silences among them
    assert "coverage" in out and GATEWAY in out and "Gaps" in out
    # (expected from the first snapshot on, as verify counts: the tick at 00:00:00 had no point before it)
    assert f"{len(got)} of {(END_MS - min(got)) // (INTERVAL_S * 1000)} ticks present" in out
    # progress: a plain line per chunk (stderr is not a terminal here)
    assert err.count("import: chunk ") == 7


def test_since_inside_the_old_data_starts_with_what_the_gateway_had(influxdb1, old_db, truth, env, capsys):
    """--since 2026-01-03: the held values at that moment come from before it (the constant
    register was published once, on 2026-01-01), so the result is the whole import's from then on."""
    store = StoreConfig(kind="embedded", path=str(env / "later.sqlite3"))
    args = import_args(influxdb1.url, old_db, "--store", store.path)
    args[args.index("--since") + 1] = "2026-01-03"
    rc, _, err = run_cli(capsys, args)
    assert rc == 0, err
    day3 = T0_MS + 2 * 86_400_000
    got = stored(store)
    assert got == {t: v for t, v in truth.items() if t >= day3}
    assert td.CONSTANT_NAME in got[day3]


def _rows(path: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT * FROM snapshots ORDER BY gateway, source, ts_ms").fetchall()


def test_rerun_changes_nothing_and_resume_gives_the_same_result(influxdb1, old_db, env, capsys):
    whole = str(env / "whole.sqlite3")
    assert run_cli(capsys, import_args(influxdb1.url, old_db, "--store", whole))[0] == 0
    before = _rows(whole)
    # the same import again, from the start (not from the checkpoint): nothing changes
    rc, _, err = run_cli(capsys, import_args(influxdb1.url, old_db, "--store", whole, "--restart"))
    assert rc == 0, err
    assert _rows(whole) == before
    # run again without --restart: the checkpoint says it is done
    rc, _, err = run_cli(capsys, import_args(influxdb1.url, old_db, "--store", whole))
    assert rc == 0 and "already imported" in err
    assert _rows(whole) == before

    # interrupted after 3 of 7 chunks, then run again: continues there, ends the same
    parts = str(env / "parts.sqlite3")
    rc, _, err = run_cli(capsys, import_args(influxdb1.url, old_db, "--store", parts, "--max-chunks", "3"))
    assert rc == 0 and "stopped after 3 chunk(s)" in err
    assert 0 < len(_rows(parts)) < len(before)
    rc, out, err = run_cli(capsys, import_args(influxdb1.url, old_db, "--store", parts))
    assert rc == 0 and "resuming at 2026-01-04T00:00:00.000Z" in err
    assert err.count("import: chunk ") == 4
    assert _rows(parts) == before
    assert f"{len(before)} of {td.WEEK_S // INTERVAL_S - 1} ticks present" in out  # the whole window


def test_a_failed_write_keeps_the_checkpoint_at_the_last_whole_chunk(influxdb1, old_db, env, capsys, monkeypatch):
    from heatpump_monitor.stores.base import SinkError
    from heatpump_monitor.stores.embedded.sink import EmbeddedSink

    whole = str(env / "whole.sqlite3")
    assert run_cli(capsys, import_args(influxdb1.url, old_db, "--store", whole, "--until", "2026-01-04"))[0] == 0
    path = str(env / "crash.sqlite3")
    real = EmbeddedSink.write
    calls = itertools.count()

    async def failing(self, snapshots):
        if next(calls) == 9:  # in the middle of the third day's writes (6 per day)
            raise SinkError("disk full (test)")
        await real(self, snapshots)

    monkeypatch.setattr(EmbeddedSink, "write", failing)
    rc, _, err = run_cli(capsys, import_args(influxdb1.url, old_db, "--store", path, "--until", "2026-01-04"))
    assert rc == 1 and err.strip().splitlines()[-1] == "error: disk full (test)"
    assert "Traceback" not in err
    monkeypatch.setattr(EmbeddedSink, "write", real)
    rc, _, err = run_cli(capsys, import_args(influxdb1.url, old_db, "--store", path, "--until", "2026-01-04"))
    assert rc == 0 and "resuming at 2026-01-02T00:00:00.000Z" in err
    assert _rows(path) == _rows(whole)


def test_week_into_a_second_influxdb_database(influxdb1, old_db, truth, env, capsys, monkeypatch):
    db = f"new_{next(_names)}"
    influx1_query(influxdb1.url, None, f'CREATE DATABASE "{db}"')
    monkeypatch.setenv("STORE", "influxdb1")
    monkeypatch.setenv("INFLUXDB_URL", influxdb1.url)
    monkeypatch.setenv("INFLUXDB_DATABASE", db)
    rc, out, err = run_cli(capsys, import_args(influxdb1.url, old_db))
    assert rc == 0, err
    store = StoreConfig(kind="influxdb1", url=influxdb1.url, database=db)
    assert stored(store) == truth
    rows = influx1_rows(influx1_query(influxdb1.url, db, "SELECT * FROM heatpump"))
    assert {r["source"] for r in rows} == {"import"} and {r["gateway"] for r in rows} == {GATEWAY}
    # again from the start: the same points over themselves, nothing added or changed
    rc, _, err = run_cli(capsys, import_args(influxdb1.url, old_db, "--restart"))
    assert rc == 0, err
    again = influx1_rows(influx1_query(influxdb1.url, db, "SELECT * FROM heatpump"))
    assert again == rows

    # the store being the old database itself is refused (the two schemas share the measurement)
    monkeypatch.setenv("INFLUXDB_DATABASE", old_db)
    rc, _, err = run_cli(capsys, import_args(influxdb1.url, old_db, "--restart"))
    assert rc == 1 and "the store is the database being imported from" in err


def test_errors_are_one_line(influxdb1, old_db, env, capsys):
    store = ["--store", str(env / "x.sqlite3")]
    rc, _, err = run_cli(capsys, import_args(f"http://127.0.0.1:{free_port()}", old_db, *store))
    assert rc == 1 and "unreachable" in err and len(err.strip().splitlines()) == 1, err
    rc, _, err = run_cli(capsys, import_args(influxdb1.url, "no_such_db", *store))
    assert rc == 1 and err.strip() == f"error: database 'no_such_db' not found on {influxdb1.url}: check --from-database"
    influx1_query(influxdb1.url, None, 'CREATE DATABASE "empty_one"')
    rc, _, err = run_cli(capsys, import_args(influxdb1.url, "empty_one", *store))
    assert rc == 1 and "is it the old collector's database?" in err
    rc, _, err = run_cli(capsys, import_args(influxdb1.url, old_db, *store, "--from-password-env", "NOT_SET_HERE"))
    assert rc == 1 and "NOT_SET_HERE" in err and len(err.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def old_with_auth(tmp_path_factory, week_points):
    handle = start_influxdb1(tmp_path_factory.mktemp("influx-old-auth"), auth=True, password=PASSWORD)
    fill(handle.url, "old", [p for p in week_points if p.time_ms < T0_MS + 86_400_000], auth=handle.credentials)
    yield handle
    handle.stop()


def test_secrets_never_appear(old_with_auth, env, capsys, monkeypatch):
    url, (user, password) = old_with_auth.url, old_with_auth.credentials
    args = ["import-upstream", "--from-url", url, "--from-database", "old", "--since", SINCE,
            "--until", "2026-01-02", "--gateway", GATEWAY, "--store", str(env / "a.sqlite3"),
            "--from-username", user, "--from-password-env", "OLD_INFLUX_PW"]
    monkeypatch.setenv("OLD_INFLUX_PW", password)
    rc, out, err = run_cli(capsys, args)
    assert rc == 0, err
    assert "ticks present" in out
    monkeypatch.setenv("OLD_INFLUX_PW", "Wrong-pw-77123")
    rc2, out2, err2 = run_cli(capsys, [*args, "--restart"])
    assert rc2 == 1 and "refused the credentials" in err2 and len(err2.strip().splitlines()) == 1
    checkpoints = list((env / "data").glob("import-*.json"))
    assert len(checkpoints) == 1
    saved = checkpoints[0].read_text()
    json.loads(saved)
    for text in (out, err, out2, err2, saved, checkpoints[0].name):
        assert password not in text and "Wrong-pw-77123" not in text
    # a password in the URL is neither printed nor kept
    monkeypatch.setenv("OLD_INFLUX_PW", password)
    in_url = url.replace("http://", f"http://{user}:{password}@")
    rc3, out3, err3 = run_cli(capsys, [a if a != url else in_url for a in args])
    assert password not in out3 + err3


def test_store_unknown_registers_stores_them(influxdb1, old_db, env, capsys, monkeypatch):
    monkeypatch.setenv("STORE_UNKNOWN_REGISTERS", "true")
    store = StoreConfig(kind="embedded", path=str(env / "u.sqlite3"))
    rc, out, err = run_cli(capsys, import_args(influxdb1.url, old_db, "--store", store.path, "--until", "2026-01-02"))
    assert rc == 0, err
    got = stored(store)
    assert any("reg_0A99" in v for v in got.values())
    assert "stored as reg_<id>" in out


def test_checkpoint_name_has_no_credentials(env):
    from heatpump_monitor.importer.checkpoint import checkpoint_path

    a = checkpoint_path("d", "http://u:secret@h:8086", "db")
    assert a == checkpoint_path("d", "http://h:8086", "db") and "secret" not in str(a)
    assert a != checkpoint_path("d", "http://h:8086", "db2")
