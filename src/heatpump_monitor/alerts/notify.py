"""Delivery of alert messages through apprise: one URL per target (NOTIFY_URLS), one result
per target, and never a secret of those URLs in what we print or log.

apprise is imported here only: the collector imports this module only when NOTIFY_URLS is set
(apprise and its plugins are several MB of a collector's memory that most users never need).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import apprise

from ..config import ConfigError, notify_secret_parts, redact_url
from ..masking import Secrets

log = logging.getLogger(__name__)

# apprise logs each failure itself, quoting hosts and sometimes whole URLs; we capture those lines
# per send (the cause we report, masked) and keep them out of the process's own log
logging.getLogger("apprise").propagate = False


@dataclass(frozen=True)
class TargetResult:
    """One target's outcome: ``target`` is redacted (``json://***``), ``cause`` masked."""

    target: str
    ok: bool
    cause: str = ""


@dataclass(frozen=True)
class _Target:
    name: str  # redacted, numbered: "2 json://***"
    key: str  # stable id across restarts without the URL itself (the outbox stores it)
    plugin: Any  # an apprise NotifyBase


def target_key(url: str) -> str:
    """A target's id in the outbox: a hash, so the URL's secrets are not written to disk."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


class Notifier:
    """Sends one message to each target of ``urls``; ``secrets``: the process's others
    (env_secrets), masked too in every cause."""

    def __init__(self, urls: list[str], secrets: Secrets) -> None:
        values, pairs = notify_secret_parts(urls)
        self._own = Secrets(values, pairs)
        self._secrets = secrets
        self._targets: list[_Target] = []
        for i, url in enumerate(urls, 1):
            name = f"{i} {redact_url(url)}"
            if url in urls[:i - 1]:
                # one target twice would get every message twice (and share one outbox entry)
                raise ConfigError(f"Invalid NOTIFY_URLS entry {name}: the same URL as entry {urls.index(url) + 1}")
            plugin = apprise.Apprise.instantiate(url)
            if plugin is None:
                raise ConfigError(f"Invalid NOTIFY_URLS entry {name}: apprise does not accept it "
                                  "(see its URL syntax for the service, e.g. ntfys://topic, tgram://bottoken/chatid)")
            self._targets.append(_Target(name, target_key(url), plugin))

    @property
    def targets(self) -> list[str]:
        """The targets' redacted names, in NOTIFY_URLS order."""
        return [t.name for t in self._targets]

    @property
    def keys(self) -> list[str]:
        return [t.key for t in self._targets]

    def mask(self, text: str) -> str:
        return self._own.mask(self._secrets.mask(text))

    def send_to(self, key: str, title: str, body: str) -> TargetResult:
        """Blocking: one message to the target ``key`` (see :attr:`keys`)."""
        target = next(t for t in self._targets if t.key == key)
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
            try:
                ok = bool(target.plugin.notify(body=body, title=title))
            except Exception as exc:  # a plugin's bug must not stop the other targets
                ok = False
                log.debug("apprise raised", exc_info=True)
                captured.write(f"{type(exc).__name__}: {exc}\n")
            lines = [line.strip() for line in captured.getvalue().splitlines() if line.strip()]
        cause = "" if ok else self.mask("; ".join(lines[-2:]) or "not delivered")
        return TargetResult(target.name, ok, cause[:300])

    def send(self, title: str, body: str) -> list[TargetResult]:
        """Blocking: the message to every target, one result each (one failing does not stop the rest)."""
        return [self.send_to(t.key, title, body) for t in self._targets]

    async def send_async(self, title: str, body: str) -> list[TargetResult]:
        """:meth:`send` in a thread: apprise's plugins block (SMTP, HTTP)."""
        return await asyncio.to_thread(self.send, title, body)
