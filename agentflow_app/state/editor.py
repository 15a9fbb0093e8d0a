"""The workflow editor's document and canvas: the parent of the editor's feature states.

The canvas (``react_flow/canvas.jsx``) owns per-frame interaction and reports finished
changes; this state keeps the working document in a backend-only var (``_doc``), validates
it with the engine after every change, and pushes to the browser only what it must:

- ``graph``: a whole document, when the server replaces the canvas (load, import, restore);
- ``patch``: node data edited in the config panel;
- ``decorations``: validation markers per node.

Every push carries a rising ``rev``; a canvas report names the ``rev`` it was based on, so
a report that crossed a panel edit on the wire keeps the panel's data (see
:meth:`EditorState.canvas_changed`).

The features that need the document are substates of this one, each in its module, and
read its vars through inheritance: the config panel (:mod:`.config_panel`), the node test
(:mod:`.node_test`) and the version history (:mod:`.versions`). The palette and catalog
do not need the document and live in :mod:`.palette`. This state has no computed vars:
it changes on every edit, and each of them would be recomputed and sent with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import TYPE_CHECKING, Any, TypedDict

import reflex as rx
from pydantic import BaseModel, Field, ValidationError

from agentflow_app import routes
from agentflow_app.catalog import default_registry
from agentflow_app.engine.document import WorkflowDocument
from agentflow_app.engine.validate import Problem, validate
from agentflow_app.errors import Forbidden, InvalidInput, NotFound
from agentflow_app.models import WorkspaceRole
from agentflow_app.services import credentials as credentials_service
from agentflow_app.services import mcp_servers, workflows, workspaces
from agentflow_app.services.users import Actor
from agentflow_app.services.workflow_calls import call_problems, callable_workflows, calls
from agentflow_app.services.workspaces import ALLOWED, Can
from agentflow_app.state.auth import signed_in, to_login
from agentflow_app.state.form_model import CredentialChoice, WorkflowChoice
from agentflow_app.state.formatting import route_id

if TYPE_CHECKING:
    from agentflow_app.state.config_panel import ConfigPanelState
    from agentflow_app.state.node_test import NodeTestState
    from agentflow_app.state.versions import VersionsState


class ProblemView(TypedDict):
    node_id: str
    where: str
    message: str


class _Moved(BaseModel):
    id: str
    x: float
    y: float


class _Change(BaseModel):
    reason: str = ""
    base_rev: int = -1
    nodes: list[dict[str, Any]] = Field(default_factory=list)
    edges: list[dict[str, Any]] = Field(default_factory=list)


# -- pure helpers (tested directly) ------------------------------------------------------------


def merge_change(
    document: dict[str, Any], nodes: list[dict[str, Any]], edges: list[dict[str, Any]], fresh: bool
) -> dict[str, Any]:
    """The document after a canvas report.

    The browser is right about which nodes exist, where they are and how they connect.
    When the report was based on an older ``rev`` (a panel edit crossed it on the wire), the
    data of nodes the server already knows is kept from the server.
    """
    known = {n["id"]: n for n in document.get("nodes", []) if isinstance(n, dict) and "id" in n}
    merged = []
    for node in nodes:
        node = dict(node)
        if not fresh and node.get("id") in known:
            node["data"] = known[node["id"]].get("data", {})
        merged.append(node)
    return {**document, "nodes": merged, "edges": [dict(e) for e in edges]}


def slug(name: str) -> str:
    """A file-name-safe version of a workflow name."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "workflow"


class EditorState(rx.State):
    """One open workflow in one browser tab: the working document and the canvas."""

    wf_id: int = 0
    loaded: bool = False
    load_error: str = ""
    name: str = ""
    description: str = ""
    #: The document's ``expose_mcp``: the workflow is a tool on /api/mcp (docs/mcp.md).
    expose_mcp: bool = False
    version: int = 0
    dirty: bool = False
    saving: bool = False

    graph: dict[str, Any] = {}
    patch: dict[str, Any] = {}
    decorations: dict[str, Any] = {}
    focus_request: dict[str, Any] = {}

    #: The node whose config panel is open (``""``: the workflow's own panel).
    selected_id: str = ""
    problems: list[ProblemView] = []
    import_error: str = ""
    import_open: bool = False
    delete_open: bool = False
    #: The viewer's role in the workflow's workspace: a viewer sees no Save, a runner no
    #: Save and a viewer no Execute (the services refuse either way).
    role: str = ""

    _doc: dict[str, Any] = {}
    _saved: str = ""
    _rev: int = 0
    _credentials: list[CredentialChoice] = []
    _workflows: list[WorkflowChoice] = []
    _workspace_id: int = 0

    @rx.var
    def can_edit(self) -> bool:
        return bool(self.role) and Can.EDIT in ALLOWED[WorkspaceRole(self.role)]

    @rx.var
    def can_run(self) -> bool:
        return bool(self.role) and Can.RUN in ALLOWED[WorkspaceRole(self.role)]

    # -- the feature substates ---------------------------------------------------------------
    # They subclass this state, so their modules import this one; importing them when called
    # keeps the import graph one-way. Within an event of this state they are already loaded.

    async def _panel(self) -> ConfigPanelState:
        from agentflow_app.state.config_panel import ConfigPanelState

        return await self.get_state(ConfigPanelState)

    async def _node_test(self) -> NodeTestState:
        from agentflow_app.state.node_test import NodeTestState

        return await self.get_state(NodeTestState)

    async def _versions(self) -> VersionsState:
        from agentflow_app.state.versions import VersionsState

        return await self.get_state(VersionsState)

    # -- loading -------------------------------------------------------------------------

    @rx.event
    async def load(self) -> Any:
        """``on_load``: the workflow of the URL and the user's credentials."""
        actor = await signed_in(self)
        if actor is None:
            return await to_login(self)
        self.loaded, self.load_error = False, ""
        self.selected_id = ""
        (await self._panel()).form = []
        (await self._versions()).versions = []
        (await self._node_test())._reset_for("")
        workflow_id = route_id(self.router.url.path)
        if workflow_id is None:
            self.load_error = "This address does not name a workflow."
            return None
        try:
            detail = await asyncio.to_thread(workflows.get, actor, workflow_id)
            # The workflow's workspace: its credentials and workflows are the choices.
            actor = workspaces.act_in(actor, detail.workspace_id)
            creds = await asyncio.to_thread(credentials_service.list_credentials, actor)
        except NotFound:
            self.load_error = "This workflow does not exist, or it is not yours."
            return None
        self.role = actor.role.value
        # The administrator's stdio MCP servers are chosen where mcp credentials are.
        self._credentials = [CredentialChoice(name=c.name, kind=c.kind) for c in creds] + [
            CredentialChoice(name=name, kind="mcp") for name in mcp_servers.stdio_choices()
        ]
        choices = await asyncio.to_thread(callable_workflows, detail.workspace_id, workflow_id)
        self._workflows = [WorkflowChoice(**choice) for choice in choices]
        self._workspace_id = detail.workspace_id
        self.wf_id = detail.id
        self.version = detail.version
        await self._show(detail.document, saved=True)
        self.loaded = True
        return None

    async def _show(self, document: dict[str, Any], *, saved: bool) -> None:
        """Replace the canvas with ``document``."""
        self._doc = json.loads(json.dumps(document))
        self._doc.setdefault("nodes", [])
        self._doc.setdefault("edges", [])
        if saved:
            self._saved = self._fingerprint()
        self.name = str(self._doc.get("name", ""))
        self.description = str(self._doc.get("description", ""))
        self.expose_mcp = bool(self._doc.get("expose_mcp"))
        self._rev += 1
        self.graph = {"rev": self._rev, "nodes": self._doc["nodes"], "edges": self._doc["edges"]}
        if self.selected_id not in self._node_ids():
            self.selected_id = ""
        await self._refresh(form_reset=True)

    def _plain(self) -> dict[str, Any]:
        """The working document as plain JSON values (not Reflex's change-tracking proxies)."""
        return json.loads(json.dumps(self._doc))

    def _fingerprint(self) -> str:
        return json.dumps(self._doc, sort_keys=True)

    def _node_ids(self) -> set[str]:
        return {n.get("id") for n in self._doc.get("nodes", [])}

    def _node(self, node_id: str) -> dict[str, Any] | None:
        return next((n for n in self._doc.get("nodes", []) if n.get("id") == node_id), None)

    async def _actor(self) -> Actor | None:
        return await signed_in(self)

    # -- validation -----------------------------------------------------------------------

    async def _refresh(self, *, form_reset: bool = False) -> None:
        """Validate, then rebuild markers, the problem list and the open config panel."""
        names = {c["name"] for c in self._credentials}
        problems = validate(self._doc, default_registry(), lambda name: name in names)
        if calls(self._doc) or self._doc.get("error_workflow_id"):
            found = await asyncio.to_thread(
                call_problems, self._workspace_id, self._plain(), self.wf_id
            )
            problems += [Problem.model_validate(p) for p in found]
        labels = {
            n.get("id"): (n.get("data") or {}).get("label") or n.get("id")
            for n in self._doc.get("nodes", [])
        }
        views: list[ProblemView] = []
        markers: dict[str, Any] = {}
        for problem in problems:
            node_id = problem.node_id or ""
            where = labels.get(node_id, node_id) if node_id else "Workflow"
            if problem.field:
                where = f"{where} · {problem.field.removeprefix('config.')}"
            views.append(ProblemView(node_id=node_id, where=where, message=problem.message))
            if node_id:
                markers.setdefault(node_id, {"problems": []})["problems"].append(
                    f"{problem.field + ': ' if problem.field else ''}{problem.message}"
                )
        self.problems = views
        self.decorations = markers
        self.dirty = self._fingerprint() != self._saved
        panel = await self._panel()
        panel._build(
            [(p.field or "", p.message) for p in problems if p.node_id == self.selected_id],
            form_reset=form_reset,
        )

    # -- canvas events ------------------------------------------------------------------------

    @rx.event
    def nodes_moved(self, moved: list[dict[str, Any]]) -> None:
        """A drag ended: store where the nodes were dropped (once per drag, not per frame)."""
        try:
            positions = {m.id: m for m in (_Moved.model_validate(item) for item in moved)}
        except ValidationError:
            return
        for node in self._doc.get("nodes", []):
            if node.get("id") in positions:
                where = positions[node["id"]]
                node["position"] = {"x": where.x, "y": where.y}
        self.dirty = self._fingerprint() != self._saved

    @rx.event
    async def canvas_changed(self, change: dict[str, Any]) -> None:
        """A finished structural edit on the canvas (connect, delete, paste, undo...)."""
        try:
            report = _Change.model_validate(change)
        except ValidationError:
            return
        fresh = report.base_rev == self._rev
        before = self._node(self.selected_id) if self.selected_id else None
        self._doc = merge_change(self._doc, report.nodes, report.edges, fresh)
        after = self._node(self.selected_id) if self.selected_id else None
        await self._refresh(
            form_reset=before is not None and (after or {}).get("data") != before.get("data")
        )

    async def _select(self, node_id: str) -> None:
        self.selected_id = node_id
        (await self._panel()).json_errors = {}
        await self._refresh(form_reset=True)

    @rx.event
    async def select_node(self, node_id: str) -> None:
        """Open the config panel of the selected node (``""`` closes it)."""
        if node_id == self.selected_id:
            return
        await self._select(node_id if node_id in self._node_ids() else "")

    @rx.event
    async def focus_node(self, node_id: str) -> None:
        """A problem was clicked: select its node and bring it into view."""
        if node_id not in self._node_ids():
            return
        self._rev += 1
        self.focus_request = {"rev": self._rev, "id": node_id}
        await self._select(node_id)

    # -- the document -------------------------------------------------------------------------

    @rx.event
    async def set_name(self, value: str) -> None:
        name = value.strip() or "Untitled workflow"
        if name != self._doc.get("name"):
            self._doc["name"] = name
            self.name = name
            await self._refresh()

    @rx.event
    async def set_description(self, value: str) -> None:
        if value != self._doc.get("description", ""):
            self._doc["description"] = value
            self.description = value
            await self._refresh()

    @rx.event
    async def set_expose_mcp(self, checked: bool) -> None:
        """Offer the workflow to the owner's MCP clients, or stop offering it."""
        self._doc["expose_mcp"] = bool(checked)
        self.expose_mcp = bool(checked)
        await self._refresh()

    @rx.event
    async def save(self):
        """Save the working document as the workflow's next version (Ctrl+S)."""
        actor = await self._actor()
        if actor is None:
            yield await to_login(self)
            return
        if self.saving:
            return
        self.saving = True
        yield
        try:
            # A draft: half-built workflows save; runs are validated before they queue.
            detail = await asyncio.to_thread(
                workflows.update, actor, self.wf_id, self._plain(), draft=True
            )
        except InvalidInput as exc:
            self.saving = False
            yield rx.toast.error(f"Not saved: {exc}", id="save-result")
            return
        except NotFound:
            self.saving = False
            yield rx.toast.error("Not saved: this workflow no longer exists.", id="save-result")
            return
        except Forbidden as exc:
            self.saving = False
            yield rx.toast.error(f"Not saved: {exc}", id="save-result")
            return
        self.version = detail.version
        self._saved = self._fingerprint()
        self.dirty = False
        self.saving = False
        await (await self._versions())._after_save(actor)
        if self.problems:
            count = len(self.problems)
            yield rx.toast.warning(
                f"Saved as version {detail.version}, with {count} problem"
                f"{'s' if count > 1 else ''} to fix before it can run (see Problems).",
                id="save-result",
            )
        else:
            yield rx.toast.success(f"Saved as version {detail.version}.", id="save-result")

    @rx.event
    def export_document(self) -> Any:
        """Download the working document as JSON (what the API and import accept)."""
        return rx.download(
            data=json.dumps(self._plain(), indent=2, ensure_ascii=False),
            filename=f"{slug(self.name)}.json",
            mime_type="application/json",
        )

    @rx.event
    async def import_document(self, form_data: dict[str, Any]) -> Any:
        """Replace the canvas with a pasted document (unsaved until Save)."""
        text = str(form_data.get("document") or "").strip()
        if not text:
            self.import_error = "Paste a workflow document (JSON) first."
            return None
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            self.import_error = (
                f"This is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
            )
            return None
        if isinstance(raw, dict):
            raw = {k: v for k, v in raw.items() if k not in workflows.SERVER_KEYS}
        try:
            document = WorkflowDocument.model_validate(raw).to_json()
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the document"
            self.import_error = f"Not a workflow document: {where}: {first['msg']}."
            return None
        self.import_error = ""
        self.import_open = False
        self.selected_id = ""
        await self._show(document, saved=False)
        return rx.toast.success("Imported. Save to keep it as a new version.")

    @rx.event
    def set_import_open(self, is_open: bool) -> None:
        self.import_open = is_open
        self.import_error = ""

    @rx.event
    def set_delete_open(self, is_open: bool) -> None:
        self.delete_open = is_open

    @rx.event
    async def duplicate(self):
        """Save a copy of the working document as a new workflow and open it."""
        actor = await self._actor()
        if actor is None:
            yield await to_login(self)
            return
        copy = {**self._plain(), "name": f"Copy of {self.name}"[:200]}
        try:
            created = await asyncio.to_thread(workflows.create, actor, copy, draft=True)
        except InvalidInput as exc:
            yield rx.toast.error(f"Could not duplicate: {exc}")
            return
        yield rx.redirect(routes.workflow_url(created.id))

    @rx.event
    async def delete_workflow(self):
        """Delete this workflow (after the confirmation dialog) and go back to the list."""
        actor = await self._actor()
        if actor is None:
            yield await to_login(self)
            return
        with contextlib.suppress(NotFound):
            await asyncio.to_thread(workflows.delete, actor, self.wf_id)
        self.dirty = False
        self.delete_open = False
        yield rx.redirect(routes.WORKFLOWS)
