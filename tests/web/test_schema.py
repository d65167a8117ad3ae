"""``/openapi.json`` is what the JSON API answers: every route's documented schema holds for
its real answers, the schemas are strict enough to notice a key added or left out, and
derived values are documented, catalogued and answered from their one definition.

The fuzzing of :mod:`tests.web.test_fuzz` checks conformance on random requests; this checks
every route deterministically, on answers with data, and that the check has teeth.
"""

from __future__ import annotations

import copy
from typing import Any, Iterator

import httpx
import jsonschema_rs  # schemathesis' JSON Schema validator
import pytest
from pydantic import BaseModel, ValidationError

from heatpump_monitor.derived import DERIVED, difference, increase, ratio
from heatpump_monitor.web import models
from heatpump_monitor.web.catalog import field_catalog
from tests.web.test_alerts_api import alerts_config, write_state
from tests.web.test_api import IV, LAST, NI, NOW, T0, TH, dashboard, embedded, store_path  # noqa: F401

# every JSON route with requests that reach data (and one that does not)
REQUESTS: dict[str, list[dict[str, str]]] = {
    "/api/v1/gateways": [{}],
    "/api/v1/latest": [{"gateway": TH}, {"gateway": IV}, {"gateway": IV, "source": "mqtt"}, {"gateway": NI}],
    "/api/v1/series": [
        {"gateway": TH, "fields": "outdoor_temp,compressor,alarm,delta_t_radiator,delta_t_brine",
         "start": str(T0), "end": str(LAST + 1), "points": "200"},
        {"gateway": NI, "fields": "outdoor_temp,delta_t_radiator", "start": str(T0), "end": str(LAST + 1)},
        {"gateway": IV, "fields": "alarm_code", "source": "mqtt", "start": "1970-01-01", "end": "1970-01-02"},
    ],
    "/api/v1/summary": [
        {"gateway": TH, "from": "2025-11-27", "to": "2025-11-29"},
        {"gateway": TH, "from": "2025-11-28", "to": "2025-11-28", "by": "hour"},
        {"gateway": IV, "since": "2d", "source": "mqtt", "by": "period"},
        {"gateway": NI, "from": "1970-01-01", "to": "1970-01-02"},
    ],
    "/api/v1/events": [
        {"gateway": TH, "from": "2025-11-27", "to": "2025-11-29"},
        {"gateway": IV, "from": "2025-11-28", "to": "2025-11-28"},
        {"gateway": NI, "since": "3d"},
    ],
    "/api/v1/alerts": [{}],
    "/api/v1/alerts/history": [{}, {"gateway": TH, "limit": "1"}, {"gateway": "nope"}],
    "/api/v1/alerts/rules": [{}],
}
REQUESTS.update({  # issue 16 (web/curve.py)
    "/api/v1/heatcurve": [{"gateway": TH, "from": "2025-11-28", "to": "2025-11-28"}, {"gateway": NI, "since": "2d"},
                          {"gateway": IV, "source": "mqtt", "from": "1970-01-01", "to": "1970-01-02"}],
    "/api/v1/signature": [{"gateway": TH, "from": "2025-11-27", "to": "2025-11-29", "compare_from": "2025-11-20"},
                          {"gateway": NI, "since": "3d"}],
})
ERRORS = [("/api/v1/series", {"gateway": TH, "fields": "no_such_field"}, 400),
          ("/api/v1/latest", {"gateway": "nope"}, 404),
          ("/api/v1/latest", {}, 400),
          ("/api/v1/summary", {"gateway": TH, "since": "40d", "by": "hour"}, 400),
          ("/api/v1/summary", {"gateway": "nope"}, 404),
          ("/api/v1/events", {"gateway": TH, "since": "32d"}, 400),
          ("/api/v1/events", {"gateway": "nope"}, 404),
          ("/api/v1/alerts/history", {"limit": "0"}, 400),
          ("/api/v1/alerts", {"gateway": TH}, 400),
          ("/api/v1/heatcurve", {"gateway": "nope"}, 404), ("/api/v1/signature", {"gateway": TH, "since": "x"}, 400)]
#: the one route that is not a GET (it sends a message): its answers are checked against the
#: schema in tests/web/test_alerts_api.py, with a real receiver
POSTS = ["/api/v1/alerts/test"]


@pytest.fixture(scope="module")
def client(store_path, tmp_path_factory) -> Iterator[httpx.Client]:  # noqa: F811
    """The app of test_api's client, with alert state files (active alerts and history)."""
    directory = str(tmp_path_factory.mktemp("schema-alerts"))
    write_state(directory)
    with dashboard(embedded(store_path), clock=lambda: NOW / 1000, alerts=alerts_config(directory)) as c:
        yield c


@pytest.fixture(scope="module")
def openapi(client) -> dict[str, Any]:  # noqa: F811
    return client.get("/openapi.json").json()


def validator(doc: dict[str, Any], path: str, status: str) -> jsonschema_rs.Draft202012Validator:
    """The documented JSON schema of ``path``'s ``status`` answer, its $refs resolvable."""
    schema = doc["paths"][path]["get"]["responses"][status]["content"]["application/json"]["schema"]
    return jsonschema_rs.Draft202012Validator({**schema, "components": doc["components"]})


def test_every_json_route_is_checked(openapi):
    assert sorted(p for p, ops in openapi["paths"].items() if "get" in ops) == sorted(REQUESTS)
    assert sorted(p for p, ops in openapi["paths"].items() if set(ops) != {"get"}) == POSTS


@pytest.mark.parametrize("path", sorted(REQUESTS))
def test_every_answer_is_what_the_schema_documents(client, openapi, path):  # noqa: F811
    check = validator(openapi, path, "200")
    for params in REQUESTS[path]:
        resp = client.get(path, params=params)
        assert resp.status_code == 200, (params, resp.text)
        doc = resp.json()
        errors = [e.message for e in check.iter_errors(doc)]
        assert errors == [], (params, errors)


def test_error_answers_are_what_the_schema_documents(client, openapi):  # noqa: F811
    for path, params, status in ERRORS:
        resp = client.get(path, params=params)
        assert resp.status_code == status, resp.text
        check = validator(openapi, path, str(status))
        assert check.is_valid(resp.json()), resp.text


def keys_and_nested(doc: Any, prefix: str = "") -> Iterator[tuple[str, dict[str, Any], str]]:
    """(where, object, key) for every key of every object in ``doc``, but the free-form maps
    (values, units, texts) whose keys are field names, and a rule's settings (its thresholds)."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield prefix, doc, k
            if k not in ("values", "units", "texts", "settings"):
                yield from keys_and_nested(v, f"{prefix}.{k}")
    elif isinstance(doc, list) and doc:
        yield from keys_and_nested(doc[0], prefix + "[0]")


@pytest.mark.parametrize("path", sorted(REQUESTS))
def test_the_schemas_notice_a_key_added_or_left_out(client, openapi, path):  # noqa: F811
    """Had a route an undeclared key, or lacked a documented one, the checks above would fail."""
    check = validator(openapi, path, "200")
    doc = client.get(path, params=REQUESTS[path][0]).json()
    assert check.is_valid(doc)
    places = list(keys_and_nested(doc))
    assert len(places) > 8
    for where, _, key in places:
        for change in ("drop", "add"):
            tampered = copy.deepcopy(doc)
            target = next(obj for w, obj, k in keys_and_nested(tampered) if (w, k) == (where, key))
            if change == "drop":
                del target[key]
            else:
                target[key + "_undeclared"] = 1
            assert not check.is_valid(tampered), (change, where, key)


def answer_models() -> list[type[BaseModel]]:
    return [m for m in vars(models).values()
            if isinstance(m, type) and issubclass(m, models.Answer) and m is not models.Answer]


@pytest.mark.parametrize("model", answer_models(), ids=lambda m: m.__name__)
def test_models_refuse_an_undeclared_key_and_require_every_key(model):
    """So a route that builds its answer with a key too many or too few fails at once."""
    schema = model.model_json_schema()
    assert schema["additionalProperties"] is False
    assert sorted(schema["required"]) == sorted(schema["properties"])
    with pytest.raises(ValidationError, match="extra|Extra"):
        model.model_validate({"undeclared": 1})
    with pytest.raises(ValidationError, match="required|missing"):
        model.model_validate({})


def test_whole_numbers_stay_whole(client):  # noqa: F811
    """``38``, not ``38.0``: the models keep what the answers always had."""
    text = client.get("/api/v1/latest", params={"gateway": TH}).text
    assert '"heating_setpoint":38,' in text and '"age_s":12.0,' in text


# -- derived values from their definitions ----------------------------------------------------


@pytest.fixture
def more_derived(monkeypatch) -> Iterator[None]:
    """Three definitions more, as a contributor would add them to derived.py: a difference, a
    ratio and a counter's increase."""
    monkeypatch.setitem(DERIVED, "lift_test", difference("lift_test", "hot_water_top", "outdoor_temp", "K",
                                                         "Hot water over outdoor (a test difference)"))
    monkeypatch.setitem(DERIVED, "lift_ratio_test", ratio("lift_ratio_test", "radiator_forward", "outdoor_temp", "",
                                                          "Forward over outdoor (a test ratio)"))
    monkeypatch.setitem(DERIVED, "starts_test", increase("starts_test", "compressor", "1",
                                                         "Compressor starts (a test increase)"))
    field_catalog.cache_clear()
    yield
    field_catalog.cache_clear()


def test_a_new_definition_is_documented_catalogued_and_answered(store_path, more_derived):  # noqa: F811
    with dashboard(embedded(store_path), clock=lambda: NOW / 1000) as c:
        catalog = field_catalog("thermia")
        assert catalog["lift_ratio_test"] == {"unit": "", "kind": "derived",
                                              "description": "Forward over outdoor (a test ratio)",
                                              "formula": "radiator_forward / outdoor_temp"}
        assert catalog["starts_test"]["unit"] == "1"
        assert catalog["delta_t_brine"] == {"unit": "K", "kind": "derived", "description": "Brine in - brine out",
                                            "formula": "brine_in_evaporator - brine_out_condenser"}
        # the pages get the catalogue: the dashboard labels the value with its description
        assert "Forward over outdoor (a test ratio)" in c.get("/", params={"gateway": TH}).text
        latest = c.get("/api/v1/latest", params={"gateway": TH}).json()
        values = latest["values"]
        assert values["lift_ratio_test"] == pytest.approx(values["radiator_forward"] / values["outdoor_temp"], abs=1e-3)
        assert "lift_ratio_test" not in latest["units"]  # no unit, like a register without one
        assert "starts_test" not in values  # needs the snapshot before: not in /latest
        doc = c.get("/openapi.json").json()["paths"]
        for path in ("/api/v1/latest", "/api/v1/series"):
            assert "`lift_ratio_test` (Forward over outdoor (a test ratio), no unit: " \
                   "`radiator_forward / outdoor_temp`)" in doc[path]["get"]["description"]
        resp = c.get("/api/v1/series", params={"gateway": TH, "fields": "lift_test", "start": str(T0),
                                               "end": str(LAST + 1)})
        assert resp.status_code == 200, resp.text
        (s,) = resp.json()["series"]
        assert s["unit"] == "K" and s["kind"] == "derived" and len(s["t"]) > 100
        # any definition is a field, also where the brand lacks its inputs (no data, like a register)
        resp = c.get("/api/v1/series", params={"gateway": NI, "fields": "lift_test", "start": str(T0),
                                               "end": str(LAST + 1)})
        assert resp.status_code == 200, resp.text


def test_an_unknown_field_is_still_refused(client):  # noqa: F811
    resp = client.get("/api/v1/series", params={"gateway": TH, "fields": "delta_t_nothing"})
    assert resp.status_code == 400 and "unknown field 'delta_t_nothing'" in resp.json()["error"]
