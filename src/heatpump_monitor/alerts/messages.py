"""Short texts for notices, in English and Swedish: a title naming the gateway and a body
naming the value, the threshold and since when (local time), short enough together for a
phone's lock screen (:data:`MAX_CHARS`). Long names are cut with an ellipsis, never the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo

from .rules import Notice
from .settings import Language

MAX_CHARS = 120  # title + body: what a lock screen shows without opening the notification
MAX_NAME = 30  # a gateway name or an alarm text at most this long in a message

TITLES: dict[str, str] = {"en": "Heat pump {gw}", "sv": "Värmepump {gw}"}
STILL: dict[str, str] = {"en": "still: ", "sv": "fortfarande: "}

#: (language, rule) -> (fired body, resolved body); a reminder is the fired body after STILL
BODIES: dict[tuple[str, str], tuple[str, str]] = {
    ("en", "alarm"): ("alarm '{text}' since {since}", "alarm '{text}' cleared (since {since})"),
    ("sv", "alarm"): ("larm '{text}' sedan {since}", "larm '{text}' återställt (sedan {since})"),
    ("en", "gateway_silent"): ("no data for {value} min (limit {threshold}) since {since}",
                               "data again after {value} min silent (since {since})"),
    ("sv", "gateway_silent"): ("inga data på {value} min (gräns {threshold}) sedan {since}",
                               "data igen efter {value} min tystnad (sedan {since})"),
    ("en", "add_heat"): ("add-heat on ({value} kW) over {threshold} min, since {since}",
                         "add-heat off again (on since {since})"),
    ("sv", "add_heat"): ("tillsats på ({value} kW) över {threshold} min, sedan {since}",
                         "tillsats av igen (på sedan {since})"),
    ("en", "add_heat_share"): ("add-heat made {value} % of today's heat (limit {threshold} %), since {since}",
                               "add-heat share {value} %, ok again (since {since})"),
    ("sv", "add_heat_share"): ("tillsatsen gav {value} % av dagens värme (gräns {threshold} %), sedan {since}",
                               "tillsatsens andel {value} %, ok igen (sedan {since})"),
    ("en", "hot_water"): ("hot water {value} °C, below {threshold} °C since {since}",
                          "hot water {value} °C again (low since {since})"),
    ("sv", "hot_water"): ("varmvatten {value} °C, under {threshold} °C sedan {since}",
                          "varmvatten {value} °C igen (lågt sedan {since})"),
    ("en", "brine_delta_t"): ("brine ΔT {value} K, above {threshold} K since {since}",
                              "brine ΔT {value} K, normal again (high since {since})"),
    ("sv", "brine_delta_t"): ("köldbärare ΔT {value} K, över {threshold} K sedan {since}",
                              "köldbärare ΔT {value} K, normal igen (hög sedan {since})"),
    ("en", "short_cycling"): ("short-cycling: {value} busy hours (>= {threshold}), {text}, since {since}",
                              "short-cycling over (since {since})"),
    ("sv", "short_cycling"): ("täta starter: {value} timmar (>= {threshold}), {text}, sedan {since}",
                              "täta starter över (sedan {since})"),
    ("en", "sensor_missing"): ("sensor missing: {text} since {since}",
                               "sensor back: {text} (missing since {since})"),
    ("sv", "sensor_missing"): ("givare saknas: {text} sedan {since}",
                               "givare tillbaka: {text} (saknades sedan {since})"),
    ("en", "store_unreachable"): ("store refuses writes for {value} min (limit {threshold}) since {since}",
                                  "store writes again (failing since {since})"),
    ("sv", "store_unreachable"): ("lagringen tar inte emot data på {value} min (gräns {threshold}) sedan {since}",
                                  "lagringen tar emot data igen (fel sedan {since})"),
    ("en", "spool_filling"): ("spool {value} % full (limit {threshold} %) since {since}",
                              "spool {value} % full, ok again (since {since})"),
    ("sv", "spool_filling"): ("kön på disk {value} % full (gräns {threshold} %) sedan {since}",
                              "kön på disk {value} % full, ok igen (sedan {since})"),
    ("en", "not_stored"): ("nothing stored for {value} min (limit {threshold}) since {since}: collector running?",
                           "stored again after {value} min (since {since})"),
    ("sv", "not_stored"): ("inget lagrat på {value} min (gräns {threshold}) sedan {since}: går insamlaren?",
                           "lagras igen efter {value} min (sedan {since})"),
}


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str

    @property
    def text(self) -> str:
        """One line, for services without a title (SMS-like, webhooks' ``message``)."""
        return f"{self.title}: {self.body}"


def message(n: Notice, language: Language = "en", tz: tzinfo | None = None) -> Message:
    """The notice as title and body in ``language`` (unknown rules get a plain fallback)."""
    lang = language if language in TITLES else "en"
    fired, resolved = BODIES.get((lang, n.rule), ("{rule} {value} since {since}", "{rule} over (since {since})"))
    template = resolved if n.kind == "resolved" else fired
    since = local_time(n.since_ms, n.time_ms, tz)
    # names are cut shorter until the whole fits (odd values, long names): never the time
    for cap in (MAX_NAME, 20, 12, 6):
        title = TITLES[lang].format(gw=_cut(n.gateway, cap))
        body = template.format(rule=n.rule[:20], value=_num(n.value), threshold=_num(n.threshold),
                               text=_cut(n.alarm_text, cap) or "?", since=since)
        if n.kind == "reminder":
            body = STILL[lang] + body
        if len(title) + len(body) <= MAX_CHARS:
            break
    return Message(title, body)


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
