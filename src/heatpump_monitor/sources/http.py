"""A minimal HTTP/1.1 client for the one request the API source makes: a small ``GET`` to one
gateway, on a connection kept open between polls.

Why not httpx: its request path (httpx, httpcore, anyio) cost 0.64-0.79 ms of CPU per poll at
100-1,000 gateways and 2.4 ms at one, tuned or not; aiohttp 0.19-0.20 ms. A poll is one GET with a
small JSON answer, which asyncio streams do in ~0.1 ms (bench/bench_poll.py compares the options). The answer is bounded (headers 64 KB,
body ``max_body`` bytes), Content-Length, chunked and read-to-close bodies are understood, and
nothing else of HTTP is needed (no redirects, cookies, proxies, compression or HTTP/2).

The InfluxDB sinks write through the same client (:meth:`Origin.request`: a ``POST`` with a
body, and the body of every answer read, errors included): httpx's request path cost ~1 ms of
CPU per write against ~0.16 ms here, and importing it ~10 MB of the collector's memory.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

#: Longest status line plus headers accepted (the StreamReader's buffer limit).
MAX_HEAD_BYTES = 65_536
_READ = 65_536


class HttpError(Exception):
    """A failed request; ``str()`` is a short cause without the URL."""


class ConnectFailed(HttpError):
    """No connection could be opened (refused, unknown host, TLS handshake failed)."""


class ClosedBeforeAnswer(HttpError):
    """The connection ended before the first byte of an answer."""


class AnswerTooLarge(HttpError):
    """The body is longer than allowed."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    reason: str
    content_type: str
    body: bytes


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def usable(self) -> bool:
        """False once the server closed its side while the connection was idle."""
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


class Origin:
    """One server (scheme, host, port) and its one idle connection, reused for the next
    request. Requests to one origin are not expected to overlap (one poll per gateway per
    tick); if they do, the second one opens a connection of its own."""

    def __init__(self, base_url: str, tls: ssl.SSLContext | None = None) -> None:
        """``base_url``: ``http://host[:port]`` or ``https://...`` (with ``tls`` the context)."""
        parts = urlsplit(base_url)
        self.host = parts.hostname or ""  # an IPv6 literal without the [] of its URL form
        self.tls = tls if parts.scheme == "https" else None
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parts.netloc.rpartition("@")[2]  # never the user:password of a URL
        self._host_line = f"Host: {host}\r\nUser-Agent: heatpump-monitor\r\n".encode("ascii")
        self._get_suffix = b" HTTP/1.1\r\n" + self._host_line + b"Accept: application/json\r\n\r\n"
        self._idle: _Connection | None = None

    async def get(self, path: str, max_body: int) -> Answer:
        """One GET. Raises :class:`HttpError` (its subclasses name the case); when a kept
        connection turns out closed by the server just as it is reused (its idle timeout raced
        this request), the request is sent once more on a new connection. The body of an
        answer other than 200 is not read (nor the connection kept)."""
        return await self._send(b"GET " + path.encode("ascii") + self._get_suffix, max_body, False)

    async def request(self, method: str, path: str, headers: bytes = b"", body: bytes = b"",
                      max_body: int = 1_000_000) -> Answer:
        """One request with ``body`` (Content-Length) and extra ``headers`` (``Name: value\\r\\n``
        lines); the answer's body is read whatever its status. Resent once like :meth:`get`:
        only for requests that may safely arrive twice (an InfluxDB write overwrites)."""
        head = (f"{method} {path} HTTP/1.1\r\n".encode("ascii") + self._host_line + headers
                + b"Content-Length: " + str(len(body)).encode("ascii") + b"\r\n\r\n")
        return await self._send(head + body, max_body, True)

    async def _send(self, request: bytes, max_body: int, any_status: bool) -> Answer:
        conn, reused = self._idle, True
        self._idle = None
        if conn is not None and not conn.usable():
            conn.close()
            conn = None
        if conn is None:
            conn, reused = await self._connect(), False
        try:
            try:
                answer, keep = await self._exchange(conn, request, max_body, any_status)
            except ClosedBeforeAnswer:
                if not reused:
                    raise
                conn.close()
                conn = await self._connect()
                answer, keep = await self._exchange(conn, request, max_body, any_status)
        except BaseException:  # a failure or a cancellation (timeout) mid-answer: never reuse it
            conn.close()
            raise
        if keep:
            self._idle = conn
        else:
            conn.close()
        return answer

    def close(self) -> None:
        if self._idle is not None:
            self._idle.close()
            self._idle = None

    async def _connect(self) -> _Connection:
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=self.tls, limit=MAX_HEAD_BYTES,
                server_hostname=self.host if self.tls else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConnectFailed(str(exc) or type(exc).__name__) from exc
        return _Connection(reader, writer)

    async def _exchange(self, conn: _Connection, request: bytes, max_body: int,
                        any_status: bool) -> tuple[Answer, bool]:
        """Send the request, read the answer; also whether the connection may be kept."""
        reader = conn.reader
        try:
            conn.writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise ClosedBeforeAnswer("server closed the connection without answering") from None
            raise HttpError("server closed the connection in the middle of the answer") from None
        except asyncio.LimitOverrunError:
            raise HttpError(f"answer headers larger than {MAX_HEAD_BYTES // 1024} KB") from None
        except (ConnectionResetError, BrokenPipeError) as exc:  # sent on, or read from, a dead socket
            raise ClosedBeforeAnswer("connection reset by the server") from exc
        version, status, reason, headers = _parse_head(head)
        keep = (headers.get("connection", "").lower() != "close"
                if version == "HTTP/1.1" else headers.get("connection", "").lower() == "keep-alive")
        content_type = headers.get("content-type", "")
        if status != 200 and not any_status:  # the body is not read: the connection cannot be reused
            return Answer(status, _reason(status, reason), content_type, b""), False
        try:
            if status in (204, 304) or 100 <= status < 200:  # never a body (RFC 9110)
                body = b""
            elif "chunked" in headers.get("transfer-encoding", "").lower():
                body = await _read_chunked(reader, max_body)
            elif "content-length" in headers:
                body = await _read_length(reader, headers["content-length"], max_body)
            else:  # delimited by the end of the connection
                body, keep = await _read_to_close(reader, max_body), False
        except asyncio.IncompleteReadError:
            raise HttpError("server closed the connection in the middle of the answer") from None
        except asyncio.LimitOverrunError:
            raise HttpError("malformed chunked answer (chunk size line too long)") from None
        return Answer(status, _reason(status, reason), content_type, body), keep


def _parse_head(head: bytes) -> tuple[str, int, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not (parts[1].isascii() and parts[1].isdigit()):
        raise HttpError(f"not an HTTP answer ({_short(lines[0])!r})")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "", headers


def _reason(status: int, sent: str) -> str:
    """The standard phrase of the status (a gateway's own wording may be empty or odd)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return _short(sent)


async def _read_length(reader: asyncio.StreamReader, value: str, max_body: int) -> bytes:
    if not (value.isascii() and value.isdigit()):
        raise HttpError(f"invalid Content-Length {_short(value)!r}")
    length = int(value)
    if length > max_body:
        raise AnswerTooLarge()
    return await reader.readexactly(length)


async def _read_chunked(reader: asyncio.StreamReader, max_body: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        line = (await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip()
        try:
            n = int(line, 16)
        except ValueError:
            raise HttpError(f"malformed chunked answer (chunk size {_short(line.decode('latin-1'))!r})") from None
        if n < 0:
            raise HttpError("malformed chunked answer (negative chunk size)")
        if n == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, up to the empty line
                pass
            return b"".join(chunks)
        size += n
        if size > max_body:
            raise AnswerTooLarge()
        chunks.append((await reader.readexactly(n + 2))[:-2])


async def _read_to_close(reader: asyncio.StreamReader, max_body: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await reader.read(_READ):
        size += len(chunk)
        if size > max_body:
            raise AnswerTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"
