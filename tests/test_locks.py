"""requirements/*.txt pin every dependency (exact version, sha256), agree with each other and
with pyproject.toml, and are what the test environment runs and the Dockerfile installs."""

from __future__ import annotations

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import PROJECT

LOCKS = PROJECT / "requirements"
_PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _entries(path: Path) -> list[tuple[str, str, str, list[str]]]:
    """(name, version, marker, hashes) of every requirement in a hash-pinned lock file."""
    out: list[tuple[str, str, str, list[str]]] = []
    for line in path.read_text().splitlines():
        if line.startswith((" ", "#")) or not line.strip():
            if out and "--hash=sha256:" in line:
                out[-1][3].append(line.split("--hash=sha256:")[1].split()[0])
            continue
        match = _PIN.match(line)
        assert match, f"{path.name}: not an exact pin: {line!r}"
        name, version, marker = match.groups()
        out.append((canonicalize_name(name), version, (marker or "").strip(), []))
    return out


def pins(path: Path, environment: dict[str, str] | None = None) -> dict[str, str]:
    """name -> version of the entries whose markers hold for this interpreter (or for the
    marker variables given in `environment`)."""
    return {
        name: version
        for name, version, marker, _ in _entries(path)
        if not marker or Marker(marker).evaluate(environment)
    }


def test_every_entry_is_an_exact_pin_with_hashes() -> None:
    for name in ("dev.txt", "service.txt", "embedded.txt", "build.txt"):
        entries = _entries(LOCKS / name)
        assert entries, name
        assert all(hashes for *_, hashes in entries), name


def test_the_locks_agree_with_each_other() -> None:
    # By name and version: a marker may differ (dev.txt needs a package on more Pythons).
    dev = {(n, v): h for n, v, _, h in _entries(LOCKS / "dev.txt")}
    for name in ("service.txt", "embedded.txt", "build.txt"):
        for n, v, _, h in _entries(LOCKS / name):
            assert (n, v) in dev, f"{name}: {n}=={v} is not dev.txt's version"
            assert set(h) <= set(dev[(n, v)]), f"{name}: {n}'s hashes differ from dev.txt's"


def test_the_locks_cover_pyproject() -> None:
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    extras = project["project"]["optional-dependencies"]
    wanted = {
        "service.txt": project["project"]["dependencies"],
        "embedded.txt": project["project"]["dependencies"] + extras["embedded"],
        "dev.txt": project["project"]["dependencies"]
        + extras["embedded"]
        + extras["test"]
        + extras["bench"],
        "build.txt": project["build-system"]["requires"],
    }
    for name, requirements in wanted.items():
        locked = pins(LOCKS / name)
        for text in requirements:
            req = Requirement(text)
            version = locked.get(canonicalize_name(req.name))
            assert version is not None, f"{req.name} is not in {name}: run `bash scripts/lock`"
            assert req.specifier.contains(version, prereleases=True), (
                f"{name} pins {req.name}=={version}, outside {req.specifier}: "
                "run `bash scripts/lock`"
            )


def test_this_environment_runs_the_locked_versions() -> None:
    for name, version in pins(LOCKS / "dev.txt").items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            raise AssertionError(f"{name} is locked but not installed in {sys.prefix}") from None
        assert installed == version, f"{name} {installed} installed, {version} locked"


def test_dockerfile_and_scripts_install_from_the_locks() -> None:
    dockerfile = (PROJECT / "Dockerfile").read_text()
    assert "--require-hashes --no-deps -r requirements/build.txt" in dockerfile
    assert '-r "requirements/${EXTRAS:-service}.txt"' in dockerfile
    for script, lock in (("test", "dev.txt"), ("serve", "embedded.txt")):
        text = (PROJECT / "scripts" / script).read_text()
        assert f"--require-hashes -r requirements/{lock}" in text, script
        assert "--no-deps" in text, script
