"""The dashboard on /workflows: the last two weeks of runs, as chart-ready rows."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

import reflex as rx

from agentflow_app.services import executions
from agentflow_app.services.executions import Dashboard
from agentflow_app.state.auth import signed_in, to_login
from agentflow_app.state.formatting import format_duration

DAYS = 14


class DayPoint(TypedDict):
    day: str
    succeeded: int
    failed: int
    cancelled: int
    active: int
    tokens: int
    cost: float


class Totals(TypedDict):
    runs: str
    success_rate: str
    p50: str
    p95: str
    tokens: str
    cost: str


def empty_totals() -> Totals:
    return Totals(runs="0", success_rate="", p50="", p95="", tokens="0", cost="$0.00")


def points(board: Dashboard) -> list[DayPoint]:
    return [
        DayPoint(
            day=f"{d.day:%b} {d.day.day}",
            succeeded=d.succeeded,
            failed=d.failed,
            cancelled=d.cancelled,
            active=d.active,
            tokens=d.input_tokens + d.output_tokens,
            cost=round(d.cost_usd, 4),
        )
        for d in board.days
    ]


def totals(board: Dashboard) -> Totals:
    finished = sum(d.succeeded + d.failed + d.cancelled for d in board.days)
    succeeded = sum(d.succeeded for d in board.days)
    rate = f"{succeeded / finished:.0%}" if finished else ""
    cost = board.cost_usd
    return Totals(
        runs=f"{board.total:,}",
        success_rate=rate,
        p50=format_duration(board.p50_duration_s),
        p95=format_duration(board.p95_duration_s),
        tokens=f"{board.input_tokens + board.output_tokens:,}",
        cost=f"${cost:.4f}" if 0 < cost < 1 else f"${cost:,.2f}",
    )


class DashboardState(rx.State):
    days: list[DayPoint] = []
    totals: Totals = empty_totals()
    loaded: bool = False

    @rx.var
    def has_runs(self) -> bool:
        return self.totals["runs"] != "0"

    @rx.event
    async def load(self) -> Any:
        """Read the signed-in user's last :data:`DAYS` days (on mount of the dashboard)."""
        actor = await signed_in(self)
        if actor is None:
            return await to_login(self)
        board = await asyncio.to_thread(executions.dashboard, actor, DAYS)
        self.days, self.totals, self.loaded = points(board), totals(board), True
        return None
