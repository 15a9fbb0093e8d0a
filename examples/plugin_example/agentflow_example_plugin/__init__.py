"""An example AgentFlow plugin: one node type (``math.sum``) and one agent tool (``word_count``).

AgentFlow loads it from the ``agentflow.nodes`` entry point group (see pyproject.toml) and
calls :func:`register`. The same module dropped into the AGENTFLOW_PLUGINS folder works too.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from agentflow_app.engine.errors import NodeError
from agentflow_app.engine.node import Node, NodeConfig, RunContext, TemplateStr, Tool
from agentflow_app.engine.registry import Registry


class MathSum(Node):
    """Adds up a list of numbers, e.g. prices returned by an HTTP step."""

    type = "math.sum"
    label = "Sum"
    category = "Transform"
    icon = "sigma"
    description = "Adds up a list of numbers."

    class Config(NodeConfig):
        #: A template giving a list, e.g. ``{{ nodes.prices.output.body.items | map(attribute='price') | list }}``
        numbers: TemplateStr = Field(description="A template that gives a list of numbers")
        round_to: int | None = Field(default=None, ge=0, le=12, description="Decimal places")

    async def run(self, ctx: RunContext, config: Config) -> dict[str, Any]:
        numbers = config.numbers  # rendered: a one-expression template keeps its list type
        if not isinstance(numbers, list):
            raise NodeError(f"numbers must give a list, got {type(numbers).__name__}")
        bad = [n for n in numbers if isinstance(n, bool) or not isinstance(n, int | float)]
        if bad:
            raise NodeError(f"numbers must all be numbers; these are not: {bad[:5]!r}")
        total = sum(numbers)
        if config.round_to is not None:
            total = round(total, config.round_to)
        await ctx.log(f"added {len(numbers)} numbers")
        return {"sum": total, "count": len(numbers)}


class WordCount(Tool):
    """Counts words so an agent does not have to guess."""

    id = "word_count"
    label = "Word count"
    description = "Count the words in a text. Use it whenever a word count matters."

    class Args(BaseModel):
        text: str = Field(description="The text whose words to count")

    async def run(self, ctx: RunContext, args: Args) -> dict[str, int]:
        return {"words": len(args.text.split())}


def register(registry: Registry) -> None:
    """Called by AgentFlow when it loads the plugin."""
    registry.register_node(MathSum)
    registry.register_tool(WordCount)
