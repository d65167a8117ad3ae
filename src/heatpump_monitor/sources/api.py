"""API source: one ``GET /api/alldata`` per gateway per tick (httpx, async).

Every failure becomes a :class:`FetchError` whose text names the cause; the caller logs
"Failed to fetch data from API: <cause>" and skips the poll.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import httpx

from ..errors import socket_cause
from .gateway import GatewayAddress

#: A real answer is a few KB; anything bigger is not a gateway answer and is cut off.
MAX_BODY_BYTES = 1_000_000


#: Short, fixed failure kinds (the ``cause`` label of the collector's poll metrics).
FAILURE_KINDS = ("timeout", "connect", "http_status", "too_large", "invalid_json", "not_object",
                 "request", "no_brand", "internal")


class _ClosedBeforeAnswer(Exception):
    """The connection ended before any answer arrived (see ApiClient._get_json)."""


class FetchError(Exception):
    """A failed fetch. ``str()`` names the cause for the log; ``kind`` is one of FAILURE_KINDS."""

    def __init__(self, message: str, kind: str = "request") -> None:
        super().__init__(message)
        self.kind = kind


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def parse_alldata(body: bytes, content_type: str = "") -> dict[str, Any]:
    """Body of /api/alldata -> the JSON object. Raises FetchError naming what is wrong."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        kind = content_type.split(";")[0].strip() or "unknown content type"
        snippet = _short(body[:200].decode("utf-8", "replace"))
        raise FetchError(f"response is not valid JSON ({kind}: {snippet!r})", "invalid_json") from None
    except RecursionError:  # "[[[[..." under the size cap: the parser's stack, not ours, gives up
        raise FetchError("response is not valid JSON (nested too deeply)", "invalid_json") from None
    if not isinstance(doc, dict):
        raise FetchError(f"JSON is {type(doc).__name__ if doc is not None else 'null'}, expected an object of register values", "not_object")
    return doc


class ApiClient:
    """Fetches from H66 gateways. Each gateway gets its own small connection pool (kept alive
    between polls): httpcore scans its whole pool on every request, so one shared pool for
    1,000 gateways would make each tick quadratic. The pools share one TLS context."""

    def __init__(self, timeout_s: float, client: httpx.AsyncClient | None = None) -> None:
        self.timeout_s = timeout_s
        self._shared = client  # tests: one given client serves every gateway
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._tls: ssl.SSLContext | None = None

    def _client_for(self, base_url: str) -> httpx.AsyncClient:
        if self._shared is not None:
            return self._shared
        client = self._clients.get(base_url)
        if client is None:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            client = self._clients[base_url] = httpx.AsyncClient(
                timeout=self.timeout_s, verify=self._tls, trust_env=False,
                limits=httpx.Limits(max_connections=2, max_keepalive_connections=1))
        return client

    async def get_json(self, gw: GatewayAddress, path: str) -> dict[str, Any]:
        """GET a JSON object. ``timeout_s`` bounds the whole request (httpx's own timeouts are
        per connect/read step, so a slow drip or a busy machine could otherwise exceed it)."""
        url = gw.base_url + path
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._get_json(self._client_for(gw.base_url), url)
        except TimeoutError:
            raise FetchError(f"no answer from {url} within {self.timeout_s:g} s (timeout)", "timeout") from None

    async def _get_json(self, client: httpx.AsyncClient, url: str) -> dict[str, Any]:
        try:
            return await self._get_json_once(client, url)
        except _ClosedBeforeAnswer:
            # a kept-alive connection the gateway closed just as it was reused (its idle timeout
            # raced our next poll): once more, on a new connection, within the same deadline
            return await self._get_json_once(client, url, retry=False)

    async def _get_json_once(self, client: httpx.AsyncClient, url: str, retry: bool = True) -> dict[str, Any]:
        answered = False
        try:
            async with client.stream("GET", url, timeout=self.timeout_s) as resp:
                answered = True
                if resp.status_code != 200:
                    raise FetchError(f"HTTP {resp.status_code} {resp.reason_phrase} from {url}", "http_status")
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise FetchError(f"response from {url} larger than {MAX_BODY_BYTES // 1000} KB, cut off", "too_large")
                    chunks.append(chunk)
                return parse_alldata(b"".join(chunks), resp.headers.get("content-type", ""))
        except httpx.TimeoutException:
            raise FetchError(f"no answer from {url} within {self.timeout_s:g} s (timeout)", "timeout") from None
        except httpx.ConnectError as exc:
            raise FetchError(f"cannot connect to {url}: {_cause(exc)}", "connect") from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            if retry and not answered:
                raise _ClosedBeforeAnswer() from exc
            raise FetchError(f"request to {url} failed: {_cause(exc)}") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"request to {url} failed: {_cause(exc)}") from None

    async def fetch_alldata(self, gw: GatewayAddress) -> dict[str, Any]:
        return await self.get_json(gw, "/api/alldata")

    async def fetch_h1ver(self, gw: GatewayAddress) -> str:
        """The controller code from ``GET /status`` (``status.H1ver``)."""
        doc = await self.get_json(gw, "/status")
        status = doc.get("status", doc)
        code = status.get("H1ver") if isinstance(status, dict) else None
        if not isinstance(code, (str, int)) or not str(code).strip():
            raise FetchError(f"{gw.base_url}/status has no status.H1ver", "no_brand")
        return str(code).strip()

    async def aclose(self) -> None:
        clients = list(self._clients.values()) + ([self._shared] if self._shared else [])
        self._clients.clear()
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)


def _cause(exc: Exception) -> str:
    return socket_cause(exc) or _short(str(exc) or type(exc).__name__, 120)
