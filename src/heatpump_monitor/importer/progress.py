"""Progress on stderr: a bar redrawn in place on a terminal, one plain line per chunk otherwise
(a log file or CI gets no carriage returns)."""

from __future__ import annotations

import sys
from typing import TextIO

from ..model import iso_ms

BAR = 30


class Progress:
    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = max(1, total)
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._drawn = False

    def chunk(self, done: int, start_ms: int, end_ms: int, points: int, snapshots: int) -> None:
        span = f"{iso_ms(start_ms)[:16]}Z..{iso_ms(end_ms)[:16]}Z"
        if self.tty:
            filled = BAR * done // self.total
            self.stream.write(f"\r[{'#' * filled}{'.' * (BAR - filled)}] {done}/{self.total} chunks, up to "
                              f"{iso_ms(end_ms)[:16]}Z: {snapshots} snapshots\x1b[K")
            self._drawn = True
        else:
            self.stream.write(f"import: chunk {done}/{self.total} {span}: {points} points, "
                              f"{snapshots} snapshots in all\n")
        self.stream.flush()

    def done(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
