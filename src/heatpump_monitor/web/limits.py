"""The bounds of chart queries (``/api/v1/series``), the heavy ones; see :class:`Limits`.

* at most ``max_values`` values per request (fields x points), else 400 naming the limit
  (:func:`check_values`);
* at most ``series_concurrency`` computed at once, with readers of their own
  (:attr:`~.store.Store.heavy`), so ``/api/v1/latest``, ``/api/v1/gateways`` and the pages
  never wait for a reader behind them; up to ``series_queue`` more wait, each at most
  ``series_wait_s``; beyond that 503 with ``Retry-After`` (:class:`SeriesGate`);
* a time budget, ``series_budget_s``, for the store's part (:meth:`~.store.Store.call`);
* when the last chart query of a burst has been answered, the C heap's free pages are given
  back (:meth:`SeriesGate.after_answer`), so memory returns near its baseline.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import threading
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from .errors import ApiError
from .params import POINTS_MIN

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


def check_values(n_fields: int, points: int, max_values: int) -> None:
    """fields x points within ``max_values``, else ApiError(400) naming the limit."""
    if n_fields * points <= max_values:
        return
    most = max_values // n_fields
    hint = (f"at most points={most} for {n_fields} fields" if most >= POINTS_MIN
            else f"at most {max_values // POINTS_MIN} fields")
    raise ApiError(400, f"too many values: {n_fields} fields x {points} points = {n_fields * points:,}; "
                        f"at most {max_values:,} per request ({hint}), or split the fields over requests")


# -- the gate -------------------------------------------------------------------------------


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
        self._trimming = threading.Lock()

    @classmethod
    def of(cls, limits: Limits) -> SeriesGate:
        return cls(limits.series_concurrency, limits.series_queue, limits.series_wait_s, limits.retry_after_s)

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

    async def compute(self, work: Callable[[], bytes]) -> tuple[bytes, BackgroundTask]:
        """``work`` (a chart query rendering its answer) in a worker thread within a slot; the
        answer with the task to send it with (:meth:`after_answer`). An ApiError it raises leaves
        carrying the same task, so an answer stopped at its budget (which may have used as much
        memory) gives the heap back too."""
        async with self.slot():
            try:
                body = await run_in_threadpool(work)
            except ApiError as exc:
                exc.background = BackgroundTask(self.after_answer)
                raise
        return body, BackgroundTask(self.after_answer)

    def after_answer(self) -> None:
        """Run after a chart answer (or error) is sent: the last of a burst gives the C heap's
        free pages back to the system (glibc keeps them otherwise, and RSS stays near its
        peak). Measured with bench/bench_dashboard_load.py, a burst of 30 queries of 58,500
        values: 10 s after it ~92 MB without, ~83 MB with (baseline 60 MB); a ``gc.collect()``
        or SQLite's ``PRAGMA shrink_memory`` on the heavy readers made no measurable difference."""
        if self.idle() and self._trimming.acquire(blocking=False):
            try:
                malloc_trim()
            finally:
                self._trimming.release()

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


# -- memory ---------------------------------------------------------------------------------

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
