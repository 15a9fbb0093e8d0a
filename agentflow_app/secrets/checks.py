"""The Test button: the cheapest authenticated call for each credential kind.

Each check answers whether the far side accepted the credential, in a sentence meant for
the person who pressed the button. Nothing here raises for a rejected or unreachable
service: that is the answer. URLs the user typed (a base URL, an SES endpoint, an SMTP
host) go through the network guard like any workflow request; the base URLs the operator
configured (``ANTHROPIC_BASE_URL``, ``OPENAI_BASE_URL``) are trusted.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from agentflow_app.net.client import GuardedClient
from agentflow_app.net.guard import AddressGuard, NetError
from agentflow_app.secrets.kinds import HUBSPOT_API, SLACK_API
from agentflow_app.settings import get_settings

TIMEOUT_S = 15.0
ANTHROPIC_API = "https://api.anthropic.com"
OPENAI_API = "https://api.openai.com/v1"


class CheckResult(BaseModel):
    """The outcome of a credential test."""

    ok: bool
    message: str


async def check(kind: str, value: dict[str, Any]) -> CheckResult:
    """Try credential ``value`` of ``kind`` against its service."""
    runner = _CHECKS.get(kind)
    if runner is None:
        return CheckResult(ok=False, message=f"there is no test for {kind} credentials")
    try:
        return await runner(value)
    except NetError as exc:
        return CheckResult(ok=False, message=str(exc))
    except httpx.TimeoutException:
        return CheckResult(ok=False, message=f"no answer within {TIMEOUT_S:.0f} s")
    except httpx.TransportError as exc:
        return CheckResult(ok=False, message=f"could not connect: {exc or type(exc).__name__}")


async def _anthropic(value: dict[str, Any]) -> CheckResult:
    base = get_settings().anthropic_base_url or ANTHROPIC_API
    headers = {"x-api-key": value["api_key"], "anthropic-version": "2023-06-01"}
    return await _http_check(
        "Anthropic", "GET", f"{base.rstrip('/')}/v1/models", headers, trusted=base
    )


async def _openai(value: dict[str, Any]) -> CheckResult:
    operator = get_settings().openai_base_url
    base = value.get("base_url") or operator or OPENAI_API
    headers = {"Authorization": f"Bearer {value['api_key']}"}
    trusted = operator if not value.get("base_url") else None
    return await _http_check("OpenAI", "GET", f"{base.rstrip('/')}/models", headers, trusted)


async def _slack(value: dict[str, Any]) -> CheckResult:
    base = value.get("base_url") or SLACK_API
    async with GuardedClient(timeout=TIMEOUT_S) as client:
        response = await client.request(
            "POST", f"{base}/auth.test", headers={"Authorization": f"Bearer {value['token']}"}
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return CheckResult(ok=False, message=f"Slack answered {response.status_code}, not JSON")
    if body.get("ok"):
        who = " in ".join(str(body[k]) for k in ("user", "team") if body.get(k))
        return CheckResult(ok=True, message=f"Slack accepted the token{f' ({who})' if who else ''}")
    return CheckResult(ok=False, message=f"Slack refused the token: {body.get('error', 'error')}")


async def _hubspot(value: dict[str, Any]) -> CheckResult:
    base = value.get("base_url") or HUBSPOT_API
    url = f"{base}/crm/v3/objects/contacts?limit=1"
    headers = {"Authorization": f"Bearer {value['token']}"}
    return await _http_check("HubSpot", "GET", url, headers, trusted=None)


async def _http_check(
    service: str, method: str, url: str, headers: dict[str, str], trusted: str | None
) -> CheckResult:
    allow = [urlsplit(trusted).hostname or ""] if trusted else []
    async with GuardedClient(timeout=TIMEOUT_S, allow_hosts=allow) as client:
        response = await client.request(method, url, headers=headers)
    status = response.status_code
    if 200 <= status < 300:
        return CheckResult(ok=True, message=f"{service} accepted the credential")
    if status in (401, 403):
        return CheckResult(ok=False, message=f"{service} refused the credential ({status})")
    return CheckResult(ok=False, message=f"{service} answered {status}")


async def _smtp(value: dict[str, Any]) -> CheckResult:
    host, port = value["host"], int(value.get("port", 587))
    await AddressGuard(allow_private=get_settings().agentflow_allow_private_network).resolve(
        host, port
    )
    return await asyncio.to_thread(_smtp_login, value, host, port)


def _smtp_login(value: dict[str, Any], host: str, port: int) -> CheckResult:
    context = ssl.create_default_context()
    tls = value.get("tls", "starttls")
    try:
        if tls == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_S, context=context)
        else:
            server = smtplib.SMTP(host, port, timeout=TIMEOUT_S)
        with server:
            server.ehlo()
            if tls == "starttls":
                server.starttls(context=context)
                server.ehlo()
            if value.get("username"):
                _login_once(server, value["username"], value.get("password") or "")
                return CheckResult(ok=True, message=f"{host} accepted the login")
            return CheckResult(ok=True, message=f"{host} answered (no login configured)")
    except smtplib.SMTPAuthenticationError as exc:
        return CheckResult(ok=False, message=f"{host} refused the login ({exc.smtp_code})")
    except smtplib.SMTPNotSupportedError as exc:
        return CheckResult(ok=False, message=f"{host}: {exc}")
    except smtplib.SMTPException as exc:
        return CheckResult(ok=False, message=f"{host}: SMTP error ({type(exc).__name__})")
    except ssl.SSLError as exc:
        return CheckResult(ok=False, message=f"{host}: TLS failed ({exc.reason})")
    except OSError as exc:
        return CheckResult(ok=False, message=f"could not connect to {host}:{port} ({exc})")


def _login_once(server: smtplib.SMTP, username: str, password: str) -> None:
    """Log in with the best mechanism the server offers, once.

    ``SMTP.login`` tries every mechanism in turn after a refusal, and servers that count
    failures hang up on the second: one refusal is the answer we want to show.
    """
    if not server.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("the server offers no login (AUTH)")
    offered = server.esmtp_features["auth"].upper().split()
    mechanism = next((m for m in ("CRAM-MD5", "PLAIN", "LOGIN") if m in offered), None)
    if mechanism is None:
        raise smtplib.SMTPNotSupportedError(f"no supported login mechanism in {offered}")
    server.user, server.password = username, password
    handler = getattr(server, "auth_" + mechanism.lower().replace("-", "_"))
    server.auth(mechanism, handler, initial_response_ok=mechanism != "CRAM-MD5")


async def _aws(value: dict[str, Any]) -> CheckResult:
    def call() -> dict[str, Any]:
        return _boto_client("sts", value, None).get_caller_identity()

    answer = await _boto_call("AWS", call)
    if isinstance(answer, CheckResult):
        return answer
    return CheckResult(ok=True, message=f"AWS accepted the keys ({answer.get('Arn', '')})")


async def _ses(value: dict[str, Any]) -> CheckResult:
    endpoint = value.get("endpoint_url")
    if endpoint:
        parts = urlsplit(endpoint)
        guard = AddressGuard(allow_private=get_settings().agentflow_allow_private_network)
        await guard.resolve(parts.hostname or "", parts.port or 443)

    def call() -> dict[str, Any]:
        return _boto_client("ses", value, endpoint).get_send_quota()

    answer = await _boto_call("SES", call)
    if isinstance(answer, CheckResult):
        return answer
    sent, cap = answer.get("SentLast24Hours", 0), answer.get("Max24HourSend", 0)
    return CheckResult(
        ok=True, message=f"SES accepted the keys ({sent:.0f} of {cap:.0f} sent today)"
    )


def _boto_client(service: str, value: dict[str, Any], endpoint: str | None) -> Any:
    session = boto3.Session(
        aws_access_key_id=value.get("access_key_id") or None,
        aws_secret_access_key=value.get("secret_access_key") or None,
        aws_session_token=value.get("session_token") or None,
        region_name=value["region"],
    )
    config = BotoConfig(
        connect_timeout=TIMEOUT_S, read_timeout=TIMEOUT_S, retries={"total_max_attempts": 1}
    )
    return session.client(service, endpoint_url=endpoint, config=config)


async def _boto_call(service: str, call: Any) -> dict[str, Any] | CheckResult:
    try:
        return await asyncio.to_thread(call)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return CheckResult(
            ok=False,
            message=f"{service} refused: {error.get('Code', 'Error')} {error.get('Message', '')}".strip(),
        )
    except BotoCoreError as exc:
        return CheckResult(ok=False, message=f"{service}: {exc}")


async def _http(value: dict[str, Any]) -> CheckResult:
    return CheckResult(
        ok=True,
        message="saved; an HTTP credential has no service of its own to ask, "
        "so it is checked when a request uses it",
    )


async def _mcp(value: dict[str, Any]) -> CheckResult:
    """Open a session and list the tools: proof the URL, the token and the protocol work."""
    from agentflow_app.mcp.client import open_session
    from agentflow_app.mcp.servers import HttpServer, McpError
    from agentflow_app.secrets.kinds import McpKind

    kind = McpKind.from_stored(value)
    server = HttpServer("test", kind.url, kind.request_headers())
    allow = get_settings().agentflow_allow_private_network
    try:
        async with open_session(server, allow_private=allow, timeout_s=TIMEOUT_S) as session:
            tools = await session.list_tools()
    except McpError as exc:
        return CheckResult(ok=False, message=str(exc).replace("MCP server 'test' ", "the server "))
    names = ", ".join(tool.name for tool in tools[:20]) + ("…" if len(tools) > 20 else "")
    count = f"{len(tools)} tool{'s' if len(tools) != 1 else ''}"
    return CheckResult(ok=True, message=f"the server answered with {count}: {names or 'none'}")


_CHECKS = {
    "anthropic": _anthropic,
    "openai": _openai,
    "aws": _aws,
    "slack": _slack,
    "hubspot": _hubspot,
    "smtp": _smtp,
    "ses": _ses,
    "http": _http,
    "mcp": _mcp,
}
