"""What the waiting nodes ask of the host that runs them: approvals and child runs.

``human.approval``, ``flow.subworkflow`` and ``flow.map`` need state outside the run (an
approval a person decides, executions of other workflows). The engine knows nothing of
it; the host puts an object with these methods in ``ctx.services["flow"]``
(``agentflow_app.services.flow_host.DbFlowHost`` in the app), the way the LLM factory
reaches the LLM nodes. Every method is keyed by the calling step, so a step that runs
again after a crash finds what it already started instead of starting it twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from agentflow_app.engine.errors import NodeError
from agentflow_app.engine.node import RunContext


class FlowHost(Protocol):
    async def open_approval(
        self, node_id: str, *, message: str, approvers: list[str], expires_at: datetime | None
    ) -> dict[str, Any]:
        """Store the question once per step: ``{approval_id, approve_url, reject_url}``."""
        ...

    async def approval_decision(self, approval_id: int) -> dict[str, Any] | None:
        """``{approved, comment, by, decided_at}`` once decided, else None."""
        ...

    async def expire_approval(self, approval_id: int) -> dict[str, Any] | None:
        """End the wait by its timeout; the decision that stands (a person may have won)."""
        ...

    async def start_child(self, node_id: str, workflow_id: int, inputs: dict[str, Any]) -> int:
        """Queue one run of ``workflow_id`` as this step's child; its execution id."""
        ...

    async def child_outcome(self, child_id: int) -> dict[str, Any]:
        """``{execution_id, status, outputs, error}`` of a child run."""
        ...

    async def start_map(
        self, node_id: str, workflow_id: int, items: list[Any], concurrency: int
    ) -> int:
        """Store one child run per item (``{item, index}``); how many items."""
        ...

    async def map_progress(self, node_id: str) -> dict[str, int]:
        """``{total, succeeded, failed, cancelled}`` of this step's items."""
        ...

    async def map_results(self, node_id: str) -> list[dict[str, Any]]:
        """``{index, execution_id, status, outputs, error}`` per item, in item order."""
        ...

    async def stop_children(self, node_id: str) -> int:
        """Cancel this step's unfinished children; how many were told to stop."""
        ...


def flow_host(ctx: RunContext, node_type: str) -> FlowHost:
    """The run's host, or a clear error where there is none (a bare engine run)."""
    host = ctx.services.get("flow")
    if host is None:
        raise NodeError(
            f"{node_type} needs AgentFlow's server to run (approvals and child runs are "
            "stored there); run the workflow with Execute or `agentflow run`"
        )
    return host
