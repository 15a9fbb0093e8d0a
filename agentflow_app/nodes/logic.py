"""``logic.condition``: pick a branch with a Jinja expression (SPEC §6, §7)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from agentflow_app.engine.node import ExpressionStr, Node, NodeConfig, RunContext


class Condition(Node):
    type = "logic.condition"
    label = "Condition"
    icon = "git-branch"
    category = "Logic"
    description = (
        "Evaluates an expression such as `inputs.amount > 100`; the run continues along "
        "the true or the false edge, and the other branch is skipped."
    )
    outputs: ClassVar[tuple[str, ...]] = ("true", "false")

    class Config(NodeConfig):
        expression: ExpressionStr = Field(
            description="A Jinja expression without braces, e.g. nodes.score.output.body.ok",
            json_schema_extra={"widget": "expression"},
        )

    async def run(self, ctx: RunContext, config: Config) -> dict[str, Any]:
        # The runner has evaluated the expression already; Jinja truthiness decides.
        return {"result": bool(config.expression)}

    def routes(self, output: Any) -> tuple[str, ...]:
        return ("true",) if output.get("result") else ("false",)
