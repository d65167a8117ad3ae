"""Simulated H66 gateways over MQTT: each one a client of a broker, publishing its registers.

What one simulated gateway does (see the "MQTT" section of the Husdata reference):

* connects as client id ``sim-<mac>`` (one client per gateway, MQTT 3.1.1, clean session) and
  subscribes to ``<mac>/HP/CMD`` and ``<mac>/HP/SET/+``;
* every ``poll_every`` seconds reads ``model.raw_alldata()`` and, for every register whose raw
  value differs from the value last published for it, publishes ``<mac>/HP/<INDEX>`` (index
  upper-case as in the register sheets) with the raw value as decimal text (``275``, ``-53``;
  ``65483`` with the model's ``firmware="old"``), or with ``payload="scaled"`` the value in real
  units as some H66 firmware publishes it (``27.5``; registers without a factor as integers),
  QoS 0, not retained. Each message waits its own random delay, uniform in
  ``0..max_delay`` seconds, so the messages of one change arrive spread out, each with its
  own time -- which is what a collector has to cope with. A register changing again while its
  message waits does not queue a second message: the waiting one carries the newest value
  (and is dropped if the value went back to what was last published), so per register the
  published values never arrive out of order. The first poll after start publishes every
  register (nothing was published yet); after a reconnect only what differs from what was
  actually published before the loss (messages still waiting at the loss are lost);
* ``<mac>/HP/CMD`` payload ``GETALL``: every register again (also with the random delays);
  ``STATUS``: at once, on ``<mac>/HP/STATUS``, a JSON object like the HTTP ``/status``:
  ``{"status": {"H1ver": ..., "H60ver": ..., "mac": ..., "API_ENABLED": ..., "hp_connected":
  ..., "uptime": ..., "mqtt_connects": ...}}``; ``RESET``: logged and ignored. Commands are
  case-insensitive; anything else is logged and ignored;
* ``<mac>/HP/SET/<index>`` with a decimal payload writes a writable register (only with the
  gateway's ``api_mode == 2``, as for ``/api/set``); the change goes out with the next poll.

Note for collectors: a subscription to ``<mac>/HP/+`` also receives ``<mac>/HP/CMD`` (the
commands anyone sends) and ``<mac>/HP/STATUS``; only four-hex-digit last levels are registers.

Of the HTTP fault switches only ``gateway.fault == "empty"`` (heat pump off / not connected)
has a meaning here: nothing is published, and the status says ``"hp_connected": false``.

Fault switches of the MQTT side:

* ``garbage``: probability (0..1) that a register message's payload is replaced by one of
  :data:`GARBAGE_PAYLOADS` (empty, ``abc``, ``nan``, ``27,5``, ``1e3``, ``4294967296``, a 2 KB
  run of digits, bytes that are not UTF-8) -- none of them a number any register takes;
* ``drop_every``: seconds between forced disconnects: the client's socket is shut down
  without an MQTT DISCONNECT (the broker sees the connection die), and the gateway reconnects
  about a second later.

If the broker goes away (restart, refused connect, bad credentials) the gateway retries with
a backoff of 1, 2, 4... seconds up to :data:`MAX_BACKOFF`, and never raises out of
:func:`publish_gateways`. One log line per state change (connected, lost, cannot connect,
forced drop, stopped) on the ``heatpump_monitor.simulator.mqtt`` logger; the password is
never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import aiomqtt

from heatpump_monitor.providers.registry import normalize_index, signed_raw

from .model import RegisterRefused, raw_to_value
from ..threads import LoopThread
from .server import SimGateway, make_gateways

__all__ = [
    "GARBAGE_PAYLOADS", "GatewayPublisher", "MqttSimulatorThread", "make_publishers",
    "publish_gateways", "run_publishers",
]

log = logging.getLogger(__name__)

#: What a "garbage" register message carries instead of the raw value (one chosen at random).
GARBAGE_PAYLOADS: tuple[bytes, ...] = (
    b"",
    b"abc",
    b"nan",
    b"27,5",
    b"1e3",
    b"4294967296",  # above every register's raw domain (2^32)
    b"9" * 2048,
    b"\xff\xfe\x80\x00\xc3(",
)
PAYLOAD_FORMS = ("raw", "scaled")

RECONNECT_AFTER_DROP = 1.0  # seconds between a forced drop and the reconnect
MIN_BACKOFF = 1.0
MAX_BACKOFF = 10.0
CLIENT_TIMEOUT = 5.0  # aiomqtt timeout for CONNACK, SUBACK and disconnect
KEEPALIVE = 30


class _Dropped(Exception):
    """Raised inside a session to end it after a forced (abrupt) disconnect."""


@dataclass
class _Pending:
    due: float
    seq: int
    index: str
    value: int
    forced: bool = False  # GETALL: send even when equal to the last published value
    live: bool = True

    def __lt__(self, other: "_Pending") -> bool:
        return (self.due, self.seq) < (other.due, other.seq)


@dataclass(eq=False)
class GatewayPublisher:
    """The MQTT side of one :class:`SimGateway`. Counters are plain attributes (read them from
    any thread): ``connects`` (successful connects, counted once subscribed), ``drops`` (forced disconnects),
    ``losses`` (connections lost otherwise), ``failures`` (failed connect attempts), ``sent``
    (register messages), ``garbage_sent``, ``commands`` (by command name) and ``connected``."""

    gateway: SimGateway
    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    max_delay: float = 2.0
    poll_every: float = 1.0
    seed: int = 0
    garbage: float = 0.0
    drop_every: float = 0.0
    payload: str = "raw"  # "raw": integers like /api/alldata; "scaled": real units ("54.0")

    connects: int = field(default=0, init=False)
    drops: int = field(default=0, init=False)
    losses: int = field(default=0, init=False)
    failures: int = field(default=0, init=False)
    sent: int = field(default=0, init=False)
    garbage_sent: int = field(default=0, init=False)
    commands: dict[str, int] = field(default_factory=dict, init=False)
    connected: bool = field(default=False, init=False)
    #: set (a threading.Event, so other threads may wait on it) at the first successful connect
    ever_connected: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    #: raw value last published per register (survives reconnects)
    published: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_delay < 0:
            raise ValueError("max_delay must be >= 0")
        if self.poll_every <= 0:
            raise ValueError("poll_every must be > 0")
        if not 0.0 <= self.garbage <= 1.0:
            raise ValueError("garbage must be a probability 0..1")
        if self.drop_every < 0:
            raise ValueError("drop_every must be >= 0 (0 = never)")
        if self.payload not in PAYLOAD_FORMS:
            raise ValueError(f"payload must be one of {', '.join(PAYLOAD_FORMS)}")
        self._rng = random.Random(f"{self.seed}:{self.gateway.mac}")
        self._started = time.monotonic()
        self._state = "new"

    # ------------------------------------------------------------ names

    @property
    def client_id(self) -> str:
        return f"sim-{self.gateway.mac}"

    @property
    def base_topic(self) -> str:
        return f"{self.gateway.mac}/HP"

    @property
    def register_topics(self) -> str:
        """The wildcard a collector subscribes to for this gateway."""
        return f"{self.base_topic}/+"

    @property
    def broker(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def status(self) -> dict[str, Any]:
        """The STATUS answer (same keys as the HTTP ``/status`` plus ``mqtt_connects``)."""
        gw = self.gateway
        return {"status": {
            "H1ver": gw.h1ver,
            "H60ver": "H66 2.1.6-sim",
            "mac": gw.mac,
            "API_ENABLED": gw.api_mode,
            "hp_connected": gw.fault != "empty",
            "uptime": int(time.monotonic() - self._started),
            "mqtt_connects": self.connects,
        }}

    def _set_state(self, state: str, line: str, level: int = logging.INFO) -> None:
        """Log ``line`` only when the state changes (one line per state change)."""
        if state != self._state:
            self._state = state
            log.log(level, "MQTT %s: %s", self.client_id, line)

    # ------------------------------------------------------------ main loop

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, publish, reconnect... until ``stop`` is set. Never raises (except
        cancellation)."""
        backoff = MIN_BACKOFF
        while not stop.is_set():
            delay = backoff
            try:
                client = aiomqtt.Client(
                    self.host, self.port, username=self.username, password=self.password,
                    identifier=self.client_id, keepalive=KEEPALIVE, timeout=CLIENT_TIMEOUT,
                    logger=log.getChild("paho"),
                )
                try:
                    await client.__aenter__()
                except aiomqtt.MqttError as exc:
                    self.failures += 1
                    self._set_state("failing", f"cannot connect to {self.broker} ({exc}); "
                                    f"retrying with backoff up to {MAX_BACKOFF:g} s", logging.WARNING)
                    backoff = min(MAX_BACKOFF, backoff * 2)
                else:
                    backoff = MIN_BACKOFF
                    delay = await self._connected_session(client, stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug or something unforeseen: log, back off, go on
                self.connected = False
                self._set_state("error", f"unexpected error ({exc!r}); retrying", logging.ERROR)
                log.debug("MQTT %s: traceback", self.client_id, exc_info=True)
                backoff = min(MAX_BACKOFF, backoff * 2)
            if stop.is_set():
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        self.connected = False
        self._set_state("stopped", "stopped")

    async def _connected_session(self, client: aiomqtt.Client, stop: asyncio.Event) -> float:
        """Run one connection (entered ``client``) until it ends; returns the reconnect delay.
        The gateway counts as connected once its subscriptions are acknowledged (SUBACK), so a
        command sent after ``connected``/``ever_connected`` is never lost."""
        try:
            await client.subscribe([(f"{self.base_topic}/CMD", 0), (f"{self.base_topic}/SET/+", 0)])
        except aiomqtt.MqttError as exc:
            with contextlib.suppress(Exception):
                await client.__aexit__(None, None, None)
            self.losses += 1
            self._set_state("lost", f"connection to {self.broker} lost while subscribing ({exc}); "
                            "reconnecting", logging.WARNING)
            return MIN_BACKOFF
        self.connects += 1
        self.connected = True
        self.ever_connected.set()
        self._set_state("connected", f"connected to {self.broker}, publishing {self.register_topics}")
        session = _Session(self, client)
        stopper = asyncio.ensure_future(stop.wait())
        tasks = [asyncio.ensure_future(c) for c in session.coroutines()]
        ended_by: BaseException | None = None
        try:
            done, _ = await asyncio.wait(tasks + [stopper], return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t is not stopper and not t.cancelled() and t.exception() is not None:
                    ended_by = t.exception()
                    break
        finally:
            for t in tasks + [stopper]:
                t.cancel()
            await asyncio.gather(*tasks, stopper, return_exceptions=True)
            self.connected = False
        try:
            await client.__aexit__(None, None, None)  # graceful DISCONNECT if still connected
        except Exception:  # already gone: nothing to close
            pass
        if session.dropping:  # ours: the listener usually notices the dead socket first
            self.drops += 1
            self._set_state("dropped", f"forced disconnect (drop_every {self.drop_every:g} s); "
                            f"reconnecting in {RECONNECT_AFTER_DROP:g} s")
            return RECONNECT_AFTER_DROP
        if stop.is_set() and ended_by is None:
            return 0.0
        self.losses += 1
        reason = f"{ended_by}" if ended_by is not None else "session ended"
        if ended_by is not None and ended_by.__cause__ is not None:
            reason += f": {ended_by.__cause__}"
        self._set_state("lost", f"connection to {self.broker} lost ({reason}); reconnecting",
                        logging.WARNING)
        return MIN_BACKOFF


class _Session:
    """One connection's worth of work: poller, delayed sender, command listener, dropper."""

    def __init__(self, pub: GatewayPublisher, client: aiomqtt.Client) -> None:
        self.pub = pub
        self.client = client
        self.heap: list[_Pending] = []
        self.pending: dict[str, _Pending] = {}
        self.seq = 0
        self.wake = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        self.dropping = False

    def coroutines(self) -> list[Any]:
        out = [self.listen(), self.poll(), self.send()]
        if self.pub.drop_every > 0:
            out.append(self.drop())
        return out

    # -- scheduling

    def _target(self, idx: str) -> int | None:
        p = self.pending.get(idx)
        return p.value if p is not None else self.pub.published.get(idx)

    def schedule(self, idx: str, value: int, forced: bool = False) -> None:
        p = self.pending.get(idx)
        if p is not None:  # one message per register in flight: it carries the newest value
            p.value = value
            p.forced = p.forced or forced
            if not p.forced and self.pub.published.get(idx) == value:
                p.live = False  # back to what was last published: nothing to tell
                del self.pending[idx]
            return
        self.seq += 1
        due = self.loop.time() + (self.pub._rng.uniform(0.0, self.pub.max_delay) if self.pub.max_delay else 0.0)
        p = _Pending(due, self.seq, idx, value, forced)
        self.pending[idx] = p
        heapq.heappush(self.heap, p)
        self.wake.set()

    def text(self, idx: str, raw: int) -> str:
        """The payload of a register message: the raw integer, or the value in real units."""
        reg = self.pub.gateway.model.provider.registers.get(idx)
        if self.pub.payload == "raw" or reg is None:
            return str(raw)
        if reg.factor == 1:  # the number itself: -100, not old firmware's wrapped 65436
            return str(signed_raw(reg, raw))
        return f"{raw_to_value(reg, raw):.{max(1, len(str(int(reg.factor))) - 1)}f}"

    def read_registers(self) -> dict[str, int]:
        gw = self.pub.gateway
        if gw.fault == "empty":
            return {}
        return gw.model.raw_alldata()

    # -- the tasks

    async def poll(self) -> None:
        while True:
            for idx, value in self.read_registers().items():
                idx = idx.upper()
                if value != self._target(idx):
                    self.schedule(idx, value)
            await asyncio.sleep(self.pub.poll_every)

    async def send(self) -> None:
        pub = self.pub
        while True:
            while self.heap and not self.heap[0].live:
                heapq.heappop(self.heap)
            if not self.heap:
                self.wake.clear()
                await self.wake.wait()
                continue
            wait = self.heap[0].due - self.loop.time()
            if wait > 0:
                self.wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), wait)
                continue
            p = heapq.heappop(self.heap)
            if self.pending.get(p.index) is p:
                del self.pending[p.index]
            payload: bytes | str = self.text(p.index, p.value)
            is_garbage = pub.garbage > 0 and pub._rng.random() < pub.garbage
            if is_garbage:
                payload = pub._rng.choice(GARBAGE_PAYLOADS)
            await self.client.publish(f"{pub.base_topic}/{p.index}", payload, qos=0)
            pub.published[p.index] = p.value
            pub.sent += 1
            if is_garbage:
                pub.garbage_sent += 1

    async def listen(self) -> None:
        pub = self.pub
        cmd_topic = f"{pub.base_topic}/CMD"  # subscribed by _connected_session
        async for message in self.client.messages:
            topic = message.topic.value
            payload = message.payload
            if isinstance(payload, (bytes, bytearray)):
                text = bytes(payload).decode("utf-8", "replace").strip()
            else:
                text = "" if payload is None else str(payload).strip()
            if topic == cmd_topic:
                await self.command(text.upper())
            elif topic.startswith(f"{pub.base_topic}/SET/"):
                self.set_register(topic.rsplit("/", 1)[1], text)

    async def command(self, cmd: str) -> None:
        pub = self.pub
        pub.commands[cmd] = pub.commands.get(cmd, 0) + 1
        if cmd == "GETALL":
            for idx, value in self.read_registers().items():
                self.schedule(idx.upper(), value, forced=True)
        elif cmd == "STATUS":
            await self.client.publish(f"{pub.base_topic}/STATUS", json.dumps(pub.status()), qos=0)
        elif cmd == "RESET":
            log.info("MQTT %s: RESET received; ignored by the simulator", pub.client_id)
        else:
            log.info("MQTT %s: unknown command %r ignored", pub.client_id, cmd[:40])

    def set_register(self, index: str, text: str) -> None:
        pub = self.pub
        idx = normalize_index(index)
        if pub.gateway.api_mode != 2:
            log.info("MQTT %s: SET/%s ignored (read-only gateway, api_mode 1)", pub.client_id, index[:8])
            return
        try:
            if idx is None:
                raise RegisterRefused(f"not a register index: {index[:8]!r}")
            raw = pub.gateway.model.set_register(idx, int(text))
        except (ValueError, RegisterRefused) as exc:
            log.info("MQTT %s: SET/%s %r refused: %s", pub.client_id, index[:8], text[:20], exc)
            return
        log.info("MQTT %s: SET %s = %d", pub.client_id, idx, raw)

    async def drop(self) -> None:
        await asyncio.sleep(self.pub.drop_every)
        self.dropping = True
        paho = getattr(self.client, "_client", None)  # aiomqtt has no public "abort"
        sock = paho.socket() if paho is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # no DISCONNECT: the broker sees the link die
            # paho notices the EOF and the listener ends with MqttError; give it a moment,
            # then end the session ourselves either way
            await asyncio.sleep(0.5)
        raise _Dropped()


# ---------------------------------------------------------------- running several


def make_publishers(
    gateways: Sequence[SimGateway],
    host: str,
    port: int = 1883,
    *,
    username: str | None = None,
    password: str | None = None,
    max_delay: float = 2.0,
    poll_every: float = 1.0,
    seed: int = 0,
    garbage: float = 0.0,
    drop_every: float = 0.0,
    payload: str = "raw",
) -> list[GatewayPublisher]:
    """One :class:`GatewayPublisher` per gateway (validates the options)."""
    return [GatewayPublisher(gw, host, port, username=username, password=password, max_delay=max_delay,
                             poll_every=poll_every, seed=seed, garbage=garbage, drop_every=drop_every,
                             payload=payload)
            for gw in gateways]


async def run_publishers(publishers: Sequence[GatewayPublisher], stop: asyncio.Event) -> None:
    """Run ``publishers`` in this loop until ``stop`` is set."""
    tasks = [asyncio.ensure_future(p.run(stop)) for p in publishers]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def publish_gateways(
    gateways: Sequence[SimGateway],
    host: str,
    port: int = 1883,
    *,
    username: str | None = None,
    password: str | None = None,
    max_delay: float = 2.0,
    poll_every: float = 1.0,
    stop: asyncio.Event,
    seed: int = 0,
    garbage: float = 0.0,
    drop_every: float = 0.0,
    payload: str = "raw",
) -> list[GatewayPublisher]:
    """Publish ``gateways`` to the broker at ``host:port`` until ``stop`` is set (one client
    per gateway; see the module docstring). Returns the publishers (with their counters) once
    stopped. Raises ``ValueError`` for bad options, never for broker trouble."""
    publishers = make_publishers(
        gateways, host, port, username=username, password=password, max_delay=max_delay,
        poll_every=poll_every, seed=seed, garbage=garbage, drop_every=drop_every, payload=payload)
    await run_publishers(publishers, stop)
    return publishers


class MqttSimulatorThread(LoopThread):
    """Simulated gateways publishing to an MQTT broker from a background thread::

        with MqttSimulatorThread(["thermia"], "127.0.0.1", 1883, max_delay=1) as sim:
            mac = sim.gateways[0].mac
            ...

    ``options`` are split: :func:`make_publishers` keywords (``username``, ``password``,
    ``max_delay``, ``poll_every``, ``garbage``, ``drop_every``, ``payload``; ``seed`` goes to
    both) and the rest to :func:`make_gateways` (``count``, ``time_scale``, ``clock``,
    ``api_mode``, ``firmware``...).
    Pass ``gateways=[...]`` to publish prepared gateways. ``start()`` waits until every
    gateway has connected once (``wait_connected=False`` to not wait).
    """

    thread_name = "h66-mqtt-simulator"

    _PUBLISHER_OPTIONS = ("username", "password", "max_delay", "poll_every", "garbage", "drop_every", "payload")

    def __init__(self, brands: Sequence[str] = ("thermia",), host: str = "127.0.0.1", port: int = 1883,
                 *, gateways: Sequence[SimGateway] | None = None, **options: Any) -> None:
        super().__init__()
        pub_opts = {k: options.pop(k) for k in self._PUBLISHER_OPTIONS if k in options}
        if "seed" in options:
            pub_opts["seed"] = options["seed"]
        self.gateways = list(gateways) if gateways is not None else make_gateways(brands, **options)
        self.host = host
        self.port = port
        self.publishers = make_publishers(self.gateways, host, port, **pub_opts)

    @property
    def connects(self) -> int:
        return sum(p.connects for p in self.publishers)

    def start(self, timeout: float = 10.0, wait_connected: bool = True) -> "MqttSimulatorThread":
        self._start_thread(timeout)
        if wait_connected:
            deadline = time.monotonic() + timeout
            for p in self.publishers:
                if not p.ever_connected.wait(max(0.0, deadline - time.monotonic())):
                    self.stop()
                    raise TimeoutError(f"simulated gateway {p.client_id} did not connect to "
                                       f"{p.broker} within {timeout:g} s")
        return self

    async def _serve(self, stop: asyncio.Event) -> None:
        self._ready.set()
        await run_publishers(self.publishers, stop)
