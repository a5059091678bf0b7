"""Images for the container tests, built with podman from a locally made Debian base.

No image registry is reachable from where these tests run, so the base is made here:
`mmdebstrap` writes a minimal bookworm with Python 3.11 (from the Debian archive apt already
uses), `podman import` turns it into an image, and the project's Dockerfile is built on it
unchanged (`--build-arg PYTHON_IMAGE=<base>`). Only the base trusts this host's extra CA
certificates (/usr/local/share/ca-certificates: PyPI may be reached through a TLS-intercepting
proxy); the Dockerfile knows nothing of them.

Both are cached by content: the base tar in CACHE (by suite, packages, archive, certificates)
and every image under a tag made of the hash of what it is built from. A second run finds
them and builds nothing.

podman's defaults that fail on these hosts, and what is used instead: crun refuses the hybrid
cgroup hierarchy (`--runtime runc`); the default ulimits are above what an unprivileged
container may set (`--ulimit nofile=<hard>:<hard> --ulimit nproc=4096:4096`); the default
bridge network needs iptables (`--network host`); the OCI image format drops HEALTHCHECK
(`--format docker`).
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tests.conftest import PROJECT

CACHE = Path(os.environ.get("CGD_IMAGE_CACHE", "/var/tmp/cgd-images"))
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
EXTRA_CAS = Path("/usr/local/share/ca-certificates")
# What the image build reads: the Dockerfile, .dockerignore and what .dockerignore lets in.
BUILD_INPUTS = ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md")
BUILD_TREES = ("requirements", "service")


def _nofile_hard() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


PODMAN = ["podman", "--runtime", "runc"]
ULIMITS = ["--ulimit", f"nofile={_nofile_hard()}:{_nofile_hard()}", "--ulimit", "nproc=4096:4096"]


def unavailable() -> str | None:
    """Why podman cannot build and run images here, or None if it can."""
    if os.geteuid() != 0:
        return "the container tests build with rootful podman: run them as root"
    missing = [t for t in ("podman", "runc", "mmdebstrap") if shutil.which(t) is None]
    if missing:
        return (
            f"{', '.join(missing)} not installed (apt-get install --no-install-recommends "
            "podman runc mmdebstrap slirp4netns; CI=true bash scripts/test does it as root)"
        )
    if debian_archive() is None:
        return "no Debian archive for bookworm found in the apt sources"
    probe = subprocess.run(
        [*PODMAN, "info", "--format", "{{.Host.OCIRuntime.Name}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if probe.returncode != 0:
        return f"podman does not work here: {probe.stderr.strip()[:300]}"
    return None


def debian_archive() -> str | None:
    """The URI apt uses for the bookworm suite (deb822 .sources or one-line sources.list)."""
    apt = Path("/etc/apt")
    for path in sorted(apt.glob("sources.list.d/*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields = dict(
                (k.strip().lower(), v.strip())
                for k, _, v in (line.partition(":") for line in stanza.splitlines())
                if not k.startswith("#")
            )
            if (
                "deb" in fields.get("types", "").split()
                and SUITE in fields.get("suites", "").split()
            ):
                return fields.get("uris", "").split()[0] or None
    for path in [apt / "sources.list", *sorted(apt.glob("sources.list.d/*.list"))]:
        if path.exists():
            for line in path.read_text().splitlines():
                words = re.sub(r"\[[^]]*\]", "", line).split()
                if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
                    return words[1]
    return None


def _digest(parts: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:16]


def run(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A podman command (with the runtime that works here); output captured as text."""
    result = subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def image_exists(tag: str) -> bool:
    return run("image", "exists", tag, check=False).returncode == 0


def base_image() -> str:
    """The local Debian base (imported from a cached mmdebstrap tar); its tag."""
    archive = debian_archive()
    assert archive is not None
    cas = sorted(EXTRA_CAS.rglob("*.crt")) if EXTRA_CAS.is_dir() else []
    key = _digest(
        [SUITE.encode(), ",".join(BASE_PACKAGES).encode(), archive.encode()]
        + [p.name.encode() + p.read_bytes() for p in cas]
    )
    tag = f"localhost/cgd-base:{key}"
    if image_exists(tag):
        return tag
    CACHE.mkdir(parents=True, exist_ok=True)
    tar = CACHE / f"base-{key}.tar"
    if not tar.exists():
        hooks = []
        if cas:
            # Trusted inside the base only, so that pip in the build reaches PyPI through the
            # same TLS-intercepting proxy as this host; never part of the Dockerfile.
            names = " ".join(str(p) for p in cas)
            hooks = [
                f"--customize-hook=copy-in {names} /usr/local/share/ca-certificates/",
                '--customize-hook=chroot "$1" update-ca-certificates',
            ]
        partial = CACHE / f"base-{key}.partial"
        subprocess.run(
            [
                "mmdebstrap",
                "--quiet",
                "--variant=minbase",
                "--format=tar",
                f"--include={','.join(BASE_PACKAGES)}",
                *hooks,
                SUITE,
                str(partial),
                archive,
            ],
            check=True,
            capture_output=True,
            timeout=900,
        )
        partial.rename(tar)
    run("import", "--change", 'CMD ["/bin/bash"]', str(tar), tag, timeout=300)
    return tag


def _tree_files() -> list[Path]:
    files = [PROJECT / name for name in BUILD_INPUTS]
    for tree in BUILD_TREES:
        files += sorted(
            p
            for p in (PROJECT / tree).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        )
    return files


def project_image(extras: str = "") -> str:
    """The project's Dockerfile, built on the local base (cached by content); its tag."""
    base = base_image()
    files = _tree_files()
    key = _digest(
        [base.encode(), extras.encode()]
        + [str(p.relative_to(PROJECT)).encode() + p.read_bytes() for p in files]
    )
    tag = f"localhost/cognito-device-api:{extras or 'service'}-{key}"
    if not image_exists(tag):
        # REVISION: the content key stands in for a commit (the tree may not be committed).
        build(tag, PROJECT, {"PYTHON_IMAGE": base, "EXTRAS": extras, "REVISION": key})
    return tag


def build(
    tag: str, context: Path, build_args: dict[str, str], dockerfile: Path | None = None
) -> None:
    args = ["build", "--format", "docker", "--network", "host", *ULIMITS, "-t", tag]
    for name, value in build_args.items():
        args += ["--build-arg", f"{name}={value}"]
    if dockerfile is not None:
        args += ["-f", str(dockerfile)]
    run(*args, str(context), timeout=900)


def standin_image(name: str, packages: Iterable[str], files: dict[str, str]) -> str:
    """A small image on the local base: Debian packages and a few files (e.g. an entrypoint),
    for stand-ins of public images that cannot be pulled here. `files` maps a path in the
    build context to its text; the Dockerfile is among them. Cached by content."""
    base = base_image()
    key = _digest(
        [base.encode(), " ".join(packages).encode()]
        + [k.encode() + v.encode() for k, v in sorted(files.items())]
    )
    tag = f"localhost/cgd-{name}:{key}"
    if image_exists(tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="cgd-standin-") as tmp:
        for rel, text in files.items():
            path = Path(tmp) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            path.chmod(0o755)
        build(tag, Path(tmp), {"BASE": base, "PACKAGES": " ".join(packages)})
    return tag
