"""Every text the dashboard shows from the brands' files has its Swedish: each register's
description (context "register", also the derived values'), each mapped state (context "state"),
for every brand, so a Swedish page shows no English label. A description a user overrides in
CONFIG_FILE is theirs and shows as written (not checked here)."""

from __future__ import annotations

import pytest

from heatpump_monitor.i18n import translator
from heatpump_monitor.providers import BRANDS
from heatpump_monitor.web.catalog import field_catalog

SV = translator("sv")


@pytest.mark.parametrize("brand", sorted(BRANDS))
def test_every_register_description_and_state_has_its_swedish(brand):
    catalog = field_catalog(brand)
    assert len(catalog) > 20
    missing = [e["description"] for e in catalog.values()
               if e["description"] and SV.pgettext("register", e["description"]) == e["description"]]
    assert not missing, missing
    states = {text for e in catalog.values() for text in (e.get("mapping") or {}).values()}
    untranslated = [s for s in states if SV.pgettext("state", s) == s and s not in ("normal", "auto", "smart")]
    assert not untranslated, untranslated


def test_designations_and_numbers_are_kept_in_the_swedish_text():
    # the sensor designations (BT1, GT2) and the figures stay; decimals take Swedish commas
    assert SV.pgettext("register", "Outdoor temperature (BT1)") == "Utomhustemperatur (BT1)"
    text = SV.pgettext("register", "Outdoor temperature (GT2; -26 = -2.6 C in capture-lauri)")
    assert "GT2" in text and "-2,6" in text
    assert SV.pgettext("state", "hot water") == "varmvatten"
