"""Validation of a workflow document (SPEC §7): every problem at once, each saying where.

The same pass gathers what the runner needs (node classes, validated configs, edges by
handle, a topological order, template references), so :func:`analyse` feeds both
:func:`validate` (for the editor and the API) and :func:`agentflow_app.engine.plan.compile_plan`
(for the runner) without doing the work twice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from agentflow_app.engine import templating
from agentflow_app.engine.document import WorkflowDocument
from agentflow_app.engine.errors import TemplateError
from agentflow_app.engine.node import Node, NodeConfig
from agentflow_app.engine.registry import Registry

#: ``credentials_check(name) -> bool``: whether the acting user has a credential so named.
CredentialsCheck = Callable[[str], bool]


class Problem(BaseModel):
    """One thing wrong with a document: which node (if any), which field, what."""

    node_id: str | None = None
    field: str | None = None
    message: str


@dataclass
class Analysis:
    """What validation learned about a document; complete only when ``problems`` is empty."""

    problems: list[Problem] = field(default_factory=list)
    document: WorkflowDocument | None = None
    classes: dict[str, type[Node]] = field(default_factory=dict)
    configs: dict[str, NodeConfig] = field(default_factory=dict)
    #: node id -> [(source id, source handle)] and [(source handle, target id)]
    incoming: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    outgoing: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    references: dict[str, frozenset[str]] = field(default_factory=dict)
    trigger: str | None = None

    def add(self, node_id: str | None, field_: str | None, message: str) -> None:
        self.problems.append(Problem(node_id=node_id, field=field_, message=message))


def _loc(parts: tuple[Any, ...]) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _structure_problems(raw: Any, exc: ValidationError) -> list[Problem]:
    """Pydantic errors on the document itself, located by node id where possible."""
    problems = []
    for err in exc.errors():
        loc = err["loc"]
        node_id = None
        if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
            try:
                node_id = raw["nodes"][loc[1]].get("id")
            except (AttributeError, IndexError, KeyError, TypeError):
                node_id = None
            loc = (f"nodes[{loc[1]}]", *loc[2:]) if node_id is None else loc[2:]
        if node_id is not None and loc[:2] == ("data", "config"):
            loc = ("config", *loc[2:])
        problems.append(
            Problem(
                node_id=node_id if isinstance(node_id, str) else None,
                field=_loc(loc) or None,
                message=err["msg"],
            )
        )
    return problems


def validate(
    document: dict[str, Any] | WorkflowDocument,
    registry: Registry,
    credentials_check: CredentialsCheck | None = None,
) -> list[Problem]:
    """Every problem in ``document``; an empty list means it can run."""
    return analyse(document, registry, credentials_check).problems


def analyse(
    document: dict[str, Any] | WorkflowDocument,
    registry: Registry,
    credentials_check: CredentialsCheck | None = None,
) -> Analysis:
    """Validate ``document`` and gather what compiling it needs."""
    result = Analysis()
    if isinstance(document, WorkflowDocument):
        doc = document
    else:
        if not isinstance(document, dict):
            result.add(None, None, "a workflow document must be a JSON object")
            return result
        try:
            doc = WorkflowDocument.model_validate(document)
        except ValidationError as exc:
            result.problems.extend(_structure_problems(document, exc))
            return result
    result.document = doc
    _check_nodes(doc, registry, result, credentials_check)
    _check_edges(doc, result)
    _check_graph(doc, result)
    _check_templates(result)
    return result


def _check_nodes(
    doc: WorkflowDocument,
    registry: Registry,
    result: Analysis,
    credentials_check: CredentialsCheck | None,
) -> None:
    seen: dict[str, int] = {}
    triggers: list[str] = []
    for index, node in enumerate(doc.nodes):
        if node.id in seen:
            result.add(
                node.id,
                "id",
                f"node id {node.id!r} is used twice (nodes #{seen[node.id] + 1} and "
                f"#{index + 1}); give each node its own id",
            )
            continue
        seen[node.id] = index
        if not registry.has_node(node.type):
            hint = ""
            if registry.plugin_errors:
                names = ", ".join(e.name for e in registry.plugin_errors)
                hint = f" (these plugins failed to load: {names})"
            result.add(node.id, "type", f"unknown node type {node.type!r}{hint}")
            continue
        cls = registry.node(node.type)
        result.classes[node.id] = cls
        if cls.is_trigger:
            triggers.append(node.id)
        try:
            config = cls.Config.model_validate(node.data.config)
        except ValidationError as exc:
            for err in exc.errors():
                result.add(node.id, _loc(("config", *err["loc"])), err["msg"])
            continue
        result.configs[node.id] = config
        credential = getattr(config, "credential", None)
        if (
            credentials_check
            and isinstance(credential, str)
            and credential
            and not credentials_check(credential)
        ):
            result.add(
                node.id,
                "config.credential",
                f"there is no credential named {credential!r}; add it under Credentials",
            )
    if not triggers:
        result.add(None, None, "the workflow needs a trigger node (for example trigger.manual)")
    for extra in triggers[1:]:
        result.add(
            extra,
            "type",
            f"a workflow has exactly one trigger; {triggers[0]!r} is already one",
        )
    if triggers:
        result.trigger = triggers[0]


def _handle(
    cls: type[Node], given: str | None, kind: str, node_id: str, edge_id: str, result: Analysis
) -> str | None:
    handles = cls.source_handles(result.configs.get(node_id)) if kind == "source" else cls.inputs
    if handles is None:  # its config is invalid (already reported): the handles are unknown
        return given
    field_ = f"edges.{edge_id}.{kind}Handle"
    side = "leaves" if kind == "source" else "enters"
    if given is None:
        if len(handles) == 1:
            return handles[0]
        if not handles:
            result.add(
                node_id,
                field_,
                f"edge {edge_id!r} {side} node {node_id!r}, which has no {kind} handle",
            )
            return None
        result.add(
            node_id,
            field_,
            f"edge {edge_id!r} {side} node {node_id!r} without a {kind}Handle; "
            f"use one of: {', '.join(handles)}",
        )
        return None
    if given not in handles:
        allowed = ", ".join(handles) or "none"
        result.add(
            node_id,
            field_,
            f"edge {edge_id!r} uses {kind} handle {given!r} of node {node_id!r}, "
            f"which has: {allowed}",
        )
        return None
    return given


def _check_edges(doc: WorkflowDocument, result: Analysis) -> None:
    known = {node.id for node in doc.nodes}
    result.incoming = {node_id: [] for node_id in result.classes}
    result.outgoing = {node_id: [] for node_id in result.classes}
    edge_ids: set[str] = set()
    for edge in doc.edges:
        if edge.id in edge_ids:
            result.add(None, f"edges.{edge.id}", f"edge id {edge.id!r} is used twice")
        edge_ids.add(edge.id)
        ends_ok = True
        for end in ("source", "target"):
            node_id = getattr(edge, end)
            if node_id not in known:
                result.add(
                    None,
                    f"edges.{edge.id}.{end}",
                    f"edge {edge.id!r} {'starts' if end == 'source' else 'ends'} at "
                    f"unknown node {node_id!r}",
                )
                ends_ok = False
        if not ends_ok or edge.source not in result.classes or edge.target not in result.classes:
            continue
        source_handle = _handle(
            result.classes[edge.source], edge.sourceHandle, "source", edge.source, edge.id, result
        )
        target_handle = _handle(
            result.classes[edge.target], edge.targetHandle, "target", edge.target, edge.id, result
        )
        if source_handle is None or target_handle is None:
            continue
        result.outgoing[edge.source].append((source_handle, edge.target))
        result.incoming[edge.target].append((edge.source, source_handle))


def _check_graph(doc: WorkflowDocument, result: Analysis) -> None:
    """Acyclic, trigger first, everything else reachable from an edge."""
    ids = list(result.classes)
    for node_id in ids:
        cls = result.classes[node_id]
        if cls.is_trigger and result.incoming[node_id]:
            result.add(node_id, None, "a trigger cannot have incoming edges")
        elif not cls.is_trigger and not result.incoming[node_id]:
            result.add(
                node_id,
                None,
                "nothing leads into this node; connect it to the trigger or a node after it",
            )
    indegree = {node_id: len(result.incoming[node_id]) for node_id in ids}
    ready = deque(node_id for node_id in ids if indegree[node_id] == 0)
    order: list[str] = []
    while ready:
        node_id = ready.popleft()
        order.append(node_id)
        for _, target in result.outgoing[node_id]:
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    if len(order) == len(ids):
        result.order = order
        return
    for cycle in _cycles({n for n in ids if indegree[n] > 0}, result.incoming):
        path = " → ".join([*cycle, cycle[0]])
        result.add(cycle[0], None, f"the workflow has a cycle: {path}")


def _cycles(remaining: set[str], incoming: dict[str, list[tuple[str, str]]]) -> list[list[str]]:
    """One cycle per tangle among ``remaining`` nodes, each in edge order from its
    smallest node id.

    Every node Kahn's algorithm leaves behind has a predecessor among the ones left, so
    walking *backwards* from any of them must come back to a node already on the walk,
    which closes a cycle. (Walking forwards does not: it can end at a node downstream of
    a cycle that leads nowhere, and a graph with a cycle then passed validation.)
    """
    cycles: list[list[str]] = []
    done: set[str] = set()
    for start in sorted(remaining):
        if start in done:
            continue
        walk: list[str] = []
        at: dict[str, int] = {}
        node = start
        while node not in at and node not in done:
            at[node] = len(walk)
            walk.append(node)
            node = next(source for source, _ in incoming[node] if source in remaining)
        if node in at:  # else the walk joined a tangle whose cycle is reported already
            cycle = walk[at[node] :][::-1]
            first = cycle.index(min(cycle))  # named from its first node by id, stably
            cycles.append(cycle[first:] + cycle[:first])
        done.update(walk)
    return cycles


def _ancestors(node_id: str, result: Analysis) -> set[str]:
    """Every node upstream of ``node_id``; asked only for nodes whose templates refer."""
    found: set[str] = set()
    todo = [source for source, _ in result.incoming[node_id]]
    while todo:
        source = todo.pop()
        if source not in found:
            found.add(source)
            todo.extend(s for s, _ in result.incoming[source])
    return found


def _check_templates(result: Analysis) -> None:
    for node_id, config in result.configs.items():
        found_at: list[tuple[str, str]] = []  # (field path, referenced node id)
        for path, kind, value in templating.template_fields(config):
            if kind == "json":
                sources = list(templating.json_strings(value, path))
            else:
                sources = [(path, value)] if isinstance(value, str) else []
            for source_path, source in sources:
                try:
                    refs = templating.references(source, "text" if kind == "json" else kind)
                except TemplateError as exc:
                    result.add(node_id, source_path, exc.message)
                    continue
                found_at.extend((source_path, ref) for ref in sorted(refs))
        result.references[node_id] = frozenset(ref for _, ref in found_at)
        if not found_at or not result.order:  # with a cycle, "upstream" means nothing yet
            continue
        upstream = _ancestors(node_id, result)
        for path, ref in found_at:
            if ref not in upstream:
                why = "is not upstream of this node" if ref in result.classes else "does not exist"
                result.add(node_id, path, f"refers to nodes.{ref}, which {why}")
