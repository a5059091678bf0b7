"""nginx in front of the service, with the production config (deploy/nginx.conf) as it is.

The template's two placeholders are filled the way tests/test_deploy.py fills them (str.replace):
nginx listens on a free loopback port and proxies to the service's address. It runs in the
foreground as one of the harness's children (its own process group, PR_SET_PDEATHSIG), so the
harness's cleanup stops it with everything else. Its access log (stdout, one JSON line per
request, as in production) goes to the child's log file in the run's temporary directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from .machine import PROJECT
from .procs import BenchError, Children, free_port, listening_pids, wait_http

TEMPLATE = PROJECT / "deploy" / "nginx.conf"
PLACEHOLDERS = ("${NGINX_LISTEN}", "${NGINX_UPSTREAM}")


def find_nginx() -> str:
    """nginx on PATH, or /usr/sbin/nginx (not on a normal user's PATH); "" if neither."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else ""


def nginx_version(binary: str) -> str:
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False, timeout=10)
    text = (out.stderr or out.stdout).strip()  # nginx prints its version on stderr
    return text.removeprefix("nginx version: ")


def render(listen: str, upstream: str) -> str:
    """deploy/nginx.conf with its placeholders filled."""
    text = TEMPLATE.read_text()
    for placeholder, value in zip(PLACEHOLDERS, (listen, upstream), strict=True):
        if placeholder not in text:
            raise BenchError(f"{TEMPLATE} no longer has the placeholder {placeholder}")
        text = text.replace(placeholder, value)
    if "${" in text:
        raise BenchError(f"{TEMPLATE} has a placeholder the harness does not fill")
    return text


@dataclass
class Proxy:
    """A running nginx: its master process, its URL and its prefix directory."""

    proc: subprocess.Popen[bytes]
    url: str
    prefix: Path
    name: str
    pids: list[int] = field(default_factory=list)  # master and workers


def start(children: Children, binary: str, upstream: str, name: str = "nginx") -> Proxy:
    """Start nginx in front of `upstream` ("127.0.0.1:port"); return once it answers /healthz
    (which it proxies to the service: nginx and the upstream both work)."""
    # free_port() finds a port free now; another process may take it before nginx binds it,
    # and then answer the probe in nginx's stead (nginx itself exits: address in use). So the
    # port must be nginx's own; else another port.
    for attempt in range(3):
        proxy = _start_on(children, binary, upstream, name, free_port(), last=attempt == 2)
        if proxy is not None:
            return proxy
    raise AssertionError("unreachable: the last attempt raises")


def _start_on(
    children: Children, binary: str, upstream: str, name: str, port: int, last: bool
) -> Proxy | None:
    # Started as root, nginx's workers run as nobody: they must be able to enter the prefix, so
    # it is a directory of its own, not under the run's private temporary directory.
    prefix = Path(tempfile.mkdtemp(prefix="cgd-bench-nginx-"))
    prefix.chmod(0o755)
    conf = prefix / "nginx.conf"
    conf.write_text(render(f"127.0.0.1:{port}", upstream))
    directives = f"daemon off; pid {prefix}/nginx.pid; error_log stderr;"
    argv = [binary, "-c", str(conf), "-p", f"{prefix}/", "-g", directives]
    proc = children.start(name, argv)
    proxy = Proxy(proc, f"http://127.0.0.1:{port}", prefix, name)
    try:
        wait_http(proxy.url + "/healthz", 15, proc)
        if not listening_pids(proc.pid, port):
            raise BenchError(f"port {port} answered, but another process holds it")
    except BenchError as exc:
        tail = children.log_tail(name)
        stop(children, proxy)
        if not last:
            return None
        raise BenchError(f"nginx did not start: {exc}; its log ends:\n{tail}") from None
    proxy.pids = _tree(proc.pid)
    return proxy


def _tree(pid: int) -> list[int]:
    try:
        root = psutil.Process(pid)
        return sorted([pid, *(p.pid for p in root.children(recursive=True))])
    except psutil.NoSuchProcess:
        return [pid]


def stop(children: Children, proxy: Proxy) -> None:
    children.stop(proxy.proc)
    shutil.rmtree(proxy.prefix, ignore_errors=True)
