"""Store access for the dashboard: pools of readers, the gateway list, and every store failure
turned into an HTTP answer.

Every reader call runs in a worker thread through :meth:`Store.call`: with a reader of the
light pool or, for chart queries, of the heavy one (:attr:`Store.heavy`), within a time
budget when one is given (the embedded reader interrupts SQLite at its ``deadline``, the
InfluxDB reader gives each request only the time left). A store that cannot be read gives
503 with the reader's cause (readers never put secrets in their messages; :meth:`Store.mask`
masks the configured ones once more with :class:`~heatpump_monitor.masking.Secrets`, the one
masking function of the project, which every message with the store's text passes through -
never one that quotes the request: masking that would tell the sender whether they sent a
secret). :class:`ReadyCheck` is ``/readyz``'s probe.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from starlette.concurrency import run_in_threadpool

from ..masking import Secrets
from ..stores.base import (FAILED, TIMED_OUT, UNREACHABLE, UNREADABLE, BudgetExceeded, ReaderError,
                           SinkError)
from .catalog import load_or_none
from .errors import ApiError, shown
from .limits import LIMITS

log = logging.getLogger(__name__)

STORE_UNREADABLE = "the store cannot be read: "
STALE_TTLS = 6  # a gateway list up to this many TTLs old is answered while a new one is read


class ReaderPool:
    """Up to ``size`` readers made by ``factory``, each used by one thread at a time
    (the embedded reader's SQLite connection and cursors are not for concurrent use)."""

    def __init__(self, factory: Callable[[], Any], size: int = 4) -> None:
        self._factory = factory
        self._idle: "queue.LifoQueue[Any]" = queue.LifoQueue()
        self._made = 0
        self._size = max(1, size)
        self._lock = threading.Lock()
        self._all: list[Any] = []

    @contextmanager
    def borrow(self) -> Iterator[Any]:
        reader = None
        try:
            reader = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                if self._made < self._size:
                    self._made += 1
                    try:
                        reader = self._factory()
                    except BaseException:
                        self._made -= 1
                        raise
                    self._all.append(reader)
            if reader is None:
                reader = self._idle.get()
        try:
            yield reader
        finally:
            self._idle.put(reader)

    def make(self) -> Any:
        """A new reader outside the pool (the caller closes it)."""
        return self._factory()

    def close(self) -> None:
        with self._lock:
            for r in self._all:
                try:
                    r.close()
                except Exception:  # pragma: no cover - closing is best effort
                    log.debug("closing a reader failed", exc_info=True)
            self._all.clear()
            self._made = 0
            self._idle = queue.LifoQueue()


@dataclass(frozen=True, slots=True)
class GatewayEntry:
    gateway: str
    brand: str
    sources: tuple[str, ...]
    first_ms: int
    last_ms: int
    snapshots: int

    @property
    def interval_ms(self) -> int:
        """Mean time between snapshots (a rough poll interval; outages make it longer)."""
        n = max(1, self.snapshots // max(1, len(self.sources)) - 1)
        return max(1000, (self.last_ms - self.first_ms) // n) if self.last_ms > self.first_ms else 30_000


class Store:
    """The readers plus a short-lived cache of the gateway list; every call in a thread.

    Two reader pools: :attr:`pool` for the light reads (gateways, latest, probes of the
    pages) and :attr:`heavy` (``heavy_pool_size`` readers) for chart queries, so the light
    ones never wait for a reader behind a burst of heavy ones. ``secrets``: what
    :meth:`mask` hides in every message (a :class:`~heatpump_monitor.masking.Secrets`, or
    plain values)."""

    def __init__(self, factory: Callable[[], Any], *, secrets: Secrets | Iterable[str] = (), pool_size: int = 4,
                 heavy_pool_size: int = LIMITS.series_concurrency, gateways_ttl_s: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.pool = ReaderPool(factory, pool_size)
        self.heavy = ReaderPool(factory, heavy_pool_size)
        self.secrets = secrets if isinstance(secrets, Secrets) else Secrets(secrets)
        self.ttl_s = gateways_ttl_s
        self.clock = clock
        self._infos: list[Any] | None = None
        self._infos_at = -math.inf
        self._refreshing = False
        self._lock = threading.Lock()
        self._cache: dict[tuple, tuple[float, Any]] = {}
        self._logged: dict[str, float] = {}

    def mask(self, text: str) -> str:
        """``text`` without the configured secrets nor credentials (masking.Secrets)."""
        return self.secrets.mask(text)

    def call(self, method: str, *args: Any, heavy: bool = False, budget_s: float | None = None,
             **kwargs: Any) -> Any:
        """``reader.<method>(...)`` in this thread, with a reader of :attr:`heavy` if ``heavy``;
        ``budget_s``: the time the reader may take (readers with a ``deadline`` attribute stop
        there). Store failures -> ApiError(503)."""
        try:
            with (self.heavy if heavy else self.pool).borrow() as reader:
                bounded = budget_s is not None and hasattr(reader, "deadline")
                if bounded:
                    reader.deadline = time.monotonic() + float(budget_s)  # type: ignore[arg-type]
                try:
                    result = getattr(reader, method)(*args, **kwargs)
                    if method == "snapshots":
                        result = list(result)
                finally:
                    if bounded:
                        reader.deadline = None
                return result
        except ApiError:
            raise
        except BudgetExceeded as exc:
            if budget_s is None:
                raise self._failure(method, exc) from None
            cause = f"the query was stopped after its time budget of {budget_s:g} s"
            self._log_failure(method, cause, exc)
            raise ApiError(503, cause + ": ask for a shorter range, fewer fields or fewer points",
                           cause=TIMED_OUT) from None
        except Exception as exc:  # a reader's error, a closed database, a bug: never a 500
            raise self._failure(method, exc) from None

    def probe(self) -> None:
        """One cheap read with a reader of its own, made for it and closed after it (so a
        probe neither waits for nor holds one of the pool's, and sees the store as a new
        request would): the snapshots of no gateway in the first millisecond of 1970 - an
        index lookup in SQLite, a query on no shard in InfluxDB, but a file that opens as the
        store, a database that exists, credentials that are accepted. Failures -> ApiError(503)."""
        reader = None
        try:
            reader = self.pool.make()
            list(reader.snapshots("", 0, 1))
        except Exception as exc:
            raise self._failure("probe", exc) from None
        finally:
            if reader is not None:
                try:
                    reader.close()
                except Exception:  # pragma: no cover - closing is best effort
                    log.debug("closing the probe's reader failed", exc_info=True)

    def _failure(self, method: str, exc: BaseException) -> ApiError:
        detail = self.mask(" ".join(str(exc).split()) or type(exc).__name__)
        self._log_failure(method, detail, exc)
        return ApiError(503, STORE_UNREADABLE + detail, cause=generic_cause(exc))

    def _log_failure(self, method: str, cause: str, exc: BaseException) -> None:
        """A warning per distinct cause, repeated at most once a minute (pages poll)."""
        now = time.monotonic()
        with self._lock:
            last = self._logged.get(cause)
            if last is not None and now - last < 60:
                return
            if len(self._logged) > 100:
                self._logged.clear()
            self._logged[cause] = now
        log.warning("The store cannot be read (%s): %s", method, self.mask(cause),
                    exc_info=not _is_store_error(exc))

    # -- gateways -------------------------------------------------------------------------

    def infos(self, *, max_age_s: float | None = None) -> list[Any]:
        """The readers' gateway list, at most ``max_age_s`` (default: the TTL) old. Without an
        explicit ``max_age_s``, a list up to :data:`STALE_TTLS` TTLs old is answered at once
        while one thread reads the new one: listing the gateways scans the whole store (0.2 s
        for 200,000 snapshots), which no /latest request or page should wait for."""
        max_age = self.ttl_s if max_age_s is None else max_age_s
        with self._lock:
            age = time.monotonic() - self._infos_at
            if self._infos is not None and age <= max_age:
                return list(self._infos)
            if max_age_s is None and self._infos is not None and age <= STALE_TTLS * self.ttl_s:
                if not self._refreshing:
                    self._refreshing = True
                    threading.Thread(target=self._refresh_infos, name="gateways-refresh", daemon=True).start()
                return list(self._infos)
        return self._read_infos()

    def _read_infos(self) -> list[Any]:
        infos = self.call("gateways")
        with self._lock:
            self._infos, self._infos_at = list(infos), time.monotonic()
        return list(infos)

    def _refresh_infos(self) -> None:
        try:
            self._read_infos()
        except ApiError:
            pass  # logged by call(); the next request past the stale limit reads it itself
        finally:
            with self._lock:
                self._refreshing = False

    def entries(self, **kw: Any) -> list[GatewayEntry]:
        by_gw: dict[str, list[Any]] = {}
        for info in self.infos(**kw):
            by_gw.setdefault(info.gateway, []).append(info)
        out = []
        for gw, infos in by_gw.items():
            out.append(GatewayEntry(
                gateway=gw,
                brand=max((i.brand for i in infos), key=lambda b: (load_or_none(b) is not None, b)),
                sources=tuple(sorted({i.source for i in infos})),
                first_ms=min(i.first_ms for i in infos),
                last_ms=max(i.last_ms for i in infos),
                snapshots=sum(i.snapshots for i in infos),
            ))
        return sorted(out, key=lambda e: e.gateway)

    def entry(self, gateway: str) -> GatewayEntry:
        """The gateway, or ApiError(404). An unknown name re-reads the list once (at most
        every 2 s) so a gateway that just appeared is found."""
        for attempt in (None, 2.0):
            for e in self.entries(max_age_s=attempt):
                if e.gateway == gateway:
                    return e
        raise ApiError(404, f"unknown gateway {shown(gateway)}: see /api/v1/gateways")

    # -- small caches (alarm "since", poll interval) ---------------------------------------

    def cached(self, key: tuple, ttl_s: float, compute: Callable[[], Any]) -> Any:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] <= ttl_s:
            return hit[1]
        value = compute()
        if len(self._cache) > 1000:
            self._cache.clear()
        self._cache[key] = (now, value)
        return value

    def close(self) -> None:
        self.pool.close()
        self.heavy.close()


def generic_cause(exc: BaseException) -> str:
    """A store failure in generic words (no URL, path, name or server text): a reader's own
    cause, else one guessed from the exception's type."""
    if isinstance(exc, ReaderError):
        return exc.cause
    if isinstance(exc, TimeoutError):
        return TIMED_OUT
    if isinstance(exc, sqlite3.DatabaseError):
        return UNREADABLE
    if isinstance(exc, (ConnectionError, OSError)):
        return UNREACHABLE
    return FAILED


@dataclass(frozen=True)
class NotReady:
    """Why the store is not ready: ``cause`` in generic words (for anyone), ``detail`` the
    reader's message, masked (for those logged in)."""

    cause: str
    detail: str


class ReadyCheck:
    """``/readyz``: does the store answer :meth:`Store.probe` within ``timeout_s``?

    At most one probe runs at a time: a request while one is running waits for that one, so
    a hung store holds one thread, not one per request (a thread cannot be cancelled; it ends
    when the reader gives up, e.g. the InfluxDB client's own timeout)."""

    def __init__(self, store: Store, timeout_s: float = 5.0) -> None:
        if not timeout_s > 0:
            raise ValueError("the readiness timeout must be > 0")
        self.store = store
        self.timeout_s = float(timeout_s)
        self._running: asyncio.Future[None] | None = None

    async def __call__(self) -> NotReady | None:
        """None when ready, else why not (no secret: the configured ones are masked)."""
        task = self._running
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            task = asyncio.ensure_future(run_in_threadpool(self.store.probe))
            # retrieved here too, so a probe that ends after every waiter gave up is not
            # reported as "exception never retrieved"
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            self._running = task
        try:
            await asyncio.wait_for(asyncio.shield(task), self.timeout_s)
        except asyncio.TimeoutError:
            detail = f"no answer within {self.timeout_s:g} s"
            self.store._log_failure("probe", detail, TimeoutError(detail))
            return NotReady(TIMED_OUT, detail)
        except ApiError as exc:
            return NotReady(exc.cause or FAILED, _cut(exc.message.removeprefix(STORE_UNREADABLE)))
        except Exception as exc:  # pragma: no cover - probe() turns everything into ApiError
            return NotReady(generic_cause(exc), _cut(self.store.mask(f"{type(exc).__name__}: {exc}")))
        return None


def _cut(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _is_store_error(exc: BaseException) -> bool:
    return isinstance(exc, (ReaderError, SinkError, sqlite3.Error, OSError))

