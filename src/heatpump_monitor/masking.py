"""One way to keep credentials out of every output: log lines, error messages, health answers,
API answers and what the spool keeps.

Two kinds of masking, both in :meth:`Secrets.mask`:

* the configured secrets (InfluxDB token and password, MQTT and dashboard passwords) in every
  form a server may echo them: as written, and the base64 of ``user:password`` that HTTP basic
  auth sends (an InfluxDB 1.x error body can quote the request's ``Authorization`` header);
* credentials of any origin by their shape, so even a secret we were not told about stays out:
  ``Authorization: Basic|Bearer|Token <value>``, ``user:password@`` in URLs, and ``p=``,
  ``password=``, ``token=`` parameters.

Secrets shorter than :data:`MIN_LENGTH` are not searched for as plain text: masking every "a"
would mangle the message (and show where the secret was). The shapes above still catch them
where credentials are sent.
"""

from __future__ import annotations

import base64
import re
from typing import Iterable

MASK = "***"
MIN_LENGTH = 3

_SHAPES = (
    # Authorization: Basic dXNlcjpwYXNz / "authorization": "Token abc" / Bearer ...
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:basic|bearer|token)\s+)[A-Za-z0-9+/=._~-]+"),
     r"\g<1>" + MASK),
    # http://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+@"), r"\g<1>" + MASK + "@"),
    # ?u=admin&p=secret, password=..., token=...
    (re.compile(r"(?i)([?&;\s](?:p|password|passwd|token|api_key|apikey)=)[^&\s\"']+"), r"\g<1>" + MASK),
)


class Secrets:
    """The secrets of one process and the forms a server may echo them in."""

    def __init__(self, values: Iterable[str] = (), basic_auth: Iterable[tuple[str, str]] = ()) -> None:
        forms = {v for v in values if v}
        for user, password in basic_auth:
            if password:
                pair = f"{user}:{password}".encode()
                encoded = base64.b64encode(pair).decode()
                forms |= {password, encoded, encoded.rstrip("=")}
        # longest first: a secret that contains another is masked whole
        self._forms = sorted((f for f in forms if len(f) >= MIN_LENGTH), key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._forms)

    def mask(self, text: str) -> str:
        for f in self._forms:
            if f in text:
                text = text.replace(f, MASK)
        for pattern, replacement in _SHAPES:
            text = pattern.sub(replacement, text)
        return text


NONE = Secrets()
