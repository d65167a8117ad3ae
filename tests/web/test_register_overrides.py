"""The dashboard labels registers as the collector stores them: with CONFIG_FILE's overrides."""

import yaml

from heatpump_monitor.providers.overrides import NO_OVERRIDES, parse_overrides, use_overrides
from heatpump_monitor.web.catalog import field_catalog, load_or_none


def test_dashboard_catalog_uses_the_overrides():
    overrides, errors = parse_overrides(yaml.safe_load(
        '{"6C70": {name: pool_pump_hours, description: "Pool pump"}, "2210": {unit: days}}'), "c.yaml")
    assert errors == []
    try:
        use_overrides(overrides)
        field_catalog.cache_clear()
        catalog = field_catalog("ivt")
        assert catalog["pool_pump_hours"] == {"unit": "h", "kind": "hours", "description": "Pool pump"}
        assert catalog["holiday_mode"]["unit"] == "days"
        assert load_or_none("ivt").registers["6C70"].name == "pool_pump_hours"
    finally:
        use_overrides(NO_OVERRIDES)
        field_catalog.cache_clear()
    assert "pool_pump_hours" not in field_catalog("ivt")
    assert field_catalog("ivt")["holiday_mode"]["unit"] == "d"
