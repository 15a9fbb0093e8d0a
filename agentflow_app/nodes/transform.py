"""``transform.template``: build text or a JSON value from upstream outputs (SPEC §6)."""

from __future__ import annotations

import warnings
from typing import Any

from pydantic import Field, model_validator

from agentflow_app.engine.node import Node, NodeConfig, RunContext, TemplateJSON, TemplateStr
from agentflow_app.nodes.remote import as_text


class Template(Node):
    type = "transform.template"
    label = "Template"
    icon = "braces"
    category = "Data"
    description = (
        "Renders a text template to {text}, or a JSON value whose strings are templates to {data}."
    )

    # ``json`` is the contract key (SPEC §6); it shadows the deprecated BaseModel.json(),
    # which nothing here calls.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message='Field name "json"', category=UserWarning)

        class Config(NodeConfig):
            template: TemplateStr | None = Field(
                default=None,
                description="Text with {{ … }} placeholders; gives {text}",
                json_schema_extra={"widget": "textarea"},
            )
            json: TemplateJSON = Field(
                default=None,
                description="An object or list whose strings are templates; gives {data}",
                json_schema_extra={"widget": "json"},
            )

            @model_validator(mode="after")
            def _exactly_one(self) -> Any:
                if (self.template is None) == (self.json is None):
                    raise ValueError("set exactly one of template or json")
                return self

    async def run(self, ctx: RunContext, config: Config) -> dict[str, Any]:
        # Decide by what the author set, not by the rendered value: a template that is
        # exactly ``{{ x }}`` renders to None when x is None.
        json_given = "json" in config.model_fields_set and config.json is not None
        if "template" in config.model_fields_set and not json_given:
            return {"text": as_text(config.template)}
        return {"data": config.json}
