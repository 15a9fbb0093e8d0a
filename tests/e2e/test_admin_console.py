"""The admin console in a real browser: an admin disables a user from the Admin page, and
that user's open session is refused on its very next action, landing on the sign-in page
with the reason; the action is in the audit log page."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from playwright.sync_api import Browser, expect

from tests.helpers.accounts import PASSWORD, Account, sign_in
from tests.helpers.suite import ROOT

pytestmark = pytest.mark.e2e


def _make_admin(data_dir: Path) -> str:
    """An admin account on the live server's installation, made with the CLI."""
    email = f"admin-{secrets.token_hex(3)}@example.com"
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "REDIS_URL")}
    env["AGENTFLOW_DATA_DIR"] = str(data_dir)
    argv = [sys.executable, "-m", "agentflow_app", "user", "create", "--admin"]
    argv += ["--email", email, "--password", PASSWORD]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return email


def test_a_disabled_users_open_session_ends_on_its_next_action(
    live_server: str, live_data_dir: Path, browser: Browser
) -> None:
    admin = SimpleNamespace(base=live_server, email=_make_admin(live_data_dir))
    user = Account(live_server, "leaver")
    contexts = [browser.new_context(viewport={"width": 1400, "height": 900}) for _ in range(2)]
    try:
        admin_page, user_page = (context.new_page() for context in contexts)
        for opened in (admin_page, user_page):
            opened.set_default_timeout(20_000)
        sign_in(user_page, user)
        expect(user_page.get_by_role("link", name="Admin")).to_have_count(0)  # not an admin

        sign_in(admin_page, admin)
        admin_page.get_by_role("link", name="Admin").click()
        expect(admin_page).to_have_url(re.compile(r"/admin/?$"))
        expect(admin_page.get_by_test_id("health-card").first).to_be_visible()
        admin_page.get_by_test_id("admin-search").fill(user.email)
        row = admin_page.get_by_test_id("admin-user-row").filter(has_text=user.email)
        expect(admin_page.get_by_test_id("admin-user-row")).to_have_count(1)
        row.get_by_role("button", name="Disable").click()
        expect(row.get_by_text("disabled", exact=True)).to_be_visible()
        admin_page.screenshot(path="/tmp/agentflow-admin.png", full_page=True)

        # The user's page is still open; its next action is refused.
        user_page.get_by_role("link", name="Executions").click()
        expect(user_page).to_have_url(re.compile(r"/login"))
        expect(user_page.get_by_test_id("session-notice")).to_contain_text(
            "disabled by an administrator"
        )

        admin_page.get_by_role("link", name="Audit log").click()
        expect(
            admin_page.get_by_test_id("audit-row").filter(has_text="admin.user_disabled")
        ).to_contain_text(user.email)
        admin_page.screenshot(path="/tmp/agentflow-audit.png", full_page=True)
    finally:
        for context in contexts:
            context.close()
