"""``output``: what the execution hands back (SPEC §6).

The runner merges the outputs of every ``output`` node into the execution's ``outputs``:
``fields`` gives that object, ``value`` gives ``{"value": …}``. Values keep their types
(a template that is exactly ``{{ nodes.x.output.items }}`` stays a list).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from agentflow_app.engine.node import Node, NodeConfig, RunContext, TemplateStr


class Output(Node):
    type = "output"
    label = "Output"
    icon = "flag"
    category = "Output"
    description = "Sets the execution's outputs: one value, or named fields."

    class Config(NodeConfig):
        value: TemplateStr | None = Field(
            default=None,
            description="One value; the outputs become {value: …}",
            json_schema_extra={"widget": "textarea"},
        )
        fields: dict[str, TemplateStr] | None = Field(
            default=None, description="Named values; the outputs become this object"
        )

        @model_validator(mode="after")
        def _exactly_one(self) -> Any:
            if (self.value is None) == (self.fields is None):
                raise ValueError("set exactly one of value or fields")
            return self

    async def run(self, ctx: RunContext, config: Config) -> dict[str, Any]:
        if config.fields is not None:
            return dict(config.fields)
        return {"value": config.value}
