"""What the 1.x and 2.x writers share: requests on one ``httpx.AsyncClient`` per sink (no
threads, no batching, no retries: the writer and its spool retry), and a failed connection as
one short cause."""

from __future__ import annotations

from typing import Any, Callable

import httpx

from ...errors import short_body, socket_cause
from ..base import SinkError


def transport_cause(exc: httpx.TransportError, timeout_s: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout_s:g}s"
    return socket_cause(exc) or short_body(str(exc)) or type(exc).__name__


async def request(client: httpx.AsyncClient, method: str, path: str, *, url: str, timeout_s: float,
                  scrub: Callable[[str], str], **kw: Any) -> httpx.Response:
    """``client.request``; a connection that fails is a :class:`SinkError` naming ``url`` and the
    cause, scrubbed of the sink's secrets (an odd proxy may echo them)."""
    try:
        return await client.request(method, path, **kw)
    except httpx.TransportError as exc:
        raise SinkError(f"InfluxDB at {url} unreachable: {scrub(transport_cause(exc, timeout_s))}") from None
