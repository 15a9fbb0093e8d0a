"""The Reflex app: pages and the REST API mount. Nothing else lives here."""

from __future__ import annotations

import reflex as rx

from agentflow_app import routes
from agentflow_app.api.app import create_api
from agentflow_app.components.health_banner import app_wraps
from agentflow_app.pages.admin import admin_page
from agentflow_app.pages.approvals import approvals_page
from agentflow_app.pages.audit import audit_page
from agentflow_app.pages.credentials import credentials_page
from agentflow_app.pages.editor import editor
from agentflow_app.pages.execution import execution_page
from agentflow_app.pages.executions import executions_page
from agentflow_app.pages.join import join
from agentflow_app.pages.login import login
from agentflow_app.pages.members import members_page
from agentflow_app.pages.not_found import not_found
from agentflow_app.pages.register import register
from agentflow_app.pages.reset_password import reset_password
from agentflow_app.pages.settings import settings
from agentflow_app.pages.workflows import workflows
from agentflow_app.state.admin import AdminState
from agentflow_app.state.approvals import ApprovalsState
from agentflow_app.state.audit import AuditState
from agentflow_app.state.auth import AuthState
from agentflow_app.state.credentials import CredentialsState
from agentflow_app.state.editor import EditorState
from agentflow_app.state.execution import ExecutionState
from agentflow_app.state.executions import ExecutionsState
from agentflow_app.state.members import JoinState, MembersState
from agentflow_app.state.palette import PaletteState
from agentflow_app.state.refusals import backend_exception_handler
from agentflow_app.state.reset_password import ResetPasswordState
from agentflow_app.state.settings import SettingsState
from agentflow_app.state.templates import TemplatesState
from agentflow_app.state.workflows import WorkflowsState

app = rx.App(
    api_transformer=create_api(),
    extra_app_wraps=app_wraps(),
    backend_exception_handler=backend_exception_handler,
)


def _signed_in(page, route: str, title: str, *loads) -> None:
    """A page for signed-in users: a visitor without a session goes to the sign-in page
    first, then ``loads`` run in order."""
    app.add_page(
        page, route=route, title=f"{title} · AgentFlow", on_load=[AuthState.require_login, *loads]
    )


app.add_page(
    login, route=routes.LOGIN, title="Sign in · AgentFlow", on_load=AuthState.open_login_page
)
app.add_page(
    register,
    route=routes.REGISTER,
    title="Create an account · AgentFlow",
    on_load=AuthState.open_register_page,
)
_signed_in(workflows, routes.WORKFLOWS, "Workflows", WorkflowsState.load, TemplatesState.load)
_signed_in(settings, routes.SETTINGS, "Settings", SettingsState.load)
app.add_page(not_found, route="/404", title="Not found · AgentFlow")
_signed_in(approvals_page, routes.APPROVALS, "Approvals", ApprovalsState.load)
_signed_in(credentials_page, routes.CREDENTIALS, "Credentials", CredentialsState.load)
_signed_in(editor, routes.WORKFLOW_EDITOR, "Editor", PaletteState.load, EditorState.load)
_signed_in(executions_page, routes.EXECUTIONS, "Executions", ExecutionsState.load)
_signed_in(execution_page, routes.EXECUTION_VIEW, "Execution", ExecutionState.load)
_signed_in(admin_page, routes.ADMIN, "Admin", AdminState.load)
_signed_in(audit_page, routes.AUDIT, "Audit log", AuditState.load)
_signed_in(members_page, routes.MEMBERS, "Members", MembersState.load)
# Not behind require_login: JoinState.open_page sends a visitor to sign in and back here.
app.add_page(
    join,
    route=routes.JOIN_WORKSPACE,
    title="Join a workspace · AgentFlow",
    on_load=JoinState.open_page,
)
app.add_page(
    reset_password,
    route=routes.RESET_PASSWORD,
    title="Reset password · AgentFlow",
    on_load=ResetPasswordState.open_page,
)
