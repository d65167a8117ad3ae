"""Choosing a page's language (``pick_language``): ``?lang=`` beats the switch's cookie, which
beats ``Accept-Language`` (by its q values, then its order), which beats the configured default;
codes without a catalogue are passed over, never an error; a long hostile header costs nothing
and picks nothing strange. LANGUAGE accepts the languages with a catalogue only."""

from __future__ import annotations

import time

import pytest

from heatpump_monitor.config import ConfigError, load_language
from heatpump_monitor.i18n import languages, pick_language


def test_english_and_swedish_are_known():
    assert languages()[0] == "en" and "sv" in languages()


def test_the_query_beats_the_cookie_beats_the_header_beats_the_default():
    assert pick_language("en", "sv", "sv", "sv") == "en"
    assert pick_language(None, "sv", "en", "en") == "sv"
    assert pick_language(None, "en", "sv", "sv") == "en"
    assert pick_language(None, None, "sv-SE,sv;q=0.9", "en") == "sv"
    assert pick_language(None, None, None, "sv") == "sv"
    assert pick_language(None, None, "", "en") == "en"
    assert pick_language("SV") == "sv"  # codes in any case


def test_accept_language_by_q_value_then_order():
    assert pick_language(accept_language="en;q=0.5, sv;q=0.8") == "sv"
    assert pick_language(accept_language="sv;q=0.5, en;q=0.8", default="sv") == "en"
    assert pick_language(accept_language="de-DE, sv;q=0.7, en;q=0.6") == "sv"  # de: no catalogue
    assert pick_language(accept_language="en-GB,en;q=0.9,sv;q=0.8", default="sv") == "en"
    assert pick_language(accept_language="sv;q=0, en;q=0.1", default="sv") == "en"  # q=0: not wanted
    assert pick_language(accept_language="*", default="sv") == "sv"
    assert pick_language(accept_language="sv;q=bad", default="en") == "en"  # a bad q: not wanted


@pytest.mark.parametrize("bad", ["xx", "sv-SE", "../sv", "sv\x00", "<script>", "e", " "])
def test_unknown_codes_are_ignored(bad):
    assert pick_language(bad, None, None, "en") == "en"
    assert pick_language(None, bad, None, "sv") == "sv"
    assert pick_language(bad, bad, "sv", "en") == "sv"


def test_an_unknown_default_falls_back_to_english():
    assert pick_language(default="xx") == "en"


def test_a_hostile_header_of_10_kB():
    hostile = ",".join(["zz;q=1.0"] * 1200)[:10_000] + ",sv"
    start = time.perf_counter()
    assert pick_language(accept_language=hostile, default="en") == "en"  # sv is past the bound
    elapsed = time.perf_counter() - start
    print(f"10 kB Accept-Language: {elapsed * 1e6:.0f} µs")
    assert pick_language(accept_language="sv;q=" + "9" * 10_000, default="en") in ("sv", "en")
    assert pick_language(accept_language=";" * 10_000 + "sv", default="en") in ("sv", "en")
    assert pick_language(accept_language="sv" + "-x" * 5_000) == "sv"


def test_LANGUAGE_accepts_the_catalogued_languages_only():
    assert load_language({"LANGUAGE": "SV"}) == "sv"
    assert load_language({"LANGUAGE": ""}) == "en"
    assert load_language({}) == "en"
    with pytest.raises(ConfigError, match="LANGUAGE"):
        load_language({"LANGUAGE": "klingon"})


def test_a_new_language_is_one_file(tmp_path, monkeypatch):
    """A contributor's ``locales/de.po`` (here: a copy of sv.po with one text in German) makes
    German a choice everywhere: the list, ?lang=, LANGUAGE, the catalogue and the switch."""
    import heatpump_monitor.i18n as i18n
    from heatpump_monitor.web.app import language_links

    po = (i18n.LOCALE_DIR / "sv.po").read_text("utf-8")
    po = po.replace('"Language: sv\\n"', '"Language: de\\n"').replace('msgstr "Översikt"', 'msgstr "Übersicht"')
    for name in ("sv.po", "de.po"):
        (tmp_path / name).write_text(po if name == "de.po" else (i18n.LOCALE_DIR / name).read_text("utf-8"), "utf-8")
    caches = (i18n.languages, i18n.translator, i18n._browser_messages)
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    for c in caches:
        c.cache_clear()
    try:
        assert i18n.languages() == ("en", "de", "sv")
        assert pick_language("de") == "de" and pick_language(accept_language="de-AT,en;q=0.5") == "de"
        assert load_language({"LANGUAGE": "de"}) == "de"
        t = i18n.translator("de")
        assert t.gettext("Overview") == "Übersicht" and t.browser_messages()["Overview"] == "Übersicht"
        links = language_links("/", [("gateway", "a")], "de")
        assert [(l["code"], l["name"], l["current"]) for l in links] == [
            ("en", "English", False), ("de", "Deutsch", True), ("sv", "Svenska", False)]
        assert links[0]["href"] == "/?gateway=a&lang=en"
    finally:
        for c in caches:
            c.cache_clear()  # the next test reads the real catalogues again


def test_unknown_languages_get_english_and_do_not_grow_the_cache():
    from heatpump_monitor.i18n import translator

    for i in range(500):
        t = translator(f"x{i}" * 50)
        assert t.lang == "en" and t.gettext("Overview") == "Overview"
    assert translator.cache_info().currsize <= 32
    assert translator("sv").gettext("Overview") == "Översikt"
