"""Alert messages come from the gettext catalogue: English in the code, every other language
in ``i18n/locales/<code>.po``, so a language is a file and no code (issue 16)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from heatpump_monitor import i18n
from heatpump_monitor.alerts.messages import BODIES, MAX_CHARS, STILL, TITLE, delivery_test_message, message
from heatpump_monitor.alerts.rules import Notice
from heatpump_monitor.alerts.settings import RULES, parse_alert_settings
from heatpump_monitor.config import ConfigError, load_alerts_config

GW = "192.168.1.50"
T0 = 1_733_206_320_000  # 2024-12-03 06:12 UTC
MIN = 60_000

# A language nobody ships: its whole catalogue is this file (two templates, one alarm text).
DE_PO = '''msgid ""
msgstr ""
"Language: de\\n"
"Content-Type: text/plain; charset=utf-8\\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\\n"

msgctxt "alert"
msgid "Heat pump {gw}"
msgstr "Wärmepumpe {gw}"

msgctxt "alert"
msgid "alarm '{text}' since {since}"
msgstr "Alarm '{text}' seit {since}"

msgctxt "alert"
msgid "still: "
msgstr "weiterhin: "

msgctxt "alarm"
msgid "high pressure switch"
msgstr "Hochdruckschalter"
'''


def _clear_caches() -> None:
    i18n.languages.cache_clear()
    i18n.translator.cache_clear()
    i18n._browser_messages.cache_clear()


@pytest.fixture
def german(tmp_path, monkeypatch):
    for po in i18n.LOCALE_DIR.glob("*.po"):  # the shipped languages stay available
        (tmp_path / po.name).write_bytes(po.read_bytes())
    (tmp_path / "de.po").write_text(DE_PO, encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    _clear_caches()
    yield
    _clear_caches()  # the next test sees the shipped catalogues again (monkeypatch undoes the dir)


def test_a_po_file_in_the_locale_dir_is_a_language_without_code_changes(german):
    assert "de" in i18n.languages()
    n = Notice(GW, "alarm", "fired", T0, T0 + 5 * MIN, 10, None, "high pressure switch")
    assert message(n, "de", ZoneInfo("UTC")).text == f"Wärmepumpe {GW}: Alarm 'Hochdruckschalter' seit 06:12"
    reminder = message(Notice(GW, "alarm", "reminder", T0, T0 + 5 * MIN, 10, None, "x"), "de", ZoneInfo("UTC"))
    assert reminder.body.startswith("weiterhin: Alarm 'x'")
    # what the file does not translate stays English rather than failing
    hot = message(Notice(GW, "hot_water", "fired", T0, T0 + 5 * MIN, 38.4, 40, ""), "de", ZoneInfo("UTC"))
    assert hot.title == f"Wärmepumpe {GW}" and hot.body == "hot water 38.4 °C, below 40 °C since 06:12"
    # and both settings accept it: LANGUAGE and the alerts: section's language
    assert load_alerts_config({"LANGUAGE": "de"}).language == "de"
    assert parse_alert_settings({"language": "DE"}).language == "de"


def test_a_language_without_a_catalogue_is_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"Invalid LANGUAGE='xx': expected en or sv"):
        load_alerts_config({"LANGUAGE": "xx"})
    with pytest.raises(ConfigError) as info:
        parse_alert_settings({"language": "xx"}, "config.yaml")
    assert info.value.lines == ["config.yaml: alerts language: expected one of en, sv (got 'xx')"]


def test_an_unknown_language_in_code_falls_back_to_english():
    n = Notice(GW, "alarm", "fired", T0, T0 + 5 * MIN, 10, None, "high pressure switch")
    assert message(n, "xx", ZoneInfo("UTC")).text == f"Heat pump {GW}: alarm 'high pressure switch' since 06:12"


def test_swedish_alarm_texts_come_from_the_catalogue():
    n = Notice(GW, "alarm", "fired", T0, T0 + 5 * MIN, 10, None, "high pressure switch")
    assert message(n, "sv", ZoneInfo("UTC")).text == f"Värmepump {GW}: larm 'högtryckspressostat' sedan 06:12"
    # a number the brand's table lacks keeps its number; a text the catalogue lacks stays as is
    assert "larm 'larm 77'" in message(Notice(GW, "alarm", "fired", T0, T0, 77, None, "alarm 77"), "sv").body
    assert "'Högtryck'" in message(Notice(GW, "alarm", "fired", T0, T0, 1, None, "Högtryck"), "sv").body
    # other rules' texts are register names or figures, never looked up as alarm texts
    gone = message(Notice(GW, "sensor_missing", "fired", T0, T0, 1, 10, "information"), "sv")
    assert "givare saknas: information" in gone.body


def test_every_template_is_translated_to_swedish_with_the_same_fields():
    t = i18n.translator("sv")
    for template in (TITLE, STILL, *(b for pair in BODIES.values() for b in pair)):
        sv = t.pgettext("alert", template)
        assert sv != template, template
        fields = lambda s: sorted(part.split("}")[0] for part in s.split("{")[1:])  # noqa: E731
        assert fields(sv) == fields(template), template
    assert set(BODIES) == set(RULES)


@pytest.mark.parametrize("kind", ["fired", "resolved", "reminder"])
def test_swedish_alarm_messages_with_the_longest_alarm_text_fit(kind):
    n = Notice("värmepump-källaren-" + "x" * 40, "alarm", kind, T0, T0 + 30 * 60 * MIN, 1, None,
               "brine out under limit GT11")
    m = message(n, "sv")
    assert len(m.title) + len(m.body) <= MAX_CHARS and "köldbärare" in m.body


def test_a_broken_placeholder_in_a_translation_sends_the_english_and_logs_once(tmp_path, monkeypatch, caplog):
    (tmp_path / "de.po").write_text(DE_PO.replace("Wärmepumpe {gw}", "Wärmepumpe {gateway}")
                                    .replace("seit {since}", "seit {since"), encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    _clear_caches()
    try:
        n = Notice(GW, "alarm", "fired", T0, T0 + 5 * MIN, 10, None, "high pressure switch")
        for _ in range(3):
            m = message(n, "de", ZoneInfo("UTC"))
        assert m.text == f"Heat pump {GW}: alarm 'Hochdruckschalter' since 06:12"
        broken = [r for r in caplog.records if "broken placeholder" in r.getMessage()]
        assert len(broken) == 2  # the title and the body, once each however many notices
    finally:
        _clear_caches()


def test_the_dashboards_test_message_is_in_the_configured_language():
    assert delivery_test_message("sv").body == "Ett testmeddelande från heatpump-monitors webbsida."
    assert delivery_test_message("en").body == "A test message from the heatpump-monitor dashboard."
    assert delivery_test_message("xx") == delivery_test_message("en")
