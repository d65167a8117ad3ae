"""Every alarm text of every brand has a Swedish translation that names its source (issue 16)."""

from __future__ import annotations

import pytest

from heatpump_monitor import i18n
from heatpump_monitor.providers import BRANDS, load_provider

ALARM = "alarm"


def _alarm_entries() -> dict[str, object]:
    """The catalogue's alarm-text entries, English text -> babel Message."""
    return {m.id: m for m in i18n._catalog("sv") if m.context == ALARM and isinstance(m.id, str)}


@pytest.mark.parametrize("brand", BRANDS)
def test_every_alarm_code_has_a_swedish_text(brand):
    provider = load_provider(brand)
    t = i18n.translator("sv")
    # 0 and a code the table lacks are the same for every brand: "no alarm", "alarm 77"
    texts = {code: provider.alarm_text(code) for code in (0, *provider.alarms)}
    entries = _alarm_entries()
    # present, not merely unchanged: "information" is the same word in Swedish
    missing = {code: text for code, text in texts.items() if text not in entries}
    assert not missing, f"{brand}: no Swedish text for {missing}"
    for text in texts.values():
        assert t.pgettext(ALARM, text) == entries[text].string  # type: ignore[attr-defined]
    assert t.gettext("alarm {code}").format(code=77) == "larm 77"  # the dashboard's text, no context


def test_every_alarm_entry_names_its_source_and_is_not_a_draft():
    entries = _alarm_entries()
    assert len(entries) >= 2 + len({t for b in BRANDS for t in load_provider(b).alarms.values()})
    for text, m in entries.items():
        note = " ".join(m.auto_comments)  # type: ignore[attr-defined]
        assert "Source:" in note or "translated, no source" in note.lower(), text
        assert not m.fuzzy and m.string, text  # type: ignore[attr-defined]


def test_no_alarm_entry_is_left_over_from_a_text_no_brand_has():
    known = {t for b in BRANDS for t in load_provider(b).alarms.values()} | {"no alarm", "alarm"}
    assert set(_alarm_entries()) <= known
