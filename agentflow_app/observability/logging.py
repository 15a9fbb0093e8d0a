"""Structured logs: with ``AGENTFLOW_LOG_FORMAT=json``, one JSON object per line.

Each line says when, how bad, which logger and what happened, plus the ids an operator
filters on: ``execution_id``, ``workflow_id``, ``node_id``, ``worker`` and, when tracing
is on, ``trace_id`` / ``span_id`` (so a log line leads to its trace). The ids come from
the record (``extra=``), else from the run this code executes (:func:`log_context`,
entered by the worker for each run), else from the current span.

What reaches a line was redacted where it was made (event data and step errors by the
run's vault); the formatter still replaces the operator's own secrets (the metrics
token, signing and encryption keys, provider API keys from the environment), so a
library that logs its configuration cannot leak them. The default ``text`` format stays
what it was.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from agentflow_app.settings import Settings, get_settings

#: The ids a line carries when they are known, in this order.
ID_FIELDS = ("execution_id", "workflow_id", "node_id", "worker", "trace_id", "span_id")
REDACTED = "[redacted]"

_context: ContextVar[Mapping[str, Any]] = ContextVar(
    "agentflow_log_context", default=MappingProxyType({})
)


@contextlib.contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """Stamp every line logged inside the block (and tasks it starts) with ``ids``."""
    token = _context.set({**_context.get(), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the ids of :data:`ID_FIELDS` that are known."""

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self._secrets = operator_secrets(settings or get_settings())

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self._scrub(record.getMessage()),
        }
        known = {**_context.get(), **_span_ids()}
        for name in ID_FIELDS:
            value = getattr(record, name, None)
            value = known.get(name) if value is None else value
            if value is not None:
                body[name] = value
        for name in ("event", "status", "duration_ms"):
            if (value := getattr(record, name, None)) is not None:
                body[name] = value
        if record.exc_info:
            body["exception"] = self._scrub(self.formatException(record.exc_info))
        return json.dumps(body, ensure_ascii=False, default=str)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def operator_secrets(settings: Settings) -> tuple[str, ...]:
    """The secrets in the operator's configuration, longest first."""
    values = [
        settings.agentflow_secret_key,
        settings.agentflow_metrics_token.get_secret_value()
        if settings.agentflow_metrics_token
        else None,
        settings.anthropic_api_key,
        settings.openai_api_key,
        *(settings.agentflow_encryption_keys or "").split(","),
    ]
    return tuple(sorted({v.strip() for v in values if v and len(v.strip()) >= 4}, key=len)[::-1])


def _span_ids() -> dict[str, str]:
    if "opentelemetry.trace" not in sys.modules:  # tracing never started here
        return {}
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


def configure(settings: Settings | None = None) -> bool:
    """Send every log record to stderr as JSON when ``AGENTFLOW_LOG_FORMAT=json``.

    Returns:
        Whether the JSON format is on (nothing changes otherwise).
    """
    settings = settings or get_settings()
    if settings.agentflow_log_format != "json":
        return False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(settings))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    logging.captureWarnings(True)  # warnings too, or they would be the lines that are not JSON
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    # Servers' own loggers keep their handlers otherwise: route them through ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "granian"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
    return True
