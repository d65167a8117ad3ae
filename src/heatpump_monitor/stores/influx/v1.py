"""InfluxDB 1.x sink: line protocol over ``POST /write?db=<db>&precision=ms`` (plain HTTP/1.1,
:mod:`.http`).

Credentials go in an ``Authorization: Basic`` header (InfluxDB 1.x accepts it as well as
``u``/``p`` query parameters); the header keeps the password out of URLs and access logs.
No message raised here ever contains the password.

Server answers this module relies on (checked against InfluxDB 1.6.7):

* ``/write`` -> 204 on success; 404 ``{"error":"database not found: \\"x\\""}``;
  401 ``authorization failed`` (wrong user/password) or ``unable to parse authentication
  credentials`` (none sent to an auth-enabled server); 403 ``"u" user is not authorized to
  write to database "x"``; 400 for unparsable lines / field-type conflicts.
* ``/write`` with an empty body -> the same auth/database checks, 204 and nothing stored.
* ``/ping`` -> 204 whether or not credentials are right (it never checks them).
* ``SHOW DATABASES`` lists only the databases a non-admin user has some privilege on.
"""

from __future__ import annotations

import base64
import shlex
from typing import Sequence
from urllib.parse import unquote, urlsplit

from ...errors import display_url, short_body
from ...masking import Secrets
from ...model import Snapshot
from ..base import REJECTED_STATUSES, SinkError
from .describe import database_text
from .http import InfluxHttp, Response
from .lineproto import to_lines


class InfluxV1Sink:
    """Writes snapshots to an InfluxDB 1.x database (one point per snapshot, ms precision)."""

    def __init__(
        self,
        url: str,
        database: str,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.url = display_url(url)
        self.database = database
        self.username = username or None
        self._password = password or ""
        self._secrets = Secrets([self._password], [(username or "", self._password)])
        self.timeout_s = timeout_s
        self.description = database_text(url, database, username)
        headers = {}
        parts = urlsplit(url)
        user, secret = self.username, self._password
        if user is None and parts.username:  # http://user:password@host, as httpx took it
            user, secret = unquote(parts.username), unquote(parts.password or "")
            self._secrets = Secrets([self._password, secret], [(username or "", self._password), (user, secret)])
        if user is not None:
            token = base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        self._client = InfluxHttp(url, headers, timeout_s)

    # -- Sink protocol -------------------------------------------------------------------

    async def write(self, snapshots: Sequence[Snapshot]) -> None:
        body = to_lines(snapshots)
        if not body:
            return
        await self._write_body(body)

    async def check(self) -> None:
        """Reachable, credentials accepted, database exists and is writable.

        1. ``GET /ping`` must answer 204 (reachability; it does not check credentials).
        2. ``SHOW DATABASES`` with the credentials (401 -> bad username/password).
        3. An empty-body write to the database: InfluxDB applies the same auth, database and
           write-privilege checks as for a real write and stores nothing. This tells "does
           not exist" (404) from "exists but this user may not write it" (403), which
           ``SHOW DATABASES`` alone cannot: it hides databases the user has no privilege on.
        """
        resp = await self._request("GET", "/ping")
        if resp.status_code != 204:
            detail = " ".join(filter(None, [f"HTTP {resp.status_code}", self._short(resp.text)]))
            raise SinkError(f"InfluxDB at {self.url} answered /ping with {detail}: is it InfluxDB 1.x?")
        resp = await self._request("GET", "/query", {"q": "SHOW DATABASES"})
        if resp.status_code != 200:
            self._raise_for(resp, action="query")
        await self._write_body("")

    async def close(self) -> None:
        self._client.close()

    # -- internals -----------------------------------------------------------------------

    async def _write_body(self, body: str) -> None:
        resp = await self._request("POST", "/write", {"db": self.database, "precision": "ms"},
                                   body.encode("utf-8"))
        if resp.status_code // 100 != 2:
            self._raise_for(resp, action="write")

    async def _request(self, method: str, path: str, params: dict[str, str] | None = None,
                       body: bytes = b"") -> Response:
        return await self._client.request(method, path, url=self.url, scrub=self._scrub, params=params, body=body,
                                          content_type="text/plain; charset=utf-8" if method == "POST" else "")

    def _raise_for(self, resp: Response, *, action: str) -> None:
        code = resp.status_code
        msg = self._short(resp.text)
        low = msg.lower()
        if code == 401:
            if self.username is None or "unable to parse authentication" in low:
                raise SinkError(
                    "InfluxDB requires a username/password (HTTP 401): set INFLUXDB_USERNAME/INFLUXDB_PASSWORD"
                )
            raise SinkError(
                "InfluxDB rejected the username/password (HTTP 401): check INFLUXDB_USERNAME/INFLUXDB_PASSWORD"
            )
        if code == 403:
            who = f"user '{self.username}'" if self.username else "this user"
            raise SinkError(
                f"InfluxDB {who} may not {action} database '{self.database}' (HTTP 403): {msg}".rstrip(": ")
            )
        if code == 404 and "database not found" in low:
            raise SinkError(f"database '{self.database}' not found (HTTP 404)", fix=self._create_database())
        what = "write" if action == "write" else "query"
        raise SinkError(f"InfluxDB {what} failed: HTTP {code} {msg}".rstrip(),
                        rejected=action == "write" and code in REJECTED_STATUSES)

    def _create_database(self) -> str:
        """The fix for a missing database, as a command to copy; "" for a name InfluxQL cannot
        write (the reader's identifier quoting, so the hint quotes as the queries do)."""
        from .reader import quote_ident  # only here: the reader's module loads httpx

        try:
            statement = f"CREATE DATABASE {quote_ident(self.database)}"
        except ValueError:
            return ""
        return f"create it: influx -execute {shlex.quote(statement)}"

    def _short(self, text: str) -> str:
        return self._scrub(short_body(text))

    def _scrub(self, text: str) -> str:
        # A proxy or odd server can echo the request, Authorization header included: never pass
        # the password on, nor the base64 of user:password
        return self._secrets.mask(text)
