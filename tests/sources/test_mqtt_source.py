"""MqttSource against a real Mosquitto: messages handed on, GETALL sent, stop honoured."""

import asyncio

import paho.mqtt.publish as publish
import pytest
from pydantic import SecretStr

from heatpump_monitor.config import MqttSettings
from heatpump_monitor.sources.mqtt import MqttSource

from ..servers import start_mosquitto

pytestmark = pytest.mark.realserver
MAC = "cd4dee258efa"


def settings(port, mac=MAC):
    return MqttSettings(broker="127.0.0.1", port=port, username="", password=SecretStr(""), client_id="",
                        tls=False, ca_file="", mac=mac, gateway_name="", timestamp_mode="snapshot",
                        getall_interval_s=600, silent_limit_s=300)


def test_messages_getall_and_stop(tmp_path):
    broker = start_mosquitto(tmp_path)
    got = []

    async def go():
        stop = asyncio.Event()
        src = MqttSource(settings(broker.port), lambda t, p: got.append((t, p)), lambda: [])
        task = asyncio.create_task(src.run(stop))
        while not src.connected:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(publish.single, f"{MAC}/HP/0007", b"65483", hostname="127.0.0.1", port=broker.port)
        await asyncio.to_thread(publish.single, "aabbccddeeff/HP/0007", b"1", hostname="127.0.0.1", port=broker.port)
        for _ in range(200):
            if (f"{MAC}/HP/0007", b"65483") in got:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)  # returns on stop while reading messages
        return src

    try:
        src = asyncio.run(go())
    finally:
        broker.stop()
    assert (f"{MAC}/HP/CMD", b"GETALL") in got  # our own GETALL on connect, seen on <mac>/HP/+
    assert (f"{MAC}/HP/0007", b"65483") in got
    assert all(t.startswith(MAC) for t, _ in got)  # subscribed to this gateway only
    assert src.connects == 1 and not src.connected
