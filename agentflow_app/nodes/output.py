"""``output``: what the execution hands back (SPEC §6).

The runner merges the outputs of every ``output`` node into the execution's ``outputs``:
``fields`` gives that object, ``value`` gives ``{"value": …}``. Values keep their types
(a template that is exactly ``{{ nodes.x.output.items }}`` stays a list).

``status_code`` and ``headers`` shape the answer of a webhook called with ``?wait=true``;
they travel in the step's output as ``$response``, which the runner leaves out of the
execution's ``outputs`` (keys starting with ``$`` are directives, not outputs).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from agentflow_app.engine.errors import NodeError
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
        status_code: TemplateStr | int | None = Field(
            default=None, description="The HTTP status a waiting webhook answers with (200)"
        )
        headers: dict[str, TemplateStr] | None = Field(
            default=None, description="Headers a waiting webhook answers with"
        )

        @model_validator(mode="after")
        def _exactly_one(self) -> Any:
            if (self.value is None) == (self.fields is None):
                raise ValueError("set exactly one of value or fields")
            return self

    async def run(self, ctx: RunContext, config: Config) -> dict[str, Any]:
        output = dict(config.fields) if config.fields is not None else {"value": config.value}
        if config.status_code is not None or config.headers:
            output[RESPONSE_KEY] = {
                "status_code": _status(config.status_code),
                "headers": _headers(config.headers or {}),
            }
        return output


#: The key of an output step's answer shape for a waiting webhook.
RESPONSE_KEY = "$response"
_FORBIDDEN_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "set-cookie"})


def _status(value: Any) -> int:
    try:
        code = int(str(value).strip()) if value is not None else 200
    except ValueError:
        raise NodeError(f"output: status_code {value!r} is not a number") from None
    if not 200 <= code <= 599:
        raise NodeError(f"output: status_code {code} is not an HTTP status from 200 to 599")
    return code


def _headers(headers: dict[str, Any]) -> dict[str, str]:
    checked = {}
    for name, value in headers.items():
        text = str(value)
        if not name or not name.isascii() or not all(c.isalnum() or c in "-_" for c in name):
            raise NodeError(f"output: header name {name!r} must be letters, digits, - or _")
        if name.lower() in _FORBIDDEN_HEADERS:
            raise NodeError(f"output: the {name} header is set by the server")
        if not text.isascii() or any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise NodeError(f"output: header {name} must be printable ASCII on one line")
        checked[name] = text
    return checked
