"""Child processes of the harness: started in their own process group, all killed on exit.

Every child is started with `start_new_session` (so a service and the workers it spawns can be
signalled as one group) and with PR_SET_PDEATHSIG (so even a SIGKILLed harness takes them down).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

PR_SET_PDEATHSIG = 1


class BenchError(RuntimeError):
    """The run cannot go on; the message says why and what to do."""


def _die_with_parent() -> None:  # runs in the child, between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Children:
    """The harness's child processes; `stop_all()` ends every one still running."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        name: str,
        args: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            list(args),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        self._procs.append(proc)
        return proc

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
        """SIGTERM the child's process group, then SIGKILL whatever is left after `grace_s`."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace_s)
        # The group may outlive its leader (a supervisor's workers): kill the rest.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if proc in self._procs:
            self._procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self._procs)):
            self.stop(proc, grace_s=3.0)


def wait_line(
    children: Children, name: str, proc: subprocess.Popen[bytes], pattern: str, timeout_s: float
) -> re.Match[str]:
    """Wait until child `name`'s log has a line matching `pattern`."""
    regex = re.compile(pattern)
    path = children.log_dir / f"{name}.log"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = regex.search(path.read_text(errors="replace")) if path.exists() else None
        if found:
            return found
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise BenchError(
        f"{name} did not start (exit status {proc.poll()}); its log ends:\n"
        f"{children.log_tail(name)}"
    )


def wait_http(url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll `url` until it answers 200; fail early if `proc` exits."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"process exited with status {proc.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.05)
    raise BenchError(f"{url} did not answer 200 within {timeout_s:.0f}s (last error: {last})")


def listening_pids(root_pid: int, port: int) -> list[int]:
    """The processes in `root_pid`'s tree that listen on `port` (the HTTP workers). A supervisor
    holds the listening socket its workers inherit: when children listen, it is not counted."""
    try:
        root = psutil.Process(root_pid)
        children = root.children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    pids = _listening(children, port)
    return pids or _listening([root], port)


def _listening(procs: Sequence[psutil.Process], port: int) -> list[int]:
    pids = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                    pids.append(proc.pid)
                    break
    return sorted(pids)


def wait_workers(root_pid: int, port: int, count: int, timeout_s: float) -> list[int]:
    """Wait until `count` processes listen on `port`; return their pids."""
    deadline = time.monotonic() + timeout_s
    pids: list[int] = []
    while time.monotonic() < deadline:
        pids = listening_pids(root_pid, port)
        if len(pids) >= count:
            return pids
        time.sleep(0.05)
    raise BenchError(f"only {len(pids)} of {count} workers listen on port {port}")


class Usage:
    """CPU seconds and RSS of a set of processes, sampled between two points in time."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.procs = [psutil.Process(pid) for pid in pids]

    def cpu_s(self) -> float:
        total = 0.0
        for proc in self.procs:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def syscalls(self) -> tuple[int, int]:
        """read- and write-type system calls so far (libuv reads and writes sockets with them)."""
        reads = writes = 0
        for proc in self.procs:
            with contextlib.suppress(psutil.Error, AttributeError):
                io = proc.io_counters()
                reads += io.read_count
                writes += io.write_count
        return reads, writes

    def rss_mib(self) -> dict[str, float]:
        rss: dict[str, float] = {}
        for proc in self.procs:
            with contextlib.suppress(psutil.Error):
                rss[str(proc.pid)] = round(proc.memory_info().rss / 2**20, 2)
        return rss


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
