"""Metrics derived from execution events (the rows ``events.publish`` hands the observer),
read back through the real exposition, as Prometheus would read them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agentflow_app.observability.exposition import scrape
from agentflow_app.observability.observer import observe
from agentflow_app.observability.runs import run_scope


@pytest.fixture
def metrics_on(set_env, samples_dir: Path, sqlite_stack) -> None:
    set_env(AGENTFLOW_METRICS_TOKEN="observer-test", PROMETHEUS_MULTIPROC_DIR=str(samples_dir))


def _value(name: str, **labels: str) -> float:
    text = scrape(deployment=False)[0].decode()
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line) or re.match(rf"^{name} (\S+)$", line)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1))) if match.lastindex == 2 else {}
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(match.lastindex))
    return total


def _row(execution_id: int, type_: str, at: datetime, node_id: str | None = None, **data):
    return {
        "execution_id": execution_id,
        "seq": 1,
        "ts": at,
        "type": type_,
        "node_id": node_id,
        "data": data,
    }


def test_retries_tool_calls_recoveries_and_step_time_come_from_the_events(metrics_on) -> None:
    before = {
        "retries": _value("agentflow_step_retries_total", node_type="http.request"),
        "tool_ok": _value("agentflow_tool_calls_total", tool="slack_message", outcome="ok"),
        "tool_error": _value("agentflow_tool_calls_total", tool="http_request", outcome="error"),
        "recovered": _value("agentflow_reaper_recoveries_total"),
        "failed_steps": _value(
            "agentflow_step_duration_seconds_count", node_type="http.request", status="failed"
        ),
    }
    t0 = datetime.now(UTC)
    with run_scope(424242, "w@host/1"):
        observe(
            [
                _row(424242, "execution.started", t0),
                _row(424242, "step.started", t0, "fetch", node_type="http.request", attempt=1),
                _row(424242, "step.started", t0, "fetch", node_type="http.request", attempt=2),
                _row(424242, "step.log", t0, "agent", message="called tool", tool="slack_message"),
                _row(
                    424242,
                    "step.log",
                    t0,
                    "agent",
                    message="tool failed",
                    tool="http_request",
                    error="503",
                ),
                _row(424242, "step.failed", t0 + timedelta(seconds=2), "fetch", error="503 twice"),
                _row(424242, "step.token", t0, "agent", text="ignored"),
            ]
        )
    observe([_row(424243, "execution.queued", t0, recovered=True, reason="its worker died")])
    assert _value("agentflow_step_retries_total", node_type="http.request") == before["retries"] + 1
    assert (
        _value("agentflow_tool_calls_total", tool="slack_message", outcome="ok")
        == before["tool_ok"] + 1
    )
    assert (
        _value("agentflow_tool_calls_total", tool="http_request", outcome="error")
        == before["tool_error"] + 1
    )
    assert _value("agentflow_reaper_recoveries_total") == before["recovered"] + 1
    failed = _value(
        "agentflow_step_duration_seconds_count", node_type="http.request", status="failed"
    )
    assert failed == before["failed_steps"] + 1
    # The failed step is measured from its first start to its end: 2 s, in the 2.5 s bucket.
    assert (
        _value(
            "agentflow_step_duration_seconds_bucket",
            node_type="http.request",
            status="failed",
            le="1.0",
        )
        == 0
    )
    assert (
        _value(
            "agentflow_step_duration_seconds_bucket",
            node_type="http.request",
            status="failed",
            le="2.5",
        )
        == failed
    )


def test_nothing_is_recorded_while_metrics_are_off(set_env, samples_dir: Path) -> None:
    set_env(AGENTFLOW_METRICS_TOKEN="observer-test", PROMETHEUS_MULTIPROC_DIR=str(samples_dir))
    before = _value("agentflow_reaper_recoveries_total")
    set_env(AGENTFLOW_METRICS_TOKEN=None)
    observe([_row(1, "execution.queued", datetime.now(UTC), recovered=True)])
    set_env(AGENTFLOW_METRICS_TOKEN="observer-test")
    assert _value("agentflow_reaper_recoveries_total") == before
