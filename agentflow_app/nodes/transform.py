"""``transform.template``: build text or a JSON value from upstream outputs (SPEC §6)."""

from __future__ import annotations

import json as _json
import warnings
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agentflow_app.engine.node import Node, NodeConfig, RunContext, TemplateJSON, TemplateStr
from agentflow_app.files.host import file_host
from agentflow_app.nodes.remote import as_text


class AsFile(BaseModel):
    """Store the result as a file instead of returning it (a report to email, a CSV)."""

    model_config = ConfigDict(extra="forbid")

    name: TemplateStr = Field(min_length=1, description="The file's name, e.g. report.csv")
    media_type: str = Field(default="text/plain", description="e.g. text/csv, application/json")


class Template(Node):
    type = "transform.template"
    label = "Template"
    icon = "braces"
    category = "Data"
    description = (
        "Renders a text template to {text}, or a JSON value whose strings are templates to "
        "{data}; with as_file, stores the result as a file and gives {file}."
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
            as_file: AsFile | None = Field(
                default=None, description="Store the result as a file: gives {file}"
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
            output: dict[str, Any] = {"text": as_text(config.template)}
        else:
            output = {"data": config.json}
        if config.as_file is None:
            return output
        content = output.get("text")
        if content is None:
            content = _json.dumps(output["data"], ensure_ascii=False, indent=2, default=str)
        ref = await file_host(ctx, self.type).create(
            as_text(config.as_file.name), config.as_file.media_type, content.encode("utf-8")
        )
        return {"file": ref}
