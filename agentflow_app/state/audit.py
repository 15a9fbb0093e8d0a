"""/audit: the audit log, filtered and paged (newest first), downloadable as JSON lines.
Thin: ``services.audit`` decides what the actor reads (an admin: every row; anyone else:
the rows of the workspaces it owns)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypedDict

import reflex as rx

from agentflow_app.errors import AgentFlowError
from agentflow_app.services import audit
from agentflow_app.services.audit import AuditAction, AuditEntry
from agentflow_app.state.auth import signed_in, to_login

ACTIONS = ["all", *(action.value for action in AuditAction)]
PAGE = 100


class AuditRow(TypedDict):
    id: int
    at: str
    actor: str
    action: str
    target: str
    address: str
    detail: str


def _row(entry: AuditEntry) -> AuditRow:
    target = f"{entry.target_type} {entry.target_id}".strip()
    detail = ", ".join(f"{key}: {value}" for key, value in entry.detail.items())
    return AuditRow(
        id=entry.id,
        at=f"{entry.at:%Y-%m-%d %H:%M:%S} UTC",
        actor=entry.actor_email or "—",
        action=entry.action,
        target=target or "—",
        address=entry.address or "—",
        detail=detail,
    )


def _day(value: str, field: str) -> datetime | None:
    """A date from the filter's date input (``YYYY-MM-DD``), as midnight UTC."""
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise AgentFlowError(f"{field}: use a date like 2026-12-01") from None


class AuditState(rx.State):
    rows: list[AuditRow] = []
    action: str = "all"
    actor: str = ""
    since: str = ""
    until: str = ""
    error: str = ""
    more: bool = False
    _cursor: str | None = None

    def _filters(self) -> dict[str, Any]:
        return {
            "action": None if self.action == "all" else self.action,
            "actor_filter": self.actor or None,
            "since": _day(self.since, "from"),
            "until": _day(self.until, "until"),
        }

    async def _fetch(self, *, append: bool) -> Any:
        actor = await signed_in(self)
        if actor is None:
            return await to_login(self)
        try:
            page = audit.search(
                actor, limit=PAGE, cursor=self._cursor if append else None, **self._filters()
            )
        except AgentFlowError as exc:
            self.rows, self.more, self.error = [], False, str(exc)
            return None
        rows = [_row(entry) for entry in page.events]
        self.rows = [*self.rows, *rows] if append else rows
        self._cursor, self.more, self.error = page.next_cursor, page.next_cursor is not None, ""
        return None

    @rx.event
    async def load(self) -> Any:
        """``on_load`` and every filter change: the newest page."""
        return await self._fetch(append=False)

    @rx.event
    async def filter(self, form_data: dict[str, Any]) -> Any:
        action = str(form_data.get("action") or "all")
        self.action = action if action in ACTIONS else "all"
        self.actor = str(form_data.get("actor") or "").strip()[:320]
        self.since = str(form_data.get("since") or "")
        self.until = str(form_data.get("until") or "")
        return await self._fetch(append=False)

    @rx.event
    async def older(self) -> Any:
        return await self._fetch(append=True)

    @rx.event
    async def export(self) -> Any:
        """Download every row the filters match as JSON lines (``GET /api/audit/export``
        streams the same for scripts)."""
        actor = await signed_in(self)
        if actor is None:
            return await to_login(self)
        try:
            lines = "".join(audit.export(actor, **self._filters()))
        except AgentFlowError as exc:
            self.error = str(exc)
            return None
        return rx.download(data=lines, filename="audit.jsonl")
