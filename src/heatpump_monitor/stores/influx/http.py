"""What the 1.x and 2.x writers share: requests on one kept connection per sink (no threads, no
batching, no retries: the writer and its spool retry), and a failed connection as one short
cause.

The requests go through the API source's minimal HTTP/1.1 client (:mod:`...sources.http`), not
httpx: a write is one small ``POST`` whose answer is a status and a short body, which that
client does for ~0.16 ms of CPU against ~1 ms with httpx, and without loading httpx (~10 MB of
the collector's memory). What this gives up, on purpose: proxies from ``HTTP_PROXY`` and the
like (the collector talks to its store directly, as to its gateways), redirects (httpx did not
follow them either), HTTP/2 and compression.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlencode, urlsplit

from ...errors import short_body, socket_cause
from ...sources.http import AnswerTooLarge, ConnectFailed, HttpError, Origin
from ..base import SinkError

#: An InfluxDB answer is a status and at most a short JSON error; anything longer is cut off.
MAX_ANSWER_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class Response:
    status_code: int
    text: str


class InfluxHttp:
    """Requests to one InfluxDB (or VictoriaMetrics) at ``url``, whose path is a prefix of
    every request's (a server behind a reverse proxy at ``https://host/influx``). ``headers``
    (``Name: value`` each) go with every request; ``timeout_s`` bounds each request from the
    moment it is sent, connecting included."""

    def __init__(self, url: str, headers: dict[str, str], timeout_s: float) -> None:
        parts = urlsplit(url.rstrip("/"))
        tls = ssl.create_default_context() if parts.scheme == "https" else None
        self._origin = Origin(f"{parts.scheme}://{parts.netloc}", tls)
        self._prefix = parts.path
        # UTF-8: a token that is not ASCII reaches the server (a 401) instead of failing here
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode("utf-8")
        self.timeout_s = timeout_s
        self.is_closed = False

    async def request(self, method: str, path: str, *, url: str, scrub: Callable[[str], str],
                      params: dict[str, str] | None = None, body: bytes = b"",
                      content_type: str = "") -> Response:
        """One request; a connection that fails is a :class:`SinkError` naming ``url`` and the
        cause, scrubbed of the sink's secrets (an odd proxy may echo them)."""
        target = self._prefix + path + ("?" + urlencode(params) if params else "")
        headers = self._headers + (f"Content-Type: {content_type}\r\n".encode("ascii") if content_type else b"")
        try:
            async with asyncio.timeout(self.timeout_s):
                answer = await self._origin.request(method, target, headers, body, MAX_ANSWER_BYTES)
        except TimeoutError:
            raise SinkError(f"InfluxDB at {url} unreachable: no answer within {self.timeout_s:g}s") from None
        except AnswerTooLarge:
            raise SinkError(f"InfluxDB at {url} answered with more than {MAX_ANSWER_BYTES // 1000} KB") from None
        except (ConnectFailed, HttpError) as exc:
            raise SinkError(f"InfluxDB at {url} unreachable: {scrub(transport_cause(exc))}") from None
        return Response(answer.status, answer.body.decode("utf-8", "replace"))

    def close(self) -> None:
        self.is_closed = True
        self._origin.close()


def transport_cause(exc: HttpError) -> str:
    return socket_cause(exc) or short_body(str(exc)) or type(exc).__name__
