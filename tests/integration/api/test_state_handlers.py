"""The Reflex event handlers: the same ownership rules as the REST API, and session checks.

Handlers are driven the way Reflex drives them: a state tree is instantiated (Reflex allows
it under pytest), the browser's token is put in ``AuthState.auth_token`` as hydration
would, and the handler's function runs against the state instance, generators drained.

Every handler of the states listed in :data:`STATE_MODULES` that takes an object id
(an argument named ``*_id``) must have an entry in :data:`ID_HANDLERS`; each is called
by the owner (it works), by another user (no data, no change), and by a session whose
token was revoked (sent to /login, the token forgotten, no change).
"""

from __future__ import annotations

import importlib
import inspect
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import reflex as rx

from agentflow_app.auth import tokens
from agentflow_app.errors import NotFound
from agentflow_app.services import admin, api_keys, credentials, users, workflows
from agentflow_app.state.admin import AdminState
from agentflow_app.state.audit import AuditState
from agentflow_app.state.auth import AuthState
from agentflow_app.state.settings import SettingsState
from agentflow_app.state.workflows import WorkflowsState
from tests.helpers.documents import manual_document
from tests.helpers.stack import Stack
from tests.helpers.states import redirects, run, session_for, state_text
from tests.helpers.users import PASSWORD, Account, new_account

#: Modules whose states are checked; add a line for a new feature's state module.
STATE_MODULES = [
    "agentflow_app.state.auth",
    "agentflow_app.state.workflows",
    "agentflow_app.state.settings",
    "agentflow_app.state.credentials",
    "agentflow_app.state.execution",
    "agentflow_app.state.executions",
    "agentflow_app.state.execute",
    "agentflow_app.state.dashboard",
    "agentflow_app.state.admin",
    "agentflow_app.state.audit",
    "agentflow_app.state.reset_password",
]

#: Background handlers cannot run outside a live app; each is a thin wrapper over a service
#: whose owner check the REST authorisation matrix covers through the same function.
BACKGROUND_COVERED_BY_REST = {
    ("CredentialsState", "test"): "POST /api/credentials/{credential_id}/test",
}


@dataclass
class World:
    owner: Account
    other: Account
    #: An instance admin, and a fresh user the admin console's handlers act on.
    admin: Account
    victim: Account
    marker: str
    workflow_id: int
    key_id: int
    credential_id: int


@dataclass(frozen=True)
class IdHandler:
    #: The id of an object of the owner's to pass.
    owner_object: Callable[[World], int]
    #: The object as its owner sees it (through the services), to detect any change.
    snapshot: Callable[[World], Any]
    #: False for handlers that only show the object (open a dialog): the owner's call must
    #: then put the object's data in the state instead of changing it.
    changes: bool = True
    #: Who may: the object's owner, or (the admin console) an instance admin.
    allowed: str = "owner"
    #: The handler's other arguments.
    extra: Callable[[World], dict[str, Any]] = lambda w: {}

    def caller(self, world: World) -> Account:
        return world.admin if self.allowed == "admin" else world.owner


def _workflow_snapshot(world: World) -> Any:
    try:
        return workflows.get(world.owner.actor, world.workflow_id).model_dump()
    except NotFound:
        return None


def _keys_snapshot(world: World) -> Any:
    return [key.id for key in api_keys.list_keys(world.owner.actor)]


def _credential_snapshot(world: World) -> Any:
    return credentials.get_credential(world.owner.actor, world.credential_id).model_dump()


def _victim_snapshot(world: World) -> Any:
    try:
        return admin.get_user(world.admin.actor, world.victim.actor.id).model_dump()
    except NotFound:
        return None


def _console(**extra: Any) -> IdHandler:
    """A console handler acting on the world's victim (only an admin may)."""
    return IdHandler(
        lambda w: w.victim.actor.id, _victim_snapshot, allowed="admin", extra=lambda w: extra
    )


def _victims_link(world: World) -> Any:
    return world.victim.email


ID_HANDLERS: dict[tuple[str, str], IdHandler] = {
    ("AdminState", "set_disabled"): _console(disabled=True),
    ("AdminState", "set_admin"): _console(is_admin=True),
    ("AdminState", "delete_user"): _console(),
    # Makes a link and changes nothing: the admin's state then shows it (and the email).
    ("AdminState", "reset_link"): IdHandler(
        lambda w: w.victim.actor.id,
        _victims_link,
        changes=False,
        allowed="admin",
        extra=lambda w: {"email": w.victim.email},
    ),
    ("WorkflowsState", "delete_workflow"): IdHandler(lambda w: w.workflow_id, _workflow_snapshot),
    ("SettingsState", "revoke_api_key"): IdHandler(lambda w: w.key_id, _keys_snapshot),
    ("CredentialsState", "open_replace"): IdHandler(
        lambda w: w.credential_id, _credential_snapshot, changes=False
    ),
    ("CredentialsState", "open_delete"): IdHandler(
        lambda w: w.credential_id, _credential_snapshot, changes=False
    ),
}


def _states() -> list[type[rx.State]]:
    found = []
    for name in STATE_MODULES:
        module = importlib.import_module(name)
        found += [
            value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, rx.State)
            and value.__module__ == module.__name__
        ]
    return found


def _id_handlers() -> list[tuple[type[rx.State], str, str]]:
    """(state class, handler name, id argument) for every handler taking an object id."""
    found = []
    for state in _states():
        for name, handler in state.event_handlers.items():
            params = list(inspect.signature(handler.fn).parameters)[1:]
            if (state.__name__, name) in BACKGROUND_COVERED_BY_REST:
                continue
            found += [(state, name, p) for p in params if p.endswith("_id")]
    return found


ID_HANDLER_LIST = _id_handlers()

# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def accounts(stack: Stack) -> tuple[Account, Account, Account]:
    made = users.create_user(
        f"state-admin-{secrets.token_hex(4)}@example.com", PASSWORD, admin=True
    )
    root = Account(made, made.email, PASSWORD)
    return new_account("state-owner"), new_account("state-other"), root


@pytest.fixture
def world(accounts: tuple[Account, Account, Account]) -> World:
    owner, other, root = accounts
    marker = f"owner-only-{secrets.token_hex(6)}"
    workflow = workflows.create(owner.actor, manual_document(f"Workflow {marker}"))
    key = api_keys.create_key(owner.actor, f"Key {marker}")
    credential = credentials.create_credential(
        owner.actor, f"Cred {marker}", "http", {"scheme": "bearer", "token": "t0ken-value"}
    )
    victim = new_account(f"victim-{marker}")
    return World(owner, other, root, victim, marker, workflow.id, key.id, credential.id)


# -- the matrix ------------------------------------------------------------------------------


def test_every_id_handler_has_an_entry() -> None:
    listed = {(state.__name__, name) for state, name, _ in ID_HANDLER_LIST}
    assert ("WorkflowsState", "delete_workflow") in listed  # the enumeration really works
    missing = sorted(listed - set(ID_HANDLERS))
    stale = sorted(set(ID_HANDLERS) - listed)
    assert not missing, f"handlers taking an object id without an ID_HANDLERS entry: {missing}"
    assert not stale, f"ID_HANDLERS entries for handlers that no longer exist: {stale}"


IDS = [f"{s.__name__}.{n}" for s, n, _ in ID_HANDLER_LIST]


@pytest.mark.parametrize(("state_cls", "name", "arg"), ID_HANDLER_LIST, ids=IDS)
async def test_another_users_id_yields_no_data_and_no_change(
    world: World, state_cls: type[rx.State], name: str, arg: str
) -> None:
    entry = ID_HANDLERS[(state_cls.__name__, name)]
    before = entry.snapshot(world)
    root = session_for(world.other.token())
    await run(root, state_cls, name, **{arg: entry.owner_object(world)}, **entry.extra(world))
    assert entry.snapshot(world) == before, "another user's handler call changed the object"
    assert world.marker not in state_text(root), "another user's state shows the owner's data"


@pytest.mark.parametrize(("state_cls", "name", "arg"), ID_HANDLER_LIST, ids=IDS)
async def test_the_owner_can(world: World, state_cls: type[rx.State], name: str, arg: str) -> None:
    entry = ID_HANDLERS[(state_cls.__name__, name)]
    before = entry.snapshot(world)
    root = session_for(entry.caller(world).token())
    events = await run(
        root, state_cls, name, **{arg: entry.owner_object(world)}, **entry.extra(world)
    )
    assert redirects(events) == []
    if entry.changes:
        assert entry.snapshot(world) != before, "the owner's call did nothing"
    else:
        assert world.marker in state_text(root), "the owner's call showed nothing"


@pytest.mark.parametrize(("state_cls", "name", "arg"), ID_HANDLER_LIST, ids=IDS)
@pytest.mark.parametrize("session", ["signed out", "revoked", "expired", "forged"])
async def test_a_dead_session_is_sent_to_login(
    world: World, state_cls: type[rx.State], name: str, arg: str, session: str
) -> None:
    entry = ID_HANDLERS[(state_cls.__name__, name)]
    caller = entry.caller(world)
    token = caller.token()
    if session == "revoked":
        users.logout(token)  # signed out in another tab or by API
    elif session == "expired":
        token = tokens.issue(caller.actor.id, 0, ttl_s=-5).access_token
    elif session == "forged":
        token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    elif session == "signed out":
        token = ""
    before = entry.snapshot(world)
    root = session_for(token)
    events = await run(
        root, state_cls, name, **{arg: entry.owner_object(world)}, **entry.extra(world)
    )
    assert [path.split("?")[0] for path in redirects(events)] == ["/login"]
    assert root.get_substate(AuthState._get_substate_path()).auth_token == ""
    assert entry.snapshot(world) == before
    assert world.marker not in state_text(root)


# -- pages' loads and the auth forms -----------------------------------------------------------


async def test_a_revoked_session_is_logged_out_on_its_next_event(world: World) -> None:
    token = world.owner.token()
    root = session_for(token)
    await run(root, WorkflowsState, "load")
    rows = root.get_substate(WorkflowsState._get_substate_path()).rows
    assert world.marker in json.dumps(rows)

    users.change_password(world.owner.actor, PASSWORD, PASSWORD)  # from another browser
    events = await run(root, WorkflowsState, "create_workflow")
    assert [path.split("?")[0] for path in redirects(events)] == ["/login"]
    assert root.get_substate(AuthState._get_substate_path()).auth_token == ""


async def test_a_disabled_users_session_ends_on_its_next_event_with_the_reason(
    world: World,
) -> None:
    root = session_for(world.victim.token())
    assert redirects(await run(root, WorkflowsState, "load")) == []

    admin.set_disabled(world.admin.actor, world.victim.actor.id, True)  # from the console
    events = await run(root, WorkflowsState, "create_workflow")
    assert [path.split("?")[0] for path in redirects(events)] == ["/login"]
    auth = root.get_substate(AuthState._get_substate_path())
    assert auth.auth_token == ""
    assert "disabled by an administrator" in auth.session_notice
    assert workflows.list_workflows(world.victim.actor) == []  # nothing was made

    refused = await run(
        root, AuthState, "login", form_data={"email": world.victim.email, "password": PASSWORD}
    )
    assert redirects(refused) == [] and "disabled by an administrator" in auth.login_error


async def test_a_non_admin_forcing_console_events_gets_a_refusal(world: World) -> None:
    root = session_for(world.owner.token())
    await run(root, AdminState, "load")
    console = root.get_substate(AdminState._get_substate_path())
    assert (console.allowed, console.users) == (False, [])
    assert "only an administrator" in console.error
    mode = users.signup_mode()
    await run(root, AdminState, "change_signup", mode="closed")
    assert "only an administrator" in console.error
    assert users.signup_mode() == mode
    await run(root, AuditState, "load")
    log = root.get_substate(AuditState._get_substate_path())
    assert log.rows == [] and "only an administrator" in log.error


async def test_require_login_guards_and_login_comes_back(world: World) -> None:
    root = session_for("")
    events = await run(root, AuthState, "require_login")
    assert redirects(events) == ["/login?next=/workflows"]

    wrong = await run(
        root, AuthState, "login", form_data={"email": world.owner.email, "password": "nope nope"}
    )
    auth = root.get_substate(AuthState._get_substate_path())
    assert auth.login_error == "Wrong email or password."
    assert auth.auth_token == ""
    assert redirects(wrong) == []

    events = await run(
        root,
        AuthState,
        "login",
        form_data={"email": f" {world.owner.email.upper()} ", "password": PASSWORD},
    )
    assert redirects(events) == ["/workflows"]
    assert users.authenticate_token(auth.auth_token).id == world.owner.actor.id
    assert await run(root, AuthState, "require_login") == []
    assert auth.user_email == world.owner.email

    token = auth.auth_token
    assert redirects(await run(root, AuthState, "logout")) == ["/login"]
    assert auth.auth_token == ""
    with pytest.raises(tokens.InvalidToken):
        users.authenticate_token(token)


async def test_register_shows_inline_errors_then_signs_in(stack: Stack) -> None:
    root = session_for("")
    auth = root.get_substate(AuthState._get_substate_path())
    await run(
        root,
        AuthState,
        "register",
        form_data={"email": "x@example.com", "password": "short", "confirm": "short"},
    )
    assert auth.register_errors == {"password": "Use at least 8 characters."}

    await run(
        root,
        AuthState,
        "register",
        form_data={"email": "y@example.com", "password": PASSWORD, "confirm": "other"},
    )
    assert auth.register_errors == {"confirm": "The two passwords differ."}

    email = f"new-{secrets.token_hex(3)}@example.com"
    events = await run(
        root,
        AuthState,
        "register",
        form_data={"email": email, "password": PASSWORD, "confirm": PASSWORD, "name": "New"},
    )
    assert redirects(events) == ["/workflows"]
    assert users.authenticate_token(auth.auth_token).email == email

    again = session_for("")
    await run(
        again,
        AuthState,
        "register",
        form_data={"email": email, "password": PASSWORD, "confirm": PASSWORD},
    )
    assert (
        "already exists"
        in again.get_substate(AuthState._get_substate_path()).register_errors["email"]
    )


async def test_settings_change_password_keeps_this_session_only(world: World) -> None:
    elsewhere = world.owner.token()
    root = session_for(world.owner.token())
    await run(
        root,
        SettingsState,
        "change_password",
        form_data={
            "current_password": PASSWORD,
            "new_password": PASSWORD,
            "confirm_password": PASSWORD,
        },
    )
    settings = root.get_substate(SettingsState._get_substate_path())
    assert settings.password_errors == {}
    assert settings.password_message.startswith("Password changed")
    with pytest.raises(tokens.InvalidToken):
        users.authenticate_token(elsewhere)
    assert await run(root, AuthState, "require_login") == []


async def test_settings_api_key_is_shown_once(world: World) -> None:
    root = session_for(world.owner.token())
    await run(root, SettingsState, "load")
    await run(root, SettingsState, "create_api_key", form_data={"name": "From settings"})
    settings = root.get_substate(SettingsState._get_substate_path())
    key = settings.new_key
    assert api_keys.authenticate_key(key).id == world.owner.actor.id
    assert any(
        row["name"] == "From settings" and key.startswith(row["prefix"]) for row in settings.keys
    )
    await run(root, SettingsState, "load")
    assert settings.new_key == ""
    assert key not in state_text(root)
