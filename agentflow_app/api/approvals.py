"""Approvals over REST (SPEC §9, §12): decide a waiting step, list what waits for me, links.

``POST /api/workflows/executions/{id}/approve`` and ``GET /api/approvals`` act for the
signed-in user (the owner or a listed approver; anyone else gets 404). ``/api/approvals/
{token}`` is the signed link an approval sends: a GET shows a confirmation page (so a
mail scanner that follows links decides nothing), the page's button POSTs, and the
decision is made once; JSON clients get JSON from both.
"""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field, ValidationError

from agentflow_app.api.deps import CurrentUser, ObjectId
from agentflow_app.api.errors import ErrorDetail
from agentflow_app.errors import InvalidInput
from agentflow_app.services import approvals
from agentflow_app.services.approvals import AlreadyDecided, ApprovalRecord, Decision

router = APIRouter(tags=["approvals"])

#: A link's token: base64url payload, a dot, base64url signature.
Token = Annotated[
    str, Path(min_length=20, max_length=400, pattern=r"^[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+$")
]
_DECIDED: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorDetail, "description": "already decided (the detail says by whom)"}
}


class ApproveBody(BaseModel):
    node_id: str = Field(min_length=1, max_length=200, description="The approval step's node id")
    approved: bool
    comment: str | None = Field(default=None, max_length=approvals.MAX_COMMENT)


class LinkBody(BaseModel):
    comment: str | None = Field(default=None, max_length=approvals.MAX_COMMENT)


class LinkPage(BaseModel):
    """What a link would decide: the question and the action, or the decision made."""

    approval: ApprovalRecord
    action: str


@router.post(
    "/workflows/executions/{execution_id:int}/approve",
    status_code=202,
    response_model=Decision,
    responses=_DECIDED,
)
def approve(actor: CurrentUser, execution_id: ObjectId, body: ApproveBody) -> Decision:
    """Approve or reject a waiting ``human.approval`` step; the run resumes by that path."""
    return approvals.decide(actor, execution_id, body.node_id, body.approved, body.comment)


@router.get("/approvals", response_model=list[ApprovalRecord])
def waiting_for_me(actor: CurrentUser) -> list[ApprovalRecord]:
    """Approvals waiting for the signed-in user (as owner or listed approver), oldest first."""
    return approvals.waiting_for(actor)


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


@router.get(
    "/approvals/{token}",
    response_model=LinkPage,
    responses={200: {"content": {"text/html": {}}}},
)
def link_page(token: Token, request: Request) -> Any:
    """The confirmation page of a signed approve / reject link (nothing is decided yet)."""
    record, action = approvals.by_link(token)
    if _wants_json(request):
        return LinkPage(approval=record, action=action)
    return HTMLResponse(_page(record, action, token))


@router.post(
    "/approvals/{token}",
    response_model=Decision,
    responses={**_DECIDED, 200: {"content": {"text/html": {}}}},
)
async def decide_by_link(token: Token, request: Request) -> Any:
    """Decide through a signed link, once; a form post gets a page, JSON gets JSON."""
    comment = await _comment(request)
    as_json = _wants_json(request) or request.headers.get("content-type", "").startswith(
        "application/json"
    )
    try:
        decision = approvals.decide_by_link(token, comment)
    except AlreadyDecided as exc:
        if as_json:
            raise
        return HTMLResponse(_shell("Already decided", f"<p>{html.escape(str(exc))}.</p>"), 409)
    if as_json:
        return JSONResponse(decision.model_dump(mode="json"))
    verb = "approved" if decision.approved else "rejected"
    return HTMLResponse(_shell(f"You {verb} it", "<p>Thank you: the run goes on.</p>"))


async def _comment(request: Request) -> str | None:
    kind = request.headers.get("content-type", "")
    try:
        if kind.startswith("application/json"):
            raw = await request.body()
            return LinkBody.model_validate_json(raw or b"{}").comment
        if kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("comment")
            return LinkBody(comment=str(value) if value else None).comment
    except ValidationError as exc:
        raise InvalidInput(f"comment: {exc.errors()[0]['msg']}") from None
    return None


def _shell(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)} · AgentFlow</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;"
        "color:#1c2024}blockquote{white-space:pre-wrap;border-left:3px solid #8d8d8d;"
        "margin:1rem 0;padding:.5rem 1rem;background:#f6f6f6}textarea{width:100%;min-height:4rem}"
        "button{font-size:1rem;padding:.5rem 1.25rem;margin-top:.75rem;border-radius:6px;"
        "border:0;color:#fff;background:#3e63dd;cursor:pointer}button.reject{background:#dc3e42}"
        f"</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _page(record: ApprovalRecord, action: str, token: str) -> str:
    if record.status != approvals.PENDING:
        if record.decision is None:
            text = "This approval is closed: its run ended before anyone decided."
        else:
            verb = "approved" if record.decision.approved else "rejected"
            text = f"This was already {verb} by {record.decision.by}."
        return _shell("Already decided", f"<p>{html.escape(text)}</p>")
    verb = "Approve" if action == "approve" else "Reject"
    css = "" if action == "approve" else " class=reject"
    body = (
        f"<p>Run {record.execution_id} is waiting for a decision:</p>"
        f"<blockquote>{html.escape(record.message)}</blockquote>"
        f'<form method=post action="{html.escape(token)}">'
        "<label>Comment (optional)<br><textarea name=comment maxlength=2000></textarea></label>"
        f"<br><button type=submit{css}>{verb}</button></form>"
    )
    return _shell(f"{verb} this?", body)
