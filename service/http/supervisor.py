"""The supervisor of N worker processes sharing one listening socket: starts them, restarts any
that dies (backing off), gives up on a crash loop, drains them on SIGTERM."""

from __future__ import annotations

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

from ..runtime import metrics
from ..runtime.settings import Settings
from .crashloop import EXIT_CRASH_LOOP, CrashLoop
from .worker import bind, worker_main

# The name server.py's lines have always had (JSON logs print it).
log = logging.getLogger("service.server")


def give_up(crashes: CrashLoop, last: str) -> None:
    # One plain line, the last one, not a JSON log line: it is what a person reads first.
    sys.stderr.write(crashes.give_up_message(last) + "\n")
    sys.stderr.flush()


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
            target=worker_main, args=(settings, sock, writer, self.number, restarted)
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


def supervise(settings: Settings, announce: Any) -> int:
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
    listener = bind(settings.host, settings.port)
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
                give_up(slot.crashes, gave_up)
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
