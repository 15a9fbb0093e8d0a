"""Driving the workflow editor page in a browser: opening a workflow in it signed in, and
finding a node on its canvas (React Flow's ``.react-flow__node``) by id."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.helpers.accounts import Account, sign_in


def open_editor(page: Page, account: Account, workflow_id: int) -> None:
    sign_in(page, account)
    page.goto(f"{account.base}/workflows/{workflow_id}")
    expect(page.get_by_test_id("flow-node").first).to_be_visible(timeout=30_000)


def canvas_node(page: Page, node_id: str):
    return page.locator(f'.react-flow__node[data-id="{node_id}"]')
