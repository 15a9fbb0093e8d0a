"""Page routes (SPEC §10) and URL builders: the only place paths are spelled."""

from __future__ import annotations

LOGIN = "/login"
REGISTER = "/register"
WORKFLOWS = "/workflows"
EXECUTIONS = "/executions"
CREDENTIALS = "/credentials"
SETTINGS = "/settings"
APPROVALS = "/approvals"
ADMIN = "/admin"
AUDIT = "/audit"
#: The members, invitations and settings of the workspace a tab acts in.
MEMBERS = "/members"
RESET_PASSWORD = "/reset-password"
#: Where a workspace invitation link leads (``?token=``): the invited account accepts there.
JOIN_WORKSPACE = "/join"
WORKFLOW_EDITOR = "/workflows/[workflow_id]"
EXECUTION_VIEW = "/executions/[execution_id]"

API_PREFIX = "/api"
#: The request header naming the workspace a REST request acts in (its id).
WORKSPACE_HEADER = "X-Workspace"


def workflow_url(workflow_id: int) -> str:
    return f"{WORKFLOWS}/{workflow_id}"


def execution_url(execution_id: int) -> str:
    return f"{EXECUTIONS}/{execution_id}"


def login_url(next_path: str | None = None) -> str:
    from urllib.parse import quote

    return f"{LOGIN}?next={quote(next_path, safe='/')}" if next_path else LOGIN
