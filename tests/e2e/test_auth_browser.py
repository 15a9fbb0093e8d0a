"""Signing up, out and in again in a real browser against ``agentflow serve``."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import Page, expect

from tests.helpers.users import PASSWORD

pytestmark = pytest.mark.e2e


def test_register_logout_login_and_reload(live_server: str, page: Page) -> None:
    # An anonymous visit to a protected page ends on the sign-in page, remembering where.
    page.goto(f"{live_server}/workflows")
    expect(page).to_have_url(re.compile(r"/login/?\?next=/workflows/?$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.screenshot(path="/tmp/agentflow-login.png", full_page=True)

    # Signup: inline errors first, then an account, landing on the empty workflow list.
    page.goto(f"{live_server}/register")
    email = f"browser-{secrets.token_hex(3)}@example.com"
    page.get_by_placeholder("Ada Lovelace").fill("Browser Tester")
    page.get_by_placeholder("you@example.com").fill(email)
    page.get_by_placeholder("at least 8 characters").fill("short")
    page.locator("input[name=confirm]").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Use at least 8 characters.")).to_be_visible()

    page.get_by_placeholder("at least 8 characters").fill(PASSWORD)
    page.locator("input[name=confirm]").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/workflows/?$"))
    expect(page.get_by_text("No workflows yet")).to_be_visible()
    expect(page.get_by_test_id("signed-in-as")).to_have_text(email)
    page.screenshot(path="/tmp/agentflow-workflows-empty.png", full_page=True)

    # The empty state's button creates a workflow that shows up in the list.
    page.get_by_role("button", name="New workflow").click()
    expect(page).to_have_url(re.compile(r"/workflows/\d+/?$"))  # straight into the editor
    page.goto(f"{live_server}/workflows")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_role("link", name="Untitled workflow")).to_be_visible()
    page.screenshot(path="/tmp/agentflow-workflows.png", full_page=True)

    # A reload stays signed in.
    page.reload()
    expect(page).to_have_url(re.compile(r"/workflows/?$"))
    expect(page.locator("tbody tr")).to_have_count(1)

    # Settings: an API key is shown once, then listed by its prefix.
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    expect(page.get_by_text("No API keys yet.")).to_be_visible()
    page.get_by_placeholder("What is it for? e.g. CI deploy").fill("CI deploy")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_test_id("new-api-key")
    expect(key).to_have_text(re.compile(r"^af_"))
    page.screenshot(path="/tmp/agentflow-settings.png", full_page=True)
    prefix = key.inner_text()[:11]
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_test_id("new-api-key")).to_have_count(0)
    expect(page.get_by_text(prefix)).to_be_visible()
    page.get_by_role("link", name="Workflows").click()
    expect(page.locator("tbody tr")).to_have_count(1)

    # Sign out: back to the sign-in page, and the list is closed again.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login/?$"))
    page.goto(f"{live_server}/workflows")
    expect(page).to_have_url(re.compile(r"/login/?\?next=/workflows/?$"))

    # A wrong password is said inline; the right one goes back where the visitor was going.
    page.get_by_placeholder("you@example.com").fill(email)
    page.locator("input[name=password]").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Wrong email or password.")).to_be_visible()
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/workflows/?$"))
    expect(page.get_by_role("link", name="Untitled workflow")).to_be_visible()
