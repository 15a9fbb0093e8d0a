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
from agentflow_app.pages.login import login
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
from agentflow_app.state.palette import PaletteState
from agentflow_app.state.reset_password import ResetPasswordState
from agentflow_app.state.settings import SettingsState
from agentflow_app.state.templates import TemplatesState
from agentflow_app.state.workflows import WorkflowsState

app = rx.App(api_transformer=create_api(), extra_app_wraps=app_wraps())

app.add_page(
    login, route=routes.LOGIN, title="Sign in · AgentFlow", on_load=AuthState.open_login_page
)
app.add_page(
    register,
    route=routes.REGISTER,
    title="Create an account · AgentFlow",
    on_load=AuthState.open_register_page,
)
app.add_page(
    workflows,
    route=routes.WORKFLOWS,
    title="Workflows · AgentFlow",
    on_load=[AuthState.require_login, WorkflowsState.load, TemplatesState.load],
)
app.add_page(
    settings,
    route=routes.SETTINGS,
    title="Settings · AgentFlow",
    on_load=[AuthState.require_login, SettingsState.load],
)
app.add_page(not_found, route="/404", title="Not found · AgentFlow")
app.add_page(
    approvals_page,
    route=routes.APPROVALS,
    title="Approvals · AgentFlow",
    on_load=[AuthState.require_login, ApprovalsState.load],
)
app.add_page(
    credentials_page,
    route=routes.CREDENTIALS,
    title="Credentials · AgentFlow",
    on_load=[AuthState.require_login, CredentialsState.load],
)
app.add_page(
    editor,
    route=routes.WORKFLOW_EDITOR,
    title="Editor · AgentFlow",
    on_load=[AuthState.require_login, PaletteState.load, EditorState.load],
)
app.add_page(
    executions_page,
    route=routes.EXECUTIONS,
    title="Executions · AgentFlow",
    on_load=[AuthState.require_login, ExecutionsState.load],
)
app.add_page(
    execution_page,
    route=routes.EXECUTION_VIEW,
    title="Execution · AgentFlow",
    on_load=[AuthState.require_login, ExecutionState.load],
)
app.add_page(
    admin_page,
    route=routes.ADMIN,
    title="Admin · AgentFlow",
    on_load=[AuthState.require_login, AdminState.load],
)
app.add_page(
    audit_page,
    route=routes.AUDIT,
    title="Audit log · AgentFlow",
    on_load=[AuthState.require_login, AuditState.load],
)
app.add_page(
    reset_password,
    route=routes.RESET_PASSWORD,
    title="Reset password · AgentFlow",
    on_load=ResetPasswordState.open_page,
)
