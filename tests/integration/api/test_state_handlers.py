"""The Reflex event handlers: the same workspace rules as the REST API, and session checks.

Handlers are driven the way Reflex drives them: a state tree is instantiated (Reflex allows
it under pytest), the browser's token is put in ``AuthState.auth_token`` as hydration
would (and the page's URL in the router), and the handler's function runs against the
state instance, generators drained.

The objects live in a SHARED workspace made by its owner for each test, with an editor, a
runner and a viewer in it. Two tables say who may do what, in one line per handler:

- :data:`ID_HANDLERS`: every handler of every state module that takes an object id (an
  argument named ``*_id``) must have an entry, so a new one cannot ship without one;
- :data:`PAGE_HANDLERS`: the handlers that change the object their page's URL names (the
  editor's Save and Delete, Execute, restore a version, retry and re-run a run);
- :data:`FORGED`: the handlers acting on an id their tab holds, with the id forged.

Each is called by each member, a non-member and an admin: whoever the entry allows
changes the object, anyone else changes nothing (a member below the role is refused,
an outsider finds nothing and sees none of the workspace's data); and by a session
whose token was revoked (sent to /login, the token forgotten, no change).
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import reflex as rx
from reflex.istate.data import ReflexURL, RouterData

import agentflow_app.state
from agentflow_app.auth import tokens
from agentflow_app.errors import AgentFlowError, NotFound
from agentflow_app.models import WorkspaceRole
from agentflow_app.services import (
    admin,
    api_keys,
    credentials,
    executions,
    members,
    users,
    workflows,
    workspaces,
)
from agentflow_app.services.users import Actor
from agentflow_app.services.workspaces import ALLOWED, Can
from agentflow_app.state.admin import AdminState
from agentflow_app.state.audit import AuditState
from agentflow_app.state.auth import AuthState
from agentflow_app.state.config_panel import ConfigPanelState
from agentflow_app.state.credentials import CredentialsState
from agentflow_app.state.editor import EditorState
from agentflow_app.state.execute import ExecuteState
from agentflow_app.state.execution import ExecutionState
from agentflow_app.state.members import MembersState
from agentflow_app.state.node_test import NodeTestState
from agentflow_app.state.refusals import backend_exception_handler
from agentflow_app.state.settings import SettingsState
from agentflow_app.state.versions import VersionsState
from agentflow_app.state.workflows import WorkflowsState
from tests.helpers.documents import chain, node
from tests.helpers.stack import Stack
from tests.helpers.states import redirects, run, session_for, state_text
from tests.helpers.tally import Tally
from tests.helpers.users import PASSWORD, Account, new_account

#: Background handlers cannot run outside a live app; each is a thin wrapper over a service
#: whose workspace check the REST authorisation matrix covers through the same function.
BACKGROUND_COVERED_BY_REST = {
    ("CredentialsState", "test"): "POST /api/credentials/{credential_id}/test",
}

#: Arguments named ``*_id`` that name no stored object: a node of the tab's own document.
NOT_OBJECTS = {"node_id"}

ROLES = {
    "owner": WorkspaceRole.OWNER,
    "editor": WorkspaceRole.EDITOR,
    "runner": WorkspaceRole.RUNNER,
    "viewer": WorkspaceRole.VIEWER,
}
#: Every caller: the shared workspace's members, a signed-in non-member, an instance admin
#: (a member of nothing here).
CALLERS = [*ROLES, "non-member", "admin"]


@dataclass(frozen=True)
class Accounts:
    #: The shared workspace's members by role (the owner creates it for each test).
    members: dict[str, Account]
    outsider: Account
    admin: Account


@dataclass
class World:
    accounts: Accounts
    #: The owner acting in the shared workspace (the snapshots' point of view).
    actor: Actor
    #: A fresh user the admin console's handlers act on.
    victim: Account
    marker: str
    workspace_id: int
    #: A workflow with two versions, a run of it (cancelled), a credential, and an API key
    #: of the owner's, all in the shared workspace.
    workflow_id: int
    execution_id: int
    credential_id: int
    key_id: int
    #: A viewer of the shared workspace who is none of the callers (the members handlers
    #: act on them), and a pending invitation to it.
    bystander_id: int
    invitation_id: int

    @property
    def owner(self) -> Account:
        return self.accounts.members["owner"]

    @property
    def admin(self) -> Account:
        return self.accounts.admin

    def account(self, caller: str) -> Account:
        found = self.accounts
        if caller in ROLES:
            return found.members[caller]
        return found.outsider if caller == "non-member" else found.admin


#: What an object looks like now, through the services as its owner sees it, and in the
#: caller's tab (``root``) for what lives there (the chosen workspace).
Snapshot = Callable[[World, rx.State], Any]


@dataclass(frozen=True)
class IdHandler:
    #: The id of an object of the shared workspace to pass.
    shared_object: Callable[[World], Any]
    snapshot: Snapshot
    #: The least action it needs in the workspace; None: the object's creator only (an
    #: API key is its creator's).
    can: Can | None = Can.EDIT
    #: False for handlers that only show the object (a link): whoever may must then find
    #: the object's data in their state instead of a change.
    changes: bool = True
    #: An instance console handler: an admin only.
    console: bool = False
    #: The handler's other arguments.
    extra: Callable[[World], dict[str, Any]] = lambda w: {}
    #: The handler the dialog it opens goes on to (name, arguments), in the same tab.
    then: tuple[str, Callable[[World], dict[str, Any]]] | None = None
    #: Makes the tab act on the shared workspace first (the members page's handlers act
    #: on the workspace their page shows: set here for every caller, as a forged tab would).
    tab: Callable[[World, rx.State], None] | None = None

    def may(self, caller: str) -> bool:
        if self.console:
            return caller == "admin"
        if self.can is None:
            return caller == "owner"
        return caller in ROLES and self.can in ALLOWED[ROLES[caller]]

    def caller(self) -> str:
        """One caller who may."""
        return "admin" if self.console else "owner"


def _workflow_snapshot(world: World, _root: rx.State) -> Any:
    try:
        return workflows.get(world.actor, world.workflow_id).model_dump()
    except NotFound:
        return None


def _runs_snapshot(world: World, _root: rx.State) -> Any:
    page = executions.list_executions(
        world.actor, workflow_id=world.workflow_id, include_tests=True
    )
    return [(row.id, row.status) for row in page.items]


def _keys_snapshot(world: World, _root: rx.State) -> Any:
    return [key.id for key in api_keys.list_keys(world.actor)]


def _credential_snapshot(world: World, _root: rx.State) -> Any:
    try:
        return credentials.get_credential(world.actor, world.credential_id).model_dump()
    except NotFound:
        return None


def _victim_snapshot(world: World, _root: rx.State) -> Any:
    try:
        return admin.get_user(world.admin.actor, world.victim.actor.id).model_dump()
    except NotFound:
        return None


def _chosen_workspace(_world: World, root: rx.State) -> Any:
    return root.get_substate(AuthState._get_substate_path()).workspace_choice


def _console(**extra: Any) -> IdHandler:
    """A console handler acting on the world's victim (only an admin may)."""
    return IdHandler(
        lambda w: w.victim.actor.id, _victim_snapshot, console=True, extra=lambda w: extra
    )


def _victims_link(world: World, _root: rx.State) -> Any:
    return world.victim.email


def _members_snapshot(world: World, _root: rx.State) -> Any:
    roles = {m.user_id: m.role for m in members.list_members(world.actor, world.workspace_id)}
    pending = [i.id for i in members.list_invitations(world.actor, world.workspace_id)]
    return roles, pending


def _on_shared_members_page(world: World, root: rx.State) -> None:
    root.get_substate(AuthState._get_substate_path()).workspace_choice = str(world.workspace_id)
    root.get_substate(MembersState._get_substate_path()).workspace_id = world.workspace_id


def _members(shared_object: Callable[[World], Any], **extra: Any) -> IdHandler:
    """A members page handler: an owner's (manage) act on the bystander or the invitation."""
    return IdHandler(
        shared_object,
        _members_snapshot,
        can=Can.MANAGE,
        extra=lambda w: extra,
        tab=_on_shared_members_page,
    )


_NEW_VALUE = {"scheme": "bearer", "token": "replaced-token-value"}

ID_HANDLERS: dict[tuple[str, str], IdHandler] = {
    ("AdminState", "set_disabled"): _console(disabled=True),
    ("AdminState", "set_admin"): _console(is_admin=True),
    ("AdminState", "delete_user"): _console(),
    # Makes a link and changes nothing: the admin's state then shows it (and the email).
    ("AdminState", "reset_link"): IdHandler(
        lambda w: w.victim.actor.id,
        _victims_link,
        changes=False,
        console=True,
        extra=lambda w: {"email": w.victim.email},
    ),
    # Any member may act in the workspace (the side bar); a non-member's tab stays put.
    ("AuthState", "switch_workspace"): IdHandler(
        lambda w: str(w.workspace_id), _chosen_workspace, can=Can.READ
    ),
    ("WorkflowsState", "delete_workflow"): IdHandler(lambda w: w.workflow_id, _workflow_snapshot),
    ("MembersState", "change_role"): _members(lambda w: w.bystander_id, role="editor"),
    ("MembersState", "remove"): _members(lambda w: w.bystander_id),
    ("MembersState", "revoke"): _members(lambda w: w.invitation_id),
    ("SettingsState", "revoke_api_key"): IdHandler(lambda w: w.key_id, _keys_snapshot, can=None),
    # The dialogs open for any member (credential names are readable); what they go on
    # to do needs an editor.
    ("CredentialsState", "open_replace"): IdHandler(
        lambda w: w.credential_id,
        _credential_snapshot,
        then=("replace", lambda w: {"form_data": _NEW_VALUE}),
    ),
    ("CredentialsState", "open_delete"): IdHandler(
        lambda w: w.credential_id, _credential_snapshot, then=("confirm_delete", lambda w: {})
    ),
}


@dataclass(frozen=True)
class PageHandler:
    """A handler acting on the object its page's URL names, after the page's load."""

    state: type[rx.State]
    #: The page's URL.
    path: Callable[[World], str]
    #: The page's ``on_load``.
    load: tuple[type[rx.State], str]
    can: Can
    snapshot: Snapshot
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: The events the page sends between its load and the handler (a dialog's opening).
    before: tuple[tuple[type[rx.State], str, dict[str, Any]], ...] = ()


def _editor(
    name: str, can: Can, snapshot: Snapshot, before: tuple = (), **kwargs: Any
) -> PageHandler:
    state = {
        "restore": VersionsState,
        "open_dialog": ExecuteState,
        "start": NodeTestState,
    }.get(name, EditorState)
    return PageHandler(
        state,
        lambda w: f"/workflows/{w.workflow_id}",
        (EditorState, "load"),
        can,
        snapshot,
        kwargs,
        before,
    )


def _run_page(can: Can) -> PageHandler:
    return PageHandler(
        ExecutionState,
        lambda w: f"/executions/{w.execution_id}",
        (ExecutionState, "load"),
        can,
        _runs_snapshot,
    )


PAGE_HANDLERS: dict[tuple[str, str], PageHandler] = {
    ("EditorState", "save"): _editor("save", Can.EDIT, _workflow_snapshot),
    ("EditorState", "delete_workflow"): _editor("delete_workflow", Can.EDIT, _workflow_snapshot),
    ("VersionsState", "restore"): _editor("restore", Can.EDIT, _workflow_snapshot, version=1),
    # The world's workflow takes no inputs: Execute starts it at once.
    ("ExecuteState", "open_dialog"): _editor("open_dialog", Can.RUN, _runs_snapshot),
    # A node test runs the working copy with the workspace's credentials: editors only.
    ("NodeTestState", "start"): _editor(
        "start",
        Can.EDIT,
        _runs_snapshot,
        before=((EditorState, "select_node", {"node_id": "greet"}), (NodeTestState, "prepare", {})),
        form_data={"inputs": "{}"},
    ),
    ("ExecutionState", "retry"): _run_page(Can.RUN),
    ("ExecutionState", "rerun"): _run_page(Can.RUN),
}


def _states() -> list[type[rx.State]]:
    """Every state class of every module of ``agentflow_app.state``."""
    found = []
    for info in pkgutil.iter_modules(agentflow_app.state.__path__):
        module = importlib.import_module(f"agentflow_app.state.{info.name}")
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
            found += [
                (state, name, p) for p in params if p.endswith("_id") and p not in NOT_OBJECTS
            ]
    return found


ID_HANDLER_LIST = _id_handlers()

# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def accounts(stack: Stack) -> Accounts:
    made = users.create_user(
        f"state-admin-{secrets.token_hex(4)}@example.com", PASSWORD, admin=True
    )
    root = Account(made, made.email, PASSWORD)
    return Accounts(
        {member: new_account(f"state-{member}") for member in ROLES},
        new_account("state-outsider"),
        root,
    )


@pytest.fixture
def world(accounts: Accounts) -> Iterator[World]:
    owner = accounts.members["owner"]
    marker = f"shared-only-{secrets.token_hex(6)}"
    shared = workspaces.create_workspace(owner.actor, f"Workspace {marker}")
    actor = workspaces.act_in(users.get_profile(owner.actor), shared.id)
    for member, account in accounts.members.items():
        if member != "owner":
            invitation = members.invite(actor, shared.id, account.email, ROLES[member])
            token = parse_qs(urlsplit(invitation.url).query)["token"][0]
            members.accept_invitation(account.actor, token)
    workflow = workflows.create(actor, _document(f"Workflow {marker}"))
    workflows.update(actor, workflow.id, _document(f"Workflow {marker} v2"))
    execution_id = executions.start(actor, workflow.id, {})
    executions.cancel(actor, execution_id)
    key = api_keys.create_key(actor, f"Key {marker}")
    credential = credentials.create_credential(
        actor, f"Cred {marker}", "http", {"scheme": "bearer", "token": "t0ken-value"}
    )
    victim = new_account(f"victim-{marker}")
    bystander = new_account(f"bystander-{marker}")
    invited = members.invite(actor, shared.id, bystander.email, WorkspaceRole.VIEWER)
    members.accept_invitation(bystander.actor, parse_qs(urlsplit(invited.url).query)["token"][0])
    pending = members.invite(actor, shared.id, f"pending-{marker}@example.com", "runner")
    yield World(
        accounts,
        actor,
        victim,
        marker,
        shared.id,
        workflow.id,
        execution_id,
        credential.id,
        key.id,
        bystander.actor.id,
        pending.id,
    )
    members.delete_workspace(actor, shared.id)


def _document(name: str) -> dict[str, Any]:
    """A manual trigger and one step, which a node test can test."""
    return chain(
        name, node("start", "trigger.manual"), node("greet", "transform.template", template="Hi")
    )


def _page(account: Account, path: str) -> rx.State:
    """A tab of ``account`` showing ``path``."""
    root = session_for(account.token())
    root.router = RouterData(url=ReflexURL(f"http://localhost:3000{path}"))
    for state in (
        AuthState,
        EditorState,
        ConfigPanelState,
        NodeTestState,
        VersionsState,
        ExecuteState,
        ExecutionState,
    ):
        root.get_substate(state._get_substate_path()).router = root.router
    return root


# -- the matrix ------------------------------------------------------------------------------


def test_every_id_handler_has_an_entry() -> None:
    listed = {(state.__name__, name) for state, name, _ in ID_HANDLER_LIST}
    assert ("WorkflowsState", "delete_workflow") in listed  # the enumeration really works
    missing = sorted(listed - set(ID_HANDLERS))
    stale = sorted(set(ID_HANDLERS) - listed)
    assert not missing, f"handlers taking an object id without an ID_HANDLERS entry: {missing}"
    assert not stale, f"ID_HANDLERS entries for handlers that no longer exist: {stale}"


def test_the_page_handlers_exist() -> None:
    for (state, name), entry in PAGE_HANDLERS.items():
        assert entry.state.__name__ == state and name in entry.state.event_handlers


IDS = [f"{s.__name__}.{n}" for s, n, _ in ID_HANDLER_LIST]


async def _call(
    world: World, root: rx.State, state_cls: type[rx.State], name: str, arg: str
) -> list[Any]:
    """Call an id handler in the tab ``root`` (and what it goes on to); its events."""
    entry = ID_HANDLERS[(state_cls.__name__, name)]
    if entry.tab is not None:
        entry.tab(world, root)
    events = await run(
        root, state_cls, name, **{arg: entry.shared_object(world)}, **entry.extra(world)
    )
    if entry.then is not None:
        then, arguments = entry.then
        events += await run(root, state_cls, then, **arguments(world))
    return events


async def _refusable(may: bool, call: Awaitable[list[Any]]) -> list[Any]:
    """The events of ``call``; a refusal it raises ends as a toast in the browser
    (``state.refusals``), so it counts as one, for a caller who may not only."""
    try:
        return await call
    except AgentFlowError as exc:
        assert not may, f"refused: {exc}"
        assert backend_exception_handler(exc) is not None
        return []


#: Handler x caller combinations checked, refused, and leaks found (both databases).
TALLY = Tally()


@pytest.fixture(scope="module", autouse=True)
def _report_the_tally(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    TALLY.report(request.config, "state handlers (handler x caller)")


def _judge(
    world: World,
    root: rx.State,
    caller: str,
    may: bool,
    before: Any,
    after: Any,
    *,
    changes: bool = True,
) -> list[str]:
    """What went wrong with ``caller``'s call (a refused one: leaks), counted."""
    problems, leaks = [], []
    if not may:
        if after != before:
            leaks.append(f"{caller}: a refused call changed the object")
        if caller not in ROLES and world.marker in state_text(root):
            leaks.append(f"{caller}'s state shows the shared workspace's data")
    elif changes and after == before:
        problems.append(f"{caller}: the call did nothing")
    elif not changes and world.marker not in state_text(root):
        problems.append(f"{caller}: the call showed nothing")
    TALLY.count(refused=not may, leaks=len(leaks))
    return problems + leaks


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("state_cls", "name", "arg"), ID_HANDLER_LIST, ids=IDS)
async def test_id_handler_lets_only_whom_it_should(
    world: World, state_cls: type[rx.State], name: str, arg: str, caller: str
) -> None:
    entry = ID_HANDLERS[(state_cls.__name__, name)]
    root = session_for(world.account(caller).token())
    before = entry.snapshot(world, root)
    may = entry.may(caller)
    events = await _refusable(may, _call(world, root, state_cls, name, arg))
    assert [path for path in redirects(events) if path.startswith("/login")] == []
    after = entry.snapshot(world, root)
    problems = _judge(world, root, caller, may, before, after, changes=entry.changes)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("caller", [*ROLES, "non-member"])
@pytest.mark.parametrize(
    ("state", "name"), list(PAGE_HANDLERS), ids=[".".join(k) for k in PAGE_HANDLERS]
)
async def test_page_handler_lets_only_whom_it_should(
    world: World, state: str, name: str, caller: str
) -> None:
    entry = PAGE_HANDLERS[(state, name)]
    root = _page(world.account(caller), entry.path(world))
    before = entry.snapshot(world, root)
    await run(root, *entry.load)
    may = caller in ROLES and entry.can in ALLOWED[ROLES[caller]]
    for state_cls, step, arguments in entry.before:
        await _refusable(may, run(root, state_cls, step, **arguments))
    events = await _refusable(may, run(root, entry.state, name, **entry.kwargs))
    assert [path for path in redirects(events) if path.startswith("/login")] == []
    problems = _judge(world, root, caller, may, before, entry.snapshot(world, root))
    assert not problems, "\n".join(problems)


@dataclass(frozen=True)
class Forged:
    """A handler acting on an id its tab holds in a public var (set by the dialog or page
    that opened it). A browser cannot set such a var (Reflex's ``setvar`` event finds no
    setter for it); were one added, the service must still refuse."""

    state: type[rx.State]
    #: The vars the forged events set (to the shared workspace's objects).
    setvars: Callable[[World], dict[str, Any]]
    snapshot: Snapshot
    kwargs: dict[str, Any] = field(default_factory=dict)


FORGED: dict[tuple[str, str], Forged] = {
    ("CredentialsState", "replace"): Forged(
        CredentialsState,
        lambda w: {"replace_id": w.credential_id, "replace_kind": "http"},
        _credential_snapshot,
        {"form_data": _NEW_VALUE},
    ),
    ("CredentialsState", "confirm_delete"): Forged(
        CredentialsState, lambda w: {"delete_id": w.credential_id}, _credential_snapshot
    ),
    ("EditorState", "save"): Forged(
        EditorState, lambda w: {"wf_id": w.workflow_id}, _workflow_snapshot
    ),
    ("EditorState", "delete_workflow"): Forged(
        EditorState, lambda w: {"wf_id": w.workflow_id}, _workflow_snapshot
    ),
}


@pytest.mark.parametrize("caller", ["viewer", "non-member"])
@pytest.mark.parametrize(("state", "name"), list(FORGED), ids=[".".join(k) for k in FORGED])
async def test_a_forged_id_in_a_tab_changes_nothing(
    world: World, state: str, name: str, caller: str
) -> None:
    entry = FORGED[(state, name)]
    root = session_for(world.account(caller).token())
    before = entry.snapshot(world, root)
    tab = root.get_substate(entry.state._get_substate_path())
    for var, value in entry.setvars(world).items():
        with pytest.raises(AttributeError):
            await run(root, entry.state, "setvar", var_name=var, value=value)
        setattr(tab, var, value)  # as a setter would
    await _refusable(False, run(root, entry.state, name, **entry.kwargs))
    problems = _judge(world, root, caller, False, before, entry.snapshot(world, root))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("state_cls", "name", "arg"), ID_HANDLER_LIST, ids=IDS)
@pytest.mark.parametrize("session", ["signed out", "revoked", "expired", "forged"])
async def test_a_dead_session_is_sent_to_login(
    world: World, state_cls: type[rx.State], name: str, arg: str, session: str
) -> None:
    entry = ID_HANDLERS[(state_cls.__name__, name)]
    caller = world.account(entry.caller())
    token = caller.token()
    if session == "revoked":
        users.logout(token)  # signed out in another tab or by API
    elif session == "expired":
        token = tokens.issue(caller.actor.id, 0, ttl_s=-5).access_token
    elif session == "forged":
        token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    elif session == "signed out":
        token = ""
    root = session_for(token)
    before = entry.snapshot(world, root)
    events = await _call(world, root, state_cls, name, arg)
    # A dialog's next step (forced after the first) is sent to /login too.
    assert {path.split("?")[0] for path in redirects(events)} == {"/login"}
    assert root.get_substate(AuthState._get_substate_path()).auth_token == ""
    assert entry.snapshot(world, root) == before
    assert world.marker not in state_text(root)


# -- pages' loads and the auth forms -----------------------------------------------------------


async def test_a_revoked_session_is_logged_out_on_its_next_event(world: World) -> None:
    token = world.owner.token()
    root = session_for(token)
    root.get_substate(AuthState._get_substate_path()).workspace_choice = str(world.workspace_id)
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
    # The audit log is no console: a non-admin reads the rows of the workspaces it owns,
    # never an admin-only row (the refused console events above are not in it).
    await run(root, AuditState, "load")
    log = root.get_substate(AuditState._get_substate_path())
    assert log.error == ""
    assert not [row for row in log.rows if row["action"].startswith("admin.")]


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


async def test_an_invitation_link_survives_creating_an_account(stack: Stack) -> None:
    """Opened signed out, /join sends to /login?next=/join?token=…; "Create one" keeps that
    ``next``, and the new account lands back on the link."""
    root = session_for("")
    root.router = RouterData(
        url=ReflexURL("http://localhost:3000/login?next=/join%3Ftoken%3Dabc123")
    )
    await run(root, AuthState, "open_login_page")
    auth = root.get_substate(AuthState._get_substate_path())
    assert auth.register_link == "/register?next=/join%3Ftoken%3Dabc123"

    root.router = RouterData(url=ReflexURL(f"http://localhost:3000{auth.register_link}"))
    email = f"joiner-{secrets.token_hex(3)}@example.com"
    events = await run(
        root,
        AuthState,
        "register",
        form_data={"email": email, "password": PASSWORD, "confirm": PASSWORD},
    )
    assert redirects(events) == ["/join?token=abc123"]


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
