"""Approvals: who may decide a waiting ``human.approval`` step, the decision, the links.

A decision is one compare-and-set on the approval row (``pending`` → ``approved`` /
``rejected`` / ``timeout``) in the same transaction that wakes the run
(``executions.waits.wake_in``), so a member, an approver, a link and the timeout can
race and exactly one wins; the losers are told who won.

Who may decide: members of the run's workspace whose role may run its workflows
(``runner`` and above) and the accounts whose emails the step lists as ``approvers``. Anyone else gets :class:`NotFound`, the rule of every object. A link is
its own permission: ``<public url>/api/approvals/<token>``, where the token is the
approval's id, its random nonce and the action, signed with HMAC-SHA256 under a key
derived from the instance's secret key. It is single use because the row is, and
expires with the wait.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import String, cast, insert, or_, select, update

from agentflow_app.db import aware, get_engine
from agentflow_app.errors import Conflict, InvalidInput, NotFound
from agentflow_app.models import Approval, Workflow
from agentflow_app.services.executions.events import publish
from agentflow_app.services.executions.rows import EXECUTIONS, RunOwner
from agentflow_app.services.executions.waits import send, wake_in
from agentflow_app.services.users import Actor
from agentflow_app.services.workspaces import ALLOWED, Can
from agentflow_app.settings import get_settings

APPROVALS = Approval.__table__
PENDING = "pending"
MAX_COMMENT = 2000
Action = Literal["approve", "reject"]


class ApprovalLinks(BaseModel):
    approve_url: str
    reject_url: str


class Decision(BaseModel):
    """An approval's answer, as the step outputs it (SPEC §6)."""

    approved: bool
    comment: str | None = None
    by: str
    decided_at: datetime


class ApprovalRecord(BaseModel):
    """An approval as the Approvals page, the API and a link's page show it."""

    id: int
    execution_id: int
    node_id: str
    workflow_id: int | None = None
    workflow_name: str | None = None
    message: str
    status: str
    approvers: list[str]
    created_at: datetime
    expires_at: datetime | None = None
    decision: Decision | None = None


class AlreadyDecided(Conflict):
    """The approval was decided before this attempt; the message says how and by whom."""


def _key() -> bytes:
    secret = get_settings().secret_key().encode()
    return hashlib.sha256(b"agentflow approval links\x00" + secret).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(approval_id: int, nonce: str, action: Action) -> str:
    """The token of a link that decides ``approval_id`` with ``action``."""
    payload = _b64(json.dumps([approval_id, nonce, action], separators=(",", ":")).encode())
    mac = hmac.new(_key(), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def _verify(token: str) -> tuple[int, str, Action]:
    """The approval id, nonce and action a token carries.

    Raises:
        NotFound: the token is malformed or its signature is wrong (tampered links and
            made-up ones look the same: no such link).
    """
    try:
        payload, mac = token.split(".", 1)
        expected = hmac.new(_key(), payload.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            raise ValueError("bad signature")
        approval_id, nonce, action = json.loads(_unb64(payload))
        if not isinstance(approval_id, int) or action not in ("approve", "reject"):
            raise ValueError("bad payload")
    except (ValueError, TypeError, json.JSONDecodeError):
        raise NotFound("this approval link is not valid") from None
    return approval_id, str(nonce), action


def links(approval_id: int, nonce: str) -> ApprovalLinks:
    base = get_settings().agentflow_public_url.rstrip("/")
    return ApprovalLinks(
        approve_url=f"{base}/api/approvals/{sign(approval_id, nonce, 'approve')}",
        reject_url=f"{base}/api/approvals/{sign(approval_id, nonce, 'reject')}",
    )


def open_approval(
    execution_id: int,
    node_id: str,
    *,
    owner: RunOwner,
    message: str,
    approvers: list[str],
    expires_at: datetime | None,
) -> tuple[int, ApprovalLinks]:
    """Store the question of a waiting approval step (once per step); its id and links."""
    with get_engine().begin() as conn:
        row = conn.execute(
            select(APPROVALS.c.id, APPROVALS.c.nonce).where(
                APPROVALS.c.execution_id == execution_id, APPROVALS.c.node_id == node_id
            )
        ).one_or_none()
        if row is not None:
            return row.id, links(row.id, row.nonce)
        nonce = secrets.token_urlsafe(18)
        approval_id = conn.execute(
            insert(APPROVALS)
            .values(
                execution_id=execution_id,
                node_id=node_id,
                owner_id=owner.owner_id,
                workspace_id=owner.workspace_id,
                approvers=sorted({email.strip().lower() for email in approvers if email}),
                message=message,
                status=PENDING,
                expires_at=expires_at,
                nonce=nonce,
                created_at=datetime.now(UTC),
                extra={},
            )
            .returning(APPROVALS.c.id)
        ).scalar_one()
    return approval_id, links(approval_id, nonce)


def _decision(row: Any) -> Decision | None:
    if row.status == PENDING or row.decided_at is None:
        return None
    return Decision(
        approved=row.status == "approved",
        comment=row.comment,
        by=row.decided_by or "unknown",
        decided_at=aware(row.decided_at),
    )


def decision_of(approval_id: int) -> Decision | None:
    """The decision of an approval, or None while it is pending (or closed)."""
    with get_engine().connect() as conn:
        row = conn.execute(select(APPROVALS).where(APPROVALS.c.id == approval_id)).one_or_none()
    return _decision(row) if row is not None else None


def _decide(
    approval_id: int, status: str, by: str, comment: str | None, *, nonce: str | None = None
) -> Decision:
    """The one compare-and-set every way of deciding goes through."""
    if comment is not None and len(comment) > MAX_COMMENT:
        raise InvalidInput(f"the comment is longer than {MAX_COMMENT} characters")
    now = datetime.now(UTC)
    event = None
    with get_engine().begin() as conn:
        where = [APPROVALS.c.id == approval_id, APPROVALS.c.status == PENDING]
        if nonce is not None:
            where.append(APPROVALS.c.nonce == nonce)
        changed = conn.execute(
            update(APPROVALS)
            .where(*where)
            .values(status=status, decided_by=by, decided_at=now, comment=comment or None)
            .returning(APPROVALS.c.execution_id)
        ).scalar_one_or_none()
        if changed is not None:
            event = wake_in(conn, changed, f"approval {approval_id} was decided by {by}")
    if changed is None:
        row = _row(approval_id)
        decided = _decision(row)
        if decided is None:
            raise AlreadyDecided("this approval is closed: its run ended before a decision")
        verb = "approved" if decided.approved else "rejected"
        raise AlreadyDecided(
            f"this approval was already {verb} by {decided.by} at "
            f"{decided.decided_at:%Y-%m-%d %H:%M} UTC"
        )
    if event is not None:
        publish([event])
        send([changed])
    return Decision(approved=status == "approved", comment=comment or None, by=by, decided_at=now)


def _row(approval_id: int) -> Any:
    with get_engine().connect() as conn:
        row = conn.execute(select(APPROVALS).where(APPROVALS.c.id == approval_id)).one_or_none()
    if row is None:
        raise NotFound("this approval does not exist")
    return row


def _deciding_workspaces(actor: Actor) -> list[int]:
    """The workspaces where the actor's role may decide runs (``run`` and above)."""
    return [ws for ws, role in actor.roles.items() if Can.RUN in ALLOWED[role]]


def _may_decide(actor: Actor, row: Any) -> bool:
    """A member who may run the workspace's workflows, or an approver the step named."""
    return row.workspace_id in _deciding_workspaces(actor) or actor.email.lower() in (
        row.approvers or []
    )


def decide(
    actor: Actor, execution_id: int, node_id: str, approved: bool, comment: str | None = None
) -> Decision:
    """Decide the approval step ``node_id`` of ``execution_id`` as ``actor``.

    Raises:
        NotFound: no such waiting approval, or the actor may not decide it.
        AlreadyDecided: (409) someone (or the timeout) decided first.
    """
    with get_engine().connect() as conn:
        row = conn.execute(
            select(APPROVALS).where(
                APPROVALS.c.execution_id == execution_id, APPROVALS.c.node_id == node_id
            )
        ).one_or_none()
    if row is None or not _may_decide(actor, row):
        raise NotFound(f"execution {execution_id} has no approval {node_id!r} for you")
    return _decide(row.id, "approved" if approved else "rejected", actor.email, comment)


def expire(approval_id: int) -> Decision | None:
    """End a pending approval whose wait timed out: the decision (by ``timeout``, or the
    real one if a person was quicker)."""
    try:
        return _decide(approval_id, "timeout", "timeout", None)
    except AlreadyDecided:
        return decision_of(approval_id)


def close_pending(execution_id: int) -> None:
    """Close the pending approvals of a run that ended otherwise (failed, cancelled):
    their links then say so instead of deciding nothing."""
    with get_engine().begin() as conn:
        conn.execute(
            update(APPROVALS)
            .where(APPROVALS.c.execution_id == execution_id, APPROVALS.c.status == PENDING)
            .values(status="closed")
        )


def _record(
    row: Any, workflow_id: int | None = None, workflow_name: str | None = None
) -> ApprovalRecord:
    return ApprovalRecord(
        id=row.id,
        execution_id=row.execution_id,
        node_id=row.node_id,
        workflow_id=workflow_id,
        workflow_name=workflow_name,
        message=row.message,
        status=row.status,
        approvers=list(row.approvers or []),
        created_at=aware(row.created_at),
        expires_at=aware(row.expires_at) if row.expires_at else None,
        decision=_decision(row),
    )


def waiting_for(actor: Actor, *, limit: int = 200) -> list[ApprovalRecord]:
    """The pending approvals ``actor`` may decide, oldest first."""
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(APPROVALS, Workflow.id.label("wf_id"), Workflow.name.label("wf_name"))
            .join(EXECUTIONS, EXECUTIONS.c.id == APPROVALS.c.execution_id)
            .join(Workflow, Workflow.id == EXECUTIONS.c.workflow_id, isouter=True)
            .where(
                APPROVALS.c.status == PENDING,
                # Narrowed in SQL (the side bar asks every few seconds); _may_decide below
                # is the exact rule.
                or_(
                    APPROVALS.c.workspace_id.in_(_deciding_workspaces(actor)),
                    cast(APPROVALS.c.approvers, String).contains(
                        json.dumps(actor.email.lower()), autoescape=True
                    ),
                ),
            )
            .order_by(APPROVALS.c.created_at)
            .limit(limit)
        ).all()
    return [_record(row, row.wf_id, row.wf_name) for row in rows if _may_decide(actor, row)]


def by_link(token: str) -> tuple[ApprovalRecord, Action]:
    """What a link decides, for its confirmation page.

    Raises:
        NotFound: the link is malformed, tampered, or its approval is gone.
    """
    approval_id, nonce, action = _verify(token)
    row = _row(approval_id)
    if not hmac.compare_digest(row.nonce, nonce):
        raise NotFound("this approval link is not valid")
    return _record(row), action


def decide_by_link(token: str, comment: str | None = None) -> Decision:
    """Decide through a signed link: once, before the wait expires.

    Raises:
        NotFound: the link is malformed or tampered.
        AlreadyDecided: (409) it was decided before (the message says by whom), or its
            run ended.
        Conflict: the wait expired.
    """
    record, action = by_link(token)
    approval_id, nonce, _ = _verify(token)
    if record.status == PENDING and record.expires_at and record.expires_at <= datetime.now(UTC):
        expire(approval_id)
        raise AlreadyDecided("this approval link has expired: the wait timed out")
    return _decide(
        approval_id, "approved" if action == "approve" else "rejected", "link", comment, nonce=nonce
    )
