"""A secret echoed back by a server never reaches what a run stores (SPEC §11).

A real ``http.request`` step sends credentials from the vault to a local echo server that
quotes them back (in its JSON answer, and in the body of a 400); the run goes through the
durable store with the vault's redactor, exactly as the worker runs it.
"""

from __future__ import annotations

import base64
import itertools
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.net.client import GuardedClient
from agentflow_app.secrets.vault import Vault
from agentflow_app.services import credentials
from agentflow_app.services.executions import create, execution_record, run_execution
from agentflow_app.services.users import Actor
from tests.helpers.credentials import raw_database

TOKEN = "echo-bearer-SECRET-a1b2c3d4e5f6"
PASSWORD = "echo-basic-SECRET-pw-778899"
BASIC = base64.b64encode(f"robot:{PASSWORD}".encode()).decode()


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"you_sent": {"authorization": request.headers.get("authorization")}})


async def _refuse(request: Request) -> PlainTextResponse:
    return PlainTextResponse(
        f"bad credentials: {request.headers.get('authorization')}", status_code=400
    )


ECHO = Starlette(routes=[Route("/echo", _echo), Route("/refuse", _refuse)])


def _document(url: str, credential: str, *, output: bool) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [
        {"id": "start", "type": "trigger.manual", "data": {"config": {}}},
        {
            "id": "call",
            "type": "http.request",
            "data": {"config": {"url": url, "credential": credential, "retries": 0}},
        },
    ]
    if output:
        fields = {"echoed": "{{ nodes.call.output.body.you_sent.authorization }}"}
        nodes.append({"id": "out", "type": "output", "data": {"config": {"fields": fields}}})
    edges = [
        {"id": f"e{i}", "source": a["id"], "target": b["id"]}
        for i, (a, b) in enumerate(itertools.pairwise(nodes))
    ]
    return {"schema_version": 1, "name": "echo", "nodes": nodes, "edges": edges}


async def _run(actor: Actor, document: dict[str, Any]) -> dict[str, Any]:
    execution_id = create(document, {}, owner_id=actor.id, workspace_id=actor.workspace_id)
    vault = Vault(actor.workspace_id)
    async with GuardedClient(allow_private=True) as http:
        await run_execution(execution_id, http=http, credentials=vault, redact=vault.redactor)
    return execution_record(execution_id)


async def test_an_echoed_secret_is_stored_redacted(stack, make_actor, asgi_server) -> None:
    base = asgi_server(ECHO)
    actor = make_actor()
    credentials.create_credential(actor, "api-token", "http", {"scheme": "bearer", "token": TOKEN})
    credentials.create_credential(
        actor, "basic-api", "http", {"scheme": "basic", "username": "robot", "password": PASSWORD}
    )

    ok = await _run(actor, _document(f"{base}/echo", "api-token", output=False))
    assert ok["status"] == ExecutionStatus.SUCCEEDED, ok
    call = next(step for step in ok["steps"] if step["node_id"] == "call")
    assert call["output"]["body"] == {"you_sent": {"authorization": "Bearer [redacted:api-token]"}}

    failed = await _run(actor, _document(f"{base}/refuse", "basic-api", output=False))
    assert failed["status"] == ExecutionStatus.FAILED, failed
    step = next(step for step in failed["steps"] if step["node_id"] == "call")
    assert "400" in str(step["error"])
    assert "[redacted:basic-api]" in str(step["error"]), step["error"]
    assert BASIC not in str(step["error"])


async def test_an_echoed_secret_never_reaches_the_execution_row(
    stack, make_actor, asgi_server
) -> None:
    base = asgi_server(ECHO)
    actor = make_actor()
    credentials.create_credential(actor, "api-token", "http", {"scheme": "bearer", "token": TOKEN})
    credentials.create_credential(
        actor, "basic-api", "http", {"scheme": "basic", "username": "robot", "password": PASSWORD}
    )
    record = await _run(actor, _document(f"{base}/echo", "api-token", output=True))
    assert record["status"] == ExecutionStatus.SUCCEEDED, record
    assert record["outputs"] == {"echoed": "Bearer [redacted:api-token]"}
    failed = await _run(actor, _document(f"{base}/refuse", "basic-api", output=False))
    assert "[redacted:basic-api]" in str(failed["error"]), failed["error"]

    dump = raw_database(stack)
    for secret in (TOKEN, PASSWORD, BASIC):
        assert secret.encode() not in dump, f"{secret} reached the {stack.kind} database"
