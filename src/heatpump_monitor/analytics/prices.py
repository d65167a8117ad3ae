"""Electricity prices: a flat PRICE_PER_KWH, or a price series from a CSV file (spot-price
exports: one row per hour or quarter-hour), each price holding from its time to the next row's
(at most a day; beyond, and before the first row, the flat price applies)."""

from __future__ import annotations

import bisect
import csv
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

#: the file is read whole: bounded (a year of quarter-hours is 35,040 rows)
MAX_PRICE_FILE_BYTES = 20_000_000
MAX_HOLD_MS = 86_400_000


class PriceFileError(ValueError):
    """The price file cannot be used; the message names the file and the row."""


@dataclass(frozen=True)
class Prices:
    flat: float
    currency: str
    times: tuple[int, ...] = ()
    values: tuple[float, ...] = ()
    source: str = "flat"  # "flat" or the file's name

    def mean(self, start_ms: int, end_ms: int) -> float:
        """The time-weighted price over [start, end): each row's price from its time to the
        next row's (at most MAX_HOLD_MS), the flat price elsewhere."""
        if not self.times or end_ms <= start_ms:
            return self.flat
        total = self.flat * (end_ms - start_ms)
        first = max(0, bisect.bisect_right(self.times, start_ms) - 1)
        last = bisect.bisect_left(self.times, end_ms)
        for i in range(first, last):
            t0 = self.times[i]
            t1 = min(self.times[i + 1] if i + 1 < len(self.times) else t0 + MAX_HOLD_MS, t0 + MAX_HOLD_MS)
            overlap = min(t1, end_ms) - max(t0, start_ms)
            if overlap > 0:
                total += (self.values[i] - self.flat) * overlap
        return total / (end_ms - start_ms)


def _time(text: str, tz: ZoneInfo) -> int:
    text = text.strip()
    if text.replace(".", "", 1).isdigit():
        return int(float(text) * 1000)  # epoch seconds
    dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)  # a local time, as spot-price exports often are
    return int(dt.timestamp() * 1000)


def _number(text: str) -> float:
    return float(text.strip().replace(",", "."))


def load_prices(flat: float, currency: str, path: str, tz: ZoneInfo) -> Prices:
    """The prices to use; ``path`` empty: the flat price only. Raises :class:`PriceFileError`."""
    if not path:
        return Prices(flat, currency)
    p = Path(path)
    try:
        if p.stat().st_size > MAX_PRICE_FILE_BYTES:
            raise PriceFileError(f"price file {p.name}: larger than {MAX_PRICE_FILE_BYTES // 1_000_000} MB")
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise PriceFileError(f"price file {p.name}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise PriceFileError(f"price file {p.name}: not UTF-8 text") from None
    dialect = ";" if text.count(";") > text.count(",") // 2 and ";" in text else ","
    rows: list[tuple[int, float]] = []
    for n, row in enumerate(csv.reader(io.StringIO(text), delimiter=dialect), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        try:
            rows.append((_time(row[0], tz), _number(row[1])))
        except (ValueError, IndexError):
            if rows or n > 1:  # a header line is allowed, nothing else
                raise PriceFileError(f"price file {p.name}, row {n}: expected time,price "
                                     f"(e.g. 2026-01-01T00:00:00+01:00,1.25), got {','.join(row)[:80]!r}") from None
    if not rows:
        raise PriceFileError(f"price file {p.name}: no time,price rows")
    rows.sort()
    return Prices(flat, currency, tuple(t for t, _ in rows), tuple(v for _, v in rows), p.name)
