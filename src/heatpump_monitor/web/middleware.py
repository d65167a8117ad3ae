"""The dashboard's middleware: HTTP basic auth (constant-time) and the security headers."""

from __future__ import annotations

import base64
import binascii
import secrets

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .models import ErrorOut, Json

OPEN_PATHS = ("/healthz", "/readyz")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def basic_auth_ok(header: str | None, username: bytes, password: bytes) -> bool:
    """Does an ``Authorization`` header carry these basic-auth credentials? Constant time."""
    if not header:
        return False
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    user, sep, given = decoded.partition(b":")
    if not sep:
        return False
    # both comparisons always run: no early exit tells which part was wrong
    ok_user = secrets.compare_digest(user, username)
    ok_password = secrets.compare_digest(given, password)
    return ok_user & ok_password


class BasicAuthMiddleware:
    """HTTP basic auth on every path but ``open_paths``; constant-time comparison."""

    def __init__(self, app: ASGIApp, username: str, password: str, open_paths: tuple[str, ...] = OPEN_PATHS,
                 realm: str = "heatpump-monitor") -> None:
        self.app = app
        self._user = username.encode("utf-8")
        self._password = password.encode("utf-8")
        self.open_paths = tuple(open_paths)
        self.realm = realm

    def _ok(self, header: str | None) -> bool:
        return basic_auth_ok(header, self._user, self._password)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        if self._ok(Headers(scope=scope).get("authorization")):
            await self.app(scope, receive, send)
            return
        resp = Json(ErrorOut(error="login required (HTTP basic auth)").model_dump(), status_code=401,
                            headers={"WWW-Authenticate": f'Basic realm="{self.realm}", charset="UTF-8"'})
        await resp(scope, receive, send)


class SecurityHeadersMiddleware:
    """nosniff, no framing, no referrer; a strict CSP (only this origin) on HTML pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                h.setdefault("X-Content-Type-Options", "nosniff")
                h.setdefault("X-Frame-Options", "DENY")
                h.setdefault("Referrer-Policy", "no-referrer")
                if h.get("content-type", "").startswith("text/html"):
                    h.setdefault("Content-Security-Policy", CSP)
                if "cache-control" not in h:
                    h["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)

