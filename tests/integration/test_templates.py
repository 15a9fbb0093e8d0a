"""Every template in the gallery validates and runs headless, against local fakes only.

The LLM, Slack, HubSpot and the fetched web pages are local servers speaking the real
protocols; a template's URLs and credentials are pointed at them through the run's inputs
and the vault, exactly as a user would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from agentflow_app.catalog import register_builtins
from agentflow_app.engine.registry import Registry
from agentflow_app.engine.runner import run
from agentflow_app.engine.status import ExecutionStatus, StepStatus
from agentflow_app.engine.store import MemoryStore
from agentflow_app.engine.validate import validate
from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes.credentials import StaticCredentials
from agentflow_app.state.templates import (
    TEMPLATES_DIR,
    read_template,
    resolve_companions,
    template_cards,
)
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.llm import FakeLLM, Reply
from tests.fakes.servers import serve_asgi
from tests.fakes.slack import FakeSlack
from tests.helpers.llm import fake_llm_environment


@pytest.fixture
def fake_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    """The scripted LLM server with every provider base URL pointing at it."""
    with fake_llm_environment(monkeypatch) as fake:
        yield fake


SLUGS = sorted(path.stem for path in TEMPLATES_DIR.glob("*.json"))


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    register_builtins(registry)
    return registry


@pytest.fixture
def pages() -> Iterator[str]:
    """A web page and a JSON feed on 127.0.0.1."""

    async def article(_request):
        return PlainTextResponse("AgentFlow ships a visual editor. It is fast. It is Python.")

    async def feed(_request):
        return JSONResponse([{"title": "Python 4 announced"}, {"title": "Cats learn Rust"}])

    app = Starlette(routes=[Route("/article", article), Route("/feed.json", feed)])
    with serve_asgi(app) as base:
        yield base


@pytest.fixture
def slack() -> Iterator[tuple[FakeSlack, str]]:
    fake = FakeSlack()
    with serve_asgi(fake.app) as base:
        yield fake, base


@pytest.fixture
def hubspot() -> Iterator[tuple[FakeHubSpot, str]]:
    fake = FakeHubSpot()
    with serve_asgi(fake.app) as base:
        yield fake, base


async def execute(
    slug: str, inputs: dict[str, Any], registry: Registry, vault: dict[str, Any]
) -> Any:
    async with GuardedClient(allow_private=True) as http:
        return await run(
            read_template(slug),
            inputs,
            MemoryStore(f"template-{slug}"),
            registry=registry,
            http=http,
            credentials=StaticCredentials(vault),
            retry_backoff_s=0.01,
        )


def test_there_are_at_least_five_templates_and_each_validates(registry: Registry) -> None:
    assert len(SLUGS) >= 5
    for slug in SLUGS:
        template = read_template(slug)
        companions = template.get("companions") or {}
        ids = {key: index + 1 for index, key in enumerate(companions)}
        for key, companion in companions.items():
            assert validate(resolve_companions(companion, ids), registry) == [], (slug, key)
        assert validate(resolve_companions(template, ids), registry) == [], slug
    cards = template_cards()
    assert {card["slug"] for card in cards} == set(SLUGS)
    assert all(card["name"] and card["description"] and card["steps"] >= 3 for card in cards)


async def test_research_a_company_and_draft_an_email(fake_llm: FakeLLM, registry: Registry) -> None:
    fake_llm.script(Reply.say("Acme sells anvils to coyotes."), Reply.say("Hi Wile, anvils?"))
    result = await execute(
        "research-company-email", {"company": "Acme", "contact_name": "Wile"}, registry, {}
    )
    assert result.status == ExecutionStatus.SUCCEEDED, result.error
    assert result.outputs == {
        "research": "Acme sells anvils to coyotes.",
        "email": "Hi Wile, anvils?",
    }
    assert "Acme sells anvils to coyotes." in fake_llm.bodies[1]


async def test_summarise_a_url_and_post_to_slack(
    fake_llm: FakeLLM, registry: Registry, pages: str, slack: tuple[FakeSlack, str]
) -> None:
    fake, base = slack
    fake_llm.script(Reply.say("Editor. Fast. Python."))
    vault = {"slack": ("slack", {"token": fake.token, "base_url": base})}
    result = await execute(
        "summarise-url-to-slack",
        {"url": f"{pages}/article", "channel": "#general"},
        registry,
        vault,
    )
    assert result.status == ExecutionStatus.SUCCEEDED, result.error
    assert "visual editor" in fake_llm.bodies[0]
    assert len(fake.messages) == 1
    assert "Editor. Fast. Python." in fake.messages[0]["text"]


@pytest.mark.parametrize("urgent", [True, False])
async def test_triage_a_support_message(
    fake_llm: FakeLLM, registry: Registry, slack: tuple[FakeSlack, str], urgent: bool
) -> None:
    fake, base = slack
    verdict = {"urgent": urgent, "category": "bug", "summary": "checkout is down"}
    fake_llm.script(Reply.say(json.dumps(verdict)), Reply.say("Thanks, we are on it."))
    vault = {"slack": ("slack", {"token": fake.token, "base_url": base})}
    result = await execute(
        "support-triage", {"message": "Checkout broken!", "email": "a@b.example"}, registry, vault
    )
    assert result.status == ExecutionStatus.SUCCEEDED, result.error
    assert result.outputs["category"] == "bug"
    alert, reply = result.steps["alert"].status, result.steps["reply"].status
    if urgent:
        assert (alert, reply) == (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
        assert "checkout is down" in fake.messages[0]["text"]
    else:
        assert (alert, reply) == (StepStatus.SKIPPED, StepStatus.SUCCEEDED)
        assert fake.messages == []


async def test_enrich_a_lead_into_hubspot(
    fake_llm: FakeLLM, registry: Registry, hubspot: tuple[FakeHubSpot, str]
) -> None:
    fake, base = hubspot
    enriched = {"firstname": "Ada", "lastname": "L", "company": "Engines", "jobtitle": "CTO"}
    fake_llm.script(Reply.say(json.dumps(enriched)))
    vault = {"hubspot": ("hubspot", {"token": fake.token, "base_url": base})}
    result = await execute(
        "enrich-lead-hubspot", {"email": "ada@engines.example", "notes": "CTO"}, registry, vault
    )
    assert result.status == ExecutionStatus.SUCCEEDED, result.error
    assert result.outputs == {"company": "Engines", "jobtitle": "CTO"}
    [contact] = fake.contacts.values()
    assert contact["properties"]["email"] == "ada@engines.example"
    assert contact["properties"]["jobtitle"] == "CTO"


async def test_daily_digest(
    fake_llm: FakeLLM, registry: Registry, pages: str, slack: tuple[FakeSlack, str]
) -> None:
    fake, base = slack
    fake_llm.script(Reply.say("- Python 4\n- Rusty cats"))
    vault = {"slack": ("slack", {"token": fake.token, "base_url": base})}
    result = await execute(
        "daily-digest", {"feed_url": f"{pages}/feed.json", "channel": "#general"}, registry, vault
    )
    assert result.status == ExecutionStatus.SUCCEEDED, result.error
    assert "Cats learn Rust" in fake_llm.bodies[0]
    assert "Rusty cats" in fake.messages[0]["text"]
