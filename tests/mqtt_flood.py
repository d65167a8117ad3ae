"""A hostile MQTT publisher, for the flood regression test and bench/bench_mqtt_flood.py: as
fast as the broker takes them, valid values on random ``<mac>/HP/0001`` topics (issue 10's
attack), retained ones, MACs too long (up to 60,000 characters), not hex, with spaces, commas,
equals signs or a trailing backslash, and garbage payloads.

    start_flood(port)                      # until killed; reports progress in ``counter``
    start_flood(port, messages=30_000)     # then prints its seconds on stdout and ends
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import random, sys, time
import paho.mqtt.client as mqtt
port, n, seed, counter = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = random.Random(seed)
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="flood-%d" % seed)
c.max_queued_messages_set(0)
c.connect("127.0.0.1", port)
c.loop_start()
t0 = time.monotonic()
i = 0
while n == 0 or i < n:
    r = rng.random()
    mac = "%012x" % rng.getrandbits(48)
    retain = False
    if r < 0.80:
        topic, payload = f"{mac}/HP/0001", str(rng.randint(-300, 400))
    elif r < 0.85:
        topic, payload, retain = f"{mac}/HP/0007", str(rng.randint(-300, 400)), True
    elif r < 0.88:
        topic, payload = mac * rng.randint(2, 250) + "/HP/0001", "215"
    elif r < 0.91:
        topic, payload = "zz" + mac[2:] + "/HP/0001", "215"
    elif r < 0.94:
        topic, payload = mac[:6] + " a,b=c" + mac[6:] + "/HP/0001", "215"
    elif r < 0.97:
        topic, payload = mac + "\\/HP/0001", "215"
    else:
        topic, payload = f"{mac}/HP/0009", rng.choice(["abc", "", "9" * 50, "1e3", "27,5"])
    if i % 10000 == 5000:
        topic = "a" * 60000 + "/HP/0001"   # the issue's 60,000-character MAC
    c.publish(topic, payload, retain=retain)
    i += 1
    if i % 1000 == 0:
        while len(c._out_packet) > 20000:
            time.sleep(0.001)
        if counter:
            with open(counter, "w") as f:
                f.write(str(i))
while c._out_packet:
    time.sleep(0.01)
print(time.monotonic() - t0, flush=True)
c.loop_stop(); c.disconnect()
"""


def start_flood(port: int, *, messages: int = 0, seed: int = 10, counter: Path | None = None,
                stdout: int | None = None) -> subprocess.Popen:
    """The publisher in a process of its own: ``messages`` of them (0: until killed)."""
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(port), str(messages), str(seed),
                             str(counter or "")], stdout=stdout, text=True)
