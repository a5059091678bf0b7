"""Prometheus metrics, correct across worker processes (prometheus-client's multiprocess mode).

The supervisor sets PROMETHEUS_MULTIPROC_DIR before it starts workers, so each worker writes its
values to files there and any worker's /metrics sums them. With one worker, plain in-process
values are used. Labelled children are resolved once and kept, so the hot path pays only the
increments.
"""

from __future__ import annotations

import os

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

CACHE_HIT = TOKEN_CACHE.labels("hit")
CACHE_MISS = TOKEN_CACHE.labels("miss")
_answers: dict[tuple[str, str], Counter] = {}
_latency: dict[str, Histogram] = {}


def answered(operation: str, type_name: str, seconds: float) -> None:
    """Count one answer (type_name "OK" for a success) and its latency."""
    key = (operation, type_name)
    child = _answers.get(key)
    if child is None:
        child = _answers[key] = REQUESTS.labels(operation, type_name)
    child.inc()
    hist = _latency.get(operation)
    if hist is None:
        hist = _latency[operation] = LATENCY.labels(operation)
    hist.observe(seconds)
    if type_name == "TooManyRequestsException":
        THROTTLED.inc()


def exposition() -> tuple[bytes, str]:
    """The text exposition of every worker's metrics, and its content type."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def worker_exited(pid: int) -> None:
    """Forget a dead worker's live gauges (its counters stay, as Prometheus expects)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
