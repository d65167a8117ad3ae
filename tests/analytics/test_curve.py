"""The brands' heat-curve models (analytics.curve) with known answers, and the brand files'
``curve:`` blocks as the registry reads them."""

from __future__ import annotations

import pytest

from heatpump_monitor.analytics import curve
from heatpump_monitor.providers.registry import CURVE_MODELS, ProviderError, load_provider, provider_from_dict


def test_supply_at_0_is_the_curve_value_at_zero_and_meets_20_at_20() -> None:
    assert curve.supply_at_0(0.0, 40.0) == 40.0  # the Legend guide: curve 40 -> 40 C at 0 C
    assert curve.supply_at_0(20.0, 40.0) == 20.0
    assert curve.supply_at_0(-10.0, 40.0) == 50.0  # 1 K per K colder
    assert curve.supply_at_0(-30.0, 40.0, max_c=55.0) == 55.0  # cut at the max register
    assert curve.supply_at_0(25.0, 40.0) == 20.0  # and at the minimum
    assert curve.supply_at_0(-10.0, 30.0, min_c=None) == 35.0  # underfloor: 0.5 K per K


def test_slope_from_20_fans_out_from_20_and_moves_in_steps() -> None:
    assert curve.slope_from_20(20.0, 9.0) == 20.0
    assert curve.slope_from_20(-20.0, 9.0) == pytest.approx(56.0)  # NIBE curve 9: 0.9 K per K
    assert curve.slope_from_20(0.0, 9.0, parallel=2.0, parallel_k_per_step=2.5) == pytest.approx(43.0)  # +2 steps = +5 K
    assert curve.slope_from_20(30.0, 9.0) == 20.0  # flat above +20
    assert curve.slope_from_20(-20.0, 5.0, k_per_step=0.15) == pytest.approx(50.0)  # IVT level 5


def test_two_point_is_a_line_between_its_points_and_flat_beyond() -> None:
    assert curve.two_point(20.0, 25.0, 55.0) == 25.0
    assert curve.two_point(-20.0, 25.0, 55.0) == 55.0
    assert curve.two_point(0.0, 25.0, 55.0) == pytest.approx(40.0)
    assert curve.two_point(-35.0, 25.0, 55.0) == 55.0
    assert curve.two_point(0.0, 20.0, 35.0, parallel=-2.0) == pytest.approx(25.5)


def test_configured_takes_the_first_model_whose_registers_have_values() -> None:
    spec = load_provider("ivt").curve
    rego1000 = curve.configured(spec, {"heat_curve_left": 20.0, "heat_curve_right": 35.0, "heat_curve_level": 4.0})
    assert rego1000 is not None and rego1000.model.model == "two_point"
    assert rego1000.supply(0.0) == pytest.approx(27.5)
    rego600 = curve.configured(spec, {"heat_curve_level": 1.9, "heat_curve_parallel": 0.6})
    assert rego600 is not None and rego600.model.model == "slope_from_20"
    assert rego600.supply(-20.0) == pytest.approx(20.0 + 1.9 * 0.15 * 40 + 0.6)
    assert curve.configured(spec, {"outdoor_temp": 1.0}) is None
    assert curve.configured_supply(load_provider("nibe").curve, {"heat_curve": 9.0, "heat_curve_offset": -1.0},
                                   -20.0) == pytest.approx(53.5)
    assert curve.configured_supply(load_provider("thermia").curve, {"heat_curve": 44.5, "heat_curve_max": 50.0},
                                   -10.0) == 50.0


def test_polyline_spans_the_range_in_steps() -> None:
    c = curve.configured(load_provider("nibe").curve, {"heat_curve": 10.0})
    assert c is not None
    line = curve.polyline(c, -30.0, 20.0, 5.0)
    assert line[0] == (-30.0, 70.0) and line[-1] == (20.0, 20.0) and len(line) == 11


def test_every_brand_file_has_a_sourced_curve() -> None:
    assert set(curve.MODELS) == set(CURVE_MODELS)
    for brand in ("thermia", "ivt", "nibe"):
        spec = load_provider(brand).curve
        assert spec is not None and spec.models and spec.forward == "radiator_forward"
        assert all(m.source and m.approximation for m in spec.models)


@pytest.mark.parametrize("block, words", [
    ({"forward": "nope", "models": []}, "unknown register"),
    ({"forward": "t", "models": [{"model": "spline", "source": "x"}]}, "bad model"),
    ({"forward": "t", "models": [{"model": "two_point", "registers": {"warm": "t"}, "source": "x"}]}, "must name"),
    ({"forward": "t", "models": [{"model": "supply_at_0", "registers": {"curve": "t"}}]}, "source missing"),
])
def test_a_bad_curve_block_is_refused_with_its_cause(block: dict[str, object], words: str) -> None:
    doc = {"brand": "thermia", "registers": [{"index": "0001", "name": "t", "source": "h1", "factor_source": "h1"}],
           "curve": block}
    with pytest.raises(ProviderError, match=words):
        provider_from_dict(doc)
