"""/executions: the history, filtered by workflow, status and date, a page at a time.

Filters are plain strings as the selects and date inputs give them, checked here: a bad
date or an end before the start is said under the filters, never a crash. ``?workflow=ID``
in the address pre-selects a workflow (the editor links here that way).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypedDict

import reflex as rx

from agentflow_app import routes
from agentflow_app.db import aware
from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.errors import AgentFlowError, NotFound
from agentflow_app.services import executions, workflows
from agentflow_app.services.executions import ExecutionSummary
from agentflow_app.state.auth import signed_in, to_login
from agentflow_app.state.formatting import format_clock, format_cost, format_duration, format_tokens
from agentflow_app.state.workflows import ago

PAGE_SIZE = 25
ALL = "all"
STATUSES = [s.value for s in ExecutionStatus]


class ExecutionRow(TypedDict):
    id: int
    href: str
    workflow_name: str
    status: str
    trigger: str
    #: Who started it (members share a workspace's runs); "" once that account is gone.
    started_by: str
    created: str
    created_full: str
    duration: str
    tokens: str
    cost: str
    error: str


class Choice(TypedDict):
    value: str
    label: str


def row_of(summary: ExecutionSummary, now: datetime | None = None) -> ExecutionRow:
    created = aware(summary.created_at)
    return ExecutionRow(
        id=summary.id,
        href=routes.execution_url(summary.id),
        workflow_name=summary.workflow_name or "Workflow file",
        status=str(summary.status),
        trigger=summary.trigger,
        started_by=summary.started_by_email or "",
        created=ago(created, now),
        created_full=format_clock(created),
        duration=format_duration(summary.duration_s),
        tokens=format_tokens(summary.usage),
        cost=format_cost(summary.usage),
        error=summary.error or "",
    )


def parse_day(raw: str, field: str) -> date | None:
    """A ``YYYY-MM-DD`` from a date input, or None when empty.

    Raises:
        ValueError: a message naming the field.
    """
    raw = raw.strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"The {field} date must look like 2026-01-31.") from None


def day_range(since: str, until: str) -> tuple[datetime | None, datetime | None]:
    """The ``[since, until]`` days (both included) as UTC datetimes for the service.

    Raises:
        ValueError: a bad date, or an end before the start.
    """
    first = parse_day(since, "from")
    last = parse_day(until, "to")
    if first and last and last < first:
        raise ValueError("The “to” date is before the “from” date.")
    start = datetime.combine(first, time.min, tzinfo=UTC) if first else None
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC) if last else None
    return start, end


class ExecutionsState(rx.State):
    rows: list[ExecutionRow] = []
    workflow_choices: list[Choice] = []
    workflow: str = ALL
    status: str = ALL
    since: str = ""
    until: str = ""
    page: int = 0
    total: int = 0
    loaded: bool = False
    busy: bool = False
    error: str = ""
    #: How far back the history goes, in words (the retention setting).
    kept_for: str = ""

    @rx.var
    def page_label(self) -> str:
        if not self.total:
            return ""
        first = self.page * PAGE_SIZE + 1
        last = min(self.total, first + PAGE_SIZE - 1)
        return f"{first}–{last} of {self.total:,}"

    @rx.var
    def has_previous(self) -> bool:
        return self.page > 0

    @rx.var
    def has_next(self) -> bool:
        return (self.page + 1) * PAGE_SIZE < self.total

    @rx.var
    def filtered(self) -> bool:
        return self.workflow != ALL or self.status != ALL or bool(self.since or self.until)

    async def _fetch(self) -> Any:
        actor = await signed_in(self)
        if actor is None:
            return await to_login(self)
        try:
            since, until = day_range(self.since, self.until)
        except ValueError as exc:
            self.error, self.rows, self.total = str(exc), [], 0
            self.loaded = True
            return None
        workflow_id = int(self.workflow) if self.workflow.isdigit() else None
        status = self.status if self.status in STATUSES else None
        try:
            page = await asyncio.to_thread(
                executions.list_executions,
                actor,
                workflow_id=workflow_id,
                status=status,
                since=since,
                until=until,
                limit=PAGE_SIZE,
                offset=self.page * PAGE_SIZE,
            )
        except NotFound:
            self.workflow = ALL
            self.error = "That workflow no longer exists; showing every workflow."
            return await self._fetch()
        except AgentFlowError as exc:
            self.error, self.rows, self.total = str(exc), [], 0
            self.loaded = True
            return None
        if page.total and not page.items and self.page > 0:  # the page emptied: go back
            self.page = max(0, (page.total - 1) // PAGE_SIZE)
            return await self._fetch()
        now = datetime.now(UTC)
        self.rows = [row_of(item, now) for item in page.items]
        self.total = page.total
        self.loaded = True
        return None

    @rx.event
    async def load(self) -> Any:
        """``on_load``: the user's workflows (for the filter) and the first page."""
        actor = await signed_in(self)
        if actor is None:
            return await to_login(self)
        summaries = await asyncio.to_thread(workflows.list_workflows, actor)
        self.workflow_choices = [Choice(value=ALL, label="All workflows")] + [
            Choice(value=str(s.id), label=s.name) for s in summaries
        ]
        wanted = str(self.router.url.query_parameters.get("workflow") or "")
        if wanted:
            known = {c["value"] for c in self.workflow_choices}
            self.workflow = wanted if wanted in known else ALL
        self.page, self.error = 0, ""
        days = executions.retention_days()
        self.kept_for = (
            f"Finished runs are kept for {days} day{'s' * (days != 1)}; a workflow may set "
            "its own retention_days."
            if days
            else "Finished runs are kept until you delete them."
        )
        return await self._fetch()

    async def _refilter(self) -> Any:
        self.page, self.error = 0, ""
        return await self._fetch()

    @rx.event
    async def set_workflow(self, value: str) -> Any:
        self.workflow = value or ALL
        return await self._refilter()

    @rx.event
    async def set_status(self, value: str) -> Any:
        self.status = value or ALL
        return await self._refilter()

    @rx.event
    async def set_since(self, value: str) -> Any:
        self.since = value
        return await self._refilter()

    @rx.event
    async def set_until(self, value: str) -> Any:
        self.until = value
        return await self._refilter()

    @rx.event
    async def clear_filters(self) -> Any:
        self.workflow, self.status, self.since, self.until = ALL, ALL, "", ""
        return await self._refilter()

    @rx.event
    async def next_page(self) -> Any:
        if (self.page + 1) * PAGE_SIZE < self.total:
            self.page += 1
        return await self._fetch()

    @rx.event
    async def previous_page(self) -> Any:
        self.page = max(0, self.page - 1)
        return await self._fetch()

    @rx.event
    async def refresh(self) -> Any:
        self.error = ""
        return await self._fetch()
