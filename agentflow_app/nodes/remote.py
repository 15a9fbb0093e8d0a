"""Calling outside services from a node: one place that turns failures into step errors.

Which failures are worth a retry is a product decision (SPEC §5 ``retries``): rate limits
(429), server errors (5xx), timeouts and dropped connections are :class:`TransientError`;
everything else (4xx, a refused URL, an unknown host) is a :class:`NodeError` whose
message says what to fix. Every message starts with the node type or tool id, so it reads
well in the step list and in an agent's tool result.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from agentflow_app.engine.errors import NodeError, TransientError
from agentflow_app.engine.node import RunContext
from agentflow_app.net.client import GuardedResponse
from agentflow_app.net.guard import DnsUnavailable, NetError, redact_url

#: The longest wait a ``Retry-After`` header may ask for; a step is not parked for hours.
MAX_RETRY_AFTER_S = 60.0
EXCERPT_CHARS = 300


def as_text(value: Any) -> str:
    """A rendered template value as text (a template may render to a list or a number)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The start of a response body, on one line, for an error message."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def retry_after_s(headers: httpx.Headers) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta or HTTP date), capped."""
    raw = headers.get("retry-after", "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def is_transient_status(status: int) -> bool:
    return status == 429 or status >= 500


def status_error(where: str, response: GuardedResponse, detail: str) -> Exception:
    """The step error for an unsuccessful answer: transient for 429/5xx, else permanent."""
    reason = httpx.codes.get_reason_phrase(response.status_code)
    message = f"{where}: {detail} answered {response.status_code} {reason}".rstrip()
    body = excerpt(response.text)
    if body:
        message += f": {body}"
    if is_transient_status(response.status_code):
        return TransientError(message, retry_after=retry_after_s(response.headers))
    return NodeError(message)


async def send(
    ctx: RunContext, where: str, method: str, url: str, **kwargs: Any
) -> GuardedResponse:
    """``ctx.http.request`` with its failures turned into step errors.

    Raises:
        NodeError: the URL is refused or invalid, the host is unknown, the body too large.
        TransientError: timeouts, connection failures, DNS temporarily failing.
    """
    shown = redact_url(url)
    try:
        return await ctx.http.request(method, url, **kwargs)
    except DnsUnavailable as exc:
        raise TransientError(f"{where}: {exc}") from None
    except NetError as exc:
        raise NodeError(f"{where}: {exc}") from None
    except httpx.LocalProtocolError as exc:
        raise NodeError(f"{where}: the request is malformed: {exc}") from None
    except httpx.TimeoutException:
        raise TransientError(f"{where}: {method} {shown} timed out") from None
    except httpx.TransportError as exc:
        raise TransientError(
            f"{where}: {method} {shown} failed: {exc or type(exc).__name__}"
        ) from None
