"""deploy/docker-compose.yml brought up for real with podman-compose: Redis, the service
(2 workers) and nginx, with GetDevice answered through the nginx front.

redis:7.4-alpine and nginx:1.27-alpine cannot be pulled here, so the compose file's images are
overridden with stand-ins built on the local Debian base (tests/container_images.py): Debian's
redis-server and nginx, each with a small entrypoint that does what the official image's does
for this file (redis: serve every interface; nginx: render /etc/nginx/templates with
envsubst). The service is the image tests/test_container.py builds.

Two things this host lacks are done here instead: podman's defaults that fail (runtime,
ulimits) are set in a containers.conf of the test's own (CONTAINERS_CONF), and with no
systemd to run healthcheck timers, the test runs `podman healthcheck run` on the stack's
containers itself, as the timers would, so that `depends_on: service_healthy` can be met.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from tests import container_images as images
from tests.conftest import PROJECT, boto_client, free_port
from tests.test_container import image, podman  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow

STANDIN_DOCKERFILE = """\
ARG BASE
FROM ${BASE}
ARG PACKAGES
# No daemon may start during the build (the packages' postinst scripts would try).
RUN printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \\
    && apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${PACKAGES} \\
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d
COPY entrypoint /usr/local/bin/entrypoint
ENTRYPOINT ["/usr/local/bin/entrypoint"]
"""

REDIS_ENTRYPOINT = """\
#!/bin/sh
# As the official image: redis-server without a config file serves every interface (Debian's
# default, protected mode, would refuse the other containers).
if [ "$1" = redis-server ]; then shift; exec redis-server "$@" --protected-mode no; fi
exec "$@"
"""

NGINX_ENTRYPOINT = """\
#!/bin/sh
# As the official image's 20-envsubst-on-templates.sh: render /etc/nginx/templates/*.template
# into NGINX_ENVSUBST_OUTPUT_DIR, substituting only variables that match NGINX_ENVSUBST_FILTER.
set -eu
out="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
vars=$(env | cut -d= -f1 | grep -E "${NGINX_ENVSUBST_FILTER:-.}" | sed 's/.*/${&}/' | tr '\\n' ' ')
for template in /etc/nginx/templates/*.template; do
  [ -e "$template" ] || continue
  envsubst "$vars" < "$template" > "$out/$(basename "$template" .template)"
done
exec "$@"
"""


def _standins() -> dict[str, str]:
    redis = images.standin_image(
        "redis",
        ["redis-server"],
        {
            "Dockerfile": STANDIN_DOCKERFILE + 'WORKDIR /data\nCMD ["redis-server"]\n',
            "entrypoint": REDIS_ENTRYPOINT,
        },
    )
    nginx = images.standin_image(
        "nginx",
        ["nginx-light", "gettext-base", "wget"],
        {
            "Dockerfile": STANDIN_DOCKERFILE + 'CMD ["nginx", "-g", "daemon off;"]\n',
            "entrypoint": NGINX_ENTRYPOINT,
        },
    )
    return {"REDIS_IMAGE": redis, "NGINX_IMAGE": nginx}


class Stack:
    def __init__(self, service_image: str, workdir: Path) -> None:
        self.project = f"cgd{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.admin_port = free_port()
        self.admin_key, self.admin_secret = "composeops", uuid.uuid4().hex
        conf = workdir / "containers.conf"
        hard = images._nofile_hard()
        conf.write_text(
            "[containers]\n"
            f'default_ulimits = ["nofile={hard}:{hard}", "nproc=4096:4096"]\n'
            '[engine]\nruntime = "runc"\n'
        )
        self.env = {
            **os.environ,
            "CONTAINERS_CONF": str(conf),
            "SERVICE_IMAGE": service_image,
            "NGINX_PUBLISH": f"127.0.0.1:{self.port}",
            "ADMIN_PUBLISH": f"127.0.0.1:{self.admin_port}",
            "ADMIN_CREDENTIALS": f"{self.admin_key}:{self.admin_secret}",
            **_standins(),
        }
        compose = shutil.which("podman-compose", path=str(Path(sys.executable).parent))
        assert compose, "podman-compose is in the test extra (requirements/dev.txt)"
        self.base = [compose, "-p", self.project, "-f", str(PROJECT / "deploy/docker-compose.yml")]
        self._stop = threading.Event()
        self._health = threading.Thread(target=self._healthchecks, daemon=True)

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.base, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _healthchecks(self) -> None:
        """What podman's systemd timers do elsewhere: run each container's healthcheck."""
        while not self._stop.wait(1.0):
            names = images.run(
                "ps", "--filter", f"label=io.podman.compose.project={self.project}",
                "--format", "{{.Names}}", check=False,
            ).stdout.split()  # fmt: skip
            for name in names:
                images.run("healthcheck", "run", name, check=False, timeout=30)

    def up(self) -> subprocess.CompletedProcess[str]:
        self._health.start()
        return self.compose("up", "-d", timeout=600)

    def down(self) -> None:
        self._stop.set()
        self._health.join(10)
        self.compose("down", "--volumes", "--timeout", "20")

    def container(self, service: str) -> str:
        names = images.run(
            "ps", "--filter", f"label=io.podman.compose.project={self.project}",
            "--filter", f"label=io.podman.compose.service={service}",
            "--format", "{{.Names}}",
        ).stdout.split()  # fmt: skip
        assert len(names) == 1, names
        return names[0]


@pytest.fixture
def stack(image: str, tmp_path: Path) -> Iterator[Stack]:  # noqa: F811
    running = Stack(image, tmp_path)
    try:
        yield running
    finally:
        running.down()


def test_compose_stack_answers_get_device_through_nginx(stack: Stack) -> None:
    started = time.monotonic()
    result = stack.up()
    assert result.returncode == 0, result.stdout + result.stderr
    url = f"http://127.0.0.1:{stack.port}"
    admin_url = f"http://127.0.0.1:{stack.admin_port}"
    while True:
        try:
            # /readyz is the operators' (the admin port); the edge does not serve it.
            with urllib.request.urlopen(f"{admin_url}/readyz", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() - started > 120:
            raise AssertionError(stack.compose("logs").stdout[-4000:])
        time.sleep(0.5)
    service = stack.container("service")

    def cli(*args: str) -> str:
        return images.run("exec", service, "python", "-m", "service", *args).stdout

    cli("user", "create", "composed")
    device = json.loads(cli("device", "add", "composed"))["DeviceKey"]
    token = cli("token", "composed").strip()
    client = boto_client(url)
    answer = client.get_device(AccessToken=token, DeviceKey=device)
    client.close()
    assert answer["Device"]["DeviceKey"] == device
    # nginx answered: its request id header is on every answer.
    assert "x-request-id" in answer["ResponseMetadata"]["HTTPHeaders"]

    # The admin plane: with the pair compose was given, at the admin port; refused at the edge.
    def signed(endpoint: str) -> Any:
        return boto3.client(
            "cognito-idp",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=stack.admin_key,
            aws_secret_access_key=stack.admin_secret,
            config=botocore.config.Config(retries={"total_max_attempts": 1}),
        )

    inside, edge = signed(admin_url), signed(url)
    assert inside.list_user_pools(MaxResults=10)["UserPools"]
    with pytest.raises(ClientError) as info:
        edge.list_user_pools(MaxResults=10)
    assert info.value.response["Error"]["Code"] == "AccessDeniedException"
    inside.close()
    edge.close()
    with pytest.raises(urllib.error.HTTPError) as hidden:
        urllib.request.urlopen(f"{url}/readyz", timeout=5)
    assert hidden.value.code == 404
    hidden.value.close()  # its socket, else a ResourceWarning fails a later test at GC time
    # Redis runs under a memory cap, so that noeviction refuses writes rather than grow.
    redis = stack.container("redis")
    maxmemory = images.run("exec", redis, "redis-cli", "config", "get", "maxmemory").stdout
    assert int(maxmemory.split()[1]) == 256 * 1024 * 1024
