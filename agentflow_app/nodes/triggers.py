"""Trigger nodes: where an execution's inputs come from and how they are checked (SPEC §6).

:func:`validate_inputs` is a pure function so the REST API and the CLI can refuse bad
inputs before anything is queued; the trigger node runs the same check again when the
execution starts, which is what makes its output the inputs every later node can trust.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agentflow_app.engine.errors import NodeError
from agentflow_app.engine.node import Node, NodeConfig, RunContext
from agentflow_app.errors import InvalidInput
from agentflow_app.files.refs import is_ref

InputType = Literal["string", "number", "integer", "boolean", "object", "array", "file", "files"]

_TYPE_NAMES: dict[str, str] = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "object": "a JSON object",
    "array": "a JSON array",
    "file": 'a file reference ({"$file": id}, from POST /api/files)',
    "files": "a list of file references",
}


class InputSpec(BaseModel):
    """One declared input of a workflow."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        max_length=64,
        description="Used in templates as inputs.<name>: letters, digits and _",
    )
    type: InputType = Field(default="string", description="JSON type of the value")
    required: bool = Field(default=False, description="Refuse runs without it")
    default: Any = Field(default=None, description="Value when the run does not give one")
    description: str = Field(default="", description="Shown next to the field when running")

    @model_validator(mode="after")
    def _default_has_the_type(self) -> InputSpec:
        if self.default is not None and not _has_type(self.default, self.type):
            raise ValueError(f"the default of input {self.name!r} must be {_TYPE_NAMES[self.type]}")
        return self


class InputsError(InvalidInput):
    """Execution inputs that do not match the trigger; ``problems`` name each input."""


def _has_type(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "file":
        return is_ref(value)
    if kind == "files":
        return isinstance(value, list) and all(is_ref(item) for item in value)
    return isinstance(value, list)


def _coerce(value: str, kind: str) -> Any:
    """Read a command-line string as ``kind`` (``--input n=3``); unchanged when it is not."""
    if kind == "string":
        return value
    if kind == "boolean" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    if kind == "number" and isinstance(parsed, float | int) and not isinstance(parsed, bool):
        return parsed
    return parsed if _has_type(parsed, kind) else value


def validate_inputs(
    specs: list[InputSpec],
    values: Mapping[str, Any] | None,
    *,
    allow_extra: bool = False,
    coerce_strings: bool = False,
) -> dict[str, Any]:
    """Check ``values`` against ``specs`` and apply defaults.

    Args:
        specs: the trigger's declared inputs; when empty, any values pass through.
        allow_extra: keep values no spec declares (a webhook's posted JSON) instead of
            refusing them as probable typos.
        coerce_strings: read strings as the declared type (``"3"`` for an integer), for
            command-line ``--input k=v``.

    Returns:
        The inputs the execution runs with.

    Raises:
        InputsError: listing every problem as ``{node_id, field: "inputs.<name>", message}``.
    """
    if values is not None and not isinstance(values, Mapping):
        raise InputsError(
            "the inputs must be a JSON object",
            [{"node_id": None, "field": "inputs", "message": "the inputs must be a JSON object"}],
        )
    given = dict(values or {})
    if not specs:
        return given
    problems: list[dict[str, Any]] = []
    result: dict[str, Any] = {}
    declared = {spec.name for spec in specs}
    for spec in specs:
        if given.get(spec.name) is None:
            if spec.default is not None:
                result[spec.name] = spec.default
            elif spec.required:
                problems.append(_problem(spec.name, f"input {spec.name!r} is required"))
            continue
        value = given[spec.name]
        if coerce_strings and isinstance(value, str):
            value = _coerce(value, spec.type)
        if spec.type == "files" and is_ref(value):  # one file sent where several may go
            value = [value]
        if not _has_type(value, spec.type):
            problems.append(
                _problem(
                    spec.name,
                    f"input {spec.name!r} must be {_TYPE_NAMES[spec.type]}, got {_describe(value)}",
                )
            )
            continue
        result[spec.name] = value
    extra = sorted(set(given) - declared)
    if extra and not allow_extra:
        known = ", ".join(sorted(declared))
        problems.extend(
            _problem(name, f"unknown input {name!r}; this workflow takes: {known}")
            for name in extra
        )
    elif extra:
        result.update({name: given[name] for name in extra})
    if problems:
        first = problems[0]["message"]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputsError(f"{first}{more}", problems)
    return result


def _problem(name: str, message: str) -> dict[str, Any]:
    return {"node_id": None, "field": f"inputs.{name}", "message": message}


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:39] + "…"
        return f"the text {shown!r}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def _unique_names(specs: list[InputSpec]) -> list[InputSpec]:
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ValueError(f"input {spec.name!r} is declared twice")
        seen.add(spec.name)
    return specs


class _InputsTrigger(Node):
    """A trigger that validates the execution inputs against its ``inputs`` list."""

    is_trigger = True
    category = "Triggers"
    inputs: ClassVar[tuple[str, ...]] = ()
    allow_extra: ClassVar[bool] = False

    class Config(NodeConfig):
        inputs: list[InputSpec] = Field(default_factory=list, description="The inputs a run takes")

        @field_validator("inputs")
        @classmethod
        def _unique(cls, specs: list[InputSpec]) -> list[InputSpec]:
            return _unique_names(specs)

    async def run(self, ctx: RunContext, config: Config) -> dict[str, Any]:
        try:
            return validate_inputs(config.inputs, ctx.inputs, allow_extra=self.allow_extra)
        except InputsError as exc:
            raise NodeError(f"{self.type}: {exc}") from None


class ManualTrigger(_InputsTrigger):
    type = "trigger.manual"
    label = "Manual trigger"
    icon = "play"
    description = "Starts the workflow when someone presses Execute (or calls the API)."


class WebhookTrigger(_InputsTrigger):
    type = "trigger.webhook"
    label = "Webhook"
    icon = "webhook"
    description = (
        "Starts the workflow when JSON is posted to its webhook URL; the posted JSON is "
        "checked against the declared inputs and becomes the output."
    )
    allow_extra = True


class ScheduleTrigger(Node):
    type = "trigger.schedule"
    label = "Schedule"
    icon = "clock"
    category = "Triggers"
    description = "Starts the workflow on a cron schedule with fixed input values."
    is_trigger = True
    inputs: ClassVar[tuple[str, ...]] = ()

    class Config(NodeConfig):
        cron: str = Field(
            default="0 9 * * 1-5",
            description="Cron expression: minute hour day-of-month month day-of-week",
        )
        timezone: str = Field(default="UTC", description="IANA time zone, e.g. Europe/Paris")
        inputs: dict[str, Any] = Field(
            default_factory=dict, description="Input values each scheduled run gets"
        )

        @field_validator("cron")
        @classmethod
        def _valid_cron(cls, value: str) -> str:
            value = " ".join(value.split())
            if not croniter.is_valid(value):
                raise ValueError(f"{value!r} is not a valid cron expression (e.g. '0 9 * * 1-5')")
            return value

        @field_validator("timezone")
        @classmethod
        def _valid_timezone(cls, value: str) -> str:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {value!r}; use an IANA name such as Europe/Paris"
                ) from None
            return value

    async def run(self, ctx: RunContext, config: Config) -> dict[str, Any]:
        return {**config.inputs, **ctx.inputs}


def next_fire_time(config: ScheduleTrigger.Config, after: datetime) -> datetime:
    """When a schedule fires next after ``after`` (aware), in the schedule's time zone."""
    zone = ZoneInfo(config.timezone)
    return croniter(config.cron, after.astimezone(zone)).get_next(datetime)
