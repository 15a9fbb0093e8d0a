"""Schedule triggers: which workflows are due, and firing each fire time exactly once.

Workers call :func:`fire_due` every :data:`TICK_S` seconds (``tasks.schedules``); it runs
no matter how many workers tick at once, because firing is a compare-and-set on
``workflows.schedule_fired_at``: the process that moves the marker to a fire time is the
only one that queues its run.

Rules worth knowing:

* A schedule counts from the later of its last fire, its workflow's creation, and its last
  save (minus :data:`SAVE_GRACE_S`, so a save a moment after a fire time, before a tick
  saw it, does not swallow that fire). A save therefore restarts the count: fire times
  from before it, under what may have been another cron, are never made up.
* Fire times missed while nothing ran (workers down) are not made up in a burst: the most
  recent one fires once, and the run's ``execution.queued`` event says how many were
  skipped (``{"scheduled_for": ..., "missed": N}``).
* The marker moves before the run is queued, so a process that dies in between loses that
  one fire rather than risking a duplicate; a run that cannot be queued (the saved draft
  is invalid, a credential is missing) is logged with the workflow id and not retried
  until the next fire time.
* Cron times are read in the schedule's IANA time zone by croniter, which handles daylight
  saving: a time skipped when clocks go forward fires at the first valid minute after it.
  When clocks go back, a schedule set to given hours (``30 2 * * *``) fires once at a
  repeated local time (the second occurrence is dropped, as cron does), while one that
  runs every hour (``*/15 * * * *``) keeps its pace through both passes of the hour.
* A workflow whose schedule trigger is removed or that is deleted stops firing: only rows
  with a ``schedule_cron`` are due, and the compare-and-set checks the cron is unchanged.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, func, or_, select, update

from agentflow_app.db import aware, get_engine
from agentflow_app.errors import InvalidInput, NotFound
from agentflow_app.models import Workflow, WorkflowVersion
from agentflow_app.nodes.triggers import ScheduleTrigger
from agentflow_app.services import workspaces
from agentflow_app.services.executions import queue_run

log = logging.getLogger(__name__)

W = Workflow.__table__
WV = WorkflowVersion.__table__

SCHEDULE_TRIGGER = ScheduleTrigger.type
#: How often every worker looks for due schedules (seconds); a Redis lock keeps it to one.
TICK_S = 5.0
#: A save this soon after a fire time still lets that fire happen (two ticks' lateness).
SAVE_GRACE_S = 2 * TICK_S
#: Missed fire times are counted up to this many (a minutely cron down for a week is ~10k).
MISSED_COUNT_LIMIT = 10_000


class DueSchedule(BaseModel):
    """A workflow whose schedule has a fire time that has passed and not been fired."""

    workflow_id: int
    #: Who the run is started as (the workflow's creator; None once deleted), and the
    #: workspace it runs in.
    owner_id: int | None
    workspace_id: int
    #: ``schedule_cron`` and ``schedule_timezone`` as stored: :func:`fire` checks they are
    #: unchanged, so a schedule edited or removed meanwhile does not fire.
    cron: str
    timezone: str | None
    #: The most recent passed fire time (UTC); the run is queued for it.
    fire_at: datetime
    #: Earlier fire times since the last fire that were skipped (capped at MISSED_COUNT_LIMIT).
    missed: int


def due(now: datetime | None = None) -> list[DueSchedule]:
    """Workflows whose next fire time after their last fire is at or before ``now``.

    A stored schedule that does not parse (a draft saved with a half-typed cron) is skipped:
    the editor shows the problem, and it cannot run until it is fixed.

    Args:
        now: the current time (aware); a fixed clock for tests, ``datetime.now(UTC)`` else.
    """
    now = aware(now or datetime.now(UTC))
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(
                W.c.id,
                W.c.owner_id,
                W.c.workspace_id,
                W.c.schedule_cron,
                W.c.schedule_timezone,
                W.c.schedule_fired_at,
                W.c.created_at,
                W.c.updated_at,
            ).where(W.c.schedule_cron.is_not(None), workspaces.not_disabled(W.c.workspace_id))
        ).all()
    result = []
    for row in rows:
        try:
            config = ScheduleTrigger.Config(
                cron=row.schedule_cron, timezone=row.schedule_timezone or "UTC"
            )
        except ValidationError:
            log.debug("workflow %s: schedule %r does not parse", row.id, row.schedule_cron)
            continue
        since = max(
            moment
            for moment in (
                row.schedule_fired_at,
                row.created_at,
                row.updated_at - timedelta(seconds=SAVE_GRACE_S),
            )
            if moment is not None
        )
        passed = latest_fire(config, since, now)
        if passed is not None:
            fire_at, missed = passed
            result.append(
                DueSchedule(
                    workflow_id=row.id,
                    owner_id=row.owner_id,
                    workspace_id=row.workspace_id,
                    cron=row.schedule_cron,
                    timezone=row.schedule_timezone,
                    fire_at=fire_at,
                    missed=missed,
                )
            )
    return result


def latest_fire(
    config: ScheduleTrigger.Config, since: datetime, now: datetime
) -> tuple[datetime, int] | None:
    """The most recent fire time in ``(since, now]`` and how many came before it.

    Returns:
        ``(fire time in UTC, earlier fire times in the window)``, or None when no fire
        time has passed since ``since``.
    """
    zone = ZoneInfo(config.timezone)
    times = croniter(config.cron, since.astimezone(zone))
    every_hour = times.expanded[1] == ["*"]
    previous = since.astimezone(zone)
    latest: datetime | None = None
    missed = 0
    while (candidate := times.get_next(datetime)) <= now:
        if not every_hour and _wall_clock(candidate) <= _wall_clock(previous):
            continue  # local time went back: the hour repeated when clocks went back
        if latest is not None:
            missed += 1
        latest = previous = candidate
        if missed >= MISSED_COUNT_LIMIT:  # stop counting; jump to the last one
            latest = croniter(config.cron, now.astimezone(zone)).get_prev(datetime)
            break
    return (latest.astimezone(UTC), missed) if latest is not None else None


def fire(schedule: DueSchedule) -> int | None:
    """Queue the run for ``schedule.fire_at``, unless some process already did.

    The marker moves first (compare-and-set: still this cron and time zone, marker before
    this fire time), then the run of the workflow's newest version is queued as its owner,
    with trigger ``schedule`` and the trigger's configured ``inputs`` values.

    Returns:
        The new execution's id, or None when another process fired this time, or the
        workflow was deleted or its schedule changed meanwhile.

    Raises:
        InvalidWorkflow: the saved document cannot run (a draft, a missing credential).
        InputsError: the configured input values are not a JSON object.
    """
    with get_engine().begin() as conn:
        taken = conn.execute(
            update(W)
            .where(
                W.c.id == schedule.workflow_id,
                W.c.schedule_cron == schedule.cron,
                func.coalesce(W.c.schedule_timezone, "") == (schedule.timezone or ""),
                or_(W.c.schedule_fired_at.is_(None), W.c.schedule_fired_at < schedule.fire_at),
            )
            .values(schedule_fired_at=schedule.fire_at)
        ).rowcount
        if not taken:
            return None
        version, document = _current(conn, schedule.workflow_id)
    inputs = _configured_inputs(document)
    return queue_run(
        document,
        inputs,
        owner_id=schedule.owner_id,
        workspace_id=schedule.workspace_id,
        trigger="schedule",
        workflow_id=schedule.workflow_id,
        version=version,
        queued_data={"scheduled_for": schedule.fire_at.isoformat(), "missed": schedule.missed},
    )


def fire_due(now: datetime | None = None) -> list[int]:
    """Fire every due schedule once; the tick the workers run.

    A schedule that cannot be queued is logged (workflow id, fire time, what is wrong) and
    does not stop the others.

    Returns:
        The ids of the executions this call queued.
    """
    queued = []
    for schedule in due(now):
        try:
            execution_id = fire(schedule)
        except (InvalidInput, NotFound) as exc:
            log.warning(
                "schedule of workflow %s did not run for %s: %s",
                schedule.workflow_id,
                schedule.fire_at.isoformat(),
                exc,
            )
            continue
        if execution_id is not None:
            queued.append(execution_id)
    return queued


# -- helpers ---------------------------------------------------------------------------------


def _current(conn: Connection, workflow_id: int) -> tuple[int, dict[str, Any]]:
    row = conn.execute(
        select(W.c.version, WV.c.document)
        .select_from(W.join(WV, (WV.c.workflow_id == W.c.id) & (WV.c.version == W.c.version)))
        .where(W.c.id == workflow_id)
    ).one_or_none()
    if row is None:
        raise NotFound(f"workflow {workflow_id} has no current version")
    return row.version, row.document


def _configured_inputs(document: dict[str, Any]) -> Any:
    """The ``inputs`` values of the document's schedule trigger ({} when it sets none)."""
    for node in document.get("nodes", []):
        if node.get("type") == SCHEDULE_TRIGGER:
            return (node.get("data") or {}).get("config", {}).get("inputs") or {}
    return {}


def _wall_clock(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)
