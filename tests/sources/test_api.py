"""API source: every way a gateway answer can be wrong becomes one FetchError naming the cause."""

import asyncio
import json
from typing import Awaitable, Callable

import pytest

from heatpump_monitor.sources.api import MAX_BODY_BYTES, ApiClient, FetchError, parse_alldata
from heatpump_monitor.sources.gateway import parse_gateway

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def answer(status: str = "200 OK", body: bytes = b"", content_type: str = "application/json",
           extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n{extra}\r\n"
            .encode() + body)


def json_answer(doc: object) -> bytes:
    return answer(body=json.dumps(doc).encode())


def replying(raw: bytes) -> Handler:
    """A server that answers every request on a connection with ``raw``."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(raw)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()
    return handle


async def serving(handle: Handler, go: Callable[[ApiClient, object], Awaitable[object]], timeout_s: float = 2.0) -> object:
    """Run ``go(client, gateway)`` against a real server on loopback running ``handle``."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    client = ApiClient(timeout_s)
    try:
        return await go(client, parse_gateway(f"127.0.0.1:{server.sockets[0].getsockname()[1]}"))
    finally:
        await client.aclose()
        server.close()


def fetch(handle: Handler | bytes, path: str = "alldata", timeout_s: float = 2.0) -> object:
    h = replying(handle) if isinstance(handle, bytes) else handle
    return asyncio.run(serving(h, lambda c, gw: c.fetch_alldata(gw) if path == "alldata" else c.fetch_h1ver(gw),
                               timeout_s))


def test_good_answer():
    assert fetch(json_answer({"0001": 275, "1a01": 1})) == {"0001": 275, "1a01": 1}


@pytest.mark.parametrize("raw,cause", [
    (answer("500 Oops", b"oops", "text/plain"), "HTTP 500 Internal Server Error from http://127.0.0.1:"),
    (answer("404 Not Found"), "HTTP 404"),
    (answer(body=b"<html><body>Error</body></html>", content_type="text/html; charset=utf-8"),
     "not valid JSON (text/html: '<html><body>Error</body></html>')"),
    (answer(body=b'{"0001": 27'), "not valid JSON"),
    (json_answer([1, 2]), "JSON is list, expected an object"),
    (json_answer("x"), "JSON is str"),
    (answer(body=b"null"), "JSON is null"),
    (answer(body=b"\xff\xfe\x00"), "not valid JSON"),
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "failed: not an HTTP answer ('SSH-2.0-OpenSSH_9.2')"),
    (b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n{}", "failed: server closed the connection in the middle"),
    (b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n{}", "failed: invalid Content-Length '-1'"),
    (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", "failed: malformed chunked answer"),
])
def test_bad_answers_name_the_cause(raw, cause):
    handle = replying(raw)

    async def once(reader, writer):  # one answer, then the end of the connection
        await reader.readuntil(b"\r\n\r\n")
        writer.write(raw)
        await writer.drain()
        writer.close()
    with pytest.raises(FetchError) as e:
        fetch(once if b"content-length: 12" in raw or b"SSH" in raw else handle)
    assert cause in str(e.value)


def test_chunked_and_read_to_close_answers():
    body = b'{"0001": 275, "1a01": 1}'
    chunked = (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
               b"5;ext=1\r\n" + body[:5] + b"\r\n" + f"{len(body) - 5:x}".encode() + b"\r\n" + body[5:]
               + b"\r\n0\r\nx-trailer: 1\r\n\r\n")
    assert fetch(chunked) == {"0001": 275, "1a01": 1}

    async def http10(reader, writer):  # no length: the body ends with the connection
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 200 OK\r\n\r\n" + body)
        await writer.drain()
        writer.close()
    assert fetch(http10) == {"0001": 275, "1a01": 1}


@pytest.mark.parametrize("framing", ["content-length", "chunked", "to-close"])
def test_oversized_answer_is_cut_off(framing):
    body = b'{"0001":' + b" " * (MAX_BODY_BYTES + 10) + b"1}"
    if framing == "content-length":
        raw = answer(body=body)
    elif framing == "chunked":
        raw = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + b"".join(
            f"{len(body[i:i + 65536]):x}\r\n".encode() + body[i:i + 65536] + b"\r\n"
            for i in range(0, len(body), 65536)) + b"0\r\n\r\n"
    else:
        raw = b"HTTP/1.0 200 OK\r\n\r\n" + body
    with pytest.raises(FetchError) as e:
        fetch(raw)
    assert "larger than 1000 KB" in str(e.value) and e.value.kind == "too_large"


def test_timeout_and_refused():
    async def silent(reader, writer):
        await asyncio.sleep(10)

    with pytest.raises(FetchError) as e:
        fetch(silent, timeout_s=0.3)
    assert "within 0.3 s (timeout)" in str(e.value) and e.value.kind == "timeout"

    async def refused():
        server = await asyncio.start_server(replying(b""), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        client = ApiClient(2.0)
        try:
            await client.fetch_alldata(parse_gateway(f"127.0.0.1:{port}"))
        finally:
            await client.aclose()
    with pytest.raises(FetchError) as e:
        asyncio.run(refused())
    assert str(e.value).startswith("cannot connect to http://127.0.0.1:")
    assert str(e.value).endswith("/api/alldata: connection refused") and e.value.kind == "connect"


@pytest.mark.parametrize("doc,code", [
    ({"status": {"H1ver": "6011"}}, "6011"),
    ({"H1ver": "0012"}, "0012"),
])
def test_h1ver(doc, code):
    assert fetch(json_answer(doc), path="status") == code


def test_h1ver_missing():
    with pytest.raises(FetchError) as e:
        fetch(json_answer({"status": {}}), path="status")
    assert "no status.H1ver" in str(e.value)


def test_parse_alldata_keeps_values_as_sent():
    assert parse_alldata(b'{"0001": 65483, "x": "s"}') == {"0001": 65483, "x": "s"}


def test_whole_request_bounded_by_timeout_even_when_each_step_is_fast():
    """A slow-drip answer (each chunk in time, the whole far too late) is cut at the timeout."""
    served = []

    async def drip(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 60\r\n\r\n")
        writer.write(b'{"0001":')
        try:
            for _ in range(50):
                await asyncio.sleep(0.1)
                writer.write(b" ")
                await writer.drain()
                served.append(1)
            writer.write(b"1}")
            await writer.drain()
        except ConnectionError:
            pass

    with pytest.raises(FetchError) as e:
        fetch(drip, timeout_s=0.5)
    assert "within 0.5 s (timeout)" in str(e.value)
    assert len(served) < 50  # cut off mid-drip, not read to the end


@pytest.mark.attack("1")
def test_deeply_nested_answer_is_invalid_json_not_a_crash():
    body = b"[" * 200_000  # under the 1 MB cap; json.loads raises RecursionError on it
    with pytest.raises(FetchError) as e:
        fetch(answer(body=body))
    assert str(e.value) == "response is not valid JSON (nested too deeply)" and e.value.kind == "invalid_json"
    with pytest.raises(FetchError):
        parse_alldata(b'{"a":' * 100_000)


class KeepAliveThenClose:
    """A real HTTP/1.1 server on loopback that answers each connection's first request with
    keep-alive, and closes the connection without a word when a second request arrives on it:
    what a client sees when a gateway's idle timeout closes the kept connection just as the
    next poll is sent on it."""

    def __init__(self) -> None:
        self.connections = 0
        self.answered = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            body = b'{"0007": -26}'
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                         + str(len(body)).encode() + b"\r\nconnection: keep-alive\r\n\r\n" + body)
            await writer.drain()
            self.answered += 1
            await reader.readuntil(b"\r\n\r\n")  # the next poll on this connection ...
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()  # ... finds it closed


@pytest.mark.attack("8")
def test_a_kept_connection_closed_by_the_gateway_is_retried_once_on_a_new_one():
    from heatpump_monitor.sources.gateway import parse_gateway as pg

    async def go():
        srv = KeepAliveThenClose()
        server = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = ApiClient(5.0)
        try:
            gw = pg(f"127.0.0.1:{port}")
            answers = []
            for _ in range(3):
                answers.append(await client.fetch_alldata(gw))
            return answers, srv
        finally:
            await client.aclose()
            server.close()

    answers, srv = asyncio.run(go())
    assert answers == [{"0007": -26}] * 3  # no failed poll
    assert srv.answered == 3 and srv.connections == 3  # polls 2 and 3 each met a closed connection


def test_a_connection_closed_twice_is_a_failed_poll():
    async def go():
        async def slam(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.close()  # never answers
        server = await asyncio.start_server(slam, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = ApiClient(5.0)
        try:
            return await client.fetch_alldata(parse_gateway(f"127.0.0.1:{port}"))
        finally:
            await client.aclose()
            server.close()

    with pytest.raises(FetchError) as e:
        asyncio.run(go())
    assert "request to http://127.0.0.1:" in str(e.value) and "failed" in str(e.value)


class Counting:
    """A real HTTP/1.1 server on loopback counting connections and requests."""

    def __init__(self, extra: str = "") -> None:
        self.connections = 0
        self.requests = 0
        self.raw = answer(body=b'{"0001": 275}', extra=extra)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                writer.write(self.raw)
                await writer.drain()
                if b"connection: close" in self.raw:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def polls(srv: Counting, n: int, pause_s: float = 0.0) -> list:
    async def go(client, gw):
        answers = []
        for _ in range(n):
            answers.append(await client.fetch_alldata(gw))
            await asyncio.sleep(pause_s)
        return answers
    return asyncio.run(serving(srv.handle, go))


def test_the_connection_is_kept_from_one_poll_to_the_next():
    srv = Counting()
    assert polls(srv, 3, pause_s=0.05) == [{"0001": 275}] * 3
    assert srv.connections == 1 and srv.requests == 3


def test_a_gateway_that_closes_after_each_answer_gets_a_new_connection_each_poll():
    srv = Counting(extra="connection: close\r\n")
    assert polls(srv, 3, pause_s=0.05) == [{"0001": 275}] * 3
    assert srv.connections == 3 and srv.requests == 3  # no request sent on a closed connection
