"""Running the app: one worker process, or a supervisor of N workers sharing one socket."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from typing import Any

from ..redis_io import embedded
from ..runtime import metrics
from ..runtime.settings import Settings
from .crashloop import EXIT_CRASH_LOOP, CrashLoop
from .supervisor import give_up, supervise
from .worker import STOP, StartupError, bind, run_worker

log = logging.getLogger("service.server")


def serve(settings: Settings, announce: Any = None) -> int:
    """Serve with `settings.workers` processes. Returns the exit status."""
    if settings.workers == 1:
        sock = bind(settings.host, settings.port)
        if announce:
            announce(sock)  # the socket already listens: early requests wait in its backlog
        status = _serve_in_process(settings, sock)
    else:
        status = supervise(settings, announce)
    _stop_embedded_redis_if_it_dies_with_us(settings)
    sys.stdout.flush()
    return status


def _serve_in_process(settings: Settings, sock: socket.socket) -> int:
    """One worker in this process, restarted by the same policy as the supervisor's."""
    crashes = CrashLoop(settings.crash_loop_limit)
    metrics.worker_started(1, restarted=False)
    while True:
        started = time.monotonic()
        try:
            run_worker(settings, sock)
            return 0
        except StartupError as exc:
            delay = crashes.failed(time.monotonic() - started)
            if delay is None:
                give_up(crashes, f"worker 1: could not start ({exc})")
                return EXIT_CRASH_LOOP
            log.warning("worker 1: could not start (%s); starting it again in %g s", exc, delay)
            if _sleep_unless_signalled(delay, unblock=True):
                return 0
            metrics.worker_started(1, restarted=True)


def _sleep_unless_signalled(delay_s: float, unblock: bool = False) -> bool:
    """Sleep, unless SIGTERM/SIGINT comes first. Returns whether one came. With `unblock`, the
    stop signals that worker._run_worker blocked are unblocked once this handler is in place, so one
    that came meanwhile is delivered here."""
    signalled: list[int] = []
    previous = {sig: signal.signal(sig, lambda n, _f: signalled.append(n)) for sig in STOP}
    if unblock:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP)
    try:
        deadline = time.monotonic() + delay_s
        while not signalled and time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return bool(signalled)


def _stop_embedded_redis_if_it_dies_with_us(settings: Settings) -> None:
    """Shut the embedded Redis down cleanly when whatever stops us also kills it.

    As a container's PID 1 (or the child of an init there, or a service manager's main
    process), our exit takes every process of the container or unit with it: the daemonized
    redis-server would get SIGKILL and could lose its last second of AOF. A clean SHUTDOWN
    writes and fsyncs it. Elsewhere the server stays up for the other commands, as before.
    """
    if not embedded.is_embedded(settings) or 1 not in (os.getpid(), os.getppid()):
        return
    try:
        if embedded.stop(settings):
            log.info("embedded redis-server shut down")
    except OSError as exc:
        log.warning("could not shut the embedded redis-server down: %s", exc)
