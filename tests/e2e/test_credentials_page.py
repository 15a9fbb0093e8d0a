"""The /credentials page in Chromium: add, test and replace a credential while every
websocket frame is recorded; after the save click no frame from the server holds the secret."""

from __future__ import annotations

import secrets

import httpx
import pytest
from playwright.sync_api import expect

from tests.fakes import credential_checks
from tests.fakes.servers import serve_asgi
from tests.helpers.users import PASSWORD

pytestmark = pytest.mark.e2e

TOKEN = f"xoxb-page-SECRET-{secrets.token_hex(8)}"
NEW_TOKEN = f"xoxb-page-SECRET-{secrets.token_hex(8)}"


def _text(payload: str | bytes) -> str:
    return payload.decode(errors="replace") if isinstance(payload, bytes) else payload


def test_the_secret_never_comes_back_over_the_websocket(live_server: str, page) -> None:
    email = f"page{secrets.token_hex(4)}@example.com"
    registered = httpx.post(
        f"{live_server}/api/auth/register", json={"email": email, "password": PASSWORD}, timeout=10
    )
    assert registered.status_code == 201, registered.text

    sent: list[str] = []
    received: list[str] = []

    def watch(ws) -> None:
        ws.on("framesent", lambda payload: sent.append(_text(payload)))
        ws.on("framereceived", lambda payload: received.append(_text(payload)))

    page.on("websocket", watch)

    with serve_asgi(credential_checks.slack_app(NEW_TOKEN)) as slack:
        page.goto(f"{live_server}/login?next=/credentials")
        page.locator("input[name=email]").fill(email)
        page.locator("input[name=password]").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{live_server}/credentials")
        expect(page.locator("#credentials-empty")).to_be_visible()

        page.locator("#add-credential").click()
        page.locator("#credential-kind").click()
        page.get_by_role("option", name="Slack").click()
        form = page.locator("#add-slack")
        form.locator("input[name=name]").fill("team-bot")
        form.locator("input[name=token]").fill(TOKEN)
        form.locator("input[name=base_url]").fill(slack)
        after_save = len(received)
        page.locator("#add-slack-submit").click()

        row = page.locator("tr[data-credential=team-bot]")
        expect(row).to_contain_text("Slack")
        expect(row).to_contain_text("••••" + TOKEN[-4:])
        expect(form).to_be_hidden()

        # The Test button with the first value: Slack refuses it (and the fake quotes it).
        row.get_by_role("button", name="Test").click()
        expect(row.locator(".test-result")).to_contain_text("Slack refused the token")

        # Replace the value, then test again: accepted.
        row.get_by_role("button", name="Replace").click()
        replace = page.locator("#replace-slack")
        replace.locator("input[name=token]").fill(NEW_TOKEN)
        replace.locator("input[name=base_url]").fill(slack)
        after_replace = len(received)
        page.locator("#replace-slack-submit").click()
        expect(row).to_contain_text("••••" + NEW_TOKEN[-4:])
        row.get_by_role("button", name="Test").click()
        expect(row.locator(".test-result")).to_have_text(
            "Slack accepted the token (agentbot in Acme)"
        )

    # The capture works: the secrets did go up, once, in the submit events.
    assert any(TOKEN in frame for frame in sent)
    assert any(NEW_TOKEN in frame for frame in sent)
    for frame in received[after_save:]:
        assert TOKEN not in frame and TOKEN[-12:] not in frame, frame[:500]
    for frame in received[after_replace:]:
        assert NEW_TOKEN not in frame and NEW_TOKEN[-12:] not in frame, frame[:500]
    assert "[redacted:team-bot]" in " ".join(received[after_save:])
