"""The trace context across the queue: in the message's headers, and kept in Redis for a
worker that holds another run's message and for the reaper's re-sends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace

from agentflow_app.observability import tracing
from tests.fakes.otlp import OtlpReceiver
from tests.fakes.servers import serve_asgi


@pytest.fixture
def tracing_on(set_env, sqlite_stack) -> Iterator[None]:
    receiver = OtlpReceiver()
    with serve_asgi(receiver.app) as url:
        set_env(OTEL_EXPORTER_OTLP_ENDPOINT=url)
        yield
        tracing.flush()  # while the receiver still listens
        set_env(OTEL_EXPORTER_OTLP_ENDPOINT=None)


def _trace_id(context) -> str:
    return f"{trace.get_current_span(context).get_span_context().trace_id:032x}"


def test_the_context_travels_in_the_headers_and_is_kept_for_the_other_cases(tracing_on) -> None:
    tracer = tracing.tracer()
    with tracer.start_as_current_span("POST execute") as request:
        sent = f"{request.get_span_context().trace_id:032x}"
        headers = tracing.task_headers(101)
        other = tracing.task_headers(102)
    assert headers["traceparent"].split("-")[1] == sent

    # The worker holds run 101's message and claims run 101: the headers are enough.
    assert _trace_id(tracing.run_parent(101, 101, headers)) == sent
    # It holds run 101's message but claimed run 102 (its owner's oldest): 102's own.
    assert _trace_id(tracing.run_parent(102, 101, headers)) == other["traceparent"].split("-")[1]
    # The reaper re-sends run 101 from no request: the kept context goes in the message.
    assert tracing.task_headers(101) == headers
    # A run that never had a context (a schedule) starts its own trace.
    assert tracing.task_headers(103) == {}
    assert tracing.run_parent(103, 103, {}) is None


def test_nothing_is_carried_while_tracing_is_off(set_env) -> None:
    set_env(OTEL_EXPORTER_OTLP_ENDPOINT=None)
    assert tracing.tracer() is None
    assert tracing.task_headers(7) == {}
    assert (
        tracing.run_parent(7, 7, {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}) is None
    )
