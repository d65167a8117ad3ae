"""API source: one ``GET /api/alldata`` per gateway per tick (asyncio, see :mod:`.http`).

Every failure becomes a :class:`FetchError` whose text names the cause; the caller logs
"Failed to fetch data from API: <cause>" and skips the poll.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

from ..errors import socket_cause
from .gateway import GatewayAddress
from .http import AnswerTooLarge, ConnectFailed, HttpError, Origin

#: A real answer is a few KB; anything bigger is not a gateway answer and is cut off.
MAX_BODY_BYTES = 1_000_000


#: Short, fixed failure kinds (the ``cause`` label of the collector's poll metrics).
FAILURE_KINDS = ("timeout", "connect", "http_status", "too_large", "invalid_json", "not_object",
                 "request", "no_brand", "internal")


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
    """Fetches from H66 gateways: one :class:`~.http.Origin` per gateway, whose connection is
    kept open from one poll to the next for as long as the gateway keeps it (no expiry of
    our own: an expiry shorter than the interval would mean a new TCP connection every poll).
    The origins share one TLS context."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._origins: dict[str, Origin] = {}
        self._tls: ssl.SSLContext | None = None

    def _origin_for(self, base_url: str) -> Origin:
        origin = self._origins.get(base_url)
        if origin is None:
            if base_url.startswith("https:") and self._tls is None:
                self._tls = ssl.create_default_context()
            origin = self._origins[base_url] = Origin(base_url, self._tls)
        return origin

    async def get_json(self, gw: GatewayAddress, path: str) -> dict[str, Any]:
        """GET a JSON object. ``timeout_s`` bounds the whole request from the moment it is
        sent (connecting included), so a slow drip or a busy machine cannot exceed it."""
        url = gw.base_url + path
        try:
            async with asyncio.timeout(self.timeout_s):
                answer = await self._origin_for(gw.base_url).get(path, MAX_BODY_BYTES)
        except TimeoutError:
            raise FetchError(f"no answer from {url} within {self.timeout_s:g} s (timeout)", "timeout") from None
        except ConnectFailed as exc:
            raise FetchError(f"cannot connect to {url}: {_cause(exc)}", "connect") from None
        except AnswerTooLarge:
            raise FetchError(f"response from {url} larger than {MAX_BODY_BYTES // 1000} KB, cut off", "too_large") from None
        except HttpError as exc:
            raise FetchError(f"request to {url} failed: {_cause(exc)}") from None
        if answer.status != 200:
            raise FetchError(f"HTTP {answer.status} {answer.reason} from {url}", "http_status")
        return parse_alldata(answer.body, answer.content_type)

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
        for origin in self._origins.values():
            origin.close()
        self._origins.clear()


def _cause(exc: Exception) -> str:
    return socket_cause(exc) or _short(str(exc) or type(exc).__name__, 120)
