"""What a result is worth knowing about: versions, CPU, cores, load, and the code measured."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

PROJECT = Path(__file__).resolve().parent.parent
PACKAGES = ("aiohttp", "uvloop", "hiredis", "redis", "orjson", "python-jose", "cryptography")


def _package(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_revision() -> dict[str, Any]:
    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", *args], cwd=PROJECT, capture_output=True, text=True, timeout=10, check=False
        )
        return out.stdout.strip()

    dirty = bool(git("status", "--porcelain", "service"))
    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": dirty}


def describe(redis_version: str, tools: dict[str, str | None]) -> dict[str, Any]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    versions.update({name: _package(name) for name in PACKAGES})
    versions["redis_server"] = redis_version
    versions.update(tools)
    return {
        "versions": versions,
        "cpu_model": cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "code": git_revision(),
    }
