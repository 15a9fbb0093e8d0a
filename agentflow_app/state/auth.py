"""Who is signed in, in the browser: the token in localStorage, sign-in, signup, sign-out.

The access token lives in the browser's localStorage (``agentflow_token``), so a reload or
a new tab stays signed in; it is synced across tabs, so signing out in one signs out all.
Nothing trusts the token as stored: every event that touches data asks
:func:`signed_in`, which checks the signature, expiry and revocation against the
database. A session whose token was revoked (sign-out elsewhere, password change) is sent
to ``/login`` on its next event.

For other states::

    actor = await signed_in(self)
    if actor is None:
        return await to_login(self)
    ... services.something(actor, ...)

and for a protected page: ``on_load=[AuthState.require_login, MyState.load]``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import quote

import reflex as rx

from agentflow_app import routes
from agentflow_app.auth.throttle import Throttled
from agentflow_app.auth.tokens import InvalidToken
from agentflow_app.errors import AgentFlowError, Conflict, Forbidden, InvalidInput
from agentflow_app.services import audit, users, workspaces
from agentflow_app.services.users import Actor, InvalidCredentials
from agentflow_app.state.formatting import sentence

HOME = routes.WORKFLOWS


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else the home page (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return HOME
    if target.split("?")[0].rstrip("/") in (routes.LOGIN, routes.REGISTER):
        return HOME
    return target


class AuthState(rx.State):
    """The session of one browser tab, and the sign-in and signup forms."""

    auth_token: str = rx.LocalStorage("", name="agentflow_token", sync=True)
    #: Shown in the page header; filled by :meth:`require_login`.
    user_email: str = ""
    user_name: str = ""
    is_admin: bool = False
    #: The workspace this browser acts in, as chosen in the side bar (its id as text; ""
    #: for the personal one). Every event acts there (:meth:`_verify`); objects opened by
    #: id are found in any workspace the account belongs to.
    workspace_choice: str = rx.LocalStorage("", name="agentflow_workspace")
    workspace_id: int = 0
    #: The account's role there: pages hide what it cannot do (the services refuse it).
    workspace_role: str = ""
    #: The side bar's choices: ``{id, name, role}``, the personal one first.
    workspace_options: list[dict[str, str]] = []

    login_error: str = ""
    #: Why the session ended, shown on the sign-in page it was sent to (a disabled account).
    session_notice: str = ""
    login_busy: bool = False
    #: The sign-in page's "Create one" link: it carries the page's ``next``, so someone
    #: who opened an invitation link and has no account yet comes back to it.
    register_link: str = routes.REGISTER
    signup_open: bool = True
    register_errors: dict[str, str] = {}
    register_busy: bool = False

    @rx.var
    def can_edit_here(self) -> bool:
        """Whether the role here may change workflows and credentials (pages offer it)."""
        return self.workspace_role in ("owner", "editor")

    # -- used by every state ------------------------------------------------------------

    def _verify(self) -> Actor | None:
        """The actor of this session, or None (and the stored token forgotten) when invalid."""
        if not self.auth_token:
            return None
        # The address the audit log records for whatever this event goes on to do.
        audit.client_address.set(self.router.session.client_ip or "unknown")
        try:
            actor = users.authenticate_token(self.auth_token)
        except InvalidToken as exc:
            if str(exc) == users.DISABLED_MESSAGE:
                self.session_notice = sentence(str(exc))
            self.auth_token = ""
            self.user_email = self.user_name = ""
            self.is_admin = False
            return None
        self.user_email, self.user_name, self.is_admin = actor.email, actor.name, actor.is_admin
        chosen = self.workspace_choice
        if chosen.isdigit() and int(chosen) in actor.roles:
            actor = workspaces.act_in(actor, int(chosen))
        self.workspace_id, self.workspace_role = actor.workspace_id, actor.role.value
        return actor

    def _invite(self) -> str:
        return self.router.url.query_parameters.get("invite") or ""

    def _current_path(self) -> str:
        url = self.router.url
        return f"{url.path}?{url.query}" if url.query else (url.path or HOME)

    # -- page guards ----------------------------------------------------------------------

    @rx.event
    def require_login(self) -> Any:
        """``on_load`` of every protected page: send visitors without a valid token to login."""
        actor = self._verify()
        if actor is None:
            return rx.redirect(routes.login_url(self._current_path()), replace=True)
        self.workspace_options = [
            {"id": str(view.id), "name": view.name, "role": view.role.value}
            for view in workspaces.list_workspaces(actor)
        ]
        return None

    @rx.event
    def switch_workspace(self, workspace_id: str) -> Any:
        """Act in another of the account's workspaces (the side bar), from its workflows."""
        actor = self._verify()
        if actor is None:  # its session ended meanwhile, like every other event's
            return rx.redirect(routes.login_url(self._current_path()), replace=True)
        if not workspace_id.isdigit() or int(workspace_id) not in actor.roles:
            return None
        self.workspace_choice = workspace_id
        return rx.redirect(routes.WORKFLOWS)

    @rx.event
    def open_login_page(self) -> Any:
        """``on_load`` of /login: a signed-in visitor goes straight on."""
        self.login_error = ""
        self.login_busy = False
        target = self.router.url.query_parameters.get("next")
        self.register_link = (
            f"{routes.REGISTER}?next={quote(safe_next(target), safe='/')}"
            if target
            else routes.REGISTER
        )
        if self._verify() is not None:
            return rx.redirect(safe_next(self.router.url.query_parameters.get("next")))
        return None

    @rx.event
    def open_register_page(self) -> Any:
        """``on_load`` of /register: say when signup is closed; a signed-in visitor goes on."""
        self.register_errors = {}
        self.register_busy = False
        # An invitation link opens the form whatever the mode; the service checks it.
        self.signup_open = users.signup_open() or bool(self._invite())
        if self._verify() is not None:
            return rx.redirect(HOME)
        return None

    # -- forms ------------------------------------------------------------------------------

    @rx.event
    async def login(self, form_data: dict[str, Any]):
        """Sign in with the login form; errors are shown under the form."""
        email = str(form_data.get("email") or "")
        password = str(form_data.get("password") or "")
        if not email.strip() or not password:
            self.login_error = "Enter your email and password."
            return
        self.login_busy, self.login_error = True, ""
        yield
        address = self.router.session.client_ip or "unknown"
        try:
            issued = await asyncio.to_thread(users.login, email, password, address)
        except (Throttled, InvalidCredentials) as exc:
            self.login_error = sentence(str(exc))
            self.login_busy = False
            return
        self.auth_token = issued.access_token
        self.login_busy = False
        self.session_notice = ""
        self._verify()
        yield rx.redirect(safe_next(self.router.url.query_parameters.get("next")))

    @rx.event
    async def register(self, form_data: dict[str, Any]):
        """Create an account with the signup form, then sign in."""
        email = str(form_data.get("email") or "")
        password = str(form_data.get("password") or "")
        errors: dict[str, str] = {}
        if password != str(form_data.get("confirm") or ""):
            errors["confirm"] = "The two passwords differ."
        if not email.strip():
            errors["email"] = "Enter your email."
        if errors:
            self.register_errors = errors
            return
        self.register_busy, self.register_errors = True, {}
        yield
        address = self.router.session.client_ip or "unknown"
        try:
            await asyncio.to_thread(
                users.register,
                email,
                password,
                str(form_data.get("name") or ""),
                self._invite() or None,
            )
            issued = await asyncio.to_thread(users.login, email, password, address)
        except InvalidInput as exc:
            self.register_errors = {
                p.get("field") or "form": sentence(p["message"]) for p in exc.problems
            } or {"form": sentence(str(exc))}
        except Forbidden as exc:
            self.signup_open = False
            self.register_errors = {"form": sentence(str(exc))}
        except Conflict as exc:
            self.register_errors = {"email": sentence(str(exc))}
        except AgentFlowError as exc:
            self.register_errors = {"form": sentence(str(exc))}
        else:
            self.auth_token = issued.access_token
            self._verify()
            yield rx.redirect(safe_next(self.router.url.query_parameters.get("next")))
        self.register_busy = False

    @rx.event
    def logout(self) -> Any:
        """Revoke this session's token and go to the sign-in page."""
        if self.auth_token:
            with contextlib.suppress(InvalidToken):  # already invalid: nothing to revoke
                users.logout(self.auth_token)
        self.auth_token = ""
        self.user_email = self.user_name = ""
        self.is_admin = False
        return rx.redirect(routes.LOGIN)


async def signed_in(state: rx.State) -> Actor | None:
    """The actor of ``state``'s browser session, verified now (see :class:`AuthState`)."""
    auth = await state.get_state(AuthState)
    return auth._verify()


async def to_login(state: rx.State) -> Any:
    """The redirect for a session that has ended: to /login, coming back here after."""
    auth = await state.get_state(AuthState)
    return rx.redirect(routes.login_url(auth._current_path()), replace=True)
