"""``/api/mcp`` spoken to by the SDK's own client, with runs done by a real Celery worker.

The REST API runs in uvicorn on loopback (as ``agentflow serve`` mounts it); the client is
``mcp.Client`` over ``mcp.client.streamable_http`` with an API key as its bearer token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from agentflow_app.api.app import create_api
from agentflow_app.services import api_keys, members, users, workflows, workspaces
from agentflow_app.services.executions import list_executions
from tests.fakes.servers import serve_asgi
from tests.helpers.documents import chain, node
from tests.helpers.stack import Stack
from tests.helpers.users import Account, new_account
from tests.helpers.workers import WorkerPool, worker_pool


@pytest.fixture(scope="module")
def workers(mcp_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerPool]:
    with worker_pool(mcp_stack, tmp_path_factory.mktemp("workers")) as pool:
        pool.start("mcp", concurrency=1)
        yield pool


@pytest.fixture(scope="module")
def api_url(mcp_stack: Stack) -> Iterator[str]:
    with serve_asgi(create_api()) as base:
        yield f"{base}/api/mcp"


def _research(name: str, *, expose: bool = True, description: str = "") -> dict[str, Any]:
    document = chain(
        name,
        node(
            "start",
            "trigger.manual",
            inputs=[
                {"name": "company", "type": "string", "required": True, "description": "Who"},
                {"name": "depth", "type": "integer", "default": 1},
            ],
        ),
        node("brief", "transform.template", template="Brief on {{ inputs.company }}"),
        node("out", "output", fields={"summary": "{{ nodes.brief.output.text }}"}),
    )
    document["description"] = description
    document["expose_mcp"] = expose
    return document


def _failing(name: str) -> dict[str, Any]:
    document = chain(
        name,
        node(
            "start", "trigger.manual", inputs=[{"name": "n", "type": "integer", "required": True}]
        ),
        node("divide", "transform.template", template="{{ 10 // inputs.n }}"),
        node("out", "output", fields={"q": "{{ nodes.divide.output.text }}"}),
    )
    document["expose_mcp"] = True
    return document


@asynccontextmanager
async def _client(url: str, key: str) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60)
    async with http, Client(streamable_http_client(url, http_client=http)) as client:
        yield client


@pytest.fixture(scope="module")
def owner(mcp_stack: Stack) -> tuple[Account, str, dict[str, int]]:
    account = new_account("owner")
    ids = {
        "research": workflows.create(
            account.actor, _research("Lead research", description="Three facts about a company")
        ).id,
        "hidden": workflows.create(account.actor, _research("Not for MCP", expose=False)).id,
        "failing": workflows.create(account.actor, _failing("Divide ten")).id,
    }
    hooked = _research("Hooked")
    hooked["nodes"][0]["type"] = "trigger.webhook"
    workflows.create(account.actor, hooked)
    other = new_account("other")
    workflows.create(other.actor, _research("Someone else's research"))
    return account, api_keys.create_key(account.actor, "mcp client").key, ids


async def test_the_tools_are_exactly_the_key_owners_exposed_workflows(
    api_url: str, owner: tuple[Account, str, dict[str, int]]
) -> None:
    _, key, _ = owner
    async with _client(api_url, key) as client:
        listed = (await client.list_tools()).tools

    assert sorted(tool.name for tool in listed) == ["divide_ten", "lead_research"]
    research = next(tool for tool in listed if tool.name == "lead_research")
    assert research.description == "Three facts about a company"
    assert research.input_schema == {
        "type": "object",
        "properties": {
            "company": {"type": "string", "description": "Who"},
            "depth": {"type": "integer", "default": 1},
        },
        "required": ["company"],
    }


async def test_a_call_runs_the_workflow_on_a_worker_with_progress_and_outputs(
    api_url: str, owner: tuple[Account, str, dict[str, int]], workers: WorkerPool
) -> None:
    account, key, ids = owner
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async with _client(api_url, key) as client:
        result = await client.call_tool(
            "lead_research", {"company": "Acme"}, progress_callback=on_progress
        )

    assert not result.is_error, result
    assert result.structured_content == {"summary": "Brief on Acme"}
    page = list_executions(account.actor, workflow_id=ids["research"])
    [run] = page.items
    assert run.status == "succeeded" and run.trigger == "mcp"
    messages = [m for _, _, m in progress]
    assert messages[0] == f"run {run.id} started"
    assert "step brief succeeded" in messages and "step out succeeded" in messages
    assert progress[-1][:2] == (3.0, 3.0)


async def test_a_failing_workflow_answers_a_tool_error_with_the_reason(
    api_url: str, owner: tuple[Account, str, dict[str, int]], workers: WorkerPool
) -> None:
    _, key, _ = owner
    async with _client(api_url, key) as client:
        failed = await client.call_tool("divide_ten", {"n": 0})
        refused = await client.call_tool("divide_ten", {"n": "zero"})
        unknown = await client.call_tool("someone_else_s_research", {"company": "Acme"})

    assert failed.is_error
    assert "of 'Divide ten' failed" in failed.content[0].text
    assert "integer division or modulo by zero" in failed.content[0].text
    assert refused.is_error and "inputs.n" in refused.content[0].text
    assert unknown.is_error
    assert unknown.content[0].text == (
        "there is no workflow tool named 'someone_else_s_research' for this API key"
    )


async def test_no_key_or_a_revoked_key_is_refused(
    api_url: str, owner: tuple[Account, str, dict[str, int]]
) -> None:
    account, _, _ = owner
    made = api_keys.create_key(account.actor, "short-lived")
    api_keys.revoke_key(account.actor, made.id)
    async with httpx.AsyncClient() as http:
        revoked = await http.post(api_url, json={}, headers={"Authorization": f"Bearer {made.key}"})
        missing = await http.post(api_url, json={})
        jwt = await http.post(api_url, json={}, headers=account.headers())

    assert revoked.status_code == 401
    assert revoked.json() == {"detail": "the API key is not valid or was revoked"}
    assert revoked.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert missing.status_code == 401 and jwt.status_code == 401
    # The SDK's own client stops at the handshake (it reports the 401 as an error response).
    with pytest.raises(BaseExceptionGroup) as caught:
        async with _client(api_url, made.key):
            pass
    leaves = caught.value.exceptions
    while any(isinstance(leaf, BaseExceptionGroup) for leaf in leaves):
        leaves = tuple(x for leaf in leaves for x in getattr(leaf, "exceptions", (leaf,)))
    assert [type(leaf) for leaf in leaves] == [MCPError], leaves
    assert "Server returned an error response" in str(leaves[0])


async def test_keys_in_a_shared_workspace_run_its_tools_by_their_role(
    api_url: str, owner: tuple[Account, str, dict[str, int]]
) -> None:
    """``/api/mcp`` is outside the route table the authorisation matrix reads: each role's
    key sees the shared workspace's tools; a viewer's call is refused and queues nothing, and
    a key of the owner's personal workspace sees none of them."""
    account, personal_key, _ = owner
    shared = workspaces.create_workspace(account.actor, "MCP team")
    acting = workspaces.act_in(users.get_profile(account.actor), shared.id)
    workflow_id = workflows.create(acting, _research("Team research")).id
    keys = {"owner": api_keys.create_key(acting, "team").key}
    for role in ("runner", "viewer"):
        member = new_account(f"mcp-{role}")
        invitation = members.invite(acting, shared.id, member.email, role)
        members.accept_invitation(
            member.actor, parse_qs(urlsplit(invitation.url).query)["token"][0]
        )
        joined = workspaces.act_in(users.get_profile(member.actor), shared.id)
        keys[role] = api_keys.create_key(joined, role).key

    for role, key in keys.items():
        async with _client(api_url, key) as client:
            listed = [tool.name for tool in (await client.list_tools()).tools]
        assert listed == ["team_research"], role
    async with _client(api_url, keys["viewer"]) as client:
        refused = await client.call_tool("team_research", {"company": "Acme"})
    assert refused.is_error and "viewer" in refused.content[0].text
    assert list_executions(acting, workflow_id=workflow_id).items == []
    async with _client(api_url, personal_key) as client:
        listed = (await client.list_tools()).tools
        unknown = await client.call_tool("team_research", {"company": "Acme"})
    assert "team_research" not in [tool.name for tool in listed]
    assert unknown.is_error and "no workflow tool named 'team_research'" in unknown.content[0].text
