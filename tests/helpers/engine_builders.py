"""Small node types and document builders for engine tests.

The node classes are test-only (``test.*`` ids, plus an ``output`` type because the runner
merges outputs of nodes of that type); they record what they did in
``ctx.services["journal"]`` so a test can assert on calls without patching anything.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from agentflow_app.engine.errors import NodeError, TransientError, Wait
from agentflow_app.engine.node import (
    ExpressionStr,
    Node,
    NodeConfig,
    RunContext,
    TemplateJSON,
    TemplateStr,
)
from agentflow_app.engine.registry import Registry
from agentflow_app.engine.runner import RunResult, run
from agentflow_app.engine.store import MemoryStore
from tests.helpers.documents import node


@dataclass
class Journal:
    """What the test nodes did, in order: ``(node_id, "start" | "end")``."""

    entries: list[tuple[str, str]] = field(default_factory=list)

    def calls(self, node_id: str) -> int:
        return sum(1 for n, what in self.entries if n == node_id and what == "start")

    def started(self) -> list[str]:
        return [n for n, what in self.entries if what == "start"]


def _journal(ctx: RunContext, what: str) -> None:
    journal = ctx.services.get("journal")
    if journal is not None:
        journal.entries.append((ctx.node_id, what))


class StartTrigger(Node):
    type = "test.trigger"
    label = "Test trigger"
    is_trigger = True
    inputs = ()

    async def run(self, ctx: RunContext, config: NodeConfig) -> Any:
        _journal(ctx, "start")
        _journal(ctx, "end")
        return dict(ctx.inputs)


class Echo(Node):
    """Returns ``{"value": <rendered value>}``."""

    type = "test.echo"
    label = "Echo"

    class Config(NodeConfig):
        value: TemplateJSON = None

    async def run(self, ctx: RunContext, config: Config) -> Any:
        _journal(ctx, "start")
        _journal(ctx, "end")
        return {"value": config.value}


class Condition(Node):
    type = "test.condition"
    label = "Condition"
    outputs = ("true", "false")

    class Config(NodeConfig):
        expression: ExpressionStr

    async def run(self, ctx: RunContext, config: Config) -> Any:
        _journal(ctx, "start")
        _journal(ctx, "end")
        return {"result": bool(config.expression)}

    def routes(self, output: Any) -> tuple[str, ...]:
        return ("true",) if output["result"] else ("false",)


class Flaky(Node):
    """Fails ``failures`` times (transiently, or permanently), then succeeds."""

    type = "test.flaky"
    label = "Flaky"

    class Config(NodeConfig):
        failures: int = 1
        permanent: bool = False

    async def run(self, ctx: RunContext, config: Config) -> Any:
        _journal(ctx, "start")
        if ctx.attempt <= config.failures:
            if config.permanent:
                raise NodeError("the far side said no")
            raise TransientError("the far side is busy (503)", retry_after=0)
        _journal(ctx, "end")
        return {"attempt": ctx.attempt}


class Sleep(Node):
    type = "test.sleep"
    label = "Sleep"

    class Config(NodeConfig):
        seconds: float = 60

    async def run(self, ctx: RunContext, config: Config) -> Any:
        _journal(ctx, "start")
        await asyncio.sleep(config.seconds)
        _journal(ctx, "end")
        return {"slept": config.seconds}


class Rendezvous(Node):
    """Waits at ``ctx.services["barrier"]``: finishes only if its peers run at the same time."""

    type = "test.rendezvous"
    label = "Rendezvous"

    async def run(self, ctx: RunContext, config: NodeConfig) -> Any:
        _journal(ctx, "start")
        await ctx.services["barrier"].wait()
        _journal(ctx, "end")
        return {"met": True}


class Big(Node):
    type = "test.big"
    label = "Big"

    class Config(NodeConfig):
        size: int

    async def run(self, ctx: RunContext, config: Config) -> Any:
        return {"blob": "x" * config.size}


class Spend(Node):
    type = "test.spend"
    label = "Spend"

    class Config(NodeConfig):
        cost_usd: float
        tokens: int = 10

    async def run(self, ctx: RunContext, config: Config) -> Any:
        _journal(ctx, "start")
        _journal(ctx, "end")
        return {
            "text": "ok",
            "usage": {
                "input_tokens": config.tokens,
                "output_tokens": config.tokens,
                "cost_usd": config.cost_usd,
            },
        }


class Send(Node):
    """A side-effecting, non-idempotent node (think Slack message)."""

    type = "test.send"
    label = "Send"
    side_effects = True
    idempotent = False

    async def run(self, ctx: RunContext, config: NodeConfig) -> Any:
        _journal(ctx, "start")
        _journal(ctx, "end")
        return {"sent": True}


class Chatty(Node):
    """Logs and streams tokens."""

    type = "test.chatty"
    label = "Chatty"

    class Config(NodeConfig):
        tokens: int = 50

    async def run(self, ctx: RunContext, config: Config) -> Any:
        await ctx.log("thinking", level="info")
        for i in range(config.tokens):
            await ctx.token(f"t{i} ")
        return {"text": "done"}


class NotJson(Node):
    type = "test.not_json"
    label = "Not JSON"

    async def run(self, ctx: RunContext, config: NodeConfig) -> Any:
        return {"when": object()}


class Pause(Node):
    """Waits once (``Wait``), then ends with the state it waited with when run again."""

    type = "test.pause"
    label = "Pause"

    async def run(self, ctx: RunContext, config: NodeConfig) -> Any:
        if ctx.resume is None:
            raise Wait(f"{ctx.node_id} pauses", state={"paused": ctx.node_id})
        _journal(ctx, "start")
        _journal(ctx, "end")
        return {"resumed": ctx.resume}


class Output(Node):
    type = "output"
    label = "Output"

    class Config(NodeConfig):
        fields: dict[str, TemplateStr] = {}

    async def run(self, ctx: RunContext, config: Config) -> Any:
        return dict(config.fields)


TEST_NODES = (
    StartTrigger,
    Echo,
    Condition,
    Flaky,
    Sleep,
    Rendezvous,
    Big,
    Spend,
    Send,
    Chatty,
    NotJson,
    Pause,
    Output,
)


def make_registry() -> Registry:
    registry = Registry()
    for cls in TEST_NODES:
        registry.register_node(cls)
    return registry


def edge(source: str, target: str, handle: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"id": f"{source}-{handle or 'out'}-{target}", "source": source}
    result["target"] = target
    if handle is not None:
        result["sourceHandle"] = handle
    return result


def document(nodes: list[dict], edges: list[dict], **extra: Any) -> dict[str, Any]:
    return {"schema_version": 1, "name": "test", "nodes": nodes, "edges": edges, **extra}


def chain(n: int) -> dict[str, Any]:
    """trigger → echo0 → echo1 → … → echo(n-1)."""
    nodes = [node("start", "test.trigger")] + [node(f"n{i}", "test.echo") for i in range(n)]
    ids = ["start"] + [f"n{i}" for i in range(n)]
    return document(nodes, [edge(a, b) for a, b in itertools.pairwise(ids)])


def fan_out(n: int) -> dict[str, Any]:
    """trigger → n echo nodes side by side."""
    nodes = [node("start", "test.trigger")] + [node(f"n{i}", "test.echo") for i in range(n)]
    return document(nodes, [edge("start", f"n{i}") for i in range(n)])


async def run_doc(
    doc: dict[str, Any],
    inputs: dict[str, Any] | None = None,
    *,
    store: MemoryStore | None = None,
    registry: Registry | None = None,
    **services: Any,
) -> tuple[RunResult, MemoryStore]:
    """Run ``doc`` on the test registry in memory; returns the result and the store."""
    store = store if store is not None else MemoryStore("exec-1")
    result = await run(
        doc,
        inputs or {},
        store,
        registry=registry or make_registry(),
        http=None,
        credentials=None,
        services=services,
        cancel_poll_s=0.02,
        retry_backoff_s=0.001,
    )
    return result, store
