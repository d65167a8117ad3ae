"""``heatpump-monitor spool list|replay|discard``: the polls the store refused, which the
writer set aside in the spool file's ``rejected`` table (see :mod:`.writer`).

Safe while the collector runs: it only reads the ``spool`` table and changes the ``rejected``
one in short transactions (:class:`.spool.RejectedTable`). ``replay`` writes through the
collector's own write path (:class:`.writer.Writer`: batches, halving to find refused polls),
so a poll refused again stays in the table with its new cause.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, Sequence

from ..model import Snapshot, iso_ms
from .spool import Entry, RejectedPoll, RejectedTable, SpoolError
from .writer import Writer

log = logging.getLogger("heatpump_monitor.spool")


def add_parser(sub: Any) -> None:
    """The ``spool`` command and its three actions, on the ``heatpump-monitor`` parser."""
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--source", choices=("api", "mqtt"), default="api",
                       help="whose spool: the API collector's (default) or the MQTT collector's")
    where.add_argument("--file", help="the spool file (default: SPOOL_PATH, or <DATA_DIR>/spool-<source>.sqlite3)")
    which = argparse.ArgumentParser(add_help=False)
    which.add_argument("--gateway", help="only the polls of this gateway (its `gateway` tag)")
    which.add_argument("--before", type=_time_arg, metavar="TIME",
                       help="only polls from before TIME (ISO 8601, UTC unless it says: 2026-01-31 or 2026-01-31T12:00Z)")
    p = sub.add_parser("spool", help="list, replay or discard the polls the store refused (the spool's rejected table)")
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("list", parents=[where, which], help="refused polls by gateway and cause, with times and counts")
    a.set_defaults(func=cmd_spool)
    a = actions.add_parser("replay", parents=[where, which],
                           help="write the refused polls to the configured store again; the ones refused again stay")
    a.set_defaults(func=cmd_spool)
    a = actions.add_parser("discard", parents=[where, which], help="delete refused polls (--all, or --gateway/--before)")
    a.add_argument("--all", action="store_true", help="every refused poll")
    a.set_defaults(func=cmd_spool)


def cmd_spool(args: argparse.Namespace) -> int:
    from ..config import env_secrets
    from ..logs import setup_logging

    setup_logging("INFO", secrets=env_secrets())
    if args.action == "discard" and not (args.all or args.gateway or args.before is not None):
        print("error: say which refused polls to discard: --all, --gateway G or --before TIME", file=sys.stderr)
        return 2
    path = args.file or _configured_spool(args.source)
    if not path:
        return 1
    try:
        table = RejectedTable(path)
    except SpoolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        polls = table.select(args.gateway, args.before)
        if args.action == "list":
            return _list(table, polls)
        if args.action == "discard":
            print(f"Discarded {table.delete([p.key for p in polls])} refused poll(s) from {table.path}")
            return 0
        return _replay(table, polls)
    except SpoolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        table.close()


def _configured_spool(source: str) -> str:
    """The spool file the collector of ``source`` uses, from the same variables; "" after an
    error line."""
    from ..config import ConfigError, load_collector_config, load_mqtt_config

    try:
        cfg = load_mqtt_config() if source == "mqtt" else load_collector_config()
    except ConfigError as exc:
        for line in exc.lines:
            print(f"error: {line} (or give the spool file with --file)", file=sys.stderr)
        return ""
    if not cfg.spool_path:
        print("error: no spool file (SPOOL_MAX_MB=0): refused polls were kept in memory only, "
              "and are gone with the collector", file=sys.stderr)
    return cfg.spool_path


def _list(table: RejectedTable, polls: list[RejectedPoll]) -> int:
    print(f"Spool {table.path}: {table.waiting()} poll(s) waiting to be written, "
          f"{len(polls)} refused by the store{' (selected)' if polls else ''}")
    if not polls:
        return 0
    groups: dict[tuple[str, str], list[RejectedPoll]] = defaultdict(list)
    for p in polls:
        groups[(p.gateway, p.cause)].append(p)
    rows = [("gateway", "first", "last", "count", "cause")]
    for (gateway, cause), group in sorted(groups.items(), key=lambda kv: kv[1][0].time_ms):
        rows.append((gateway, iso_ms(group[0].time_ms), iso_ms(group[-1].time_ms), str(len(group)), cause))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[4])
    return 0


def _replay(table: RejectedTable, polls: list[RejectedPoll]) -> int:
    from ..config import ConfigError, load_store_config
    from ..stores import make_sink

    readable = [p for p in polls if p.snapshot is not None]
    if len(readable) < len(polls):
        print(f"{len(polls) - len(readable)} unreadable row(s) are not replayed (discard them)", file=sys.stderr)
    if not readable:
        print(f"Nothing to replay from {table.path}")
        return 0 if not polls else 1
    try:
        store = load_store_config()
    except ConfigError as exc:
        for line in exc.lines:
            print(f"error: {line}", file=sys.stderr)
        return 1
    replaying = _Replaying(table, readable)
    sink = make_sink(store)

    async def write() -> bool:
        try:
            return await Writer(sink, replaying).flush()
        finally:
            await sink.close()

    finished = asyncio.run(write())
    left = len(readable) - replaying.written - len(replaying.refused)
    print(f"Replayed {len(readable)} refused poll(s) to {sink.description}: {replaying.written} written, "
          f"{len(replaying.refused)} refused again (kept, with the new cause)"
          + ("" if finished else f", {left} not tried: the store failed (see above); run replay again"))
    return 0 if finished and not replaying.refused else 1


class _Replaying:
    """The selected rows of the rejected table as the writer's spool: a written poll leaves the
    table, a poll refused again stays with its new cause."""

    description = "the spool's rejected table"
    dropped = 0
    bytes = 0

    def __init__(self, table: RejectedTable, polls: list[RejectedPoll]) -> None:
        self.table = table
        self.todo = [Entry(p.key, p.snapshot) for p in polls if p.snapshot is not None]
        self.written = 0
        self.refused: set[int] = set()

    @property
    def depth(self) -> int:
        return len(self.todo)

    def append(self, snapshots: Sequence[Snapshot]) -> None:
        raise AssertionError("nothing is submitted while replaying")  # the writer only flushes

    def head(self, n: int) -> list[Entry]:
        return self.todo[:n]

    def ack(self, entries: Sequence[Entry]) -> None:
        done = {e.key for e in entries}
        written = [k for k in done if k not in self.refused]
        self.table.delete(written)
        self.written += len(written)
        self.todo = [e for e in self.todo if e.key not in done]

    def reject(self, entry: Entry, cause: str) -> None:
        self.refused.add(entry.key)
        self.table.set_cause(entry.key, cause)

    def close(self) -> None:
        pass


def _time_arg(text: str) -> int:
    """--before: an ISO 8601 date or time (UTC unless it names an offset), as Unix ms."""
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date or time, e.g. 2026-01-31T12:00Z") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return int(t.timestamp() * 1000)
