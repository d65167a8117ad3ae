"""Logging set-up: one readable line per event (or one JSON object per line with
``LOG_FORMAT=json``), secrets masked in the finished line as a last line of defence."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Iterable, TextIO

from .masking import Secrets

FORMAT = "%(asctime)s %(levelname)-7s %(message)s"

class _Redacting(logging.Formatter):
    """Masks every secret in the finished text: message, arguments and tracebacks alike."""

    def __init__(self, secrets: Secrets | Iterable[str], fmt: str | None = None) -> None:
        super().__init__(fmt)
        self.secrets = secrets if isinstance(secrets, Secrets) else Secrets(secrets)

    def redact(self, text: str) -> str:
        return self.secrets.mask(text)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class TextFormatter(_Redacting):
    def __init__(self, secrets: Secrets | Iterable[str] = ()) -> None:
        super().__init__(secrets, FORMAT)


class JsonFormatter(_Redacting):
    """One JSON object per line: time (UTC, ms), level, logger, message, and exception."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return self.redact(json.dumps(doc, ensure_ascii=False))


def setup_logging(level: str = "INFO", secrets: Secrets | Iterable[str] = (), fmt: str = "text",
                  stream: TextIO | None = None) -> None:
    """Log to ``stream`` (stderr) at ``level``; ``fmt`` is ``text`` or ``json``; ``secrets`` never printed."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(secrets) if fmt == "json" else TextFormatter(secrets))
    root.addHandler(handler)
    root.setLevel(level)
    # libraries: only their warnings; their request lines would drown ours
    for name in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)


_NUMBERS = re.compile(r"'[^']*'|-?[0-9][0-9.]*")


def cause_kind(cause: str) -> str:
    """A cause without its numbers and quoted text, for "warn once per register and kind":
    "-3276.8 °C outside plausible range -50..150" and "-999 °C outside plausible range -50..150"
    are one kind of mistake, not two warnings."""
    return _NUMBERS.sub("#", cause)
