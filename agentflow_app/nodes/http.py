"""``http.request`` and the agent tool ``http_request``: one HTTP call through the guard.

The URL is user-supplied, so the request goes through ``ctx.http`` (the SSRF-guarded
client: every hop resolved and checked, redirects included). A 429 or 5xx answer is
transient (retried, honouring ``Retry-After``); another 4xx fails the step with the status
and the start of the body, since sending the same request again would get the same answer.

Idempotency (SPEC §7, a step in flight when its worker died): GET, HEAD, OPTIONS, PUT and
DELETE are idempotent by HTTP's definition (RFC 9110 §9.2.2) and are sent again; POST and
PATCH are not, so such a step fails as "may have been sent" and the user decides.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, Field, field_validator

from agentflow_app.engine.errors import NodeError
from agentflow_app.engine.node import Node, NodeConfig, RunContext, TemplateJSON, TemplateStr, Tool
from agentflow_app.files.refs import is_ref
from agentflow_app.files.sniff import is_textual
from agentflow_app.net.guard import redact_url
from agentflow_app.nodes.credentials import load_credential
from agentflow_app.nodes.remote import as_text, send, status_error
from agentflow_app.secrets.kinds import HttpKind

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: The largest file a request sends (the response side is capped by the guarded client).
MAX_FILE_SENT = 50 * 1024 * 1024
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _check_header_names(headers: dict[str, Any]) -> dict[str, Any]:
    for name in headers:
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid header name")
    return headers


async def perform_request(
    ctx: RunContext,
    where: str,
    *,
    method: str,
    url: Any,
    headers: dict[str, Any],
    query: dict[str, Any],
    body: Any,
    credential: str | None,
    timeout_s: float | None,
    files: dict[str, Any] | None = None,
    response_file: str = "never",
) -> dict[str, Any]:
    """Send one request and shape the answer as ``{status, headers, body}``.

    Template fields arrive rendered but untyped (a header may have rendered to a number),
    so values are turned into text here. A string body is sent as is, a file as its bytes
    (with its media type), anything else as JSON; with ``files``, the request is a
    multipart form of those files and the body object's fields.

    Raises:
        NodeError: refused URL, 4xx answer, bad credential, oversized body.
        TransientError: 429, 5xx, timeout, connection failure.
    """
    request_headers = {str(name): as_text(value) for name, value in headers.items()}
    params = {
        str(name): [as_text(v) for v in value] if isinstance(value, list) else as_text(value)
        for name, value in query.items()
    }
    secret_headers: list[str] = []
    if credential:
        cred = await load_credential(ctx, where, credential, ("http",))
        assert isinstance(cred, HttpKind)
        auth = cred.headers()
        request_headers.update(auth)
        secret_headers = list(auth)
    payload: dict[str, Any] = {}
    if files:
        payload["content"], request_headers["Content-Type"] = await _multipart(
            ctx, where, body, files
        )
    elif is_ref(body):
        ref, payload["content"] = await _read_file(ctx, where, body)
        request_headers.setdefault("Content-Type", ref["media_type"])
    elif isinstance(body, str):
        payload["content"] = body.encode()
    elif body is not None:
        payload["json"] = body
    target = as_text(url).strip()
    response = await send(
        ctx,
        where,
        method,
        target,
        headers=request_headers,
        params=params,
        timeout=timeout_s,
        sensitive_headers=secret_headers,
        **payload,
    )
    if response.status_code >= 400:
        raise status_error(where, response, f"{method} {redact_url(response.url)}")
    parsed: Any = None
    if method != "HEAD" and _keep_as_file(ctx, response, response_file):
        parsed = await _store_response(ctx, where, response)
    elif method != "HEAD":
        parsed = response.text
        if response.is_json and response.content.strip():
            try:
                parsed = response.json()
            except ValueError:
                await ctx.log("the response says it is JSON but does not parse; kept as text")
    return {"status": response.status_code, "headers": dict(response.headers), "body": parsed}


async def _read_file(ctx: RunContext, where: str, ref: Any) -> tuple[dict[str, Any], bytes]:
    host = ctx.services.get("files")
    if host is None:
        raise NodeError(f"{where}: sending a file needs the file store, which this run lacks")
    return await host.read(ref, limit=MAX_FILE_SENT)


async def _multipart(
    ctx: RunContext, where: str, body: Any, files: dict[str, Any]
) -> tuple[bytes, str]:
    """The multipart body (files and the body object's fields) and its Content-Type."""
    if body is not None and not isinstance(body, dict):
        raise NodeError(f"{where}: with files, body must be an object of form fields")
    parts: list[tuple[str, tuple[str, bytes, str]]] = []
    for field, value in files.items():
        for item in value if isinstance(value, list) else [value]:
            ref, data = await _read_file(ctx, where, item)
            parts.append((str(field), (ref["name"], data, ref["media_type"])))
    fields = {str(k): v if isinstance(v, str) else as_text(v) for k, v in (body or {}).items()}
    # httpx's own encoder, so the form is exactly what httpx would send.
    built = httpx.Request("POST", "http://form.invalid/", data=fields, files=parts)
    return built.read(), built.headers["Content-Type"]


def _keep_as_file(ctx: RunContext, response: Any, mode: str) -> bool:
    if mode == "never" or "files" not in ctx.services or not response.content:
        return False
    if mode == "always":
        return True
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return not (response.is_json or is_textual(media_type) or not media_type)


async def _store_response(ctx: RunContext, where: str, response: Any) -> dict[str, Any]:
    """A binary answer kept as a file of the run: its reference instead of garbled text."""
    name = _response_name(response)
    media_type = response.headers.get("content-type", "").split(";")[0].strip() or None
    return await ctx.services["files"].create(name, media_type, response.content, lenient=True)


def _response_name(response: Any) -> str:
    disposition = response.headers.get("content-disposition", "")
    if match := re.search(r'filename="?([^";]+)"?', disposition):
        return match.group(1)
    return str(response.url.path).rstrip("/").rsplit("/", 1)[-1] or "response"


class HttpRequest(Node):
    type = "http.request"
    label = "HTTP request"
    icon = "globe"
    category = "Integrations"
    description = "Calls a URL and returns its status, headers and body (parsed when JSON)."
    default_retries = 2
    side_effects = True  # for every method but the safe ones; see is_idempotent

    class Config(NodeConfig):
        method: Method = Field(default="GET", description="HTTP method")
        url: TemplateStr = Field(description="The URL to call; templates allowed")
        headers: dict[str, TemplateStr] = Field(
            default_factory=dict, description="Request headers; values are templates"
        )
        query: dict[str, TemplateStr] = Field(
            default_factory=dict, description="Query string parameters; values are templates"
        )
        body: TemplateJSON = Field(
            default=None,
            description="Request body: text is sent as is, an object or list as JSON",
            json_schema_extra={"widget": "json"},
        )
        credential: str | None = Field(
            default=None,
            description="HTTP credential (bearer token, basic auth or an API-key header)",
            json_schema_extra={"credential_kinds": ["http"]},
        )
        files: dict[str, TemplateStr] = Field(
            default_factory=dict,
            description="Files to send as multipart/form-data parts, by field name "
            "(the body object gives the text fields); a body that is a file is sent raw",
        )
        response_file: Literal["auto", "always", "never"] = Field(
            default="auto",
            description="Keep the answer as a file: auto for binary answers (not text/JSON)",
        )

        _headers_ok = field_validator("headers")(_check_header_names)

    def is_idempotent(self, config: Config) -> bool:
        return config.method in IDEMPOTENT_METHODS

    async def run(self, ctx: RunContext, config: Config) -> dict[str, Any]:
        return await perform_request(
            ctx,
            self.type,
            method=config.method,
            url=config.url,
            headers=config.headers,
            query=config.query,
            body=config.body,
            credential=config.credential,
            timeout_s=config.timeout_s,
            files=config.files,
            response_file=config.response_file,
        )


class HttpRequestTool(Tool):
    """The agent's HTTP tool; the credential comes from the agent node, never the model."""

    id = "http_request"
    label = "HTTP request"
    description = (
        "Send an HTTP request and get back {status, headers, body}. Use it to call web "
        "APIs or fetch pages. The body is parsed when the answer is JSON."
    )
    side_effects = True
    credential_kinds: ClassVar[tuple[str, ...]] = ("http",)

    class Args(BaseModel):
        method: Method = Field(default="GET", description="HTTP method")
        url: str = Field(description="Absolute http(s) URL")
        headers: dict[str, str] = Field(default_factory=dict, description="Request headers")
        query: dict[str, str] = Field(default_factory=dict, description="Query parameters")
        body: Any = Field(default=None, description="Text, or a JSON object/array to send")

        _headers_ok = field_validator("headers")(_check_header_names)

    async def run(self, ctx: RunContext, args: Args) -> dict[str, Any]:
        return await perform_request(
            ctx,
            self.id,
            method=args.method,
            url=args.url,
            headers=args.headers,
            query=args.query,
            body=args.body,
            credential=ctx.services.get("tool_credentials", {}).get(self.id),
            timeout_s=None,
        )
