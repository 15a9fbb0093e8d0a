"""The numbers on ``/workflows``: runs per day by status, durations, tokens and cost."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import (
    select,
)

from agentflow_app.db import get_engine
from agentflow_app.engine.status import TERMINAL_EXECUTION, ExecutionStatus
from agentflow_app.errors import InvalidInput
from agentflow_app.services.executions.rows import (
    EXECUTIONS,
    TEST_TRIGGER,
    aware,
    duration,
)
from agentflow_app.services.users import Actor


class DayStats(BaseModel):
    """One day of the dashboard (UTC)."""

    day: date
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    #: queued, running or waiting
    active: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class Dashboard(BaseModel):
    days: list[DayStats]
    total: int
    p50_duration_s: float | None
    p95_duration_s: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float


def dashboard(actor: Actor, days: int = 14, now: datetime | None = None) -> Dashboard:
    """Runs per day by status, duration percentiles, tokens and cost per day (UTC days).

    Node tests are not runs of a workflow, so they are not counted, but the tokens and
    the money they spent are.

    Raises:
        InvalidInput: ``days`` outside 1–366.
    """
    if not 1 <= days <= 366:
        raise InvalidInput(f"days must be between 1 and 366, got {days}")
    now = now or datetime.now(UTC)
    first = now.date() - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(
                EXECUTIONS.c.status,
                EXECUTIONS.c.trigger,
                EXECUTIONS.c.created_at,
                EXECUTIONS.c.started_at,
                EXECUTIONS.c.finished_at,
                EXECUTIONS.c.usage,
            ).where(
                EXECUTIONS.c.workspace_id == actor.workspace_id, EXECUTIONS.c.created_at >= since
            )
        ).all()
    per_day = {
        first + timedelta(days=i): DayStats(day=first + timedelta(days=i)) for i in range(days)
    }
    durations: list[float] = []
    totals: dict[str, float] = defaultdict(float)
    for row in rows:
        stats = per_day.get(aware(row.created_at).date())
        if stats is None:
            continue
        status = ExecutionStatus(row.status)
        counted = row.trigger != TEST_TRIGGER
        if counted and status in TERMINAL_EXECUTION:
            setattr(stats, status.value, getattr(stats, status.value) + 1)
        elif counted:
            stats.active += 1
        usage = row.usage or {}
        for key in ("input_tokens", "output_tokens", "cost_usd"):
            value = usage.get(key) or 0
            if isinstance(value, int | float) and not isinstance(value, bool):
                setattr(stats, key, getattr(stats, key) + value)
                totals[key] += value
        took = duration(row.started_at, row.finished_at)
        if counted and status in TERMINAL_EXECUTION and took is not None:
            durations.append(took)
    for stats in per_day.values():
        stats.cost_usd = round(stats.cost_usd, 6)
    return Dashboard(
        days=list(per_day.values()),
        total=sum(row.trigger != TEST_TRIGGER for row in rows),
        p50_duration_s=_percentile(durations, 50),
        p95_duration_s=_percentile(durations, 95),
        input_tokens=int(totals["input_tokens"]),
        output_tokens=int(totals["output_tokens"]),
        cost_usd=round(totals["cost_usd"], 6),
    )


def _percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (no interpolation: every answer is a real run's duration)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return round(ordered[rank - 1], 3)
