"""No test skips in CI.

A test that needs a tool this machine may lack (node and npm, chromium, nginx, wrk, envsubst, the
AWS CLI, an npm registry) calls `unavailable(reason)`: elsewhere it skips and says why; with
CI=true, where scripts/test installs every one of those tools as root, it fails, so that a
missing tool cannot make a test silently vanish from CI.

And its Guard, a plugin that tests/conftest.py registers, fails a CI=true run in which any
test skipped all the same, whatever skipped it (a `pytest.skip` that does not go through
`unavailable`, a `skipif` mark, an `importorskip`), unless it is in ALLOWED, which says why.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

# The skips a CI run may have: a test's node id -> why that skip is right in CI. An entry covers
# that test and every parametrization of it ("tests/test_x.py::test_y"), or one parametrization
# ("tests/test_x.py::test_y[cluster]"). Empty: every test of the suite runs in CI. An entry must
# say why the test cannot apply there (not merely that a tool is missing: install the tool).
ALLOWED: dict[str, str] = {}


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip the calling test because `reason`; with CI=true, fail it instead."""
    if in_ci():
        pytest.fail(f"must run in CI (CI=true), but: {reason}", pytrace=False)
    pytest.skip(reason)


def not_allowed(skips: list[tuple[str, str]], allowed: dict[str, str]) -> list[tuple[str, str]]:
    """The (node id, reason) skips that no entry of `allowed` covers."""
    return [(nodeid, why) for nodeid, why in skips if not _covered(nodeid, allowed)]


def _covered(nodeid: str, allowed: dict[str, str]) -> bool:
    return any(nodeid == test or nodeid.startswith(test + "[") for test in allowed)


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    # A skip's longrepr is (path, line, "Skipped: reason").
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


class Guard:
    """The plugin: records every skip, and with CI=true fails the run on one not ALLOWED."""

    def __init__(self, allowed: dict[str, str]) -> None:
        self.allowed = allowed
        self.skips: list[tuple[str, str]] = []

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # A module skipped whole (importorskip, pytest.skip(allow_module_level=True)).
        if report.skipped:
            self.skips.append((report.nodeid, _reason(report)))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # An xfail is reported as skipped too, but the test ran: not counted.
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skips.append((report.nodeid, _reason(report)))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if in_ci() and exitstatus == pytest.ExitCode.OK and self.left():
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        left = self.left() if in_ci() else []
        if not left:
            return
        terminalreporter.section("skipped under CI=true", sep="=", red=True, bold=True)
        for nodeid, why in left:
            terminalreporter.line(f"{nodeid}: {why}")
        terminalreporter.line(
            f"{len(left)} skipped: with CI=true nothing may skip but tests/noskip.py's ALLOWED"
        )

    def left(self) -> list[tuple[str, str]]:
        return not_allowed(self.skips, self.allowed)


def register(config: pytest.Config) -> None:
    """Install the guard (from a conftest's pytest_configure)."""
    config.pluginmanager.register(Guard(ALLOWED), "noskip")
