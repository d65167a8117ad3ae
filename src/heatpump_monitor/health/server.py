"""The collector's small HTTP server (``METRICS_PORT``): ``/metrics``, ``/healthz``, ``/readyz``.

* ``/healthz`` (liveness): the event loop answers and the tick loop completed a tick recently.
* ``/readyz`` (readiness): the sink took the last write (or passed its start-up check) and a
  gateway was polled successfully recently.

"Recently" is ``max(3 x interval, 90 s)``, as for the heartbeat file. Runs on uvicorn in the
collector's own event loop, so a blocked loop also fails the health check; the text of
``/metrics`` is made in a worker thread from a copy taken on the loop (:mod:`.metrics`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..asgi import QuietServer, bind
from ..model import iso_ms
from ..pipeline.grid import stale_limit_s
from ..pipeline.writer import Writer
from ..pipeline.contract import Collector
from .metrics import CollectorMetrics

log = logging.getLogger("heatpump_monitor.health")


class Health:
    """Liveness and readiness of one running collector."""

    def __init__(self, collector: Collector, writer: Writer, clock: Callable[[], float] = time.time) -> None:
        self.collector = collector
        self.writer = writer
        self.clock = clock
        self.started = clock()
        self.started_mono = collector.ticker.monotonic()
        self.sink_check_error = ""  # set by the runner when the start-up check failed
        self.alerts: Callable[[], dict] | None = None  # the alerts' state, shown but never "not ready"

    @property
    def limit_s(self) -> float:
        return stale_limit_s(self.collector.interval_s)

    def live(self) -> tuple[bool, dict]:
        ticker = self.collector.ticker
        beat_age = ticker.beat_age_s()  # the monotonic clock: a wall-clock step cannot hide a stall
        age = beat_age if beat_age is not None else ticker.monotonic() - self.started_mono
        live = age <= self.limit_s
        doc: dict = {"live": live, "ticks": ticker.ticks, "clock_steps": ticker.clock_steps,
                     "last_tick_age_s": None if beat_age is None else round(age, 1)}
        if not live:
            doc["cause"] = f"no tick completed for {age:.0f} s (limit {self.limit_s:.0f} s)"
        return live, doc

    def ready(self) -> tuple[bool, dict]:
        w = self.writer
        causes = []
        if w.failing_since is not None:
            causes.append(f"sink {w.sink.description} failing: {w.last_cause}")
        elif w.last_ok_wall is None and self.sink_check_error:
            causes.append(f"sink {w.sink.description} not usable: {self.sink_check_error}")
        last = max(self.collector.last_success.values(), default=None)
        now = self.clock()
        if last is None:
            causes.append("no successful poll yet")
        elif now - last > self.limit_s:
            causes.append(f"last successful poll {now - last:.0f} s ago (limit {self.limit_s:.0f} s)")
        doc: dict = {"ready": not causes, "sink": w.sink.description,
                     "last_success": None if last is None else iso_ms(int(last * 1000)),
                     "spool_entries": w.pending}
        if self.alerts is not None:
            doc["alerts"] = self.alerts()
        if causes:
            doc["cause"] = "; ".join(causes)
        return not causes, doc


def create_health_app(health: Health, metrics: CollectorMetrics) -> Starlette:
    async def healthz(request: Request) -> Response:
        ok, doc = health.live()
        return JSONResponse(doc, status_code=200 if ok else 503)

    async def readyz(request: Request) -> Response:
        ok, doc = health.ready()
        return JSONResponse(doc, status_code=200 if ok else 503)

    # one text at a time: two scrapers at once wait their turn instead of each taking a thread
    # (and the CPU) for a second at 1,000 gateways
    render_lock = asyncio.Lock()

    async def metrics_endpoint(request: Request) -> Response:
        async with render_lock:
            frozen = metrics.freeze()  # on the loop: a consistent copy, in microseconds to a few ms
            # the text (~1 s for register gauges of 1,000 gateways) in a worker thread: ticks
            # and polls go on meanwhile, sharing the interpreter's lock with it
            body = await asyncio.to_thread(frozen.render)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz),
                             Route("/metrics", metrics_endpoint)])


class HealthServer:
    """uvicorn serving the health app on a socket bound up front (so a taken port is one clear
    error line, and collection goes on without the server)."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self.app, self.host, self.port = app, host, port
        self._server: QuietServer | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> bool:
        try:
            sock = bind(self.host, self.port)
        except OSError as exc:
            log.error("Cannot serve /metrics, /healthz, /readyz on %s:%d (%s); collecting without them",
                      self.host, self.port, exc.strerror or exc)
            return False
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_config=None, log_level="warning", access_log=False, lifespan="off")
        self._server = QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="health-server")
        log.info("Metrics and health checks at http://%s:%d/metrics, /healthz, /readyz",
                 self.host, self.port)
        return True

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(self._task, 2)
        except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - stopping; nothing to save
            self._task.cancel()
