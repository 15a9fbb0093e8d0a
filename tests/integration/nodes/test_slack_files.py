"""``slack.message`` with ``files``: the run's files reach the fake Slack through the
external upload flow, byte for byte, shared to the channel with the text as comment."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentflow_app.engine.errors import NodeError
from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes.slack import SlackMessage
from agentflow_app.services import files
from agentflow_app.services.files import DbFileHost
from tests.fakes.servers import serve_asgi
from tests.fakes.slack import FakeSlack
from tests.helpers.node_context import node_context, run_node
from tests.helpers.stack import Stack
from tests.helpers.users import new_account

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


async def test_files_are_uploaded_and_shared(http: GuardedClient, module_stack: Stack) -> None:
    owner = new_account("slacker")
    pdf_bytes, csv_bytes = (
        (SAMPLES / "invoice.pdf").read_bytes(),
        (SAMPLES / "leads.csv").read_bytes(),
    )
    pdf = files.store_file(owner.actor.id, "invoice.pdf", None, [pdf_bytes]).as_json()
    csv = files.store_file(owner.actor.id, "leads.csv", None, [csv_bytes]).as_json()
    fake = FakeSlack()
    with serve_asgi(fake.app) as base:
        ctx = node_context(
            http=http,
            credentials={"team": ("slack", {"token": fake.token, "base_url": base})},
            inputs={"pdf": pdf, "more": [csv]},
            services={"files": DbFileHost(None, owner.actor.id)},
        )
        config = {
            "credential": "team",
            "channel": "C0ALERTS",
            "text": "This week's invoice",
            "files": ["{{ inputs.pdf }}", "{{ inputs.more }}"],
        }
        out = await run_node(SlackMessage, config, ctx)
        assert out["files"] == [
            {"id": "F000001", "title": "invoice.pdf"},
            {"id": "F000002", "title": "leads.csv"},
        ]
        assert [
            (f["filename"], f["data"], f["shared_to"], f["comment"]) for f in fake.files.values()
        ] == [
            ("invoice.pdf", pdf_bytes, "C0ALERTS", "This week's invoice"),
            ("leads.csv", csv_bytes, "C0ALERTS", "This week's invoice"),
        ]
        with pytest.raises(NodeError, match="needs a channel id"):
            await run_node(SlackMessage, {**config, "channel": "#alerts"}, ctx)
