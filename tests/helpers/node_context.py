"""Build a RunContext for calling a node's ``run`` directly, the way the runner would.

    ctx = node_context(http=client, credentials={"team": ("slack", {"token": "xoxb-1"})})
    output = await run_node(SlackMessage, {"credential": "team", ...}, ctx)

``run_node`` validates the config with the node's ``Config`` and renders its templates
with the engine's real templating (scope: ``ctx.inputs`` and ``ctx.upstream``), then
awaits ``run``; ``ctx.log`` calls land in the ``logs`` list you pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from agentflow_app.engine.node import CredentialProvider, Node, RunContext
from agentflow_app.engine.registry import Registry
from agentflow_app.engine.templating import make_scope, render_config
from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes.credentials import StaticCredentials


def node_context(
    *,
    http: GuardedClient,
    credentials: Mapping[str, tuple[str, Mapping[str, Any]]] | CredentialProvider | None = None,
    inputs: Mapping[str, Any] | None = None,
    upstream: Mapping[str, Any] | None = None,
    services: Mapping[str, Any] | None = None,
    registry: Registry | None = None,
    logs: list[dict[str, Any]] | None = None,
    node_id: str = "node",
) -> RunContext:
    """A context for one node run; ``credentials`` may be ``{name: (kind, fields)}``.

    ``registry`` is what ``ctx.registry`` holds (empty unless given: only agents read it).
    """
    if credentials is None or isinstance(credentials, Mapping):
        credentials = StaticCredentials(credentials or {})
    sink = logs if logs is not None else []

    async def log(message: str, **data: Any) -> None:
        sink.append({"message": message, **data})

    async def token(text: str) -> None:
        sink.append({"token": text})

    return RunContext(
        execution_id="test",
        node_id=node_id,
        attempt=1,
        inputs=dict(inputs or {}),
        http=http,
        credentials=credentials,
        cancelled=asyncio.Event(),
        log=log,
        token=token,
        registry=registry if registry is not None else Registry(),
        upstream=dict(upstream or {}),
        services=dict(services or {}),
    )


async def run_node(node_class: type[Node], config: Mapping[str, Any], ctx: RunContext) -> Any:
    """Validate ``config``, render its templates and run the node, as the runner does."""
    validated = node_class.Config.model_validate(dict(config))
    rendered = render_config(validated, make_scope(ctx.inputs, ctx.upstream), node_id=ctx.node_id)
    return await node_class().run(ctx, rendered)
