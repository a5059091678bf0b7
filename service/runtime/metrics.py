"""Prometheus metrics, correct across worker processes (prometheus-client's multiprocess mode).

The supervisor sets PROMETHEUS_MULTIPROC_DIR before it starts workers, so each worker writes its
values to files there and any worker's /metrics sums them. With one worker, plain in-process
values are used.

The hot path does not touch prometheus-client at all (its locks and bucket search cost a few
microseconds a request): `RECORDER` counts in plain ints and lists, and `flush()` adds them to
the metrics every FLUSH_PERIOD_S and before every scrape.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
from bisect import bisect_left

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

from . import metrics_workers

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# No `<name>_created` series: the text format shows them as gauges of their own, one per
# labelled series, and multiprocess mode has none; both modes now expose the same names.
disable_created_metrics()  # type: ignore[no-untyped-call]

_LATENCY_BUCKETS_S = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)

REQUESTS = Counter(
    "cognito_requests_total",
    "API requests answered, by operation and answer type",
    ["operation", "type"],
)
LATENCY = Histogram(
    "cognito_request_duration_seconds",
    "Time to answer an API request",
    ["operation"],
    buckets=_LATENCY_BUCKETS_S,
)
REDIS_LATENCY = Histogram(
    "cognito_redis_call_duration_seconds",
    "Time for one Redis script call on the hot path",
    buckets=_LATENCY_BUCKETS_S,
)
# kind: unavailable (no connection), timeout (no reply within REDIS_TIMEOUT_S), overloaded
# (REDIS_MAX_INFLIGHT commands already waiting: shed), reply (Redis answered an error).
REDIS_ERRORS = Counter(
    "cognito_redis_errors_total", "Requests that failed on Redis, by kind of failure", ["kind"]
)
REDIS_ERROR_KINDS = ("unavailable", "timeout", "overloaded", "reply")
for _kind in REDIS_ERROR_KINDS:  # every kind at 0 from the start: rate() sees the first one
    REDIS_ERRORS.labels(_kind)
TOKEN_CACHE = Counter(
    "cognito_token_cache_total", "Verified-claims cache lookups in Redis", ["result"]
)
# quota: user (a user's token-call bucket), signin (a user's sign-in bucket), pool (a pool-wide
# bucket, POOL_RATE_LIMIT), overload (Redis overloaded: load shed).
THROTTLED = Counter(
    "cognito_throttled_total", "Requests answered TooManyRequestsException, by quota", ["quota"]
)
THROTTLE_QUOTAS = ("user", "signin", "pool", "overload")
for _quota in THROTTLE_QUOTAS:
    THROTTLED.labels(_quota)
SIGNINS = Counter(
    "cognito_signin_total",
    "Sign-in requests by operation, flow (AuthFlow or ChallengeName) and result "
    "(success, challenge, or the error's type)",
    ["operation", "flow", "result"],
)
IN_FLIGHT = Gauge(
    "cognito_in_flight_requests", "API requests being answered", multiprocess_mode="livesum"
)
# One series, value 1; "max" across workers (they all run the same build), no pid label.
BUILD_INFO = Gauge(
    "cognito_build_info",
    "The running build: version, source revision (BUILD_REVISION) and Python version",
    ["version", "revision", "python"],
    multiprocess_mode="max",
)
WORKER_RESTARTS = Counter(
    "cognito_worker_restarts_total",
    "Worker processes the supervisor started again after they died or could not start",
    ["worker"],
)

FLUSH_PERIOD_S = 0.5


class _Histo:
    """Observations of one histogram child, counted locally by bucket."""

    __slots__ = ("bounds", "child", "counts", "total")

    def __init__(self, child: Histogram) -> None:
        self.child = child
        self.bounds: list[float] = list(child._upper_bounds)  # ends with +Inf
        self.counts = [0] * len(self.bounds)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    def flush(self) -> None:
        # prometheus-client keeps per-bucket (not cumulative) values in _buckets.
        for i, n in enumerate(self.counts):
            if n:
                self.child._buckets[i].inc(n)
                self.counts[i] = 0
        if self.total:
            self.child._sum.inc(self.total)
            self.total = 0.0


class Recorder:
    """Plain counters for the hot path; `flush()` moves them into the Prometheus metrics."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.cache_hits = 0
        self.cache_misses = 0
        self._answers: dict[tuple[str, str], int] = {}
        self._latency: dict[str, _Histo] = {}
        self._redis = _Histo(REDIS_LATENCY)
        # Rarer events (errors, refusals, sign-ins): counted by label tuple, same batching.
        self._events: dict[tuple[Counter, tuple[str, ...]], int] = {}

    def answered(self, operation: str, type_name: str, seconds: float) -> None:
        """Count one answer (type_name "OK" for a success) and its latency."""
        key = (operation, type_name)
        self._answers[key] = self._answers.get(key, 0) + 1
        histo = self._latency.get(operation)
        if histo is None:
            histo = self._latency[operation] = _Histo(LATENCY.labels(operation))
        histo.observe(seconds)

    def redis_call(self, seconds: float) -> None:
        self._redis.observe(seconds)

    def redis_failed(self, kind: str) -> None:
        """Count one request that failed on Redis (`kind`: one of REDIS_ERROR_KINDS)."""
        self._count(REDIS_ERRORS, (kind,))

    def throttled(self, quota: str) -> None:
        """Count one TooManyRequestsException (`quota`: one of THROTTLE_QUOTAS)."""
        self._count(THROTTLED, (quota,))

    def signed_in(self, operation: str, flow: str, result: str) -> None:
        """Count one sign-in request's outcome (the caller bounds `flow` and `result`)."""
        self._count(SIGNINS, (operation, flow, result))

    def _count(self, counter: Counter, labels: tuple[str, ...]) -> None:
        key = (counter, labels)
        self._events[key] = self._events.get(key, 0) + 1

    def flush(self) -> None:
        answers, self._answers = self._answers, {}
        for (operation, type_name), n in answers.items():
            REQUESTS.labels(operation, type_name).inc(n)
        events, self._events = self._events, {}
        for (counter, labels), n in events.items():
            counter.labels(*labels).inc(n)
        for histo in (*self._latency.values(), self._redis):
            histo.flush()
        for counter, attr in (
            (TOKEN_CACHE.labels("hit"), "cache_hits"),
            (TOKEN_CACHE.labels("miss"), "cache_misses"),
        ):
            n = getattr(self, attr)
            if n:
                counter.inc(n)
                setattr(self, attr, 0)
        IN_FLIGHT.set(self.in_flight)


RECORDER = Recorder()


def set_build_info(revision: str) -> None:
    """Publish cognito_build_info for this process (once, at start)."""
    try:
        version = importlib.metadata.version("cognito-device-api")
    except importlib.metadata.PackageNotFoundError:  # run from a tree that was never installed
        version = "unknown"
    BUILD_INFO.labels(version, revision or "unknown", platform.python_version()).set(1)


def worker_started(number: int, restarted: bool) -> None:
    """In a worker at its start: count its restart, and say where its process metrics are."""
    restarts = WORKER_RESTARTS.labels(str(number))  # the series exists from the start, at 0
    if restarted:
        restarts.inc()  # straight to its file (multiprocess mode): counted even if it dies now
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        metrics_workers.announce(directory, number)


def exposition() -> tuple[bytes, str]:
    """The text exposition of every worker's metrics, and its content type."""
    RECORDER.flush()
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        # prometheus-client drops process_* in multiprocess mode: each worker's own, labelled.
        registry.register(metrics_workers.WorkerProcesses(directory))
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def worker_exited(pid: int, number: int) -> None:
    """Forget a dead worker's live gauges (its counters stay, as Prometheus expects)."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
        metrics_workers.forget(directory, number, pid)
