"""Reader of snapshots stored in InfluxDB, with InfluxQL over the 1.x ``/query`` API (httpx, sync).

Same shapes as :class:`~heatpump_monitor.stores.embedded.reader.EmbeddedReader` (``gateways()``,
``latest()``, ``snapshots()``, ``series()``), for ``verify``, the dashboard and tools. Schema: see
:mod:`.lineproto` (measurement ``heatpump``, tags brand/gateway/source,
one float field per register, millisecond timestamps).

Which server, from the :class:`~heatpump_monitor.config.StoreConfig`:

* ``influxdb1``: ``/query?db=<database>``; HTTP basic auth when a username is set.
* ``influxdb2``: the v1-compatibility API of InfluxDB 2.x/3.x, ``/query?db=<bucket>`` with
  ``Authorization: Token <token>``. InfluxQL finds a 2.x bucket only through a DBRP
  (database/retention-policy) mapping. Recent 2.x versions create one for the bucket made by
  ``influx setup`` and for buckets written through the v1 ``/write`` API; any other bucket
  may need ``influx v1 dbrp create --db <bucket> --rp autogen --bucket-id <id> --default``.

Request values are never pasted into InfluxQL as they are: tag values go through
:func:`quote_literal` and identifiers through :func:`quote_ident`; times are integers.

InfluxQL facts this module relies on (checked against InfluxDB 1.6.7):

* ``GROUP BY *`` puts each series' tags in ``"tags"`` and leaves only ``time`` and the fields
  as columns; ``SELECT *`` returns every field of the measurement, ``null`` where a point
  has no value for it (dropped here).
* ``LIMIT 1`` with ``GROUP BY *`` applies per series (first/last point of each series).
* A missing database is HTTP 200 with ``{"results":[{"error":"database not found: x"}]}``.
* String literals know only the escapes ``\\\\``, ``\\'``, ``\\"`` and ``\\n``; a raw newline,
  carriage return or NUL inside a literal is a parse error, and there is no escape for a
  carriage return or NUL: :func:`quote_literal` refuses them.
* ``GROUP BY time(<b>ms, <offset>ms)`` buckets are ``offset + k * b`` (epoch-based), and a
  bucket's ``time`` is its start even when that lies before the ``WHERE time >=`` bound (the
  first bucket of an unaligned range); ``fill(none)`` leaves out a bucket only when every
  aggregate of the row is null. Several ``min()``/``max()`` in one SELECT come back as
  ``min``, ``min_1``, ...: :meth:`InfluxReader.series` names them with ``AS``.
* Field arithmetic (``"a" - "b"``, ``0.5 * "a"``) works in a raw SELECT, not inside an aggregate
  (``min("a" - "b")`` is an error); a subquery does it: ``SELECT min(d) FROM (SELECT "a" - "b"
  AS d FROM ...) GROUP BY time(...)``. A point lacking either field gives no row in the
  subquery, and a subquery without GROUP BY tags mixes the series (sources) of the gateway.
* When ``[http] max-row-limit`` cuts an answer, series and result carry ``"partial": true``
  (and later statements are dropped): :meth:`InfluxReader.snapshots` then halves its time
  slice and asks again.

Every :class:`ReaderError` carries a generic ``cause`` (unreachable, refused credentials, timed
out, not found, error). With ``reader.deadline`` set (a :func:`time.monotonic` value), no request
waits past it: each gets the time left as its timeout, and a read past the deadline raises
:class:`~heatpump_monitor.stores.base.BudgetExceeded`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator, Sequence

import httpx

from ...config import StoreConfig
from ...derived import DERIVED, Derived, Summary, along
from ...errors import display_url, short_body, socket_cause
from ...model import Snapshot
from ..base import (CREDENTIALS, NOT_FOUND, ROLLUP_BUCKET_MS, TIMED_OUT, UNREACHABLE, BudgetExceeded, GatewayInfo,
                    ReaderError, Series, bucket_plan)
from .describe import describe_v1, describe_v2
from .lineproto import MEASUREMENT

DEFAULT_SLICE_MS = 6 * 3600 * 1000  # snapshots() asks for at most this much time at once
MIN_SLICE_MS = 1000


# -- quoting --------------------------------------------------------------------------------

_UNQUOTABLE = {"\r": "a carriage return", "\x00": "a NUL character"}


def _escape(text: str, quote: str) -> str:
    for ch, what in _UNQUOTABLE.items():
        if ch in text:
            raise ValueError(f"{text!r} contains {what}, which InfluxQL cannot express")
    return text.replace("\\", "\\\\").replace(quote, "\\" + quote).replace("\n", "\\n")


def quote_literal(value: str) -> str:
    """An InfluxQL string literal: ``x' OR 1=1 --`` -> ``'x\\' OR 1=1 --'``.

    Backslash, single quote and newline are escaped; a value with a carriage return or NUL
    raises ``ValueError`` (InfluxQL has no way to write them).
    """
    return "'" + _escape(str(value), "'") + "'"


def quote_ident(name: str) -> str:
    """An InfluxQL double-quoted identifier (measurement, tag or field name)."""
    return '"' + _escape(str(name), '"') + '"'


# -- reader ---------------------------------------------------------------------------------


@dataclass(slots=True)
class QuerySeries:
    """One series of an InfluxQL answer as the server gave it: tags, columns (``time`` first), rows."""

    tags: dict[str, str]
    columns: list[str]
    values: list[list]


class InfluxReader:
    """Reads snapshots from InfluxDB 1.x, or 2.x/3.x through their v1-compatibility API."""

    def __init__(
        self,
        store: StoreConfig,
        *,
        timeout_s: float = 30.0,
        slice_ms: int = DEFAULT_SLICE_MS,
        measurement: str = MEASUREMENT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if store.kind not in ("influxdb1", "influxdb2"):
            raise ValueError(f"InfluxReader needs an InfluxDB store, not {store.kind!r}")
        self.kind = store.kind
        self.url = display_url(store.url)
        self.timeout_s = timeout_s
        self.slice_ms = max(MIN_SLICE_MS, int(slice_ms))
        self.measurement = measurement
        self.deadline: float | None = None  # time.monotonic(): no request waits past it
        headers: dict[str, str] = {"Accept": "application/json"}
        auth: httpx.BasicAuth | None = None
        if store.kind == "influxdb1":
            self.database = store.database
            self._what = f"database '{store.database}'"
            self.description = describe_v1(store)
            password = store.password.get_secret_value()
            self._username = store.username or None
            if store.username:
                auth = httpx.BasicAuth(store.username, password)
        else:
            self.database = store.bucket
            self._what = f"bucket '{store.bucket}'"
            self.description = describe_v2(store)
            token = store.token.get_secret_value()
            self._username = None
            headers["Authorization"] = f"Token {token}"
        # a server (or a proxy) may echo the token, the password or the Authorization header's base64
        self._secrets = store.secrets()
        self._client = httpx.Client(
            base_url=store.url.rstrip("/"), auth=auth, headers=headers, timeout=timeout_s,
            transport=transport, trust_env=False,
        )

    # -- public API -------------------------------------------------------------------------

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "InfluxReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def gateways(self) -> list[GatewayInfo]:
        """One entry per (gateway, source), over all stored time, sorted.

        ``first_ms``/``last_ms`` are exact (first/last point of each series). ``snapshots`` is
        the count of the most-filled register (InfluxQL counts field values, not points): the
        exact number of points whenever one register is in every snapshot, else a lower bound.
        Series of one (gateway, source) under different brands are merged (brand = max).
        """
        m = quote_ident(self.measurement)
        counts = self._series(f"SELECT count(*) FROM {m} GROUP BY *")
        firsts = self._series(f"SELECT * FROM {m} GROUP BY * ORDER BY time ASC LIMIT 1")
        lasts = self._series(f"SELECT * FROM {m} GROUP BY * ORDER BY time DESC LIMIT 1")
        acc: dict[tuple[str, str], list] = {}  # key -> [brand, first, last, count]

        def entry(tags: dict[str, str]) -> list:
            key = (tags.get("gateway", ""), tags.get("source", ""))
            e = acc.setdefault(key, [tags.get("brand", ""), None, None, 0])
            e[0] = max(e[0], tags.get("brand", ""))
            return e

        for s in counts:
            n = max((v for row in s.values for v in row[1:] if isinstance(v, int)), default=0)
            entry(s.tags)[3] += n
        for s in firsts:
            for row in s.values:
                e = entry(s.tags)
                e[1] = row[0] if e[1] is None else min(e[1], row[0])
        for s in lasts:
            for row in s.values:
                e = entry(s.tags)
                e[2] = row[0] if e[2] is None else max(e[2], row[0])
        return [
            GatewayInfo(gateway=g, source=src, brand=brand, first_ms=int(first), last_ms=int(last), snapshots=n)
            for (g, src), (brand, first, last, n) in sorted(acc.items())
            if first is not None and last is not None
        ]

    def latest(self, gateway: str, source: str | None = None) -> Snapshot | None:
        """The newest snapshot of ``gateway`` (of ``source`` if given), or None."""
        q = (f"SELECT * FROM {quote_ident(self.measurement)} WHERE {self._where(gateway, source)} "
             "GROUP BY * ORDER BY time DESC LIMIT 1")
        snaps = list(self._snapshots_of(self._series(q)))
        return max(snaps, key=lambda s: s.time_ms) if snaps else None

    def snapshots(self, gateway: str, start_ms: int, end_ms: int,
                  source: str | None = None, fields: Sequence[str] | None = None) -> Iterator[Snapshot]:
        """Every snapshot with start_ms <= time < end_ms, in time order (then source).

        Asked for in time slices of at most ``slice_ms`` (halved while the server truncates
        an answer), so memory stays bounded for long windows. Null fields are dropped; field
        values are returned as floats (non-numeric fields are skipped).
        """
        where = self._where(gateway, source)
        m = quote_ident(self.measurement)
        if fields is not None and not fields:
            return
        try:
            what = "*" if fields is None else ", ".join(quote_ident(f) for f in fields)
        except ValueError as exc:
            raise ReaderError(f"cannot query InfluxDB for {exc}") from None
        t, end, step = int(start_ms), int(end_ms), self.slice_ms
        while t < end:
            upper = min(end, t + step)
            q = f"SELECT {what} FROM {m} WHERE {where} AND time >= {t}ms AND time < {upper}ms GROUP BY *"
            series = self.partial_series(q)
            if series is None:  # truncated by max-row-limit: smaller slice
                if step <= MIN_SLICE_MS:
                    raise ReaderError(
                        f"InfluxDB at {self.url} truncated the answer (max-row-limit) even for "
                        f"{step} ms of {self._what}: raise [http] max-row-limit"
                    )
                step = max(MIN_SLICE_MS, step // 2)
                continue
            yield from sorted(self._snapshots_of(series), key=lambda s: (s.time_ms, s.source, s.brand))
            t = upper

    def series(self, gateway: str, fields: Sequence[str], start_ms: int, end_ms: int,
               max_points: int = 1500, source: str | None = None) -> list[Series]:
        """Each field over [start, end) in at most ``max_points`` buckets: min, max and mean.

        The same buckets as :meth:`EmbeddedReader.series
        <heatpump_monitor.stores.embedded.reader.EmbeddedReader.series>` (:func:`bucket_plan`, as
        ``GROUP BY time(<bucket>ms, <offset>ms)``), ``t`` the bucket start clamped to
        ``start_ms``; empty buckets are left out (``fill(none)``), so gaps stay gaps. Derived
        fields (:data:`~heatpump_monitor.derived.DERIVED`): one with ``terms`` comes from an
        InfluxQL subquery generated from them (exact); any other is computed in Python, per
        point from the inputs' raw points for buckets under 10 minutes (exact, ``previous``
        being the source's last point holding an input, also before ``start_ms``), else per
        bucket from the inputs' count/mean/last by ``from_buckets``: mean only, min and max
        None, approximate for a ratio (see :mod:`heatpump_monitor.derived`). Every Series
        of one call has the same ``t``: the buckets where any asked field has a value (a
        field without a value in one of them has None there). Unlike the embedded store,
        InfluxDB cannot tell a bucket whose snapshots lack every asked field from an empty one.
        """
        out = [Series(f, [], [], [], []) for f in fields]
        start_ms, end_ms = int(start_ms), int(end_ms)
        if end_ms <= start_ms or not out:
            return out
        origin, bucket = bucket_plan(start_ms, end_ms, max_points)
        names = list(dict.fromkeys(fields))
        where = f"{self._where(gateway, source)} AND time >= {start_ms}ms AND time < {end_ms}ms"
        group = f"GROUP BY time({bucket}ms, {origin % bucket}ms) fill(none)"
        m = quote_ident(self.measurement)
        found: dict[str, dict[int, tuple]] = {n: {} for n in names}
        try:
            registers = [n for n in names if n not in DERIVED]
            if registers:
                cols = ", ".join(
                    f"{fn}({quote_ident(name)}) AS {quote_ident(f'{fn}_{i}')}"
                    for i, name in enumerate(registers) for fn in ("min", "max", "mean"))
                for row in self._rows(f"SELECT {cols} FROM {m} WHERE {where} {group}"):
                    for i, name in enumerate(registers):
                        lo, hi, mean = row[1 + 3 * i: 4 + 3 * i]
                        if lo is not None:
                            found[name][int(row[0])] = (lo, hi, mean)
            for name in names:
                d = DERIVED.get(name)
                if d is not None and d.terms:
                    found[name] = self._linear(d, m, where, start_ms, end_ms, group)
                elif d is not None:
                    found[name] = self._computed(d, m, gateway, source, start_ms, end_ms, origin, bucket, group)
        except ValueError as exc:  # a name quote_ident cannot express
            raise ReaderError(f"cannot query InfluxDB for {exc}") from None
        times = sorted({t for per in found.values() for t in per})
        for s in out:
            per = found[s.field]
            s.t = [max(start_ms, t) for t in times]
            for t in times:
                lo, hi, mean = per.get(t, (None, None, None))
                s.min.append(None if lo is None else float(lo))
                s.max.append(None if hi is None else float(hi))
                s.mean.append(None if mean is None else float(mean))
        return out

    # -- derived values -----------------------------------------------------------------------

    def _linear(self, d: Derived, m: str, where: str, start_ms: int, end_ms: int,
                group: str) -> dict[int, tuple]:
        """A definition with terms, per point in an InfluxQL subquery (exact)."""
        expr = ""
        for field, weight in d.terms:
            x = quote_ident(field)
            if weight == 1.0:  # the common weights as plain + and -, bit for bit a - b
                expr += f" + {x}" if expr else x
            elif weight == -1.0:
                expr += f" - {x}"
            else:
                expr += f"{' + ' if expr else ''}{float(weight)!r} * {x}"
        inner = f'SELECT {expr} AS "d" FROM {m} WHERE {where}'
        q = (f'SELECT min("d") AS "lo", max("d") AS "hi", mean("d") AS "mean" FROM ({inner}) '
             f"WHERE time >= {start_ms}ms AND time < {end_ms}ms {group}")
        return {int(t): (lo, hi, mean) for t, lo, hi, mean in self._rows(q) if lo is not None}

    def _computed(self, d: Derived, m: str, gateway: str, source: str | None, start_ms: int, end_ms: int,
                  origin: int, bucket: int, group: str) -> dict[int, tuple]:
        """Any other definition, in Python: per point from the inputs' raw points when chart
        buckets are under 10 minutes (at most ~30,000 points a source), else per bucket from
        the inputs' bucket summaries (:attr:`Derived.from_buckets`: mean only)."""
        cols = ", ".join(quote_ident(i) for i in d.inputs)
        where = self._where(gateway, source)
        src = quote_ident("source")
        per: dict[int, list] = {}  # bucket start -> [n, min, max, sum]
        if bucket < ROLLUP_BUCKET_MS or d.from_buckets is None:
            for s in self._series(f"SELECT {cols} FROM {m} WHERE {where} AND time >= {start_ms}ms "
                                  f"AND time < {end_ms}ms GROUP BY {src}") or []:
                previous = None
                if d.uses_previous:
                    previous = self._point_before(d, m, where, s.tags.get("source", ""), start_ms)
                rows = [_values(s.columns, row) for row in s.values]
                for (t, values), x in zip(rows, along(d, (v for _, v in rows), previous)):
                    if x is not None:
                        b = origin + (t - origin) // bucket * bucket
                        v = per.setdefault(b, [0, x, x, 0.0])
                        v[0] += 1
                        v[1], v[2], v[3] = min(v[1], x), max(v[2], x), v[3] + x
            return {b: (lo, hi, total / n) for b, (n, lo, hi, total) in per.items()}
        aggs = ", ".join(f"count({quote_ident(i)}), mean({quote_ident(i)}), last({quote_ident(i)})" for i in d.inputs)
        for s in self._series(f"SELECT {aggs} FROM {m} WHERE {where} AND time >= {start_ms}ms AND time < {end_ms}ms "
                              f"{group.replace(') fill', f'), {src} fill')}") or []:
            last: dict[str, Summary] | None = None  # the previous non-empty bucket's
            if d.uses_previous:
                before = self._point_before(d, m, where, s.tags.get("source", ""), start_ms)
                last = None if before is None else {k: Summary(1, v, v) for k, v in before.items()}
            for row in s.values:
                this = {i: Summary(int(row[1 + 3 * k]), row[2 + 3 * k], row[3 + 3 * k])
                        for k, i in enumerate(d.inputs) if row[1 + 3 * k]}
                if not this:
                    continue
                x = d.from_buckets(this, last)
                last = this
                if x is not None:  # sources of one bucket: the mean over all their snapshots
                    n = max(v.n for v in this.values())
                    v = per.setdefault(int(row[0]), [0, 0.0])
                    v[0] += n
                    v[1] += x * n
        return {b: (None, None, total / n) for b, (n, total) in per.items()}

    def _point_before(self, d: Derived, m: str, where: str, source: str, start_ms: int) -> dict[str, float] | None:
        """The inputs of ``source``'s last point before ``start_ms`` holding one of them."""
        cols = ", ".join(quote_ident(i) for i in d.inputs)
        rows = self._rows(f"SELECT {cols} FROM {m} WHERE {where} AND {quote_ident('source')} = "
                          f"{quote_literal(source)} AND time < {start_ms}ms ORDER BY time DESC LIMIT 1")
        return _values([""] + list(d.inputs), rows[0])[1] if rows else None

    # -- internals --------------------------------------------------------------------------

    def _rows(self, q: str) -> list[list]:
        """The rows of a statement without GROUP BY tags (one series at most)."""
        return [row for s in self._series(q) for row in s.values]

    def _where(self, gateway: str, source: str | None) -> str:
        try:
            cond = f"{quote_ident('gateway')} = {quote_literal(gateway)}"
            if source:
                cond += f" AND {quote_ident('source')} = {quote_literal(source)}"
        except ValueError as exc:
            raise ReaderError(f"cannot query InfluxDB for {exc}") from None
        return cond

    @staticmethod
    def _snapshots_of(series: list[QuerySeries]) -> Iterator[Snapshot]:
        for s in series:
            gateway, brand, source = s.tags.get("gateway", ""), s.tags.get("brand", ""), s.tags.get("source", "")
            fields = s.columns[1:]
            for row in s.values:
                values = {
                    name: float(v) for name, v in zip(fields, row[1:])
                    if isinstance(v, (int, float)) and not isinstance(v, bool)
                }
                yield Snapshot(gateway=gateway, brand=brand, source=source, time_ms=int(row[0]), values=values)

    def _series(self, q: str) -> list[QuerySeries]:
        """Run one statement; its series (a truncated answer is an error)."""
        series = self.partial_series(q)
        if series is None:
            raise ReaderError(
                f"InfluxDB at {self.url} truncated the answer (max-row-limit): raise [http] max-row-limit"
            )
        return series

    def partial_series(self, q: str) -> list[QuerySeries] | None:
        """Run one InfluxQL statement; its series, or None when the server truncated the answer
        (max-row-limit). Errors are :class:`ReaderError` with a cause, as for every read.
        Public for ``import-upstream``, which reads the old collectors' schema (not ours) with
        the same requests, truncation check and error causes."""
        doc = self._query(q)
        results = doc.get("results") if isinstance(doc, dict) else None
        if not isinstance(results, list) or not results:
            raise ReaderError(f"InfluxDB at {self.url} answered /query without results: is it InfluxDB?")
        result = results[0]
        if result.get("error"):
            self._raise_result_error(str(result["error"]))
        raw = result.get("series") or []
        if result.get("partial") or any(s.get("partial") for s in raw):
            return None
        return [QuerySeries(tags=dict(s.get("tags") or {}), columns=list(s.get("columns") or []),
                        values=list(s.get("values") or [])) for s in raw]

    def _query(self, q: str) -> dict:
        timeout = self.timeout_s
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise BudgetExceeded()
            timeout = min(timeout, left)
        try:
            resp = self._client.post(
                "/query", params={"db": self.database, "epoch": "ms"}, data={"q": q}, timeout=timeout,
            )
        except httpx.TransportError as exc:
            if isinstance(exc, httpx.TimeoutException):
                if self.deadline is not None and time.monotonic() >= self.deadline:
                    raise BudgetExceeded() from None
                raise ReaderError(f"InfluxDB at {self.url} unreachable: no answer within {self.timeout_s:g}s",
                                  TIMED_OUT) from None
            cause = socket_cause(exc) or short_body(str(exc)) or type(exc).__name__
            raise ReaderError(f"InfluxDB at {self.url} unreachable: {self._scrub(cause)}", UNREACHABLE) from None
        if resp.status_code != 200:
            self._raise_for(resp)
        try:
            return resp.json()
        except ValueError:
            raise ReaderError(
                f"InfluxDB at {self.url} answered /query with something that is not JSON "
                f"({self._short(resp.text) or 'empty'}): is it InfluxDB?"
            ) from None

    def _raise_result_error(self, error: str) -> None:
        msg = self._scrub(short_body(error))
        if "database not found" in msg.lower():
            if self.kind == "influxdb2":
                raise ReaderError(
                    f"{self._what} not found through the InfluxQL (v1) API of InfluxDB at {self.url}: "
                    f"check INFLUXDB_BUCKET; the bucket may need a DBRP mapping "
                    f"(influx v1 dbrp create --db {self.database} --rp autogen --bucket-id <id> --default)",
                    NOT_FOUND,
                )
            raise ReaderError(f"{self._what} not found on InfluxDB at {self.url}: check INFLUXDB_DATABASE", NOT_FOUND)
        raise ReaderError(f"InfluxDB query on {self._what} failed: {msg}")

    def _raise_for(self, resp: httpx.Response) -> None:
        code = resp.status_code
        msg = self._short(resp.text)
        low = msg.lower()
        if code == 401:
            if self.kind == "influxdb2":
                raise ReaderError("InfluxDB rejected the token (HTTP 401): check INFLUXDB_TOKEN", CREDENTIALS)
            if self._username is None or "unable to parse authentication" in low:
                raise ReaderError(
                    "InfluxDB requires a username/password (HTTP 401): set INFLUXDB_USERNAME/INFLUXDB_PASSWORD",
                    CREDENTIALS)
            raise ReaderError(
                "InfluxDB rejected the username/password (HTTP 401): check INFLUXDB_USERNAME/INFLUXDB_PASSWORD",
                CREDENTIALS)
        if code == 403:
            who = f"user '{self._username}'" if self._username else "these credentials"
            raise ReaderError(f"InfluxDB: {who} may not read {self._what} (HTTP 403): {msg}".rstrip(": "),
                              CREDENTIALS)
        if code == 404 and self.kind == "influxdb2" and ("dbrp" in low or "database" in low or "bucket" in low):
            raise ReaderError(
                f"{self._what} not found through the InfluxQL (v1) API of InfluxDB at {self.url} (HTTP 404: {msg}); "
                f"the bucket may need a DBRP mapping (influx v1 dbrp create --db {self.database} "
                "--rp autogen --bucket-id <id> --default)",
                NOT_FOUND,
            )
        if code == 404:
            raise ReaderError(f"InfluxDB at {self.url} has no /query endpoint (HTTP 404): is it InfluxDB?")
        if code == 400:
            raise ReaderError(f"InfluxDB rejected the query on {self._what} (HTTP 400): {msg}".rstrip(": "))
        raise ReaderError(f"InfluxDB query on {self._what} failed: HTTP {code} {msg}".rstrip())

    def _short(self, text: str) -> str:
        return self._scrub(short_body(text))

    def _scrub(self, text: str) -> str:
        # Defensive: a proxy or odd server could echo a request; never pass a secret on.
        return self._secrets.mask(text)


def _values(columns: list[str], row: list) -> tuple[int, dict[str, float]]:
    """(time, the numeric values) of one raw row."""
    return int(row[0]), {name: float(v) for name, v in zip(columns[1:], row[1:])
                         if isinstance(v, (int, float)) and not isinstance(v, bool)}
