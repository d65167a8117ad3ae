"""Where an import stopped: ``DATA_DIR/import-<hash>.json``, one file per old database.

The hash is of the old database's URL *without* credentials and its database or bucket name,
so the file name reveals nothing, and the file holds no secret either: the old database's
description, the settings that shape the result (a changed one starts the import over), the
end of the last chunk written and the aligner's state at that moment (held values, counters).
Written to a temporary file and renamed: an interruption leaves the previous checkpoint whole.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import display_url

VERSION = 1


def checkpoint_path(data_dir: str, url: str, database: str) -> Path:
    key = hashlib.sha256(f"{display_url(url)}\n{database}".encode()).hexdigest()[:16]
    return Path(data_dir) / f"import-{key}.json"


def load(path: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint for these settings; None when there is none (or it is of other settings,
    or unreadable: the import then starts over, which is safe since writes overwrite)."""
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    same = json.loads(json.dumps(settings))  # as stored: tuples are lists in JSON
    if not isinstance(doc, dict) or doc.get("version") != VERSION or doc.get("settings") != same:
        return None
    return doc


def save(path: Path, description: str, settings: dict[str, Any], done_until_ms: int, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"version": VERSION, "from": description, "settings": settings, "done_until_ms": done_until_ms,
           "state": state}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc), "utf-8")  # the held values in their order: resumed rows identical
    os.replace(tmp, path)
