"""service/'s floors (issue 23): `lint-imports` holds pyproject's contracts (each layer imports only
the layers below it, siblings stand apart), and the same check fails on a copy of the tree with
one upward or sideways import added, so the contract can break."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import PROJECT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
TOP = ("__init__.py", "__main__.py", "py.typed")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the tree at `root`, with its pyproject: the `service` package is the one
    under `root` (first on PYTHONPATH, ahead of the editable install), and no cache is kept."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_contract_is_kept() -> None:
    run = lint_imports(PROJECT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout
    assert "service/ imports only downward KEPT" in run.stdout


def test_every_layer_is_in_the_contract() -> None:
    """A new folder in service/ gets a floor: every subpackage is named in the layers contract,
    and service/ holds nothing else but its entry points."""
    config = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [contract] = [c for c in config["contracts"] if c["id"] == "layers"]
    floors = {name.strip() for line in contract["layers"] for name in line.split("|")}
    entries = sorted(p.name for p in (PROJECT / "service").iterdir() if p.name != "__pycache__")
    packages = [name for name in entries if name not in TOP]
    assert all((PROJECT / "service" / name / "__init__.py").is_file() for name in packages)
    assert floors == {f"service.{name}" for name in packages}
    assert len(entries) <= 13, entries


@pytest.mark.parametrize(
    ("module", "line"),
    [
        # Upward: Cognito's contract (the bottom floor) reaching for the HTTP edge.
        ("model/_upward.py", "from ..http import app\n"),
        # Upward by one floor: the Redis layer reaching for the sessions.
        ("redis_io/_upward.py", "from ..sessions import session\n"),
        # Sideways: the HTTP edge and the bulk tools stand apart on one floor.
        ("http/_sideways.py", "from ..bulk import seeding\n"),
        # A circle between two floors: the store importing the operations that import it.
        ("store/_circle.py", "from .. import ops\n"),
    ],
)
def test_a_wrong_way_import_breaks_the_contract(tmp_path: Path, module: str, line: str) -> None:
    root = tmp_path / "tree"
    shutil.copytree(PROJECT / "service", root / "service", ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(PROJECT / "pyproject.toml", root / "pyproject.toml")
    assert lint_imports(root).returncode == 0  # the copy alone is clean
    (root / "service" / module).write_text(f"from __future__ import annotations\n\n{line}")
    run = lint_imports(root)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "service/ imports only downward BROKEN" in run.stdout
    assert f"service.{module.removesuffix('.py').replace('/', '.')}" in run.stdout
