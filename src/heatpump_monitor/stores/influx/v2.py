"""InfluxDB 2.x sink (also VictoriaMetrics): line protocol over
``POST /api/v2/write?org=<org>&bucket=<bucket>&precision=ms`` (plain HTTP/1.1, :mod:`.http`), like
the 1.x sink.

The token travels only in the ``Authorization: Token ...`` header (never in a URL); it is never
put into a :class:`SinkError`, and every message is scrubbed of it anyway. One request per
write, on the collector's event loop: no worker thread, no batching, no retries and no
redirects followed (the writer and its spool retry). influxdb-client did the same with far more
(its own threads, urllib3, reactivex), so it is not used; nor httpx (see :mod:`.http`).

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

import shlex
from typing import Sequence

from ...errors import display_url, short_body
from ...masking import Secrets
from ...model import Snapshot
from ..base import REJECTED_STATUSES, SinkError
from .http import InfluxHttp
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
        self._client = InfluxHttp(url, {"Authorization": f"Token {self._token}"}, timeout_s)
        self._params = {"org": org, "bucket": bucket, "precision": "ms"}

    # -- Sink protocol -------------------------------------------------------------------

    async def write(self, snapshots: Sequence[Snapshot]) -> None:
        body = to_lines(snapshots)
        if not body:
            return
        await self._post(body.encode("utf-8"), is_check=False)

    async def check(self) -> None:
        """Token, org and bucket are right and the server takes writes; see the module doc."""
        await self._post(b"", is_check=True)

    async def close(self) -> None:
        self._client.close()

    # -- internals -----------------------------------------------------------------------

    async def _post(self, body: bytes, is_check: bool) -> None:
        if self._client.is_closed:
            raise SinkError(f"{self.description}: sink is closed")
        resp = await self._client.request("POST", "/api/v2/write", url=self.url, scrub=self._scrub,
                                          params=self._params, body=body, content_type="text/plain; charset=utf-8")
        if resp.status_code // 100 == 2:
            return
        status, text = resp.status_code, resp.text
        if is_check and status == 400 and _EMPTY_WRITE_OK in text.lower():
            return
        message, fix = self._refusal(status, text)
        raise SinkError(self._scrub(message), rejected=not is_check and status in REJECTED_STATUSES, fix=fix)

    def _refusal(self, status: int, body: str) -> tuple[str, str]:
        """The message for a refused request, and the fix when there is one to copy (a missing
        bucket's ``influx bucket create``; "" otherwise)."""
        msg = short_body(body)
        low = msg.lower()
        if status in (401, 403):
            text = f"InfluxDB rejected the token (HTTP {status}): check INFLUXDB_TOKEN"
            if status == 403:
                text += f" (it may lack write permission on bucket '{self.bucket}')"
            return text, ""
        if status == 404:
            if "organization" in low or "org " in low:
                return f"organization '{self.org}' not found (HTTP 404): check INFLUXDB_ORG", ""
            if "bucket" in low:
                return (f"bucket '{self.bucket}' not found in org '{self.org}' (HTTP 404)",
                        f"create it: influx bucket create --name {shlex.quote(self.bucket)} "
                        f"--org {shlex.quote(self.org)}")
            return (f"InfluxDB at {self.url} has no /api/v2/write endpoint (HTTP 404 {msg}):"
                    " is it InfluxDB 2.x?", "")
        return f"InfluxDB write failed: HTTP {status} {msg}".rstrip(), ""

    def _scrub(self, text: str) -> str:
        return self._secrets.mask(text)
