"""InfluxV2Sink (plain HTTP/1.1) against a real VictoriaMetrics 1.79 started by tests/servers.py,
read back through /api/v1/export; and its error mapping against a tiny stand-in HTTP server
that answers like InfluxDB 2.x does (401 / 403 / 404 / 400 "writing requires points" / 5xx).
The token never appears in a message or a log line."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from heatpump_monitor.model import Snapshot
from heatpump_monitor.stores.base import SinkError
from heatpump_monitor.stores.influx.v2 import InfluxV2Sink
from tests.servers import free_port, vm_export
from tests.stores import run

T0 = 1764324030000  # 2025-11-28T10:00:30Z
TOKEN = "tok-SECRET-4f9a2c71e0b3"



def sink_at(url: str, **kw) -> InfluxV2Sink:
    return InfluxV2Sink(url, TOKEN, kw.pop("org", "myorg"), kw.pop("bucket", "heatpump"), **kw)


def polls(source: str) -> list[Snapshot]:
    """Three polls of two gateways; ``source`` keeps each test's series apart in the shared VM."""
    return [
        Snapshot("127.0.0.1:8081", "thermia", source, T0,
                 {"outdoor_temp": -5.3, "supply_temp": 35.0, "compressor_on": 1.0}),
        Snapshot("127.0.0.1:8081", "thermia", source, T0 + 30_000,
                 {"outdoor_temp": -5.4, "supply_temp": 35.5, "compressor_on": 0.0}),
        Snapshot("192.168.1.100", "ivt", source, T0, {"outdoor_temp": 2.25, "hot_water_top": 51.0}),
    ]


def samples(series: list[dict]) -> dict[tuple, dict[int, float]]:
    """(metric name, gateway) -> {timestamp: value}; asserts one sample per timestamp."""
    out: dict[tuple, dict[int, float]] = {}
    for s in series:
        assert len(s["timestamps"]) == len(set(s["timestamps"])), f"duplicate samples in {s}"
        out[(s["metric"]["__name__"], s["metric"]["gateway"])] = dict(zip(s["timestamps"], s["values"]))
    return out


# -- against VictoriaMetrics ---------------------------------------------------------------


@pytest.mark.realserver
def test_write_and_read_back_each_field_a_series_with_the_poll_time(victoriametrics):
    snaps = polls("t-readback")
    run(sink_at(victoriametrics.url), "write", snaps)

    series = vm_export(victoriametrics.url, '{__name__=~"heatpump_.*",source="t-readback"}')
    # one series per (field, gateway); labels are exactly the tags: org/bucket are not labels
    expected_labels = {
        ("heatpump_" + f, s.gateway): {"__name__": "heatpump_" + f, "brand": s.brand, "gateway": s.gateway,
                                       "source": s.source}
        for s in snaps for f in s.values
    }
    assert {(s["metric"]["__name__"], s["metric"]["gateway"]): s["metric"] for s in series} == expected_labels

    got = samples(series)
    for snap in snaps:
        for name, value in snap.values.items():
            assert got[("heatpump_" + name, snap.gateway)][snap.time_ms] == value
    # every field of a poll carries exactly the poll's timestamp: no other timestamps exist
    assert got[("heatpump_supply_temp", "127.0.0.1:8081")] == {T0: 35.0, T0 + 30_000: 35.5}
    assert got[("heatpump_hot_water_top", "192.168.1.100")] == {T0: 51.0}
    assert got[("heatpump_outdoor_temp", "192.168.1.100")] == {T0: 2.25}


@pytest.mark.realserver
def test_same_snapshot_again_is_one_sample(victoriametrics):
    snap = polls("t-rewrite")[0]
    run(sink_at(victoriametrics.url), "write", [snap])
    run(sink_at(victoriametrics.url), "write", [snap])
    series = vm_export(victoriametrics.url, '{__name__="heatpump_outdoor_temp",source="t-rewrite"}')
    assert [(s["timestamps"], s["values"]) for s in series] == [([T0], [-5.3])]


@pytest.mark.realserver
def test_valueless_snapshots_are_skipped(victoriametrics):
    empty = Snapshot("127.0.0.1:8081", "thermia", "t-skip", T0 + 60_000, {})
    run(sink_at(victoriametrics.url), "write", [empty, polls("t-skip")[2]])
    series = vm_export(victoriametrics.url, '{__name__=~"heatpump_.*",source="t-skip"}')
    assert sorted((s["metric"]["__name__"], s["timestamps"]) for s in series) == [
        ("heatpump_hot_water_top", [T0]), ("heatpump_outdoor_temp", [T0])]


@pytest.mark.realserver
def test_check_passes_against_victoriametrics_and_stores_nothing(victoriametrics):
    before = vm_export(victoriametrics.url, '{__name__!=""}')
    assert run(sink_at(victoriametrics.url, bucket="whatever"), "check") is None
    assert vm_export(victoriametrics.url, '{__name__!=""}') == before


def test_nothing_to_write_sends_no_request():
    dead = f"http://127.0.0.1:{free_port()}"
    run(sink_at(dead), "write", [])
    run(sink_at(dead), "write", [Snapshot("gw", "thermia", "api", T0, {})])
    with pytest.raises(SinkError):  # ...while a real point does try to reach it
        run(sink_at(dead), "write", polls("x"))


def test_unreachable_names_the_cause_not_the_token(caplog):
    caplog.set_level(logging.DEBUG)
    url = f"http://127.0.0.1:{free_port()}"
    for method, args in (("write", [polls("x")]), ("check", [])):
        with pytest.raises(SinkError) as err:
            run(sink_at(url, timeout_s=2), method, *args)
        assert str(err.value) == f"InfluxDB at {url} unreachable: connection refused"
    assert TOKEN not in caplog.text


def test_no_answer_is_a_timeout():
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(SinkError) as err:
            run(sink_at(url, timeout_s=0.3), "write", polls("x"))
    assert str(err.value) == f"InfluxDB at {url} unreachable: no answer within 0.3s"


# -- error mapping against a stand-in that answers like InfluxDB 2.x -----------------------


class FakeInflux2:
    """``POST /api/v2/write`` answers ``status`` with a JSON ``body``; requests are recorded."""

    def __init__(self, status: int, body: dict | None = None, headers: dict | None = None):
        self.status, self.body, self.headers = status, body, headers or {}
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                fake.requests.append({"path": self.path, "headers": dict(self.headers),
                                      "body": self.rfile.read(length)})
                payload = json.dumps(fake.body).encode() if fake.body is not None else b""
                self.send_response(fake.status)
                if payload:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                for k, v in fake.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def write_error(fake: FakeInflux2, **kw) -> str:
    with pytest.raises(SinkError) as err:
        run(sink_at(fake.url, **kw), "write", polls("api"))
    msg = str(err.value)
    assert TOKEN not in msg and TOKEN not in repr(err.value.args)
    return msg


def test_request_shape_token_header_org_bucket_ms():
    with FakeInflux2(204) as fake:
        run(sink_at(fake.url, org="my org", bucket="hp"), "write", polls("api")[:1])
    (req,) = fake.requests
    url = urlsplit(req["path"])
    assert url.path == "/api/v2/write"
    assert parse_qs(url.query) == {"org": ["my org"], "bucket": ["hp"], "precision": ["ms"]}
    assert req["headers"]["Authorization"] == f"Token {TOKEN}"
    assert req["body"].decode() == (
        "heatpump,brand=thermia,gateway=127.0.0.1:8081,source=api "
        f"outdoor_temp=-5.3,supply_temp=35.0,compressor_on=1.0 {T0}")


def test_401_wrong_token(caplog):
    caplog.set_level(logging.DEBUG)
    with FakeInflux2(401, {"code": "unauthorized", "message": "unauthorized access"}) as fake:
        assert write_error(fake) == "InfluxDB rejected the token (HTTP 401): check INFLUXDB_TOKEN"
    assert fake.requests[0]["headers"]["Authorization"] == f"Token {TOKEN}"  # it was sent...
    assert TOKEN not in caplog.text  # ...and never logged


def test_403_token_without_write_permission():
    with FakeInflux2(403, {"code": "forbidden", "message": "insufficient permissions for write"}) as fake:
        msg = write_error(fake, bucket="hp")
    assert msg.startswith("InfluxDB rejected the token (HTTP 403): check INFLUXDB_TOKEN")
    assert "bucket 'hp'" in msg


def test_404_bucket_not_found():
    with FakeInflux2(404, {"code": "not found", "message": 'bucket "nope" not found'}) as fake:
        assert write_error(fake, bucket="nope", org="myorg") == (
            "bucket 'nope' not found in org 'myorg' (HTTP 404): create it: influx bucket create --name nope --org myorg")


def test_404_org_not_found():
    with FakeInflux2(404, {"code": "not found", "message": 'organization name "acme" not found'}) as fake:
        assert write_error(fake, org="acme") == "organization 'acme' not found (HTTP 404): check INFLUXDB_ORG"


def test_other_status_short_body_and_no_retry():
    body = {"code": "unavailable", "message": "service unavailable: " + "x" * 500}
    with FakeInflux2(503, body, headers={"Retry-After": "1"}) as fake:
        msg = write_error(fake)
    assert msg.startswith("InfluxDB write failed: HTTP 503 service unavailable: xxx")
    assert len(msg) < 300
    assert len(fake.requests) == 1  # no retry here (the writer retries)


def test_check_treats_writing_requires_points_as_ok():
    # InfluxDB 2.x checks token, org, bucket and permission first, then refuses the empty body
    with FakeInflux2(400, {"code": "invalid", "message": "writing requires points"}) as fake:
        assert run(sink_at(fake.url), "check") is None
    (req,) = fake.requests
    assert req["body"] == b""
    assert parse_qs(urlsplit(req["path"]).query)["bucket"] == ["heatpump"]


def test_check_reports_the_same_errors_as_write():
    with FakeInflux2(401, {"code": "unauthorized", "message": "unauthorized access"}) as fake:
        with pytest.raises(SinkError, match=r"^InfluxDB rejected the token \(HTTP 401\)"):
            run(sink_at(fake.url), "check")
    with FakeInflux2(400, {"code": "invalid", "message": "unable to parse 'x': missing fields"}) as fake:
        with pytest.raises(SinkError, match=r"^InfluxDB write failed: HTTP 400 unable to parse"):
            run(sink_at(fake.url), "check")


@pytest.mark.parametrize("status,rejected", [(400, True), (413, True), (422, True), (401, False),
                                             (404, False), (500, False), (503, False)])
def test_refused_data_is_told_apart_from_an_unusable_store(status, rejected):
    with FakeInflux2(status, {"code": "invalid", "message": "partial write: field type conflict"}) as fake:
        with pytest.raises(SinkError) as err:
            run(sink_at(fake.url), "write", polls("api"))
    assert err.value.rejected is rejected


def test_a_url_path_is_a_prefix_and_one_sink_writes_again_after_the_server_closed():
    """Behind a reverse proxy at /influx; the stand-in answers HTTP/1.0 and closes after each
    answer, so the second write opens a new connection."""
    with FakeInflux2(204) as fake:
        sink = sink_at(fake.url + "/influx/")

        async def twice() -> None:
            await sink.write(polls("api")[:1])
            await sink.write(polls("api")[1:2])
            await sink.close()

        asyncio.run(twice())
    assert [urlsplit(r["path"]).path for r in fake.requests] == ["/influx/api/v2/write"] * 2
    assert all(r["headers"]["Content-Type"] == "text/plain; charset=utf-8" for r in fake.requests)


def test_an_error_body_is_read_on_a_kept_connection():
    """HTTP/1.1 with keep-alive: a 400's body gives the message, and the connection serves the
    next write."""
    with FakeInflux2(400, {"code": "invalid", "message": "unable to parse 'x': bad timestamp"}) as fake:
        fake.server.RequestHandlerClass.protocol_version = "HTTP/1.1"
        sink = sink_at(fake.url)

        async def both() -> list[str]:
            out = []
            for _ in range(2):
                try:
                    await sink.write(polls("api"))
                except SinkError as exc:
                    out.append(str(exc))
            return out

        assert asyncio.run(both()) == ["InfluxDB write failed: HTTP 400 unable to parse 'x': bad timestamp"] * 2
    assert len(fake.requests) == 2
