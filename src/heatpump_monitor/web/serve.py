"""Running the dashboard: :func:`serve` for ``heatpump-monitor serve`` (blocks until
SIGINT/SIGTERM), :func:`running_dashboard` inside an ``async with`` (demo, tests) and
:class:`DashboardThread` in a background thread (synchronous tests, benchmarks)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any, AsyncIterator, Callable

import uvicorn

from ..asgi import QuietServer, bind
from ..config import AlertsConfig, StoreConfig
from ..threads import LoopThread
from ..masking import Secrets
from .app import create_app, dashboard_secrets, store_description

__all__ = ["DashboardThread", "running_dashboard", "serve", "store_description"]


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _config(app: Any) -> uvicorn.Config:
    return uvicorn.Config(app, log_level="warning", access_log=False, log_config=None, lifespan="on",
                          server_header=False, proxy_headers=False, timeout_graceful_shutdown=3)


def serve(host: str, port: int, store_config: StoreConfig, auth: tuple[str, str] | None,
          log: logging.Logger, *, stale_after_s: float | None = None, watch: AlertsConfig | None = None,
          alerts: AlertsConfig | None = None) -> int:
    """Run the dashboard until SIGINT/SIGTERM; 0 on a clean stop, 1 if it cannot start.
    ``watch``: alerts are on, so the dashboard also watches the store (alerts/watch.py).
    ``alerts``: what the alert pages show and the test message uses (default: ``watch``, else
    from the environment, ``load_alerts_config``)."""
    try:
        app = create_app(store_config, auth=auth, stale_after_s=stale_after_s,
                         alerts=alerts if alerts is not None else watch)
    except (RuntimeError, ValueError) as exc:
        log.error("Cannot start the dashboard: %s", exc)
        return 1
    try:
        sock = bind(host, port)
    except OSError as exc:
        log.error("Cannot listen on %s:%d: %s", host, port, os.strerror(exc.errno) if exc.errno else exc)
        return 1
    bound = sock.getsockname()[1]
    secrets = dashboard_secrets(store_config, auth)
    _probe(store_config, log, secrets)
    log.info("Dashboard at %s reading %s%s", _url(host, bound), secrets.mask(store_description(store_config)),
             " (basic auth on)" if auth else "")
    shown = app.state.alerts.config
    log.info("Alerts shown from the state files in %s; %s", shown.directory,
             f"test messages go to {len(shown.urls)} NOTIFY_URLS target(s)" if shown.urls
             else "NOTIFY_URLS is not set (no test message)")
    server = QuietServer(_config(app))  # SIGINT/SIGTERM: ours, so that a stop exits 0
    try:
        asyncio.run(_serve_and_watch(server, sock, store_config, watch, secrets))
    finally:
        sock.close()
    return 0


async def _serve_and_watch(server: uvicorn.Server, sock: Any, store_config: StoreConfig,
                           watch: AlertsConfig | None, secrets: Secrets) -> None:
    """uvicorn until SIGINT/SIGTERM, and the store's watcher beside it."""
    from ..signals import on_stop_signals

    def stopping(sig: Any) -> None:
        server.should_exit = True

    with on_stop_signals(stopping):
        if watch is None:
            await server.serve(sockets=[sock])
            return
        from ..alerts.watch import run_watch
        from ..stores import make_reader

        reader = make_reader(store_config)  # its own: the watcher's reads never wait for a page's
        stop = asyncio.Event()
        task = asyncio.create_task(run_watch(watch, reader, stop, secrets), name="watch")
        try:
            await server.serve(sockets=[sock])
        finally:
            stop.set()
            await asyncio.gather(task, return_exceptions=True)
            reader.close()


def _probe(store_config: StoreConfig, log: logging.Logger, secrets: Secrets | None = None) -> None:
    """One read at start: a store that cannot be read is worth a warning (the pages say it too)."""
    secrets = secrets if secrets is not None else dashboard_secrets(store_config)
    from ..stores import make_reader

    reader = None
    try:
        reader = make_reader(store_config)
        reader.gateways()
    except Exception as exc:
        log.warning("The store cannot be read yet: %s", secrets.mask(" ".join(str(exc).split()) or type(exc).__name__))
    finally:
        if reader is not None:
            with contextlib.suppress(Exception):
                reader.close()


@contextlib.asynccontextmanager
async def running_dashboard(store_config: StoreConfig | Callable[[], Any], host: str = "127.0.0.1",
                            port: int = 0, auth: tuple[str, str] | None = None,
                            **app_options: Any) -> AsyncIterator[str]:
    """Serve the dashboard in the current event loop; yields its base URL (``http://host:port/``;
    ``port=0``: a free port). ``app_options`` go to :func:`create_app`."""
    app = create_app(store_config, auth=auth, **app_options)
    sock = bind(host, port)
    server = QuietServer(_config(app))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the dashboard stopped during start-up")
            await asyncio.sleep(0.01)
        yield _url(host, sock.getsockname()[1])
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, timeout=10)
        except (asyncio.TimeoutError, asyncio.CancelledError):  # pragma: no cover
            task.cancel()
        sock.close()


class DashboardThread(LoopThread):
    """The dashboard served from a background thread, for synchronous code::

        with DashboardThread(StoreConfig(kind="embedded", path="x.sqlite3")) as url:
            httpx.get(url + "api/v1/gateways")
    """

    thread_name = "dashboard"

    def __init__(self, store_config: StoreConfig | Callable[[], Any], host: str = "127.0.0.1", port: int = 0,
                 auth: tuple[str, str] | None = None, **app_options: Any) -> None:
        super().__init__()
        self._args = (store_config, host, port, auth)
        self._options = app_options
        self.url = ""

    def start(self, timeout: float = 20.0) -> str:
        self._start_thread(timeout)
        return self.url

    async def _serve(self, stop: asyncio.Event) -> None:
        async with running_dashboard(*self._args, **self._options) as url:
            self.url = url
            self._ready.set()
            await stop.wait()

    def __enter__(self) -> str:  # type: ignore[override]
        return self.start()
