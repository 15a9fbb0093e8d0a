"""``/metrics`` on the REST API: off (404) without a token, 401 without the right bearer,
and HTTP latency labelled by route template (the app in-process over ASGI)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from agentflow_app.api.app import create_api

TOKEN = "unit-metrics-token"


async def _get(path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return await client.get(path, headers=headers or {})


async def test_metrics_are_off_while_no_token_is_set(set_env) -> None:
    set_env(AGENTFLOW_METRICS_TOKEN=None)
    answer = await _get("/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 404
    assert answer.json() == {"detail": "Not Found"}


@pytest.fixture
def metrics_on(set_env, samples_dir: Path) -> None:
    set_env(AGENTFLOW_METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=str(samples_dir))


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x"]
)
async def test_metrics_refuse_anything_but_the_bearer_token(metrics_on, authorization) -> None:
    answer = await _get("/metrics", {"Authorization": authorization} if authorization else {})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert "agentflow_" not in answer.text


async def test_latency_is_labelled_by_the_route_template(metrics_on, sqlite_stack) -> None:
    api = create_api()
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        await client.get("/api/workflows/9876/versions")  # 401: no token, route matched
        await client.get("/api/no/such/route/5555")
        answer = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    counts = [
        line
        for line in answer.text.splitlines()
        if line.startswith("agentflow_http_request_duration_seconds_count")
    ]
    assert any(
        'route="/api/workflows/{workflow_id}/versions"' in line and 'status_code="401"' in line
        for line in counts
    ), counts
    assert any('route="unmatched"' in line and 'status_code="404"' in line for line in counts), (
        counts
    )
    assert not [line for line in counts if "9876" in line or "5555" in line]
    assert "agentflow_scrape_errors" in answer.text  # the deployment gauges come along
