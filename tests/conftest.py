"""Suite-wide rules. A test marked ``realserver`` must run: if it is skipped (a server binary
missing, a fixture skipping) the session fails, so CI can never pass on skipped
integration tests."""

from __future__ import annotations

import pytest

from .servers import start_influxdb1, start_victoriametrics

_skipped_real: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and item.get_closest_marker("realserver") is not None:
        _skipped_real.append(item.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if _skipped_real:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
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
