"""The compiled form of a valid document: what the runner walks, computed once.

Compiling resolves node classes, validates configs, orders the graph and finds template
references up front, so running a node costs a few dictionary lookups rather than a
re-validation, and a plan can be run many times (benchmarks, sub-workflows, retries).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from agentflow_app.engine.document import WorkflowDocument
from agentflow_app.engine.errors import InvalidWorkflow
from agentflow_app.engine.node import Node, NodeConfig
from agentflow_app.engine.registry import Registry
from agentflow_app.engine.templating import has_templates
from agentflow_app.engine.validate import CredentialsCheck, analyse

#: The node type whose outputs become the execution's ``outputs`` (SPEC §6).
OUTPUT_TYPE = "output"


@dataclass(frozen=True, slots=True)
class PlanNode:
    id: str
    type: str
    cls: type[Node]
    config: NodeConfig
    #: ``(source node id, source handle)`` of every edge coming in.
    incoming: tuple[tuple[str, str], ...]
    #: ``(source handle, target node id)`` of every edge going out.
    outgoing: tuple[tuple[str, str], ...]
    references: frozenset[str]
    retries: int
    timeout_s: float
    continue_on_error: bool
    needs_render: bool


@dataclass(frozen=True, slots=True)
class Plan:
    document: WorkflowDocument
    nodes: Mapping[str, PlanNode]
    #: Topological order (the trigger first).
    order: tuple[str, ...]
    trigger: str
    max_cost_usd: float | None


def compile_plan(
    document: dict[str, Any] | WorkflowDocument,
    registry: Registry,
    credentials_check: CredentialsCheck | None = None,
) -> Plan:
    """Validate and compile ``document``.

    Raises:
        InvalidWorkflow: listing every problem as ``{node_id, field, message}``.
    """
    result = analyse(document, registry, credentials_check)
    if result.problems:
        raise InvalidWorkflow([p.model_dump() for p in result.problems])
    assert result.document is not None and result.trigger is not None  # no problems
    nodes = {}
    for node_id in result.order:
        cls = result.classes[node_id]
        config = result.configs[node_id]
        nodes[node_id] = PlanNode(
            id=node_id,
            type=cls.type,
            cls=cls,
            config=config,
            incoming=tuple(result.incoming[node_id]),
            outgoing=tuple(result.outgoing[node_id]),
            references=result.references.get(node_id, frozenset()),
            retries=config.retries if config.retries is not None else cls.default_retries,
            timeout_s=config.timeout_s,
            continue_on_error=config.on_error == "continue",
            needs_render=has_templates(type(config)),
        )
    return Plan(
        document=result.document,
        nodes=MappingProxyType(nodes),
        order=tuple(result.order),
        trigger=result.trigger,
        max_cost_usd=result.document.max_cost_usd,
    )


def plan_of(document: dict[str, Any], registry: Registry) -> Plan:
    """:func:`compile_plan`, remembered per document and registry.

    A worker runs the same few workflows again and again, and the web process checks each
    run's inputs against its trigger: compiling (validating every config, ordering the
    graph, finding template references) was a twentieth of a pool process's CPU per
    run. A plan is frozen and made to be run many times; the document's JSON text is the
    key, in its own key order (an output's fields keep theirs). A registry is expected to
    be complete before its first run (the app's is built once, plugins included).

    Raises:
        InvalidWorkflow: as :func:`compile_plan` (a document with problems is not kept).
    """
    return _remembered(json.dumps(document), registry)


@lru_cache(maxsize=256)
def _remembered(text: str, registry: Registry) -> Plan:
    return compile_plan(json.loads(text), registry)
