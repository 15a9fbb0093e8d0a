"""A fresh account on a running ``agentflow serve``, for the browser tests.

The account is made over REST (register, then a bearer token), so a browser test spends
its time on the page it is about, and signs in through the real login form only once.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
from playwright.sync_api import Page, expect

PASSWORD = "correct-horse-42"


class Account:
    """A new user of the server at ``base``, with its bearer token for REST calls."""

    def __init__(self, base: str, prefix: str = "e2e") -> None:
        self.base = base
        self.email = f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"
        httpx.post(
            f"{base}/api/auth/register",
            json={"email": self.email, "password": PASSWORD},
            timeout=60,
        ).raise_for_status()
        answer = httpx.post(
            f"{base}/api/auth/token", json={"email": self.email, "password": PASSWORD}, timeout=60
        )
        answer.raise_for_status()
        self.headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def create(self, document: dict[str, Any]) -> int:
        """Save ``document`` as a new workflow; its id."""
        answer = httpx.post(
            f"{self.base}/api/workflows", json=document, headers=self.headers, timeout=60
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def get(self, workflow_id: int) -> dict[str, Any]:
        """The stored workflow document, as the REST API returns it."""
        answer = httpx.get(
            f"{self.base}/api/workflows/{workflow_id}", headers=self.headers, timeout=60
        )
        answer.raise_for_status()
        return answer.json()

    def execute(self, workflow_id: int, inputs: dict[str, Any]) -> int:
        """Queue a run of the workflow's newest version; the execution id."""
        answer = httpx.post(
            f"{self.base}/api/workflows/{workflow_id}/execute",
            json={"inputs": inputs},
            headers=self.headers,
            timeout=60,
        )
        assert answer.status_code == 202, answer.text
        return answer.json()["execution_id"]

    def record(self, execution_id: int) -> dict[str, Any]:
        """The execution record (steps, outputs, errors) from the REST API."""
        answer = httpx.get(
            f"{self.base}/api/workflows/executions/{execution_id}", headers=self.headers, timeout=60
        )
        answer.raise_for_status()
        return answer.json()

    def wait_finished(self, execution_id: int, timeout_s: float = 60) -> dict[str, Any]:
        """The record once the run has ended; fails when it is still going at the guard."""
        deadline = time.monotonic() + timeout_s
        while True:
            record = self.record(execution_id)
            if record["status"] in ("succeeded", "failed", "cancelled"):
                return record
            assert time.monotonic() < deadline, (
                f"execution {execution_id} is still {record['status']}"
            )
            time.sleep(0.2)


def sign_in(page: Page, account: Account) -> None:
    """Sign in through the login form and wait for the workflows page."""
    page.goto(f"{account.base}/login")
    # The button is enabled once the page is connected; Enter before that does nothing.
    expect(page.get_by_role("button", name="Sign in")).to_be_enabled(timeout=30_000)
    page.locator("input[name=email]").fill(account.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")
    expect(page).to_have_url(re.compile(r"/workflows$"), timeout=30_000)
