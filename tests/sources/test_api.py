"""API source: every way a gateway answer can be wrong becomes one FetchError naming the cause."""

import asyncio

import httpx
import pytest

from heatpump_monitor.sources.api import MAX_BODY_BYTES, ApiClient, FetchError, parse_alldata
from heatpump_monitor.sources.gateway import parse_gateway

GW = parse_gateway("192.0.2.1:8080")


def fetch(handler, path="alldata"):
    async def go():
        client = ApiClient(2.0, client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
        try:
            return await (client.fetch_alldata(GW) if path == "alldata" else client.fetch_h1ver(GW))
        finally:
            await client.aclose()
    return asyncio.run(go())


def test_good_answer():
    assert fetch(lambda r: httpx.Response(200, json={"0001": 275, "1a01": 1})) == {"0001": 275, "1a01": 1}


@pytest.mark.parametrize("response,cause", [
    (httpx.Response(500, text="oops"), "HTTP 500 Internal Server Error from http://192.0.2.1:8080/api/alldata"),
    (httpx.Response(404), "HTTP 404"),
    (httpx.Response(200, html="<html><body>Error</body></html>"), "not valid JSON (text/html: '<html><body>Error</body></html>')"),
    (httpx.Response(200, text='{"0001": 27'), "not valid JSON"),
    (httpx.Response(200, json=[1, 2]), "JSON is list, expected an object"),
    (httpx.Response(200, json="x"), "JSON is str"),
    (httpx.Response(200, text="null"), "JSON is null"),
    (httpx.Response(200, content=b"\xff\xfe\x00"), "not valid JSON"),
])
def test_bad_answers_name_the_cause(response, cause):
    with pytest.raises(FetchError) as e:
        fetch(lambda r: response)
    assert cause in str(e.value)


def test_oversized_answer_is_cut_off():
    body = b'{"0001":' + b" " * (MAX_BODY_BYTES + 10) + b"1}"
    with pytest.raises(FetchError) as e:
        fetch(lambda r: httpx.Response(200, content=body))
    assert "larger than 1000 KB" in str(e.value)


def test_timeout_and_refused():
    def timeout(request):
        raise httpx.ReadTimeout("timed out", request=request)

    def refused(request):  # as httpx raises it: the socket error chained under its own
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as exc:
            raise httpx.ConnectError("All connection attempts failed", request=request) from exc

    with pytest.raises(FetchError) as e:
        fetch(timeout)
    assert "within 2 s (timeout)" in str(e.value)
    with pytest.raises(FetchError) as e:
        fetch(refused)
    assert str(e.value) == "cannot connect to http://192.0.2.1:8080/api/alldata: connection refused"


@pytest.mark.parametrize("doc,code", [
    ({"status": {"H1ver": "6011"}}, "6011"),
    ({"H1ver": "0012"}, "0012"),
])
def test_h1ver(doc, code):
    assert fetch(lambda r: httpx.Response(200, json=doc), path="status") == code


def test_h1ver_missing():
    with pytest.raises(FetchError) as e:
        fetch(lambda r: httpx.Response(200, json={"status": {}}), path="status")
    assert "no status.H1ver" in str(e.value)


def test_parse_alldata_keeps_values_as_sent():
    assert parse_alldata(b'{"0001": 65483, "x": "s"}') == {"0001": 65483, "x": "s"}


def test_whole_request_bounded_by_timeout_even_when_each_step_is_fast():
    """A slow-drip answer (each chunk in time, the whole far too late) is cut at the timeout."""
    served = []

    class Drip(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield b'{"0001":'
            for _ in range(50):
                await asyncio.sleep(0.1)
                served.append(1)
                yield b" "
            yield b"1}"

    async def go():
        client = ApiClient(0.5, client=httpx.AsyncClient(
            transport=httpx.MockTransport(lambda r: httpx.Response(200, stream=Drip()))))
        try:
            with pytest.raises(FetchError) as e:
                await client.fetch_alldata(GW)
            return e.value
        finally:
            await client.aclose()

    err = asyncio.run(go())
    assert "within 0.5 s (timeout)" in str(err)
    assert len(served) < 50  # cut off mid-drip, not read to the end


@pytest.mark.attack("1")
def test_deeply_nested_answer_is_invalid_json_not_a_crash():
    body = b"[" * 200_000  # under the 1 MB cap; json.loads raises RecursionError on it
    with pytest.raises(FetchError) as e:
        fetch(lambda r: httpx.Response(200, content=body, headers={"content-type": "application/json"}))
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
