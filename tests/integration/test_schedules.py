"""``trigger.schedule`` workflows run on their cron, once per fire time, as their owner.

Most tests drive the scheduler with a fixed clock (``now``) over real workflows in the
database, on both stacks; the last ones start real Celery workers and wait for their
timers to queue and run scheduled executions on their own.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from agentflow_app.db import get_engine
from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.errors import NotFound
from agentflow_app.models import Workflow
from agentflow_app.nodes.triggers import ScheduleTrigger
from agentflow_app.services import executions, schedules, users, workflows
from agentflow_app.services.executions import ExecutionSummary, events_after
from agentflow_app.services.users import Actor
from tests.helpers.documents import chain, node
from tests.helpers.executions import status_of, wait_until
from tests.helpers.stack import Stack
from tests.helpers.users import PASSWORD
from tests.helpers.workers import worker_pool

W = Workflow.__table__
MINUTE = timedelta(minutes=1)


@pytest.fixture
def owner(stack: Stack) -> Iterator[Actor]:
    """A user; their workflows are deleted afterwards so no later worker fires them."""
    actor = users.create_user(f"s{secrets.token_hex(4)}@example.com", PASSWORD)
    yield actor
    for summary in workflows.list_workflows(actor):
        workflows.delete(actor, summary.id)


def scheduled(
    cron: str = "* * * * *", timezone: str = "UTC", inputs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """schedule(cron, inputs) → output ``greeting: hello <name>``."""
    return chain(
        "scheduled",
        node(
            "start",
            "trigger.schedule",
            cron=cron,
            timezone=timezone,
            inputs={"name": "cron"} if inputs is None else inputs,
        ),
        node("out", "output", fields={"greeting": "hello {{ inputs.name }}"}),
    )


def created_minute(workflow_id: int) -> datetime:
    """The start of the minute the workflow was created in (UTC)."""
    with get_engine().connect() as conn:
        created = conn.execute(select(W.c.created_at).where(W.c.id == workflow_id)).scalar_one()
    return created.replace(second=0, microsecond=0)


def runs(actor: Actor, workflow_id: int) -> list[ExecutionSummary]:
    """The workflow's executions as its history page lists them, oldest first."""
    return executions.list_executions(actor, workflow_id=workflow_id).items[::-1]


def queued_data(execution_id: int) -> dict[str, Any]:
    first = events_after(execution_id)[0]
    assert first.type == "execution.queued"
    return first.data


# -- the fixed clock --------------------------------------------------------------------------


def test_a_minutely_schedule_fires_once_per_minute_with_its_values(owner: Actor) -> None:
    workflow_id = workflows.create(owner, scheduled(inputs={"name": "Ada"})).id
    minute = created_minute(workflow_id)

    schedules.fire_due(minute + MINUTE - timedelta(microseconds=1))
    assert runs(owner, workflow_id) == []

    schedules.fire_due(minute + MINUTE + timedelta(seconds=3))
    schedules.fire_due(minute + MINUTE + timedelta(seconds=3))  # the same tick again
    schedules.fire_due(minute + MINUTE + timedelta(seconds=40))
    [first] = runs(owner, workflow_id)
    schedules.fire_due(minute + 2 * MINUTE)  # exactly on the next fire time
    [_, second] = runs(owner, workflow_id)

    for run in (first, second):
        assert run.trigger == "schedule"
        assert run.status == ExecutionStatus.QUEUED
        assert run.workflow_version == 1
        assert executions.get(owner, run.id)["inputs"] == {"name": "Ada"}
    assert queued_data(first.id) == {"scheduled_for": (minute + MINUTE).isoformat(), "missed": 0}
    assert queued_data(second.id) == {
        "scheduled_for": (minute + 2 * MINUTE).isoformat(),
        "missed": 0,
    }


def test_fire_times_missed_while_nothing_ran_fire_once_and_say_how_many(owner: Actor) -> None:
    workflow_id = workflows.create(owner, scheduled()).id
    minute = created_minute(workflow_id)

    # Nothing ticked for five fire times (workers down); the next tick fires the latest.
    schedules.fire_due(minute + 5 * MINUTE + timedelta(seconds=10))
    schedules.fire_due(minute + 5 * MINUTE + timedelta(seconds=20))
    [caught_up] = runs(owner, workflow_id)
    schedules.fire_due(minute + 6 * MINUTE + timedelta(seconds=1))
    [_, on_time] = runs(owner, workflow_id)

    assert queued_data(caught_up.id) == {
        "scheduled_for": (minute + 5 * MINUTE).isoformat(),
        "missed": 4,
    }
    assert queued_data(on_time.id)["missed"] == 0


def test_several_schedulers_that_saw_the_same_fire_time_queue_one_run(owner: Actor) -> None:
    workflow_id = workflows.create(owner, scheduled()).id
    now = created_minute(workflow_id) + MINUTE + timedelta(seconds=1)
    [seen] = [due for due in schedules.due(now) if due.workflow_id == workflow_id]
    start = threading.Barrier(4)
    queued: list[int | None] = []

    def fire() -> None:
        start.wait()
        queued.append(schedules.fire(seen))

    threads = [threading.Thread(target=fire) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    [run] = runs(owner, workflow_id)
    assert sorted(queued, key=str) == [run.id, None, None, None]


def test_the_cron_is_read_in_the_schedule_time_zone(owner: Actor) -> None:
    workflow_id = workflows.create(owner, scheduled("0 9 * * *", "Europe/Paris")).id
    paris = ZoneInfo("Europe/Paris")
    # The first 09:00 in Paris after creation (after 23:00 UTC, Paris is already tomorrow).
    created = created_minute(workflow_id).astimezone(paris)
    first = datetime(created.year, created.month, created.day, 9, tzinfo=paris)
    if first <= created:
        first = datetime.combine(created.date() + timedelta(days=1), time(9), tzinfo=paris)
    nine = first.astimezone(UTC)

    schedules.fire_due(nine - timedelta(seconds=1))
    assert runs(owner, workflow_id) == []
    schedules.fire_due(nine + timedelta(seconds=1))

    [run] = runs(owner, workflow_id)
    assert queued_data(run.id)["scheduled_for"] == nine.isoformat()


def test_a_removed_schedule_or_a_deleted_workflow_stops_firing(owner: Actor) -> None:
    removed = workflows.create(owner, scheduled()).id
    deleted = workflows.create(owner, scheduled()).id
    minute = created_minute(removed)
    schedules.fire_due(minute + MINUTE + timedelta(seconds=1))
    assert len(runs(owner, removed)) == 1

    manual = chain("no schedule", node("start", "trigger.manual"), node("out", "output", value="x"))
    workflows.update(owner, removed, manual)
    workflows.delete(owner, deleted)
    later = minute + 5 * MINUTE
    due = {schedule.workflow_id for schedule in schedules.due(later)}
    schedules.fire_due(later)

    assert removed not in due and deleted not in due
    assert len(runs(owner, removed)) == 1
    with pytest.raises(NotFound):
        runs(owner, deleted)


def test_a_schedule_that_cannot_run_is_logged_once_and_others_still_fire(
    owner: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    broken_document = scheduled()
    broken_document["nodes"][1]["data"]["config"]["fields"] = {"x": "{{ nodes.nope.output }}"}
    broken = workflows.create(owner, broken_document, draft=True).id
    healthy = workflows.create(owner, scheduled()).id
    now = created_minute(broken) + 2 * MINUTE + timedelta(seconds=1)

    with caplog.at_level(logging.WARNING, logger=schedules.__name__):
        schedules.fire_due(now)
        schedules.fire_due(now + timedelta(seconds=5))

    assert runs(owner, broken) == []
    assert len(runs(owner, healthy)) == 1
    [warning] = [r.getMessage() for r in caplog.records if f"workflow {broken} " in r.getMessage()]
    assert f"schedule of workflow {broken} did not run for" in warning
    assert "the workflow is not valid: " in warning and "nope" in warning


def daily_at(moment: datetime) -> str:
    return f"{moment.minute} {moment.hour} * * *"


def test_a_save_does_not_make_up_fire_times_from_before_it(owner: Actor) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    # Made three days ago to run daily half an hour before now; nothing ran since.
    workflow_id = workflows.create(owner, scheduled(daily_at(now - 30 * MINUTE))).id
    _saved_at(workflow_id, now - timedelta(days=3))
    schedules.fire_due(now)
    [caught_up] = runs(owner, workflow_id)
    assert queued_data(caught_up.id) == {
        "scheduled_for": (now - 30 * MINUTE).isoformat(),
        "missed": 2,
    }

    # Now moved to twenty minutes before now: today's time has passed, yet it is not run.
    workflows.update(owner, workflow_id, scheduled(daily_at(now - 20 * MINUTE)))
    schedules.fire_due(datetime.now(UTC) + timedelta(seconds=1))
    assert [run.id for run in runs(owner, workflow_id)] == [caught_up.id]
    tomorrow = now - 20 * MINUTE + timedelta(days=1)
    schedules.fire_due(tomorrow)
    [_, next_day] = runs(owner, workflow_id)
    assert queued_data(next_day.id) == {"scheduled_for": tomorrow.isoformat(), "missed": 0}


# -- daylight saving (croniter in the schedule's zone) -----------------------------------------


def _fire(cron: str, since: datetime, now: datetime) -> tuple[datetime, int] | None:
    config = ScheduleTrigger.Config(cron=cron, timezone="Europe/Paris")
    return schedules.latest_fire(config, since, now)


PARIS = ZoneInfo("Europe/Paris")


def test_a_time_skipped_when_clocks_go_forward_fires_just_after() -> None:
    # 2025-03-30: 02:00 CET becomes 03:00 CEST; there is no 02:30.
    fired = _fire(
        "30 2 * * *",
        datetime(2025, 3, 29, 12, tzinfo=PARIS),
        datetime(2025, 3, 30, 12, tzinfo=PARIS),
    )
    assert fired == (datetime(2025, 3, 30, 1, 0, tzinfo=UTC), 0)  # 03:00 CEST


def test_a_time_repeated_when_clocks_go_back_fires_once() -> None:
    # 2025-10-26: 03:00 CEST becomes 02:00 CET; 02:00-02:59 happens twice.
    first = _fire(
        "0,30 2 * * *",
        datetime(2025, 10, 25, 12, tzinfo=PARIS),
        datetime(2025, 10, 26, 12, tzinfo=PARIS),
    )
    assert first == (datetime(2025, 10, 26, 0, 30, tzinfo=UTC), 1)  # 02:00 and 02:30 CEST
    # From that fire on, the repeated 02:00 and 02:30 CET are skipped: next is the 27th.
    after = _fire("0,30 2 * * *", first[0], datetime(2025, 10, 27, 2, tzinfo=UTC))
    assert after == (datetime(2025, 10, 27, 1, 30, tzinfo=UTC), 1)


def test_an_every_hour_schedule_keeps_its_pace_through_the_repeated_hour() -> None:
    fired = _fire(
        "*/30 * * * *",
        datetime(2025, 10, 26, 1, tzinfo=PARIS),  # 23:00 UTC
        datetime(2025, 10, 26, 3, tzinfo=UTC),  # four hours later
    )
    assert fired == (datetime(2025, 10, 26, 3, tzinfo=UTC), 7)


def _saved_at(workflow_id: int, moment: datetime) -> None:
    """Move a workflow's creation and last save back, as if made at ``moment``."""
    with get_engine().begin() as conn:
        conn.execute(
            update(W).where(W.c.id == workflow_id).values(created_at=moment, updated_at=moment)
        )


# -- real workers ------------------------------------------------------------------------------


def test_workers_fire_a_schedule_on_their_own_once_per_fire_time(
    stack: Stack, owner: Actor, tmp_path: Path
) -> None:
    workflow_id = workflows.create(owner, scheduled()).id
    # Saved three minutes ago while no worker ran: due at once, with missed fire times.
    _saved_at(workflow_id, datetime.now(UTC) - 3 * MINUTE)

    def fired(count: int) -> bool:
        return len(runs(owner, workflow_id)) >= count

    with worker_pool(stack, tmp_path) as pool:
        pool.start("sched-a", concurrency=1)
        pool.start("sched-b", concurrency=1)
        wait_until(lambda: fired(1), "a worker's timer to queue the missed fire")
        wait_until(lambda: fired(2), "the next minute's fire")
        wait_until(
            lambda: all(status_of(run.id).finished for run in runs(owner, workflow_id)),
            "the scheduled runs to finish",
        )

    history = runs(owner, workflow_id)
    fire_times = Counter(queued_data(run.id)["scheduled_for"] for run in history)
    assert fire_times.most_common(1)[0][1] == 1, f"a fire time ran twice: {fire_times}"
    assert queued_data(history[0].id)["missed"] >= 1
    for run in history:
        record = executions.get(owner, run.id)
        assert (record["status"], record["outputs"]) == ("succeeded", {"greeting": "hello cron"})
        assert record["inputs"] == {"name": "cron"}
