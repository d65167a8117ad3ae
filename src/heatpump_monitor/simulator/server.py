"""An emulated Husdata H66 gateway over HTTP, with switchable faults, and a runner for several.

One :class:`SimGateway` is one gateway (one heat pump); :func:`create_app` turns it into a
Starlette app serving the gateway's HTTP API:

* ``GET /api/alldata`` -- JSON object of raw register integers (or the current fault's answer);
* ``GET /status`` -- ``{"status": {"H1ver": "6014", "mac": ..., "API_ENABLED": 1, ...}}``;
* ``GET /api/set?idx=0203&val=215`` -- write a writable register (only with ``api_mode == 2``).

and two control endpoints for tests and demos (not part of the real gateway):

* ``POST /sim/fault`` with JSON ``{"fault": "http500" | null, "latency": 0.5, "api_mode": 2, "alarm": 5}``
  (every key optional) -- switch faults at runtime; ``alarm`` raises that alarm code now (0:
  none; null: the occasional alarms again); answers the new state;
* ``GET /sim/state`` -- brand, mac, api mode, fault, latency, simulated time and values.

``latency`` delays every gateway answer (not ``/sim/*``). A ``fault`` changes only
``/api/alldata``; ``/status`` and ``/api/set`` keep working so a collector can still identify
the gateway.

:func:`serve` runs several gateways in one event loop (one uvicorn server per port) until
SIGINT/SIGTERM; :func:`running_gateways` / :func:`running_simulator` do the same inside an
``async with`` and yield the base URLs; :class:`SimulatorThread` runs them in a background
thread for synchronous code.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Iterator, Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from heatpump_monitor.providers.registry import BRANDS, Provider, normalize_index

from ..signals import on_stop_signals
from ..threads import LoopThread
from .model import PumpModel, RegisterRefused

__all__ = [
    "FAULTS", "SimGateway", "create_app", "make_gateways", "mac_address", "running_gateways",
    "running_simulator", "serve", "run_simulator", "SimulatorThread",
]

# The fault switches, each naming what /api/alldata answers while it is on.
FAULTS: dict[str, str] = {
    "http500": "HTTP 500 with a plain-text body",
    "html": "HTTP 200 text/html error page",
    "invalid_json": 'HTTP 200 application/json, truncated: {"0001": 27',
    "empty": "HTTP 200 {} (heat pump off or not connected)",
    "strings": 'HTTP 200 with every value as a string ("275")',
    "timeout": "no answer for hang_seconds (60 s), then HTTP 504",
    "not_object": "HTTP 200 with a JSON list instead of an object",
    "deep_json": 'HTTP 200 application/json: "[" 200,000 times (under the 1 MB cap; a hostile gateway)',
    "all_registers": "HTTP 200 with all 65,536 register indices (a hostile gateway)",
}

ALL_REGISTERS = json.dumps({f"{i:04X}": i % 100 for i in range(65536)}).encode()
HTML_ERROR = "<html><head><title>Error</title></head><body><h1>Error</h1><p>Heat pump not responding</p></body></html>"


def mac_address(seed: int, port: int, brand: str = "") -> str:
    """A stable, locally administered MAC (lower-case hex, 12 chars) for a simulated gateway."""
    digest = hashlib.sha256(f"{brand}:{seed}:{port}".encode()).hexdigest()
    return "02" + digest[:10]


def _check_fault(fault: str | None) -> str | None:
    if fault in (None, "", "none"):
        return None
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; accepted: {', '.join(FAULTS)} or none")
    return fault


@dataclass
class SimGateway:
    """One simulated H66 gateway. ``fault``, ``latency`` and ``api_mode`` may change at runtime."""

    brand: str
    model: PumpModel
    api_mode: int = 1  # 1 read-only, 2 read/write (the gateway's API_ENABLED)
    mac: str = ""
    fault: str | None = None
    latency: float = 0.0  # seconds before every gateway answer
    port: int = 0  # requested port (0: any free port); the bound port is set by the runner
    hang_seconds: float = 60.0  # how long the "timeout" fault hangs
    h1_version: str = ""  # H1ver after the two controller-family characters
    requests: int = field(default=0, init=False)  # gateway requests answered (for tests)
    #: wall-clock times of the good /api/alldata answers (tests: which ticks must be stored)
    answered: list[float] = field(default_factory=list, init=False, repr=False)
    _closing: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.fault = _check_fault(self.fault)
        if self.api_mode not in (1, 2):
            raise ValueError("api_mode must be 1 (read-only) or 2 (read/write)")
        if self.latency < 0:
            raise ValueError("latency must be >= 0")
        if not self.mac:
            self.mac = mac_address(self.model.seed, self.port, self.brand)
        if not self.h1_version:
            self.h1_version = f"{10 + self.model.seed % 20:02d}"

    @classmethod
    def create(
        cls,
        brand: str | Provider,
        *,
        seed: int = 0,
        port: int = 0,
        api_mode: int = 1,
        fault: str | None = None,
        latency: float = 0.0,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.time,
        **model_options: Any,
    ) -> "SimGateway":
        """A gateway with its own :class:`PumpModel` (``model_options`` go to the model)."""
        model = PumpModel(brand, seed, clock, time_scale=time_scale, **model_options)
        return cls(brand=model.brand, model=model, api_mode=api_mode, fault=fault,
                   latency=latency, port=port)

    @property
    def h1ver(self) -> str:
        """The controller cable code: the brand's controller family + firmware digits."""
        codes = self.model.provider.h1ver_codes
        return (codes[0] if codes else "99") + self.h1_version

    def set_fault(self, fault: str | None, latency: float | None = None) -> None:
        self.fault = _check_fault(fault)
        if latency is not None:
            if latency < 0:
                raise ValueError("latency must be >= 0")
            self.latency = float(latency)

    def state(self) -> dict[str, Any]:
        return {
            "brand": self.brand,
            "mac": self.mac,
            "port": self.port,
            "api_mode": self.api_mode,
            "fault": self.fault,
            "latency": self.latency,
            "time_scale": self.model.time_scale,
            "sim_time": self.model.sim_time(),
            "requests": self.requests,
            "overrides": dict(self.model.overrides),
            "alarm": self.model.forced_alarm,
            "values": self.model.values(),
        }


# ---------------------------------------------------------------- the app


def create_app(gateway: SimGateway) -> Starlette:
    """The Starlette app of one simulated gateway (see the module docstring for the routes)."""

    async def delay() -> None:
        gateway.requests += 1
        if gateway.latency > 0:
            await asyncio.sleep(gateway.latency)

    async def alldata(request: Request) -> Response:
        await delay()
        fault = gateway.fault
        if fault == "timeout":
            deadline = time.monotonic() + gateway.hang_seconds
            while time.monotonic() < deadline and not gateway._closing:
                await asyncio.sleep(0.1)
                if await request.is_disconnected():
                    break
            return PlainTextResponse("Gateway Timeout", status_code=504)
        if fault == "http500":
            return PlainTextResponse("Internal Server Error", status_code=500)
        if fault == "html":
            return Response(HTML_ERROR, media_type="text/html")
        if fault == "empty":
            return JSONResponse({})
        if fault == "deep_json":
            return Response(b"[" * 200_000, media_type="application/json")
        if fault == "all_registers":
            return Response(ALL_REGISTERS, media_type="application/json")
        data = gateway.model.raw_alldata()
        if fault == "strings":
            return JSONResponse({k: str(v) for k, v in data.items()})
        if fault == "not_object":
            return JSONResponse([[k, v] for k, v in data.items()])
        if fault == "invalid_json":
            body = json.dumps(data)
            return Response(body[: max(1, len(body) // 2)], media_type="application/json")
        gateway.answered.append(time.time())
        return JSONResponse(data)

    async def status(request: Request) -> Response:
        await delay()
        return JSONResponse({"status": {
            "H1ver": gateway.h1ver,
            "H60ver": "H66 2.1.6-sim",
            "mac": gateway.mac,
            "API_ENABLED": gateway.api_mode,
            "hp_connected": gateway.fault != "empty",
            "uptime": int(time.monotonic() - started),
        }})

    async def api_set(request: Request) -> Response:
        await delay()
        if gateway.api_mode != 2:
            return JSONResponse({"error": "API is read-only (API_ENABLED=1)"}, status_code=403)
        idx = normalize_index(request.query_params.get("idx", ""))
        reg = gateway.model.provider.registers.get(idx) if idx else None
        if idx is None or reg is None:
            return JSONResponse({"error": f"unknown register index {request.query_params.get('idx')!r}"},
                                status_code=400)
        if not reg.writable:
            return JSONResponse({"error": f"register {idx} ({reg.name}) is not writable"}, status_code=403)
        text = request.query_params.get("val", "")
        try:
            val = int(text)
        except ValueError:
            return JSONResponse({"error": f"val must be an integer, got {text!r}"}, status_code=400)
        try:
            raw = gateway.model.set_register(idx, val)
        except RegisterRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        return JSONResponse({"status": "ok", "idx": idx, "val": raw})

    async def sim_fault(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
        try:
            latency = body.get("latency")
            if latency is not None and (isinstance(latency, bool) or not isinstance(latency, (int, float))
                                        or latency < 0):
                raise ValueError("latency must be a number of seconds >= 0")
            api_mode = body.get("api_mode", gateway.api_mode)
            if api_mode not in (1, 2) or isinstance(api_mode, bool):
                raise ValueError("api_mode must be 1 or 2")
            fault = _check_fault(body["fault"]) if "fault" in body else gateway.fault
            if "alarm" in body:  # an alarm code to raise now (0: none), null: the occasional ones
                gateway.model.force_alarm(body["alarm"])
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        gateway.set_fault(fault, latency)
        gateway.api_mode = api_mode
        return JSONResponse(gateway.state())

    async def sim_state(request: Request) -> Response:
        return JSONResponse(gateway.state())

    started = time.monotonic()
    app = Starlette(routes=[
        Route("/api/alldata", alldata),
        Route("/status", status),
        Route("/api/set", api_set),
        Route("/sim/fault", sim_fault, methods=["POST"]),
        Route("/sim/state", sim_state),
    ])
    app.state.gateway = gateway
    return app


# ---------------------------------------------------------------- building gateways


def make_gateways(
    brands: Sequence[str] = ("thermia",),
    count: int | None = None,
    *,
    port: int = 0,
    seed: int = 0,
    api_mode: int = 1,
    time_scale: float = 1.0,
    fault: str | None = None,
    faults: Sequence[str | None] | None = None,
    latency: float = 0.0,
    clock: Callable[[], float] = time.time,
    **model_options: Any,
) -> list[SimGateway]:
    """``count`` gateways (default: one per brand), brands cycling. Gateway ``i`` gets seed
    ``seed + i`` and port ``port + i`` (all 0 when ``port`` is 0). ``faults`` (cycling) overrides
    ``fault`` per gateway."""
    names = [b.strip().lower() for b in brands if b.strip()]
    if not names:
        raise ValueError("no brand given")
    for b in names:
        if b not in BRANDS:
            raise ValueError(f"unknown brand {b!r}; accepted: {', '.join(BRANDS)}")
    n = len(names) if count is None else count
    if n < 1:
        raise ValueError("need at least one gateway")
    if not 0 <= port or port + n - 1 > 65535:
        raise ValueError(f"ports {port}..{port + n - 1} outside 0..65535")
    out = []
    for i in range(n):
        f = faults[i % len(faults)] if faults else fault
        out.append(SimGateway.create(
            names[i % len(names)], seed=seed + i, port=port + i if port else 0, api_mode=api_mode,
            fault=f, latency=latency, time_scale=time_scale, clock=clock, **model_options))
    return out


# ---------------------------------------------------------------- running servers


#: how long the simulator keeps an idle connection open
KEEP_ALIVE_S = 75


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket. Made with IPPROTO_TCP (``socket.create_server`` leaves the
    protocol 0): asyncio only sets TCP_NODELAY on accepted sockets whose protocol says TCP,
    and without it every answer after a connection's first waits ~40 ms for a delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the runner (several share one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class _Cluster:
    """Several gateways, one uvicorn server each, in the current event loop."""

    def __init__(self, gateways: Sequence[SimGateway], host: str, ports: Sequence[int] | None) -> None:
        if ports is not None and len(ports) != len(gateways):
            raise ValueError("give one port per gateway")
        self.gateways = list(gateways)
        self.host = host
        self.ports = list(ports) if ports is not None else [g.port for g in gateways]
        self.servers: list[_Server] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.urls: list[str] = []

    async def start(self) -> list[str]:
        for gw in self.gateways:
            if not gw.model.history:
                # each model's warm-up (6 simulated hours, ~30 ms of CPU) before the ports
                # listen, not in its first poll: at 1,000 gateways it was 30 s of CPU inside the
                # first ticks, so a fleet's first polls timed out (with history, the first reads
                # walk from the origin anyway)
                gw.model.raw_alldata()
        sockets: list[socket.socket] = []
        try:
            for port in self.ports:  # bind first: a busy port fails here, cleanly
                sockets.append(_listen(self.host, port))
        except OSError:
            for s in sockets:
                s.close()
            raise
        apps: dict[int, Starlette] = {}
        for gw, sock in zip(self.gateways, sockets):
            gw.port = sock.getsockname()[1]
            gw._closing = False
            apps[gw.port] = create_app(gw)
            self.urls.append(_url(self.host, gw.port))

        async def by_port(scope: Any, receive: Any, send: Any) -> None:
            """One uvicorn server for every gateway: the local port picks the gateway."""
            server = scope.get("server")  # (host, port), absent on a Unix socket
            app = apps.get(server[1]) if server else None
            if app is None:  # pragma: no cover - only our own sockets are served
                raise RuntimeError(f"no simulated gateway on {server}")
            await app(scope, receive, send)

        # A single server (not one per port): each uvicorn server runs its own 10 Hz
        # housekeeping loop, which for 1,000 gateways would eat a core by itself.
        config = uvicorn.Config(
            by_port, log_level="warning", access_log=False, log_config=None,
            lifespan="off", timeout_graceful_shutdown=2, server_header=False, date_header=False,
            # keep idle connections longer than any poll interval (uvicorn's default is 5 s), so a
            # collector's kept connections are measured, not reconnects forced by the simulator
            timeout_keep_alive=KEEP_ALIVE_S)
        server = _Server(config)
        self.servers.append(server)
        self.tasks.append(asyncio.create_task(server.serve(sockets=sockets)))
        while not all(s.started for s in self.servers):
            done = [t for t in self.tasks if t.done()]
            if done:
                await self.stop()
                done[0].result()  # raises the startup error
                raise RuntimeError("simulated gateway stopped during startup")
            await asyncio.sleep(0.01)
        return self.urls

    async def wait(self) -> None:
        """Until any server stops."""
        await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)

    def request_stop(self) -> None:
        for gw in self.gateways:
            gw._closing = True
        for s in self.servers:
            s.should_exit = True

    async def stop(self) -> None:
        self.request_stop()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=10)
            for t in self.tasks:
                if not t.done():
                    t.cancel()


@contextlib.asynccontextmanager
async def running_gateways(
    gateways: Sequence[SimGateway], host: str = "127.0.0.1", ports: Sequence[int] | None = None,
) -> AsyncIterator[list[str]]:
    """Serve ``gateways`` in the current loop; yields their base URLs (ports actually bound,
    also written back to ``gateway.port``). ``ports`` defaults to each gateway's ``port``."""
    cluster = _Cluster(gateways, host, ports)
    await cluster.start()
    try:
        yield list(cluster.urls)
    finally:
        await cluster.stop()


@contextlib.asynccontextmanager
async def running_simulator(
    brands: Sequence[str] = ("thermia",), host: str = "127.0.0.1", port: int = 0, **options: Any,
) -> AsyncIterator[list[str]]:
    """Start one gateway per brand (or ``count=N``, brands cycling) on ``port``, ``port+1``...
    (``port=0``: free ports) and yield their base URLs. ``options`` go to :func:`make_gateways`
    (``seed``, ``api_mode``, ``time_scale``, ``fault``, ``faults``, ``latency``, ``count``...)."""
    async with running_gateways(make_gateways(brands, port=port, **options), host) as urls:
        yield urls


async def serve(
    gateways: Sequence[SimGateway],
    host: str = "127.0.0.1",
    ports: Sequence[int] | None = None,
    *,
    announce: Callable[[str], None] | None = print,
    stop: asyncio.Event | None = None,
) -> None:
    """Run ``gateways`` (one uvicorn server per port, all in this loop) until SIGINT/SIGTERM,
    until ``stop`` is set, or until a server dies. Prints one line per gateway via ``announce``.
    Raises ``OSError`` if a port cannot be bound."""
    cluster = _Cluster(gateways, host, ports)
    await cluster.start()
    try:
        with on_stop_signals(lambda sig: cluster.request_stop()):
            await _announce_and_wait(cluster, announce, stop)
    finally:
        await cluster.stop()


async def _announce_and_wait(cluster: "_Cluster", announce: Callable[[str], None] | None,
                             stop: asyncio.Event | None) -> None:
    if announce:
        for gw, url in zip(cluster.gateways, cluster.urls):
            announce(f"Simulated {gw.brand} gateway at {url} (mac {gw.mac})")
        announce(_summary(cluster.gateways))
    waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(cluster.wait())]
    if stop is not None:
        waiters.append(asyncio.ensure_future(stop.wait()))
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


def _summary(gateways: Sequence[SimGateway]) -> str:
    modes = sorted({"read/write" if g.api_mode == 2 else "read-only" for g in gateways})
    faults = sorted({g.fault or "none" for g in gateways})
    latencies = sorted({g.latency for g in gateways})
    scales = sorted({g.model.time_scale for g in gateways})
    return (f"API {'/'.join(modes)}; fault {', '.join(faults)}; "
            f"latency {', '.join(f'{x:g}' for x in latencies)} s; "
            f"time scale {', '.join(f'{x:g}' for x in scales)}. Ctrl+C stops.")


def run_simulator(gateways: Sequence[SimGateway], host: str = "127.0.0.1",
                  ports: Sequence[int] | None = None, **kwargs: Any) -> None:
    """Blocking :func:`serve` in a new event loop (for a command line)."""
    asyncio.run(serve(gateways, host, ports, **kwargs))


class SimulatorThread(LoopThread):
    """Simulated gateways served from a background thread, for synchronous code::

        with SimulatorThread(["thermia", "nibe"]) as sim:
            httpx.get(sim.urls[0] + "/api/alldata")

    Pass ``gateways=[...]`` to serve prepared gateways instead of building them from ``brands``
    (``options`` go to :func:`make_gateways`).
    """

    def __init__(self, brands: Sequence[str] = ("thermia",), host: str = "127.0.0.1", port: int = 0,
                 *, gateways: Sequence[SimGateway] | None = None, **options: Any) -> None:
        super().__init__()
        self.gateways = list(gateways) if gateways is not None else make_gateways(brands, port=port, **options)
        self.host = host
        self.urls: list[str] = []

    def start(self, timeout: float = 10.0) -> list[str]:
        self._start_thread(timeout)
        return self.urls

    async def _serve(self, stop: asyncio.Event) -> None:
        async with running_gateways(self.gateways, self.host) as urls:
            self.urls = urls
            self._ready.set()
            await stop.wait()
