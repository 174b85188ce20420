"""Dashboards and alerts as code, checked with the real tools: every PromQL query parses
(promql-parser) and names only metrics Aisle exports; promtool checks and unit-tests the rules;
amtool checks the Alertmanager config and that critical alerts route to PagerDuty."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import promql_parser
import pytest

from app.observability.metrics import Metrics

pytestmark = pytest.mark.integration

OBS = Path(__file__).resolve().parents[2] / "infra" / "observability"
DASHBOARD = OBS / "grafana" / "aisle-dashboard.json"
RULES = OBS / "prometheus" / "aisle-rules.yml"
ALERTMANAGER = OBS / "alertmanager" / "alertmanager.yml"
_SUFFIXES = ("", "_total", "_bucket", "_count", "_sum", "_created")


def exported_names() -> set[str]:
    names = {f"{family.name}{suffix}" for family in Metrics().registry.collect() for suffix in _SUFFIXES}
    return names | {"up"}  # Prometheus's own scrape-health series


def metric_names(node: Any) -> set[str]:
    if isinstance(node, promql_parser.VectorSelector):
        return {node.name} if node.name else set()
    if isinstance(node, promql_parser.MatrixSelector):
        return metric_names(node.vector_selector)
    if isinstance(node, promql_parser.BinaryExpr):
        return metric_names(node.lhs) | metric_names(node.rhs)
    if isinstance(node, promql_parser.Call):
        return set().union(*(metric_names(a) for a in node.args))
    if isinstance(node, promql_parser.AggregateExpr):
        return metric_names(node.expr) | (metric_names(node.param) if node.param is not None else set())
    if isinstance(node, promql_parser.ParenExpr | promql_parser.UnaryExpr | promql_parser.SubqueryExpr):
        return metric_names(node.expr)
    return set()


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def rule_queries() -> list[str]:
    # the rule file's `expr: |` blocks, read without a YAML dependency
    text = RULES.read_text()
    return [re.sub(r"\s+", " ", m).strip() for m in re.findall(r"expr: \|?\n?((?:\s{10}.*\n?)+|.*)", text)]


def test_the_dashboard_imports_into_grafana_schema_39_with_the_required_panels() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] == 39
    titles = " | ".join(p["title"] for p in dashboard["panels"])
    for needed in ("p99", "Error rate", "fallback rate", "cache hit ratio", "tokens per minute", "breaker"):
        assert needed.lower() in titles.lower(), needed
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_the_dashboard_decodes_with_grafanas_own_dashboard_model() -> None:
    """No Grafana server is installable here; Grafana's generated models (grafana-foundation-sdk)
    are the closest check that the JSON is a dashboard Grafana can read."""
    from grafana_foundation_sdk.models.dashboard import Dashboard

    data = json.loads(DASHBOARD.read_text())
    dashboard = Dashboard.from_json(data)
    assert (dashboard.title, dashboard.schema_version) == ("Aisle", 39)
    assert len(dashboard.panels or []) == len(data["panels"])
    assert dashboard.to_json()["uid"] == "aisle-overview"


@pytest.mark.parametrize("query", dashboard_queries() + rule_queries())
def test_every_query_parses_and_names_only_exported_metrics(query: str) -> None:
    names = metric_names(promql_parser.parse(query))
    assert names, query
    assert names <= exported_names(), names - exported_names()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(
            f"{name} is not installed (.ci/run installs Debian's prometheus and prometheus-alertmanager)"
        )
    return path


def test_promtool_checks_and_unit_tests_the_alert_rules() -> None:
    promtool = _tool("promtool")
    subprocess.run([promtool, "check", "rules", str(RULES)], check=True, capture_output=True)
    result = subprocess.run(
        [promtool, "test", "rules", "aisle-rules.test.yml"], cwd=RULES.parent, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_config_is_valid_and_pages_pagerduty_for_critical_alerts() -> None:
    amtool = _tool("amtool")
    subprocess.run([amtool, "check-config", str(ALERTMANAGER)], check=True, capture_output=True)
    for labels, receiver in (
        (["severity=critical", "alertname=AisleLLMBreakerOpen"], "pagerduty-critical"),
        (["severity=warning", "alertname=AisleLLMFallbackRateHigh"], "aisle-team"),
    ):
        result = subprocess.run(
            [
                amtool,
                "config",
                "routes",
                "test",
                f"--config.file={ALERTMANAGER}",
                f"--verify.receivers={receiver}",
                *labels,
            ],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
