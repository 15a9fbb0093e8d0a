"""``logic.condition`` and ``logic.switch``: pick branches with Jinja expressions (SPEC §6, §12)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


class SwitchCase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=60,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The case's handle: letters, digits, - and _",
    )
    expression: ExpressionStr = Field(
        description="A Jinja expression; the first true case wins",
        json_schema_extra={"widget": "expression"},
    )


class Switch(Node):
    type = "logic.switch"
    label = "Switch"
    icon = "split"
    category = "Logic"
    description = (
        "Routes by the first of several expressions that is true (one edge per case), or "
        "by default when none is; the n-way branch."
    )
    outputs: ClassVar[tuple[str, ...]] = ("default",)
    #: The canvas draws one handle per case (its ``name``), then ``default``.
    outputs_from: ClassVar[str] = "cases"

    class Config(NodeConfig):
        cases: list[SwitchCase] = Field(
            min_length=1, max_length=50, description="Cases, tried in order"
        )

        @model_validator(mode="after")
        def _distinct(self) -> Switch.Config:
            names = [case.name for case in self.cases]
            for name in names:
                if name == "default":
                    raise ValueError("a case cannot be named default (that handle is taken)")
                if names.count(name) > 1:
                    raise ValueError(f"two cases are named {name!r}")
            return self

    @classmethod
    def source_handles(cls, config: NodeConfig | None) -> tuple[str, ...] | None:
        if not isinstance(config, Switch.Config):
            return None
        return (*(case.name for case in config.cases), "default")

    async def run(self, ctx: RunContext, config: Config) -> dict[str, Any]:
        for case in config.cases:
            if case.expression:
                return {"matched": case.name}
        return {"matched": "default"}

    def routes(self, output: Any) -> tuple[str, ...]:
        return (str(output.get("matched") or "default"),)
