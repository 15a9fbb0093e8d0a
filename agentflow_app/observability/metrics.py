"""The Prometheus metric families AgentFlow records.

Importing this module imports prometheus_client, which fixes where samples are kept:
import it only after :func:`.multiproc.prepare`, and only when metrics are on.

Only counters and histograms are recorded here: gauges of the current state (queue depth,
waiting runs, workers) are read at scrape time (:mod:`.collectors`), which needs no
per-process bookkeeping and is never stale after a crash.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

#: Seconds; runs and queue waits span milliseconds (a fake LLM) to hours (approvals).
LONG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600)
#: Seconds; a step or an HTTP answer.
SHORT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

EXECUTIONS_STARTED = Counter(
    "agentflow_executions_started",
    "Executions a worker started (or resumed), by what triggered them.",
    ["trigger"],
)
EXECUTIONS_FINISHED = Counter(
    "agentflow_executions_finished",
    "Executions that ended, by final status and trigger.",
    ["status", "trigger"],
)
EXECUTION_DURATION = Histogram(
    "agentflow_execution_duration_seconds",
    "From a worker starting an execution to its end.",
    ["status", "trigger"],
    buckets=LONG_BUCKETS,
)
QUEUE_WAIT = Histogram(
    "agentflow_queue_wait_seconds",
    "From an execution being queued to a worker starting it (first start only).",
    ["trigger"],
    buckets=LONG_BUCKETS,
)
STEP_DURATION = Histogram(
    "agentflow_step_duration_seconds",
    "How long a step ran, by node type and how it ended.",
    ["node_type", "status"],
    buckets=SHORT_BUCKETS,
)
STEP_RETRIES = Counter(
    "agentflow_step_retries",
    "Step attempts after the first (transient errors retried by the runner).",
    ["node_type"],
)
LLM_CALLS = Counter(
    "agentflow_llm_calls",
    "Model calls, by provider, model and outcome.",
    ["provider", "model", "outcome"],
)
LLM_TOKENS = Counter(
    "agentflow_llm_tokens",
    "Tokens the providers reported, by direction (input or output).",
    ["provider", "model", "direction"],
)
LLM_COST = Counter(
    "agentflow_llm_cost_usd",
    "What the model calls cost in US dollars, from the price table.",
    ["provider", "model"],
)
TOOL_CALLS = Counter(
    "agentflow_tool_calls",
    "Agent tool calls, by tool and outcome.",
    ["tool", "outcome"],
)
REAPER_RECOVERIES = Counter(
    "agentflow_reaper_recoveries",
    "Runs whose worker stopped answering that the reaper queued again to resume.",
)
WEBHOOK_REQUESTS = Counter(
    "agentflow_webhook_requests",
    "Requests to webhook URLs, by the status code they were answered with.",
    ["status_code"],
)
HTTP_DURATION = Histogram(
    "agentflow_http_request_duration_seconds",
    "REST API answers, by method, route template (never the raw path) and status code.",
    ["method", "route", "status_code"],
    buckets=SHORT_BUCKETS,
)
