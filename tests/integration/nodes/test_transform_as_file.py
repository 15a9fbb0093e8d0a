"""``transform.template`` with ``as_file``: the result becomes a file of the run, which
its owner can download, and the step's output is only the reference."""

from __future__ import annotations

import json

from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes.transform import Template
from agentflow_app.services import files
from agentflow_app.services.files import DbFileHost
from tests.helpers.node_context import node_context, run_node
from tests.helpers.users import new_account


async def test_text_and_json_results_become_files(http: GuardedClient, module_stack) -> None:
    owner = new_account("report")
    ctx = node_context(
        http=http,
        inputs={"week": 49, "rows": [{"a": 1}]},
        services={"files": DbFileHost(None, owner.actor.id)},
    )
    out = await run_node(
        Template,
        {
            "template": "email,score\nada@example.com,{{ inputs.week }}\n",
            "as_file": {"name": "week-{{ inputs.week }}.csv", "media_type": "text/csv"},
        },
        ctx,
    )
    assert set(out) == {"file"}
    assert out["file"]["name"] == "week-49.csv"
    assert out["file"]["media_type"] == "text/csv"
    _, chunks = files.download(owner.actor, out["file"]["$file"])
    assert b"".join(chunks) == b"email,score\nada@example.com,49\n"

    out = await run_node(
        Template,
        {
            "json": {"rows": "{{ inputs.rows }}"},
            "as_file": {"name": "rows.json", "media_type": "application/json"},
        },
        ctx,
    )
    _, chunks = files.download(owner.actor, out["file"]["$file"])
    assert json.loads(b"".join(chunks)) == {"rows": [{"a": 1}]}
