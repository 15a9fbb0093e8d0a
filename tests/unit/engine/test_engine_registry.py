"""The registry refuses node and tool classes the runner or the editor could not use."""

from __future__ import annotations

import pytest

from agentflow_app.engine.errors import RegistryError
from agentflow_app.engine.node import Node
from agentflow_app.engine.registry import Registry


def test_registering_incomplete_classes_says_what_is_missing() -> None:
    class NoType(Node):
        label = "x"

        async def run(self, ctx, config):
            return {}

    class SyncRun(Node):
        type = "x.sync"
        label = "x"

        def run(self, ctx, config):
            return {}

    class BadConfig(Node):
        type = "x.config"
        label = "x"
        Config = dict

        async def run(self, ctx, config):
            return {}

    registry = Registry()
    with pytest.raises(RegistryError, match="needs a `type` id"):
        registry.register_node(NoType)
    with pytest.raises(RegistryError, match="must be `async def`"):
        registry.register_node(SyncRun)
    with pytest.raises(RegistryError, match="must subclass"):
        registry.register_node(BadConfig)
    with pytest.raises(RegistryError, match=r"unknown node type 'x\.none'"):
        registry.node("x.none")
