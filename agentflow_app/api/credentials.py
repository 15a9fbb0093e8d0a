"""``/api/credentials``: write-only credentials (SPEC §9, §11).

Thin: parse, call ``services.credentials`` (which checks ownership), serialize. Answers
never include the value. Bodies are taken as plain JSON and validated by the service, not
by FastAPI's request validation, whose 422 answers quote the input back (the secret, for a
value of the wrong shape).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from agentflow_app.api.deps import CurrentUser, ObjectId
from agentflow_app.api.errors import ErrorDetail
from agentflow_app.errors import InvalidInput
from agentflow_app.secrets.checks import CheckResult
from agentflow_app.secrets.kinds import KINDS
from agentflow_app.services import credentials
from agentflow_app.services.credentials import CredentialView

router = APIRouter(prefix="/credentials", tags=["credentials"])

_NEW_EXAMPLE = {
    "name": "anthropic-prod",
    "kind": "anthropic",
    "data": {"api_key": "sk-ant-api03-x"},
}
NewCredential = Annotated[
    Any,
    Body(
        description=f"`{{name, kind, data}}`; kind is one of {', '.join(KINDS)}, data its fields.",
        examples=[_NEW_EXAMPLE],
        json_schema_extra={
            "type": "object",
            "required": ["name", "kind", "data"],
            "properties": {
                "name": {"type": "string"},
                "kind": {"type": "string", "enum": list(KINDS)},
                "data": {"type": "object"},
            },
        },
    ),
]
NewValue = Annotated[
    Any,
    Body(
        description="`{data}`: the new value, with the fields of the credential's kind.",
        examples=[{"data": {"api_key": "sk-ant-api03-x"}}],
        json_schema_extra={
            "type": "object",
            "required": ["data"],
            "properties": {"data": {"type": "object"}},
        },
    ),
]


def _object(payload: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise InvalidInput(
            f"send a JSON object with {', '.join(keys)}",
            [{"field": "body", "message": f"must be an object with {', '.join(keys)}"}],
        )
    missing = [key for key in keys if key not in payload]
    if missing:
        raise InvalidInput(
            f"missing {', '.join(missing)}",
            [{"field": key, "message": "is required"} for key in missing],
        )
    return payload


_NAME_TAKEN: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorDetail, "description": "a credential of yours has that name"}
}


@router.get("", response_model=list[CredentialView])
def list_credentials(user: CurrentUser) -> list[CredentialView]:
    """Your credentials: name, kind, dates, masked hint and the workflows using each."""
    return credentials.list_credentials(user)


@router.post("", response_model=CredentialView, status_code=201, responses=_NAME_TAKEN)
def create_credential(user: CurrentUser, payload: NewCredential) -> CredentialView:
    """Add a credential; 409 when you already have one of that name."""
    body = _object(payload, ("name", "kind", "data"))
    return credentials.create_credential(user, body["name"], str(body["kind"]), body["data"])


@router.get("/{credential_id}", response_model=CredentialView)
def get_credential(user: CurrentUser, credential_id: ObjectId) -> CredentialView:
    """One credential (never its value)."""
    return credentials.get_credential(user, credential_id)


@router.put("/{credential_id}", response_model=CredentialView, responses=_NAME_TAKEN)
def replace_credential(
    user: CurrentUser, credential_id: ObjectId, payload: NewValue
) -> CredentialView:
    """Replace the value; the name and kind stay."""
    body = _object(payload, ("data",))
    return credentials.replace_credential(user, credential_id, body["data"])


@router.delete("/{credential_id}", status_code=204)
def delete_credential(user: CurrentUser, credential_id: ObjectId) -> Response:
    """Delete it (workflows naming it fail validation until they name another)."""
    credentials.delete_credential(user, credential_id)
    return Response(status_code=204)


@router.post("/{credential_id}/test", response_model=CheckResult)
async def test_credential(user: CurrentUser, credential_id: ObjectId) -> CheckResult:
    """Make the cheapest authenticated call for its kind; ``ok`` says whether it worked."""
    return await credentials.check_credential(user, credential_id)
