"""Executions: an execution's whole life, one package, a module per role.

========================  ==============================================================
module                    owns
========================  ==============================================================
:mod:`.rows`              the tables as records; ownership reads
:mod:`.events`            the one seq allocator outside the hot store; the one publisher
:mod:`.lifecycle`         every status write, each a named compare-and-set (create,
                          claim, lease renewal, cancel, reopen, recover, start, finish)
:mod:`.limits`            the per-user limit's tokens (owed, paid back)
:mod:`.queueing`          :func:`queue_run`, behind the API, webhooks, schedules, node
                          tests and the CLI
:mod:`.store`             the engine's durable sink (:class:`DbExecutionStore`);
                          :mod:`.store_sql` holds its SQL
:mod:`.reading`           the SPEC §9 record, the history, stored events, :func:`follow`
:mod:`.reaper`            runs whose worker died, queued runs nobody picked up
:mod:`.retention`         finished runs deleted after their retention
:mod:`.waits`             pausing a run that waits, and waking it (signal, timer)
:mod:`.children`          sub-workflow, map and error-workflow runs linked to their caller
:mod:`.awaiting`          a caller waiting for a run's end (``/run``, webhooks' ``wait``)
:mod:`.dashboard`         the numbers on ``/workflows``
:mod:`.run`               running (or resuming) one execution to its end
========================  ==============================================================

The names below are the package's public surface; callers import them from here.
"""

from agentflow_app.services.executions.awaiting import (
    EndOfRun,
    default_wait_s,
    max_wait_s,
    outcome,
)
from agentflow_app.services.executions.dashboard import Dashboard, DayStats, dashboard
from agentflow_app.services.executions.events import (
    append_event,
    channel,
    end_channel,
    event_json,
    publish,
)
from agentflow_app.services.executions.lifecycle import (
    LEASE_RENEW_S,
    LEASE_S,
    cancel,
    claim,
    create,
    mark_finished,
    mark_started,
    renew_leases,
    request_cancel,
)
from agentflow_app.services.executions.limits import dispatch_waiting
from agentflow_app.services.executions.queueing import (
    check_inputs,
    hook_workflow,
    queue_run,
    rerun,
    retry,
    start,
    start_from_hook,
)
from agentflow_app.services.executions.reading import (
    MAX_PAGE,
    ExecutionPage,
    ExecutionRecord,
    ExecutionSummary,
    StepView,
    check_owner,
    events_after,
    execution_record,
    follow,
    get,
    get_with_row,
    list_executions,
    read_record,
)
from agentflow_app.services.executions.reaper import (
    MAX_RECOVERIES,
    REAP_EVERY_S,
    ReapReport,
    reap,
)
from agentflow_app.services.executions.retention import PRUNE_EVERY_S, prune, retention_days
from agentflow_app.services.executions.rows import (
    TEST_TRIGGER,
    TRIGGERS,
    ClaimedRun,
    FinishedStep,
    load_execution,
)
from agentflow_app.services.executions.run import run_execution
from agentflow_app.services.executions.store import DbExecutionStore, Redactor, no_redaction
from agentflow_app.services.executions.waits import WAKE_EVERY_S, wake_due

__all__ = [
    "LEASE_RENEW_S",
    "LEASE_S",
    "MAX_PAGE",
    "MAX_RECOVERIES",
    "PRUNE_EVERY_S",
    "REAP_EVERY_S",
    "TEST_TRIGGER",
    "TRIGGERS",
    "WAKE_EVERY_S",
    "ClaimedRun",
    "Dashboard",
    "DayStats",
    "DbExecutionStore",
    "EndOfRun",
    "ExecutionPage",
    "ExecutionRecord",
    "ExecutionSummary",
    "FinishedStep",
    "ReapReport",
    "Redactor",
    "StepView",
    "append_event",
    "cancel",
    "channel",
    "check_inputs",
    "check_owner",
    "claim",
    "create",
    "dashboard",
    "default_wait_s",
    "dispatch_waiting",
    "end_channel",
    "event_json",
    "events_after",
    "execution_record",
    "follow",
    "get",
    "get_with_row",
    "hook_workflow",
    "list_executions",
    "load_execution",
    "mark_finished",
    "mark_started",
    "max_wait_s",
    "no_redaction",
    "outcome",
    "prune",
    "publish",
    "queue_run",
    "read_record",
    "reap",
    "renew_leases",
    "request_cancel",
    "rerun",
    "retention_days",
    "retry",
    "run_execution",
    "start",
    "start_from_hook",
    "wake_due",
]
