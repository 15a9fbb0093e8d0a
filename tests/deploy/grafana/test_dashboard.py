"""The Grafana dashboard: importable, and every panel asks for series the code exposes.

(Every expression is also run on a live Prometheus in
tests/integration/observability/test_telemetry.py.)
"""

from __future__ import annotations

from tests.helpers.dashboards import dashboard, dashboard_queries, defined_series, metric_names


def test_the_dashboard_is_importable_with_a_datasource_choice() -> None:
    board = dashboard()
    assert board["uid"] == "agentflow"
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource"]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_the_panels_the_issue_asks_for_are_there() -> None:
    queries = dashboard_queries()
    wanted = {
        "Runs per minute by status": "agentflow_executions_finished_total",
        "Queue depth": 'agentflow_executions{status="queued"}',
        "Queue wait p50 / p95": "agentflow_queue_wait_seconds_bucket",
        "Step p95 by node type": "agentflow_step_duration_seconds_bucket",
        "Tokens per minute by model": "agentflow_llm_tokens_total",
        "Cost per hour by model (USD)": "agentflow_llm_cost_usd_total",
        "Failure ratio": 'status="failed"',
    }
    for title, fragment in wanted.items():
        assert any(fragment in expression for expression in queries[title]), title


def test_every_panel_reads_series_the_code_exposes() -> None:
    known = defined_series()
    for title, expressions in dashboard_queries().items():
        for expression in expressions:
            unknown = metric_names(expression) - known
            assert not unknown, f"{title}: {sorted(unknown)}"
