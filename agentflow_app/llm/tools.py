"""Registry tools as LangChain tools, with the walls that keep secrets from the model.

The model sees a tool's id, description and the JSON schema of its pydantic ``Args``; it
fills the arguments, nothing else. Credentials reach a tool only through the node's
``tool_credentials`` map, via a credential provider that hands each tool the one credential
configured for it and nothing else, so a model told to "use the anthropic credential" has no
way to. Whatever a tool returns is scrubbed of every secret in play before the model or the
step output sees it, and a failing tool answers the model with its error instead of failing
the step, so the model can correct itself.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from langchain_core.tools import StructuredTool, ToolException
from pydantic import BaseModel

from agentflow_app.engine.errors import NodeError
from agentflow_app.engine.node import CredentialProvider, RunContext, Tool
from agentflow_app.llm.errors import scrub

#: Longest tool result the model is shown; more would crowd out the conversation.
MAX_RESULT_CHARS = 16_000
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class ScopedCredentials:
    """The credentials of one agent run: each tool gets only the one named for it.

    Every secret value handed out is remembered in :attr:`secrets`, so tool results can be
    scrubbed of it before the model sees them.
    """

    def __init__(self, inner: CredentialProvider, allowed: dict[str, str]) -> None:
        self._inner = inner
        self._allowed = allowed
        self.secrets: set[str] = set()

    def for_tool(self, tool_id: str) -> CredentialProvider:
        """The credential provider tool ``tool_id`` sees."""
        return _ToolCredentials(self, tool_id)

    async def fetch(self, tool_id: str, name: str, kinds: tuple[str, ...]) -> dict[str, Any]:
        allowed = self._allowed.get(tool_id)
        if allowed is None:
            raise NodeError(
                f"tool {tool_id!r} needs a credential: add it under tool_credentials "
                "in the agent's config"
            )
        if name != allowed:
            raise NodeError(
                f"tool {tool_id!r} may only use credential {allowed!r} "
                "(set in the agent's tool_credentials)"
            )
        value = await self._inner.get(name, kinds)
        # Every field counts: kinds name their secret fields differently (token,
        # header_value, password); short ones (a scheme, a port) would mangle results.
        self.secrets.update(
            v for k, v in value.items() if isinstance(v, str) and len(v) >= 8 and k != "kind"
        )
        return value


class _ToolCredentials:
    def __init__(self, scope: ScopedCredentials, tool_id: str) -> None:
        self._scope, self._tool_id = scope, tool_id

    async def get(self, name: str, kinds: tuple[str, ...]) -> dict[str, Any]:
        return await self._scope.fetch(self._tool_id, name, kinds)


def to_jsonable(value: Any) -> Any:
    """A tool's return value as plain JSON data (pydantic models dumped)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def build_tools(
    ctx: RunContext,
    tool_classes: list[type[Tool]],
    credentials: ScopedCredentials,
    model_secrets: tuple[str, ...],
) -> list[StructuredTool]:
    """LangChain tools that run ``tool_classes`` inside this step.

    Args:
        ctx: the agent step's context; each tool gets a copy whose credentials are scoped.
        tool_classes: the registry classes the node lists in ``tools``.
        credentials: the scoped provider built from the node's ``tool_credentials``.
        model_secrets: the LLM key(s), scrubbed from results along with tool secrets.
    """
    return [_one(ctx, cls, credentials, model_secrets) for cls in tool_classes]


def _one(
    ctx: RunContext,
    cls: type[Tool],
    credentials: ScopedCredentials,
    model_secrets: tuple[str, ...],
) -> StructuredTool:
    tool_ctx = dataclasses.replace(ctx, credentials=credentials.for_tool(cls.id))

    async def run(**kwargs: Any) -> tuple[str, Any]:
        try:
            args = cls.Args.model_validate(kwargs)
            result = to_jsonable(await cls().run(tool_ctx, args))
        except Exception as exc:
            # The model gets the error as the tool's answer and may try again differently.
            message = scrub(str(exc) or type(exc).__name__, (*model_secrets, *credentials.secrets))
            raise ToolException(f"{cls.id} failed: {message}") from None
        # Scrubbed after the run: the tool may have fetched its credential just now.
        result = scrub(result, (*model_secrets, *credentials.secrets))
        text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
        if len(text) > MAX_RESULT_CHARS:
            text = text[:MAX_RESULT_CHARS] + f"… (cut at {MAX_RESULT_CHARS} characters)"
        return text, result

    return StructuredTool.from_function(
        coroutine=run,
        name=tool_name(cls.id),
        description=cls.description,
        args_schema=cls.Args,
        response_format="content_and_artifact",
        handle_tool_error=True,
    )


def tool_name(tool_id: str) -> str:
    """The name the model calls a tool by: providers allow ``[A-Za-z0-9_-]{1,64}`` only."""
    return _NAME_UNSAFE.sub("_", tool_id)[:64]
