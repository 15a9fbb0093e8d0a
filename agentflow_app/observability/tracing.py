"""OpenTelemetry traces: one trace per execution, from the API request to its last step.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; then spans go out over OTLP/HTTP
(protobuf) in batches, and the standard ``OTEL_*`` variables (headers, batch delays,
sampler, resource attributes) apply as the SDK reads them. The trace crosses the queue in
the Celery message's headers (W3C ``traceparent``): :func:`task_headers` on the web side,
:func:`run_parent` in the worker.

A worker takes the token of execution *X* but may claim its owner's oldest queued run
*Y* (``services.executions.claim``), whose own message carries *Y*'s context. So the
context is also kept in Redis for a day under ``agentflow:trace:<id>``, where the worker
finds *Y*'s when the message it holds is *X*'s (the only case where a worker reads it),
and where the reaper finds the original request's when it sends a run again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agentflow_app.settings import get_settings

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Tracer

log = logging.getLogger(__name__)

TRACE_KEY = "agentflow:trace:{}"
TRACE_KEY_TTL_S = 24 * 3600
#: The instrumentation scope of every AgentFlow span.
SCOPE = "agentflow"

_lock = threading.Lock()
_tracer: Tracer | None = None
_provider: Any = None
_role = "web"


def set_role(role: str) -> None:
    """Name this process's role (``web`` or ``worker``) for the service name of its spans."""
    global _role
    _role = role


def tracer() -> Tracer | None:
    """This process's tracer, made on first use; None while tracing is off."""
    global _tracer
    settings = get_settings()
    if not settings.tracing_enabled:
        return None
    if _tracer is not None:
        return _tracer
    with _lock:
        if _tracer is None:
            _tracer = _make_tracer(settings.otel_service_name or f"agentflow-{_role}")
    return _tracer


def _make_tracer(service_name: str) -> Tracer:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and adds /v1/traces) itself.
    resource = Resource.create({"service.name": service_name, "agentflow.role": _role})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    # Not made the global provider: libraries that trace themselves once one exists (the
    # Anthropic SDK, FastAPI) would add spans per call that cost about as much as all of
    # ours and record what ours leave out (a webhook's path is its secret token).
    global _provider
    _provider = provider
    log.info("tracing: exporting spans over OTLP/HTTP as %s", service_name)
    return provider.get_tracer(SCOPE)


def flush(timeout_ms: int = 5000) -> None:
    """Export what is buffered (a Celery pool process about to exit)."""
    if _provider is not None:
        _provider.force_flush(timeout_ms)


def nanos(moment: datetime) -> int:
    """An event's timestamp as OpenTelemetry's nanoseconds since the epoch."""
    return int(moment.timestamp() * 1_000_000_000)


# -- across the queue ------------------------------------------------------------------------


def task_headers(execution_id: int) -> dict[str, str]:
    """Headers for the Celery message of ``execution_id``: the caller's trace context.

    Without a current span (the reaper re-sending a run) the context kept for the run is
    sent again, so the worker finds it in the message; empty while tracing is off or the
    run never had one (a schedule firing).
    """
    if tracer() is None:
        return {}
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if carrier:
        _keep(execution_id, carrier)
        return carrier
    return _kept(execution_id)


def run_parent(execution_id: int, message_id: Any, headers: Mapping[str, Any]) -> Context | None:
    """The context a worker's run of ``execution_id`` continues, if any.

    Args:
        message_id: The execution the Celery message was sent for.
        headers: The message's headers (``traceparent`` when the sender had a span).
    """
    if tracer() is None:
        return None
    from opentelemetry import propagate

    carrier = {k: str(v) for k, v in headers.items() if k in ("traceparent", "tracestate") and v}
    if message_id != execution_id:  # the message was another run's: read this one's
        carrier = _kept(execution_id)
    return propagate.extract(carrier) if carrier else None


def _keep(execution_id: int, carrier: dict[str, str]) -> None:
    from agentflow_app.redis_client import redis_or_none

    client = redis_or_none()
    if client is None:
        return
    try:
        key = TRACE_KEY.format(execution_id)
        with client.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping=carrier).expire(key, TRACE_KEY_TTL_S).execute()
    except Exception as exc:  # tracing must never stop a run from being queued
        log.warning("tracing: keeping the context of execution %s failed: %s", execution_id, exc)


def _kept(execution_id: int) -> dict[str, str]:
    from agentflow_app.redis_client import redis_or_none

    client = redis_or_none()
    if client is None:
        return {}
    try:
        raw = client.hgetall(TRACE_KEY.format(execution_id))
    except Exception as exc:
        log.warning("tracing: reading the context of execution %s failed: %s", execution_id, exc)
        return {}
    return {key.decode(): value.decode() for key, value in raw.items()}
