"""The workflow editor in a real browser, driven by mouse and keyboard only.

Run with ``AGENTFLOW_E2E_PORT`` set to a port of your own (the UI build embeds it).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.helpers.accounts import Account
from tests.helpers.editor_page import canvas_node, open_editor

MODEL = "claude-sonnet-4-5"


def starter() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": "Editor test",
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
            }
        ],
        "edges": [],
    }


@pytest.fixture
def account(live_server: str) -> Account:
    return Account(live_server, "editor")


def handle(page: Page, node_id: str, handle_id: str):
    return page.locator(
        f'.react-flow__handle[data-nodeid="{node_id}"][data-handleid="{handle_id}"]'
    )


def center(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def connect(page: Page, source: tuple[str, str], target: tuple[str, str]) -> None:
    """Draw an edge with the mouse, handle to handle."""
    page.wait_for_timeout(400)  # let a running pan animation settle before measuring
    x, y = center(handle(page, *source))
    page.mouse.move(x, y)
    page.mouse.down()
    tx, ty = center(handle(page, *target))
    page.mouse.move(tx, ty, steps=12)
    page.mouse.up()


def fill_field(page: Page, key: str, text: str) -> None:
    """Type into a config field, then leave it (fields commit on blur)."""
    field = page.locator(f'[data-form-field="{key}"]').locator("input, textarea").first
    field.click()
    field.fill(text)
    field.press("Tab")


def pick(page: Page, key: str, option: str) -> None:
    page.locator(f'[data-form-field="{key}"] button[role="combobox"]').click()
    page.get_by_role("option", name=option, exact=True).click()


def save(page: Page) -> None:
    page.keyboard.press("Control+s")
    expect(page.get_by_test_id("clean")).to_be_visible(timeout=30_000)


def test_build_save_reload_and_find_it_through_the_api(page: Page, account: Account) -> None:
    workflow_id = account.create(starter())
    open_editor(page, account, workflow_id)

    # Three nodes from the palette: two by clicking, one dragged onto the canvas.
    canvas_node(page, "start").click()
    page.locator('[data-palette-type="llm.prompt"]').click()
    expect(canvas_node(page, "prompt_1")).to_be_visible()
    expect(page.get_by_test_id("config-panel")).to_contain_text("llm.prompt")
    pick(page, "provider", "anthropic")
    fill_field(page, "model", MODEL)
    fill_field(page, "prompt", "Three facts about {{ inputs.company }}")
    expect(page.get_by_test_id("config-panel")).to_contain_text("inputs.company")

    page.locator('[data-palette-type="transform.template"]').click()
    expect(canvas_node(page, "template_1")).to_be_visible()
    fill_field(page, "template", "Facts: {{ nodes.prompt_1.output.text }}")

    canvas = page.get_by_test_id("canvas")
    box = canvas.bounding_box()
    page.locator('[data-palette-type="output"]').drag_to(
        canvas, target_position={"x": box["width"] / 2, "y": box["height"] - 120}
    )
    expect(canvas_node(page, "output_1")).to_be_visible()
    canvas_node(page, "output_1").click()
    fill_field(page, "value", "{{ nodes.template_1.output.text }}")

    page.get_by_test_id("canvas-layout").click()  # auto-layout, then fit the view
    page.wait_for_timeout(600)
    connect(page, ("start", "out"), ("prompt_1", "in"))
    connect(page, ("prompt_1", "out"), ("template_1", "in"))
    connect(page, ("template_1", "out"), ("output_1", "in"))
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    expect(page.get_by_test_id("problems-button")).to_contain_text("Valid")
    expect(page.get_by_test_id("dirty")).to_be_visible()

    save(page)
    page.reload()
    expect(page.get_by_test_id("flow-node")).to_have_count(4, timeout=30_000)
    expect(page.locator(".react-flow__edge")).to_have_count(3)

    stored = account.get(workflow_id)
    assert stored["version"] == 2
    nodes = {n["id"]: n for n in stored["nodes"]}
    assert {i: n["type"] for i, n in nodes.items()} == {
        "start": "trigger.manual",
        "prompt_1": "llm.prompt",
        "template_1": "transform.template",
        "output_1": "output",
    }
    assert nodes["prompt_1"]["data"]["config"] == {
        "provider": "anthropic",
        "model": MODEL,
        "prompt": "Three facts about {{ inputs.company }}",
    }
    assert nodes["template_1"]["data"]["config"] == {
        "template": "Facts: {{ nodes.prompt_1.output.text }}"
    }
    assert nodes["output_1"]["data"]["config"] == {"value": "{{ nodes.template_1.output.text }}"}
    assert {
        (e["source"], e["sourceHandle"], e["target"], e["targetHandle"]) for e in stored["edges"]
    } == {
        ("start", "out", "prompt_1", "in"),
        ("prompt_1", "out", "template_1", "in"),
        ("template_1", "out", "output_1", "in"),
    }


def test_undo_redo_delete_and_refused_connections(page: Page, account: Account) -> None:
    workflow_id = account.create(starter())
    open_editor(page, account, workflow_id)
    canvas_node(page, "start").click()
    page.locator('[data-palette-type="logic.condition"]').click()
    expect(page.get_by_test_id("flow-node")).to_have_count(2)
    fill_field(page, "expression", "inputs.company == 'Acme'")
    # A condition leaves by "true" and "false".
    expect(handle(page, "condition_1", "true")).to_be_visible()
    expect(handle(page, "condition_1", "false")).to_be_visible()

    connect(page, ("start", "out"), ("condition_1", "in"))
    expect(page.locator(".react-flow__edge")).to_have_count(1)
    # A self-loop is refused in the browser.
    connect(page, ("condition_1", "true"), ("condition_1", "in"))
    expect(page.locator(".react-flow__edge")).to_have_count(1)

    canvas = page.get_by_test_id("canvas")
    canvas.click(position={"x": 20, "y": 20})  # focus the canvas, nothing selected
    # Undo walks back the edge, the config edit, then the added node; redo walks forward.
    page.keyboard.press("Control+z")
    expect(page.locator(".react-flow__edge")).to_have_count(0)
    page.keyboard.press("Control+z")
    expect(page.get_by_test_id("flow-node")).to_have_count(2)
    page.keyboard.press("Control+z")
    expect(page.get_by_test_id("flow-node")).to_have_count(1)
    page.keyboard.press("Control+Shift+z")
    expect(page.get_by_test_id("flow-node")).to_have_count(2)
    page.keyboard.press("Control+Shift+z")
    page.keyboard.press("Control+Shift+z")
    expect(page.locator(".react-flow__edge")).to_have_count(1)

    # Copy and paste, then Delete removes the selection.
    canvas_node(page, "condition_1").click()
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    expect(page.get_by_test_id("flow-node")).to_have_count(3)
    page.keyboard.press("Delete")
    expect(page.get_by_test_id("flow-node")).to_have_count(2)

    save(page)
    stored = account.get(workflow_id)
    assert [n["id"] for n in stored["nodes"]] == ["start", "condition_1"]
    assert [(e["source"], e["target"]) for e in stored["edges"]] == [("start", "condition_1")]
    assert stored["nodes"][1]["data"]["config"] == {"expression": "inputs.company == 'Acme'"}


def test_export_then_import_gives_the_same_document(page: Page, account: Account) -> None:
    document = starter()
    document["nodes"].append(
        {
            "id": "shout",
            "type": "transform.template",
            "position": {"x": 320, "y": 0},
            "data": {"label": "Shout", "config": {"template": "{{ inputs.company | upper }}"}},
        }
    )
    document["edges"].append(
        {
            "id": "e1",
            "source": "start",
            "target": "shout",
            "sourceHandle": "out",
            "targetHandle": "in",
        }
    )
    workflow_id = account.create(document)
    open_editor(page, account, workflow_id)

    page.get_by_test_id("more-menu").click()
    with page.expect_download() as download:
        page.get_by_test_id("export").click()
    exported = json.loads(download.value.path().read_text())
    assert exported["nodes"] == account.get(workflow_id)["nodes"]

    canvas_node(page, "shout").click()
    page.keyboard.press("Delete")
    expect(page.get_by_test_id("flow-node")).to_have_count(1)
    save(page)

    page.get_by_test_id("more-menu").click()
    page.get_by_test_id("import-open").click()
    page.get_by_test_id("import-text").fill(json.dumps(exported))
    page.get_by_test_id("import-submit").click()
    expect(page.get_by_test_id("flow-node")).to_have_count(2)
    save(page)

    stored = account.get(workflow_id)
    assert stored["version"] == 3
    for key in ("schema_version", "name", "description", "nodes", "edges"):
        assert stored[key] == exported[key], key


def test_a_drag_sends_one_event_when_it_ends(page: Page, account: Account) -> None:
    document = starter()
    workflow_id = account.create(document)
    open_editor(page, account, workflow_id)
    frames: list[str] = []

    def watch(socket) -> None:
        if "_event" in socket.url:
            socket.on("framesent", lambda payload: frames.append(str(payload)))

    page.on("websocket", watch)
    page.reload()  # the socket opens after the listener
    expect(canvas_node(page, "start")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("clean")).to_be_visible(timeout=30_000)

    x, y = center(canvas_node(page, "start"))
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 200, y + 120, steps=40)
    page.mouse.up()
    expect(page.get_by_test_id("dirty")).to_be_visible()

    moved = [f for f in frames if "nodes_moved" in f]
    assert len(moved) == 1, f"{len(moved)} position events for one drag"
    save(page)
    position = account.get(workflow_id)["nodes"][0]["position"]
    assert position["x"] > 100 and position["y"] > 50, position


def test_problems_list_focuses_the_node(page: Page, account: Account) -> None:
    workflow_id = account.create(starter())
    open_editor(page, account, workflow_id)
    canvas_node(page, "start").click()
    page.locator('[data-palette-type="http.request"]').click()
    expect(canvas_node(page, "request_1")).to_be_visible()
    page.get_by_test_id("canvas").click(position={"x": 20, "y": 20})
    expect(canvas_node(page, "request_1").get_by_test_id("node-problem")).to_be_visible()

    page.get_by_test_id("problems-button").click()
    problem = page.locator(
        '[data-testid="problem"][data-node-id="request_1"]',
        has_text="nothing leads into this node",
    ).last  # the popover's copy of the list
    problem.click()
    expect(canvas_node(page, "request_1")).to_have_class(re.compile(r"\bselected\b"))
    expect(page.get_by_test_id("config-panel")).to_contain_text("http.request")
    # The required URL is reported where it is typed.
    expect(page.locator('[data-form-field="url"]')).to_contain_text("Field required")
