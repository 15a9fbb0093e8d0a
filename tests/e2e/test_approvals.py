"""Approvals in a real browser: decide from the live view; the side bar's count follows."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.helpers.accounts import Account, sign_in


def expense(name: str) -> dict[str, Any]:
    """Start (amount) → approval → approved: output 'paid' / rejected: output 'refused'."""
    node = lambda node_id, kind, x, **config: {  # noqa: E731
        "id": node_id,
        "type": kind,
        "position": {"x": x, "y": 0},
        "data": {"label": node_id.title(), "config": config},
    }
    return {
        "schema_version": 1,
        "name": name,
        "nodes": [
            node("start", "trigger.manual", 0, inputs=[{"name": "amount", "type": "number"}]),
            node("ask", "human.approval", 300, message="Pay {{ inputs.amount }} EUR to ACME?"),
            node("paid", "output", 600, fields={"result": "paid"}),
            node("refused", "output", 600, fields={"result": "refused"}),
        ],
        "edges": [
            {"id": "e1", "source": "start", "target": "ask"},
            {"id": "e2", "source": "ask", "target": "paid", "sourceHandle": "approved"},
            {"id": "e3", "source": "ask", "target": "refused", "sourceHandle": "rejected"},
        ],
    }


@pytest.fixture
def account(live_server: str) -> Account:
    return Account(live_server, "approver")


def status_of(account: Account, execution_id: int) -> str:
    return account.record(execution_id)["status"]


def test_approve_from_the_live_view_and_the_count_follows(page: Page, account: Account) -> None:
    workflow_id = account.create(expense("Expense approval"))
    sign_in(page, account)
    first = account.execute(workflow_id, {"amount": 120})
    page.goto(f"{account.base}/approvals")
    expect(page.get_by_test_id("approvals-count")).to_have_text("1", timeout=60_000)
    expect(page.locator(f"[data-approval='{first}:ask']")).to_contain_text("Pay 120 EUR to ACME?")

    # A second run starts waiting while the page is open: the count goes up by itself.
    second = account.execute(workflow_id, {"amount": 7})
    expect(page.get_by_test_id("approvals-count")).to_have_text("2", timeout=60_000)

    # Decided elsewhere (the REST API), the count goes down without a reload.
    answer = httpx.post(
        f"{account.base}/api/workflows/executions/{second}/approve",
        json={"node_id": "ask", "approved": False},
        headers=account.headers,
        timeout=60,
    )
    assert answer.status_code == 202, answer.text
    expect(page.get_by_test_id("approvals-count")).to_have_text("1", timeout=30_000)

    # The live view opens on the question; Approve with a comment finishes the run.
    page.goto(f"{account.base}/executions/{first}")
    expect(page.get_by_test_id("approval-message")).to_have_text("Pay 120 EUR to ACME?")
    expect(page.locator(".react-flow__node[data-id='ask']")).to_have_attribute(
        "data-status", "waiting"
    )
    page.get_by_test_id("approval-comment").fill("within budget")
    page.get_by_test_id("approve").click()
    expect(page.locator(".react-flow__node[data-id='paid']")).to_have_attribute(
        "data-status", "succeeded", timeout=60_000
    )
    expect(page.locator(".react-flow__node[data-id='refused']")).to_have_attribute(
        "data-status", "skipped"
    )
    expect(page.get_by_test_id("approval-panel")).to_have_count(0)
    record = account.record(first)
    ask = next(s for s in record["steps"] if s["node_id"] == "ask")
    assert ask["output"]["comment"] == "within budget" and ask["output"]["approved"] is True
    assert status_of(account, second) == "succeeded"
    assert account.record(second)["outputs"] == {"result": "refused"}
    expect(page.get_by_test_id("approvals-count")).to_have_count(0, timeout=30_000)
