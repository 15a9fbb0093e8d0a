"""One span per model call, with the OpenTelemetry GenAI semantic conventions, and the
LLM metrics (calls, tokens, cost by provider and model).

The LLM nodes pass :func:`callbacks` to LangChain with their own token forwarder; the
callbacks see every model call, including each turn of an agent's loop. They are the
one place that knows the provider, the model, the token counts and the finish reason of
each call together, which no execution event carries, so the LLM metrics are counted
here rather than from events.

Prompts and completions go on the span only when
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``, and always scrubbed of the
call's secrets (the provider key) and of every credential value the run's vault handed
out.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler

from agentflow_app.llm.errors import scrub
from agentflow_app.llm.pricing import load_prices
from agentflow_app.observability import runs, tracing
from agentflow_app.settings import get_settings

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import LLMResult

    from agentflow_app.engine.node import RunContext
    from agentflow_app.llm.providers import ChatModel

#: ``gen_ai.provider.name`` of each provider (the conventions' well-known values).
PROVIDER_NAMES = {"anthropic": "anthropic", "openai": "openai", "bedrock": "aws.bedrock"}
#: Longest serialized prompt or completion put on a span.
MAX_CONTENT_CHARS = 16_000


def callbacks(
    ctx: RunContext,
    call: ChatModel,
    model: str,
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
) -> list[AsyncCallbackHandler]:
    """The handlers an LLM node adds to its model calls: none while nothing is observed."""
    settings = get_settings()
    if not (settings.metrics_enabled or settings.tracing_enabled):
        return []
    return [GenAICalls(ctx, call, model, temperature=temperature, max_tokens=max_tokens)]


class GenAICalls(AsyncCallbackHandler):
    """Spans and metrics of the model calls of one step."""

    #: Telemetry must never fail the call it watches.
    raise_error = False
    #: Awaited in place, as the token forwarder is (see ``llm.nodes._TokenForwarder``).
    run_inline = True

    def __init__(
        self,
        ctx: RunContext,
        call: ChatModel,
        model: str,
        *,
        temperature: float | None,
        max_tokens: int | None,
    ) -> None:
        settings = get_settings()
        self._ctx, self._call, self._model = ctx, call, model
        self._request = {"gen_ai.request.temperature": temperature}
        self._request["gen_ai.request.max_tokens"] = max_tokens
        self._capture = settings.otel_instrumentation_genai_capture_message_content
        self._prices = load_prices(settings.agentflow_prices_file)
        self._metrics_on = settings.metrics_enabled
        self._open: dict[UUID, tuple[Any, float]] = {}

    # -- LangChain's hooks -------------------------------------------------------------

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        **_: Any,
    ) -> None:
        span = self._start_span()
        if span is not None and self._capture:
            span.set_attribute(
                "gen_ai.input.messages", self._content(messages[0] if messages else [])
            )
        self._open[run_id] = (span, time.perf_counter())

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **_: Any) -> None:
        span, _started = self._open.pop(run_id, (None, 0.0))
        message = _message_of(response)
        usage = (getattr(message, "usage_metadata", None) or {}) if message is not None else {}
        meta = (getattr(message, "response_metadata", None) or {}) if message is not None else {}
        input_tokens = int(usage.get("input_tokens") or 0)
        output_tokens = int(usage.get("output_tokens") or 0)
        cost = self._prices.cost_usd(self._call.provider, self._model, input_tokens, output_tokens)
        if self._metrics_on:
            self._count("ok", input_tokens, output_tokens, cost)
        if span is None:
            return
        finish = meta.get("stop_reason") or meta.get("finish_reason") or meta.get("stopReason")
        attributes: dict[str, Any] = {
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
            "gen_ai.response.model": meta.get("model_name") or meta.get("model") or self._model,
        }
        if finish:
            attributes["gen_ai.response.finish_reasons"] = [str(finish)]
        if response_id := meta.get("id") or getattr(message, "id", None):
            attributes["gen_ai.response.id"] = str(response_id)
        if cost is not None:
            attributes["agentflow.llm.cost_usd"] = round(cost, 8)
        if self._capture and message is not None:
            attributes["gen_ai.output.messages"] = self._content([message])
        span.set_attributes(attributes)
        span.end()

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **_: Any) -> None:
        span, _started = self._open.pop(run_id, (None, 0.0))
        if self._metrics_on:
            self._count("error", 0, 0, None)
        if span is None:
            return
        from opentelemetry.trace import Status, StatusCode

        span.set_attribute("error.type", type(error).__name__)
        span.set_status(Status(StatusCode.ERROR, str(self._redact(str(error)))[:500]))
        span.end()

    # -- plumbing ----------------------------------------------------------------------

    def _start_span(self) -> Any:
        tracer = tracing.tracer()
        if tracer is None:
            return None
        from datetime import UTC, datetime

        from opentelemetry import trace

        parent = None
        run = runs.get(self._ctx.execution_id)
        if run is not None:
            step = runs.step_of(run, self._ctx.node_id, datetime.now(UTC))
            if step.span is not None:
                parent = trace.set_span_in_context(step.span)
        provider = PROVIDER_NAMES.get(self._call.provider, self._call.provider)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.system": provider,
            "gen_ai.request.model": self._model,
            "agentflow.node.id": self._ctx.node_id,
        }
        attributes |= {k: v for k, v in self._request.items() if v is not None}
        return tracer.start_span(
            f"chat {self._model}", context=parent, kind=trace.SpanKind.CLIENT, attributes=attributes
        )

    def _count(
        self, outcome: str, input_tokens: int, output_tokens: int, cost: float | None
    ) -> None:
        from agentflow_app.observability import metrics

        provider, model = self._call.provider, self._model
        metrics.LLM_CALLS.labels(provider, model, outcome).inc()
        if input_tokens:
            metrics.LLM_TOKENS.labels(provider, model, "input").inc(input_tokens)
        if output_tokens:
            metrics.LLM_TOKENS.labels(provider, model, "output").inc(output_tokens)
        if cost:
            metrics.LLM_COST.labels(provider, model).inc(cost)

    def _content(self, messages: list[Any]) -> str:
        shaped = [
            {"role": getattr(m, "type", "unknown"), "content": getattr(m, "content", str(m))}
            for m in messages
        ]
        # Scrubbed before encoding, so a secret is found however JSON would escape it.
        text = json.dumps(self._redact(shaped), ensure_ascii=False, default=str)
        return text[:MAX_CONTENT_CHARS]

    def _redact(self, value: Any) -> Any:
        # The vault's redactor first: it names the credential a secret came from.
        redactor = getattr(self._ctx.credentials, "redactor", None)
        value = redactor(value) if redactor is not None else value
        return scrub(value, self._call.secrets)


def _message_of(response: LLMResult) -> Any:
    try:
        return response.generations[0][0].message
    except (AttributeError, IndexError):
        return None
