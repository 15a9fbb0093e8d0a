"""``flow.wait``, ``flow.subworkflow`` and ``flow.map``: time and other workflows (SPEC §6, §12).

Each waits durably (``engine.errors.Wait``): the run gives its worker back and is queued
again when the timer falls due or a child run ends. A child-waiting step also asks to be
woken every :data:`POLL_S` as a safety net, should the signal of a child's end be lost
with a worker that died at that moment.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field, model_validator

from agentflow_app.engine.errors import NodeError, Wait
from agentflow_app.engine.node import Node, NodeConfig, RunContext, TemplateJSON, TemplateStr
from agentflow_app.nodes.flow_host import flow_host

#: A step waiting on child runs is looked at again at least this often (seconds).
POLL_S = 60.0
#: Items a map may have.
MAX_ITEMS = 100_000


def _poll() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=POLL_S)


def _when(value: Any, field: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise NodeError(
                f"flow.wait: {field} {value!r} is not an ISO time such as 2026-12-24T09:00:00Z"
            ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class WaitNode(Node):
    type = "flow.wait"
    label = "Wait"
    icon = "timer"
    category = "Flow"
    description = (
        "Pauses the run for a duration or until a time; no worker is held, and the wait "
        "survives restarts."
    )

    class Config(NodeConfig):
        for_s: TemplateStr | float | None = Field(
            default=None, description="Seconds to wait (a number or a template)"
        )
        until: TemplateStr | None = Field(
            default=None,
            description="An ISO time to wait until (a template), e.g. 2026-12-24T09:00Z",
        )

        @model_validator(mode="after")
        def _one(self) -> WaitNode.Config:
            if (self.for_s is None) == (self.until is None or self.until == ""):
                raise ValueError("set exactly one of for_s (seconds) or until (a time)")
            return self

    async def run(self, ctx: RunContext, config: Config) -> dict[str, Any]:
        now = datetime.now(UTC)
        state = ctx.resume
        if state is None:
            if config.for_s is not None:
                try:
                    seconds = float(config.for_s)
                except (TypeError, ValueError):
                    raise NodeError(f"flow.wait: for_s {config.for_s!r} is not a number") from None
                if not 0 <= seconds <= 366 * 24 * 3600:
                    raise NodeError("flow.wait: for_s must be between 0 and a year of seconds")
                until = now + timedelta(seconds=seconds)
            else:
                until = _when(config.until, "until")
            state = {"since": now.isoformat(), "until": until.isoformat()}
        until = datetime.fromisoformat(state["until"])
        if until > now:
            raise Wait(f"waiting until {until:%Y-%m-%d %H:%M:%S} UTC", state=state, wake_at=until)
        since = datetime.fromisoformat(state["since"])
        return {"waited_s": round((now - since).total_seconds(), 3), "resumed_at": now.isoformat()}


class Subworkflow(Node):
    type = "flow.subworkflow"
    label = "Sub-workflow"
    icon = "workflow"
    category = "Flow"
    description = (
        "Runs another of your workflows as a linked child run, with inputs from templates; "
        "waits for its outputs (or only starts it)."
    )

    class Config(NodeConfig):
        workflow_id: int = Field(
            ge=1, description="The workflow to run", json_schema_extra={"widget": "workflow"}
        )
        inputs: TemplateJSON = Field(
            default_factory=dict, description="The child's inputs (an object of templates)"
        )
        wait: bool = Field(default=True, description="Wait for the child's outputs")

    async def run(self, ctx: RunContext, config: Config) -> dict[str, Any]:
        host = flow_host(ctx, self.type)
        state = ctx.resume
        if state is None:
            if not isinstance(config.inputs, dict):
                raise NodeError("flow.subworkflow: inputs must be an object of name: value")
            child = await host.start_child(ctx.node_id, config.workflow_id, config.inputs)
            if not config.wait:
                return {"execution_id": child}
            state = {"execution_id": child, "workflow_id": config.workflow_id}
        outcome = await host.child_outcome(state["execution_id"])
        status = outcome["status"]
        if status == "succeeded":
            return outcome.get("outputs") or {}
        if status in ("failed", "cancelled"):
            raise NodeError(
                f"sub-workflow run {outcome['execution_id']} {status}: "
                f"{outcome.get('error') or 'no reason given'}"
            )
        raise Wait(f"waiting for run {state['execution_id']}", state=state, wake_at=_poll())


class Map(Node):
    type = "flow.map"
    label = "Map"
    icon = "list-tree"
    category = "Flow"
    description = (
        "Runs a workflow once per item of a list (inputs item and index), a few at a "
        "time; gives the results in item order."
    )

    class Config(NodeConfig):
        items: TemplateStr = Field(description="A template giving a list, e.g. {{ inputs.leads }}")
        workflow_id: int = Field(
            ge=1, description="The workflow run per item", json_schema_extra={"widget": "workflow"}
        )
        concurrency: int = Field(default=4, ge=1, le=64, description="Items run at once")

    async def run(self, ctx: RunContext, config: Config) -> dict[str, Any]:
        host = flow_host(ctx, self.type)
        state = ctx.resume
        if state is None:
            items = config.items
            if not isinstance(items, list):
                raise NodeError(
                    f"flow.map: items must give a list, got {type(items).__name__}; write it "
                    "as one expression, e.g. {{ inputs.leads }}"
                )
            if len(items) > MAX_ITEMS:
                raise NodeError(f"flow.map: {len(items)} items; at most {MAX_ITEMS}")
            total = await host.start_map(ctx.node_id, config.workflow_id, items, config.concurrency)
            state = {"total": total, "workflow_id": config.workflow_id}
        progress = await host.map_progress(ctx.node_id)
        done = progress["succeeded"] + progress["failed"] + progress["cancelled"]
        if progress["failed"] and config.on_error != "continue":
            await host.stop_children(ctx.node_id)
            failed = next(r for r in await host.map_results(ctx.node_id) if r["status"] == "failed")
            raise NodeError(
                f"item {failed['index']} failed (run {failed['execution_id']}): {failed['error']}"
            )
        if done < progress["total"]:
            state = {**state, "done": done, "failed": progress["failed"]}
            raise Wait(f"{done} / {progress['total']} items done", state=state, wake_at=_poll())
        results = [
            r["outputs"]
            if r["status"] == "succeeded"
            else {"error": r["error"], "status": r["status"]}
            for r in await host.map_results(ctx.node_id)
        ]
        return {"results": results, "total": progress["total"], "failed": progress["failed"]}
