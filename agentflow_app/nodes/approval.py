"""``human.approval``: the run waits for a person's yes or no (SPEC §6, §12).

The first run of the step renders the message, stores the question (the host gives back
single-use approve / reject links), optionally sends it by Slack or email with both
links, and waits. Every later run (a decision, the timeout) reads the decision; edges
leave by ``approved`` or ``rejected``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agentflow_app.engine.errors import NodeError, Wait
from agentflow_app.engine.node import Node, NodeConfig, RunContext, TemplateStr
from agentflow_app.nodes.email import EMAIL_KINDS, send_email
from agentflow_app.nodes.flow_host import flow_host
from agentflow_app.nodes.slack import post_message


class Notify(BaseModel):
    """Where the question is sent when the wait starts: a Slack channel or email recipients."""

    model_config = ConfigDict(extra="forbid")

    credential: str = Field(
        description="A Slack, SMTP or SES credential",
        json_schema_extra={"credential_kinds": ["slack", *EMAIL_KINDS]},
    )
    channel: str | None = Field(default=None, description="Slack channel (with a Slack credential)")
    to: str | None = Field(default=None, description="Email recipients (with an email credential)")

    @model_validator(mode="after")
    def _one_target(self) -> Notify:
        if not (self.channel or self.to):
            raise ValueError("notify needs a Slack channel or email recipients (to)")
        return self


class Approval(Node):
    type = "human.approval"
    label = "Approval"
    icon = "user-check"
    category = "Flow"
    description = (
        "Pauses the run until a person approves or rejects (in the live view, the Approvals "
        "page, the API or a link sent by Slack or email); continues by the approved or "
        "rejected edge. The run holds no worker while it waits."
    )
    outputs: ClassVar[tuple[str, ...]] = ("approved", "rejected")
    side_effects = True  # it may send the question

    class Config(NodeConfig):
        message: TemplateStr = Field(
            description="What to decide; templates allowed",
            json_schema_extra={"widget": "textarea"},
        )
        approvers: list[str] = Field(
            default_factory=list,
            description="Emails of accounts that may decide besides the owner",
        )
        #: Unlike other nodes, the wait's own limit: None waits for ever.
        timeout_s: float | None = Field(
            default=None, gt=0, le=365 * 24 * 3600, description="End the wait after (seconds)"
        )
        on_timeout: Literal["reject", "fail"] = Field(
            default="reject", description="When the wait times out: take the rejected path, or fail"
        )
        notify: Notify | None = Field(default=None, description="Send the question with links")

    def is_idempotent(self, config: Any, registry: Any = None) -> bool:
        return getattr(config, "notify", None) is None

    async def run(self, ctx: RunContext, config: Config) -> dict[str, Any]:
        host = flow_host(ctx, self.type)
        state = ctx.resume
        if state is None:
            expires_at = (
                datetime.now(UTC) + timedelta(seconds=config.timeout_s)
                if config.timeout_s
                else None
            )
            message = str(config.message)
            opened = await host.open_approval(
                ctx.node_id,
                message=message,
                approvers=config.approvers,
                expires_at=expires_at,
            )
            state = {
                "approval_id": opened["approval_id"],
                "message": message,
                "approvers": config.approvers,
                "expires_at": expires_at.isoformat() if expires_at else None,
                "approve_url": opened["approve_url"],
                "reject_url": opened["reject_url"],
            }
            if config.notify is not None:
                await _notify(ctx, config.notify, message, opened)
        decision = await host.approval_decision(state["approval_id"])
        expires = state.get("expires_at")
        if decision is None and expires and datetime.fromisoformat(expires) <= datetime.now(UTC):
            decision = await host.expire_approval(state["approval_id"])
        if decision is None:
            raise Wait(
                "waiting for approval",
                state=state,
                wake_at=datetime.fromisoformat(expires) if expires else None,
            )
        if decision["by"] == "timeout" and config.on_timeout == "fail":
            raise NodeError(f"nobody decided within {config.timeout_s:g} s (timeout_s)")
        return decision

    def routes(self, output: Any) -> tuple[str, ...]:
        return ("approved",) if output.get("approved") else ("rejected",)


async def _notify(ctx: RunContext, notify: Notify, message: str, links: dict[str, Any]) -> None:
    text = (
        f"{message}\n\nApprove: {links['approve_url']}\nReject: {links['reject_url']}"
        "\n\n(Each link works once.)"
    )
    where = "human.approval notify"
    if notify.channel:
        await post_message(ctx, where, notify.credential, notify.channel, text)
    else:
        await send_email(
            ctx, where, notify.credential, to=notify.to, subject="Approval needed", body=text
        )
