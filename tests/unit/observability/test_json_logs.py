"""The JSON log format: one object per record, the ids of the run, no operator secret."""

from __future__ import annotations

import json
import logging
import sys

from agentflow_app.observability.logging import JsonFormatter, log_context
from agentflow_app.settings import get_settings

TOKEN = "metrics-token-in-a-log-77"
KEY = "sk-ant-environment-key-91"


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("agentflow.test", logging.WARNING, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    return record


def test_a_line_is_json_with_the_run_s_ids_and_the_record_s_own(set_env) -> None:
    set_env(AGENTFLOW_METRICS_TOKEN=TOKEN, ANTHROPIC_API_KEY=KEY)
    formatter = JsonFormatter(get_settings())
    with log_context(execution_id=41, workflow_id=7, worker="w@host/1"):
        line = formatter.format(_record("step failed", node_id="ask", event="step.failed"))
    body = json.loads(line)
    assert "\n" not in line
    assert body["level"] == "warning" and body["logger"] == "agentflow.test"
    assert (body["execution_id"], body["workflow_id"], body["node_id"]) == (41, 7, "ask")
    assert (body["worker"], body["event"], body["message"]) == (
        "w@host/1",
        "step.failed",
        "step failed",
    )
    outside = json.loads(formatter.format(_record("idle")))
    assert "execution_id" not in outside  # the context ended with the block


def test_operator_secrets_never_reach_a_line(set_env) -> None:
    set_env(AGENTFLOW_METRICS_TOKEN=TOKEN, ANTHROPIC_API_KEY=KEY)
    formatter = JsonFormatter(get_settings())
    try:
        raise RuntimeError(f"could not call with {KEY}")
    except RuntimeError:
        record = _record(f"scrape with Bearer {TOKEN} refused")
        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert TOKEN not in line and KEY not in line
    body = json.loads(line)
    assert body["message"] == "scrape with Bearer [redacted] refused"
    assert "could not call with [redacted]" in body["exception"]
