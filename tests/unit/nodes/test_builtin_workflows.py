"""Small workflows of built-in nodes through the real runner, against local servers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from agentflow_app.engine.registry import Registry
from agentflow_app.engine.runner import run
from agentflow_app.engine.status import ExecutionStatus, StepStatus
from agentflow_app.engine.store import MemoryStore
from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes import register_builtin
from agentflow_app.nodes.credentials import StaticCredentials
from tests.fakes.slack import FakeSlack


def _registry() -> Registry:
    registry = Registry()
    register_builtin(registry)
    return registry


def _node(node_id: str, type_: str, **config: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": type_,
        "position": {"x": 0, "y": 0},
        "data": {"label": node_id, "config": config},
    }


def _edge(source: str, target: str, handle: str = "out") -> dict[str, Any]:
    return {
        "id": f"{source}-{target}",
        "source": source,
        "target": target,
        "sourceHandle": handle,
        "targetHandle": "in",
    }


class Scores:
    """An API that fails once with 503, then answers a score per company."""

    def __init__(self) -> None:
        self.calls = 0

    @property
    def app(self) -> Starlette:
        async def score(request: Request) -> Response:
            self.calls += 1
            if self.calls == 1:
                return PlainTextResponse("warming up", status_code=503)
            company = request.query_params["company"]
            return JSONResponse({"company": company, "score": 87 if company == "Acme" else 12})

        return Starlette(routes=[Route("/score", score)])


def _lead_flow(api: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": "Lead triage",
        "nodes": [
            _node(
                "start",
                "trigger.manual",
                inputs=[{"name": "company", "type": "string", "required": True}],
            ),
            _node(
                "fetch",
                "http.request",
                url=f"{api}/score",
                query={"company": "{{ inputs.company }}"},
            ),
            _node("hot", "logic.condition", expression="nodes.fetch.output.body.score > 50"),
            _node(
                "notify",
                "slack.message",
                credential="team",
                channel="#alerts",
                text="Hot lead: {{ inputs.company }} ({{ nodes.fetch.output.body.score }})",
            ),
            _node("note", "transform.template", template="{{ inputs.company }} is cold"),
            _node(
                "result",
                "output",
                fields={
                    "score": "{{ nodes.fetch.output.body.score }}",
                    "status": "{{ nodes.fetch.output.status }}",
                },
            ),
        ],
        "edges": [
            _edge("start", "fetch"),
            _edge("fetch", "hot"),
            _edge("hot", "notify", "true"),
            _edge("hot", "note", "false"),
            _edge("fetch", "result"),
        ],
    }


async def test_a_lead_flow_retries_the_503_routes_and_posts_to_slack(
    asgi_server: Callable[..., str],
) -> None:
    scores, slack = Scores(), FakeSlack()
    api, slack_url = asgi_server(scores.app), asgi_server(slack.app)
    store = MemoryStore("e1")
    credentials = StaticCredentials(
        {"team": ("slack", {"token": slack.token, "base_url": slack_url})}
    )
    async with GuardedClient(allow_private=True) as http:
        result = await run(
            _lead_flow(api),
            {"company": "Acme"},
            store,
            registry=_registry(),
            http=http,
            credentials=credentials,
            retry_backoff_s=0.01,
        )
    assert result.status == ExecutionStatus.SUCCEEDED, result.error
    assert result.outputs == {"score": 87, "status": 200}
    assert result.steps["fetch"].attempts == 2
    assert scores.calls == 2
    assert result.steps["notify"].status == StepStatus.SUCCEEDED
    assert result.steps["note"].status == StepStatus.SKIPPED
    assert [m["text"] for m in slack.messages] == ["Hot lead: Acme (87)"]


async def test_a_missing_required_input_fails_the_trigger_step() -> None:
    async with GuardedClient(allow_private=True) as http:
        result = await run(
            _lead_flow("http://127.0.0.1:9"),
            {},
            MemoryStore("e2"),
            registry=_registry(),
            http=http,
            credentials=StaticCredentials({}),
        )
    assert result.status == ExecutionStatus.FAILED
    assert result.steps["start"].error == "trigger.manual: input 'company' is required"


@pytest.mark.parametrize(
    ("url", "resolves"),
    [
        (
            "http://169.254.169.254/latest/meta-data/iam/",
            "169.254.169.254, the cloud metadata address",
        ),
        ("http://0x7f000001:8080/", "127.0.0.1, a loopback address"),
        ("http://10.0.0.8/internal", "10.0.0.8, a private address"),
    ],
)
async def test_a_blocked_url_is_a_clear_step_error_and_is_not_retried(
    url: str, resolves: str
) -> None:
    document = {
        "schema_version": 1,
        "name": "SSRF",
        "nodes": [_node("start", "trigger.manual"), _node("fetch", "http.request", url=url)],
        "edges": [_edge("start", "fetch")],
    }
    async with GuardedClient(allow_private=False) as http:
        result = await run(
            document,
            {},
            MemoryStore("e3"),
            registry=_registry(),
            http=http,
            credentials=StaticCredentials({}),
            retry_backoff_s=0.01,
        )
    fetch = result.steps["fetch"]
    assert result.status == ExecutionStatus.FAILED
    assert fetch.status == StepStatus.FAILED
    assert fetch.attempts == 1
    assert fetch.error == (
        f"http.request: the URL resolves to {resolves}; "
        "set AGENTFLOW_ALLOW_PRIVATE_NETWORK=true to allow private networks"
    )
