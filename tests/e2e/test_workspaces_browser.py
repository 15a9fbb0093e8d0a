"""Sharing a workspace in real browsers (issue 18): an owner creates a shared workspace,
a credential and a workflow using it, and invites a colleague (editor) and a viewer from
the Members page; the colleague accepts the link in a second browser context, renames and
saves the shared workflow and runs it, the LLM call carrying the owner's key; the viewer,
sent to sign in by the link first, sees the run and who started it, finds no Execute and
no Save in the editor, and the server refuses the Save event when the page is made to
send it anyway (Ctrl+S), and the same save over REST.

Run with ``AGENTFLOW_E2E_PORT`` set to a port of your own (the UI build embeds it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.fakes.llm import Reply
from tests.fakes.paced_llm import PacedFakeLLM
from tests.fakes.smtp import silent_server
from tests.helpers.accounts import PASSWORD, Account, sign_in
from tests.helpers.live_server import LiveServer, instead_of

pytestmark = pytest.mark.e2e

OWNER_KEY = "sk-ant-owner-team-key-0123456789"
ANSWER = "Acme makes anvils."


def document(name: str) -> dict[str, Any]:
    """Start → an LLM prompt with the workspace's ``team-claude`` credential → output."""
    return {
        "schema_version": 1,
        "name": name,
        "description": "",
        "nodes": [
            {
                "id": "start",
                "type": "trigger.manual",
                "position": {"x": 0, "y": 0},
                "data": {"label": "Start", "config": {"inputs": []}},
            },
            {
                "id": "ask",
                "type": "llm.prompt",
                "position": {"x": 320, "y": 0},
                "data": {
                    "label": "Ask",
                    "config": {
                        "provider": "anthropic",
                        "model": "claude-sonnet-4-5",
                        "credential": "team-claude",
                        "prompt": "What does Acme make?",
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
                    "config": {"fields": {"answer": "{{ nodes.ask.output.text }}"}},
                },
            },
        ],
        "edges": [
            {"id": "e1", "source": "start", "target": "ask", "sourceHandle": "out"},
            {"id": "e2", "source": "ask", "target": "out", "sourceHandle": "out"},
        ],
    }


def _context(browser: Browser) -> BrowserContext:
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
    )
    context.set_default_timeout(20_000)
    return context


def _new_workspace(page: Page, name: str) -> None:
    """Make a shared workspace from the side bar; the page then acts in it."""
    page.get_by_test_id("new-workspace").click()
    page.get_by_test_id("new-workspace-name").fill(name)
    page.get_by_test_id("create-workspace").click()
    expect(page.get_by_test_id("workspace-switcher")).to_contain_text(name)


def _members_of_a_new_workspace(page: Page, owner: Account, name: str) -> None:
    """Sign ``owner`` in, make workspace ``name`` and open its Members page."""
    sign_in(page, owner)
    _new_workspace(page, name)
    page.get_by_role("link", name="Members").click()


def _invite(page: Page, email: str, role: str) -> str:
    """Invite ``email`` with ``role`` on the Members page; the link, read from the
    clipboard after pressing Copy, on the test server (links start with
    ``AGENTFLOW_PUBLIC_URL``, which the suite's server leaves at its default)."""
    page.get_by_test_id("invite-email").fill(email)
    page.get_by_test_id("invite-role").click()
    page.get_by_role("option", name=role, exact=True).click()
    page.get_by_test_id("invite").click()
    expect(page.get_by_test_id("invitation-label")).to_contain_text(email)
    shown = page.get_by_test_id("invitation-link")
    expect(shown).to_contain_text("/join?token=")
    page.get_by_test_id("copy-invitation-link").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == shown.inner_text()
    page.get_by_role("button", name="Done").click()  # shown this once
    expect(shown).to_have_count(0)
    expect(page.get_by_test_id("invitation-row").filter(has_text=email)).to_contain_text(role)
    link = urlsplit(copied)
    assert link.path == "/join"
    origin = urlsplit(page.url)
    return urlunsplit((origin.scheme, origin.netloc, link.path, link.query, ""))


def _accept(page: Page, link: str, workspace: str) -> None:
    """Open the invitation link signed in, accept it, land in the workspace's workflows."""
    page.goto(link)
    page.get_by_test_id("accept-invitation").click()
    expect(page).to_have_url(re.compile(r"/workflows$"))
    expect(page.get_by_test_id("workspace-switcher")).to_contain_text(workspace)


def test_members_share_a_workflow_and_its_credential_and_a_viewer_cannot_save(
    live_server: str, browser: Browser, fake_llm: PacedFakeLLM
) -> None:
    owner = Account(live_server, "owner")
    colleague = Account(live_server, "colleague")
    viewer = Account(live_server, "viewer")
    contexts = [_context(browser) for _ in range(3)]
    try:
        owner_page, colleague_page, viewer_page = (c.new_page() for c in contexts)

        # The owner makes a shared workspace from the side bar and acts in it.
        sign_in(owner_page, owner)
        _new_workspace(owner_page, "Research team")
        listed = httpx.get(f"{live_server}/api/workspaces", headers=owner.headers, timeout=30)
        workspace_id = next(w["id"] for w in listed.json() if w["name"] == "Research team")
        in_team = {**owner.headers, "X-Workspace": str(workspace_id)}

        # A credential there, through the Credentials page; a workflow using it, over REST.
        owner_page.get_by_role("link", name="Credentials").click()
        owner_page.locator("#add-credential").click()
        owner_page.locator("#credential-kind").click()
        owner_page.get_by_role("option", name="Anthropic").click()
        form = owner_page.locator("#add-anthropic")
        form.locator("input[name=name]").fill("team-claude")
        form.locator("input[name=api_key]").fill(OWNER_KEY)
        owner_page.locator("#add-anthropic-submit").click()
        expect(owner_page.locator("tr[data-credential=team-claude]")).to_be_visible()
        made = httpx.post(
            f"{live_server}/api/workflows",
            json=document("Acme facts"),
            headers=in_team,
            timeout=30,
        )
        assert made.status_code == 201, made.text
        workflow_id = made.json()["id"]

        # The Members page: the owner alone, then two invitations with their links.
        owner_page.get_by_role("link", name="Members").click()
        expect(owner_page.get_by_test_id("member-row")).to_have_count(1)
        expect(owner_page.get_by_test_id("invitations-empty")).to_be_visible()
        colleague_link = _invite(owner_page, colleague.email, "editor")
        viewer_link = _invite(owner_page, viewer.email, "viewer")
        expect(owner_page.get_by_test_id("invitation-row")).to_have_count(2)

        # The colleague accepts in a browser of their own, renames the workflow, saves it
        # and runs it: the LLM call carries the owner's key, which nobody ever saw.
        sign_in(colleague_page, colleague)
        _accept(colleague_page, colleague_link, "Research team")
        # A link works once, and for the account it was made for only: said plainly.
        for link, why in ((colleague_link, "already used"), (viewer_link, viewer.email)):
            colleague_page.goto(link)
            colleague_page.get_by_test_id("accept-invitation").click()
            expect(colleague_page.get_by_test_id("join-error")).to_contain_text(why)
        colleague_page.get_by_role("link", name="Back to my workflows").click()
        colleague_page.get_by_role("link", name="Acme facts").click()
        # Loaded: the name field is re-keyed when the workflow arrives, so type after.
        expect(colleague_page.get_by_test_id("workflow-name")).to_have_value(
            "Acme facts", timeout=30_000
        )
        expect(colleague_page.get_by_test_id("flow-node")).to_have_count(3)
        expect(colleague_page.get_by_test_id("read-only")).to_have_count(0)
        colleague_page.get_by_test_id("workflow-name").fill("Acme facts (shared)")
        colleague_page.get_by_test_id("workflow-name").press("Tab")
        expect(colleague_page.get_by_test_id("dirty")).to_be_visible()
        colleague_page.get_by_test_id("save").click()
        expect(colleague_page.get_by_test_id("clean")).to_be_visible()
        assert (
            httpx.get(
                f"{live_server}/api/workflows/{workflow_id}", headers=owner.headers, timeout=30
            ).json()["name"]
            == "Acme facts (shared)"
        )

        fake_llm.pace(0)
        fake_llm.script(Reply.say(ANSWER))
        seen = len(fake_llm.fake.requests)
        colleague_page.get_by_test_id("execute").click()
        expect(colleague_page).to_have_url(re.compile(r"/executions/\d+$"))
        expect(colleague_page.get_by_test_id("status-badge").first).to_have_attribute(
            "data-status", "succeeded", timeout=60_000
        )
        execution_id = int(colleague_page.url.rstrip("/").rsplit("/", 1)[-1])
        assert owner.record(execution_id)["outputs"] == {"answer": ANSWER}
        calls = fake_llm.fake.requests[seen:]
        assert len(calls) == 1
        sent = calls[0].headers.get("x-api-key", "") + calls[0].headers.get("authorization", "")
        assert OWNER_KEY in sent

        # The viewer opens the link signed out: sign in, come back to it, accept.
        viewer_page.goto(viewer_link)
        expect(viewer_page).to_have_url(re.compile(r"/login\?next="))
        expect(viewer_page.get_by_role("button", name="Sign in")).to_be_enabled(timeout=30_000)
        viewer_page.locator("input[name=email]").fill(viewer.email)
        viewer_page.locator("input[name=password]").fill(PASSWORD)
        viewer_page.locator("input[name=password]").press("Enter")
        expect(viewer_page).to_have_url(re.compile(r"/join/?\?token="))
        expect(viewer_page.get_by_test_id("join-account")).to_have_text(viewer.email)
        viewer_page.get_by_test_id("accept-invitation").click()
        expect(viewer_page).to_have_url(re.compile(r"/workflows$"))
        expect(viewer_page.get_by_test_id("workspace-switcher")).to_contain_text("viewer")

        # The run is there, with who started it.
        viewer_page.get_by_role("link", name="Executions").click()
        run = viewer_page.get_by_test_id("execution-row")
        expect(run).to_have_count(1)
        expect(run).to_have_attribute("data-status", "succeeded")
        expect(run.get_by_test_id("started-by")).to_have_text(colleague.email)

        # The members list reads, without controls.
        viewer_page.get_by_role("link", name="Members").click()
        expect(viewer_page.get_by_test_id("member-row")).to_have_count(3)
        expect(viewer_page.get_by_test_id("my-role")).to_have_text("viewer")
        expect(viewer_page.get_by_test_id("member-role")).to_have_count(0)
        expect(viewer_page.get_by_test_id("invite")).to_have_count(0)

        # The editor offers neither Execute nor Save.
        viewer_page.goto(f"{live_server}/workflows/{workflow_id}")
        expect(viewer_page.get_by_test_id("read-only")).to_contain_text("viewer", timeout=30_000)
        expect(viewer_page.get_by_test_id("save")).to_have_count(0)
        expect(viewer_page.get_by_test_id("execute")).to_have_count(0)

        # Forced anyway: Ctrl+S still sends the Save event; the server refuses it.
        viewer_page.get_by_test_id("workflow-name").fill("Viewer was here")
        viewer_page.get_by_test_id("workflow-name").press("Tab")
        viewer_page.keyboard.press("Control+s")
        expect(
            viewer_page.locator("[data-sonner-toast]").filter(has_text="Not saved")
        ).to_contain_text("viewer")
        forced = httpx.put(
            f"{live_server}/api/workflows/{workflow_id}",
            json=document("Viewer was here"),
            headers={**viewer.headers, "X-Workspace": str(workspace_id)},
            timeout=30,
        )
        assert forced.status_code == 403, forced.text
        stored = httpx.get(
            f"{live_server}/api/workflows/{workflow_id}", headers=owner.headers, timeout=30
        ).json()
        assert stored["name"] == "Acme facts (shared)"
        viewer_page.screenshot(path="/tmp/agentflow-viewer-editor.png", full_page=True)

        # The owner sees both new members, no invitation left, and cannot leave as the
        # last owner: the refusal is shown.
        owner_page.reload()
        expect(owner_page.get_by_test_id("member-row")).to_have_count(3)
        expect(owner_page.get_by_test_id("invitations-empty")).to_be_visible()
        owner_page.get_by_role("button", name="Leave workspace").click()
        owner_page.get_by_test_id("confirm-leave").click()
        expect(owner_page.get_by_test_id("members-error")).to_contain_text("last owner")
        owner_page.screenshot(path="/tmp/agentflow-members.png", full_page=True)
    finally:
        for context in contexts:
            context.close()


def test_an_owner_renames_manages_members_and_deletes_a_workspace(
    live_server: str, browser: Browser
) -> None:
    owner = Account(live_server, "boss")
    member = Account(live_server, "member")
    context = _context(browser)
    try:
        page = context.new_page()
        _members_of_a_new_workspace(page, owner, "Ops")

        # Rename: the page and the side bar say the new name.
        page.get_by_test_id("workspace-name").fill("Ops team")
        page.get_by_test_id("rename-workspace").click()
        expect(page.get_by_test_id("members-message")).to_have_text("Workspace renamed.")
        expect(page.get_by_test_id("workspace-switcher")).to_contain_text("Ops team")

        # An invitation revoked: its link stops working.
        revoked = _invite(page, member.email, "runner")
        page.get_by_test_id("revoke-invitation").click()
        expect(page.get_by_test_id("invitations-empty")).to_be_visible()
        token = revoked.split("token=", 1)[1]
        refused = httpx.post(
            f"{live_server}/api/invitations/{token}/accept", headers=member.headers, timeout=30
        )
        assert refused.status_code == 404, refused.text

        # Invited again and accepted; then promoted, then removed.
        token = _invite(page, member.email, "viewer").split("token=", 1)[1]
        accepted = httpx.post(
            f"{live_server}/api/invitations/{token}/accept", headers=member.headers, timeout=30
        )
        assert accepted.status_code == 200, accepted.text
        page.reload()
        row = page.get_by_test_id("member-row").filter(has_text=member.email)
        expect(row.get_by_test_id("member-role")).to_contain_text("viewer")
        row.get_by_test_id("member-role").click()
        page.get_by_role("option", name="editor", exact=True).click()
        expect(page.get_by_test_id("members-message")).to_have_text("Role changed to editor.")
        expect(row.get_by_test_id("member-role")).to_contain_text("editor")
        row.get_by_role("button", name="Remove").click()
        page.get_by_test_id("confirm-remove").click()
        expect(page.get_by_test_id("members-message")).to_have_text("Member removed.")
        expect(page.get_by_test_id("member-row")).to_have_count(1)

        # Deleted after a confirmation: the tab acts in the personal workspace again.
        page.get_by_role("button", name="Delete workspace").click()
        page.get_by_test_id("confirm-delete-workspace").click()
        expect(page).to_have_url(re.compile(r"/workflows$"))
        expect(page.get_by_test_id("workspace-switcher")).to_contain_text("Personal")
        listed = httpx.get(f"{live_server}/api/workspaces", headers=owner.headers, timeout=30)
        assert [w["name"] for w in listed.json()] == ["Personal"]

        # The personal workspace's page: no invitations, no leaving, no deletion.
        page.get_by_role("link", name="Members").click()
        expect(page.get_by_test_id("member-row")).to_have_count(1)
        expect(page.get_by_test_id("invite")).to_have_count(0)
        expect(page.get_by_role("button", name="Leave workspace")).to_have_count(0)
        expect(page.get_by_role("button", name="Delete workspace")).to_have_count(0)
    finally:
        context.close()


@pytest.fixture
def server_with_a_silent_mail_host(
    live_servers: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A server of its own whose SMTP host takes the connection and never answers."""
    with silent_server() as port:
        env = {
            "AGENTFLOW_MAIL_FROM": "AgentFlow <noreply@agentflow.test>",
            "AGENTFLOW_SMTP_URL": f"smtp://127.0.0.1:{port}",
        }
        with instead_of(live_servers, tmp_path_factory.mktemp("serve"), env) as base:
            yield base


def test_the_link_shows_while_the_email_waits_on_a_mail_host_that_does_not_answer(
    server_with_a_silent_mail_host: str, browser: Browser
) -> None:
    """The invitation and its link show at once; the email is tried after, for up to the
    mailer's 10 s, without holding the page; then the page says it did not go."""
    owner = Account(server_with_a_silent_mail_host, "boss")
    invitee = Account(server_with_a_silent_mail_host, "invitee")
    context = _context(browser)
    try:
        page = context.new_page()
        _members_of_a_new_workspace(page, owner, "Mail")

        page.get_by_test_id("invite-email").fill(invitee.email)
        page.get_by_test_id("invite").click()
        # Well inside the 10 s the mail host is waited for: before, nothing showed until
        # the email had failed.
        label = page.get_by_test_id("invitation-label")
        expect(label).to_contain_text(f"emailing it to {invitee.email}", timeout=7_000)
        expect(page.get_by_test_id("invitation-hint")).to_contain_text("Sending it by email")
        expect(page.get_by_test_id("invitation-link")).to_contain_text("/join?token=")
        row = page.get_by_test_id("invitation-row").filter(has_text=invitee.email)
        expect(row).to_contain_text("editor", timeout=1_000)

        expect(label).to_contain_text("not emailed, copy the link", timeout=30_000)
        expect(page.get_by_test_id("invitation-hint")).to_contain_text("Copy it now")
    finally:
        context.close()
