"""Credential kinds the built-in nodes use, and a dict-backed provider for tests and the CLI.

A node never sees where credentials are kept: it asks ``ctx.credentials.get(name, kinds)``
(:class:`~agentflow_app.engine.node.CredentialProvider`). The answer is a dict holding the
credential's ``kind`` and its fields; :func:`load_credential` validates it against the
pydantic model of its kind below, so a missing field is reported by name before any
request goes out. The same models describe the credential forms in the UI.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentflow_app.engine.errors import NodeError
from agentflow_app.engine.node import RunContext
from agentflow_app.errors import CredentialError


class _Credential(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class HttpCredential(_Credential):
    """Authentication for ``http.request``: a bearer token, basic auth or one custom header."""

    scheme: Literal["bearer", "basic", "header"] = "bearer"
    token: str = Field(default="", description="Bearer token (scheme bearer)")
    username: str = Field(default="", description="User name (scheme basic)")
    password: str = Field(default="", description="Password (scheme basic)")
    header_name: str = Field(default="", description="Header name, e.g. X-Api-Key (scheme header)")
    header_value: str = Field(default="", description="Header value (scheme header)")

    @model_validator(mode="after")
    def _complete(self) -> HttpCredential:
        needed = {
            "bearer": ("token",),
            "basic": ("username",),
            "header": ("header_name", "header_value"),
        }[self.scheme]
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"scheme {self.scheme} needs {' and '.join(missing)}")
        return self

    def headers(self) -> dict[str, str]:
        """The request headers that carry this credential."""
        if self.scheme == "bearer":
            return {"Authorization": f"Bearer {self.token}"}
        if self.scheme == "basic":
            pair = f"{self.username}:{self.password}".encode()
            return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
        return {self.header_name: self.header_value}


class SlackCredential(_Credential):
    """A Slack bot token (``xoxb-…``); ``base_url`` points elsewhere for tests or a proxy."""

    token: str = Field(min_length=1, description="Bot token, xoxb-…")
    base_url: str = Field(default="https://slack.com/api", description="Slack Web API base URL")


class HubSpotCredential(_Credential):
    """A HubSpot private-app access token."""

    token: str = Field(min_length=1, description="Private app access token, pat-…")
    base_url: str = Field(default="https://api.hubapi.com", description="HubSpot API base URL")


class SmtpCredential(_Credential):
    """An SMTP account."""

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    username: str = ""
    password: str = ""
    tls: Literal["none", "starttls", "ssl"] = "starttls"
    from_address: str = Field(alias="from", min_length=3, description="Sender address")


class SesCredential(_Credential):
    """Amazon SES; without keys, boto3's default chain (instance role, environment) is used."""

    region: str = Field(min_length=1, description="AWS region, e.g. eu-west-1")
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    from_address: str = Field(alias="from", min_length=3, description="Verified sender address")
    endpoint_url: str | None = Field(default=None, description="Custom SES endpoint (tests)")


#: Every credential kind the built-in nodes understand, by kind name.
CREDENTIAL_KINDS: dict[str, type[_Credential]] = {
    "http": HttpCredential,
    "slack": SlackCredential,
    "hubspot": HubSpotCredential,
    "smtp": SmtpCredential,
    "ses": SesCredential,
}


class StaticCredentials:
    """A :class:`CredentialProvider` over a dict, for tests, the CLI and examples.

    Args:
        credentials: ``{name: (kind, fields)}``.
    """

    def __init__(self, credentials: Mapping[str, tuple[str, Mapping[str, Any]]]) -> None:
        self._credentials = {name: (kind, dict(data)) for name, (kind, data) in credentials.items()}

    async def get(self, name: str, kinds: tuple[str, ...]) -> dict[str, Any]:
        """The fields of credential ``name`` plus its ``kind``.

        Raises:
            CredentialError: when it does not exist or is not one of ``kinds``.
        """
        if name not in self._credentials:
            raise CredentialError(
                f"there is no credential named {name!r}; add it under Credentials"
            )
        kind, data = self._credentials[name]
        if kinds and kind not in kinds:
            raise CredentialError(
                f"credential {name!r} is a {kind} credential; this needs {' or '.join(kinds)}"
            )
        return {**data, "kind": kind}


async def load_credential(
    ctx: RunContext, where: str, name: str | None, kinds: tuple[str, ...]
) -> _Credential:
    """Fetch credential ``name`` and validate it against the model of its kind.

    Args:
        where: what asks, for messages (``slack.message``).

    Raises:
        NodeError: no name given, unknown, wrong kind, or a field missing or malformed.
    """
    if not name:
        raise NodeError(f"{where}: choose a credential ({' or '.join(kinds)})")
    try:
        data = await ctx.credentials.get(name, kinds)
    except CredentialError as exc:
        raise NodeError(f"{where}: {exc}") from None
    kind = str(data.get("kind") or kinds[0])
    if kind not in kinds:
        raise NodeError(f"{where}: credential {name!r} is a {kind} credential")
    try:
        return CREDENTIAL_KINDS[kind].model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}"
            for err in exc.errors()
        )
        raise NodeError(
            f"{where}: credential {name!r} ({kind}) is incomplete: {problems}"
        ) from None
