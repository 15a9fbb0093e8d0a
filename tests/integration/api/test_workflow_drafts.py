"""One rule for saves, the editor's and the REST API's: a save is strict unless it says it
is a draft (the editor's always do; REST with ``?draft=true``); a draft lists what stops it
from running, and no run starts until that is fixed."""

from __future__ import annotations

import pytest

from agentflow_app.engine.errors import InvalidWorkflow
from agentflow_app.services import executions, workflows
from tests.helpers.documents import manual_document
from tests.helpers.users import new_account


def _unconnected(name: str) -> dict:
    document = manual_document(name)
    document["nodes"].append(
        {
            "id": "call",
            "type": "http.request",
            "position": {"x": 0, "y": 160},
            "data": {"label": "Call", "config": {}},
        }
    )
    return document


def test_a_draft_saves_but_does_not_run(stack) -> None:
    actor = new_account("drafts").actor
    with pytest.raises(InvalidWorkflow) as strict:
        workflows.create(actor, _unconnected("Strict"))
    fields = {(p["node_id"], p["field"]) for p in strict.value.problems}
    assert ("call", "config.url") in fields

    created = workflows.create(actor, _unconnected("Draft"), draft=True)
    saved = workflows.update(actor, created.id, _unconnected("Draft v2"), draft=True)
    assert saved.version == 2
    assert workflows.get(actor, created.id).name == "Draft v2"

    with pytest.raises(InvalidWorkflow) as queued:
        executions.start(actor, created.id, {})
    assert ("call", "config.url") in {(p["node_id"], p["field"]) for p in queued.value.problems}
    assert executions.list_executions(actor, workflow_id=created.id).total == 0

    with pytest.raises(InvalidWorkflow):
        workflows.restore(actor, created.id, 1)
    assert workflows.restore(actor, created.id, 1, draft=True).version == 3


def test_a_draft_must_still_be_a_document(stack) -> None:
    actor = new_account("drafts").actor
    with pytest.raises(InvalidWorkflow) as error:
        workflows.create(actor, {"name": "x", "nodes": "not a list", "edges": []}, draft=True)
    assert error.value.problems


def test_the_rest_api_follows_the_same_rule(client, owner) -> None:
    headers = owner.headers()
    strict = client.post("/api/workflows", json=_unconnected("Strict"), headers=headers)
    assert strict.status_code == 422
    assert ("call", "config.url") in {(p["node_id"], p["field"]) for p in strict.json()["detail"]}

    draft = client.post("/api/workflows?draft=true", json=_unconnected("Draft"), headers=headers)
    assert draft.status_code == 201, draft.text
    body = draft.json()
    assert ("call", "config.url") in {(p["node_id"], p["field"]) for p in body["problems"]}
    again = client.put(
        f"/api/workflows/{body['id']}?draft=true", json=_unconnected("Draft v2"), headers=headers
    )
    assert again.status_code == 200 and again.json()["version"] == 2

    refused = client.post(f"/api/workflows/{body['id']}/execute", json={}, headers=headers)
    assert refused.status_code == 422
    assert ("call", "config.url") in {(p["node_id"], p["field"]) for p in refused.json()["detail"]}

    # Fixed as a draft: nothing left to fix, and it runs.
    fixed = client.put(
        f"/api/workflows/{body['id']}?draft=true", json=manual_document("Fixed"), headers=headers
    )
    assert fixed.json()["problems"] == []
    # Even a draft must be a well-formed document.
    shapeless = client.post("/api/workflows?draft=true", json={"nodes": "x"}, headers=headers)
    assert shapeless.status_code == 422
