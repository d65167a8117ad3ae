"""The translation catalogues: every text the code marks for translation (Python ``_``/``N_``/
``gettext``..., the pages' Jinja2 templates, the dashboard's scripts), found in-process with
Babel's extractors and the project's own mapping (``i18n/babel.cfg``), has a confirmed (not
fuzzy, not empty) translation in every language's ``.po``; every ``.po`` parses, and each
translation keeps its msgid's ``{name}`` placeholders (a lost one would show a raw brace or
raise in the browser's fill). Adding a language or a text without its translations fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from heatpump_monitor.i18n import LOCALE_DIR, languages, translator

PACKAGE = LOCALE_DIR.parents[1]
MAPPING = LOCALE_DIR.parent / "babel.cfg"
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def extracted() -> dict[tuple[str | None, str], tuple[str, str | tuple[str, ...]]]:
    """(context, singular msgid) -> (where, msgid) of every marked text."""
    with MAPPING.open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: dict[tuple[str | None, str], tuple[str, str | tuple[str, ...]]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
            str(PACKAGE), method_map, options_map):
        msgid = message if isinstance(message, str) else tuple(message)
        key = (context, msgid if isinstance(msgid, str) else msgid[0])
        found.setdefault(key, (f"{filename}:{lineno}", msgid))
    return found


@pytest.fixture(scope="module")
def texts():
    return extracted()


def catalog(code: str):
    with (LOCALE_DIR / f"{code}.po").open("rb") as fh:
        return read_po(fh, locale=code)


def translated_languages() -> list[str]:
    return [code for code in languages() if code != "en"]


def test_the_extraction_finds_the_dashboards_texts(texts):
    # the mapping reaches all three kinds of source: a template, a script and Python (N_)
    where = {w.split(":")[0] for w, _ in texts.values()}
    assert any(w.endswith(".html") for w in where) and any(w.endswith(".js") for w in where)
    assert any(w.endswith(".py") for w in where)
    assert (None, "Overview") in texts and (None, "{n} active alert") in texts and ("rule", "On") in texts
    assert len(texts) > 150


@pytest.mark.parametrize("code", translated_languages())
def test_every_text_has_a_confirmed_translation(texts, code):
    cat = catalog(code)
    missing = []
    for (context, singular), (where, msgid) in sorted(texts.items(), key=lambda kv: kv[1][0]):
        msg = cat.get(msgid if isinstance(msgid, str) else msgid, context)
        strings = () if msg is None else (msg.string if isinstance(msg.string, tuple) else (msg.string,))
        if msg is None or msg.fuzzy or not strings or not all(strings):
            missing.append(f"{where}: {context + ' | ' if context else ''}{singular!r}")
    assert not missing, f"{len(missing)} text(s) without a {code} translation:\n" + "\n".join(missing)


@pytest.mark.parametrize("code", translated_languages())
def test_every_po_parses_and_keeps_the_placeholders(code):
    cat = catalog(code)
    assert cat.locale is not None and str(cat.locale).startswith(code)
    assert len(cat) > 0
    wrong = []
    for msg in cat:
        if not msg.id or not msg.string:
            continue
        ids = msg.id if isinstance(msg.id, tuple) else (msg.id,)
        strings = msg.string if isinstance(msg.string, tuple) else (msg.string,)
        wanted = set(PLACEHOLDER.findall(ids[-1])) | set(PLACEHOLDER.findall(ids[0]))
        for s in strings:
            got = set(PLACEHOLDER.findall(s))
            # a singular form may name the count in words instead of {n} ("one target")
            if got != wanted and got != wanted - {"n"}:
                wrong.append(f"{msg.context or ''}|{ids[0]!r}: {sorted(got)} != {sorted(wanted)}")
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)


@pytest.mark.parametrize("code", translated_languages())
def test_the_catalogue_loads_and_translates(code):
    t = translator(code)
    assert t.lang == code
    assert t.gettext("Overview") != "Overview"
    messages = t.browser_messages()
    assert messages["Overview"] == t.gettext("Overview")
    forms = messages["{n} active alert"]
    assert isinstance(forms, list) and len(forms) == 2 and all("{n}" in f for f in forms)
    assert "rule\x04On" in messages


def test_english_is_the_source_and_has_no_catalogue():
    t = translator("en")
    assert t.gettext("Overview") == "Overview" and t.browser_messages() == {}
