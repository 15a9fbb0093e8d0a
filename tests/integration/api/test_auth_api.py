"""Accounts and sessions over REST: register, tokens, sign-out, password change, throttling."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import argon2
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from agentflow_app.api.app import create_api
from agentflow_app.db import session_scope
from agentflow_app.models import User
from agentflow_app.settings import reset_settings
from tests.helpers.suite import ROOT
from tests.helpers.users import PASSWORD, Account, new_account


def _token(client: TestClient, email: str, password: str, *, json: bool = False):
    if json:
        return client.post("/api/auth/token", json={"email": email, "password": password})
    return client.post("/api/auth/token", data={"username": email, "password": password})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def closed_signup(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AGENTFLOW_OPEN_SIGNUP", "false")
    reset_settings()
    yield
    monkeypatch.delenv("AGENTFLOW_OPEN_SIGNUP")
    reset_settings()


# -- register ----------------------------------------------------------------------------


def test_register_normalises_the_email_and_rejects_a_duplicate(client: TestClient) -> None:
    email = f"New.Person-{os.urandom(3).hex()}@Example.COM"
    answer = client.post(
        "/api/auth/register", json={"email": f"  {email} ", "password": PASSWORD, "name": "Ada"}
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["email"] == email.lower()
    assert body["name"] == "Ada"
    assert set(body) == {"id", "email", "name"}

    again = client.post("/api/auth/register", json={"email": email.upper(), "password": PASSWORD})
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]

    # Signing in works with any spelling of the same address.
    assert _token(client, email.upper(), PASSWORD).status_code == 200


def test_register_rejects_short_passwords_and_bad_emails(client: TestClient) -> None:
    short = client.post("/api/auth/register", json={"email": "a@b.example", "password": "1234567"})
    assert short.status_code == 422
    assert short.json()["detail"] == [{"field": "password", "message": "use at least 8 characters"}]
    bad = client.post("/api/auth/register", json={"email": "not-an-email", "password": PASSWORD})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "email"


def test_closed_signup_answers_403(client: TestClient, closed_signup: None) -> None:
    answer = client.post(
        "/api/auth/register", json={"email": "closed@example.com", "password": PASSWORD}
    )
    assert answer.status_code == 403
    assert "signup is closed" in answer.json()["detail"]


def test_the_first_account_is_an_admin(sqlite_stack) -> None:
    with TestClient(create_api()) as client:
        for email in ("first@example.com", "second@example.com"):
            answer = client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
            assert answer.status_code == 201
    with session_scope() as session:
        admins = {u.email: u.is_admin for u in session.exec(select(User)).all()}
    assert admins == {"first@example.com": True, "second@example.com": False}


# -- tokens --------------------------------------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True], ids=["oauth2-form", "json"])
def test_token_from_form_or_json_opens_the_api(
    client: TestClient, owner: Account, as_json: bool
) -> None:
    answer = _token(client, owner.email, PASSWORD, json=as_json)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 43200
    me = client.get("/api/users/me", headers=_bearer(body["access_token"]))
    assert me.json() == {"id": owner.actor.id, "email": owner.email, "name": "Owner"}


def test_wrong_password_and_unknown_account_look_the_same(
    client: TestClient, owner: Account
) -> None:
    wrong = _token(client, owner.email, "not the password")
    unknown = _token(client, "nobody@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "wrong email or password"}
    assert wrong.headers["WWW-Authenticate"] == "Bearer"


def test_token_endpoint_says_what_body_it_wants(client: TestClient) -> None:
    answer = client.post(
        "/api/auth/token", content=b"hello", headers={"content-type": "text/plain"}
    )
    assert answer.status_code == 415
    assert "username, password" in answer.json()["detail"]
    broken = client.post(
        "/api/auth/token", content=b"{", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422
    # Every 422 is a problem list (issue 14: one error shape, the one OpenAPI documents).
    assert broken.json() == {"detail": [{"field": "body", "message": "the body is not valid JSON"}]}


# -- revocation ----------------------------------------------------------------------------


def test_logout_revokes_that_token_only(client: TestClient, owner: Account) -> None:
    first = _token(client, owner.email, PASSWORD).json()["access_token"]
    second = _token(client, owner.email, PASSWORD).json()["access_token"]
    assert client.post("/api/auth/logout", headers=_bearer(first)).status_code == 204
    gone = client.get("/api/users/me", headers=_bearer(first))
    assert gone.status_code == 401
    assert gone.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert client.post("/api/auth/logout", headers=_bearer(first)).status_code == 401
    assert client.get("/api/users/me", headers=_bearer(second)).status_code == 200


def test_password_change_revokes_every_earlier_token(client: TestClient, owner: Account) -> None:
    browser = _token(client, owner.email, PASSWORD).json()["access_token"]
    script = _token(client, owner.email, PASSWORD).json()["access_token"]
    wrong = client.post(
        "/api/users/me/password",
        headers=_bearer(browser),
        json={"current_password": "guess guess", "new_password": "a new passphrase"},
    )
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["field"] == "current_password"

    changed = client.post(
        "/api/users/me/password",
        headers=_bearer(browser),
        json={"current_password": PASSWORD, "new_password": "a new passphrase"},
    )
    assert changed.status_code == 200
    fresh = changed.json()["access_token"]
    assert client.get("/api/users/me", headers=_bearer(browser)).status_code == 401
    assert client.get("/api/users/me", headers=_bearer(script)).status_code == 401
    assert client.get("/api/users/me", headers=_bearer(fresh)).status_code == 200
    assert _token(client, owner.email, PASSWORD).status_code == 401
    assert _token(client, owner.email, "a new passphrase").status_code == 200


# -- password hashing ----------------------------------------------------------------------


def test_login_rehashes_a_hash_made_with_older_parameters(
    client: TestClient, owner: Account
) -> None:
    weaker = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    with session_scope() as session:
        user = session.get(User, owner.actor.id)
        user.password_hash = weaker.hash(PASSWORD)
        session.add(user)
    assert "m=8192,t=1,p=1" in _stored_hash(owner)

    assert _token(client, owner.email, PASSWORD).status_code == 200
    upgraded = _stored_hash(owner)
    assert upgraded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    # The upgraded hash still opens the account.
    assert _token(client, owner.email, PASSWORD).status_code == 200
    assert _stored_hash(owner) == upgraded


def _stored_hash(account: Account) -> str:
    with session_scope() as session:
        return session.get(User, account.actor.id).password_hash


# -- throttling ----------------------------------------------------------------------------

_OTHER_PROCESS = textwrap.dedent(
    """
    import sys
    from fastapi.testclient import TestClient
    from agentflow_app.api.app import create_api

    email = sys.argv[1]
    with TestClient(create_api()) as client:
        for _ in range(3):
            answer = client.post("/api/auth/token", data={"username": email, "password": "wrong!!!"})
            print(answer.status_code)
    """
)


def test_throttling_holds_across_processes(client: TestClient, owner: Account) -> None:
    # Three failures from another process (another web worker), two from this one.
    other = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS, owner.email],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert other.returncode == 0, other.stderr
    assert other.stdout.split() == ["401", "401", "401"]
    for _ in range(2):
        assert _token(client, owner.email, "wrong!!!").status_code == 401

    # The sixth attempt is refused even with the right password, and says when to retry.
    locked = _token(client, owner.email, PASSWORD)
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 300
    assert "too many failed sign-ins" in locked.json()["detail"]

    # The lock is per (account, address): another account from the same address is fine.
    someone = new_account("neighbour")
    assert _token(client, someone.email, PASSWORD).status_code == 200


def test_a_success_before_the_limit_clears_the_count(client: TestClient, owner: Account) -> None:
    for _ in range(4):
        assert _token(client, owner.email, "wrong!!!").status_code == 401
    assert _token(client, owner.email, PASSWORD).status_code == 200
    for _ in range(4):
        assert _token(client, owner.email, "wrong!!!").status_code == 401
    assert _token(client, owner.email, PASSWORD).status_code == 200


# -- API keys ------------------------------------------------------------------------------


def test_api_keys_are_shown_once_listed_by_prefix_and_revocable(
    client: TestClient, owner: Account
) -> None:
    made = client.post("/api/api-keys", headers=owner.headers(), json={"name": "CI deploy"})
    assert made.status_code == 201
    key = made.json()["key"]
    assert key.startswith("af_")
    assert key.startswith(made.json()["prefix"])

    listed = client.get("/api/api-keys", headers=owner.headers()).json()
    assert [(row["name"], row["prefix"]) for row in listed] == [
        ("CI deploy", made.json()["prefix"])
    ]
    assert key not in str(listed)

    # The key opens every authenticated route, workflows included.
    assert client.get("/api/users/me", headers=_bearer(key)).json()["email"] == owner.email
    created = client.post(
        "/api/workflows",
        headers=_bearer(key),
        json={"name": "By script", "nodes": [{"id": "t", "type": "trigger.manual"}]},
    )
    assert created.status_code == 201
    assert client.get("/api/workflows", headers=_bearer(key)).json()[0]["name"] == "By script"
    used = client.get("/api/api-keys", headers=owner.headers()).json()[0]
    assert used["last_used_at"] is not None

    # A key cannot sign out (it is revoked instead), and once revoked it is refused.
    assert client.post("/api/auth/logout", headers=_bearer(key)).status_code == 422
    revoke = client.delete(f"/api/api-keys/{made.json()['id']}", headers=owner.headers())
    assert revoke.status_code == 204
    refused = client.get("/api/users/me", headers=_bearer(key))
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    assert client.get("/api/api-keys", headers=owner.headers()).json() == []


def test_an_api_key_stops_working_when_its_owner_is_deleted(client: TestClient) -> None:
    account = new_account("leaver")
    key = client.post("/api/api-keys", headers=account.headers(), json={"name": "x"}).json()["key"]
    with session_scope() as session:
        session.delete(session.get(User, account.actor.id))
    assert client.get("/api/users/me", headers=_bearer(key)).status_code == 401


# -- remembered token checks ---------------------------------------------------------------

_REVOKING_PROCESS = textwrap.dedent(
    """
    import sys
    from agentflow_app.services import api_keys, users

    token, key_id, name = sys.argv[1:]
    actor = users.authenticate_token(token)
    users.update_profile(actor, name)  # the Settings page does this
    api_keys.revoke_key(actor, int(key_id))
    users.logout(token)
    """
)


def test_another_process_revoking_a_token_or_key_stops_it_here_at_once(
    client: TestClient, owner: Account
) -> None:
    # This process has just accepted both (and may remember who they are)...
    token = _token(client, owner.email, PASSWORD).json()["access_token"]
    made = client.post("/api/api-keys", headers=_bearer(token), json={"name": "script"}).json()
    for bearer in (token, made["key"], token, made["key"]):
        me = client.get("/api/users/me", headers=_bearer(bearer))
        assert me.status_code == 200
        assert me.json()["name"] != "Renamed elsewhere"
    # ...when another process renames the account, revokes the key and signs out.
    other = subprocess.run(
        [sys.executable, "-c", _REVOKING_PROCESS, token, str(made["id"]), "Renamed elsewhere"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert other.returncode == 0, other.stderr
    for bearer in (token, made["key"]):
        refused = client.get("/api/users/me", headers=_bearer(bearer))
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    # A session still open sees the new name on its next request.
    fresh = _token(client, owner.email, PASSWORD).json()["access_token"]
    assert client.get("/api/users/me", headers=_bearer(fresh)).json()["name"] == "Renamed elsewhere"
