"""Short texts for notices, in any language with a catalogue: a title naming the gateway and a
body naming the value, the threshold and since when (local time), short enough together for a
phone's lock screen (:data:`MAX_CHARS`). Long names are cut with an ellipsis, never the time.

The texts are English in the code and translated in ``i18n/locales/<code>.po`` (context
``alert``; the brands' alarm texts context ``alarm``), so a language is one file, no code.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo

from ..i18n import Translator, translator
from .rules import Notice

log = logging.getLogger(__name__)

MAX_CHARS = 120  # title + body: what a lock screen shows without opening the notification
MAX_NAME = 30  # a gateway name or an alarm text at most this long in a message

CONTEXT = "alert"  # the catalogue context of these templates: a word alone may differ elsewhere


def pgettext(context: str, text: str) -> str:
    """Marks ``text`` for the catalogue: Babel's extractor (scripts/i18n-extract and
    tests/i18n/test_catalog.py) collects pgettext calls. It is translated when a message is made,
    in that message's language, so here it stays English."""
    return text


# Translators: the title of every alert message; {gw} is the gateway's name
TITLE = pgettext("alert", "Heat pump {gw}")
# Translators: before a reminder's body (the alert is still on); keep the trailing space
STILL = pgettext("alert", "still: ")

#: rule -> (fired body, resolved body); a reminder is the fired body after STILL
BODIES: dict[str, tuple[str, str]] = {
    "alarm": (pgettext("alert", "alarm '{text}' since {since}"),
              pgettext("alert", "alarm '{text}' cleared (since {since})")),
    "gateway_silent": (pgettext("alert", "no data for {value} min (limit {threshold}) since {since}"),
                       pgettext("alert", "data again after {value} min silent (since {since})")),
    "add_heat": (pgettext("alert", "add-heat on ({value} kW) over {threshold} min, since {since}"),
                 pgettext("alert", "add-heat off again (on since {since})")),
    "add_heat_share": (pgettext("alert", "add-heat made {value} % of today's heat (limit {threshold} %), "
                                         "since {since}"),
                       pgettext("alert", "add-heat share {value} %, ok again (since {since})")),
    "hot_water": (pgettext("alert", "hot water {value} °C, below {threshold} °C since {since}"),
                  pgettext("alert", "hot water {value} °C again (low since {since})")),
    "brine_delta_t": (pgettext("alert", "brine ΔT {value} K, above {threshold} K since {since}"),
                      pgettext("alert", "brine ΔT {value} K, normal again (high since {since})")),
    "short_cycling": (pgettext("alert", "short-cycling: {value} busy hours (>= {threshold}), {text}, since {since}"),
                      pgettext("alert", "short-cycling over (since {since})")),
    "sensor_missing": (pgettext("alert", "sensor missing: {text} since {since}"),
                       pgettext("alert", "sensor back: {text} (missing since {since})")),
    "store_unreachable": (pgettext("alert", "store refuses writes for {value} min (limit {threshold}) since {since}"),
                          pgettext("alert", "store writes again (failing since {since})")),
    "spool_filling": (pgettext("alert", "spool {value} % full (limit {threshold} %) since {since}"),
                      pgettext("alert", "spool {value} % full, ok again (since {since})")),
    "not_stored": (pgettext("alert", "nothing stored for {value} min (limit {threshold}) since {since}: "
                                     "collector running?"),
                   pgettext("alert", "stored again after {value} min (since {since})")),
}
#: a rule this module does not know (a newer state file read by an older dashboard)
FALLBACK = (pgettext("alert", "{rule} {value} since {since}"), pgettext("alert", "{rule} over (since {since})"))
# Translators: the dashboard's "Send test message" (alerts page)
TEST_TITLE = pgettext("alert", "heatpump-monitor: test")
TEST_BODY = pgettext("alert", "A test message from the heatpump-monitor dashboard.")
_BROKEN: set[str] = set()  # translations already logged as broken: one line each, not one per notice
_ALARM_CODE = re.compile(r"alarm (\d{1,6})")  # a code the brand's table lacks (Provider.alarm_text)


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str

    @property
    def text(self) -> str:
        """One line, for services without a title (SMS-like, webhooks' ``message``)."""
        return f"{self.title}: {self.body}"


def message(n: Notice, language: str = "en", tz: tzinfo | None = None) -> Message:
    """The notice as title and body in ``language`` (English where it has no catalogue or a
    text has no translation; unknown rules get a plain fallback)."""
    t = translator(language)
    fired, resolved = BODIES.get(n.rule, FALLBACK)
    english = resolved if n.kind == "resolved" else fired
    template = _tr(t, CONTEXT, english)
    title_template = _tr(t, CONTEXT, TITLE)
    still = _tr(t, CONTEXT, STILL) if n.kind == "reminder" else ""
    # only the alarm rule's text is the brand's; the others' are register names or figures
    text = alarm_text(t, n.alarm_text) if n.rule == "alarm" else n.alarm_text
    since = local_time(n.since_ms, n.time_ms, tz)
    # names are cut shorter until the whole fits (odd values, long names): never the time
    for cap in (MAX_NAME, 20, 12, 6):
        title = _fill(title_template, TITLE, gw=_cut(n.gateway, cap))
        body = still + _fill(template, english, rule=n.rule[:20], value=_num(n.value),
                             threshold=_num(n.threshold), text=_cut(text, cap) or "?", since=since)
        if len(title) + len(body) <= MAX_CHARS:
            break
    return Message(title, body)


def delivery_test_message(language: str = "en") -> Message:
    """The dashboard's "Send test message": that delivery works, in the messages' language."""
    t = translator(language)
    return Message(_tr(t, CONTEXT, TEST_TITLE), _tr(t, CONTEXT, TEST_BODY))


def alarm_text(t: Translator, text: str) -> str:
    """A brand's alarm text (English, as in ``providers/data``) in ``t``'s language; "alarm 12"
    (a code without a text) keeps its number."""
    m = _ALARM_CODE.fullmatch(text)
    if m:
        # the dashboard's text for it too (no context: web/static/app.js alarmText)
        return _fill(t.gettext("alarm {code}"), "alarm {code}", code=m.group(1))
    return _tr(t, "alarm", text) if text else text


def _tr(t: Translator, context: str, text: str) -> str:
    return str(t.pgettext(context, text))  # Babel types it as object: it is always the str


def _fill(template: str, english: str, **fields: str) -> str:
    """``template`` filled in; a translation with a broken placeholder ({gw without its brace,
    a field the code does not give) must not stop the notice: the English is sent instead."""
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError):
        if template not in _BROKEN:
            _BROKEN.add(template)
            log.warning("Alerts: translation %r has a broken placeholder; sending the English", template)
        return english.format(**fields)


def local_time(since_ms: int, now_ms: int, tz: tzinfo | None = None) -> str:
    """HH:MM in the owner's zone; with the day (d/m) when it was not the same local day."""
    zone = tz or timezone.utc
    since = datetime.fromtimestamp(since_ms / 1000, zone)
    now = datetime.fromtimestamp(now_ms / 1000, zone)
    hhmm = since.strftime("%H:%M")
    return hhmm if since.date() == now.date() else f"{since.day}/{since.month} {hhmm}"


def _num(x: float | None) -> str:
    if x is None:
        return "?"
    text = f"{x:.1f}"
    return text.removesuffix(".0")


def _cut(text: str, cap: int = MAX_NAME) -> str:
    return text if len(text) <= cap else text[: cap - 1] + "…"
