"""Static files, read and gzip-compressed once at start, served with versioned URLs cached
for a year: our own ``app.js``/``style.css``/``docs.js`` and the chart library (uPlot), which
the project's build (``frontend/``: ``npm ci && npm run build``, run by ``scripts/bootstrap``
and the Docker image's build stage) copies from its npm package into ``static/build/``."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from fastapi import Request
from fastapi.responses import Response

STATIC_DIR = Path(__file__).parent / "static"
BUILD_DIR = STATIC_DIR / "build"
JS = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"
OWN_ASSETS = {"app.js": JS, "docs.js": JS, "style.css": CSS, "summary.js": JS, "summary.css": CSS,
              "alerts.js": JS, "alerts.css": CSS, "i18n.js": JS,
              "curve.js": JS, "curve.css": CSS}
UPLOT_JS = "uPlot.iife.min.js"
UPLOT_CSS = "uPlot.min.css"
BUILT_ASSETS = {UPLOT_JS: JS, UPLOT_CSS: CSS}
BUILD_COMMAND = "scripts/bootstrap (or: cd frontend && npm ci && npm run build)"


class Asset:
    def __init__(self, body: bytes, content_type: str) -> None:
        self.body = body
        self.gz = gzip.compress(body, compresslevel=9, mtime=0)
        self.content_type = content_type
        self.version = hashlib.sha256(body).hexdigest()[:12]
        self.etag = f'"{self.version}"'


class Assets:
    """Every static file, in memory. Raises RuntimeError (one line naming the build command)
    when the chart library has not been built: a dashboard without it would draw blank charts."""

    def __init__(self, static_dir: Path = STATIC_DIR) -> None:
        build_dir = static_dir / BUILD_DIR.name
        missing = [name for name in BUILT_ASSETS if not (build_dir / name).is_file()]
        if missing:
            raise RuntimeError(f"the chart library is not built ({', '.join(missing)} missing in {build_dir}): "
                               f"run {BUILD_COMMAND}")
        self.files = {name: Asset((static_dir / name).read_bytes(), ctype) for name, ctype in OWN_ASSETS.items()}
        self.files.update({name: Asset((build_dir / name).read_bytes(), ctype) for name, ctype in BUILT_ASSETS.items()})

    def get(self, name: str) -> Asset | None:
        return self.files.get(name)

    def url(self, name: str) -> str:
        return f"/static/{name}?v={self.files[name].version}"


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
