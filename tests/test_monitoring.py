"""deploy/monitoring/: the alert rules load and pass their unit tests in promtool, and every
metric the rules and the dashboard query is one a real running service exposes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest
import yaml

from service.runtime.settings import Settings
from tests.conftest import PROJECT, Admin
from tests.metrics_helpers import exercise, scrape_text, series_names
from tests.noskip import unavailable
from tests.test_server import ServeProcess

MONITORING = PROJECT / "deploy" / "monitoring"
# Series Prometheus makes itself for every target, not the service.
PROMETHEUS_OWN = {"up"}
_FUNCTIONS_AND_KEYWORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "sum", "avg", "max", "min", "count", "rate", "increase",
    "histogram_quantile", "scalar", "label_values",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (strings, matchers, ranges and grouping
    clauses taken out first; a word followed by "(" is a function)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    found = re.findall(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", expr)
    return {name for name in found if name not in _FUNCTIONS_AND_KEYWORDS}


def test_metric_names_reads_promql() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (operation, le) (rate(a_bucket{job=~"x|y"}[5m])))'
        " / on(job) group_left scalar(b_total) > 0.5 and c offset 5m"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c"}


def _rule_exprs() -> list[str]:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            exprs.append(re.sub(r"^label_values\((.*), *\w+\)$", r"\1", var["query"]))
    return exprs


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        unavailable("promtool is not installed (Debian: apt-get install prometheus)")
    return found


def test_rules_load_and_pass_their_unit_tests() -> None:
    promtool = _promtool()
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        done = subprocess.run(
            [promtool, *args], cwd=MONITORING, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
    alerts = {
        rule["alert"]
        for group in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    }
    # What issue 22 asks alerts for: error rate, p99, Redis unreachable, throttling, crash loops.
    for word in ("ErrorRate", "P99", "RedisUnreachable", "ThrottledShare", "CrashLoop"):
        assert any(word in alert for alert in alerts), word


def test_service_monitor_selects_the_service() -> None:
    monitor = yaml.safe_load((MONITORING / "servicemonitor.yaml").read_text())
    service = yaml.safe_load((PROJECT / "deploy" / "k8s" / "service.yaml").read_text())
    labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ports = {port["name"] for port in service["spec"]["ports"]}
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["http"]
    assert "http" in ports
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


@pytest.fixture
def exposed(settings: Settings, clean_redis: None) -> Iterator[set[str]]:
    """Every series name a real service exposes in both modes (1 worker, 2), once each kind
    of call has been made."""
    helper = Admin(settings, None)
    seen: list[set[str]] = []
    try:
        for workers in (1, 2):
            server = ServeProcess(settings.redis_url, workers=workers)
            try:
                base = f"http://127.0.0.1:{server.port}"
                exercise(base, helper)
                seen.append(series_names(scrape_text(base)))
            finally:
                server.stop()
    finally:
        helper.redis.close()
    yield seen[0] & seen[1]


def test_rules_and_dashboard_query_only_real_metrics(exposed: set[str]) -> None:
    for source, exprs in (("alerts.yml", _rule_exprs()), ("dashboard.json", _dashboard_exprs())):
        used: set[str] = set()
        for expr in exprs:
            used |= metric_names(expr)
        assert used, source
        unknown = used - exposed - PROMETHEUS_OWN
        assert not unknown, f"{source} queries metrics the service does not expose: {unknown}"


def test_dashboard_shows_what_a_load_test_needs() -> None:
    titles = " ".join(
        p["title"].lower()
        for p in json.loads((MONITORING / "dashboard.json").read_text())["panels"]
    )
    for want in ("throughput", "p99", "throttled", "redis", "cache hit"):
        assert want in titles, want
