"""``transform.template`` with ``as_file``: the result becomes a file of the run, which
its owner can download, and the step's output is only the reference."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes.transform import Template
from agentflow_app.services import files
from agentflow_app.services.files import DbFileHost
from tests.helpers.node_context import node_context, run_node
from tests.helpers.stack import Stack, make_stack
from tests.helpers.users import new_account


@pytest.fixture(scope="module")
def module_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with make_stack("embedded", tmp_path_factory.mktemp("as-file")) as made:
        yield made


async def test_text_and_json_results_become_files(http: GuardedClient, module_stack) -> None:
    owner = new_account("report")
    ctx = node_context(
        http=http,
        inputs={"week": 49, "rows": [{"a": 1}]},
        services={"files": DbFileHost(None, owner.actor.id)},  # type: ignore[arg-type]
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
