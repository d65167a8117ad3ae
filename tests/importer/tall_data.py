"""A week of the old collector's tall schema, made from the simulator's model: what the upstream
MQTT collector stored for a Thermia whose gateway publishes each register when it changes.

* the model is sampled every minute; each changed register is one point at the sample's minute
  plus a jitter (its own moment, milliseconds), tags ``register_id``/``name``/``type``/``unit``,
  field ``value`` already scaled;
* every register is published at the start and after the 20-minute outage (the gateway's
  reconnect), not after the others;
* 2% of the messages are lost at random, and the gateway is silent for 3 minutes (below the
  300 s silent limit), 7 minutes (above it, below twice it: values held over the gap),
  20 minutes and 3 hours (forgotten: after the 3 hours a register that never changes is gone);
* ``5FAB`` (energy) is stored x10, a factor the old collector had wrong; ``0A99``, a register
  Thermia's provider does not know, is published every ten minutes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from heatpump_monitor.providers import load_provider
from heatpump_monitor.simulator.model import PumpModel

T0_S = 1767225600  # 2026-01-01T00:00:00Z
DAY_S = 86400
WEEK_S = 7 * DAY_S
SAMPLE_S = 60
BRAND = "thermia"
WRONG_FACTOR_ID = "5FAB"
WRONG_FACTOR = 10.0
UNKNOWN_ID = "0A99"
CONSTANT_NAME = "heat_curve"  # 0205: never changes, so published only with a full publish
#: (start, length) of each silence, seconds after T0
OUTAGES = {"short": (DAY_S + 10 * 3600, 180), "held": (2 * DAY_S + 12 * 3600, 420),
           "gap": (3 * DAY_S + 3 * 3600, 1200), "forgotten": (5 * DAY_S + 14 * 3600, 3 * 3600)}
FULL_PUBLISH_AFTER = ("gap",)
LOSS = 0.02


@dataclass(frozen=True)
class OldPoint:
    time_ms: int
    register_id: str
    name: str
    kind: str
    unit: str
    value: float

    def line(self) -> str:
        unit = f",unit={self.unit.replace(' ', '_')}" if self.unit else ""
        return (f"heatpump,register_id={self.register_id},name={self.name},type={self.kind}{unit} "
                f"value={float(self.value)!r} {self.time_ms}")


def _silent(t: float) -> str | None:
    for name, (start, length) in OUTAGES.items():
        if T0_S + start <= t < T0_S + start + length:
            return name
    return None


def week(seed: int = 7, days: int = 7) -> list[OldPoint]:
    """The points, in time order."""
    provider = load_provider(BRAND)
    end = T0_S + days * DAY_S
    model = PumpModel(BRAND, seed=seed, clock=lambda: end, start=end, history=days * DAY_S + 3600)
    rng = random.Random(seed)
    regs = provider.registers
    last: dict[str, float] = {}
    points: list[OldPoint] = []
    full = True
    was_silent: str | None = None
    for t in range(T0_S, end, SAMPLE_S):
        silent = _silent(t)
        if silent:
            was_silent = silent
            continue
        if was_silent:
            full = was_silent in FULL_PUBLISH_AFTER
            was_silent = None
        values = model.values(t)
        for idx, reg in regs.items():
            if reg.name not in values:
                continue
            v = values[reg.name]
            if not full and last.get(idx) == v:
                continue
            last[idx] = v
            if rng.random() < LOSS and not full:
                continue
            if idx == WRONG_FACTOR_ID:
                v = v * WRONG_FACTOR
            at = t * 1000 + rng.randrange(0, SAMPLE_S * 1000 - 1000)
            points.append(OldPoint(at, idx, reg.name, reg.kind if hasattr(reg, "kind") else "sensor",
                                   reg.unit, v))
        if (t - T0_S) % 600 == 0:
            points.append(OldPoint(t * 1000 + 500, UNKNOWN_ID, "mystery", "sensor", "", 1.0))
        full = False
    points.sort(key=lambda p: p.time_ms)
    return points
