"""Workflow documents as the REST API and the engine take them: a node, a chain of nodes
run one after the other, and the smallest manual- and webhook-triggered workflows."""

from __future__ import annotations

import itertools
from typing import Any


def node(node_id: str, type_: str, **config: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": type_,
        "position": {"x": 0, "y": 0},
        "data": {"label": node_id, "config": config},
    }


def chain(name: str, *nodes: dict[str, Any]) -> dict[str, Any]:
    edges = [
        {"id": f"e{i}", "source": a["id"], "target": b["id"]}
        for i, (a, b) in enumerate(itertools.pairwise(nodes))
    ]
    return {"schema_version": 1, "name": name, "nodes": list(nodes), "edges": edges}


def manual_document(name: str = "Lead research") -> dict:
    return {
        "schema_version": 1,
        "name": name,
        "description": "",
        "nodes": [
            {
                "id": "start",
                "type": "trigger.manual",
                "position": {"x": 0, "y": 0},
                "data": {"label": "Start", "config": {"inputs": []}},
            }
        ],
        "edges": [],
    }


def webhook_document(name: str = "Inbound lead") -> dict:
    document = manual_document(name)
    document["nodes"][0]["type"] = "trigger.webhook"
    return document


def map_flow(child_id: int, count: int, concurrency: int, on_error: str = "fail") -> dict:
    """start (input ``items``) → a flow.map step ``each`` over them → output ``results``."""
    return chain(
        "mapper",
        node("start", "trigger.manual", inputs=[{"name": "items", "type": "array"}]),
        node(
            "each",
            "flow.map",
            items="{{ inputs.items }}",
            workflow_id=child_id,
            concurrency=concurrency,
            on_error=on_error,
        ),
        node("out", "output", fields={"results": "{{ nodes.each.output.results }}"}),
    )
