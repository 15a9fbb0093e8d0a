"""The editor's Execute: a form made from the trigger's inputs, then the live view.

The form is built from the saved workflow's trigger (what ``services.executions.start``
runs) and filled with the inputs of the workflow's latest run, so running again with the
same or slightly changed values is one click. A workflow whose trigger takes no inputs
starts at once. Values are typed by the trigger's declared types; a value that does not
fit is said under its field, and the service's own check answers the same way.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, TypedDict

import reflex as rx
from pydantic import ValidationError

from agentflow_app import routes
from agentflow_app.errors import AgentFlowError, InvalidInput, NotFound
from agentflow_app.files.refs import is_ref
from agentflow_app.nodes.triggers import InputSpec
from agentflow_app.services import executions, files, workflows
from agentflow_app.services.users import Actor
from agentflow_app.state.auth import signed_in, to_login
from agentflow_app.state.formatting import route_id, sentence


class InputField(TypedDict):
    name: str
    type: str
    required: bool
    description: str
    value: str
    checked: bool
    error: str
    #: For file inputs: the chosen files as "name (size)", shown under the field.
    files: str


def trigger_specs(document: dict[str, Any]) -> list[InputSpec]:
    """The declared inputs of the document's trigger (none for a schedule trigger).

    Raises:
        InvalidInput: the trigger's inputs are malformed (the editor shows where).
    """
    for node in document.get("nodes") or []:
        if not isinstance(node, dict) or not str(node.get("type", "")).startswith("trigger."):
            continue
        config = (node.get("data") or {}).get("config") or {}
        raw = config.get("inputs")
        if not isinstance(raw, list):
            return []
        try:
            return [InputSpec.model_validate(item) for item in raw]
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidInput(
                f"the trigger's inputs are not valid ({first['msg']}); fix them in the editor"
            ) from None
    return []


def _raw(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "string" and isinstance(value, str):
        return value
    return json.dumps(value, indent=2 if kind in ("object", "array") else None, ensure_ascii=False)


FILE_TYPES = ("file", "files")


def _size(size: int) -> str:
    for unit in ("bytes", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return ""  # pragma: no cover - the loop always returns


def _files_label(value: Any) -> str:
    refs = value if isinstance(value, list) else [value]
    return ", ".join(f"{r['name']} ({_size(r['size'])})" for r in refs if is_ref(r))


def place_upload(fields: list[InputField], ref: dict[str, Any]) -> list[InputField]:
    """The fields with an uploaded file's reference put where it belongs: the first empty
    ``file`` input, else appended to the first ``files`` input, else the first file input."""
    order = (
        [f for f in fields if f["type"] == "file" and not f["value"].strip()]
        + [f for f in fields if f["type"] == "files"]
        + [f for f in fields if f["type"] == "file"]
    )
    if not order:
        return fields
    target = order[0]["name"]
    placed: list[InputField] = []
    for field in fields:
        if field["name"] == target:
            if field["type"] == "files":
                try:
                    current = json.loads(field["value"]) if field["value"].strip() else []
                except ValueError:
                    current = []
                value: Any = [*(current if isinstance(current, list) else []), ref]
            else:
                value = ref
            field = {
                **field,
                "value": _raw(value, field["type"]),
                "error": "",
                "files": _files_label(value),
            }
        placed.append(field)
    return placed


def make_fields(specs: list[InputSpec], last: dict[str, Any]) -> list[InputField]:
    """One field per input, filled with the last run's value, else the default."""
    fields = []
    for spec in specs:
        value = last.get(spec.name, spec.default)
        fields.append(
            InputField(
                name=spec.name,
                type=spec.type,
                required=spec.required,
                description=spec.description,
                value=_raw(value, spec.type) if spec.type != "boolean" else "",
                checked=bool(value) if spec.type == "boolean" else False,
                error="",
                files=_files_label(value) if spec.type in FILE_TYPES else "",
            )
        )
    return fields


def parse_fields(fields: list[InputField]) -> tuple[dict[str, Any], dict[str, str]]:
    """The typed inputs from the form, and an error message per field that does not fit."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        name, kind, raw = field["name"], field["type"], field["value"]
        if kind == "boolean":
            values[name] = field["checked"]
            continue
        if kind == "string":
            if raw == "" and field["required"]:
                errors[name] = "Required."
            elif raw != "":
                values[name] = raw
            continue
        if raw.strip() == "":
            if field["required"]:
                errors[name] = "Required."
            continue
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        ok = {
            "number": isinstance(parsed, int | float) and not isinstance(parsed, bool),
            "integer": isinstance(parsed, int) and not isinstance(parsed, bool),
            "object": isinstance(parsed, dict),
            "array": isinstance(parsed, list),
            "file": is_ref(parsed),
            "files": isinstance(parsed, list) and all(is_ref(item) for item in parsed),
        }.get(kind, False)
        if not ok:
            errors[name] = {
                "number": "Enter a number, e.g. 3.5.",
                "integer": "Enter a whole number, e.g. 3.",
                "object": 'Enter a JSON object, e.g. {"key": "value"}.',
                "array": 'Enter a JSON array, e.g. ["a", "b"].',
                "file": 'Enter a file reference, e.g. {"$file": 12} (POST /api/files gives one).',
                "files": 'Enter a list of file references, e.g. [{"$file": 12}].',
            }.get(kind, "This value does not fit the input's type.")
            continue
        values[name] = parsed
    return values, errors


def _last_inputs(actor: Actor, workflow_id: int) -> dict[str, Any]:
    page = executions.list_executions(actor, workflow_id=workflow_id, limit=1)
    if not page.items:
        return {}
    inputs = executions.get(actor, page.items[0].id).get("inputs")
    return inputs if isinstance(inputs, dict) else {}


def _form(actor: Actor, workflow_id: int) -> tuple[int, list[InputField]]:
    detail = workflows.get(actor, workflow_id)
    specs = trigger_specs(detail.document)
    return detail.version, make_fields(specs, _last_inputs(actor, workflow_id) if specs else {})


def _chunks(handle: Any) -> Any:
    handle.seek(0)
    while chunk := handle.read(1024 * 1024):
        yield chunk


class ExecuteState(rx.State):
    """The Execute dialog of the editor open in this tab."""

    open: bool = False
    fields: list[InputField] = []
    version: int = 0
    busy: bool = False
    error: str = ""
    #: The drop zone's upload as the browser sends it: percent sent (-1: none yet) and
    #: how much in all; it stays at 100 once sent, until the dialog opens again.
    upload_percent: int = -1
    upload_size: str = ""

    _workflow: int = 0

    async def _start(self, actor: Actor, workflow_id: int, values: dict[str, Any]):
        try:
            execution_id = await asyncio.to_thread(executions.start, actor, workflow_id, values)
        except InvalidInput as exc:
            by_name = {
                str(p.get("field") or "").removeprefix("inputs."): p.get("message", "")
                for p in exc.problems
            }
            self.fields = [
                {**f, "error": sentence(by_name.get(f["name"], ""))} for f in self.fields
            ]
            unplaced = [m for n, m in by_name.items() if n not in {f["name"] for f in self.fields}]
            self.error = sentence(unplaced[0] if unplaced else str(exc))
            self.open = True
            return None
        except NotFound:
            self.error = "This workflow no longer exists."
            return None
        except AgentFlowError as exc:
            self.error = sentence(str(exc))
            self.open = True
            return None
        self.open = False
        return rx.redirect(routes.execution_url(execution_id))

    @rx.event
    async def open_dialog(self):
        """Execute was pressed: show the inputs form, or start at once when there is none."""
        actor = await signed_in(self)
        if actor is None:
            yield await to_login(self)
            return
        workflow_id = route_id(self.router.url.path)
        if workflow_id is None:
            return
        self.busy, self.error, self.upload_percent = True, "", -1
        yield
        try:
            version, fields = await asyncio.to_thread(_form, actor, workflow_id)
        except NotFound:
            self.busy, self.error, self.open = False, "This workflow no longer exists.", True
            return
        except AgentFlowError as exc:
            self.busy, self.error, self.open = False, sentence(str(exc)), True
            return
        if workflow_id == self._workflow and [f["name"] for f in fields] == [
            f["name"] for f in self.fields
        ]:
            fields = [{**f, "error": ""} for f in self.fields]  # keep what was typed here
        self._workflow, self.version, self.fields = workflow_id, version, fields
        if not fields:
            yield await self._start(actor, workflow_id, {})
            self.busy = False
            return
        self.busy, self.open = False, True

    @rx.var
    def takes_files(self) -> bool:
        return any(f["type"] in FILE_TYPES for f in self.fields)

    @rx.event
    async def upload(self, uploads: list[rx.UploadFile]):
        """Files dropped on the dialog: stored as the user's, each placed in a file input."""
        actor = await signed_in(self)
        if actor is None:
            yield await to_login(self)
            return
        self.busy, self.error = True, ""
        yield
        for upload in uploads:
            claimed = upload.headers.get("content-type") if upload.headers else None
            try:
                ref = await asyncio.to_thread(
                    files.upload, actor, upload.name, claimed, _chunks(upload.file)
                )
            except AgentFlowError as exc:
                self.error = sentence(str(exc))
                break
            self.fields = place_upload(self.fields, ref.as_json())
        self.busy = False

    @rx.event
    def upload_progress(self, progress: dict[str, Any]) -> None:
        """The browser's progress sending the dropped files (``on_upload_progress``): a
        large file takes seconds, and the bar shows it is moving."""
        try:
            fraction, total = float(progress["progress"]), int(progress["total"])
        except (KeyError, TypeError, ValueError):
            return  # not what the browser sends: leave the bar as it is
        self.upload_percent = max(0, min(100, int(fraction * 100)))
        self.upload_size = _size(total)

    @rx.event
    def set_open(self, is_open: bool) -> None:
        self.open = is_open

    @rx.event
    def set_value(self, field: str, value: str) -> None:
        self.fields = [
            {**f, "value": value, "error": "", "files": ""} if f["name"] == field else f
            for f in self.fields
        ]

    @rx.event
    def set_checked(self, field: str, checked: bool) -> None:
        self.fields = [{**f, "checked": checked} if f["name"] == field else f for f in self.fields]

    @rx.event
    async def submit(self):
        """Run with the form's values and open the live view."""
        actor = await signed_in(self)
        if actor is None:
            yield await to_login(self)
            return
        values, errors = parse_fields(self.fields)
        self.fields = [{**f, "error": errors.get(f["name"], "")} for f in self.fields]
        if errors or not self._workflow:
            return
        self.busy, self.error = True, ""
        yield
        yield await self._start(actor, self._workflow, values)
        self.busy = False
