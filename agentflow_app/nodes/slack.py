"""``slack.message`` and the agent tool ``slack_message``: post with ``chat.postMessage``.

Slack answers most failures with HTTP 200 and ``{"ok": false, "error": code}``; the code
is what the user needs to see (``channel_not_found``, ``invalid_auth``), with a hint for
the common ones. ``ratelimited`` (HTTP 429) is transient. Posting twice posts twice, so a
step in flight when its worker died is not repeated (SPEC §7).
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlencode

from pydantic import BaseModel, Field

from agentflow_app.engine.errors import NodeError, TransientError
from agentflow_app.engine.node import Node, NodeConfig, RunContext, TemplateStr, Tool
from agentflow_app.files.refs import is_ref
from agentflow_app.nodes.credentials import load_credential
from agentflow_app.nodes.remote import as_text, excerpt, retry_after_s, send, status_error
from agentflow_app.secrets.kinds import SlackKind

_HINTS = {
    "not_authed": "the credential has no token",
    "invalid_auth": "the token was refused; check the credential",
    "token_revoked": "the token was revoked; create a new one",
    "account_inactive": "the token belongs to a deactivated user or app",
    "channel_not_found": "check the channel name, and invite the app to a private channel",
    "not_in_channel": "invite the app to the channel (/invite @app)",
    "is_archived": "the channel is archived",
    "no_text": "the message text is empty",
    "msg_too_long": "the text is over Slack's 40,000 character limit",
    "missing_scope": "the app needs the chat:write scope (files:write to share files)",
}
#: The largest file shared to Slack from a step.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
_TRANSIENT = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable"})


async def _call(
    ctx: RunContext, where: str, cred: SlackKind, method: str, **kwargs: Any
) -> dict[str, Any]:
    """One Web API call; Slack's reply, or its error code as a step error.

    ``form=`` sends the arguments form-encoded (the upload methods take no JSON).
    """
    headers = {"Authorization": f"Bearer {cred.token}"}
    if (form := kwargs.pop("form", None)) is not None:
        kwargs["content"] = urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    response = await send(ctx, where, "POST", f"{cred.api_url}/{method}", headers=headers, **kwargs)
    try:
        reply = response.json()
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        if response.status_code >= 400:
            raise status_error(where, response, "Slack")
        raise NodeError(
            f"{where}: Slack answered something that is not JSON: {excerpt(response.text)}"
        )
    if reply.get("ok") is True:
        return reply
    code = str(reply.get("error") or f"HTTP {response.status_code}")
    hint = _HINTS.get(code)
    message_text = f"{where}: Slack says {code}" + (f" ({hint})" if hint else "")
    if code in _TRANSIENT or response.status_code == 429 or response.status_code >= 500:
        raise TransientError(message_text, retry_after=retry_after_s(response.headers))
    raise NodeError(message_text)


async def upload_files(
    ctx: RunContext, where: str, credential: str | None, channel: Any, text: Any, refs: list[Any]
) -> dict[str, Any]:
    """Share files of the run to ``channel`` (a channel id) with ``text`` as the comment,
    through Slack's external upload: one upload URL per file, the bytes, then one
    ``files.completeUploadExternal``."""
    cred = await load_credential(ctx, where, credential, ("slack",))
    assert isinstance(cred, SlackKind)
    host = ctx.services.get("files")
    if host is None:
        raise NodeError(f"{where}: files need the file store, which this run lacks")
    channel_id = as_text(channel).strip()
    if not channel_id or channel_id.startswith("#"):
        raise NodeError(f"{where}: sharing files needs a channel id (C0123…), not a name")
    shared = []
    for index, ref in enumerate(refs):
        if not is_ref(ref):
            raise NodeError(f"{where}: files[{index}] is not a file")
        stored, data = await host.read(ref, limit=MAX_UPLOAD_BYTES)
        slot = await _call(
            ctx,
            where,
            cred,
            "files.getUploadURLExternal",
            form={"filename": stored["name"], "length": str(len(data))},
        )
        response = await send(ctx, where, "POST", str(slot["upload_url"]), content=data)
        if response.status_code >= 400:
            raise status_error(where, response, "Slack's upload URL")
        shared.append({"id": slot["file_id"], "title": stored["name"]})
    return await _call(
        ctx,
        where,
        cred,
        "files.completeUploadExternal",
        json={"files": shared, "channel_id": channel_id, "initial_comment": as_text(text)},
    )


async def post_message(
    ctx: RunContext, where: str, credential: str | None, channel: Any, text: Any
) -> dict[str, Any]:
    """Post ``text`` to ``channel`` and return Slack's reply.

    Raises:
        NodeError: Slack refused the message (its error code and a hint).
        TransientError: rate limited or Slack is having trouble.
    """
    cred = await load_credential(ctx, where, credential, ("slack",))
    assert isinstance(cred, SlackKind)
    channel_text, message = as_text(channel).strip(), as_text(text)
    if not channel_text:
        raise NodeError(f"{where}: the channel is empty")
    return await _call(
        ctx, where, cred, "chat.postMessage", json={"channel": channel_text, "text": message}
    )


class SlackMessage(Node):
    type = "slack.message"
    label = "Slack message"
    icon = "message-square"
    category = "Integrations"
    description = "Posts a message to a Slack channel with a bot token."
    side_effects = True
    idempotent = False

    class Config(NodeConfig):
        credential: str = Field(
            description="Slack credential (bot token)",
            json_schema_extra={"credential_kinds": ["slack"]},
        )
        channel: TemplateStr = Field(description="Channel name (#general) or id (C0123…)")
        text: TemplateStr = Field(
            description="Message text (Slack mrkdwn); templates allowed",
            json_schema_extra={"widget": "textarea"},
        )
        files: list[TemplateStr] = Field(
            default_factory=list,
            description="Files to share with the text as their comment (needs a channel id "
            "and the files:write scope), e.g. {{ nodes.report.output.file }}",
        )

    async def run(self, ctx: RunContext, config: Config) -> dict[str, Any]:
        if config.files:
            refs = [i for v in config.files for i in (v if isinstance(v, list) else [v])]
            return await upload_files(
                ctx, self.type, config.credential, config.channel, config.text, refs
            )
        return await post_message(ctx, self.type, config.credential, config.channel, config.text)


class SlackMessageTool(Tool):
    """Posts to Slack with the credential the agent node names for this tool."""

    id = "slack_message"
    label = "Slack message"
    description = "Post a message to a Slack channel. Returns Slack's reply (channel, ts)."
    side_effects = True
    credential_kinds: ClassVar[tuple[str, ...]] = ("slack",)

    class Args(BaseModel):
        channel: str = Field(description="Channel name like #general, or a channel id")
        text: str = Field(description="The message text (Slack mrkdwn)")

    async def run(self, ctx: RunContext, args: Args) -> dict[str, Any]:
        credential = ctx.services.get("tool_credentials", {}).get(self.id)
        return await post_message(ctx, self.id, credential, args.channel, args.text)
