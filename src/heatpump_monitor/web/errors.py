"""The one error of the dashboard's routes: :class:`ApiError`, answered as ``{"error": ...}``."""

from __future__ import annotations

from starlette.background import BackgroundTask


class ApiError(Exception):
    """Answered as ``{"error": message}`` with ``status`` (and ``headers``). ``cause``: the
    failure in generic words (a store failure's :data:`~heatpump_monitor.stores.base.CAUSES`),
    which is what ``/readyz`` tells someone who has not logged in."""

    def __init__(self, status: int, message: str, *, cause: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.cause = cause
        self.headers = headers
        self.background: BackgroundTask | None = None  # run after the error answer is sent


def shown(value: str, limit: int = 60) -> str:
    """A request value for an error message: repr, cut."""
    return repr(value if len(value) <= limit else value[:limit] + "...")
