"""The dashboard's JSON API fuzzed from its own OpenAPI schema (schemathesis + hypothesis).

Every operation of ``/openapi.json`` gets schema-valid requests (positive mode; three in four
are steered onto the stored gateways, fields, sources and times, so the answers with data
are checked too) and schema-violating ones (negative mode), on an app over the embedded store
of :mod:`tests.web.test_api`, without and with HTTP basic auth. Checked for each answer:
never a server error (5xx), the status is one the schema documents, the body and content
type conform to the schema, schema-violating requests are rejected (4xx), no password in the
answer, and - with auth on - a request without the right credentials is 401.

Not checked: schemathesis' ``positive_data_acceptance`` (a schema-valid request answered
2xx/404): the schema cannot say which field names a brand has, which strings are times or
that start must be before end, and those are 400 by design.

Deterministic (``derandomize``, no example database) and without any timing assertion;
the app is called in-process (ASGI), not over a socket.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from heatpump_monitor.model import iso_ms
from heatpump_monitor.providers import load_provider
from heatpump_monitor.derived import DERIVED
from heatpump_monitor.web import create_app
from tests.web.test_alerts_api import alerts_config, write_state
from tests.web.test_api import IV, LAST, NI, NOW, PASSWORD, T0, TH, embedded, store_path  # noqa: F401

OPERATIONS = ("/api/v1/gateways", "/api/v1/latest", "/api/v1/series", "/api/v1/summary", "/api/v1/events",
              "/api/v1/alerts", "/api/v1/alerts/history", "/api/v1/alerts/rules")
OPERATIONS += ("/api/v1/heatcurve", "/api/v1/signature")  # issue 16 (web/curve.py)
#: no parameter to violate: not fuzzed in negative mode
NO_PARAMETERS = ("/api/v1/gateways", "/api/v1/alerts", "/api/v1/alerts/rules")
#: the one operation that acts (sends a test message): not fuzzed, tested in tests/web/test_alerts_api.py
ACTIONS = ("/api/v1/alerts/test",)
USER = "admin"
AUTH = (USER, PASSWORD)
MAX_EXAMPLES = 60

GATEWAYS = {TH: "thermia", IV: "ivt", NI: "nibe"}
SOURCES = {TH: ("api",), IV: ("api", "mqtt"), NI: ("api",)}
DAY = 86_400_000

FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,  # the same examples on every run: CI is not flaky
    database=None,
    deadline=None,  # no timing assertions
    # a series over ten years is slower than hypothesis likes; some strategies filter a lot
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    print_blob=False,
)


def brand_fields(brand: str) -> list[str]:
    return [r.name for r in load_provider(brand).registers.values()]


FIELDS = {brand: brand_fields(brand) for brand in set(GATEWAYS.values())}
# names no stored brand has, or only one has: 400 for the others
OTHER_FIELDS = sorted(set.union(*map(set, FIELDS.values())) - set.intersection(*map(set, FIELDS.values()))) + [
    "no_such_field"]


# -- steering schema-valid requests onto the stored data ------------------------------------


def _time_param(ms: int, iso: bool) -> str:
    return iso_ms(ms) if iso else str(ms)


@st.composite
def steered_query(draw: st.DrawFn, params: set[str], query: dict[str, Any]) -> dict[str, Any]:
    """``query`` with known gateway, fields, source and times in place of random ones
    (each kept as generated now and then)."""
    q = dict(query)
    gateway = q.get("gateway")
    if "gateway" in params:
        gateway = draw(st.sampled_from(sorted(GATEWAYS)))
        q["gateway"] = gateway
    brand = GATEWAYS.get(gateway or "")
    if "fields" in params and brand is not None:
        name = st.one_of(st.sampled_from(FIELDS[brand]), st.sampled_from(sorted(DERIVED)),
                         st.sampled_from(OTHER_FIELDS))  # derived ones and others' as often as the brand's
        chosen = draw(st.lists(name, min_size=1, max_size=8))
        q["fields"] = ",".join(chosen)
    if "source" in params and gateway in SOURCES:
        source = draw(st.sampled_from((None, "keep") + SOURCES[gateway]))
        if source is None:
            q.pop("source", None)
        elif source != "keep":
            q["source"] = source
    if "since" in params:  # summaries and events: local days around the stored ones
        how = draw(st.sampled_from(("absent", "days", "keep")))
        if how == "absent":
            q.pop("since", None)
        elif how == "days":
            q["since"] = f"{draw(st.integers(1, 40))}{draw(st.sampled_from('dw'))}"
    for name in ("from", "to", "compare_from", "compare_to"):  # compare_*: /api/v1/signature
        if name in params:
            how = draw(st.sampled_from(("absent", "absent", "date", "keep")))
            if how == "absent":
                q.pop(name, None)
            elif how == "date":
                q[name] = iso_ms(draw(st.integers(T0 - 40 * DAY, LAST + 3 * DAY)))[:10]
    for name in ("start", "end"):
        if name in params:
            how = draw(st.sampled_from(("absent", "epoch", "iso", "keep")))
            if how == "absent":
                q.pop(name, None)
            elif how != "keep":
                ms = draw(st.integers(T0 - 3 * DAY, LAST + 3 * DAY))
                q[name] = _time_param(ms, how == "iso")
    return q


@st.composite
def cases(draw: st.DrawFn, operation: Any, mode: GenerationMode) -> Any:
    case = draw(operation.as_strategy(mode))
    if mode is GenerationMode.POSITIVE and draw(st.integers(0, 3)) > 0:
        params = {p.name for p in operation.iter_parameters() if p.location == "query"}
        if params:
            # schemathesis notices the edit and re-checks which parameters are schema-valid
            case.query = draw(steered_query(params, case.query or {}))
    return case


# -- the apps -------------------------------------------------------------------------------


def _app(store_path, alerts_dir: str, **options: Any) -> FastAPI:
    return create_app(embedded(store_path), clock=lambda: NOW / 1000, alerts=alerts_config(alerts_dir), **options)


@pytest.fixture(scope="module")
def schemas(store_path, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The OpenAPI schema of an app without auth ("open") and of one with basic auth ("auth"),
    each bound to its app (requests go to the app in-process)."""
    config = schemathesis.Config()  # not a schemathesis.toml that may lie around
    alerts_dir = str(tmp_path_factory.mktemp("fuzz-alerts"))
    write_state(alerts_dir)
    open_app, auth_app = _app(store_path, alerts_dir), _app(store_path, alerts_dir, auth=AUTH)
    loaded = {
        "open": schemathesis.openapi.from_asgi("/openapi.json", open_app, config=config),
        "auth": schemathesis.openapi.from_asgi("/openapi.json", auth_app, config=config, auth=AUTH),
    }
    yield loaded
    for app in (open_app, auth_app):
        app.state.store.close()


def test_every_operation_is_fuzzed(schemas):
    """A new endpoint must be added to OPERATIONS (and so fuzzed)."""
    for schema in schemas.values():
        ops = sorted(r.ok().path for r in schema.get_all_operations())
        assert ops == sorted(OPERATIONS + ACTIONS)
        assert all(r.ok().method.upper() == ("POST" if r.ok().path in ACTIONS else "GET")
                   for r in schema.get_all_operations())


# -- the fuzzing ----------------------------------------------------------------------------

CREDENTIALS = st.sampled_from(["right", "right", "right", "none", "wrong-password", "wrong-user"])


def header(resp: Any, name: str) -> str:
    values = resp.headers.get(name) or [""]  # schemathesis' Response: name -> list of values
    return values[0]


def check_answer(case: Any, auth: bool, credentials: str) -> int:
    """Send ``case`` (with these credentials), check the answer; its status."""
    kwargs: dict[str, Any] = {}
    if credentials == "right":
        kwargs["auth"] = AUTH
    elif credentials == "wrong-password":
        kwargs["auth"] = (USER, PASSWORD + "x")
    elif credentials == "wrong-user":
        kwargs["auth"] = ("root", PASSWORD)
    # status documented, body/content type per schema, no 5xx, schema violations rejected;
    # raises a report with the request as a curl command on a failure
    resp = case.call_and_validate(excluded_checks=[positive_data_acceptance], **kwargs)
    assert resp.status_code < 500, (resp.status_code, resp.text)
    if header(resp, "content-type").startswith("text/csv"):  # format=csv: the answer as CSV
        assert resp.status_code == 200 and (case.query or {}).get("format") == "csv", resp.headers
        assert PASSWORD not in resp.text
        return resp.status_code
    assert header(resp, "content-type").startswith("application/json"), resp.headers
    doc = resp.json()
    if resp.status_code >= 400:
        assert isinstance(doc.get("error"), str) and doc["error"], doc
    assert PASSWORD not in resp.text and PASSWORD not in str(resp.headers)
    if auth and credentials != "right":
        assert resp.status_code == 401, (credentials, resp.status_code, resp.text)
        assert header(resp, "www-authenticate").startswith("Basic ")
    return resp.status_code


FUZZ = [
    pytest.param(path, mode, auth, id=f"{auth}-{mode.value}-{path.rsplit('/', 1)[1]}")
    for auth in ("open", "auth")
    for path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if not (path in NO_PARAMETERS and mode is GenerationMode.NEGATIVE)
]


@pytest.mark.parametrize("path,mode,auth", FUZZ)
def test_fuzz_api(schemas, path: str, mode: GenerationMode, auth: str) -> None:
    operation = schemas[auth][path]["GET"]
    statuses: dict[int, int] = {}

    @FUZZ_SETTINGS
    @given(case=cases(operation, mode), credentials=CREDENTIALS if auth == "auth" else st.just("none"))
    def run(case: Any, credentials: str) -> None:
        status = check_answer(case, auth == "auth", credentials)
        statuses[status] = statuses.get(status, 0) + 1

    run()
    if mode is GenerationMode.POSITIVE:
        assert statuses.get(200), statuses  # the steering reaches the stored data
    else:
        # rejected as bad parameters; a few "negative" cases are valid once on the wire
        # (an array [x] is sent as x): 404 for an unknown gateway, 200 for the alert history (an
        # unknown gateway's history is empty: it may name gateways no longer in the store)
        valid_on_the_wire = {200} if path == "/api/v1/alerts/history" else {404}
        assert statuses.get(400) and statuses.keys() <= {400, 401} | valid_on_the_wire, statuses
