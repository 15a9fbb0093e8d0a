"""A fake HubSpot CRM v3 contacts API (create, search, update) with bearer-token auth.

Shapes follow HubSpot's: objects are ``{"id", "properties", "createdAt", "updatedAt",
"archived"}``; errors are ``{"status": "error", "message", "correlationId", "category"}``
with 401 ``INVALID_AUTHENTICATION``, 400 ``VALIDATION_ERROR`` (unknown property), 409
``CONFLICT`` (email taken), 404 ``OBJECT_NOT_FOUND`` and 429 ``RATE_LIMITS``.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

KNOWN_PROPERTIES = frozenset(
    {"email", "firstname", "lastname", "company", "phone", "website", "jobtitle", "lifecyclestage"}
)


@dataclass
class FakeHubSpot:
    """The fake portal: one valid token and its contacts by id; calls are recorded."""

    token: str = "pat-na1-test"
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    ratelimit_next: int = 0
    _ids: itertools.count = field(default_factory=lambda: itertools.count(101))

    @property
    def app(self) -> Starlette:
        base = "/crm/v3/objects/contacts"
        return Starlette(
            routes=[
                Route(base, self._create, methods=["POST"]),
                Route(f"{base}/search", self._search, methods=["POST"]),
                Route(base + "/{contact_id}", self._update, methods=["PATCH"]),
            ]
        )

    def add(self, **properties: str) -> dict[str, Any]:
        """Seed a contact, as if created earlier in HubSpot."""
        contact_id = str(next(self._ids))
        now = _now()
        self.contacts[contact_id] = {
            "id": contact_id,
            "properties": {**properties, "hs_object_id": contact_id, "createdate": now},
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
        }
        return self.contacts[contact_id]

    async def _guard(self, request: Request) -> tuple[dict[str, Any], JSONResponse | None]:
        self.calls.append((request.method, request.url.path))
        if self.ratelimit_next > 0:
            self.ratelimit_next -= 1
            return {}, _error(429, "RATE_LIMITS", "You have reached your secondly limit.")
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return {}, _error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        try:
            body = await request.json()
        except ValueError:
            return {}, _error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1")
        if not isinstance(body, dict):
            return {}, _error(400, "VALIDATION_ERROR", "Invalid input JSON")
        return body, None

    async def _search(self, request: Request) -> JSONResponse:
        body, refused = await self._guard(request)
        if refused:
            return refused
        filters = [
            item
            for group in body.get("filterGroups", [])
            for item in group.get("filters", [])
            if item.get("operator") == "EQ"
        ]
        results = [
            contact
            for contact in self.contacts.values()
            if all(
                str(contact["properties"].get(f["propertyName"], "")).lower()
                == str(f.get("value", "")).lower()
                for f in filters
            )
        ]
        return JSONResponse({"total": len(results), "results": results})

    async def _create(self, request: Request) -> JSONResponse:
        body, refused = await self._guard(request)
        if refused:
            return refused
        properties = body.get("properties") or {}
        invalid = _invalid(properties)
        if invalid:
            return invalid
        email = str(properties.get("email", "")).lower()
        for contact in self.contacts.values():
            if email and contact["properties"].get("email", "").lower() == email:
                return _error(
                    409, "CONFLICT", f"Contact already exists. Existing ID: {contact['id']}"
                )
        return JSONResponse(self.add(**properties), status_code=201)

    async def _update(self, request: Request) -> JSONResponse:
        body, refused = await self._guard(request)
        if refused:
            return refused
        contact = self.contacts.get(request.path_params["contact_id"])
        if contact is None:
            return _error(404, "OBJECT_NOT_FOUND", "resource not found")
        properties = body.get("properties") or {}
        invalid = _invalid(properties)
        if invalid:
            return invalid
        contact["properties"].update(properties)
        contact["properties"]["lastmodifieddate"] = contact["updatedAt"] = _now()
        return JSONResponse(contact)


def _invalid(properties: Any) -> JSONResponse | None:
    if not isinstance(properties, dict):
        return _error(400, "VALIDATION_ERROR", "properties must be an object")
    unknown = sorted(set(properties) - KNOWN_PROPERTIES)
    if unknown:
        return _error(
            400,
            "VALIDATION_ERROR",
            f'Property values were not valid: [{{"isValid":false,"message":"Property '
            f'\\"{unknown[0]}\\" does not exist","error":"PROPERTY_DOESNT_EXIST",'
            f'"name":"{unknown[0]}"}}]',
        )
    return None


def _error(status: int, category: str, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
        },
        status_code=status,
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
