"""Suite-wide rules. A test marked ``realserver`` must run: if it is skipped (a server binary
missing, a fixture skipping) the session fails, so CI can never pass on skipped
integration tests."""

from __future__ import annotations

import pytest

from .servers import start_influxdb1, start_victoriametrics

_skipped_real: list[str] = []
#: attack number -> [(test id, passed)], for scripts/attacks (tests marked attack("N"))
_attacks: dict[str, list[tuple[str, bool]]] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and item.get_closest_marker("realserver") is not None:
        _skipped_real.append(item.nodeid)
    marker = item.get_closest_marker("attack")
    if marker is not None and (report.when == "call" or report.outcome != "passed"):
        for n in marker.args:
            _attacks.setdefault(str(n), []).append((item.nodeid, report.passed))


def pytest_sessionfinish(session, exitstatus):
    if _skipped_real:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if _attacks:
        terminalreporter.section("issue 10's attacks, replayed")
        for n in sorted(_attacks, key=lambda k: int(k)):
            results = _attacks[n]
            held = all(ok for _, ok in results)
            terminalreporter.line(f"attack {n:>2}: {'HELD' if held else 'BROKE'} ({len(results)} test(s))")
            by_test: dict[str, list[bool]] = {}
            for nodeid, ok in results:
                by_test.setdefault(nodeid.split("[")[0], []).append(ok)
            for test, oks in by_test.items():
                cases = f" ({len(oks)} cases)" if len(oks) > 1 else ""
                terminalreporter.line(f"    {'ok  ' if all(oks) else 'FAIL'} {test}{cases}")
    if _skipped_real:
        terminalreporter.section("real-server tests were skipped: failing the run", red=True)
        for nodeid in _skipped_real:
            terminalreporter.line(nodeid)


# One real server of each kind per test session, shared: every test uses its own database
# (or its own gateway names), so they do not see each other's data.
@pytest.fixture(scope="session")
def influxdb1(tmp_path_factory):
    h = start_influxdb1(tmp_path_factory.mktemp("influxdb1"))
    yield h
    h.stop()


@pytest.fixture(scope="session")
def victoriametrics(tmp_path_factory):
    h = start_victoriametrics(tmp_path_factory.mktemp("victoriametrics"))
    yield h
    h.stop()
