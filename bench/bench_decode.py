#!/usr/bin/env python3
"""(a) decode + serialize cost of one full poll vs json.loads of the same payload;
(c) bytes of line protocol per poll.

    .venv/bin/python bench/bench_decode.py

Prints figures; asserts nothing (targets: decode+serialize <= 5x json.loads; <= 1.5 KB per
40-register poll)."""

from __future__ import annotations

import json
import timeit

from heatpump_monitor.model import Snapshot
from heatpump_monitor.providers import BRANDS, load_provider
from heatpump_monitor.simulator.model import PumpModel
from heatpump_monitor.stores.influx.lineproto import to_line

T = 1_764_324_030_000


def per_call_us(fn, number: int) -> float:
    best = min(timeit.repeat(fn, number=number, repeat=5))
    return best / number * 1e6


def main() -> None:
    print(f"{'brand':8} {'regs':>4} {'json.loads':>11} {'decode':>8} {'serialize':>10} "
          f"{'dec+ser':>8} {'ratio':>6} {'line bytes':>10} {'bytes/40 regs':>13}")
    for brand in BRANDS:
        provider = load_provider(brand)
        raw = PumpModel(brand, seed=1).raw_alldata()
        payload = json.dumps(raw)
        parsed = json.loads(payload)
        decoded = provider.decode_poll(parsed)
        snap = Snapshot("192.168.1.100", brand, "api", T, decoded.values)
        line = to_line(snap)

        n = 20_000
        t_json = per_call_us(lambda: json.loads(payload), n)
        t_dec = per_call_us(lambda: provider.decode_poll(parsed), n)
        t_ser = per_call_us(lambda: to_line(Snapshot("192.168.1.100", brand, "api", T, decoded.values)), n)
        both = t_dec + t_ser
        size = len(line.encode())
        per40 = size / len(decoded.values) * 40
        print(f"{brand:8} {len(decoded.values):>4} {t_json:>9.1f}us {t_dec:>6.1f}us {t_ser:>8.1f}us "
              f"{both:>6.1f}us {both / t_json:>5.1f}x {size:>10} {per40:>13.0f}")
    print("\nratio = (decode + serialize) / json.loads of the same /api/alldata payload")


if __name__ == "__main__":
    main()
