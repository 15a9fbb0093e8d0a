"""The web process's wiring, called by ``api/app.py`` when the REST API is made."""

from __future__ import annotations

from typing import Any

from agentflow_app.observability import logging as structured
from agentflow_app.observability import multiproc, tracing

#: FastAPI's built-in OpenTelemetry (0.165) would trace every request on its own once a
#: global tracer provider exists, recording raw paths (webhook tokens): ours does it
#: instead (and sets none, but an operator's own instrumentation might).
FASTAPI_TELEMETRY: dict[str, Any] = {"tracing": False, "metrics": False, "logs": False}


def install(api: Any) -> None:
    """Metrics, traces and JSON logs for the web process serving ``api``."""
    from agentflow_app.observability.http import TelemetryMiddleware, router

    tracing.set_role("web")
    multiproc.prepare("web")
    structured.configure()
    api.include_router(router)
    api.add_middleware(TelemetryMiddleware)
