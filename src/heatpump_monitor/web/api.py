"""The JSON API (``/api/v1/...``) and the store access behind it.

Every request value is checked here before it reaches a reader: the gateway must be one the
store knows (else 404), field names must be registers of that gateway's brand (or a derived
field), times must parse, ``points`` must be in range. Readers bind or quote whatever they
get; nothing from a request is pasted into a query. A store that cannot be read gives 503 with
the reader's cause (readers never put secrets in their messages; :meth:`Store.mask` masks the
configured ones once more with :class:`~heatpump_monitor.masking.Secrets`, the one masking
function of the project, which every message with the store's text passes through - never one
that quotes the request: masking that would tell the sender whether they sent a secret).

Chart queries (``/api/v1/series``) are the heavy ones, and bounded (see :class:`Limits`):

* at most ``max_values`` values per request (fields x points), else 400 naming the limit;
* at most ``series_concurrency`` computed at once, with readers of their own
  (:attr:`Store.heavy`), so ``/api/v1/latest``, ``/api/v1/gateways`` and the pages never wait
  for a reader behind them; up to ``series_queue`` more wait, each at most ``series_wait_s``;
  beyond that 503 with ``Retry-After`` (:class:`SeriesGate`);
* a time budget, ``series_budget_s``, for the store's part: the embedded reader interrupts
  SQLite at the deadline, the InfluxDB reader gives each request only the time left; 503
  with the cause;
* the JSON is rendered in the worker thread, not in the event loop; when the last chart
  query of a burst has been answered, the C heap's free pages are given back
  (``malloc_trim``), so memory returns near its baseline.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import json
import logging
import math
import queue
import re
import sqlite3
import threading
import time
from collections import deque
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from typing import Any, AsyncIterator, Callable, Iterable, Iterator, Sequence

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from ..derived import DERIVED
from ..masking import Secrets
from ..model import Snapshot, iso_ms
from ..providers import Provider, ProviderError
from ..providers.overrides import effective_provider
from ..stores.base import FAILED, TIMED_OUT, UNREACHABLE, UNREADABLE, BudgetExceeded, ReaderError

log = logging.getLogger(__name__)

# Fields the readers' series() compute from two registers (name -> (a, b, description): a - b);
# /latest adds them to the values too.
DERIVED_FIELDS: dict[str, tuple[str, str, str]] = {
    name: (d.inputs[0], d.inputs[1], d.description) for name, d in DERIVED.items()
}

POINTS_MIN, POINTS_MAX, POINTS_DEFAULT = 10, 5000, 1500
MAX_FIELDS = 64
MAX_SPAN_MS = 3660 * 86_400_000  # ten years
DEFAULT_SPAN_MS = 86_400_000
TIME_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
ALARM_LOOKBACK_MS = 30 * 86_400_000

STORE_UNREADABLE = "the store cannot be read: "
STALE_TTLS = 6  # a gateway list up to this many TTLs old is answered while a new one is read
BUSY = "dashboard busy"


@dataclass(frozen=True)
class Limits:
    """The bounds of chart queries (``/api/v1/series``); see the module doc and README."""

    max_values: int = 60_000  # fields x points per request (the charts page asks <= ~27,000)
    series_concurrency: int = 2  # chart queries computed at once
    series_queue: int = 8  # more may wait for one of those...
    series_wait_s: float = 10.0  # ...this long at most
    series_budget_s: float = 15.0  # the store's time for one chart query
    retry_after_s: int = 5  # Retry-After of a 503 "busy"

    def __post_init__(self) -> None:
        if self.max_values < POINTS_MIN or self.series_concurrency < 1 or self.series_queue < 0:
            raise ValueError("max_values >= 10, series_concurrency >= 1 and series_queue >= 0")
        if not (self.series_wait_s >= 0 and self.series_budget_s > 0 and self.retry_after_s >= 1):
            raise ValueError("series_wait_s >= 0, series_budget_s > 0 and retry_after_s >= 1")


LIMITS = Limits()

_FIELD_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_EPOCH_RE = re.compile(r"-?[0-9]{1,16}")  # ASCII digits: int() would take any script's


class ApiError(Exception):
    """Answered as ``{"error": message}`` with ``status`` (and ``headers``). ``cause``: the
    failure in generic words (a store failure's :data:`~heatpump_monitor.stores.base.CAUSES`),
    which is what ``/readyz`` tells someone who has not logged in."""

    def __init__(self, status: int, message: str, *, cause: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.cause = cause
        self.headers = headers
        self.background: BackgroundTask | None = None  # run after the error answer is sent


def _shown(value: str, limit: int = 60) -> str:
    """A request value for an error message: repr, cut."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


# -- store access ---------------------------------------------------------------------------


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

    def release_memory(self) -> None:
        """After a burst of chart queries: the C heap's free pages back to the system (glibc
        keeps them otherwise, and RSS stays near its peak). Measured with
        bench/bench_dashboard_load.py, a burst of 30 queries of 58,500 values: 10 s after it
        ~92 MB without, ~83 MB with (baseline 60 MB); a ``gc.collect()`` or SQLite's ``PRAGMA
        shrink_memory`` on the heavy readers made no measurable difference."""
        malloc_trim()

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
        raise ApiError(404, f"unknown gateway {_shown(gateway)}: see /api/v1/gateways")

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


_libc: Any = None


def _glibc() -> Any:
    """glibc, or False where there is no malloc_trim (musl, macOS)."""
    global _libc
    if _libc is None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            lib.malloc_trim.argtypes = [ctypes.c_size_t]
            _libc = lib
        except (OSError, AttributeError):
            _libc = False
    return _libc


def malloc_trim() -> bool:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim(0)``); False
    where there is no such function."""
    lib = _glibc()
    if not lib:
        return False
    lib.malloc_trim(0)
    return True


class _Waiter:
    __slots__ = ("loop", "future", "granted")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.granted = False


def _wake(future: "asyncio.Future[None]") -> None:
    if not future.done():
        future.set_result(None)


class SeriesGate:
    """At most ``slots`` chart queries at once; up to ``queue`` more wait (first come, first
    served), each at most ``wait_s``; a request beyond that, or one that waited too long, gets
    ApiError(503) with ``Retry-After``. Light requests do not pass through it.

    A plain lock and futures of the waiter's own event loop (not an asyncio.Semaphore, which
    is bound to one loop): the app may be called from several loops (tests)."""

    def __init__(self, slots: int, queue: int, wait_s: float, retry_after_s: int = 5) -> None:
        self.slots = max(1, int(slots))
        self.queue = max(0, int(queue))
        self.wait_s = float(wait_s)
        self.retry_after_s = int(retry_after_s)
        self._lock = threading.Lock()
        self._running = 0
        self._waiters: deque[_Waiter] = deque()

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def idle(self) -> bool:
        with self._lock:
            return self._running == 0 and not self._waiters

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self._enter()
        try:
            yield
        finally:
            self._leave()

    def _busy(self, why: str) -> ApiError:
        return ApiError(503, f"the dashboard is busy with other chart queries ({why}): retry in "
                             f"{self.retry_after_s} s", cause=BUSY,
                        headers={"Retry-After": str(self.retry_after_s)})

    async def _enter(self) -> None:
        with self._lock:
            if self._running < self.slots and not self._waiters:
                self._running += 1
                return
            if len(self._waiters) >= self.queue:
                raise self._busy(f"{self._running} running, {len(self._waiters)} waiting")
            waiter = _Waiter(asyncio.get_running_loop())
            self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), self.wait_s)
        except BaseException as exc:
            with self._lock:
                granted = waiter.granted
                if not granted:
                    self._waiters.remove(waiter)
            if granted and isinstance(exc, asyncio.TimeoutError):
                return  # the slot came as the wait ran out: use it
            if granted:
                self._leave()  # cancelled after being handed the slot: pass it on
            if isinstance(exc, asyncio.TimeoutError):
                raise self._busy(f"no turn within {self.wait_s:g} s") from None
            raise

    def _leave(self) -> None:
        with self._lock:
            if self._waiters:  # the slot goes straight to the next waiter
                waiter = self._waiters.popleft()
                waiter.granted = True
                waiter.loop.call_soon_threadsafe(_wake, waiter.future)
                return
            self._running -= 1


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
    from ..stores.base import SinkError
    return isinstance(exc, (ReaderError, SinkError, sqlite3.Error, OSError))


def load_or_none(brand: str) -> Provider | None:
    """The brand's registers, with CONFIG_FILE's overrides when ``serve`` loaded them."""
    try:
        return effective_provider(brand)
    except (ProviderError, OSError, ValueError):
        return None


@cache
def field_catalog(brand: str) -> dict[str, dict[str, Any]]:
    """name -> {unit, kind, description[, mapping]} for the brand's registers and the derived
    fields whose two registers the brand has."""
    provider = load_or_none(brand)
    out: dict[str, dict[str, Any]] = {}
    if provider is None:
        return out
    names = set()
    for reg in provider.registers.values():
        names.add(reg.name)
        d: dict[str, Any] = {"unit": reg.unit, "kind": reg.kind, "description": reg.description}
        if reg.mapping:
            d["mapping"] = {str(k): v for k, v in reg.mapping.items()}
        out[reg.name] = d
    for name, (a, b, desc) in DERIVED_FIELDS.items():
        if a in names and b in names:
            out[name] = {"unit": "K", "kind": "derived", "description": desc}
    return out


# -- parameters -----------------------------------------------------------------------------


def check_params(request: Request, allowed: Sequence[str]) -> None:
    seen: set[str] = set()
    for key, _ in request.query_params.multi_items():
        if key not in allowed:
            raise ApiError(400, f"unknown parameter {_shown(key, 40)}; accepted: {', '.join(allowed)}")
        if key in seen:
            raise ApiError(400, f"parameter {key!r} given more than once")
        seen.add(key)


def parse_time(value: str | None, name: str) -> int | None:
    """ISO-8601 (a time without zone is UTC) or epoch milliseconds -> epoch ms."""
    if value is None:
        return None
    v = value.strip()
    if not v:
        raise ApiError(400, f"{name} is empty: give an ISO-8601 time (e.g. 2026-11-28T10:00:00Z) or epoch milliseconds")
    if _EPOCH_RE.fullmatch(v):
        ms = int(v)
    else:
        try:
            dt = datetime.fromisoformat(v)
        except ValueError:
            raise ApiError(400, f"{name}={_shown(value)} is not an ISO-8601 time (e.g. 2026-11-28T10:00:00Z) "
                                "or epoch milliseconds") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        try:
            ms = int(round(dt.timestamp() * 1000))
        except (OverflowError, ValueError, OSError):
            raise ApiError(400, f"{name}={_shown(value)} is out of range") from None
    if not 0 <= ms <= TIME_MAX_MS:
        raise ApiError(400, f"{name}={_shown(value)} is out of range (1970-01-01 to 9999-12-31)")
    return ms


def parse_fields(value: str, entry: GatewayEntry) -> list[str]:
    raw = [f.strip() for f in value.split(",")]
    if not value.strip() or not any(raw):
        raise ApiError(400, "fields is empty: give register names separated by commas, e.g. outdoor_temp,indoor_temp")
    fields: list[str] = []
    catalog = field_catalog(entry.brand)
    for f in raw:
        if not f:
            raise ApiError(400, f"fields={_shown(value)} has an empty name (two commas in a row?)")
        if not _FIELD_RE.fullmatch(f):
            raise ApiError(400, f"invalid field name {_shown(f, 40)}: names are lower-case letters, digits and _")
        if f not in catalog and f not in DERIVED_FIELDS:
            raise ApiError(400, f"unknown field {f!r} for brand {entry.brand!r} (gateway {entry.gateway!r}); "
                                f"known: {', '.join(sorted(catalog) or ['none'])}")
        if f not in fields:
            fields.append(f)
    if len(fields) > MAX_FIELDS:
        raise ApiError(400, f"too many fields ({len(fields)}); at most {MAX_FIELDS}")
    return fields


def parse_source(value: str | None, entry: GatewayEntry) -> str | None:
    if value is None:
        return None
    if value not in entry.sources:
        raise ApiError(404, f"gateway {entry.gateway!r} has no data from source {_shown(value, 40)}; "
                            f"sources: {', '.join(entry.sources)}")
    return value


def _num(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    r = round(f, 3)
    return int(r) if r == int(r) and abs(r) < 1e15 else r


def _rounded(values: Sequence[float | None]) -> list[float | None]:
    """Three decimals (the registers have one or two; means need no more); fast path."""
    return [None if v is None else round(v, 3) for v in values]


def render_json(content: Any) -> bytes:
    """Compact UTF-8 JSON without NaN/Infinity (invalid JSON): such values, should a store
    hold one, become null."""
    try:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except ValueError:
        return json.dumps(_finite(content), ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")


class Json(JSONResponse):
    """JSON without NaN/Infinity (:func:`render_json`)."""

    def render(self, content: Any) -> bytes:
        return render_json(content)


def _finite(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


# -- computations ---------------------------------------------------------------------------


def with_derived(values: dict[str, float]) -> dict[str, float]:
    out = dict(values)
    for name, (a, b, _) in DERIVED_FIELDS.items():
        if a in values and b in values and name not in out:
            out[name] = round(values[a] - values[b], 3)
    return out


@dataclass(slots=True)
class AlarmState:
    field: str | None
    active: bool | None
    value: float | None
    code: int | None
    text: str
    last_text: str | None = None


def alarm_state(provider: Provider | None, values: dict[str, float]) -> AlarmState:
    """The alarm from the status register (IVT/Thermia ``alarm`` > 0) or, without one
    (NIBE), from the alarm number register (``alarm_code`` > 0)."""
    code_val = values.get("alarm_code")
    code = int(code_val) if code_val is not None and code_val == int(code_val) else None

    def text_of(c: int | None) -> str:
        if c is None:
            return "alarm"
        return provider.alarm_text(c) if provider is not None else (f"alarm {c}" if c else "no alarm")

    has_status = provider is not None and provider.by_name("alarm") is not None
    if has_status and "alarm" in values:
        active = values["alarm"] > 0
        if active:
            return AlarmState("alarm", True, values["alarm"], code, text_of(code) if code else "alarm")
        return AlarmState("alarm", False, values["alarm"], code, "no alarm",
                          last_text=text_of(code) if code else None)
    if code is not None:
        return AlarmState("alarm_code", code > 0, code_val, code, text_of(code))
    return AlarmState(None, None, None, None, "unknown (no alarm register in the data)")


def alarm_since(store: Store, gateway: str, source: str | None, field: str, value: float,
                latest_ms: int) -> tuple[int | None, bool]:
    """When the current alarm run began: (time ms, exact). Looks back ALARM_LOOKBACK_MS with
    series() (min/max per bucket), then reads the snapshots of the bucket where it changed."""
    if field == "alarm":
        def same(v: float | None) -> bool:
            return v is not None and v > 0
    else:
        def same(v: float | None) -> bool:
            return v is not None and v == value
    start = max(0, latest_ms - ALARM_LOOKBACK_MS)
    series = store.call("series", gateway, [field], start, latest_ms + 1, 2000, source)
    s = series[0] if series else None
    if s is None or not s.t:
        return latest_ms, False
    last_bad = None
    for i in range(len(s.t)):
        if not (same(s.min[i]) and same(s.max[i])):
            last_bad = i
    if last_bad is None:
        return s.t[0], False  # alarming for the whole look-back
    lo = s.t[last_bad]
    hi = s.t[last_bad + 1] if last_bad + 1 < len(s.t) else latest_ms + 1
    since = None
    for snap in store.call("snapshots", gateway, lo, max(hi, lo + 1), source):
        v = snap.values.get(field)
        if same(v):
            if since is None:
                since = snap.time_ms
        else:
            since = None
    if since is None:  # the run starts in a later bucket (rollup edges): its first time
        since = hi if hi <= latest_ms else latest_ms
    return since, True


def auto_stale_after_s(entry: GatewayEntry) -> float:
    """Three poll intervals, at least 90 s, at most 3 h."""
    return float(min(3 * 3600, max(90, 3 * entry.interval_ms / 1000)))


def poll_interval_ms(store: Store, entry: GatewayEntry) -> int:
    """The usual time between a gateway's snapshots: median gap of its latest ones."""
    def compute() -> int:
        guess = entry.interval_ms
        start = max(entry.first_ms, entry.last_ms - 60 * guess)
        times = sorted({s.time_ms for s in store.call("snapshots", entry.gateway, start, entry.last_ms + 1)})
        diffs = sorted(b - a for a, b in zip(times, times[1:]) if b > a)
        return diffs[len(diffs) // 2] if diffs else guess
    return store.cached(("interval", entry.gateway), 300, compute)


# -- routes ---------------------------------------------------------------------------------


def count_fields(value: str) -> int:
    """How many distinct names ``fields`` asks for (before they are checked)."""
    return len({f.strip() for f in value.split(",") if f.strip()})


def check_values(n_fields: int, points: int, max_values: int) -> None:
    """fields x points within ``max_values``, else ApiError(400) naming the limit."""
    if n_fields * points <= max_values:
        return
    most = max_values // n_fields
    hint = (f"at most points={most} for {n_fields} fields" if most >= POINTS_MIN
            else f"at most {max_values // POINTS_MIN} fields")
    raise ApiError(400, f"too many values: {n_fields} fields x {points} points = {n_fields * points:,}; "
                        f"at most {max_values:,} per request ({hint}), or split the fields over requests")


def make_router(store: Store, *, stale_after_s: float | None, clock: Callable[[], float],
                limits: Limits = LIMITS, gate: SeriesGate | None = None) -> APIRouter:
    """The /api/v1 routes. Chart queries pass through ``gate`` (one is made from ``limits``
    if not given)."""
    if gate is None:
        gate = SeriesGate(limits.series_concurrency, limits.series_queue, limits.series_wait_s,
                          limits.retry_after_s)
    router = APIRouter(prefix="/api/v1", tags=["data"])
    err: dict[str, Any] = {"model": ErrorOut}
    common: dict[int | str, dict[str, Any]] = {400: {"description": "Bad parameter", **err}, 401: {"description": "Login required", **err},
              503: {"description": "The store cannot be read (cause in the message)", **err}}
    series_503: dict[str, Any] = {
        "description": "The store cannot be read, the query ran past its time budget, or the dashboard is busy "
                       "with other chart queries (cause in the message; `Retry-After` when busy)",
        "headers": {"Retry-After": {"description": "Seconds to wait before asking again (when busy)",
                                    "schema": {"type": "integer"}}},
        **err,
    }
    trimming = threading.Lock()

    def after_series() -> None:
        """Run after a chart answer is sent: the last of a burst gives the memory back."""
        if gate.idle() and trimming.acquire(blocking=False):
            try:
                store.release_memory()
            finally:
                trimming.release()

    @router.get("/gateways", summary="Gateways in the store",
                description="Every gateway with stored snapshots: brand, sources, first and last snapshot time "
                            "and snapshot count.",
                responses={200: {"model": GatewaysOut}, **common})
    async def gateways(request: Request) -> JSONResponse:
        check_params(request, ())
        entries = await run_in_threadpool(store.entries)
        now = int(clock() * 1000)
        return Json({
            "server_time_ms": now,
            "gateways": [gateway_json(e) for e in entries],
        })

    @router.get("/latest", summary="Latest snapshot of a gateway",
                description="The newest stored snapshot of a gateway: every value (plus derived delta T), units, "
                            "texts of mapped values, alarm state with the brand's alarm text and since when, "
                            "and the data age.",
                responses={200: {"model": LatestOut}, 404: {"description": "Unknown gateway", **err}, **common})
    async def latest(
        request: Request,
        gateway: str = Query(..., description="Gateway name as listed by /api/v1/gateways", max_length=500),
        source: str | None = Query(None, description="Only snapshots of this source (api or mqtt); "
                                                     "default: the newest of any source", max_length=100),
    ) -> JSONResponse:
        check_params(request, ("gateway", "source"))
        return Json(await run_in_threadpool(_latest, store, gateway, source, stale_after_s, clock))

    @router.get("/series", summary="Time series of fields, downsampled",
                description="Each field over [start, end) in at most `points` buckets, each with its time (ms), "
                            "mean, min and max. Buckets without data are absent: where the time between two "
                            "points exceeds `gap_ms`, data is really missing. Derived fields: "
                            + ", ".join(f"`{k}` ({v[2]})" for k, v in DERIVED_FIELDS.items()) + ". "
                            f"At most {limits.max_values:,} values per request (number of fields x `points`), "
                            f"else 400. At most {limits.series_concurrency} chart queries are computed at once and "
                            f"{limits.series_queue} more wait (each up to {limits.series_wait_s:g} s): beyond that "
                            f"503 with `Retry-After`. A query the store has not answered within "
                            f"{limits.series_budget_s:g} s is stopped: 503.",
                responses={200: {"model": SeriesOut}, 404: {"description": "Unknown gateway", **err},
                           **common, 503: series_503})
    async def series(
        request: Request,
        gateway: str = Query(..., description="Gateway name as listed by /api/v1/gateways", max_length=500),
        fields: str = Query(..., description="Comma-separated register names of the gateway's brand, or derived "
                                             "fields, e.g. `outdoor_temp,indoor_temp,delta_t_radiator`",
                            max_length=4000),
        start: str | None = Query(None, description="Start (inclusive): ISO-8601 (UTC when no zone is given) or "
                                                    "epoch milliseconds. Default: 24 h before end.", max_length=100),
        end: str | None = Query(None, description="End (exclusive): ISO-8601 or epoch milliseconds. Default: now.",
                                max_length=100),
        points: int = Query(POINTS_DEFAULT, ge=POINTS_MIN, le=POINTS_MAX,
                            description="Most points (buckets) per series"),
        source: str | None = Query(None, description="Only snapshots of this source (api or mqtt)", max_length=100),
    ) -> Response:
        check_params(request, ("gateway", "fields", "start", "end", "points", "source"))
        start_ms, end_ms = parse_time(start, "start"), parse_time(end, "end")
        now = int(clock() * 1000)
        if end_ms is None:
            end_ms = now
        if start_ms is None:
            start_ms = max(0, end_ms - DEFAULT_SPAN_MS)
        if start_ms >= end_ms:
            raise ApiError(400, f"start ({iso_ms(start_ms)}) must be before end ({iso_ms(end_ms)})")
        if end_ms - start_ms > MAX_SPAN_MS:
            raise ApiError(400, f"range too long ({(end_ms - start_ms) / 86_400_000:.0f} days); "
                                f"at most {MAX_SPAN_MS // 86_400_000} days")
        check_values(count_fields(fields), points, limits.max_values)
        async with gate.slot():
            try:
                # the answer is rendered in the worker thread too: megabytes of JSON would
                # otherwise block the event loop, and with it every other request
                body = await run_in_threadpool(lambda: render_json(_series(
                    store, gateway, fields, start_ms, end_ms, points, source, limits.series_budget_s)))
            except ApiError as exc:  # a query stopped at its budget may have used as much memory
                exc.background = BackgroundTask(after_series)
                raise
        return Response(body, media_type="application/json", background=BackgroundTask(after_series))

    return router


def gateway_json(e: GatewayEntry) -> dict[str, Any]:
    provider = load_or_none(e.brand)
    return {
        "gateway": e.gateway,
        "brand": e.brand,
        "title": provider.title if provider else e.brand,
        "sources": list(e.sources),
        "first": iso_ms(e.first_ms),
        "first_ms": e.first_ms,
        "last": iso_ms(e.last_ms),
        "last_ms": e.last_ms,
        "snapshots": e.snapshots,
    }


def _latest(store: Store, gateway: str, source: str | None, stale_after_s: float | None,
            clock: Callable[[], float]) -> dict[str, Any]:
    entry = store.entry(gateway)
    source = parse_source(source, entry)
    snap: Snapshot | None = store.call("latest", gateway, source)
    if snap is None:
        raise ApiError(404, f"no snapshot of gateway {gateway!r}" + (f" from source {source!r}" if source else ""))
    provider = load_or_none(snap.brand) or load_or_none(entry.brand)
    now = int(clock() * 1000)
    values = {k: _num(v) for k, v in with_derived(snap.values).items()}
    values = {k: v for k, v in values.items() if v is not None}
    units: dict[str, str] = {}
    texts: dict[str, str] = {}
    if provider is not None:
        for reg in provider.registers.values():
            if reg.name in values:
                if reg.unit:
                    units[reg.name] = reg.unit
                t = reg.text(values[reg.name])
                if t is not None:
                    texts[reg.name] = t
    for name in DERIVED_FIELDS:
        if name in values:
            units[name] = "K"
    alarm = alarm_state(provider, snap.values)
    since_ms, exact = None, False
    if alarm.active and alarm.field is not None and alarm.value is not None:
        key = ("since", gateway, source, alarm.field, alarm.value)
        since_ms, exact = store.cached(key, 60, lambda: alarm_since(
            store, gateway, source, alarm.field, alarm.value, snap.time_ms))
    stale_after = stale_after_s if stale_after_s is not None else auto_stale_after_s(entry)
    age_s = max(0.0, (now - snap.time_ms) / 1000)
    return {
        "gateway": snap.gateway,
        "brand": snap.brand,
        "title": provider.title if provider else snap.brand,
        "source": snap.source,
        "time": snap.iso_time,
        "time_ms": snap.time_ms,
        "server_time_ms": now,
        "age_s": round(age_s, 3),
        "stale_after_s": stale_after,
        "stale": age_s > stale_after,
        "values": values,
        "units": units,
        "texts": texts,
        "alarm": {
            "active": alarm.active,
            "field": alarm.field,
            "code": alarm.code,
            "text": alarm.text,
            "last_text": alarm.last_text,
            "since": iso_ms(since_ms) if since_ms is not None else None,
            "since_ms": since_ms,
            "since_exact": exact if since_ms is not None else None,
        },
    }


def _bucket_ms(start_ms: int, end_ms: int, points: int) -> int:
    """The readers' bucket width for this range (their shared plan, if available)."""
    try:
        from ..stores.base import bucket_plan
    except ImportError:  # pragma: no cover - readers without a shared plan
        return max(1, -(-(end_ms - start_ms) // points))
    return max(1, bucket_plan(start_ms, end_ms, points)[1])


def _series(store: Store, gateway: str, fields_param: str, start_ms: int, end_ms: int, points: int,
            source: str | None, budget_s: float | None = None) -> dict[str, Any]:
    entry = store.entry(gateway)
    fields = parse_fields(fields_param, entry)
    source = parse_source(source, entry)
    result = store.call("series", gateway, fields, start_ms, end_ms, points, source, heavy=True, budget_s=budget_s)
    bucket_ms = _bucket_ms(start_ms, end_ms, points)
    interval = poll_interval_ms(store, entry)
    catalog = field_catalog(entry.brand)
    by_field = {s.field: s for s in result}
    out = []
    for f in fields:
        s = by_field.get(f)
        t = list(s.t) if s else []
        mean, lo, hi = (_rounded(s.mean), _rounded(s.min), _rounded(s.max)) if s else ([], [], [])
        # points where the field itself has no value (another field had one) are left out
        keep = [i for i in range(len(t)) if mean[i] is not None or lo[i] is not None]
        if len(keep) != len(t):
            t, mean, lo, hi = ([a[i] for i in keep] for a in (t, mean, lo, hi))
        diffs = sorted(b - a for a, b in zip(t, t[1:]) if b > a)
        median = diffs[len(diffs) // 2] if diffs else bucket_ms
        meta = catalog.get(f, {})
        out.append({
            "field": f,
            "unit": meta.get("unit", "K" if f in DERIVED_FIELDS else ""),
            "kind": meta.get("kind", "derived" if f in DERIVED_FIELDS else ""),
            # two neighbours further apart than this have missing data between them
            "gap_ms": int(max(interval + bucket_ms, 1.5 * median)),
            "t": t, "mean": mean, "min": lo, "max": hi,
        })
    return {
        "gateway": gateway,
        "brand": entry.brand,
        "source": source,
        "start": iso_ms(start_ms),
        "end": iso_ms(end_ms),
        "start_ms": start_ms,
        "end_ms": end_ms,
        "points": points,
        "bucket_ms": bucket_ms,
        "interval_ms": interval,
        "series": out,
    }


# -- response models (for the OpenAPI document only; answers are built as plain JSON) -------


class ErrorOut(BaseModel):
    error: str


class GatewayOut(BaseModel):
    gateway: str
    brand: str
    title: str
    sources: list[str]
    first: str
    first_ms: int
    last: str
    last_ms: int
    snapshots: int


class GatewaysOut(BaseModel):
    server_time_ms: int
    gateways: list[GatewayOut]


class AlarmOut(BaseModel):
    active: bool | None
    field: str | None
    code: int | None
    text: str
    last_text: str | None
    since: str | None
    since_ms: int | None
    since_exact: bool | None


class LatestOut(BaseModel):
    gateway: str
    brand: str
    title: str
    source: str
    time: str
    time_ms: int
    server_time_ms: int
    age_s: float
    stale_after_s: float
    stale: bool
    values: dict[str, float]
    units: dict[str, str]
    texts: dict[str, str]
    alarm: AlarmOut


class SeriesItemOut(BaseModel):
    field: str
    unit: str
    kind: str
    gap_ms: int
    t: list[int]
    mean: list[float | None]
    min: list[float | None]
    max: list[float | None]


class SeriesOut(BaseModel):
    gateway: str
    brand: str
    source: str | None
    start: str
    end: str
    start_ms: int
    end_ms: int
    points: int
    bucket_ms: int
    interval_ms: int
    series: list[SeriesItemOut]
