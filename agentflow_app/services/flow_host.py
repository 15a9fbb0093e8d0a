"""The app's ``FlowHost`` (``nodes/flow_host.py``): approvals and child runs for one run.

The waiting nodes reach it as ``ctx.services["flow"]``; it binds their calls to the run
and its workspace, so a node can only start children of its own workspace's workflows,
and runs the synchronous services on a thread.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from agentflow_app.engine.errors import NodeError
from agentflow_app.errors import InvalidInput, NotFound
from agentflow_app.services import approvals
from agentflow_app.services.executions import children
from agentflow_app.services.executions.rows import Caller, RunOwner
from agentflow_app.settings import get_settings


class DbFlowHost:
    def __init__(self, execution_id: int, owner: RunOwner) -> None:
        self.execution_id = execution_id
        self.owner = owner

    def _caller(self, node_id: str) -> Caller:
        return Caller(self.execution_id, node_id)

    async def open_approval(
        self, node_id: str, *, message: str, approvers: list[str], expires_at: datetime | None
    ) -> dict[str, Any]:
        approval_id, links = await asyncio.to_thread(
            approvals.open_approval,
            self.execution_id,
            node_id,
            owner=self.owner,
            message=message,
            approvers=approvers,
            expires_at=expires_at,
        )
        return {"approval_id": approval_id, **links.model_dump()}

    async def approval_decision(self, approval_id: int) -> dict[str, Any] | None:
        decision = await asyncio.to_thread(approvals.decision_of, approval_id)
        return decision.model_dump(mode="json") if decision else None

    async def expire_approval(self, approval_id: int) -> dict[str, Any] | None:
        decision = await asyncio.to_thread(approvals.expire, approval_id)
        return decision.model_dump(mode="json") if decision else None

    async def _check_depth(self, node_type: str) -> None:
        cap = get_settings().agentflow_max_subworkflow_depth
        level = await asyncio.to_thread(children.depth, self.execution_id)
        if level + 1 > cap:
            raise NodeError(
                f"{node_type}: runs are nested {level + 1} deep, past the limit of {cap} "
                "(AGENTFLOW_MAX_SUBWORKFLOW_DEPTH); do the workflows call each other in a loop?"
            )

    async def start_child(self, node_id: str, workflow_id: int, inputs: dict[str, Any]) -> int:
        await self._check_depth("flow.subworkflow")
        try:
            return await asyncio.to_thread(
                children.start_child, self._caller(node_id), self.owner, workflow_id, inputs
            )
        except (NotFound, InvalidInput) as exc:
            raise NodeError(f"flow.subworkflow: {exc}") from None

    async def child_outcome(self, child_id: int) -> dict[str, Any]:
        outcome = await asyncio.to_thread(children.child_outcome, child_id)
        return outcome.model_dump(mode="json")

    async def start_map(
        self, node_id: str, workflow_id: int, items: list[Any], concurrency: int
    ) -> int:
        await self._check_depth("flow.map")
        try:
            return await asyncio.to_thread(
                children.start_map,
                self._caller(node_id),
                self.owner,
                workflow_id,
                items,
                concurrency,
            )
        except (NotFound, InvalidInput) as exc:
            raise NodeError(f"flow.map: {exc}") from None

    async def map_progress(self, node_id: str) -> dict[str, int]:
        progress = await asyncio.to_thread(children.map_progress, self._caller(node_id))
        return progress.model_dump()

    async def map_results(self, node_id: str) -> list[dict[str, Any]]:
        results = await asyncio.to_thread(children.map_results, self._caller(node_id))
        return [result.model_dump(mode="json") for result in results]

    async def stop_children(self, node_id: str) -> int:
        return await asyncio.to_thread(children.cancel_children, self.execution_id, node_id=node_id)
