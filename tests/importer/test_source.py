"""The old database's reader at the request level: InfluxDB 2.x's v1-compatible ``/query`` with
``Authorization: Token`` (no InfluxDB 2 binary here: a local HTTP server answers as 2.x does), its errors in the command's terms, a
truncated answer read again in halves; and the options, the progress bar and the checkpoint."""

from __future__ import annotations

import argparse
import io
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from heatpump_monitor.config import StoreConfig
from heatpump_monitor.importer import checkpoint
from heatpump_monitor.importer.cli import moment_arg, rescale_arg
from heatpump_monitor.importer.progress import Progress
from heatpump_monitor.importer.run import ImportJob, run_import
from heatpump_monitor.importer.source import ImportSourceError, OldDatabase, TallReader
from heatpump_monitor.providers import load_provider
from heatpump_monitor.stores import make_reader

TOKEN = "v2-Token-abc123XYZ"
T0 = 1767225600000  # 2026-01-01T00:00:00Z
HOUR = 3_600_000
_RANGE = re.compile(r"time >= (\d+)ms AND time < (\d+)ms")


Answer = tuple[int, dict]


def answer(series: list[dict] | None = None, partial: bool = False) -> Answer:
    result: dict = {"statement_id": 0}
    if series:
        result["series"] = series
    if partial:
        result["partial"] = True
    return 200, {"results": [result]}


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    q: str


class FakeV2:
    """Answers /query like InfluxDB 2.x's v1 API over a list of (time, register, value), on a
    real local HTTP server (``url``); ``fixed`` answers every request the same."""

    def __init__(self, points: list[tuple[int, str, float]], max_rows: int | None = None,
                 fixed: Answer | None = None) -> None:
        self.points = points
        self.max_rows = max_rows
        self.fixed = fixed
        self.requests: list[Request] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                parts = urlsplit(self.path)
                req = Request("POST", parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()},
                              dict(self.headers.items()), parse_qs(body).get("q", [""])[0])
                fake.requests.append(req)
                status, doc = fake.fixed or fake.answer(req.q)
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, q: str) -> Answer:
        if q.startswith("SHOW TAG VALUES"):
            return answer([{"name": "heatpump", "columns": ["key", "value"],
                            "values": [["register_id", r] for r in sorted({p[1] for p in self.points})]}])
        if q.startswith("SELECT last("):
            return answer()
        m = _RANGE.search(q)
        assert m, q
        a, b = int(m.group(1)), int(m.group(2))
        rows = [[t, v, r] for t, r, v in self.points if a <= t < b]
        if self.max_rows is not None and len(rows) > self.max_rows:
            return answer([{"name": "heatpump", "columns": ["time", "value", "register_id"],
                            "values": rows[:self.max_rows], "partial": True}], partial=True)
        return answer([{"name": "heatpump", "columns": ["time", "value", "register_id"], "values": rows}]
                      if rows else None)


@pytest.fixture
def fakes():
    made: list[FakeV2] = []

    def make(*args, **kw) -> FakeV2:  # type: ignore[no-untyped-def]
        made.append(FakeV2(*args, **kw))
        return made[-1]

    yield make
    for f in made:
        f.close()


def old_v2(url: str) -> OldDatabase:
    return OldDatabase(url, bucket="heatpump", org="thermia", token=TOKEN)


def points_every_minute(hours: int) -> list[tuple[int, str, float]]:
    out = []
    for k in range(hours * 60):
        t = T0 + k * 60_000 + 1234
        out.append((t, "0007", -5.0 + k / 100))
        out.append((t + 10_000, "0002", 35.5))
    return out


def test_v2_request_shape_and_import(tmp_path, fakes):
    fake = fakes(points_every_minute(6))
    reader = TallReader(old_v2(fake.url))
    store = StoreConfig(kind="embedded", path=str(tmp_path / "s.sqlite3"))
    job = ImportJob(old=old_v2(fake.url), store=store, provider=load_provider("thermia"), gateway="gw", source="import",
                    since_ms=T0, until_ms=T0 + 6 * HOUR, interval_ms=30_000, silent_limit_ms=300_000,
                    chunk_ms=2 * HOUR, data_dir=str(tmp_path / "data"))
    out, err = io.StringIO(), io.StringIO()
    assert run_import(job, out, err, reader) == 0, err.getvalue()
    for r in fake.requests:
        assert r.method == "POST" and r.path == "/query"
        assert r.params["db"] == "heatpump" and r.params["epoch"] == "ms"
        assert r.headers["Authorization"] == f"Token {TOKEN}"
    queries = [r.q for r in fake.requests]
    assert queries[0] == 'SHOW TAG VALUES FROM "heatpump" WITH KEY = "register_id"'
    # the warm-up: each register's last point before one chunk ahead of --since, then that chunk
    assert queries[1] == f'SELECT last("value") FROM "heatpump" WHERE time < {T0 - 2 * HOUR}ms GROUP BY "register_id"'
    assert queries[2:] == [f'SELECT "value", "register_id" FROM "heatpump" WHERE time >= {T0 + k * 2 * HOUR}ms '
                           f'AND time < {T0 + (k + 1) * 2 * HOUR}ms' for k in range(-1, 3)]
    reader2 = make_reader(store)
    snaps = list(reader2.snapshots("gw", T0, T0 + 6 * HOUR, source="import"))
    reader2.close()
    assert len(snaps) == 6 * 120 - 1  # every tick but the first (no point before it)
    # tick 00:01:00 holds the 00:00:01.234 outdoor point and the 00:00:11.234 forward one
    s = next(s for s in snaps if s.time_ms == T0 + 60_000)
    assert s.values == {"outdoor_temp": -5.0, "radiator_forward": 35.5}
    assert TOKEN not in out.getvalue() + err.getvalue()
    assert f"InfluxDB 2.x at {fake.url} (bucket heatpump" in out.getvalue()


@pytest.mark.parametrize("status, body, expected", [
    (401, {"code": "unauthorized", "message": "unauthorized access"},
     "refused the credentials: check the token (--from-token-env)"),
    (404, {"code": "not found", "message": f"no dbrp mapping for database heatpump {TOKEN}"},
     "bucket 'heatpump' not found through the v1-compatible API of {url}: check "
     "--from-bucket; a bucket needs a DBRP mapping"),
])
def test_v2_errors_name_the_cause_in_our_terms(status, body, expected, fakes):
    fake = fakes([], fixed=(status, body))
    reader = TallReader(old_v2(fake.url))
    with pytest.raises(ImportSourceError) as info:
        reader.registers()
    reader.close()
    assert expected.format(url=fake.url) in str(info.value) and TOKEN not in str(info.value)


def test_truncated_answers_are_read_again_in_halves(fakes):
    pts = points_every_minute(4)
    fake = fakes(pts, max_rows=100)
    reader = TallReader(old_v2(fake.url))
    got = reader.points(T0, T0 + 4 * HOUR)
    reader.close()
    assert [(p.time_ms, p.register_id, p.value) for p in got] == sorted(pts)
    assert len(fake.requests) > 3


def test_options():
    assert moment_arg("2026-01-01") == T0
    assert moment_arg("2026-01-01T01:00:00Z") == T0 + HOUR
    assert moment_arg("2026-01-01T02:00:00+01:00") == T0 + HOUR
    assert rescale_arg("5fab=0.1") == ("5FAB", 0.1)
    for bad in ("5FAB", "XYZ=2", "5FAB=0", "5FAB=nan", "5FAB=x"):
        with pytest.raises(argparse.ArgumentTypeError):
            rescale_arg(bad)
    with pytest.raises(argparse.ArgumentTypeError):
        moment_arg("yesterday")


def test_progress_bar_on_a_terminal_and_lines_otherwise():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, plain = Tty(), io.StringIO()
    for stream in (tty, plain):
        p = Progress(4, stream)
        p.chunk(1, T0, T0 + 86_400_000, 10, 5)
        p.chunk(2, T0 + 86_400_000, T0 + 2 * 86_400_000, 10, 9)
        p.done()
    assert tty.getvalue().count("\r") == 2 and "[" + "#" * 15 + "." * 15 + "] 2/4" in tty.getvalue()
    assert tty.getvalue().endswith("\n") and tty.getvalue().count("\n") == 1
    assert "\r" not in plain.getvalue() and plain.getvalue().count("\n") == 2
    assert plain.getvalue().startswith("import: chunk 1/4 2026-01-01T00:00Z..2026-01-02T00:00Z: 10 points")


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    path = checkpoint.checkpoint_path(str(tmp_path), "http://h:8086", "db")
    checkpoint.save(path, "desc", {"a": [("x", 1.0)]}, 5, {"k": 1})
    assert checkpoint.load(path, {"a": [("x", 1.0)]})["done_until_ms"] == 5  # type: ignore[index]
    assert checkpoint.load(path, {"a": [("x", 2.0)]}) is None
    path.write_text("{not json")
    assert checkpoint.load(path, {"a": [("x", 1.0)]}) is None


def test_public_accessors_the_importer_uses(tmp_path):
    """DATA_DIR through config's loader (checked like every variable), InfluxQL through the
    InfluxDB reader's public partial_series: no private names of other modules."""
    from heatpump_monitor.config import DEFAULT_DATA_DIR, ConfigError, load_data_dir
    from heatpump_monitor.importer import cli, source

    assert load_data_dir({"DATA_DIR": str(tmp_path)}) == str(tmp_path)
    assert load_data_dir({}) == DEFAULT_DATA_DIR
    with pytest.raises(ConfigError, match="COLLECTION_INTERVAL"):
        load_data_dir({"COLLECTION_INTERVAL": "soon"})
    for module in (cli, source):
        text = open(module.__file__, encoding="utf-8").read()
        assert "_settings" not in text and "_partial_series" not in text, module.__name__
