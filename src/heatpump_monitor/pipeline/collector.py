"""The API collector: every tick of the grid, poll every gateway concurrently, decode each
answer with its brand's provider, and hand one snapshot per gateway to the writer.

Like Home Assistant's update coordinator: one fetch feeds every register of a gateway.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from ..model import Snapshot
from ..providers import CONTROLLER_FAMILIES, BRANDS, DecodedPoll, Provider, brand_for_h1ver
from ..providers.registry import MAX_UNKNOWN_STORED
from ..providers.overrides import NO_OVERRIDES, Providers, RegisterOverrides
from ..sources.api import ApiClient, FetchError
from ..sources.gateway import GatewayAddress
from ..logs import cause_kind
from .contract import CollectorStats
from .grid import Ticker
from .writer import Writer

log = logging.getLogger("heatpump_monitor.collector")

#: At most this many lines per poll and kind (unknown registers, dropped values); the rest is
#: summed up in one line. A gateway (or something posing as one) may send 65,536 registers.
LINES_PER_POLL = 10
#: (register, kind) pairs remembered per gateway as "already warned"
MAX_WARNED = 4096
#: While a gateway keeps failing with the same kind of cause, a reminder line this often
REMIND_S = 600
#: Requests in flight at most. Enough for 10,000 gateways at a 30 s interval when each answers
#: within 1.5 s (512 / 1.5 s x 30 s); few enough that, with the CPU saturated (~0.2 ms per poll),
#: a request waits ~0.1 s for the event loop, far inside its timeout.
MAX_IN_FLIGHT = 512


class FatalError(Exception):
    """Stops the collector with exit code 1 (e.g. no gateway has a usable brand)."""


@dataclass
class GatewayState:
    address: GatewayAddress
    provider: Provider | None = None
    disabled: str = ""  # reason, when this gateway can never be decoded
    warned: set[tuple[str, str]] = field(default_factory=set)  # (register, cause) already warned
    absent: set[str] = field(default_factory=set)  # registers already reported as "no sensor"
    polls_ok: int = 0
    polls_failed: int = 0
    last_error: str = ""
    # the outage in progress: its kind of cause, when it began, when it was last said, polls lost
    failing_kind: str = ""
    failing_since: float = 0.0
    reminded: float = 0.0
    failed_in_outage: int = 0


class ApiCollector:
    source = "api"

    def __init__(self, gateways: list[GatewayAddress], brand: str, interval_s: int, writer: Writer,
                 client: ApiClient, store_unknown: bool = False,
                 clock: Callable[[], float] = time.time, heartbeat_file: str = "",
                 registers: RegisterOverrides = NO_OVERRIDES) -> None:
        self.writer = writer
        self.providers = Providers(registers)  # the shipped data plus CONFIG_FILE's overrides
        self.client = client
        self.brand = brand
        self.store_unknown = store_unknown
        self.stats = CollectorStats()
        self.gateways = [GatewayState(g) for g in gateways]
        if brand != "auto":
            provider = self.providers.get(brand)
            for g in self.gateways:
                g.provider = provider
        self._unknown_logged: set[tuple[str, str]] = set()
        self.clock = clock
        self.interval_s = interval_s
        self.ticker = Ticker(interval_s, clock, heartbeat_file)
        #: gateway name -> clock() time of its last successful poll (metrics, /readyz)
        self.last_success: dict[str, float] = {}
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    # ------------------------------------------------------------------ one gateway, one tick

    async def poll(self, gw: GatewayState, tick_ms: int) -> Snapshot | None:
        """One gateway's poll of one tick. Never raises: whatever goes wrong with this gateway
        is its own failed poll, not the end of the tick for the others."""
        try:
            return await self._poll(gw, tick_ms)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug meeting an answer no test imagined
            log.debug("Poll of %s failed", gw.address.name, exc_info=True)
            return self._failed(gw, f"unexpected {type(exc).__name__} while decoding the answer: {_clip(str(exc))}",
                                "internal")

    async def _poll(self, gw: GatewayState, tick_ms: int) -> Snapshot | None:
        if gw.provider is None and not await self._detect_brand(gw):
            return None
        assert gw.provider is not None
        try:
            raw = await self.client.fetch_alldata(gw.address)
        except FetchError as exc:
            return self._failed(gw, str(exc), exc.kind)
        if not raw:
            self.stats.failures["empty"] += 1
            log.warning("No data received from API (gateway %s answered {})", gw.address.name)
            return None
        decoded = gw.provider.decode_poll(raw, store_unknown=self.store_unknown)
        self._report(gw, gw.provider, decoded, raw)
        if not decoded.values:
            return self._failed(gw, f"answer had no valid register values ({len(decoded.rejected)} rejected)",
                                "no_valid_values")
        if gw.failing_kind:
            log.info("Gateway %s answers again (%d poll(s) failed in %s)", gw.address.name,
                     gw.failed_in_outage, _duration(self.clock() - gw.failing_since))
            gw.last_error = gw.failing_kind = ""
        gw.polls_ok += 1
        self.stats.polls_ok += 1
        self.last_success[gw.address.name] = self.clock()
        return Snapshot(gateway=gw.address.name, brand=gw.provider.brand, source=self.source,
                        time_ms=tick_ms, values=decoded.values)

    def _report(self, gw: GatewayState, provider: Provider, decoded: DecodedPoll, raw: dict) -> None:
        """Unknown registers, dropped values and absent sensors, each said once, and at most
        :data:`LINES_PER_POLL` lines of each per poll (a hostile answer could hold 65,536)."""
        brand = provider.brand
        new = list(dict.fromkeys(idx for idx in decoded.unknown if (brand, idx) not in self._unknown_logged))
        if new:
            self._unknown_logged.update((brand, idx) for idx in new)
            shown = ", ".join(new[:LINES_PER_POLL]) + (f" and {len(new) - LINES_PER_POLL} more" if len(new) > LINES_PER_POLL else "")
            stored = ""
            if self.store_unknown:
                stored = "; stored as reg_<INDEX>" + (
                    f" (at most {MAX_UNKNOWN_STORED} per answer)" if len(decoded.unknown) > MAX_UNKNOWN_STORED else "")
            log.warning("Unknown register%s: %s (brand %s, gateway %s%s)", "s" if len(new) > 1 else "",
                        shown, brand, gw.address.name, stored)
        self.stats.values_rejected += len(decoded.rejected)
        said = more = 0
        for idx, value, cause in decoded.rejected:
            kind = cause_kind(cause)
            if (idx, kind) in gw.warned:
                continue
            if said == LINES_PER_POLL or len(gw.warned) >= MAX_WARNED:
                more += 1
                continue
            gw.warned.add((idx, kind))
            said += 1
            log.warning("Dropped value of register %s from %s: %r is invalid (%s); "
                        "the rest of the poll is kept", idx, gw.address.name, _clip(value), cause)
        if more:
            log.warning("Dropped %d more invalid value(s) from %s in this answer", more, gw.address.name)
        for name in decoded.absent:
            if name not in gw.absent:
                gw.absent.add(name)
                reg = provider.by_name(name)
                log.info("Gateway %s: no sensor on %s (register %s sends %r, the 'not installed' value); "
                         "not stored", gw.address.name, name, reg.index if reg else "?",
                         raw.get(reg.index, raw.get(reg.index.lower())) if reg else None)

    def _failed(self, gw: GatewayState, cause: str, kind: str) -> Snapshot | None:
        """Count a failed poll and say it once per outage (like Home Assistant's coordinator):
        the first failure, every change of cause, and a reminder every :data:`REMIND_S`; the
        recovery is one line too. Nothing to store: None."""
        gw.polls_failed += 1
        self.stats.failures[kind] += 1
        gw.last_error = cause
        now = self.clock()
        what = cause_kind(cause)  # the cause without its numbers and quoted text
        if gw.failing_kind != what:  # an outage begins, or its cause changed
            if not gw.failing_kind:
                gw.failing_since, gw.failed_in_outage = now, 0
            gw.failing_kind, gw.reminded = what, now
            gw.failed_in_outage += 1
            log.error("Failed to fetch data from API: %s (gateway %s)", cause, gw.address.name)
            return None
        gw.failed_in_outage += 1
        if now - gw.reminded >= REMIND_S:
            gw.reminded = now
            log.error("Failed to fetch data from API: %s (gateway %s; failing for %s, %d poll(s))", cause,
                      gw.address.name, _duration(now - gw.failing_since), gw.failed_in_outage)
        else:
            log.debug("Failed to fetch data from API: %s (gateway %s)", cause, gw.address.name)
        return None

    async def _detect_brand(self, gw: GatewayState) -> bool:
        if gw.disabled:
            return False
        try:
            code = await self.client.fetch_h1ver(gw.address)
        except FetchError as exc:
            log.error("Cannot detect the brand of gateway %s (HEATPUMP_BRAND=auto): %s; "
                      "retrying next tick", gw.address.name, exc)
            return False
        brand = brand_for_h1ver(code)
        if brand is None:
            family = CONTROLLER_FAMILIES.get(code[:2], "an unknown controller")
            gw.disabled = (f"controller code H1ver={code!r} ({family}) is not supported; "
                           f"set HEATPUMP_BRAND to one of {', '.join(BRANDS)}")
            log.error("Gateway %s: %s. This gateway is not polled.", gw.address.name, gw.disabled)
            return False
        gw.provider = self.providers.get(brand)
        log.info("Gateway %s: detected brand %s from H1ver=%s", gw.address.name, brand, code)
        return True

    # ------------------------------------------------------------------ the tick loop

    async def poll_all(self, tick_ms: int, done: list[Snapshot] | None = None,
                       budget_s: float | None = None) -> list[Snapshot]:
        """Poll every gateway, at most :data:`MAX_IN_FLIGHT` requests at a time (each one's
        timeout starts when it is sent, in ApiClient, so a long queue is not a timeout); each
        snapshot is appended to ``done`` as its poll ends, so the ones already in hand survive a
        cancellation (shutdown) of the slower polls. Polls not done within ``budget_s`` seconds
        are cut and count as failed (timeout): the next tick must not wait for them."""
        done = [] if done is None else done

        async def one(g: GatewayState) -> None:
            async with self._slots:
                snap = await self.poll(g, tick_ms)
            if snap is not None:
                done.append(snap)

        tasks = {asyncio.create_task(one(g)): g for g in self.gateways if not g.disabled}
        if not tasks:
            return done
        try:
            _, late = await asyncio.wait(tasks, timeout=budget_s)
        finally:  # stopped (or cut at the budget): nothing of this tick keeps running
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in late:
            g = tasks[task]
            self._failed(g, f"no answer from {g.address.base_url} before the next tick was due (timeout)", "timeout")
        return done

    async def run(self, stop: asyncio.Event) -> None:
        await self.ticker.run(stop, self._on_tick, "poll")

    def _budget_s(self, tick_ms: int) -> float:
        """Seconds this tick's polls may take: until the next tick is due, less a margin for
        handing the snapshots on. A tick runs at most half an interval late (grid.after)."""
        until_next = tick_ms / 1000 + self.interval_s - self.clock()
        return max(until_next, self.interval_s / 2) - min(1.0, self.interval_s / 10)

    async def _on_tick(self, tick_ms: int) -> None:
        snapshots: list[Snapshot] = []
        try:
            await self.poll_all(tick_ms, snapshots, self._budget_s(tick_ms))
        finally:  # also when stopped mid-tick: polls that succeeded are kept
            if snapshots:
                self.stats.snapshots += len(snapshots)
                self.writer.submit(snapshots)
        if all(g.disabled for g in self.gateways):
            raise FatalError("no gateway can be polled: " + "; ".join(
                f"{g.address.name}: {g.disabled}" for g in self.gateways))

    def summary(self) -> str:
        s = self.stats
        return (f"{self.ticker.ticks} tick(s), {s.polls_ok} poll(s) ok, {s.polls_failed} failed, "
                f"{s.polls_empty} empty, {self.ticker.missed} tick(s) skipped")


def _duration(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s"


def _clip(v: object) -> object:
    s = repr(v)
    return v if len(s) <= 40 else s[:39] + "…"
