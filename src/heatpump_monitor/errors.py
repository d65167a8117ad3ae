"""Turning exceptions and error answers into short, secret-free causes for log lines."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit, urlunsplit

_BODY_MAX = 200


def display_url(url: str) -> str:
    """The URL without any ``user:password@`` part, for messages and descriptions."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url.rstrip("/")
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)).rstrip("/")


def short_body(text: str, limit: int = _BODY_MAX) -> str:
    """The server's error message: the ``error``/``message`` of a JSON body, else the text,
    on one line and cut to ``limit`` characters."""
    text = (text or "").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        for key in ("error", "message"):
            if isinstance(doc.get(key), str) and doc[key]:
                text = doc[key]
                break
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it wraps (``__cause__``/``__context__``/``.reason``)."""
    chain = [exc]
    cur: BaseException = exc
    while True:
        nxt = cur.__cause__ or cur.__context__ or getattr(cur, "reason", None)
        if not isinstance(nxt, BaseException) or any(nxt is e for e in chain):
            return chain
        chain.append(nxt)
        cur = nxt


def socket_cause(exc: BaseException) -> str | None:
    """A short cause for the usual socket failures found anywhere in the chain, else None."""
    for e in exception_chain(exc):
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if isinstance(e, socket.gaierror):
            return f"host name not found ({e.strerror or e})"
        if isinstance(e, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
            return "connection reset by the server"
    return None
