"""hubspot.contact and the hubspot_contact tool against the fake HubSpot CRM v3 API."""

from __future__ import annotations

import pytest

from agentflow_app.engine.errors import NodeError, TransientError
from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes.hubspot import HubSpotContact, HubSpotContactTool
from tests.fakes.hubspot import FakeHubSpot
from tests.helpers.node_context import node_context, run_node


def _ctx(http: GuardedClient, base: str, token: str = "pat-na1-test", **kwargs):
    creds = {"crm": ("hubspot", {"token": token, "base_url": base})}
    return node_context(http=http, credentials=creds, **kwargs)


async def test_a_new_email_creates_a_contact(
    hubspot: tuple[FakeHubSpot, str], http: GuardedClient
) -> None:
    fake, base = hubspot
    ctx = _ctx(http, base, inputs={"first": "Ada"})
    out = await run_node(
        HubSpotContact,
        {
            "credential": "crm",
            "email": "ada@example.com",
            "properties": {"firstname": "{{ inputs.first }}", "company": "Analytical"},
        },
        ctx,
    )
    assert out["properties"]["email"] == "ada@example.com"
    assert out["properties"]["firstname"] == "Ada"
    stored = fake.contacts[out["id"]]["properties"]
    assert (stored["firstname"], stored["company"]) == ("Ada", "Analytical")
    assert [m for m, _ in fake.calls] == ["POST", "POST"]  # search, create


async def test_an_existing_email_updates_that_contact(
    hubspot: tuple[FakeHubSpot, str], http: GuardedClient
) -> None:
    fake, base = hubspot
    existing = fake.add(email="grace@example.com", firstname="Grace", company="Navy")
    out = await run_node(
        HubSpotContact,
        {"credential": "crm", "email": "Grace@Example.com", "properties": {"company": "Yale"}},
        _ctx(http, base),
    )
    assert out["id"] == existing["id"]
    assert len(fake.contacts) == 1
    assert fake.contacts[existing["id"]]["properties"]["company"] == "Yale"
    assert fake.contacts[existing["id"]]["properties"]["firstname"] == "Grace"
    assert fake.calls[-1] == ("PATCH", f"/crm/v3/objects/contacts/{existing['id']}")


async def test_running_twice_leaves_one_contact(
    hubspot: tuple[FakeHubSpot, str], http: GuardedClient
) -> None:
    fake, base = hubspot
    config = {"credential": "crm", "email": "x@example.com", "properties": {"lastname": "X"}}
    first = await run_node(HubSpotContact, config, _ctx(http, base))
    second = await run_node(HubSpotContact, config, _ctx(http, base))
    assert first["id"] == second["id"]
    assert len(fake.contacts) == 1
    assert HubSpotContact.idempotent and HubSpotContact.side_effects


async def test_a_wrong_token_is_permanent_and_says_to_check_it(
    hubspot: tuple[FakeHubSpot, str], http: GuardedClient
) -> None:
    _, base = hubspot
    with pytest.raises(NodeError) as caught:
        await run_node(
            HubSpotContact,
            {"credential": "crm", "email": "a@example.com"},
            _ctx(http, base, token="pat-wrong"),
        )
    assert not isinstance(caught.value, TransientError)
    assert str(caught.value).startswith(
        "hubspot.contact: HubSpot could not search the contact (401 INVALID_AUTHENTICATION): "
        "Authentication credentials not found."
    )
    assert str(caught.value).endswith("(check the token in the credential)")


async def test_an_unknown_property_is_reported_with_hubspots_message(
    hubspot: tuple[FakeHubSpot, str], http: GuardedClient
) -> None:
    fake, base = hubspot
    with pytest.raises(
        NodeError, match=r"could not create the contact \(400 VALIDATION_ERROR\).*favourite_colour"
    ):
        await run_node(
            HubSpotContact,
            {
                "credential": "crm",
                "email": "a@example.com",
                "properties": {"favourite_colour": "teal"},
            },
            _ctx(http, base),
        )
    assert fake.contacts == {}


async def test_rate_limits_are_transient(
    hubspot: tuple[FakeHubSpot, str], http: GuardedClient
) -> None:
    fake, base = hubspot
    fake.ratelimit_next = 1
    with pytest.raises(TransientError, match="429 RATE_LIMITS"):
        await run_node(
            HubSpotContact, {"credential": "crm", "email": "a@example.com"}, _ctx(http, base)
        )


async def test_a_bad_email_is_refused_before_calling_hubspot(
    hubspot: tuple[FakeHubSpot, str], http: GuardedClient
) -> None:
    fake, base = hubspot
    with pytest.raises(NodeError, match="'not-an-email' is not an email address"):
        await run_node(
            HubSpotContact, {"credential": "crm", "email": "not-an-email"}, _ctx(http, base)
        )
    assert fake.calls == []


async def test_the_tool_upserts_with_the_agent_nodes_credential(
    hubspot: tuple[FakeHubSpot, str], http: GuardedClient
) -> None:
    fake, base = hubspot
    ctx = _ctx(http, base, services={"tool_credentials": {"hubspot_contact": "crm"}})
    args = HubSpotContactTool.Args(email="t@example.com", properties={"jobtitle": "CTO"})
    out = await HubSpotContactTool().run(ctx, args)
    assert fake.contacts[out["id"]]["properties"]["jobtitle"] == "CTO"
