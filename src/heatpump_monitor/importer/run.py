"""One import: chunks of the old database -> aligned snapshots -> the store, with a checkpoint
after each chunk and a coverage report at the end (see the package's docstring for the rules)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import sys
from array import array
from dataclasses import dataclass, field
from typing import Any, TextIO

from ..config import StoreConfig
from ..errors import display_url
from ..masking import Secrets
from ..model import Snapshot, iso_ms
from ..providers import Provider
from ..stores import describe, make_reader, make_sink
from ..stores.base import ReaderError, SinkError, Sink
from ..verify import GAPS_SHOWN, Report, SourceReport, _gaps, grid, render
from . import checkpoint
from .align import Aligner, quiet_snapshotter_log
from .source import ImportSourceError, OldDatabase, TallReader

#: snapshots per store write (a day at 30 s is 2,880: a few writes per chunk)
WRITE_BATCH = 500
#: unknown register ids named in the report (the rest summed)
UNKNOWN_SHOWN = 10


class ImportFailed(Exception):
    """The import cannot go on; the message is one line without secrets."""


@dataclass
class ImportJob:
    old: OldDatabase
    store: StoreConfig
    provider: Provider
    gateway: str
    source: str
    since_ms: int
    until_ms: int
    interval_ms: int
    silent_limit_ms: int
    chunk_ms: int
    data_dir: str
    store_unknown: bool = False
    rescale: dict[str, float] = field(default_factory=dict)
    restart: bool = False
    max_chunks: int | None = None  # stop after this many chunks (tests: an interruption)

    def settings(self) -> dict[str, Any]:
        """What shapes the stored result: a checkpoint of other settings is not resumed. No secret."""
        return {"gateway": self.gateway, "source": self.source, "brand": self.provider.brand,
                "since_ms": self.since_ms, "interval_ms": self.interval_ms,
                "silent_limit_ms": self.silent_limit_ms, "store_unknown": self.store_unknown,
                "rescale": sorted(self.rescale.items()), "store": describe(self.store),
                "registers": sorted((r.index, r.name) for r in self.provider.registers.values())}


def run_import(job: ImportJob, out: TextIO | None = None, err: TextIO | None = None,
               reader: TallReader | None = None) -> int:
    """The whole import; 0 when done (or stopped after ``max_chunks``), 1 with one line on
    ``err`` when it cannot go on."""
    out, err = out or sys.stdout, err or sys.stderr
    secrets = Secrets([job.old.password, job.old.token], [(job.old.username, job.old.password)])
    logger, level = quiet_snapshotter_log()
    try:
        return asyncio.run(_run(job, out, err, reader or TallReader(job.old)))
    except (ImportFailed, ImportSourceError, SinkError, ReaderError) as exc:
        err.write(f"error: {secrets.mask(str(exc))}\n")
        return 1
    except (OSError, sqlite3.Error) as exc:
        err.write(f"error: {secrets.mask(f'{type(exc).__name__}: {exc}')}\n")
        return 1
    finally:
        logger.setLevel(level)


def _same_database(job: ImportJob) -> bool:
    s = job.store  # an embedded store has no URL; a 1.x store no bucket, a 2.x one no database
    if not s.url or display_url(s.url) != display_url(job.old.url):
        return False
    return (s.bucket or s.database) == job.old.name


async def _run(job: ImportJob, out: TextIO, err: TextIO, reader: TallReader) -> int:
    from .progress import Progress

    if _same_database(job):
        raise ImportFailed(f"the store is the database being imported from ({job.old.description()}): "
                           "import into another database or bucket (the two schemas share the measurement)")
    try:
        ids = reader.registers()
        if not ids:
            raise ImportFailed(f"{job.old.description()} has no points of measurement 'heatpump' with a "
                               "'register_id' tag: is it the old collector's database?")
        path = checkpoint.checkpoint_path(job.data_dir, job.old.url, job.old.name)
        settings = job.settings()
        cp = None if job.restart else checkpoint.load(path, settings)
        warm_from = job.since_ms - job.chunk_ms  # the warm-up window: one chunk before --since
        aligner = Aligner(job.provider, job.gateway, job.source, job.interval_ms, job.silent_limit_ms,
                          warm_from if cp is None else job.since_ms, job.store_unknown, job.rescale)
        start = job.since_ms
        if cp is None:
            aligner.warm_up(reader.last_points(warm_from), reader.points(warm_from, job.since_ms), job.since_ms)
        else:
            aligner.restore(cp["state"])
            start = int(cp["done_until_ms"])
            err.write(f"import: resuming at {iso_ms(start)} ({path})\n" if start < job.until_ms else
                      f"import: already imported up to {iso_ms(start)} ({path}); --restart imports again\n")
        sink = make_sink(job.store, timeout_s=30.0)
        try:
            await sink.check()
            err.write(f"import: {job.old.description()} -> {sink.description}, gateway {job.gateway}, "
                      f"source {job.source}, {iso_ms(job.since_ms)} .. {iso_ms(job.until_ms)}\n")
            chunks = _chunks(start, job.until_ms, job.chunk_ms)
            progress = Progress(len(chunks), err)
            for n, (a, b) in enumerate(chunks, 1):
                if job.max_chunks is not None and n > job.max_chunks:
                    progress.done()
                    err.write(f"import: stopped after {job.max_chunks} chunk(s) at {iso_ms(a)}; "
                              "run the same command again to continue\n")
                    return 0
                points = reader.points(a, b)
                await _write_chunk(sink, aligner, points, b)
                checkpoint.save(path, job.old.description(), settings, b, aligner.state())
                progress.chunk(n, a, b, len(points), aligner.counts.snapshots)
            progress.done()
        finally:
            await sink.close()
    finally:
        reader.close()
    report = coverage(job)
    out.write(summary(job, aligner) + "\n\n" + report + "\n")
    return 0


def _chunks(start: int, end: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(a + size, end)) for a in range(start, end, size)]


async def _write_chunk(sink: Sink, aligner: Aligner, points: list, end_ms: int) -> None:
    """The chunk's snapshots, written in batches; only then may the checkpoint move past it."""
    batch: list[Snapshot] = []
    for snaps in (aligner.feed(points), aligner.until(end_ms)):
        for s in snaps:
            batch.append(s)
            if len(batch) >= WRITE_BATCH:
                await sink.write(batch)
                batch = []
    if batch:
        await sink.write(batch)


def summary(job: ImportJob, aligner: Aligner) -> str:
    c = aligner.counts
    lines = [f"Imported {job.old.description()} into {describe(job.store)}: gateway {job.gateway}, "
             f"source {job.source}, brand {job.provider.brand}",
             f"Points read: {c.points}; used: {c.taken}; dropped as implausible: {c.rejected}; "
             f"without a register id or a number: {c.bad}",
             f"Snapshots written: {c.snapshots} (every {job.interval_ms // 1000} s)"]
    if job.rescale:
        factors = ", ".join(f"{idx} x{f:g}" for idx, f in sorted(job.rescale.items()))
        lines.append(f"Rescaled: {c.rescaled} points ({factors})")
    unknown_points = sum(c.unknown.values()) + c.unknown_other
    if unknown_points:
        top = sorted(c.unknown.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ", ".join(f"{idx} ({n})" for idx, n in top[:UNKNOWN_SHOWN])
        more = len(top) - UNKNOWN_SHOWN
        what = ("stored as reg_<id> (STORE_UNKNOWN_REGISTERS)" if job.store_unknown else
                "not stored; STORE_UNKNOWN_REGISTERS=true stores them as reg_<id>")
        lines.append(f"Unknown register ids for brand {job.provider.brand}, {what}: {shown}"
                     + (f" and {more} more" if more > 0 else "")
                     + (f"; {c.unknown_other} more points of further ids" if c.unknown_other else ""))
    return "\n".join(lines)


def coverage(job: ImportJob) -> str:
    """verify's report of the imported window, read back from the store a chunk at a time
    (bounded memory: the tick times and register counts, not the snapshots)."""
    reader = make_reader(job.store)
    present, counts = array("q"), array("H")
    off_grid = 0
    try:
        for a, b in _chunks(job.since_ms, job.until_ms, job.chunk_ms):
            for s in reader.snapshots(job.gateway, a, b, source=job.source):
                if s.time_ms % job.interval_ms:
                    off_grid += 1
                    continue
                present.append(s.time_ms)
                counts.append(min(len(s.values), 65535))
    finally:
        reader.close()
    first, n = grid(job.since_ms, job.until_ms, job.interval_ms)
    ticks = present  # in time order, one per tick: chunks in order, one row per (gateway, source, time)
    own_first, own_n = (grid(ticks[0], job.until_ms, job.interval_ms) if ticks else (first, n))
    sorted_counts = sorted(counts)
    median = None
    if sorted_counts:
        mid = len(sorted_counts) // 2
        median = float(sorted_counts[mid]) if len(sorted_counts) % 2 else (sorted_counts[mid - 1] + sorted_counts[mid]) / 2
    src = SourceReport(
        gateway=job.gateway, source=job.source, brand=job.provider.brand, expected=own_n, present=len(ticks),
        snapshots=len(present) + off_grid, off_grid=off_grid, first_ms=ticks[0] if ticks else None,
        last_ms=ticks[-1] if ticks else None, registers_min=sorted_counts[0] if sorted_counts else None,
        registers_median=median, registers_max=sorted_counts[-1] if sorted_counts else None,
        gaps=_gaps(ticks, own_first, own_n, job.interval_ms), not_collecting=n - own_n,
        started_ms=ticks[0] if ticks and own_first != first else None)
    if not ticks:
        return f"Coverage of the imported window: no snapshots of gateway {job.gateway} ({job.source}) stored"
    report = Report(start_ms=job.since_ms, end_ms=job.until_ms, interval_ms=job.interval_ms, first_tick_ms=first,
                    expected=n, sources=[src])
    text = render(report).rsplit("\n", 2)[0]  # verify's OK/FAIL verdict: no threshold applies here
    text = re.sub(r" \(the current tick from [^)]*\)", "", text, count=1)  # --until is not a live tick
    gaps = len(src.gaps)
    return (f"Coverage of the imported window (as `heatpump-monitor verify` reports it; the {GAPS_SHOWN} largest "
            f"gaps shown; a gap is where the old collector wrote nothing for longer than the silent limit):\n"
            f"{text}\n\n{src.present} of {src.expected} ticks present ({src.coverage:.2f}%), {gaps} gap(s)")
