"""Gateway addresses: H66_IP may be "192.168.1.100", "h66.local:8080" or a comma list."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_HOST = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+)(?::([0-9]{1,5}))?$")  # ASCII digits only


@dataclass(frozen=True, slots=True)
class GatewayAddress:
    name: str  # as the user wrote it (without scheme); the `gateway` tag
    base_url: str  # e.g. http://192.168.1.100:8080


def parse_gateway(text: str) -> GatewayAddress:
    t = text.strip()
    scheme = "http"
    for prefix in ("http://", "https://"):
        if t.lower().startswith(prefix):
            scheme, t = prefix[:-3], t[len(prefix):]
    t = t.rstrip("/")
    m = _HOST.match(t)
    if not m:
        raise ValueError(f"{text.strip()!r} is not a host or host:port (e.g. 192.168.1.100 or 192.168.1.100:8080)")
    port = m.group(2)
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError(f"port {port} outside 1..65535")
    return GatewayAddress(name=t, base_url=f"{scheme}://{t}")


def parse_gateways(value: str) -> list[GatewayAddress]:
    parts = [p for p in value.split(",") if p.strip()]
    if not parts:
        raise ValueError("no gateway address given")
    gws = [parse_gateway(p) for p in parts]
    dup = {n for n, k in Counter(g.name for g in gws).items() if k > 1}
    if dup:
        raise ValueError(f"gateway listed twice: {', '.join(sorted(dup))}")
    return gws
