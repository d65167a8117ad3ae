"""MQTT source: subscribes to ``<mac>/HP/+`` with aiomqtt and hands every message on.

Reconnects with capped exponential backoff when the broker is down or restarts, and logs one
line per state change (not per attempt). Asks gateways for all their registers (``GETALL`` on
``<mac>/HP/CMD``) on every connect and every ``getall_interval_s``; when no MAC is configured it
does so for each MAC seen. A gateway gone silent (e.g. it reconnected to a restarted broker after
our GETALL, and publishes only changes) is asked again every ``min(30 s, silent limit)``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Callable

import aiomqtt

from ..config import MqttSettings

log = logging.getLogger("heatpump_monitor.mqtt")

BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 30.0
SILENT_ASK_MAX_S = 30.0


class MqttSource:
    def __init__(self, settings: MqttSettings, on_message: Callable[[str, bytes], None],
                 macs_to_query: Callable[[], list[str]],
                 silent_macs: Callable[[], list[str]] = lambda: []) -> None:
        self.s = settings
        self.on_message = on_message
        self.macs_to_query = macs_to_query  # MACs seen so far (used when none is configured)
        self.silent_macs = silent_macs  # gateways to ask again: silent, or configured and never seen
        self.topic = f"{settings.mac}/HP/+" if settings.mac else "+/HP/+"
        self.connected = False
        self.connects = 0
        self._asked: set[str] = set()
        self._client: aiomqtt.Client | None = None

    @property
    def where(self) -> str:
        return f"{self.s.broker}:{self.s.port}"

    def _make_client(self) -> aiomqtt.Client:
        tls = ssl.create_default_context(cafile=self.s.ca_file or None) if self.s.tls else None
        return aiomqtt.Client(self.s.broker, self.s.port, username=self.s.username or None,
                              password=self.s.password.get_secret_value() or None,
                              identifier=self.s.client_id or None, tls_context=tls,
                              keepalive=30, timeout=10)

    async def run(self, stop: asyncio.Event) -> None:
        backoff = BACKOFF_START_S
        last_error = ""
        while not stop.is_set():
            try:
                async with self._make_client() as client:
                    self._client = client
                    await client.subscribe(self.topic, qos=0)
                    self.connected = True
                    self.connects += 1
                    log.info("Connected to MQTT broker %s; subscribed to %s", self.where, self.topic)
                    last_error, backoff = "", BACKOFF_START_S
                    self._asked.clear()
                    await self._getall(client, initial=True)
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
        async for message in client.messages:
            self.on_message(str(message.topic), _payload(message.payload))
            if not self.s.mac:
                await self._getall(client)  # a MAC seen for the first time

    async def _getall(self, client: aiomqtt.Client, initial: bool = False) -> None:
        macs = [self.s.mac] if self.s.mac else self.macs_to_query()
        for mac in macs:
            if mac in self._asked and not initial:
                continue
            self._asked.add(mac)
            await client.publish(f"{mac}/HP/CMD", b"GETALL")
            log.debug("Sent GETALL to %s", mac)

    async def _getall_every(self, client: aiomqtt.Client) -> None:
        while True:
            await asyncio.sleep(self.s.getall_interval_s)
            self._asked.clear()
            try:
                await self._getall(client, initial=True)
            except aiomqtt.MqttError:
                return  # the connection loop handles it


    async def _ask_silent(self, client: aiomqtt.Client) -> None:
        every = min(SILENT_ASK_MAX_S, float(self.s.silent_limit_s))
        while True:
            await asyncio.sleep(every)
            try:
                for mac in self.silent_macs():
                    await client.publish(f"{mac}/HP/CMD", b"GETALL")
                    log.debug("Sent GETALL to silent gateway %s", mac)
            except aiomqtt.MqttError:
                return  # the connection loop handles it


def _payload(p: object) -> bytes:
    if isinstance(p, (bytes, bytearray)):
        return bytes(p)
    return str(p).encode() if p is not None else b""


def _cause(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if "Name or service not known" in text or "Temporary failure in name resolution" in text:
        return "host name not found"
    if "Not authorized" in text or "Bad user name or password" in text or "code:5" in text or "code:4" in text:
        return f"the broker rejected the username/password ({text})"
    return text or type(exc).__name__


def now_ms() -> int:
    return int(time.time() * 1000)
