"""Credential kinds: the fields each one holds, which of them are secret, how they validate.

A credential's value is a small JSON object whose shape depends on its kind. There is one
model per kind, and it is used both ways:

* when a credential is saved (:func:`parse_value`): a missing token is reported by field,
  at the form, not at run time;
* when a node reads one at run time (:meth:`CredentialKind.from_stored`, through
  ``agentflow_app.nodes.credentials.load_credential``): the node gets this same model,
  typed, so what was accepted on save is exactly what the node can use.

The models also say which fields are secret: those are masked in lists (the hint), never
sent back, and redacted from outputs. The LLM providers read the raw value's fields
(``api_key``, ``access_key_id``/``secret_access_key``/``session_token``/``region``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Self, get_args, get_origin

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticUndefined

from agentflow_app.errors import InvalidInput

#: Lists show at most this many trailing characters of a secret, and only of a long one.
HINT_TAIL = 4
HINT_MIN_LENGTH = 12
MASK = "••••"


def _check_base_url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


#: An optional http(s) base URL; empty means the service's default.
BaseUrl = Annotated[str | None, AfterValidator(_check_base_url)]


def _check_ascii(value: str | None) -> str | None:
    if value is not None and not all(" " <= c <= "~" for c in value):
        raise ValueError(
            "may hold only printable ASCII characters (it is sent in a request header or "
            "a login); check for a character pasted along with it"
        )
    return value


#: A value sent in an HTTP header or an SMTP login (a key, a token, an AWS secret): the
#: HTTP clients and smtplib encode these as ASCII, so any other character would make every
#: request with the credential fail. Refused where it enters, naming the field.
HeaderText = Annotated[str, AfterValidator(_check_ascii)]

#: The services' own API base URLs, used when a credential leaves ``base_url`` empty.
SLACK_API = "https://slack.com/api"
HUBSPOT_API = "https://api.hubapi.com"


def _sender_field(description: str) -> Any:
    """``from_address``, which also answers to ``from`` (the header it fills).

    Both spellings are accepted on save and on read, and the value is always stored and
    shown as ``from_address``; giving both at once is refused as an unknown field.
    """
    return Field(
        min_length=3,
        max_length=320,
        validation_alias=AliasChoices("from_address", "from"),
        description=description,
    )


class CredentialKind(BaseModel):
    """Base of every kind: unknown fields are refused, strings trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    #: Kind id, stored in ``credentials.kind``.
    kind: ClassVar[str]
    label: ClassVar[str]
    #: Fields whose values are secret, the first one giving the list hint.
    secret_fields: ClassVar[tuple[str, ...]]

    def secrets(self) -> dict[str, str]:
        """The secret fields that are set, by field name."""
        return {
            name: value
            for name in self.secret_fields
            if isinstance(value := getattr(self, name, None), str) and value
        }

    def hint(self) -> str:
        """The masked tail shown in lists: ``••••1234``, or ``••••`` for a short secret."""
        for value in self.secrets().values():
            if len(value) >= HINT_MIN_LENGTH:
                return MASK + value[-HINT_TAIL:]
            return MASK
        return ""

    def stored(self) -> dict[str, Any]:
        """The value as stored and handed to nodes (unset optional fields left out)."""
        return self.model_dump(exclude_none=True)

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> Self:
        """Validate a value read back at run time, with the same rules as on save.

        Every rule of the kind applies, so a node never works with a value the form would
        have refused. That is stricter than the nodes' old read models (which, for one,
        let basic auth go without a password), and safe: every stored value was saved
        through :func:`parse_value` under these same rules.

        The one leniency: keys that are not fields of the kind are dropped instead of
        refused. A value comes back with the provider's ``kind`` beside its fields, and a
        field a later version removes must not make every credential saved before it
        unreadable (the save path still refuses unknown fields).

        Raises:
            pydantic.ValidationError: a field missing or malformed; ``loc`` names it.
        """
        known = set(cls.model_fields)
        for info in cls.model_fields.values():
            if isinstance(info.validation_alias, AliasChoices):
                known.update(c for c in info.validation_alias.choices if isinstance(c, str))
        return cls.model_validate({k: v for k, v in data.items() if k in known})


class AnthropicKind(CredentialKind):
    kind = "anthropic"
    label = "Anthropic"
    secret_fields = ("api_key",)

    api_key: HeaderText = Field(min_length=1, description="API key, sk-ant-…")


class OpenAIKind(CredentialKind):
    kind = "openai"
    label = "OpenAI"
    secret_fields = ("api_key",)

    api_key: HeaderText = Field(min_length=1, description="API key, sk-…")
    base_url: BaseUrl = Field(
        default=None, description="API base URL of a compatible gateway (optional)"
    )


class AwsKind(CredentialKind):
    """Access keys, or the worker's default chain (instance role, environment)."""

    kind = "aws"
    label = "AWS"
    secret_fields = ("secret_access_key", "session_token")

    region: str = Field(min_length=1, max_length=40, description="AWS region, e.g. eu-west-1")
    use_default_chain: bool = Field(
        default=False, description="Use the worker's own AWS credentials instead of keys"
    )
    access_key_id: HeaderText | None = Field(default=None, description="Access key id, AKIA…")
    secret_access_key: HeaderText | None = Field(default=None, description="Secret access key")
    session_token: HeaderText | None = Field(default=None, description="Session token (optional)")

    @model_validator(mode="after")
    def _keys_or_chain(self) -> AwsKind:
        given = [n for n in ("access_key_id", "secret_access_key") if getattr(self, n)]
        if self.use_default_chain:
            if given or self.session_token:
                raise ValueError("give either access keys or use_default_chain, not both")
        elif len(given) < 2:
            raise ValueError(
                "access_key_id and secret_access_key are required (or set use_default_chain)"
            )
        return self


class SlackKind(CredentialKind):
    """A Slack bot token; ``base_url`` points elsewhere for tests or a proxy.

    ``base_url`` is empty unless the user gave one (so the stored value and the form stay
    free of a default that could change); :attr:`api_url` is the URL to call.
    """

    kind = "slack"
    label = "Slack"
    secret_fields = ("token",)

    token: HeaderText = Field(min_length=1, description="Bot token, xoxb-…")
    base_url: BaseUrl = Field(default=None, description="Slack Web API base URL (optional)")

    @property
    def api_url(self) -> str:
        """``base_url``, or Slack's own Web API when none was given."""
        return self.base_url or SLACK_API


class HubSpotKind(CredentialKind):
    """A HubSpot private-app access token; ``base_url`` as for :class:`SlackKind`."""

    kind = "hubspot"
    label = "HubSpot"
    secret_fields = ("token",)

    token: HeaderText = Field(min_length=1, description="Private app access token, pat-…")
    base_url: BaseUrl = Field(default=None, description="HubSpot API base URL (optional)")

    @property
    def api_url(self) -> str:
        """``base_url``, or HubSpot's own API when none was given."""
        return self.base_url or HUBSPOT_API


class SmtpKind(CredentialKind):
    kind = "smtp"
    label = "SMTP"
    secret_fields = ("password",)

    host: str = Field(min_length=1, max_length=253, description="Server host name")
    port: int = Field(default=587, ge=1, le=65535, description="Server port")
    username: HeaderText | None = Field(default=None, description="Login user (optional)")
    password: HeaderText | None = Field(default=None, description="Login password (optional)")
    tls: Literal["none", "starttls", "ssl"] = Field(default="starttls", description="Encryption")
    from_address: str = _sender_field("Sender address")

    @model_validator(mode="after")
    def _password_needs_user(self) -> SmtpKind:
        if self.password and not self.username:
            raise ValueError("a password needs a username")
        if "@" not in self.from_address:
            raise ValueError("from_address must be an email address")
        return self


class SesKind(CredentialKind):
    """Amazon SES: a region and either an aws credential's name, inline keys, or neither
    (the worker's default chain)."""

    kind = "ses"
    label = "Amazon SES"
    secret_fields = ("secret_access_key", "session_token")

    region: str = Field(min_length=1, max_length=40, description="AWS region, e.g. eu-west-1")
    from_address: str = _sender_field("Verified sender")
    aws_credential: str | None = Field(
        default=None, description="Name of an aws credential holding the keys (optional)"
    )
    access_key_id: HeaderText | None = Field(default=None, description="Access key id (optional)")
    secret_access_key: HeaderText | None = Field(default=None, description="Secret access key")
    session_token: HeaderText | None = Field(default=None, description="Session token (optional)")
    endpoint_url: BaseUrl = Field(default=None, description="Custom SES endpoint (optional)")

    @model_validator(mode="after")
    def _one_source(self) -> SesKind:
        inline = [n for n in ("access_key_id", "secret_access_key") if getattr(self, n)]
        if self.aws_credential and (inline or self.session_token):
            raise ValueError("give either aws_credential or inline keys, not both")
        if len(inline) == 1:
            raise ValueError("inline keys need both access_key_id and secret_access_key")
        if "@" not in self.from_address:
            raise ValueError("from_address must be an email address")
        return self


_SCHEME_FIELDS: dict[str, tuple[str, ...]] = {
    "bearer": ("token",),
    "basic": ("username", "password"),
    "header": ("header_name", "header_value"),
}


class HttpKind(CredentialKind):
    """Authentication for ``http.request``: bearer token, basic auth or one custom header.

    Basic auth needs a username and a password, on save and on read alike. Nothing could
    ever save one without a password, so no stored credential lacks it; a hand-built value
    without one (``StaticCredentials``) is refused by name before any request goes out.
    """

    kind = "http"
    label = "HTTP"
    secret_fields = ("token", "password", "header_value")

    scheme: Literal["bearer", "basic", "header"] = Field(
        default="bearer", description="How the request is authenticated"
    )
    token: HeaderText | None = Field(default=None, description="Bearer token (scheme bearer)")
    username: str | None = Field(default=None, description="User name (scheme basic)")
    password: str | None = Field(default=None, description="Password (scheme basic)")
    header_name: str | None = Field(default=None, description="Header name (scheme header)")
    header_value: HeaderText | None = Field(
        default=None, description="Header value (scheme header)"
    )

    @model_validator(mode="after")
    def _complete(self) -> HttpKind:
        needed = _SCHEME_FIELDS[self.scheme]
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"scheme {self.scheme} needs {' and '.join(missing)}")
        stray = [
            name
            for scheme, names in _SCHEME_FIELDS.items()
            if scheme != self.scheme
            for name in names
            if getattr(self, name)
        ]
        if stray:
            raise ValueError(f"scheme {self.scheme} does not use {', '.join(stray)}")
        if self.header_name and not _is_token(self.header_name):
            raise ValueError("header_name is not a valid HTTP header name")
        return self

    def headers(self) -> dict[str, str]:
        """The request headers that carry this credential."""
        if self.scheme == "bearer":
            return {"Authorization": f"Bearer {self.token}"}
        if self.scheme == "basic":
            pair = f"{self.username}:{self.password}".encode()
            return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
        return {str(self.header_name): str(self.header_value)}


def _parse_headers(value: Any) -> Any:
    """Headers as an object, or typed in the form as JSON or ``Name: value`` lines."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError('must be a JSON object, e.g. {"X-Api-Key": "…"}') from None
    pairs: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, header_value = line.partition(":")
        if not sep:
            raise ValueError("write one Name: value per line, or a JSON object")
        pairs[name.strip()] = header_value.strip()
    return pairs


class McpKind(CredentialKind):
    """An MCP server on the streamable HTTP transport (SPEC §12).

    ``token`` is sent as ``Authorization: Bearer``; ``headers`` carry any other key the
    server wants. Both are secret: redacted from outputs and never shown again.
    """

    kind = "mcp"
    label = "MCP server"
    secret_fields = ("token", "headers")

    url: str = Field(
        min_length=10, max_length=2000, description="Streamable HTTP endpoint, https://…/mcp"
    )
    headers: Annotated[dict[str, HeaderText], BeforeValidator(_parse_headers)] = Field(
        default_factory=dict,
        description='Extra request headers (optional): JSON, e.g. {"X-Api-Key": "…"}',
    )
    token: HeaderText | None = Field(default=None, description="Bearer token (optional)")

    @model_validator(mode="after")
    def _check(self) -> McpKind:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError("url must be an http:// or https:// URL")
        bad = [name for name in self.headers if not _is_token(name)]
        if bad:
            raise ValueError(f"headers: {', '.join(map(repr, bad))} is not a valid header name")
        if self.token and any(name.lower() == "authorization" for name in self.headers):
            raise ValueError("give either token or an Authorization header, not both")
        return self

    def secrets(self) -> dict[str, str]:
        """The token and every header value (an API key header is as secret as a token)."""
        found = {f"headers.{name}": value for name, value in self.headers.items() if value}
        if self.token:
            found["token"] = self.token
        return found

    def request_headers(self) -> dict[str, str]:
        """The headers every request to the server carries."""
        headers = dict(self.headers)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


def _is_token(name: str) -> bool:
    return bool(name) and all(c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~") for c in name)


#: Every kind by id, in the order the UI offers them.
KINDS: dict[str, type[CredentialKind]] = {
    model.kind: model
    for model in (
        AnthropicKind,
        OpenAIKind,
        AwsKind,
        SlackKind,
        HubSpotKind,
        SmtpKind,
        SesKind,
        HttpKind,
        McpKind,
    )
}


def kind_model(kind: str) -> type[CredentialKind]:
    """The model of ``kind``.

    Raises:
        InvalidInput: an unknown kind, listing the known ones.
    """
    model = KINDS.get(kind)
    if model is None:
        raise InvalidInput(
            f"unknown credential kind {kind!r}; use one of {', '.join(KINDS)}",
            [{"field": "kind", "message": f"unknown kind; use one of {', '.join(KINDS)}"}],
        )
    return model


def parse_value(kind: str, data: Any) -> CredentialKind:
    """Validate ``data`` as a value of ``kind``.

    Messages name the field (``data.api_key``) and never echo the value typed.

    Raises:
        InvalidInput: with one ``{field, message}`` problem per mistake.
    """
    model = kind_model(kind)
    if not isinstance(data, dict):
        raise InvalidInput(
            "the credential value must be an object of fields",
            [{"field": "data", "message": "must be an object of fields"}],
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            {
                "field": ".".join(["data", *(str(p) for p in err["loc"])]),
                "message": _message(err),
            }
            for err in exc.errors(include_input=False, include_url=False)
        ]
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        raise InvalidInput(
            f"the {model.label} credential is not valid: {summary}", problems
        ) from None


def _message(err: dict[str, Any]) -> str:
    if err["type"] == "extra_forbidden":
        return "is not a field of this kind"
    message = str(err["msg"])
    return message.removeprefix("Value error, ")


class FormField(BaseModel):
    """How the credentials page draws one field of a kind's form."""

    name: str
    label: str
    help: str
    required: bool
    secret: bool
    #: ``text``, ``password``, ``number``, ``checkbox`` or ``select``.
    widget: str
    choices: list[str] = []
    default: str = ""


def form_fields(kind: str) -> list[FormField]:
    """The fields of ``kind``'s form, in declaration order, described for the UI."""
    model = kind_model(kind)
    fields = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        choices = (
            [str(c) for c in get_args(annotation)] if get_origin(annotation) is Literal else []
        )
        if choices:
            widget = "select"
        elif annotation is bool:
            widget = "checkbox"
        elif annotation is int:
            widget = "number"
        else:
            widget = "password" if name in model.secret_fields else "text"
        default = info.default if info.default not in (None, PydanticUndefined) else ""
        fields.append(
            FormField(
                name=name,
                label=name.replace("_", " ").capitalize(),
                help=info.description or "",
                required=info.is_required(),
                secret=name in model.secret_fields,
                widget=widget,
                choices=choices,
                default="" if isinstance(default, bool) else str(default),
            )
        )
    return fields
