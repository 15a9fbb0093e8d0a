"""The ``llm.prompt`` and ``llm.agent`` node types (SPEC §6).

Both stream the model's text as ``step.token`` events while it arrives, report tokens and
dollars from the provider's own usage fields, and turn provider failures into a
:class:`NodeError` (fix something) or a :class:`TransientError` (the runner retries). The
agent runs LangChain's ``create_agent`` loop over registry tools, capped at ``max_steps``
model turns, and records every tool call in ``output.steps`` and the step log.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import TYPE_CHECKING, Any, Literal

from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, ModelCallLimitMiddleware
from langchain.agents.middleware.model_call_limit import ModelCallLimitExceededError
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from pydantic import Field, model_validator

from agentflow_app.engine.errors import NodeError, RegistryError, TransientError
from agentflow_app.engine.node import Node, NodeConfig, RunContext, TemplateStr, Tool
from agentflow_app.llm.attachments import attachment_blocks
from agentflow_app.llm.errors import provider_error, scrub
from agentflow_app.llm.pricing import PriceTable, load_prices
from agentflow_app.llm.providers import ChatModel, chat_model
from agentflow_app.llm.tools import ScopedCredentials, build_tools
from agentflow_app.mcp.agent_tools import McpToolRef, open_tools
from agentflow_app.observability import genai
from agentflow_app.settings import get_settings

if TYPE_CHECKING:
    from agentflow_app.engine.registry import Registry

JSON_INSTRUCTION = (
    "Answer with one JSON value and nothing else: no prose before or after it, "
    "no Markdown code fences."
)
#: Longest wait between in-place model retries inside an agent run (seconds).
MAX_MODEL_BACKOFF_S = 30.0
_FENCED = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL | re.IGNORECASE)


class LLMConfig(NodeConfig):
    """What ``llm.prompt`` needs: which model, how to reach it, what to ask."""

    provider: Literal["anthropic", "openai", "bedrock"]
    model: str = Field(min_length=1, description="The provider's model id.")
    credential: str | None = Field(
        default=None, description="Credential holding the key; empty: the environment's."
    )
    system: TemplateStr | None = None
    prompt: TemplateStr
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0, le=1_000_000)
    json_output: bool = Field(default=False, description="Ask for JSON and parse it into data.")
    attachments: list[TemplateStr] = Field(
        default_factory=list,
        description="Files sent with the prompt (images, PDFs, text), e.g. {{ inputs.photo }}",
    )


class AgentConfig(LLMConfig):
    """``llm.prompt`` plus the tools the model may call and how long it may go on."""

    tools: list[str] = Field(default_factory=list, description="Tool ids the agent may call.")
    max_steps: int = Field(default=8, ge=1, le=100, description="Most model turns.")
    #: Which credential each tool uses: chosen by the author, never by the model.
    tool_credentials: dict[str, str] = Field(default_factory=dict)
    mcp_servers: list[str] = Field(
        default_factory=list,
        description="MCP servers whose tools the agent may call: mcp credentials, or "
        "stdio:<name> from the administrator's list.",
        json_schema_extra={"credential_kinds": ["mcp"]},
    )
    #: Per server, the tools the author ticked; a server left out offers all its tools.
    mcp_tools: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Per MCP server, the tools the agent may use (a server left out: all).",
        json_schema_extra={"widget": "mcp_tools"},
    )
    mcp_timeout_s: float = Field(
        default=60, gt=0, le=3600, description="Seconds each MCP tool call may take."
    )

    @model_validator(mode="after")
    def _credentials_name_listed_tools(self) -> AgentConfig:
        stray = sorted(set(self.tool_credentials) - set(self.tools))
        if stray:
            raise ValueError(
                f"tool_credentials names {', '.join(stray)}, which "
                f"{'is' if len(stray) == 1 else 'are'} not in tools"
            )
        stray = sorted(set(self.mcp_tools) - set(self.mcp_servers))
        if stray:
            raise ValueError(
                f"mcp_tools names {', '.join(stray)}, which "
                f"{'is' if len(stray) == 1 else 'are'} not in mcp_servers"
            )
        return self


class _TokenForwarder(AsyncCallbackHandler):
    """Sends each streamed text delta to ``ctx.token`` (the runner batches them)."""

    raise_error = True
    #: Awaited in place. Otherwise LangChain gathers each event's handlers as new tasks:
    #: a task per handler for each of a call's dozen events, for handlers that never wait.
    run_inline = True

    def __init__(self, ctx: RunContext) -> None:
        self._ctx = ctx

    async def on_llm_new_token(self, token: str, *, chunk: Any = None, **_: Any) -> None:
        message = getattr(chunk, "message", None)
        text = message.text if message is not None else token
        if isinstance(text, str) and text:
            await self._ctx.token(text)


class _Usage:
    """Token counts over every model call of a step, and what they cost."""

    def __init__(self, ctx: RunContext, call: ChatModel, model: str, prices: PriceTable) -> None:
        self._ctx, self._call, self._model, self._prices = ctx, call, model, prices
        self.input_tokens = 0
        self.output_tokens = 0

    def add(self, messages: list[BaseMessage]) -> None:
        for message in messages:
            usage = (
                getattr(message, "usage_metadata", None) if isinstance(message, AIMessage) else None
            )
            if usage:
                self.input_tokens += int(usage.get("input_tokens") or 0)
                self.output_tokens += int(usage.get("output_tokens") or 0)

    async def report(self) -> dict[str, Any]:
        cost = self._prices.cost_usd(
            self._call.provider, self._model, self.input_tokens, self.output_tokens
        )
        if cost is None:
            await self._ctx.log(
                f"no price known for {self._call.provider} model {self._model!r}: cost counted "
                "as 0 (add it to the price file)",
                provider=self._call.provider,
                model=self._model,
            )
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(cost or 0.0, 8),
        }


class LLMPrompt(Node):
    type = "llm.prompt"
    label = "LLM prompt"
    category = "AI"
    icon = "sparkles"
    description = "Ask a model (Anthropic, OpenAI or Bedrock) one question; stream its answer."
    Config = LLMConfig
    default_retries = 2

    async def run(self, ctx: RunContext, config: LLMConfig) -> dict[str, Any]:
        call, usage = await _open(ctx, config)
        return await self._ask(ctx, config, call, usage)

    async def _ask(
        self, ctx: RunContext, config: LLMConfig, call: ChatModel, usage: _Usage
    ) -> dict[str, Any]:
        messages = _messages(
            config, await attachment_blocks(ctx, config.provider, config.attachments, self.type)
        )
        handlers = genai.callbacks(ctx, call, config.model, **_request(config))

        async def ask(history: list[BaseMessage]) -> AIMessage:
            """The model's answer, its text forwarded as it streams.

            ``astream`` and the chunks summed here, where ``ainvoke`` gathered the same
            chunks through LangChain's generation and callback layers (a token handler, a
            result object): 1.85 against 2.1 ms of CPU per call to an instant local server.
            The chunks are summed once at the end (``first + rest`` merges them all in one
            message), not one by one: each sum built a message.
            """
            chunks: list[AIMessageChunk] = []
            with _provider_errors(ctx, config, call):
                async for chunk in call.model.astream(history, config={"callbacks": handlers}):
                    chunks.append(chunk)
                    if text := chunk.text:
                        await ctx.token(text)
            first, *rest = chunks or [AIMessage(content="")]
            answer = first + rest if rest else first
            usage.add([answer])
            return answer

        answer = await ask(messages)
        output: dict[str, Any] = {"text": answer.text}
        if config.json_output:
            answer, data = await _parse_json(ctx, [*messages, answer], ask)
            output = {"text": answer.text, "data": data}
        output.update(usage=await usage.report(), model=config.model)
        return scrub(output, call.secrets)


class LLMAgent(Node):
    type = "llm.agent"
    label = "LLM agent"
    category = "AI"
    icon = "bot"
    description = (
        "Let a model call tools (HTTP, Slack, HubSpot, email, plugins, MCP servers) "
        "until it answers."
    )
    Config = AgentConfig
    default_retries = 2
    #: Through its tools it may act on the world; :meth:`is_idempotent` says when it does.
    side_effects = True

    def is_idempotent(self, config: AgentConfig, registry: Registry | None = None) -> bool:
        """Safe to run again unless a listed tool has side effects (unknown ones count).

        Without a registry every tool is unknown, so only an agent without tools is safe;
        an MCP server's tools are always unknown.
        """
        if config.mcp_servers:
            return False
        known = registry.tools() if registry is not None else {}
        return not any(known[t].side_effects if t in known else True for t in config.tools)

    async def run(self, ctx: RunContext, config: AgentConfig) -> dict[str, Any]:
        registry = ctx.registry
        try:
            classes = [registry.tool(tool_id) for tool_id in config.tools]
        except RegistryError as exc:
            known = ", ".join(sorted(registry.tools())) or "none"
            raise NodeError(f"{exc} in tools (known tools: {known})") from None

        call, usage = await _open(ctx, config)
        return await self._loop(ctx, config, classes, call, usage)

    async def _loop(
        self,
        ctx: RunContext,
        config: AgentConfig,
        classes: list[type[Tool]],
        call: ChatModel,
        usage: _Usage,
    ) -> dict[str, Any]:
        tool_ctx = dataclasses.replace(
            ctx, services={**ctx.services, "tool_credentials": dict(config.tool_credentials)}
        )
        scoped = ScopedCredentials(ctx.credentials, dict(config.tool_credentials))
        tools = build_tools(tool_ctx, classes, scoped, call.secrets)
        recorder = _StepRecorder(
            ctx,
            {tool.name: cls for tool, cls in zip(tools, classes, strict=True)},
            lambda: (*call.secrets, *scoped.secrets),
        )
        async with AsyncExitStack() as sessions:
            if config.mcp_servers:
                mcp_tools, recorder.mcp = await open_tools(
                    sessions,
                    ctx,
                    config.mcp_servers,
                    config.mcp_tools,
                    timeout_s=config.mcp_timeout_s,
                    secrets=lambda: (*call.secrets, *scoped.secrets),
                    # Anthropic's tool results take images; OpenAI's tool messages are text.
                    images=config.provider == "anthropic",
                )
                tools = [*tools, *mcp_tools]
            return await self._run_agent(ctx, config, call, usage, tools, recorder, scoped)

    async def _run_agent(
        self,
        ctx: RunContext,
        config: AgentConfig,
        call: ChatModel,
        usage: _Usage,
        tools: list[Any],
        recorder: _StepRecorder,
        scoped: ScopedCredentials,
    ) -> dict[str, Any]:
        agent = create_agent(
            call.model,
            tools,
            system_prompt=_system(config),
            middleware=[
                ModelCallLimitMiddleware(run_limit=config.max_steps, exit_behavior="error"),
                _RetryAfterTools(ctx, config, call, recorder),
                recorder,
            ],
        )
        run_config = {
            "callbacks": [
                _TokenForwarder(ctx),
                *genai.callbacks(ctx, call, config.model, **_request(config)),
            ],
            "recursion_limit": 10 * config.max_steps + 20,
        }

        async def ask(history: list[BaseMessage]) -> AIMessage:
            with _provider_errors(ctx, config, call):
                try:
                    state = await agent.ainvoke({"messages": history}, config=run_config)
                except ModelCallLimitExceededError:
                    raise NodeError(
                        f"the agent used all {config.max_steps} steps (max_steps) and was still "
                        "calling tools; raise max_steps or give it a narrower task"
                    ) from None
            new = state["messages"][len(history) :]
            usage.add(new)
            history[:] = state["messages"]
            return state["messages"][-1]

        blocks = await attachment_blocks(ctx, config.provider, config.attachments, self.type)
        history: list[BaseMessage] = [_question(config, blocks)]
        answer = await ask(history)
        output: dict[str, Any] = {"text": answer.text}
        if config.json_output:
            answer, data = await _parse_json(ctx, history, ask)
            output = {"text": answer.text, "data": data}
        output.update(steps=recorder.steps, usage=await usage.report(), model=config.model)
        return scrub(output, (*call.secrets, *scoped.secrets))


class _StepRecorder(AgentMiddleware):
    """Records every tool call (including refused arguments) and logs it as it happens."""

    def __init__(
        self,
        ctx: RunContext,
        tools: dict[str, type[Tool]],
        secrets: Callable[[], tuple[str, ...]],
    ) -> None:
        super().__init__()
        self._ctx, self._tools, self._secrets = ctx, tools, secrets
        #: Model-visible names of MCP tools → which server and tool (set once they are listed).
        self.mcp: dict[str, McpToolRef] = {}
        self.steps: list[dict[str, Any]] = []
        #: Tools with side effects that have run (even failing: they may have acted).
        self.side_effects: list[str] = []

    async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
        call = request.tool_call
        cls = self._tools.get(call["name"])
        mcp = self.mcp.get(call["name"])
        tool_id = cls.id if cls is not None else mcp.id if mcp is not None else call["name"]
        started = time.perf_counter()
        result = await handler(request)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        if not isinstance(result, ToolMessage):
            return result
        secrets = self._secrets()
        step: dict[str, Any] = {"tool": tool_id, "input": scrub(call["args"], secrets)}
        # What an MCP server's tool does is unknown, so it counts as acting on the world.
        if (cls is not None and cls.side_effects) or mcp is not None:
            self.side_effects.append(tool_id)
        if result.status == "error":
            step["output"] = None
            step["error"] = scrub(result.text, secrets)
            step["duration_ms"] = duration_ms
            await self._ctx.log(
                f"tool {tool_id} failed after {duration_ms:g} ms: {step['error']}",
                tool=tool_id,
                input=step["input"],
                error=step["error"],
                duration_ms=duration_ms,
            )
        else:
            step["output"] = scrub(result.artifact, secrets)
            step["duration_ms"] = duration_ms
            await self._ctx.log(
                f"called tool {tool_id} ({duration_ms:g} ms)",
                tool=tool_id,
                input=step["input"],
                output=step["output"],
                duration_ms=duration_ms,
            )
        self.steps.append(step)
        return result


class _RetryAfterTools(AgentMiddleware):
    """Retries a failed model call in place once tools have run, so they are not repeated.

    Before any tool runs, a transient failure goes to the runner, which retries the step
    with backoff. Afterwards, retrying the step would run the tools again (a second Slack
    message), so the model call is retried here instead; if that runs out after a tool with
    side effects, the step fails for good rather than risk repeating it.
    """

    def __init__(
        self, ctx: RunContext, config: AgentConfig, call: ChatModel, recorder: _StepRecorder
    ) -> None:
        super().__init__()
        self._ctx, self._config, self._call, self._recorder = ctx, config, call, recorder
        self._retries = config.retries if config.retries is not None else LLMAgent.default_retries

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        attempt = 0
        while True:
            try:
                return await handler(request)
            except Exception as exc:
                if not self._recorder.steps:
                    raise
                error = provider_error(
                    exc,
                    provider=self._call.provider,
                    model=self._config.model,
                    key_source=self._call.key_source,
                    node_id=self._ctx.node_id,
                    secrets=self._call.secrets,
                )
                if not isinstance(error, TransientError):
                    raise
                if attempt >= self._retries:
                    if not self._recorder.side_effects:
                        raise
                    ran = ", ".join(dict.fromkeys(self._recorder.side_effects))
                    raise NodeError(
                        f"{error} (after {attempt + 1} attempts); the step is not retried as a "
                        f"whole because {ran} already ran and would run again"
                    ) from None
                attempt += 1
                delay = (
                    error.retry_after
                    if error.retry_after is not None
                    else min(MAX_MODEL_BACKOFF_S, 2 ** (attempt - 1))
                )
                await self._ctx.log(
                    f"model call failed ({error}); retrying in {delay:.1f} s, keeping the "
                    "tool results so far",
                    level="warning",
                )
                await asyncio.sleep(delay)


# -- shared plumbing ------------------------------------------------------------------------


async def _open(ctx: RunContext, config: LLMConfig) -> tuple[ChatModel, _Usage]:
    settings = get_settings()
    call = await chat_model(
        config.provider,
        config.model,
        credential=config.credential,
        credentials=ctx.credentials,
        settings=settings,
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        timeout_s=config.timeout_s,
    )
    # AGENTFLOW_PRICES_FILE: an operator's JSON price list merged over the built-in one.
    prices = load_prices(settings.agentflow_prices_file)
    return call, _Usage(ctx, call, config.model, prices)


def _request(config: LLMConfig) -> dict[str, Any]:
    """What a model call was asked for, as its span says (``gen_ai.request.*``)."""
    return {"temperature": config.temperature, "max_tokens": config.max_tokens}


def _text(value: Any) -> str:
    """A rendered template as message text.

    A template that is one ``{{ expression }}`` keeps the expression's type, so a prompt
    of ``{{ nodes.fetch.output.body }}`` arrives as an object: the model gets it as JSON.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _system(config: LLMConfig) -> str | None:
    parts = [_text(config.system), JSON_INSTRUCTION if config.json_output else ""]
    return "\n\n".join(p for p in parts if p.strip()) or None


def _messages(config: LLMConfig, blocks: list[dict[str, Any]]) -> list[BaseMessage]:
    system = _system(config)
    head: list[BaseMessage] = [SystemMessage(system)] if system else []
    return [*head, _question(config, blocks)]


def _question(config: LLMConfig, blocks: list[dict[str, Any]]) -> HumanMessage:
    """The prompt, with its attachments' blocks before it when there are any."""
    if not blocks:
        return HumanMessage(_text(config.prompt))
    return HumanMessage([*blocks, {"type": "text", "text": _text(config.prompt)}])


@contextmanager
def _provider_errors(ctx: RunContext, config: LLMConfig, call: ChatModel) -> Iterator[None]:
    """Re-raise provider failures as step errors written for the user."""
    try:
        yield
    except Exception as exc:
        error = provider_error(
            exc,
            provider=call.provider,
            model=config.model,
            key_source=call.key_source,
            node_id=ctx.node_id,
            secrets=call.secrets,
        )
        if error is None:
            raise
        raise error from None


def _loads(text: str) -> Any:
    stripped = text.strip()
    fenced = _FENCED.match(stripped)
    return json.loads(fenced.group(1) if fenced else stripped)


async def _parse_json(
    ctx: RunContext,
    conversation: list[BaseMessage],
    ask: Callable[[list[BaseMessage]], Awaitable[AIMessage]],
) -> tuple[AIMessage, Any]:
    """Parse the last answer of ``conversation`` as JSON; on failure ask once to fix it."""
    answer = conversation[-1]
    assert isinstance(answer, AIMessage)
    try:
        return answer, _loads(answer.text)
    except json.JSONDecodeError as exc:
        problem = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    await ctx.log(f"the answer was not valid JSON ({problem}); asking the model to fix it")
    retry = [
        *conversation,
        HumanMessage(
            f"Your answer was not valid JSON: {problem}. Reply again with only the corrected "
            "JSON value, nothing else."
        ),
    ]
    fixed = await ask(retry)
    try:
        return fixed, _loads(fixed.text)
    except json.JSONDecodeError as exc:
        preview = fixed.text.strip()[:200]
        raise NodeError(
            f"json_output is on but the model's answer is not valid JSON, even after one "
            f"repair round ({exc.msg} at line {exc.lineno} column {exc.colno}); it began: "
            f"{preview!r}"
        ) from None


def register_builtin(registry: Registry) -> None:
    """Add the LLM node types to ``registry`` (called by ``agentflow_app.catalog``)."""
    registry.register_node(LLMPrompt)
    registry.register_node(LLMAgent)
