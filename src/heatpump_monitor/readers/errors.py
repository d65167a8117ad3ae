"""What a reader raises: a message for operators (names the store, never a secret) and a cause
in generic words, which is all that may be told to someone who has not logged in (the
dashboard's open ``/readyz``): no URL, no path, no server text."""

from __future__ import annotations

UNREACHABLE = "store unreachable"
CREDENTIALS = "store refused the credentials"
TIMED_OUT = "store timed out"
NOT_FOUND = "store not found"
UNREADABLE = "store unreadable"
FAILED = "store error"
#: every generic cause a reader gives
CAUSES = (UNREACHABLE, CREDENTIALS, TIMED_OUT, NOT_FOUND, UNREADABLE, FAILED)


class ReaderError(Exception):
    """A store could not be read; the message names the cause and never holds a secret;
    ``cause`` is one of :data:`CAUSES`."""

    def __init__(self, message: str, cause: str = FAILED) -> None:
        super().__init__(message)
        self.cause = cause if cause in CAUSES else FAILED


class BudgetExceeded(ReaderError):
    """A read was stopped because it ran past the reader's ``deadline`` (set by the caller,
    e.g. the dashboard's per-request time budget)."""

    def __init__(self, message: str = "the read was stopped: it ran past its time budget") -> None:
        super().__init__(message, TIMED_OUT)
