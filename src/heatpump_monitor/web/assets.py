"""Static files: our own ``app.js``/``style.css``/``docs.js`` (read at start) and
``plotly.min.js`` from the installed ``plotly`` package (read and gzip-compressed once, at
first use), with versioned URLs cached for a year."""

from __future__ import annotations

import gzip
import hashlib
import threading
from importlib import resources
from pathlib import Path

from fastapi import Request
from fastapi.responses import Response

STATIC_DIR = Path(__file__).parent / "static"
OWN_ASSETS = {"app.js": "text/javascript; charset=utf-8", "docs.js": "text/javascript; charset=utf-8",
              "style.css": "text/css; charset=utf-8"}
PLOTLY = "plotly.min.js"


class Asset:
    def __init__(self, body: bytes, content_type: str) -> None:
        self.body = body
        self.gz = gzip.compress(body, compresslevel=9, mtime=0)
        self.content_type = content_type
        self.version = hashlib.sha256(body).hexdigest()[:12]
        self.etag = f'"{self.version}"'


class Assets:
    """Our own files (read at start) and plotly.min.js (read and compressed at first use)."""

    def __init__(self) -> None:
        self.files = {name: Asset((STATIC_DIR / name).read_bytes(), ctype) for name, ctype in OWN_ASSETS.items()}
        self._plotly_path = plotly_js_path()
        self._lock = threading.Lock()

    @property
    def plotly_version(self) -> str:
        try:
            from importlib.metadata import version
            return version("plotly")
        except Exception:  # pragma: no cover
            return "0"

    def get(self, name: str) -> Asset | None:
        if name in self.files:
            return self.files[name]
        if name == PLOTLY:
            with self._lock:
                if PLOTLY not in self.files:
                    self.files[PLOTLY] = Asset(self._plotly_path.read_bytes(), "text/javascript; charset=utf-8")
                return self.files[PLOTLY]
        return None

    def url(self, name: str) -> str:
        version = self.plotly_version if name == PLOTLY else self.files[name].version
        return f"/static/{name}?v={version}"


def plotly_js_path() -> Path:
    """plotly.min.js inside the installed plotly package (the plotly wheel ships it)."""
    try:
        path = Path(str(resources.files("plotly").joinpath("package_data", PLOTLY)))
    except ModuleNotFoundError:
        raise RuntimeError("the dashboard needs the 'plotly' Python package (pip install plotly)") from None
    if not path.is_file():
        raise RuntimeError(f"plotly.min.js not found at {path}: reinstall the 'plotly' package")
    return path


def static_response(request: Request, asset: Asset, versioned: bool) -> Response:
    headers = {
        "ETag": asset.etag,
        "Cache-Control": "public, max-age=31536000, immutable" if versioned else "public, max-age=300",
        "Vary": "Accept-Encoding",
    }
    inm = request.headers.get("if-none-match")
    if inm and asset.etag in [t.strip() for t in inm.split(",")]:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gz, media_type=asset.content_type, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)

