"""Translations: one gettext catalogue per language, ``locales/<code>.po``, read with Babel.

English is the source language: every message id *is* the English text, so a string nobody has
translated yet shows in English rather than as a key. Adding a language is adding one file:
copy ``locales/sv.po`` to ``locales/<code>.po`` (``<code>`` an ISO 639-1 code such as ``de``),
replace its ``msgstr`` lines and restart; :func:`languages` lists it from then on. The
catalogues are read once per process (``.po`` is compiled in memory, so no ``.mo`` build step).

Choosing the language (:func:`pick_language`): an explicit ``?lang=`` wins, then the cookie the
visible switch sets, then the browser's ``Accept-Language``, then the configured default
(``LANGUAGE``). Unknown codes are ignored, never an error: a link with ``?lang=xx`` still shows
a page.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

__all__ = ["DEFAULT", "LOCALE_DIR", "Translator", "languages", "pick_language", "translator"]

LOCALE_DIR = Path(__file__).parent / "locales"
DEFAULT = "en"
COOKIE = "lang"


@lru_cache(maxsize=1)
def languages() -> tuple[str, ...]:
    """English (the source) and every language with a catalogue, English first."""
    return (DEFAULT, *sorted(p.stem for p in LOCALE_DIR.glob("*.po") if p.stem != DEFAULT))


class Translator:
    """The messages of one language; ``gettext``/``pgettext``/``ngettext`` as in :mod:`gettext`."""

    def __init__(self, lang: str, translations: NullTranslations) -> None:
        self.lang = lang
        self._t = translations
        self.gettext = translations.gettext
        self.ngettext = translations.ngettext
        self.pgettext = translations.pgettext
        self.npgettext = translations.npgettext

    def browser_messages(self) -> dict[str, str | list[str]]:
        """The catalogue for the browser's ``_()``: ``msgid`` (or ``context\\x04msgid``) -> text;
        plural entries map the singular to ``[singular, plural]`` forms. Empty for English."""
        return dict(_browser_messages(self.lang))


# bounded: callers pass known languages (pick_language, the validated LANGUAGE), but a cache keyed
# by a caller's string must not grow with whatever a visitor sends
@lru_cache(maxsize=32)
def translator(lang: str) -> Translator:
    """The translator for ``lang``; English (no catalogue) for any language without one."""
    if lang == DEFAULT or lang not in languages():
        return Translator(DEFAULT, NullTranslations())
    return Translator(lang, Translations(io.BytesIO(_mo_bytes(lang))))


def _catalog(lang: str):  # type: ignore[no-untyped-def]
    with open(LOCALE_DIR / f"{lang}.po", "rb") as fh:
        return read_po(fh, locale=lang)


def _mo_bytes(lang: str) -> bytes:
    buf = io.BytesIO()
    # fuzzy entries are drafts: left out, so their English shows until someone confirms them
    write_mo(buf, _catalog(lang), use_fuzzy=False)
    return buf.getvalue()


@lru_cache(maxsize=32)
def _browser_messages(lang: str) -> tuple[tuple[str, str | list[str]], ...]:
    if lang == DEFAULT or lang not in languages():
        return ()
    out: list[tuple[str, str | list[str]]] = []
    for msg in _catalog(lang):
        if not msg.id or msg.fuzzy or not msg.string:
            continue
        if isinstance(msg.id, tuple):
            forms = list(msg.string)
            if not all(forms):
                continue
            key, value = msg.id[0], forms
        else:
            key, value = msg.id, msg.string
        out.append(((f"{msg.context}\x04{key}" if msg.context else key), value))
    return tuple(out)


def _accept_language(header: str) -> list[str]:
    """Primary language codes of an ``Accept-Language`` header, most preferred first."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")[:20]):   # a bounded header: a hostile one is long
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        code = tag.strip().split("-")[0].lower()
        if code and code != "*" and q > 0:
            ranked.append((-q, i, code))
    return [code for _, _, code in sorted(ranked)]


def pick_language(query: str | None = None, cookie: str | None = None,
                  accept_language: str | None = None, default: str = DEFAULT) -> str:
    """The page's language: ``?lang=``, the cookie, ``Accept-Language``, then ``default``."""
    known = languages()
    for choice in (query, cookie):
        if choice and choice.lower() in known:
            return choice.lower()
    for code in _accept_language(accept_language or ""):
        if code in known:
            return code
    return default if default in known else DEFAULT
