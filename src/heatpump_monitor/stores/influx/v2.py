"""InfluxDB 2.x sink (also VictoriaMetrics): line protocol via the ``influxdb-client`` library.

The library is synchronous here (``write_api(write_options=SYNCHRONOUS)``); each blocking call
runs in a worker thread via :func:`asyncio.to_thread`.

Retries and logging of the library, verified against influxdb-client 1.50:

* SYNCHRONOUS writes never retry: the ``WriteOptions`` retry strategy is only used by the
  batching mode, and the client's urllib3 pool is built with ``retries=False`` (passed
  explicitly below), which also means redirects are not followed. We retry ourselves.
* ``debug=False`` keeps the library's loggers (and, as a side effect of the library,
  the ``urllib3`` logger) at WARNING. Even in debug mode the library masks the
  ``Authorization`` header; the token never appears in URLs (it travels only in that header).
* The token is never put into a :class:`SinkError`; every message is scrubbed of it anyway.

``check()`` is an empty-body write to ``/api/v2/write?org=..&bucket=..``:

* InfluxDB 2.x checks the token (401), the org and the bucket (404) and the write permission
  (403) *before* it looks at the body, then rejects the empty body with
  ``400 {"code":"invalid","message":"writing requires points"}``. That 400 therefore means
  "everything is right" and is treated as success. Nothing is stored.
* VictoriaMetrics implements only the write endpoint (no buckets/orgs API, no token check,
  ``/health`` instead of InfluxDB's): it answers the empty write with 204, also success.
  So ``ping()``/``health()``/the buckets API, which would fail or prove nothing against
  VictoriaMetrics, are not used.
"""

from __future__ import annotations

import asyncio
import shlex
import socket
import threading
from typing import Sequence

import urllib3.exceptions
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.write_api import SYNCHRONOUS

from ...masking import Secrets
from ...model import Snapshot
from ..base import REJECTED_STATUSES, SinkError
from ...errors import display_url, exception_chain, short_body, socket_cause
from .lineproto import to_lines

_EMPTY_WRITE_OK = "writing requires points"


class InfluxV2Sink:
    """Writes snapshots to an InfluxDB 2.x bucket (or VictoriaMetrics), one point per snapshot."""

    def __init__(self, url: str, token: str, org: str, bucket: str, timeout_s: float = 10.0) -> None:
        self.url = display_url(url)
        self.org = org
        self.bucket = bucket
        self.timeout_s = timeout_s
        self._token = token or ""
        self._secrets = Secrets([self._token])
        self.description = f"InfluxDB v2 at {self.url} (org {org}, bucket {bucket})"
        self._client: InfluxDBClient | None = InfluxDBClient(
            url=url,
            token=self._token,
            org=org,
            timeout=max(1, int(timeout_s * 1000)),  # milliseconds; urllib3 total timeout
            debug=False,
            enable_gzip=False,
            retries=False,
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._lock = threading.Lock()  # close() must not pull the client away mid-write

    # -- Sink protocol -------------------------------------------------------------------

    async def write(self, snapshots: Sequence[Snapshot]) -> None:
        body = to_lines(snapshots)
        if not body:
            return
        await asyncio.to_thread(self._post, body.encode("utf-8"), False)

    async def check(self) -> None:
        """Token, org and bucket are right and the server takes writes; see the module doc."""
        await asyncio.to_thread(self._post, b"", True)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    # -- internals (run in a worker thread) ----------------------------------------------

    def _close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._write_api.close()
                self._client.close()
                self._client = None

    def _post(self, body: bytes, is_check: bool) -> None:
        with self._lock:
            if self._client is None:
                raise SinkError(f"{self.description}: sink is closed")
            try:
                # influxdb-client declares WritePrecision.MS as a plain str while typing the
                # parameter as WritePrecision: its own constant, rejected by its own annotation
                self._write_api.write(
                    bucket=self.bucket, org=self.org, record=body,
                    write_precision=WritePrecision.MS,  # type: ignore[arg-type]
                )
            except InfluxDBError as exc:
                status = getattr(exc, "status", None)
                if status is None and getattr(exc, "response", None) is not None:
                    status = getattr(exc.response, "status", None)
                if status is None or status == 0:  # e.g. TLS failure, wrapped as ApiException(0)
                    reason = getattr(exc, "reason", None) or str(exc)
                    raise SinkError(self._unreachable(short_body(str(reason)))) from None
                text = getattr(exc, "body", None) or getattr(exc, "message", "") or ""
                if is_check and status == 400 and _EMPTY_WRITE_OK in str(text).lower():
                    return
                raise SinkError(self._scrub(self._http_message(status, str(text))),
                                rejected=not is_check and status in REJECTED_STATUSES,
                                fix=self._fix(status, str(text))) from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise SinkError(self._unreachable(_network_cause(exc, self.timeout_s))) from None
            except ValueError as exc:  # the library refuses e.g. an empty org before sending
                raise SinkError(self._scrub(f"InfluxDB write not sent: {exc}")) from None

    def _http_message(self, status: int, body: str) -> str:
        msg = short_body(body)
        low = msg.lower()
        if status in (401, 403):
            text = f"InfluxDB rejected the token (HTTP {status}): check INFLUXDB_TOKEN"
            if status == 403:
                text += f" (it may lack write permission on bucket '{self.bucket}')"
            return text
        if status == 404:
            if "organization" in low or "org " in low:
                return f"organization '{self.org}' not found (HTTP 404): check INFLUXDB_ORG"
            if "bucket" in low:
                return f"bucket '{self.bucket}' not found in org '{self.org}' (HTTP 404)"
            return (
                f"InfluxDB at {self.url} has no /api/v2/write endpoint (HTTP 404 {msg}):"
                " is it InfluxDB 2.x?"
            )
        return f"InfluxDB write failed: HTTP {status} {msg}".rstrip()

    def _fix(self, status: int, body: str) -> str:
        """The command that creates a missing bucket; "" for any other cause."""
        low = short_body(body).lower()
        if status != 404 or "bucket" not in low or "organization" in low or "org " in low:
            return ""
        return (f"create it: influx bucket create --name {shlex.quote(self.bucket)} "
                f"--org {shlex.quote(self.org)}")

    def _unreachable(self, cause: str) -> str:
        return self._scrub(f"InfluxDB at {self.url} unreachable: {cause}")

    def _scrub(self, text: str) -> str:
        return self._secrets.mask(text)


def _network_cause(exc: BaseException, timeout_s: float) -> str:
    """A short human cause for a urllib3/socket failure (no object reprs)."""
    cause = socket_cause(exc)
    if cause:
        return cause
    for e in exception_chain(exc):
        # NewConnectionError subclasses ConnectTimeoutError in urllib3 2.x; it is not a timeout.
        if isinstance(e, urllib3.exceptions.NewConnectionError):
            continue
        if isinstance(e, (urllib3.exceptions.TimeoutError, socket.timeout, TimeoutError)):
            return f"no answer within {timeout_s:g}s"
        if isinstance(e, urllib3.exceptions.ProtocolError):
            return f"connection broken ({short_body(str(e.args[0]) if e.args else str(e))})"
    text = str(exc)
    if "Failed to establish a new connection:" in text:
        text = text.split("Failed to establish a new connection:", 1)[1]
    return short_body(text) or type(exc).__name__
