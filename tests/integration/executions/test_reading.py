"""An execution's record reads the same on every path: on PostgreSQL ``execution_record``
sends its two statements in one round trip, past SQLAlchemy's result machinery, and must
answer exactly what ``read_record`` builds through it (the SQLite stack has one path)."""

from __future__ import annotations

import pytest

from agentflow_app.errors import NotFound
from agentflow_app.services.executions import create, execution_record, run_execution
from agentflow_app.services.executions.reading import read_record
from agentflow_app.services.executions.rows import Caller
from tests.helpers.documents import chain, node


async def test_a_record_is_the_same_whichever_path_reads_it(stack, make_actor) -> None:
    actor = make_actor()
    document = chain(
        "read",
        node("start", "trigger.manual", inputs=[{"name": "who", "type": "string"}]),
        node("out", "output", fields={"hello": "Hello {{ inputs.who }}"}),
    )
    owner = {"owner_id": actor.id, "workspace_id": actor.workspace_id}
    execution_id = create(document, {"who": "Ada"}, **owner)
    await run_execution(execution_id, http=None, credentials=None)
    first_child = create(document, {}, caller=Caller(execution_id, "out"), **owner)
    create(document, {}, caller=Caller(execution_id, "out"), **owner)

    record = execution_record(execution_id)
    assert record == read_record(execution_id, document=False)[0]
    assert (record["status"], record["outputs"]) == ("succeeded", {"hello": "Hello Ada"})
    assert [step["node_id"] for step in record["steps"]] == ["start", "out"]
    out = record["steps"][1]
    assert (out["child_execution_id"], out["child_runs"]) == (first_child, 2)
    assert record["finished_at"].endswith("+00:00") and record["started_by"] == actor.id
    with pytest.raises(NotFound, match="execution 2147483000 does not exist"):
        execution_record(2147483000)
