"""One worker process: the app served on a listening socket until SIGTERM/SIGINT, then drained."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import sys
from multiprocessing.connection import Connection
from typing import Any

import uvloop
from aiohttp import web

from ..runtime import metrics
from ..runtime.settings import Settings
from . import drain, logs
from .app import create_app
from .httpserver import make_runner

# The stop signals: _run_worker blocks them when its start fails (see there).
STOP = (signal.SIGTERM, signal.SIGINT)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    sock.setblocking(False)
    return sock


# After the drain, what is still open gets this long before it is cut, seconds.
CUT_S = 0.5
# A worker process's exit status when it could not start.
EXIT_STARTUP = 3


class StartupError(RuntimeError):
    """The worker could not start serving (e.g. Redis unreachable); the message says why."""


async def _run_worker(settings: Settings, sock: socket.socket) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Before the (possibly slow) start-up, so that a stop during it is still a clean exit.
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = create_app(settings)
    access: dict[str, Any] = {"access_log": None}
    if settings.access_log:
        access = {
            "access_log": logging.getLogger("service.access"),
            "access_log_class": logs.access_logger(settings.trusted_proxies),
        }
    runner = make_runner(app, handle_signals=False, shutdown_timeout=CUT_S, **access)
    # The start (Redis: the default pool, the pools, the scripts) raced against a stop signal:
    # each of its Redis calls may wait up to REDIS_TIMEOUT_S on a Redis that does not answer, and
    # a SIGTERM must end the worker now, not after them (seen: 18.7 s with REDIS_TIMEOUT_S=20).
    starting = asyncio.ensure_future(runner.setup())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait((starting, stopping), return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not starting.done():
        starting.cancel()  # _redis_ctx closes what it had opened
        await asyncio.wait((starting,), timeout=CUT_S)
        await runner.cleanup()
        return
    try:
        starting.result()
    except Exception as exc:
        await runner.cleanup()
        if stop.is_set():
            return  # told to stop while starting: that is a clean exit, not a crash to retry
        # Hold stop signals from here until the caller has its own handlers back: between this
        # loop's close and then, a signal would meet uvloop's handler, with no loop to wake, and
        # be lost (seen: a SIGTERM just after "starting it again" left the server running).
        # server._serve_in_process unblocks them; a supervised worker exits anyway.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP)
        raise StartupError(f"{type(exc).__name__}: {exc}") from None
    if stop.is_set():
        await runner.cleanup()
        return
    # Everything built so far (modules, parsed keys, pools, Redis clients) lives as
    # long as the worker: move it out of the cyclic GC's sight, so that full collections
    # scan only what requests allocate (a full scan of the whole heap is a latency spike).
    # The price: a startup object that later becomes cyclic garbage is never collected; the
    # startup set is bounded, so that waste is too.
    gc.collect()
    gc.freeze()
    # Young collections ten times rarer than Python's default (700 allocations; the older
    # generations' thresholds doubled, 20 and 20 against 10 and 10): a request allocates a few
    # dozen tracked objects, and at scale the route cache's churn keeps some of each batch
    # alive, so every collection has survivors to move. Measured with wrk at 40,000 tokens
    # (perf samples of the worker): the collector's share of a request fell from 2.3 to 1.0 us,
    # warm GetDevice's own being 0.7.
    gc.set_threshold(7000, 20, 20)
    site = web.SockSite(runner, sock)
    await site.start()
    await stop.wait()
    # Stop accepting; let begun requests finish (up to GRACE_S) while idle connections close
    # (service/http/drain.py); then cut what is left and close Redis.
    await site.stop()
    assert runner.server is not None
    await drain.drain(runner.server, settings.grace_s)
    await runner.cleanup()


def run_worker(settings: Settings, sock: socket.socket) -> None:
    """Serve on `sock` in this process until SIGTERM/SIGINT; then drain and return.
    Raises StartupError if the app cannot start."""
    uvloop.run(_run_worker(settings, sock))


def worker_main(
    settings: Settings, sock: socket.socket, report: Connection, number: int, restarted: bool
) -> None:
    logs.configure(settings.log_level)
    metrics.worker_started(number, restarted)
    sock.setblocking(False)  # the supervisor's listening socket, inherited (see supervise)
    try:
        run_worker(settings, sock)
    except StartupError as exc:
        report.send(str(exc))  # the supervisor names it in its own lines
        sys.exit(EXIT_STARTUP)
