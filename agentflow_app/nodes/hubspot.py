"""``hubspot.contact`` and the agent tool ``hubspot_contact``: upsert a contact by email.

CRM v3 has no upsert by email for contacts, so this searches by email, then updates the
contact it found or creates one. A create that loses a race with another writer gets 409
with the existing id and becomes an update. Running it twice leaves the same contact, so
the step counts as idempotent (SPEC §7).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from agentflow_app.engine.errors import NodeError, TransientError
from agentflow_app.engine.node import Node, NodeConfig, RunContext, TemplateStr, Tool
from agentflow_app.net.client import GuardedResponse
from agentflow_app.nodes.credentials import load_credential
from agentflow_app.nodes.remote import (
    as_text,
    excerpt,
    is_transient_status,
    retry_after_s,
    send,
    status_error,
)
from agentflow_app.secrets.kinds import HubSpotKind

CONTACTS = "/crm/v3/objects/contacts"
_EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)")


def _hubspot_error(where: str, response: GuardedResponse, action: str) -> Exception:
    """HubSpot's own message and category when it sent them, else the status and body."""
    body = _json_or_none(response)
    if not (isinstance(body, dict) and body.get("message")):
        return status_error(where, response, f"HubSpot ({action} contact)")
    category = body.get("category") or "error"
    text = (
        f"{where}: HubSpot could not {action} the contact "
        f"({response.status_code} {category}): {excerpt(str(body['message']))}"
    )
    if response.status_code == 401:
        text += " (check the token in the credential)"
    if is_transient_status(response.status_code):
        return TransientError(text, retry_after=retry_after_s(response.headers))
    return NodeError(text)


def _json_or_none(response: GuardedResponse) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _reply(where: str, response: GuardedResponse) -> dict[str, Any]:
    body = _json_or_none(response)
    if not isinstance(body, dict):
        raise NodeError(f"{where}: HubSpot answered something unexpected: {excerpt(response.text)}")
    return body


async def upsert_contact(
    ctx: RunContext, where: str, credential: str | None, email: Any, properties: dict[str, Any]
) -> dict[str, Any]:
    """Create or update the contact with ``email``; returns HubSpot's reply (the contact).

    Raises:
        NodeError: a bad email, a refused token or property (HubSpot's message).
        TransientError: rate limits and HubSpot server errors.
    """
    cred = await load_credential(ctx, where, credential, ("hubspot",))
    assert isinstance(cred, HubSpotKind)
    address = as_text(email).strip()
    if "@" not in address:
        raise NodeError(f"{where}: {address!r} is not an email address")
    values = {str(name): as_text(value) for name, value in properties.items()}
    values.pop("email", None)
    base = cred.api_url + CONTACTS
    headers = {"Authorization": f"Bearer {cred.token}"}

    search = {
        "filterGroups": [
            {"filters": [{"propertyName": "email", "operator": "EQ", "value": address}]}
        ],
        "properties": ["email", *values],
        "limit": 1,
    }
    found = await send(ctx, where, "POST", f"{base}/search", headers=headers, json=search)
    if found.status_code >= 400:
        raise _hubspot_error(where, found, "search")
    results = _reply(where, found).get("results") or []
    contact_id = str(results[0]["id"]) if results else None

    if contact_id is None:
        created = await send(
            ctx,
            where,
            "POST",
            base,
            headers=headers,
            json={"properties": {"email": address, **values}},
        )
        if created.status_code < 400:
            contact = _reply(where, created)
            await ctx.log(f"created HubSpot contact {contact.get('id')}", email=address)
            return contact
        existing = _EXISTING_ID.search(created.text) if created.status_code == 409 else None
        if existing is None:
            raise _hubspot_error(where, created, "create")
        contact_id = existing.group(1)

    updated = await send(
        ctx, where, "PATCH", f"{base}/{contact_id}", headers=headers, json={"properties": values}
    )
    if updated.status_code >= 400:
        raise _hubspot_error(where, updated, "update")
    await ctx.log(f"updated HubSpot contact {contact_id}", email=address)
    return _reply(where, updated)


class HubSpotContact(Node):
    type = "hubspot.contact"
    label = "HubSpot contact"
    icon = "contact"
    category = "Integrations"
    description = "Creates or updates a HubSpot contact, matched by email."
    side_effects = True
    idempotent = True  # an upsert: running it again leaves the same contact

    class Config(NodeConfig):
        credential: str = Field(
            description="HubSpot credential (private app token)",
            json_schema_extra={"credential_kinds": ["hubspot"]},
        )
        email: TemplateStr = Field(description="The contact's email; templates allowed")
        properties: dict[str, TemplateStr] = Field(
            default_factory=dict,
            description="HubSpot property names (firstname, company, …) and values",
        )

    async def run(self, ctx: RunContext, config: Config) -> dict[str, Any]:
        return await upsert_contact(
            ctx, self.type, config.credential, config.email, config.properties
        )


class HubSpotContactTool(Tool):
    """Upserts a HubSpot contact with the credential the agent node names for this tool."""

    id = "hubspot_contact"
    label = "HubSpot contact"
    description = (
        "Create or update a HubSpot contact by email. Properties are HubSpot internal "
        "names such as firstname, lastname, company, phone, jobtitle."
    )
    side_effects = True
    credential_kinds: ClassVar[tuple[str, ...]] = ("hubspot",)

    class Args(BaseModel):
        email: str = Field(description="The contact's email address")
        properties: dict[str, str] = Field(
            default_factory=dict, description="Property name → value"
        )

    async def run(self, ctx: RunContext, args: Args) -> dict[str, Any]:
        credential = ctx.services.get("tool_credentials", {}).get(self.id)
        return await upsert_contact(ctx, self.id, credential, args.email, args.properties)
