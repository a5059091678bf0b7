"""Running the app: one worker process, or a supervisor of N workers sharing one port."""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import replace
from typing import Any

import uvloop
from aiohttp import web

from . import logs, metrics
from .app import create_app
from .httpserver import make_runner
from .logs import AccessLogger
from .settings import Settings

log = logging.getLogger("service.server")


def _bind(host: str, port: int, reuse_port: bool, listen: bool = True) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    if listen:
        sock.listen(4096)
    sock.setblocking(False)
    return sock


async def _run_worker(settings: Settings, sock: socket.socket) -> None:
    app = create_app(settings)
    access: dict[str, Any] = {"access_log": None}
    if settings.access_log:
        access = {
            "access_log": logging.getLogger("service.access"),
            "access_log_class": AccessLogger,
        }
    runner = make_runner(app, handle_signals=False, shutdown_timeout=settings.grace_s, **access)
    await runner.setup()
    # Everything built so far (modules, parsed keys, pools, Redis clients) lives as
    # long as the worker: move it out of the cyclic GC's sight, so that full collections
    # scan only what requests allocate (a full scan of the whole heap is a latency spike).
    # The price: a startup object that later becomes cyclic garbage is never collected; the
    # startup set is bounded, so that waste is too.
    gc.collect()
    gc.freeze()
    site = web.SockSite(runner, sock, shutdown_timeout=settings.grace_s)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    # Stop accepting, let in-flight requests finish (up to GRACE_S), then close Redis.
    await runner.cleanup()


def run_worker(settings: Settings, sock: socket.socket) -> None:
    """Serve on `sock` in this process until SIGTERM/SIGINT; then drain and exit."""
    uvloop.run(_run_worker(settings, sock))


def _worker_main(settings: Settings, host: str, port: int) -> None:
    logs.configure(settings.log_level)
    sock = _bind(host, port, reuse_port=True)
    run_worker(settings, sock)


def serve(settings: Settings, announce: Any = None) -> int:
    """Serve with `settings.workers` processes. Returns the exit status."""
    if settings.workers == 1:
        sock = _bind(settings.host, settings.port, reuse_port=False)
        if announce:
            announce(sock)  # the socket already listens: early requests wait in its backlog
        run_worker(settings, sock)
        return 0
    return _supervise(settings, announce)


def _supervise(settings: Settings, announce: Any) -> int:
    """Start N workers on one port (SO_REUSEPORT); restart any that dies; drain on SIGTERM."""
    ctx = multiprocessing.get_context("spawn")
    # Workers write metrics to files here, so any worker's /metrics can sum all of them.
    # Set before the workers start: prometheus-client picks its mode at import.
    metrics_dir = tempfile.mkdtemp(prefix="cgd-metrics-")
    os.environ[metrics.MULTIPROC_ENV] = metrics_dir
    # Reserve the port (bound, not listening, so it never takes a connection) so that
    # `--port 0` picks one port for all workers.
    holder = _bind(settings.host, settings.port, reuse_port=True, listen=False)
    port = holder.getsockname()[1]
    settings = replace(settings, port=port)
    workers: list[Any] = []
    stopping = False

    def start() -> Any:
        proc = ctx.Process(target=_worker_main, args=(settings, settings.host, port), daemon=False)
        proc.start()
        return proc

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for proc in workers:
            if proc.is_alive() and proc.pid:
                os.kill(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    workers.extend(start() for _ in range(settings.workers))
    if announce:
        announce(holder)
    while not stopping:
        time.sleep(0.2)
        for i, proc in enumerate(workers):
            if not proc.is_alive() and not stopping:
                log.warning("worker pid %s exited with %s; restarting", proc.pid, proc.exitcode)
                if proc.pid:
                    metrics.worker_exited(proc.pid)
                workers[i] = start()
    deadline = time.monotonic() + settings.grace_s + 5
    for proc in workers:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
    holder.close()
    shutil.rmtree(metrics_dir, ignore_errors=True)
    sys.stdout.flush()
    return 0
