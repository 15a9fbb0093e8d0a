"""The REST API's side: latency by route template, a server span per request, ``/metrics``.

:class:`TelemetryMiddleware` wraps the FastAPI app (``api/app.py``). The route is read
from the ASGI scope after routing has run: FastAPI 0.165 nests included routers, and the
matched route's own ``path`` lacks its routers' prefixes, so the full template is the
effective route context FastAPI leaves in ``scope["fastapi"]`` (``/api/workflows/
{workflow_id}/execute``), never the raw path, which would make one time series per id
and put webhook tokens in labels. Requests no route matched share one label.

FastAPI's own OpenTelemetry support is turned off (``api/app.py``): its server span
records ``url.path``, which for a webhook is the hook's secret token.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from agentflow_app.observability import tracing
from agentflow_app.routes import API_PREFIX
from agentflow_app.settings import get_settings

METRICS_PATH = "/metrics"
#: The label of requests that matched no route (404s of unknown paths).
UNMATCHED = "unmatched"
HOOKS_PREFIX = f"{API_PREFIX}/hooks/"

router = APIRouter()


@router.get(METRICS_PATH, include_in_schema=False)
def metrics_endpoint(request: Request) -> Response:
    """Prometheus' scrape: 404 while ``AGENTFLOW_METRICS_TOKEN`` is unset, 401 without it."""
    from agentflow_app.observability import exposition

    verdict = exposition.check(request.headers.get("authorization"))
    if verdict == exposition.OFF:
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    if verdict == exposition.DENIED:
        return JSONResponse(
            {"detail": "metrics need Authorization: Bearer <AGENTFLOW_METRICS_TOKEN>"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    body, content_type = exposition.scrape(deployment=True)
    return Response(body, media_type=content_type)


def route_template(scope: dict[str, Any]) -> str:
    """The matched route's template, read from the scope once routing has run."""
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    template = getattr(context, "path_format", None)
    if template is None:
        template = getattr(scope.get("route"), "path_format", None)
    return template or UNMATCHED


class TelemetryMiddleware:
    """Times every HTTP request by route template and traces it when tracing is on."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics_on = get_settings().metrics_enabled
        tracer = tracing.tracer()
        if not metrics_on and tracer is None:
            await self.app(scope, receive, send)
            return
        status = 500  # what an exception that escapes everything becomes

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        method = scope.get("method", "GET")
        started = time.perf_counter()
        span, token = _start_span(tracer, scope, method) if tracer is not None else (None, None)
        try:
            await self.app(scope, receive, sending)
        finally:
            route = route_template(scope)
            if metrics_on:
                _count(method, route, status, time.perf_counter() - started)
            if span is not None:
                _end_span(span, token, method, route, status)


def _count(method: str, route: str, status: int, seconds: float) -> None:
    from agentflow_app.observability import metrics

    metrics.HTTP_DURATION.labels(method, route, str(status)).observe(seconds)
    if route.startswith(HOOKS_PREFIX):
        metrics.WEBHOOK_REQUESTS.labels(str(status)).inc()


def _start_span(tracer: Any, scope: dict[str, Any], method: str) -> tuple[Any, Any]:
    from opentelemetry import context, propagate, trace

    headers = {
        key.decode("latin-1"): value.decode("latin-1")
        for key, value in scope.get("headers", ())
        if key in (b"traceparent", b"tracestate")
    }
    parent = propagate.extract(headers)
    span = tracer.start_span(
        method,
        context=parent,
        kind=trace.SpanKind.SERVER,
        attributes={"http.request.method": method, "url.scheme": scope.get("scheme", "http")},
    )
    return span, context.attach(trace.set_span_in_context(span, parent))


def _end_span(span: Any, token: Any, method: str, route: str, status: int) -> None:
    from opentelemetry import context
    from opentelemetry.trace import Status, StatusCode

    span.update_name(f"{method} {route}")
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
    span.end()
    context.detach(token)
