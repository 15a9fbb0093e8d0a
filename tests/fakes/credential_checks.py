"""Fakes of the calls the Test button makes, speaking each service's real wire format.

Anthropic ``GET /v1/models`` (``x-api-key``), OpenAI ``GET /v1/models`` (Bearer), Slack
``POST /auth.test`` (HTTP 200 with ``ok``), HubSpot ``GET /crm/v3/objects/contacts``
(Bearer; 401 with a JSON error). The Slack fake quotes the token it was given in its
error, as a careless service might, so the tests can see the answer redacted.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def _bearer(request: Request) -> str:
    return request.headers.get("authorization", "").removeprefix("Bearer ")


def anthropic_app(key: str) -> Starlette:
    async def models(request: Request) -> JSONResponse:
        if request.headers.get("x-api-key") != key:
            error = {"type": "authentication_error", "message": "invalid x-api-key"}
            return JSONResponse({"type": "error", "error": error}, status_code=401)
        return JSONResponse({"data": [{"id": "claude-sonnet-4-5", "type": "model"}]})

    return Starlette(routes=[Route("/v1/models", models)])


def openai_app(key: str) -> Starlette:
    async def models(request: Request) -> JSONResponse:
        if _bearer(request) != key:
            error = {"message": "Incorrect API key provided", "code": "invalid_api_key"}
            return JSONResponse({"error": error}, status_code=401)
        return JSONResponse({"object": "list", "data": [{"id": "gpt-4o-mini"}]})

    return Starlette(routes=[Route("/v1/models", models)])


def slack_app(token: str) -> Starlette:
    async def auth_test(request: Request) -> JSONResponse:
        given = _bearer(request)
        if given != token:
            return JSONResponse({"ok": False, "error": f"invalid_auth ({given})"})
        return JSONResponse({"ok": True, "user": "agentbot", "team": "Acme"})

    return Starlette(routes=[Route("/auth.test", auth_test, methods=["POST"])])


def hubspot_app(token: str) -> Starlette:
    async def contacts(request: Request) -> JSONResponse:
        if _bearer(request) != token:
            return JSONResponse(
                {"status": "error", "category": "INVALID_AUTHENTICATION"}, status_code=401
            )
        return JSONResponse({"results": [], "paging": None})

    return Starlette(routes=[Route("/crm/v3/objects/contacts", contacts)])
