"""The Approvals page and the side bar's count of approvals waiting for the signed-in user.

The count follows changes by itself: while a page with the side bar is open, a background
task reads it every :data:`COUNT_EVERY_S` (one small query) for at most
:data:`COUNT_FOR_S`; the page's own list refreshes with it, so a decision made elsewhere
(a link, a colleague, the API) disappears without a reload.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, TypedDict

import reflex as rx

from agentflow_app import routes
from agentflow_app.errors import AgentFlowError, NotFound
from agentflow_app.services import approvals
from agentflow_app.services.approvals import ApprovalRecord
from agentflow_app.state.auth import signed_in, to_login
from agentflow_app.state.formatting import format_clock, sentence

#: How often the count is read while a page is open (seconds).
COUNT_EVERY_S = 2.0
#: A page left open stops counting after this long; navigating starts it again.
COUNT_FOR_S = 30 * 60.0


class ApprovalRow(TypedDict):
    key: str
    execution_id: int
    node_id: str
    workflow: str
    message: str
    created: str
    expires: str
    run_href: str


def _row(record: ApprovalRecord) -> ApprovalRow:
    return ApprovalRow(
        key=f"{record.execution_id}:{record.node_id}",
        execution_id=record.execution_id,
        node_id=record.node_id,
        workflow=record.workflow_name or "Workflow file",
        message=record.message,
        created=format_clock(record.created_at),
        expires=format_clock(record.expires_at) if record.expires_at else "",
        run_href=routes.execution_url(record.execution_id),
    )


class ApprovalsState(rx.State):
    count: int = 0
    rows: list[ApprovalRow] = []
    comments: dict[str, str] = {}
    busy: str = ""
    error: str = ""
    notice: str = ""
    loaded: bool = False

    _ticket: str = ""

    async def _read(self) -> None:
        actor = await signed_in(self)
        if actor is None:
            self.count, self.rows = 0, []
            return
        records = await asyncio.to_thread(approvals.waiting_for, actor)
        self.count = len(records)
        self.rows = [_row(record) for record in records]

    @rx.event
    async def load(self):
        """``on_load`` of /approvals: the list, then counting as on every page."""
        if await signed_in(self) is None:
            yield await to_login(self)
            return
        await self._read()
        self.loaded = True
        yield ApprovalsState.follow

    @rx.event
    def start_counting(self) -> Any:
        """The side bar appeared: keep its count current."""
        return ApprovalsState.follow

    @rx.event(background=True)
    async def follow(self):
        ticket = uuid.uuid4().hex
        async with self:
            self._ticket = ticket
            await self._read()
        loop = asyncio.get_running_loop()
        until = loop.time() + COUNT_FOR_S
        while loop.time() < until:
            await asyncio.sleep(COUNT_EVERY_S)
            async with self:
                if self._ticket != ticket:
                    return
                await self._read()

    @rx.event
    def set_comment(self, key: str, value: str) -> None:
        self.comments = {**self.comments, key: value}

    @rx.event
    async def decide(self, key: str, approved: bool):
        actor = await signed_in(self)
        if actor is None:
            yield await to_login(self)
            return
        row = next((r for r in self.rows if r["key"] == key), None)
        if row is None:
            return
        self.busy, self.error, self.notice = key, "", ""
        yield
        comment = (self.comments.get(key) or "").strip() or None
        try:
            await asyncio.to_thread(
                approvals.decide, actor, row["execution_id"], row["node_id"], approved, comment
            )
            verb = "Approved" if approved else "Rejected"
            self.notice = f"{verb}: run {row['execution_id']} goes on."
        except NotFound:
            self.error = "This approval is no longer yours to decide."
        except AgentFlowError as exc:
            self.error = sentence(str(exc))
        self.busy = ""
        self.comments = {k: v for k, v in self.comments.items() if k != key}
        await self._read()
