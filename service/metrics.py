"""Prometheus metrics, correct across worker processes (prometheus-client's multiprocess mode).

The supervisor sets PROMETHEUS_MULTIPROC_DIR before it starts workers, so each worker writes its
values to files there and any worker's /metrics sums them. With one worker, plain in-process
values are used.

The hot path does not touch prometheus-client at all (its locks and bucket search cost a few
microseconds a request): `RECORDER` counts in plain ints and lists, and `flush()` adds them to
the metrics every FLUSH_PERIOD_S and before every scrape.
"""

from __future__ import annotations

import os
from bisect import bisect_left

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

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
REDIS_ERRORS = Counter("cognito_redis_errors_total", "Redis calls that failed or timed out")
TOKEN_CACHE = Counter(
    "cognito_token_cache_total", "Verified-claims cache lookups in Redis", ["result"]
)
THROTTLED = Counter("cognito_throttled_total", "Requests answered TooManyRequestsException")
IN_FLIGHT = Gauge(
    "cognito_in_flight_requests", "API requests being answered", multiprocess_mode="livesum"
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
        self.redis_errors = 0
        self._answers: dict[tuple[str, str], int] = {}
        self._latency: dict[str, _Histo] = {}
        self._redis = _Histo(REDIS_LATENCY)

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

    def flush(self) -> None:
        answers, self._answers = self._answers, {}
        for (operation, type_name), n in answers.items():
            REQUESTS.labels(operation, type_name).inc(n)
            if type_name == "TooManyRequestsException":
                THROTTLED.inc(n)
        for histo in (*self._latency.values(), self._redis):
            histo.flush()
        for counter, attr in (
            (TOKEN_CACHE.labels("hit"), "cache_hits"),
            (TOKEN_CACHE.labels("miss"), "cache_misses"),
            (REDIS_ERRORS, "redis_errors"),
        ):
            n = getattr(self, attr)
            if n:
                counter.inc(n)
                setattr(self, attr, 0)
        IN_FLIGHT.set(self.in_flight)


RECORDER = Recorder()


def exposition() -> tuple[bytes, str]:
    """The text exposition of every worker's metrics, and its content type."""
    RECORDER.flush()
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def worker_exited(pid: int) -> None:
    """Forget a dead worker's live gauges (its counters stay, as Prometheus expects)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
