""" "Test this node" in the editor, in a real browser against ``agentflow serve`` and its worker.

Run with ``AGENTFLOW_E2E_PORT`` set to a port of your own (the UI build embeds it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.fakes.slow_server import SlowServer
from tests.helpers.accounts import Account
from tests.helpers.editor_page import canvas_node, open_editor

#: Guards against a hang on a busy shared machine (ms), never measurements.
GUARD_MS = 45_000
RUN_S = 90_000


@pytest.fixture(scope="module")
def server() -> Iterator[SlowServer]:
    made = SlowServer()
    yield made
    made.close()


@pytest.fixture
def account(live_server: str) -> Account:
    return Account(live_server, "node-test")


def workflow(server: SlowServer) -> dict[str, Any]:
    def step(node_id: str, type_: str, y: int, **config: Any) -> dict[str, Any]:
        return {
            "id": node_id,
            "type": type_,
            "position": {"x": 0, "y": y},
            "data": {"label": node_id.title(), "config": config},
        }

    return {
        "schema_version": 1,
        "name": "Node test",
        "description": "",
        "nodes": [
            step("start", "trigger.manual", 0, inputs=[{"name": "n", "type": "integer"}]),
            step("fetch", "http.request", 160, url=server.url + "/hit/{{ inputs.n }}"),
            step(
                "shape",
                "transform.template",
                320,
                template="run {{ inputs.n }} hit {{ nodes.fetch.output.body.hit }}",
            ),
        ],
        "edges": [
            {"id": "e1", "source": "start", "target": "fetch"},
            {"id": "e2", "source": "fetch", "target": "shape"},
        ],
    }


def open_test(page: Page, node_id: str, node_type: str) -> None:
    canvas_node(page, node_id).click()
    expect(page.get_by_test_id("config-panel")).to_contain_text(node_type)
    page.get_by_test_id("node-test-open").click()
    expect(page.get_by_test_id("node-test-run")).to_be_visible()


def sample_box(page: Page, node_id: str):
    return page.locator(f'[data-sample="{node_id}"] textarea')


def test_a_node_runs_on_samples_and_shows_its_output(
    page: Page, account: Account, server: SlowServer
) -> None:
    page.set_default_timeout(GUARD_MS)
    workflow_id = account.create(workflow(server))
    open_editor(page, account, workflow_id)

    # The template, on a sample response: the HTTP step before it is not run.
    open_test(page, "shape", "transform.template")
    expect(sample_box(page, "fetch")).to_have_value("{}")
    page.get_by_test_id("node-test-inputs").fill('{"n": 7}')
    sample_box(page, "fetch").fill('{"status": 200, "body": {"hit": 42}}')
    page.get_by_test_id("node-test-run").click()
    expect(page.get_by_test_id("node-test-output")).to_contain_text("run 7 hit 42", timeout=RUN_S)
    expect(page.get_by_test_id("node-test-status")).to_have_text("succeeded")
    expect(page.get_by_test_id("node-test-step")).to_have_text("succeeded")
    assert server.count("/hit/7") == 0

    # The HTTP step itself, with a URL edited and not saved; the inputs of the last test
    # are prefilled.
    canvas_node(page, "fetch").click()
    expect(page.get_by_test_id("config-panel")).to_contain_text("http.request")
    field = page.locator('[data-form-field="url"]').locator("input, textarea").first
    field.fill(server.url + "/edited/{{ inputs.n }}")
    field.press("Tab")
    expect(page.get_by_test_id("dirty")).to_be_visible()
    page.get_by_test_id("node-test-open").click()
    expect(page.get_by_test_id("node-test-inputs")).to_have_value(json.dumps({"n": 7}, indent=2))
    page.get_by_test_id("node-test-run").click()
    output = page.get_by_test_id("node-test-output")
    expect(output).to_contain_text('"path": "/edited/7"', timeout=RUN_S)
    expect(output).to_contain_text('"status": 200')
    assert server.count("/edited/7") == 1
    expect(page.get_by_test_id("dirty")).to_be_visible()  # testing saved nothing

    # Back on the template: the sample is now that real response.
    open_test(page, "shape", "transform.template")
    expect(sample_box(page, "fetch")).to_have_value(re.compile(re.escape('"path": "/edited/7"')))

    # A typo in a sample is caught before anything is queued.
    sample_box(page, "fetch").fill('{"body": ')
    page.get_by_test_id("node-test-run").click()
    expect(page.get_by_test_id("node-test-refused")).to_contain_text(
        "The sample output of Fetch is not JSON"
    )
