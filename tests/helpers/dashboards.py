"""What the shipped Grafana dashboard and Prometheus alert rules ask of the metrics."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from tests.helpers.suite import ROOT

DASHBOARD = ROOT / "deploy" / "grafana" / "agentflow.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
#: Where the metric families are defined: recorded ones, and the scrape-time gauges.
FAMILY_SOURCES = (
    ROOT / "agentflow_app" / "observability" / "metrics.py",
    ROOT / "agentflow_app" / "observability" / "collectors.py",
)
_NAME = re.compile(r"\bagentflow_[a-z_]+\b")
_SUFFIXES = ("", "_total", "_bucket", "_sum", "_count")


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def dashboard_queries() -> dict[str, list[str]]:
    """Panel title → its PromQL expressions (rows have none)."""
    return {
        panel["title"]: [target["expr"] for target in panel.get("targets", [])]
        for panel in dashboard()["panels"]
        if panel["type"] != "row"
    }


def alert_rules() -> dict[str, str]:
    """Alert name → expression."""
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def metric_names(expression: str) -> set[str]:
    return set(_NAME.findall(expression))


def defined_series() -> set[str]:
    """Every series name the code can expose (a family with each sample suffix)."""
    families = {
        match.group(1)
        for path in FAMILY_SOURCES
        for match in re.finditer(r'"(agentflow_[a-z_]+)"', path.read_text())
    }
    return {family + suffix for family in families for suffix in _SUFFIXES}


def for_instant_query(expression: str, window: str = "1m") -> str:
    """A dashboard expression as Prometheus' own API takes it (no Grafana variables)."""
    return expression.replace("$__rate_interval", window)
