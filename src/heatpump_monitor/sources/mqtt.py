"""MQTT source: subscribes to ``<mac>/HP/+`` (one subscription per configured MAC, or ``+/HP/+``
when gateways are discovered) with aiomqtt and hands every message on.

Reconnects with capped exponential backoff when the broker is down or restarts, and logs one
line per state change (not per attempt). Asks gateways for all their registers (``GETALL`` on
``<mac>/HP/CMD``) on every connect and every ``getall_interval_s``: the configured MACs, or the
gateways known so far; a newly discovered gateway is asked once, when the snapshotter accepts it
(:meth:`MqttSource.ask_getall`). A gateway gone silent (e.g. it reconnected to a restarted
broker after our GETALL, and publishes only changes) is asked again every
``min(30 s, silent limit)``.

Anyone who can publish to the broker reaches this code, so what a flood can grow is bounded:

* MQTT 5 is spoken when the broker does (else 3.1.1, said once), asking the broker for packets
  of at most :data:`MAX_PACKET_BYTES`: larger messages never reach the collector;
* at most :data:`MAX_QUEUED` messages wait in the client (:class:`_Incoming`); more are dropped,
  counted and said in at most one line a minute; paho's per-packet debug lines are not logged;
* the work per message does not depend on the number of gateways (no GETALL walk per message),
  and waiting messages are taken in batches of at most :data:`YIELD_EVERY`: between two batches
  the event loop always runs, so ticks, the stop event and SIGTERM/SIGINT are served during any
  flood.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Any, Callable

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ..config import MqttSettings

log = logging.getLogger("heatpump_monitor.mqtt")

BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 30.0
SILENT_ASK_MAX_S = 30.0
#: MQTT 5 Maximum Packet Size asked of the broker: a register message is under 100 bytes; the
#: room left lets a malformed one through to be warned about
MAX_PACKET_BYTES = 8_192
#: messages waiting in the client at most (a GETALL answer is ~70 messages per gateway); with
#: MAX_PACKET_BYTES, what a flood can make the client hold is bounded (~40 MB)
MAX_QUEUED = 5_000
#: messages taken from the client's queue at most before the event loop runs again
YIELD_EVERY = 100
#: at most one line this often about messages dropped because the queue was full
DROPPED_EVERY_S = 60.0

#: aiomqtt and paho log here; paho's line per packet (DEBUG) is never wanted
_client_log = logging.getLogger("heatpump_monitor.mqtt.client")
_client_log.setLevel(logging.INFO)


class _Incoming(asyncio.Queue[aiomqtt.Message]):
    """aiomqtt's queue of received messages (its ``queue_type``): bounded, and a message that
    does not fit is dropped and counted by the source (instead of one log line each)."""

    def __init__(self, source: MqttSource, maxsize: int = 0) -> None:
        super().__init__(maxsize)
        self.source = source
        source._queue = self

    def put_nowait(self, item: aiomqtt.Message) -> None:
        if self.full():
            self.source._queue_full()
            return
        super().put_nowait(item)


class MqttSource:
    def __init__(self, settings: MqttSettings, on_message: Callable[[str, bytes], None],
                 macs_to_query: Callable[[], list[str]],
                 silent_macs: Callable[[], list[str]] = lambda: [],
                 on_retained: Callable[[str, bytes], None] | None = None) -> None:
        self.s = settings
        self.on_message = on_message
        #: retained messages (the broker kept them from earlier); default: on_message
        self.on_retained = on_retained or on_message
        self.macs_to_query = macs_to_query  # gateways known so far (used when none is configured)
        self.silent_macs = silent_macs  # gateways to ask again: silent, or configured and never seen
        self.topics = [f"{mac}/HP/+" for mac in settings.macs] or ["+/HP/+"]
        self.topic = ", ".join(self.topics)
        self.connected = False
        self.connects = 0
        self.dropped = 0  # messages dropped because MAX_QUEUED were waiting
        self.mqtt5 = True  # False once the broker refused MQTT 5
        self._new: list[str] = []  # discovered gateways to ask for GETALL (after each batch read)
        self._dropped_unsaid = 0
        self._dropped_said = -DROPPED_EVERY_S
        self._client: aiomqtt.Client | None = None
        self._queue: _Incoming | None = None  # the current client's

    @property
    def where(self) -> str:
        return f"{self.s.broker}:{self.s.port}"

    def ask_getall(self, mac: str) -> None:
        """Send GETALL to a gateway just discovered (after the batch of messages being read)."""
        self._new.append(mac)

    def _make_client(self) -> aiomqtt.Client:
        tls = ssl.create_default_context(cafile=self.s.ca_file or None) if self.s.tls else None
        options: dict[str, Any] = {}
        if self.mqtt5:
            props = Properties(PacketTypes.CONNECT)
            props.MaximumPacketSize = MAX_PACKET_BYTES
            options = {"protocol": aiomqtt.ProtocolVersion.V5, "properties": props}
        return aiomqtt.Client(self.s.broker, self.s.port, username=self.s.username or None,
                              password=self.s.password.get_secret_value() or None,
                              identifier=self.s.client_id or None, tls_context=tls,
                              keepalive=30, timeout=10, max_queued_incoming_messages=MAX_QUEUED,
                              # aiomqtt types queue_type as a class but only calls it with
                              # maxsize=: a factory binds the queue to this source
                              queue_type=lambda maxsize=0: _Incoming(self, maxsize),  # type: ignore[arg-type]
                              logger=_client_log, **options)

    async def run(self, stop: asyncio.Event) -> None:
        backoff = BACKOFF_START_S
        last_error = ""
        while not stop.is_set():
            try:
                async with self._make_client() as client:
                    self._client = client
                    await client.subscribe([(t, 0) for t in self.topics])
                    self.connected = True
                    self.connects += 1
                    bound = "" if self.s.macs else f"; up to {self.s.max_gateways} gateways discovered (MQTT_MAX_GATEWAYS)"
                    log.info("Connected to MQTT broker %s; subscribed to %s%s", self.where, self.topic, bound)
                    last_error, backoff = "", BACKOFF_START_S
                    self._new.clear()
                    await self._getall(client)
                    tasks = {asyncio.create_task(self._read(client)), asyncio.create_task(stop.wait()),
                             asyncio.create_task(self._getall_every(client)),
                             asyncio.create_task(self._ask_silent(client))}
                    try:
                        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        for t in tasks:
                            t.cancel()
                        await asyncio.gather(*tasks, return_exceptions=True)
                    for t in done:
                        t.result()  # a lost connection raises MqttError here
            except aiomqtt.MqttError as exc:
                cause = _cause(exc)
                if self.mqtt5 and not self.connected and _no_mqtt5(exc):
                    self.mqtt5 = False
                    log.warning("MQTT broker %s does not speak MQTT 5 (%s): using 3.1.1, which cannot ask it to "
                                "hold back oversized messages (set message_size_limit in the broker)",
                                self.where, cause)
                    continue
                if self.connected:
                    log.error("Lost the MQTT broker %s: %s; reconnecting", self.where, cause)
                elif cause != last_error:
                    log.error("Cannot connect to MQTT broker %s: %s; retrying (every %g s at most)",
                              self.where, cause, BACKOFF_MAX_S)
                last_error = cause
            finally:
                self.connected = False
                self._client = None
            if stop.is_set():
                break
            try:
                await asyncio.wait_for(stop.wait(), timeout=backoff)
            except asyncio.TimeoutError:
                pass
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _read(self, client: aiomqtt.Client) -> None:
        queue = self._queue
        assert queue is not None  # made with the client
        # the iterator waits for a message (and raises once disconnected); it suspends every
        # time, so the event loop runs between batches however full the queue stays
        async for message in client.messages:
            for _ in range(YIELD_EVERY):
                handle = self.on_retained if message.retain else self.on_message
                handle(message.topic.value, _payload(message.payload))
                if queue.empty():
                    break
                message = queue.get_nowait()  # the rest of the batch without a task each
            while self._new:  # gateways the batch made known: asked once, not per message
                await _ask_getall(client, self._new.pop(), "new gateway")

    async def _getall(self, client: aiomqtt.Client) -> None:
        for mac in self.s.macs or self.macs_to_query():
            await _ask_getall(client, mac, "gateway")

    async def _getall_every(self, client: aiomqtt.Client) -> None:
        while True:
            await asyncio.sleep(self.s.getall_interval_s)
            try:
                await self._getall(client)
            except aiomqtt.MqttError:
                return  # the connection loop handles it

    async def _ask_silent(self, client: aiomqtt.Client) -> None:
        every = min(SILENT_ASK_MAX_S, float(self.s.silent_limit_s))
        while True:
            await asyncio.sleep(every)
            try:
                for mac in self.silent_macs():
                    await _ask_getall(client, mac, "silent gateway")
            except aiomqtt.MqttError:
                return  # the connection loop handles it

    def _queue_full(self) -> None:
        """One message dropped by the client (MAX_QUEUED waiting): counted, said at most once
        every DROPPED_EVERY_S (the first at once)."""
        self.dropped += 1
        self._dropped_unsaid += 1
        now = time.monotonic()
        if now - self._dropped_said >= DROPPED_EVERY_S:
            log.warning("MQTT: %d message(s) dropped: more arrive than the collector can read (%d waiting at "
                        "most; %d dropped since start); said at most once a minute",
                        self._dropped_unsaid, MAX_QUEUED, self.dropped)
            self._dropped_unsaid, self._dropped_said = 0, now


async def _ask_getall(client: aiomqtt.Client, mac: str, which: str) -> None:
    """Ask a gateway to publish every register now."""
    await client.publish(f"{mac}/HP/CMD", b"GETALL")
    log.debug("Sent GETALL to %s %s", which, mac)


def _payload(p: object) -> bytes:
    if isinstance(p, (bytes, bytearray)):
        return bytes(p)
    return str(p).encode() if p is not None else b""


def _no_mqtt5(exc: Exception) -> bool:
    """The broker refused the MQTT 5 CONNECT itself (a 3.1.1-only broker)."""
    text = str(exc).lower()
    return "protocol version" in text or "unsupported protocol" in text or "code:132" in text


def _cause(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if "Name or service not known" in text or "Temporary failure in name resolution" in text:
        return "host name not found"
    if "Not authorized" in text or "Bad user name or password" in text or "code:5" in text or "code:4" in text \
            or "code:134" in text or "code:135" in text:
        return f"the broker rejected the username/password ({text})"
    return text or type(exc).__name__


def now_ms() -> int:
    return int(time.time() * 1000)
