"""Metrics, traces and logs of a running stack, read the way an operator's tools read them.

One stack for the module: the REST API in its own process and a real Celery worker (2
pool processes), both with metrics on (``AGENTFLOW_METRICS_TOKEN``), traces exported over
OTLP/HTTP to a receiver in the test, prompts captured on LLM spans, and JSON logs. A real
Prometheus scrapes both ``/metrics`` endpoints once a second while runs execute
(trigger → ``llm.prompt`` against the fake Anthropic API → output); four succeed, then
two fail on a provider error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fakes.llm import FakeLLM, Reply, serve_fake_llm
from tests.fakes.otlp import OtlpReceiver
from tests.fakes.servers import serve_asgi
from tests.helpers.api_process import ApiProcess, api_process
from tests.helpers.dashboards import alert_rules, dashboard_queries, for_instant_query
from tests.helpers.documents import chain, node
from tests.helpers.executions import wait_until
from tests.helpers.prometheus import Prometheus, free_port, missing, prometheus
from tests.helpers.stack import make_stack, services_available
from tests.helpers.workers import WorkerPool, worker_pool

pytestmark = pytest.mark.skipif(bool(missing()), reason=missing() or "")

METRICS_TOKEN = "metrics-token-3c1f9a"
#: The Anthropic key of the workflow's credential: it must appear in no span and no log.
SECRET = "sk-ant-telemetry-5e2b8d71c4"
MODEL = "claude-haiku-4-5"
SUCCEEDED, FAILED = 4, 2
EXECUTE_ROUTE = "/api/workflows/{workflow_id}/execute"
#: A first request loads the node catalog (the LLM SDKs): slow on a busy machine.
TIMEOUT_S = 60


@dataclass
class Telemetry:
    api: ApiProcess
    workers: WorkerPool
    prometheus: Prometheus
    otlp: OtlpReceiver
    worker_metrics: str
    workflow_id: int
    succeeded: list[int]
    failed: list[int]

    @property
    def runs(self) -> list[int]:
        return self.succeeded + self.failed


def _document() -> dict:
    return chain(
        "observed",
        node("start", "trigger.manual", inputs=[{"name": "topic", "type": "string"}]),
        node(
            "ask",
            "llm.prompt",
            provider="anthropic",
            model=MODEL,
            credential="anthropic-prod",
            prompt="Three facts about {{ inputs.topic }}",
            retries=0,
        ),
        node("out", "output", fields={"answer": "{{ nodes.ask.output.text }}"}),
    )


def _execute(api: ApiProcess, workflow_id: int, topic: str) -> int:
    answer = httpx.post(
        f"{api.url}/api/workflows/{workflow_id}/execute",
        json={"inputs": {"topic": topic}},
        headers=api.headers,
        timeout=TIMEOUT_S,
    )
    assert answer.status_code == 202, answer.text
    return answer.json()["execution_id"]


def _watch(api: ApiProcess, execution_id: int) -> int:
    """Follow a run's event stream (SSE) to its end, as the live view does; events read."""
    url = f"{api.url}/api/workflows/executions/{execution_id}/events"
    with httpx.stream("GET", url, headers=api.headers, timeout=TIMEOUT_S) as stream:
        return sum(1 for line in stream.iter_lines() if line.startswith("data:"))


def _wait_ended(api: ApiProcess, execution_ids: list[int]) -> dict[int, str]:
    statuses: dict[int, str] = {}

    def ended() -> bool:
        for execution_id in execution_ids:
            answer = httpx.get(
                f"{api.url}/api/workflows/executions/{execution_id}",
                headers=api.headers,
                timeout=TIMEOUT_S,
            )
            statuses[execution_id] = answer.json()["status"]
        return all(s in ("succeeded", "failed", "cancelled") for s in statuses.values())

    wait_until(ended, "the runs to end", guard_s=120)
    return statuses


@pytest.fixture(scope="module")
def telemetry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Telemetry]:
    kind = "postgres" if services_available() is None else "embedded"
    tmp = tmp_path_factory.mktemp("telemetry")
    otlp = OtlpReceiver()
    with (
        make_stack(kind, tmp / "data") as stack,
        serve_fake_llm() as fake,
        serve_asgi(otlp.app) as otlp_url,
    ):
        env = {
            "AGENTFLOW_METRICS_TOKEN": METRICS_TOKEN,
            "AGENTFLOW_LOG_FORMAT": "json",
            "AGENTFLOW_ALLOW_PRIVATE_NETWORK": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
            "ANTHROPIC_BASE_URL": fake.url,
        }
        worker_port = free_port()
        with (
            api_process(stack, tmp, **env) as api,
            worker_pool(
                stack, tmp, **env, AGENTFLOW_WORKER_METRICS_PORT=str(worker_port)
            ) as workers,
        ):
            workers.start("observed", concurrency=2)
            targets = {"web": f"127.0.0.1:{api.port}", "worker": f"127.0.0.1:{worker_port}"}
            with prometheus(tmp, targets, bearer=METRICS_TOKEN) as server:
                yield _run(api, workers, server, otlp, fake, f"http://127.0.0.1:{worker_port}")


def _run(
    api: ApiProcess,
    workers: WorkerPool,
    server: Prometheus,
    otlp: OtlpReceiver,
    fake: FakeLLM,
    worker_metrics: str,
) -> Telemetry:
    answer = httpx.post(
        f"{api.url}/api/credentials",
        json={"name": "anthropic-prod", "kind": "anthropic", "data": {"api_key": SECRET}},
        headers=api.headers,
        timeout=TIMEOUT_S,
    )
    assert answer.status_code == 201, answer.text
    answer = httpx.post(
        f"{api.url}/api/workflows", json=_document(), headers=api.headers, timeout=TIMEOUT_S
    )
    assert answer.status_code == 201, answer.text
    workflow_id = answer.json()["id"]

    answer = Reply.say("Paris is old.", input_tokens=11, output_tokens=7)
    # One answer takes 5 s, so a live view stays open across a few scrapes (1 s apart) even
    # when a busy machine is slow to open the streams.
    slow = Reply.say("Paris is old.", input_tokens=11, output_tokens=7, delay_s=5)
    fake.script(slow, *[answer] * (SUCCEEDED - 1))
    # One topic quotes the key: the prompt then holds it, and the span must not.
    topics = ["Paris", f"the key {SECRET}", "Rome", "Oslo"]
    succeeded: list[int] = []
    with ThreadPoolExecutor(len(topics)) as viewers:
        streams = []
        for topic in topics:  # each run is watched from the moment it exists
            succeeded.append(_execute(api, workflow_id, topic))
            streams.append(viewers.submit(_watch, api, succeeded[-1]))
        assert set(_wait_ended(api, succeeded).values()) == {"succeeded"}
        assert all(stream.result() for stream in streams)
    unknown_hook = httpx.post(f"{api.url}/api/hooks/no-such-hook-token", json={}, timeout=TIMEOUT_S)
    assert unknown_hook.status_code == 404

    fake.script(*[Reply.error(400, f"prompt rejected (key {SECRET})")] * FAILED)
    failed = [_execute(api, workflow_id, "Lima") for _ in range(FAILED)]
    assert set(_wait_ended(api, failed).values()) == {"failed"}
    # Two scrapes after the last run: a counter series born with the failures (status
    # "failed") needs two samples before rate() over it, and so the failure ratio, says
    # anything.
    server.scraped_since(time.time())
    server.scraped_since(time.time())
    return Telemetry(api, workers, server, otlp, worker_metrics, workflow_id, succeeded, failed)


def _eventually(check, what: str, guard_s: float = 30):
    """Poll ``check`` until it returns something truthy (scrapes and exports lag a second)."""
    deadline = time.monotonic() + guard_s
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, f"timed out waiting for {what}"
            return result
        time.sleep(0.25)


# -- Prometheus -------------------------------------------------------------------------------


def test_prometheus_counts_the_runs_by_status_and_sees_the_step_histogram(
    telemetry: Telemetry,
) -> None:
    server = telemetry.prometheus
    expected = {"succeeded": float(SUCCEEDED), "failed": float(FAILED)}
    _eventually(
        lambda: (
            server.by("sum by (status) (agentflow_executions_finished_total)", "status") == expected
        ),
        "the finished counts",
    )
    assert server.by("sum by (trigger) (agentflow_executions_started_total)", "trigger") == {
        "manual": float(SUCCEEDED + FAILED)
    }
    steps = server.by(
        "sum by (status) (agentflow_step_duration_seconds_count{node_type='llm.prompt'})",
        "status",
    )
    assert steps == expected
    # A histogram with real samples: its sum is positive and p95 is a number of seconds.
    assert server.query("sum(agentflow_step_duration_seconds_sum)")[0]["value"] > 0
    p95 = server.query(
        "histogram_quantile(0.95, sum by (le) (agentflow_step_duration_seconds_bucket))"
    )
    assert 0 < p95[0]["value"] < 60
    assert server.query("sum(agentflow_queue_wait_seconds_count)")[0]["value"] == SUCCEEDED + FAILED


def test_llm_tokens_and_cost_are_counted_by_provider_and_model(telemetry: Telemetry) -> None:
    tokens = telemetry.prometheus.by(
        f"sum by (direction) (agentflow_llm_tokens_total{{provider='anthropic', model='{MODEL}'}})",
        "direction",
    )
    assert tokens == {"input": 11.0 * SUCCEEDED, "output": 7.0 * SUCCEEDED}
    calls = telemetry.prometheus.by("sum by (outcome) (agentflow_llm_calls_total)", "outcome")
    assert calls == {"ok": float(SUCCEEDED), "error": float(FAILED)}
    cost = telemetry.prometheus.query("sum(agentflow_llm_cost_usd_total)")
    assert cost and cost[0]["value"] > 0


def test_http_latency_is_labelled_by_route_template_never_by_raw_path(
    telemetry: Telemetry,
) -> None:
    server = telemetry.prometheus
    executes = server.query(
        f"sum(agentflow_http_request_duration_seconds_count{{route='{EXECUTE_ROUTE}'}})"
    )
    assert executes[0]["value"] == SUCCEEDED + FAILED
    routes = set(
        server.by("count by (route) (agentflow_http_request_duration_seconds_count)", "route")
    )
    assert "/api/workflows/executions/{execution_id}" in routes
    assert not [route for route in routes if any(ch.isdigit() for ch in route)], routes


def test_deployment_gauges_and_both_targets_are_up(telemetry: Telemetry) -> None:
    server = telemetry.prometheus
    assert server.by("up", "job") == {"web": 1.0, "worker": 1.0}
    assert server.query("agentflow_workers")[0]["value"] >= 1
    assert server.by("agentflow_executions", "status") == {
        "queued": 0.0,
        "running": 0.0,
        "waiting": 0.0,
    }
    assert server.query("agentflow_data_dir_free_bytes")[0]["value"] > 0
    assert server.by("agentflow_scrape_errors", "source") == {
        "database": 0.0,
        "redis": 0.0,
        "disk": 0.0,
    }


def test_every_dashboard_panel_and_alert_runs_on_the_scraped_data(telemetry: Telemetry) -> None:
    server = telemetry.prometheus
    answered: dict[str, bool] = {}
    for title, expressions in dashboard_queries().items():
        for expression in expressions:
            # Counter windows here span the whole test, so rates are real numbers.
            result = server.query(for_instant_query(expression, "5m"))  # raises on bad PromQL
            answered[title] = answered.get(title, False) or bool(result)
    for title in (
        "Runs per minute by status",
        "Queue depth",
        "Queue wait p50 / p95",
        "Step p95 by node type",
        "Tokens per minute by model",
        "Cost per hour by model (USD)",
        "Failure ratio",
    ):
        assert answered[title], f"the panel {title!r} shows nothing after the runs"
    for name, expression in alert_rules().items():
        server.query(expression)  # valid on live data
        if name in ("AgentFlowFailureRatioHigh", "AgentFlowNoWorkers", "AgentFlowDiskLow"):
            assert not server.query(expression), f"{name} would fire on a healthy stack"


def test_live_viewers_and_webhook_answers_are_counted(telemetry: Telemetry) -> None:
    server = telemetry.prometheus
    watched = server.query("max(max_over_time(agentflow_live_view_subscribers[5m]))")
    assert watched[0]["value"] >= 1  # the slow run's stream was open across scrapes
    assert server.query("agentflow_live_view_subscribers")[0]["value"] == 0  # all closed
    hooks = server.by("sum by (status_code) (agentflow_webhook_requests_total)", "status_code")
    assert hooks == {"404": 1.0}


def test_metrics_need_the_bearer_token(telemetry: Telemetry) -> None:
    for base in (telemetry.api.url, telemetry.worker_metrics):
        assert httpx.get(f"{base}/metrics").status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert httpx.get(f"{base}/metrics", headers=wrong).status_code == 401
        right = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        answer = httpx.get(f"{base}/metrics", headers=right)
        assert answer.status_code == 200
        assert "agentflow_" in answer.text


# -- OpenTelemetry ----------------------------------------------------------------------------


def test_each_execution_is_one_trace_from_the_api_request_into_the_worker(
    telemetry: Telemetry,
) -> None:
    def complete():
        spans = telemetry.otlp.spans()
        runs = [s for s in spans if s.name == "execution run"]
        llm = [s for s in spans if s.name.startswith("chat ")]
        return (
            spans if len(runs) >= len(telemetry.runs) and len(llm) >= len(telemetry.runs) else None
        )

    spans = _eventually(complete, "every run's spans")
    by_id = {span.span_id: span for span in spans}
    traces = set()
    for execution_id in telemetry.runs:
        run = next(
            s
            for s in spans
            if s.name == "execution run" and s.attributes["agentflow.execution.id"] == execution_id
        )
        request = by_id[run.parent_span_id]  # the API request that queued it
        assert (request.service, request.name) == ("agentflow-web", f"POST {EXECUTE_ROUTE}")
        assert request.trace_id == run.trace_id
        assert run.service == "agentflow-worker"
        assert run.attributes["agentflow.workflow.id"] == telemetry.workflow_id
        children = [s for s in spans if s.parent_span_id == run.span_id]
        assert all(s.name.startswith("step ") for s in children)  # no library's spans
        steps = {s.attributes["agentflow.node.id"]: s for s in children}
        assert (
            set(steps) == {"start", "ask", "out"}
            if execution_id in telemetry.succeeded
            else {
                "start",
                "ask",
            }
        )
        assert {s.trace_id for s in steps.values()} == {run.trace_id}
        assert steps["ask"].attributes["agentflow.node.type"] == "llm.prompt"
        traces.add(run.trace_id)
    assert len(traces) == len(telemetry.runs)  # one trace per execution


def test_the_llm_span_has_the_genai_attributes(telemetry: Telemetry) -> None:
    spans = telemetry.otlp.spans()
    by_id = {span.span_id: span for span in spans}
    calls = [s for s in spans if s.name == f"chat {MODEL}"]
    ok = [s for s in calls if s.status_code != 2]
    assert len(ok) == SUCCEEDED and len(calls) == SUCCEEDED + FAILED
    for span in ok:
        attributes = span.attributes
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.provider.name"] == attributes["gen_ai.system"] == "anthropic"
        assert attributes["gen_ai.request.model"] == MODEL
        assert attributes["gen_ai.usage.input_tokens"] == 11
        assert attributes["gen_ai.usage.output_tokens"] == 7
        assert attributes["gen_ai.response.finish_reasons"] == ["end_turn"]
        assert "Paris is old." in attributes["gen_ai.output.messages"]
        assert by_id[span.parent_span_id].attributes["agentflow.node.id"] == "ask"
    prompts = " ".join(s.attributes["gen_ai.input.messages"] for s in calls)
    assert "Three facts about Paris" in prompts
    assert "[redacted:anthropic-prod]" in prompts  # the topic that quoted the key


def test_no_secret_leaves_in_the_exported_bytes(telemetry: Telemetry) -> None:
    raw = telemetry.otlp.raw()
    assert raw and SECRET.encode() not in raw
    assert METRICS_TOKEN.encode() not in raw


# -- logs -------------------------------------------------------------------------------------


def _json_lines(path: Path) -> list[dict]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"{path.name}: a log line is not JSON: {line[:300]}")
    return parsed


def test_json_logs_parse_carry_the_ids_and_no_credential(telemetry: Telemetry) -> None:
    worker_log = telemetry.workers.workers[0].log
    lines = _json_lines(worker_log)
    _json_lines(telemetry.api.log)
    events = [line for line in lines if line.get("logger") == "agentflow.events"]
    for execution_id in telemetry.runs:
        mine = [line for line in events if line["execution_id"] == execution_id]
        assert {line["event"] for line in mine} >= {"execution.started", "step.started"}
        for line in mine:
            assert line["workflow_id"] == telemetry.workflow_id
            assert line["worker"].startswith("observed@")
            assert len(line["trace_id"]) == 32
        assert {line["node_id"] for line in mine if line["event"].startswith("step.")} >= {
            "start",
            "ask",
        }
    failures = [line for line in events if line["event"] == "step.failed"]
    assert len(failures) == FAILED and all("prompt rejected" in f["message"] for f in failures)
    for path in (worker_log, telemetry.api.log):
        text = path.read_text()
        assert SECRET not in text, path.name
        assert METRICS_TOKEN not in text, path.name
