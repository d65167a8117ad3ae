"""Reader of the embedded store, for the web UI and ``verify``: time-ranged, downsampled series.

Long series come from the sink's rollup tables (see :mod:`.schema`). Derived fields of any
definition are exact on every path (:meth:`EmbeddedReader.series`).

A caller may bound the time of its reads: with ``reader.deadline`` set (a
:func:`time.monotonic` value), SQLite's progress handler interrupts a statement that runs past
it and the read raises :class:`~heatpump_monitor.stores.base.BudgetExceeded`.
"""

from __future__ import annotations

import functools
import json
import math
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

from ...derived import DERIVED, Derived, along
from ...model import Snapshot
from ..base import NOT_FOUND, ROLLUP_BUCKET_MS, BudgetExceeded, GatewayInfo, ReaderError, Series, bucket_plan
from .schema import NEWEST, OLDEST_QUEUED, ROLLUP_LEVELS, SNAPSHOT_COUNT, bucket_of, connect, json_path, rollup_ready

#: SQLite virtual-machine instructions between two looks at the deadline (about a millisecond)
PROGRESS_STEPS = 2000

_F = TypeVar("_F", bound=Callable[..., Any])


@contextmanager
def _interrupted(reader: "EmbeddedReader") -> Iterator[None]:
    """A statement interrupted at the reader's deadline -> BudgetExceeded (any other error
    unchanged)."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if reader._past_deadline() and "interrupt" in str(exc).lower():
            raise BudgetExceeded() from None
        raise


def _bounded(method: _F) -> _F:
    """:func:`_interrupted` around a method that returns its result."""

    @functools.wraps(method)
    def wrapper(self: "EmbeddedReader", *args: Any, **kwargs: Any) -> Any:
        with _interrupted(self):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class EmbeddedReader:
    clock: Callable[[], float] = staticmethod(time.monotonic)  # what ``deadline`` is compared with

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._deadline: float | None = None

    # -- deadline ---------------------------------------------------------------------------

    @property
    def deadline(self) -> float | None:
        """A :func:`time.monotonic` time after which reads are interrupted (None: no limit)."""
        return self._deadline

    @deadline.setter
    def deadline(self, value: float | None) -> None:
        self._deadline = value
        if self._conn is not None:
            self._arm(self._conn)

    def _arm(self, conn: sqlite3.Connection) -> None:
        # the handler is only installed while a deadline is set: no cost otherwise
        if self._deadline is None:
            conn.set_progress_handler(None, 0)
        else:
            conn.set_progress_handler(self._past_deadline, PROGRESS_STEPS)

    def _past_deadline(self) -> bool:
        return self._deadline is not None and self.clock() >= self._deadline

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            if not self.path.exists():
                raise ReaderError(f"embedded store {self.path} does not exist yet (has the collector run?)",
                                  NOT_FOUND)
            self._conn = connect(self.path, readonly=True)
            self._arm(self._conn)
        if self._past_deadline():
            raise BudgetExceeded()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @_bounded
    def gateways(self) -> list[GatewayInfo]:
        """Every (gateway, source) with its brand, first and last time and snapshot count: from
        the sink's small ``gateways`` table, or, in a store the sink has not migrated yet, by
        scanning every snapshot."""
        db = self._db()
        q = ("SELECT gateway, source, brand, first_ms, last_ms, n FROM gateways" if rollup_ready(db) else
             "SELECT gateway, source, max(brand), min(ts_ms), max(ts_ms), count(*) FROM snapshots "
             "GROUP BY gateway, source")
        return [GatewayInfo(*r) for r in db.execute(q + " ORDER BY gateway, source")]

    @_bounded
    def latest(self, gateway: str, source: str | None = None) -> Snapshot | None:
        """The newest snapshot of ``gateway`` (of ``source`` if given; else the newest of any
        source, the first source in name order on a tie), or None.

        One index probe per source: ``ORDER BY ts_ms`` over the gateway alone would sort every
        snapshot it ever had (0.3 s for 200,000)."""
        db = self._db()
        q = ("SELECT gateway, brand, source, ts_ms, data FROM snapshots WHERE gateway=? AND source=? "
             "ORDER BY ts_ms DESC LIMIT 1")
        rows = [row for src in ([source] if source else self._sources(gateway))
                if (row := db.execute(q, (gateway, src)).fetchone()) is not None]
        return _snap(max(rows, key=lambda r: r[3])) if rows else None

    def snapshots(self, gateway: str, start_ms: int, end_ms: int,
                  source: str | None = None, fields: Sequence[str] | None = None) -> Iterator[Snapshot]:
        """Every snapshot with start_ms <= time < end_ms, in time order; with ``fields``, only
        those values (one json_extract column each: about half the time of decoding rows)."""
        args: list[object] = []
        data = "data"
        if fields is not None:
            data = ", ".join(f"json_extract(data, ?{i + 1})" for i in range(len(fields))) or "NULL"
            args += [f'$."{f}"' for f in fields]
        n = len(args)
        q = (f"SELECT gateway, brand, source, ts_ms, {data} FROM snapshots "
             f"WHERE gateway=?{n + 1} AND ts_ms>=?{n + 2} AND ts_ms<?{n + 3}")
        args += [gateway, start_ms, end_ms]
        if source:
            q += f" AND source=?{n + 4}"
            args.append(source)
        names = list(fields) if fields is not None else None
        with _interrupted(self):  # a generator: the decorator would only cover its creation
            for row in self._db().execute(q + " ORDER BY ts_ms", args):
                if names is None:
                    yield _snap(row)
                else:
                    values = {k: v for k, v in zip(names, row[4:]) if v is not None}
                    yield Snapshot(gateway=row[0], brand=row[1], source=row[2], time_ms=row[3], values=values)

    @_bounded
    def series(self, gateway: str, fields: Sequence[str], start_ms: int, end_ms: int,
               max_points: int = 1500, source: str | None = None) -> list[Series]:
        """Each field over [start, end), at most ``max_points`` buckets, keeping min and max.

        Buckets follow :func:`bucket_plan`; each point's ``t`` is its bucket's start (the first
        one clamped to ``start_ms``), ``mean``/``min``/``max`` are over the snapshots of the
        bucket. A bucket with no snapshot is absent, so a real outage stays a visible gap; a
        bucket with snapshots but no value of a field has None for that field. Every Series
        of one call has the same ``t``. Field names may be registers or derived fields
        (:data:`~heatpump_monitor.derived.DERIVED`); they are bound as JSON-path or value
        parameters, never pasted into SQL. A derived field is computed per snapshot: in SQL
        from its ``terms`` when it has them (any number, weights bound), else in Python with
        the snapshot before (for a range's first snapshot, the one before ``start_ms``); the
        rollups hold it computed the same way, so every path gives the same values.

        Buckets shorter than 10 minutes (spans up to ~10 days at 1,500 points) are computed
        from the snapshots; longer ones from the sink's rollups (hourly for chart buckets of an
        hour or more, else 10-minute), with the partial hours and 10 minutes at either end of
        the range - and each source's open (newest) bucket and any closed one still queued to be
        summarised, with everything after it - taken from the finer level and the snapshots,
        so the result is exactly that of the snapshots in [start, end). A store whose rollups
        are not built yet is read from the snapshots (correct, slower).
        """
        start_ms, end_ms = int(start_ms), int(end_ms)
        origin, bucket = bucket_plan(start_ms, end_ms, max_points)
        return self._series(gateway, fields, start_ms, end_ms, origin, bucket, source,
                            use_rollup=bucket >= ROLLUP_BUCKET_MS)

    # -- series internals -------------------------------------------------------------------

    def _series(self, gateway: str, fields: Sequence[str], start_ms: int, end_ms: int, origin: int,
                bucket: int, source: str | None, *, use_rollup: bool) -> list[Series]:
        """Series on the grid ``origin + k * bucket`` (origin <= start_ms); ``use_rollup``
        needs origin and bucket to be multiples of the 10-minute rollup bucket."""
        out = [Series(f, [], [], [], []) for f in fields]
        if end_ms <= start_ms or not out:
            return out
        sources = [source] if source else self._sources(gateway)
        if not sources:
            return out
        names = list(dict.fromkeys(fields))
        acc = _Acc(names)
        with self._one_read():
            self._collect(acc, gateway, start_ms, end_ms, origin, bucket, sources, use_rollup)
        buckets = sorted(b for b, n in acc.count.items() if n > 0)
        times = [max(start_ms, origin + b * bucket) for b in buckets]
        for s in out:
            per = acc.fields[s.field]
            s.t = list(times)
            for b in buckets:
                v = per.get(b)
                if v is None or not v[0]:
                    s.min.append(None)
                    s.max.append(None)
                    s.mean.append(None)
                else:
                    s.min.append(float(v[1]))
                    s.max.append(float(v[2]))
                    s.mean.append(v[3] / v[0])
        return out

    @contextmanager
    def _one_read(self) -> Iterator[None]:
        """One read transaction: the newest times, the queue, the rollups and the snapshots of
        a series all as of the same commit of the writer."""
        db = self._db()
        db.execute("BEGIN")
        try:
            yield
        finally:
            db.rollback()

    def _collect(self, acc: "_Acc", gateway: str, start_ms: int, end_ms: int, origin: int, bucket: int,
                 sources: list[str], use_rollup: bool) -> None:
        db = self._db()
        if use_rollup and rollup_ready(db):
            # the rollup levels whose buckets never straddle two chart buckets, coarse to fine
            levels = [(size, table) for size, table in ROLLUP_LEVELS if origin % size == 0 and bucket % size == 0]
            if not levels:
                raise ValueError(f"no rollup fits origin {origin}, bucket {bucket}")
            for src in sources:
                # the bucket (of each level) holding the newest snapshot is open, a queued one
                # not summarised yet: rollup rows only before the older of the two
                newest = db.execute(NEWEST, (gateway, src)).fetchone()[0]
                if newest is not None:
                    queued = db.execute(OLDEST_QUEUED, (gateway, src)).fetchone()[0]
                    horizon = bucket_of(newest) if queued is None else min(queued, bucket_of(newest))
                    horizons = [(size, table, bucket_of(horizon, size)) for size, table in levels]
                    self._fill(acc, gateway, start_ms, end_ms, origin, bucket, [src], horizons)
        else:
            self._raw_into(acc, gateway, start_ms, end_ms, origin, bucket, sources)

    def _fill(self, acc: "_Acc", gateway: str, lo: int, hi: int, origin: int, bucket: int,
              sources: list[str], levels: list[tuple[int, str, int]]) -> None:
        """[lo, hi) into ``acc``: the whole closed buckets of the coarsest level (size, table,
        start of its open bucket) from its table, the rest at either end from the next level,
        and so on down to the snapshots."""
        if not levels:
            self._raw_into(acc, gateway, lo, hi, origin, bucket, sources)
            return
        (size, table, horizon), finer = levels[0], levels[1:]
        first, last = -(-lo // size) * size, min(hi // size * size, horizon)
        if first >= last:
            self._fill(acc, gateway, lo, hi, origin, bucket, sources, finer)
            return
        self._fill(acc, gateway, lo, first, origin, bucket, sources, finer)
        self._rollup_into(acc, table, gateway, first, last, origin, bucket, sources)
        self._fill(acc, gateway, last, hi, origin, bucket, sources, finer)

    def _raw_into(self, acc: "_Acc", gateway: str, lo: int, hi: int, origin: int, bucket: int,
                  sources: list[str]) -> None:
        """Aggregate the snapshots with lo <= ts < hi into ``acc``: registers and linear derived
        fields in SQL, per row; any other derived field per snapshot in Python
        (:meth:`_computed_into`).

        Sources are listed (one index range each): with the gateway alone the key
        (gateway, source, ts_ms) would narrow down to every snapshot the gateway ever had."""
        if lo >= hi:
            return
        args: list[object] = [origin, bucket, gateway, lo, hi, *sources]
        src = ", ".join(f"?{6 + i}" for i in range(len(sources)))
        in_sql = [name for name in acc.names if name not in DERIVED or DERIVED[name].terms]
        xs = []
        for name in in_sql:
            d = DERIVED.get(name)
            parts = [(name, 1.0)] if d is None else d.terms
            expr = ""
            for field, weight in parts:
                args.append(json_path(field))
                x = f"json_extract(data, ?{len(args)})"
                if weight == 1.0:  # the common weights as plain + and -, bit for bit a - b
                    expr += f" + {x}" if expr else x
                elif weight == -1.0:
                    expr += f" - {x}"
                else:
                    args.append(weight)
                    expr += f"{' + ' if expr else ''}?{len(args)} * {x}"
            xs.append(expr)
        # Each value is extracted once per row in the subquery; its LIMIT keeps SQLite from
        # flattening it into the aggregate, which would extract it again for every aggregate.
        inner = "".join(f", {x} AS x{i}" for i, x in enumerate(xs))
        cols = "".join(f", count(x{i}), min(x{i}), max(x{i}), sum(x{i})" for i in range(len(xs)))
        q = (f"SELECT b, count(*){cols} FROM (SELECT (ts_ms - ?1) / ?2 AS b{inner} FROM snapshots "
             f"WHERE gateway = ?3 AND source IN ({src}) AND ts_ms >= ?4 AND ts_ms < ?5 LIMIT -1) GROUP BY b")
        db = self._db()
        for row in db.execute(q, args):
            b = row[0]
            acc.count[b] = acc.count.get(b, 0) + row[1]
            for i, name in enumerate(in_sql):
                acc.add(name, b, *row[2 + 4 * i: 6 + 4 * i])
        computed = [DERIVED[name] for name in acc.names if name in DERIVED and not DERIVED[name].terms]
        if computed:
            for source in sources:
                self._computed_into(acc, computed, gateway, source, lo, hi, origin, bucket)

    def _computed_into(self, acc: "_Acc", defs: list[Derived], gateway: str, source: str, lo: int, hi: int,
                       origin: int, bucket: int) -> None:
        """The derived fields ``defs`` of one source's snapshots in [lo, hi), per snapshot in
        time order with the one before it - for the first, the snapshot before ``lo``."""
        inputs = list(dict.fromkeys(i for d in defs for i in d.inputs))
        cols = ", ".join(f"json_extract(data, ?{4 + i})" for i in range(len(inputs)))
        paths = [json_path(i) for i in inputs]
        base = f"SELECT ts_ms, {cols} FROM snapshots WHERE gateway = ?1 AND source = ?2 AND ts_ms "
        db = self._db()

        def values(row: tuple) -> dict[str, float]:
            return {name: v for name, v in zip(inputs, row[1:]) if v is not None}

        previous = None
        if any(d.uses_previous for d in defs):
            row = db.execute(base + "< ?3 ORDER BY ts_ms DESC LIMIT 1", (gateway, source, lo, *paths)).fetchone()
            previous = None if row is None else values(row)
        rows = db.execute(base + ">= ?3 AND ts_ms < ?" + str(4 + len(inputs)) + " ORDER BY ts_ms",
                          (gateway, source, lo, *paths, hi)).fetchall()
        times = [(ts - origin) // bucket for ts, *_ in rows]
        snaps = [values(row) for row in rows]
        for d in defs:
            per: dict[int, list[float]] = {}
            for b, x in zip(times, along(d, snaps, previous)):
                if x is not None:
                    per.setdefault(b, []).append(x)
            for b, xs in per.items():
                acc.add(d.name, b, len(xs), min(xs), max(xs), math.fsum(xs))

    def _rollup_into(self, acc: "_Acc", table: str, gateway: str, lo: int, hi: int, origin: int,
                     bucket: int, sources: list[str]) -> None:
        """Aggregate the buckets of rollup ``table`` with lo <= bucket_ms < hi into ``acc``."""
        if table not in _TABLES:  # pasted into the SQL: only ever one of our constants
            raise ValueError(f"not a rollup table: {table!r}")
        names = [SNAPSHOT_COUNT] + [n for n in acc.names if n != SNAPSHOT_COUNT]
        args: list[object] = [origin, bucket, gateway, lo, hi, *sources, *names]
        src = ", ".join(f"?{6 + i}" for i in range(len(sources)))
        fld = ", ".join(f"?{6 + len(sources) + i}" for i in range(len(names)))
        q = (f"SELECT field, (bucket_ms - ?1) / ?2 AS b, sum(n), min(vmin), max(vmax), sum(vsum) FROM {table} "
             f"WHERE gateway = ?3 AND source IN ({src}) AND field IN ({fld}) AND bucket_ms >= ?4 AND bucket_ms < ?5 "
             "GROUP BY field, b")
        wanted = set(acc.names) - {SNAPSHOT_COUNT}
        for field, b, n, lo_v, hi_v, total in self._db().execute(q, args):
            if field == SNAPSHOT_COUNT:
                acc.count[b] = acc.count.get(b, 0) + n
            if field in wanted:
                acc.add(field, b, n, lo_v, hi_v, total)

    def _sources(self, gateway: str) -> list[str]:
        """The sources of ``gateway``, one index probe each (no scan)."""
        out: list[str] = []
        db = self._db()
        row = db.execute("SELECT min(source) FROM snapshots WHERE gateway = ?", (gateway,)).fetchone()
        while row and row[0] is not None:
            out.append(row[0])
            row = db.execute("SELECT min(source) FROM snapshots WHERE gateway = ? AND source > ?",
                             (gateway, row[0])).fetchone()
        return out


_TABLES = frozenset(table for _, table in ROLLUP_LEVELS)


class _Acc:
    """Per bucket: snapshot count; per field and bucket: [n, min, max, sum]."""

    __slots__ = ("names", "count", "fields")

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.count: dict[int, int] = {}
        self.fields: dict[str, dict[int, list]] = {n: {} for n in names}

    def add(self, name: str, b: int, n: int, lo: float, hi: float, total: float) -> None:
        if not n:
            return
        per = self.fields[name]
        v = per.get(b)
        if v is None:
            per[b] = [n, lo, hi, total]
        else:
            v[0] += n
            v[1] = min(v[1], lo)
            v[2] = max(v[2], hi)
            v[3] += total


def _snap(row: tuple) -> Snapshot:
    gateway, brand, source, ts_ms, data = row
    return Snapshot(gateway=gateway, brand=brand, source=source, time_ms=ts_ms, values=json.loads(data))
