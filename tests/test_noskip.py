"""tests/noskip.py: with CI=true a skip fails the run (unless allowed), and `unavailable` fails
the test; without CI=true both skip as pytest does. Each case is a real pytest run, in a
subprocess, of a few small tests written for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import noskip
from tests.conftest import PROJECT

# What the suite's own conftest does, and the same with an allow-list of this test's own.
REGISTER = (
    "from tests import noskip\n\ndef pytest_configure(config):\n    noskip.register(config)\n"
)
ALLOWING = (
    "from tests import noskip\n\n"
    "ALLOWED = {'test_tools.py::test_skipped': 'a test', 'test_tools.py::test_marked': 'b',"
    " 'test_gone.py': 'c'}\n\n"
    "def pytest_configure(config):\n"
    "    config.pluginmanager.register(noskip.Guard(ALLOWED), 'noskip')\n"
)
TOOLS = """
import pytest

def test_runs():
    pass

def test_skipped():
    pytest.skip("no such tool here")

@pytest.mark.parametrize("n", [1])
@pytest.mark.skipif(True, reason="marked to skip")
def test_marked(n):
    pass

@pytest.mark.xfail(strict=True)
def test_expected_to_fail():
    assert False
"""
GONE = 'import pytest\n\npytest.importorskip("cgd_no_such_module")\n'
NEEDS = """
from tests.noskip import unavailable

def test_needs_a_tool():
    unavailable("the tool is not installed")
"""


def run(where: Path, files: dict[str, str], ci: bool) -> subprocess.CompletedProcess[str]:
    for name, text in files.items():
        (where / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(PROJECT)  # for `from tests import noskip`
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # pytest alone: 0.6 s a run instead of 6
    if ci:
        env["CI"] = "true"
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", str(where)]
    return subprocess.run(args, cwd=where, env=env, capture_output=True, text=True, timeout=60)


def test_a_skip_fails_a_ci_run_and_says_which(tmp_path: Path) -> None:
    done = run(
        tmp_path, {"conftest.py": REGISTER, "test_tools.py": TOOLS, "test_gone.py": GONE}, True
    )
    out = done.stdout
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, out + done.stderr
    assert "1 passed, 3 skipped, 1 xfailed" in out
    section = out.split("= skipped under CI=true =")[1].split("short test summary")[0]
    assert "test_tools.py::test_skipped: no such tool here" in section
    assert "test_tools.py::test_marked[1]: marked to skip" in section
    assert "test_gone.py: could not import 'cgd_no_such_module'" in section
    assert "xfail" not in section and "test_runs" not in section
    assert "3 skipped: with CI=true nothing may skip but tests/noskip.py's ALLOWED" in section


def test_without_ci_a_skip_is_only_a_skip(tmp_path: Path) -> None:
    done = run(
        tmp_path, {"conftest.py": REGISTER, "test_tools.py": TOOLS, "test_gone.py": GONE}, False
    )
    assert done.returncode == pytest.ExitCode.OK, done.stdout + done.stderr
    assert "1 passed, 3 skipped, 1 xfailed" in done.stdout
    assert "skipped under CI=true" not in done.stdout


def test_allowed_skips_pass_a_ci_run(tmp_path: Path) -> None:
    done = run(
        tmp_path, {"conftest.py": ALLOWING, "test_tools.py": TOOLS, "test_gone.py": GONE}, True
    )
    assert done.returncode == pytest.ExitCode.OK, done.stdout + done.stderr
    assert "1 passed, 3 skipped, 1 xfailed" in done.stdout
    assert "skipped under CI=true" not in done.stdout


@pytest.mark.parametrize("ci", [True, False])
def test_unavailable_fails_in_ci_and_skips_elsewhere(tmp_path: Path, ci: bool) -> None:
    done = run(tmp_path, {"conftest.py": REGISTER, "test_needs.py": NEEDS}, ci)
    if ci:
        assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
        assert "must run in CI (CI=true), but: the tool is not installed" in done.stdout
        assert "1 failed" in done.stdout
    else:
        assert done.returncode == pytest.ExitCode.OK, done.stdout + done.stderr
        assert "the tool is not installed\n" in done.stdout and "1 skipped" in done.stdout


def test_the_suite_runs_under_the_guard(request: pytest.FixtureRequest) -> None:
    guard = request.config.pluginmanager.get_plugin("noskip")
    assert isinstance(guard, noskip.Guard) and guard.allowed is noskip.ALLOWED


def test_every_allowed_entry_says_why() -> None:
    for pattern, why in noskip.ALLOWED.items():
        assert "::" in pattern, f"{pattern}: allow one test or parametrization, not a module"
        assert len(why.split()) >= 4, f"{pattern}: say why it cannot run in CI"


def test_an_entry_covers_its_test_and_its_parametrizations_only() -> None:
    allowed = {"t.py::test_y": "why", "t.py::test_z[cluster]": "why"}
    names = ["t.py::test_y", "t.py::test_y[a]", "t.py::test_y2", "t.py::test_z[cluster]"]
    skips = [(name, "r") for name in [*names, "t.py::test_z[single]", "t.py::test_z"]]
    left = noskip.not_allowed(skips, allowed)
    assert left == [("t.py::test_y2", "r"), ("t.py::test_z[single]", "r"), ("t.py::test_z", "r")]
