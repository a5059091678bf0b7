"""Running the app: one worker process, or a supervisor of N workers sharing one socket."""

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
from multiprocessing.connection import Connection
from typing import Any

import uvloop
from aiohttp import web

from ..redis_io import embedded
from ..runtime import metrics
from ..runtime.settings import Settings
from . import drain, logs
from .app import create_app
from .crashloop import EXIT_CRASH_LOOP, CrashLoop
from .httpserver import make_runner

log = logging.getLogger("service.server")


def _bind(host: str, port: int) -> socket.socket:
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
        # _serve_in_process unblocks them; a supervised worker exits anyway.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP)
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


def _worker_main(
    settings: Settings, sock: socket.socket, report: Connection, number: int, restarted: bool
) -> None:
    logs.configure(settings.log_level)
    metrics.worker_started(number, restarted)
    sock.setblocking(False)  # the supervisor's listening socket, inherited (see _supervise)
    try:
        run_worker(settings, sock)
    except StartupError as exc:
        report.send(str(exc))  # the supervisor names it in its own lines
        sys.exit(EXIT_STARTUP)


def serve(settings: Settings, announce: Any = None) -> int:
    """Serve with `settings.workers` processes. Returns the exit status."""
    if settings.workers == 1:
        sock = _bind(settings.host, settings.port)
        if announce:
            announce(sock)  # the socket already listens: early requests wait in its backlog
        status = _serve_in_process(settings, sock)
    else:
        status = _supervise(settings, announce)
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
                _give_up(crashes, f"worker 1: could not start ({exc})")
                return EXIT_CRASH_LOOP
            log.warning("worker 1: could not start (%s); starting it again in %g s", exc, delay)
            if _sleep_unless_signalled(delay, unblock=True):
                return 0
            metrics.worker_started(1, restarted=True)


def _sleep_unless_signalled(delay_s: float, unblock: bool = False) -> bool:
    """Sleep, unless SIGTERM/SIGINT comes first. Returns whether one came. With `unblock`, the
    stop signals that _run_worker blocked are unblocked once this handler is in place, so one
    that came meanwhile is delivered here."""
    signalled: list[int] = []
    previous = {sig: signal.signal(sig, lambda n, _f: signalled.append(n)) for sig in _STOP}
    if unblock:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP)
    try:
        deadline = time.monotonic() + delay_s
        while not signalled and time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return bool(signalled)


_STOP = (signal.SIGTERM, signal.SIGINT)


def _give_up(crashes: CrashLoop, last: str) -> None:
    # One plain line, the last one, not a JSON log line: it is what a person reads first.
    sys.stderr.write(crashes.give_up_message(last) + "\n")
    sys.stderr.flush()


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


class _Slot:
    """One worker position of the supervisor: its process, its restarts."""

    def __init__(self, number: int, limit: int) -> None:
        self.number = number
        self.crashes = CrashLoop(limit)
        self.proc: Any = None
        self.report: Connection | None = None
        self.started = 0.0
        self.starts = 0
        self.restart_at = 0.0  # when proc is None: when to start it again (monotonic)

    def start(self, ctx: Any, settings: Settings, sock: socket.socket) -> None:
        reader, writer = ctx.Pipe(duplex=False)
        # The spawn context passes the socket's descriptor itself to the child (not a copy
        # made through a helper process): the worker accepts from this very queue.
        restarted = self.starts > 0
        self.proc = ctx.Process(
            target=_worker_main, args=(settings, sock, writer, self.number, restarted)
        )
        self.proc.start()
        self.starts += 1
        writer.close()  # the worker holds its own copy
        self.report = reader
        self.started = time.monotonic()

    def reason(self) -> str:
        """Why the (dead) worker ended: its own report, else its exit status."""
        assert self.report is not None
        try:
            if self.report.poll():
                return f"could not start ({self.report.recv()})"
        except (EOFError, OSError):
            pass
        finally:
            self.report.close()
            self.report = None
        return f"worker exited with status {self.proc.exitcode}"


def _supervise(settings: Settings, announce: Any) -> int:
    """Start N workers on one listening socket; restart any that dies, backing off; drain
    on SIGTERM; give up after CRASH_LOOP_LIMIT fast failures in a row of one slot.

    The supervisor makes the one listening socket and every worker inherits it. Before, each
    worker bound a socket of its own with SO_REUSEPORT: the kernel hashes each new connection to
    one of them, and when a worker died (SIGKILL, the OOM killer) the connections waiting in its
    queue were reset (7 of 10 GetDevice sent just after a kill; 1-4 requests per kill under a
    4-thread load). A queue that outlives every worker cannot lose them: a survivor takes them.

    The price is the accept balance: workers race for each connection instead of the kernel
    dealing them out. Measured with bench/balance.py (2 workers, wrk -t1 -c50, 5 s, 3 rounds
    each, taking turns, on the 2-core VM with other jobs running):
    keep-alive connections per worker, SO_REUSEPORT 25/25, 23/27, 25/25; shared 19/31, 22/28,
    22/28; requests per worker within 45/55 (SO_REUSEPORT 47/53); req/s 3,454-6,869 vs
    5,893-9,729, and with a connection per request 1,461-3,226 vs 2,102-3,580: the spread
    between runs of one design is larger than any difference between them.
    The other fix, SO_REUSEPORT with the supervisor holding each slot's socket for its next
    worker, keeps the kernel's balance but leaves a dead slot's share of new connections
    waiting for the restart: 1.1-2.9 s measured (the back-off, then start-up), against at most
    0.18 s with a shared socket, and up to 8 s more per try while a slot backs off.
    """
    ctx = multiprocessing.get_context("spawn")
    # Workers write metrics to files here, so any worker's /metrics can sum all of them.
    # Set before the workers start: prometheus-client picks its mode at import.
    metrics_dir = tempfile.mkdtemp(prefix="cgd-metrics-")
    os.environ[metrics.MULTIPROC_ENV] = metrics_dir
    # Made before any worker starts: a connection that comes first waits in its backlog.
    listener = _bind(settings.host, settings.port)
    port = listener.getsockname()[1]
    settings = replace(settings, port=port)
    slots = [_Slot(i + 1, settings.crash_loop_limit) for i in range(settings.workers)]
    stopping = False
    gave_up = ""

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for slot in slots:
        slot.start(ctx, settings, listener)
    if announce:
        announce(listener)
    while not stopping:
        time.sleep(0.1)
        now = time.monotonic()
        for slot in slots:
            if stopping:
                break
            if slot.proc is None:
                if now >= slot.restart_at:
                    slot.start(ctx, settings, listener)
                continue
            if slot.proc.is_alive():
                continue
            reason = slot.reason()
            if slot.proc.pid:
                metrics.worker_exited(slot.proc.pid, slot.number)
            slot.proc = None
            delay = slot.crashes.failed(now - slot.started)
            if delay is None:
                gave_up = f"worker {slot.number}: {reason}"
                _give_up(slot.crashes, gave_up)
                stopping = True
                break
            log.warning("worker %d: %s; starting it again in %g s", slot.number, reason, delay)
            slot.restart_at = now + delay
    # Our copy closed first: once every worker has stopped accepting, the port closes and new
    # connections are refused (not left waiting for a worker that will never accept them).
    listener.close()
    procs = [slot.proc for slot in slots if slot.proc is not None]
    for proc in procs:
        if proc.is_alive() and proc.pid:
            os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + settings.grace_s + 5
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
    shutil.rmtree(metrics_dir, ignore_errors=True)
    return EXIT_CRASH_LOOP if gave_up else 0
