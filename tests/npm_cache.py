"""npm packages for the tests that run AWS's JavaScript libraries (the browser test, the JS SDK
v3 tests, amazon-cognito-identity-js): installed with `npm ci` from a committed package-lock.json,
once per lock, into ~/.cache/<name>/<hash of the lock>. Never committed, never re-downloaded.
Where npm cannot install them (no registry) the calling test skips; with CI=true it fails."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.noskip import unavailable

NPM_TIMEOUT_S = 300
# Few, short retries: with no registry the tests skip (or fail) within seconds, not minutes.
NPM_CI = ["ci", "--no-audit", "--no-fund", "--loglevel=error", "--fetch-retries=1"]
NPM_CI += ["--fetch-retry-mintimeout=1000", "--fetch-retry-maxtimeout=3000"]


def install(sources: Path, cache_name: str, npm: str) -> Path:
    """The directory whose node_modules holds `sources`' locked packages; skips the calling
    test when npm cannot install them (no registry), and with CI=true fails it."""
    lock = (sources / "package-lock.json").read_bytes() + (sources / "package.json").read_bytes()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    target = Path(base) / cache_name / hashlib.sha256(lock).hexdigest()[:16]
    if (target / "node_modules" / ".package-lock.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="install-", dir=target.parent))
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(sources / name, work / name)
        try:
            result = subprocess.run(
                [npm, *NPM_CI], cwd=work, capture_output=True, text=True, timeout=NPM_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            unavailable(f"npm ci did not finish within {NPM_TIMEOUT_S} s (no npm registry?)")
        if result.returncode != 0:
            lines = (result.stderr + result.stdout).splitlines()
            said = [x for x in lines if re.sub(r"^npm (error|ERR!)", "", x).strip()]
            unavailable(f"npm ci failed (no npm registry?): {' / '.join(said[:2])}")
        try:
            work.rename(target)  # atomic: a concurrent run's finished copy wins, equally good
        except OSError:
            if not (target / "node_modules" / ".package-lock.json").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
