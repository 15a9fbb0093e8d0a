"""The live execution view, the history and the dashboard in a real browser.

A real server and Celery worker run each workflow; its LLM step talks to the scripted fake
LLM (tests/e2e/conftest.py, tests/fakes/paced_llm.py), paced so the streamed answer arrives
over seconds. Run with ``AGENTFLOW_E2E_PORT`` set to a port of your own (the UI build
embeds it).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.fakes.llm import Reply
from tests.fakes.paced_llm import PacedFakeLLM
from tests.helpers.accounts import Account, sign_in

SHOTS = Path(__file__).resolve().parents[2] / ".e2e-screenshots"
WORDS = [f"fact{i}" for i in range(1, 25)]


def document(name: str) -> dict[str, Any]:
    """Start (asks for a company) → an LLM brief about it → the outputs."""
    return {
        "schema_version": 1,
        "name": name,
        "description": "",
        "nodes": [
            {
                "id": "start",
                "type": "trigger.manual",
                "position": {"x": 0, "y": 0},
                "data": {
                    "label": "Start",
                    "config": {"inputs": [{"name": "company", "type": "string", "required": True}]},
                },
            },
            {
                "id": "brief",
                "type": "llm.prompt",
                "position": {"x": 320, "y": 0},
                "data": {
                    "label": "Research brief",
                    "config": {
                        "provider": "anthropic",
                        "model": "claude-sonnet-4-5",
                        "prompt": "Three facts about {{ inputs.company }}",
                        "retries": 0,
                    },
                },
            },
            {
                "id": "out",
                "type": "output",
                "position": {"x": 640, "y": 0},
                "data": {
                    "label": "Result",
                    "config": {"fields": {"brief": "{{ nodes.brief.output.text }}"}},
                },
            },
        ],
        "edges": [
            {
                "id": "e1",
                "source": "start",
                "target": "brief",
                "sourceHandle": "out",
                "targetHandle": "in",
            },
            {
                "id": "e2",
                "source": "brief",
                "target": "out",
                "sourceHandle": "out",
                "targetHandle": "in",
            },
        ],
    }


@pytest.fixture
def account(live_server: str) -> Account:
    return Account(live_server, "live")


def flow_node(page: Page, node_id: str):
    """React Flow's own element of a node: the one SPEC §10 puts ``data-status`` on."""
    return page.locator(f".react-flow__node[data-id='{node_id}']")


def step_row(page: Page, node_id: str):
    return page.locator(f"[data-testid=step-row][data-node-id='{node_id}']")


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_a_run_streams_live_and_every_node_succeeds(
    page: Page, account: Account, fake_llm: PacedFakeLLM
) -> None:
    workflow_id = account.create(document("Lead research"))
    fake_llm.pace(0.3)  # 24 words over about seven seconds
    fake_llm.script(Reply.say(" ".join(WORDS), input_tokens=120, output_tokens=48))
    sign_in(page, account)
    execution_id = account.execute(workflow_id, {"company": "Acme"})
    page.goto(f"{account.base}/executions/{execution_id}")

    # The streamed words show in the running step's row while it is still running: both
    # read from one DOM snapshot.
    page.wait_for_function(
        """() => {
            const row = document.querySelector("[data-testid=step-row][data-node-id=brief]");
            const node = document.querySelector(".react-flow__node[data-id=brief]");
            const stream = row && row.querySelector("[data-testid=step-stream]");
            return row && node && stream && row.dataset.status === "running"
                && node.dataset.status === "running"
                && stream.textContent.includes("fact2") && !stream.textContent.includes("fact24");
        }""",
        timeout=30_000,
    )
    expect(flow_node(page, "start")).to_have_attribute("data-status", "succeeded")
    expect(flow_node(page, "out")).to_have_attribute("data-status", "pending")
    expect(page.get_by_test_id("live")).to_be_visible()
    shoot(page, "live-running")

    # A new connection (a reload, like a dropped websocket) resumes from the last seq:
    # the streamed text goes on growing as one unbroken prefix of the answer.
    seen = step_row(page, "brief").get_by_test_id("step-stream").inner_text()
    page.reload()
    page.wait_for_function(
        """([answer, seen]) => {
            const row = document.querySelector("[data-testid=step-row][data-node-id=brief]");
            const stream = row && row.querySelector("[data-testid=step-stream]");
            const text = stream ? stream.textContent.trim() : "";
            return text.length > seen.trim().length && answer.startsWith(text);
        }""",
        arg=[" ".join(WORDS), seen],
        timeout=30_000,
    )

    for node_id in ("start", "brief", "out"):
        expect(flow_node(page, node_id)).to_have_attribute(
            "data-status", "succeeded", timeout=30_000
        )
    header = page.get_by_test_id("status-badge").first
    expect(header).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("tokens")).to_have_text("168 tokens")
    expect(page.get_by_test_id("cost")).to_contain_text("$")
    expect(step_row(page, "brief").get_by_test_id("step-duration")).to_have_text(
        re.compile(r"\d+(\.\d)? (ms|s)")
    )
    expect(step_row(page, "brief").get_by_test_id("step-stream")).to_have_count(0)
    expect(page.get_by_test_id("cancel")).to_have_count(0)

    # The run's outputs and the step's output, input and logs are one click away.
    page.get_by_role("tab", name="Outputs").click()
    expect(page.get_by_test_id("run-outputs")).to_contain_text("fact24")
    step_row(page, "brief").get_by_text("Research brief").click()
    expect(page.get_by_test_id("step-output")).to_contain_text("fact1 fact2")
    page.get_by_test_id("step-detail").get_by_role("tab", name="Input", exact=True).click()
    expect(page.get_by_test_id("step-input")).to_contain_text("Acme")
    shoot(page, "live-succeeded")

    record = account.record(execution_id)
    assert [s["status"] for s in record["steps"]] == ["succeeded"] * 3


def test_cancel_stops_a_slow_run_and_retry_finishes_it(
    page: Page, account: Account, fake_llm: PacedFakeLLM
) -> None:
    workflow_id = account.create(document("Slow research"))
    fake_llm.pace(0.5)  # 24 words: twelve seconds if nobody stops it
    fake_llm.script(Reply.say(" ".join(WORDS)))
    sign_in(page, account)
    execution_id = account.execute(workflow_id, {"company": "Acme"})
    page.goto(f"{account.base}/executions/{execution_id}")
    expect(step_row(page, "brief").get_by_test_id("step-stream")).to_contain_text(
        "fact1", timeout=30_000
    )

    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("status-badge").first).to_have_attribute("data-status", "cancelled")
    expect(flow_node(page, "brief")).to_have_attribute("data-status", "cancelled")
    expect(flow_node(page, "out")).to_have_attribute("data-status", "pending")
    expect(page.get_by_test_id("cancel")).to_have_count(0)
    record = account.record(execution_id)
    assert record["status"] == "cancelled"
    brief = next(s for s in record["steps"] if s["node_id"] == "brief")
    assert brief["status"] == "cancelled", "the slow step ran to its end instead of being stopped"
    shoot(page, "live-cancelled")

    # Retry resumes the same execution from the stopped step; the trigger is not run again.
    fake_llm.pace(0)
    fake_llm.script(Reply.say("A quick answer."))
    page.get_by_test_id("retry").click()
    for node_id in ("start", "brief", "out"):
        expect(flow_node(page, node_id)).to_have_attribute(
            "data-status", "succeeded", timeout=30_000
        )
    expect(page.get_by_test_id("status-badge").first).to_have_attribute("data-status", "succeeded")
    assert page.url.endswith(f"/executions/{execution_id}")
    record = account.record(execution_id)
    start = next(s for s in record["steps"] if s["node_id"] == "start")
    assert start["attempts"] == 1


def test_a_late_viewer_sees_the_whole_run_and_history_finds_it(
    page: Page, account: Account, fake_llm: PacedFakeLLM
) -> None:
    workflow_id = account.create(document("Finished research"))
    fake_llm.pace(0)
    fake_llm.script(Reply.say("Acme makes anvils.", input_tokens=10, output_tokens=5))
    execution_id = account.execute(workflow_id, {"company": "Acme"})
    assert account.wait_finished(execution_id)["status"] == "succeeded"

    sign_in(page, account)
    # The dashboard counts it.
    expect(page.get_by_test_id("dash-runs")).to_have_text("1", timeout=30_000)
    expect(page.get_by_test_id("dash-tokens")).to_have_text("15")
    expect(page.get_by_test_id("dash-rate")).to_have_text("100%")
    shoot(page, "dashboard")

    page.goto(f"{account.base}/executions")
    rows = page.get_by_test_id("execution-row")
    expect(rows).to_have_count(1, timeout=30_000)
    expect(rows.first).to_contain_text("Finished research")
    expect(rows.first).to_have_attribute("data-status", "succeeded")
    # The history says how far back it goes (AGENTFLOW_EXECUTION_RETENTION_DAYS, 30).
    expect(page.get_by_test_id("retention")).to_have_text(
        "Finished runs are kept for 30 days; a workflow may set its own retention_days."
    )
    shoot(page, "history")
    rows.first.click()

    expect(page).to_have_url(re.compile(rf"/executions/{execution_id}$"))
    for node_id in ("start", "brief", "out"):
        expect(flow_node(page, node_id)).to_have_attribute(
            "data-status", "succeeded", timeout=30_000
        )
    expect(page.get_by_test_id("live")).to_have_count(0)
    # The live canvas only shows: no editing controls, and a node cannot be dragged away.
    expect(page.get_by_test_id("canvas-undo")).to_have_count(0)

    def offset() -> tuple[float, float]:  # brief relative to start: panning moves both
        a, b = flow_node(page, "brief").bounding_box(), flow_node(page, "start").bounding_box()
        return round(a["x"] - b["x"], 1), round(a["y"] - b["y"], 1)

    before, box = offset(), flow_node(page, "brief").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 200, box["y"] + 120, steps=8)
    page.mouse.up()
    assert offset() == before
    step_row(page, "brief").get_by_text("Research brief").click()
    expect(page.get_by_test_id("step-output")).to_contain_text("Acme makes anvils.")

    # Re-run starts a new execution with the same inputs and opens it.
    fake_llm.script(Reply.say("Acme still makes anvils."))
    page.get_by_test_id("rerun").click()
    expect(page).not_to_have_url(re.compile(rf"/executions/{execution_id}$"), timeout=30_000)
    expect(flow_node(page, "out")).to_have_attribute("data-status", "succeeded", timeout=30_000)
    new_id = int(page.url.rstrip("/").rsplit("/", 1)[-1])
    assert account.record(new_id)["inputs"] == {"company": "Acme"}


def test_history_filters_and_an_unknown_execution(
    page: Page, account: Account, fake_llm: PacedFakeLLM
) -> None:
    first = account.create(document("Alpha flow"))
    second = account.create(document("Beta flow"))
    fake_llm.pace(0)
    fake_llm.script(Reply.say("one"), Reply.error(400, "the prompt is too long"))
    ok = account.execute(first, {"company": "Acme"})
    assert account.wait_finished(ok)["status"] == "succeeded"
    bad = account.execute(second, {"company": "Acme"})
    assert account.wait_finished(bad)["status"] == "failed"

    sign_in(page, account)
    page.goto(f"{account.base}/executions")
    rows = page.get_by_test_id("execution-row")
    expect(rows).to_have_count(2, timeout=30_000)
    page.get_by_test_id("filter-status").click()
    page.get_by_role("option", name="Failed").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Beta flow")
    expect(rows.first).to_contain_text("too long")
    rows.first.click()
    expect(flow_node(page, "brief")).to_have_attribute("data-status", "failed", timeout=30_000)
    expect(flow_node(page, "out")).to_have_attribute("data-status", "pending")  # never reached
    expect(page.get_by_test_id("retry")).to_be_visible()
    step_row(page, "brief").get_by_text("Research brief").click()
    expect(page.get_by_test_id("step-error")).to_contain_text("too long")
    shoot(page, "live-failed")

    page.goto(f"{account.base}/executions/999999")
    expect(page.get_by_test_id("execution-missing")).to_contain_text("not yours")


def test_execute_from_the_editor_asks_for_inputs_and_remembers_them(
    page: Page, account: Account, fake_llm: PacedFakeLLM
) -> None:
    workflow_id = account.create(document("Editor run"))
    fake_llm.pace(0)
    fake_llm.script(Reply.say("Initech sells software."))
    sign_in(page, account)
    page.goto(f"{account.base}/workflows/{workflow_id}")
    expect(page.get_by_test_id("flow-node").first).to_be_visible(timeout=30_000)
    if page.get_by_test_id("execute").count() == 0:
        pytest.skip("the editor's toolbar has no Execute button yet (execute_button())")

    page.get_by_test_id("execute").click()
    dialog = page.get_by_test_id("execute-dialog")
    expect(dialog).to_contain_text("company")
    page.get_by_test_id("execute-run").click()
    expect(dialog).to_contain_text("Required.")  # nothing was queued
    page.get_by_test_id("input-company").fill("Initech")
    shoot(page, "execute-dialog")
    page.get_by_test_id("execute-run").click()

    expect(page).to_have_url(re.compile(r"/executions/\d+$"), timeout=30_000)
    for node_id in ("start", "brief", "out"):
        expect(flow_node(page, node_id)).to_have_attribute(
            "data-status", "succeeded", timeout=30_000
        )
    execution_id = int(page.url.rsplit("/", 1)[-1])
    assert account.record(execution_id)["inputs"] == {"company": "Initech"}

    page.goto(f"{account.base}/workflows/{workflow_id}")
    page.get_by_test_id("execute").click()
    expect(page.get_by_test_id("input-company")).to_have_value("Initech")
